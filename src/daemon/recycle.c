/* daemon/recycle.c: the one pending recycle request of a daemon process (see
 * daemon/recycle.h): the strongest asked for so far, its reason, and waking the main thread
 * that carries it out. */
#include "daemon/recycle.h"

#include "apr_strings.h"

static struct {
    pthread_mutex_t mu;
    int how;                            /* strongest pending request: PYHOST_RECYCLE_* */
    char code[PYHOST_RECYCLE_CODE_LEN]; /* shutdown_reason for the callbacks */
    char why[PYHOST_RECYCLE_WHY_LEN];   /* for the log */
} pending = {PTHREAD_MUTEX_INITIALIZER, 0, "", ""};

static pthread_t main_thread;
static pyhost_recycle_act_fn act;
static int retired; /* a graceful restart of Apache replaced this process's configuration */

void pyhost_recycle_retire(void)
{
    __atomic_store_n(&retired, 1, __ATOMIC_SEQ_CST);
}

int pyhost_recycle_retired(void)
{
    return __atomic_load_n(&retired, __ATOMIC_SEQ_CST);
}

void pyhost_recycle_init(pthread_t main, pyhost_recycle_act_fn fn)
{
    main_thread = main;
    act = fn;
}

void pyhost_daemon_recycle(int how, const char *code, const char *reason)
{
    int stronger;
    pthread_mutex_lock(&pending.mu);
    stronger = how > pending.how;
    if (stronger) {
        __atomic_store_n(&pending.how, how, __ATOMIC_SEQ_CST);
        apr_cpystrn(pending.code, code, sizeof(pending.code));
        apr_cpystrn(pending.why, reason, sizeof(pending.why));
    }
    pthread_mutex_unlock(&pending.mu);
    if (stronger && act) {
        act(how);
    }
    if (stronger && !pthread_equal(pthread_self(), main_thread)) {
        pthread_kill(main_thread, PYHOST_SIG_WAKE);
    }
}

void pyhost_daemon_idle(void)
{
    if (__atomic_load_n(&pending.how, __ATOMIC_SEQ_CST) == PYHOST_RECYCLE_GRACEFUL) {
        /* the moment a graceful recycle waits for: take no more requests */
        if (act) {
            act(PYHOST_RECYCLE_DRAIN);
        }
        pthread_kill(main_thread, PYHOST_SIG_WAKE);
    }
}

int pyhost_recycle_read(char *code, apr_size_t code_len, char *why, apr_size_t why_len)
{
    int how;
    pthread_mutex_lock(&pending.mu);
    how = pending.how;
    apr_cpystrn(code, pending.code, code_len);
    apr_cpystrn(why, pending.why, why_len);
    pthread_mutex_unlock(&pending.mu);
    return how;
}
