/* daemon/helper.c: the watch's Python work, in a thread of its own.
 *
 * The watch (daemon/watch.c) must go on while a thread holds a GIL forever, so it never takes
 * one: what needs Python (raising mod_wsgi.RequestTimeout in a thread, logging a stuck
 * thread's Python stack, passing SIGUSR2 to the interpreters) is posted here, and this thread
 * may wait for a GIL as long as it takes. Posting is a job word per worker thread changed
 * atomically and a semaphore, so the watch never waits for the helper either. */
#include "daemon/helper.h"
#include "shared/alloc.h"

#include "daemon/serve.h"
#include "python/runtime.h"
#include "python/log.h"
#include "python/modstate.h"

#include "http_log.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

#define JOB_SHIFT 2 /* a job word: the request's number, then the PYHOST_JOB_* bits */

/* How often the helper looks again for the moment to log a postponed stack (see below). */
#define STACK_RETRY_MSEC 10

/* sys._current_frames() stops the world on a free-threaded build, and a thread stuck in C code
 * never comes to the safe point that pause waits for: every thread of the process that reaches
 * one waits with it. The stack of a stuck thread is therefore logged there once no other
 * request runs (the process is about to end), so that the running ones can finish first. */
#ifdef Py_GIL_DISABLED
#define STACK_WAITS_FOR_IDLE 1
#else
#define STACK_WAITS_FOR_IDLE 0
#endif

static struct {
    pyhost_group *g;
    server_rec *s;
    int workers;
    uint64_t *jobs; /* one per worker */
    int usr2;       /* SIGUSR2 deliveries asked for */
    int posted;     /* jobs posted, and done: equal when the helper has nothing to do */
    int done;
    sem_t wake;
} hp;

void pyhost_helper_post(int i, apr_uint64_t seq, int job)
{
    uint64_t v = __atomic_load_n(&hp.jobs[i], __ATOMIC_RELAXED), want;
    do {
        want = (v >> JOB_SHIFT == seq ? v : seq << JOB_SHIFT) | (uint64_t)job;
    } while (
        !__atomic_compare_exchange_n(&hp.jobs[i], &v, want, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    __atomic_add_fetch(&hp.posted, 1, __ATOMIC_SEQ_CST);
    sem_post(&hp.wake);
}

void pyhost_helper_signal(int signum)
{
    (void)signum; /* SIGUSR2 is the only one passed on */
    __atomic_store_n(&hp.usr2, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&hp.posted, 1, __ATOMIC_SEQ_CST);
    sem_post(&hp.wake);
}

static void raise_timeout(const pyhost_worker_view *v)
{
    PyThreadState *ts = pyhost_interp_enter(v->interp);
    int n = PyThreadState_SetAsyncExc((unsigned long)v->py_thread, v->interp->st->request_timeout);
    pyhost_interp_leave(ts);
    if (n == 1) { /* mod_wsgi 6's words, which log monitoring matches */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, hp.s,
                     "mod_wsgi (pid=%ld): Injected RequestTimeout into thread %" APR_UINT64_T_FMT
                     ".",
                     (long)getpid(), (apr_uint64_t)v->py_thread);
    }
}

/* Logs the Python stack of a worker's thread, one line per line of the trace. */
static void log_stack(const pyhost_worker_view *v)
{
    const pyhost_logctx lc = {NULL, hp.s, NULL};
    PyThreadState *ts = pyhost_interp_enter(v->interp);
    PyObject *frames = NULL, *frame, *tb = NULL, *lines = NULL, *key = NULL, *sys;
    sys = PyImport_ImportModule("sys");
    if (sys) {
        frames = PyObject_CallMethod(sys, "_current_frames", NULL);
        Py_DECREF(sys);
    }
    key = PyLong_FromUnsignedLongLong(v->py_thread);
    frame = frames && key ? PyDict_GetItem(frames, key) : NULL;
    if (frame) {
        tb = PyImport_ImportModule("traceback");
        lines = tb ? PyObject_CallMethod(tb, "format_stack", "O", frame) : NULL;
    }
    if (lines && PyList_Check(lines)) {
        Py_ssize_t i;
        for (i = 0; i < PyList_GET_SIZE(lines); i++) {
            const char *c = PyUnicode_AsUTF8(PyList_GET_ITEM(lines, i));
            while (c && *c) {
                char line[1024];
                const char *nl = strchr(c, '\n');
                apr_size_t len = nl ? (apr_size_t)(nl - c) : strlen(c);
                if (len >= sizeof(line)) {
                    len = sizeof(line) - 1;
                }
                memcpy(line, c, len);
                line[len] = '\0';
                pyhost_log_line(&lc, APLOG_ERR, line);
                c = nl ? nl + 1 : c + len;
            }
        }
    }
    else {
        pyhost_log_line(&lc, APLOG_ERR, "(the Python stack of the thread is not available)");
    }
    PyErr_Clear();
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(key);
    Py_XDECREF(frames);
    pyhost_interp_leave(ts);
}

static void *helper_main(void *arg)
{
    sigset_t all;
    (void)arg;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int postponed = 0; /* stacks left for later (STACK_WAITS_FOR_IDLE) */
    for (;;) {
        int i, posted;
        if (postponed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += STACK_RETRY_MSEC * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (sem_timedwait(&hp.wake, &ts) < 0 && errno != ETIMEDOUT) {
                continue; /* EINTR */
            }
        }
        else if (sem_wait(&hp.wake) < 0) {
            continue; /* EINTR */
        }
        posted = __atomic_load_n(&hp.posted, __ATOMIC_SEQ_CST);
        postponed = 0;
        for (i = 0; i < hp.workers; i++) {
            uint64_t job = __atomic_exchange_n(&hp.jobs[i], 0, __ATOMIC_ACQUIRE);
            pyhost_worker_view v;
            /* a request that has ended meanwhile needs nothing any more */
            if (!job || !pyhost_serve_view(i, &v) || v.seq != job >> JOB_SHIFT) {
                continue;
            }
            if (job & PYHOST_JOB_RAISE) {
                raise_timeout(&v);
            }
            if ((job & PYHOST_JOB_STACK) && STACK_WAITS_FOR_IDLE && pyhost_serve_active() > 0) {
                uint64_t none = 0; /* kept unless a newer request's job replaced it */
                __atomic_compare_exchange_n(&hp.jobs[i], &none, job & ~(uint64_t)PYHOST_JOB_RAISE,
                                            0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
                postponed = 1;
                continue;
            }
            if (job & PYHOST_JOB_STACK) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, hp.s,
                             "daemon process %ld of group '%s': Python stack of the stuck "
                             "thread of %s:",
                             (long)getpid(), hp.g->name, v.what);
                log_stack(&v);
            }
        }
        if (__atomic_exchange_n(&hp.usr2, 0, __ATOMIC_ACQUIRE)) {
            pyhost_interp_signal(SIGUSR2);
        }
        if (!postponed) {
            __atomic_store_n(&hp.done, posted, __ATOMIC_SEQ_CST);
        }
    }
    return NULL;
}

int pyhost_helper_idle(void)
{
    return __atomic_load_n(&hp.done, __ATOMIC_SEQ_CST) ==
           __atomic_load_n(&hp.posted, __ATOMIC_SEQ_CST);
}

int pyhost_helper_start(pyhost_group *g, server_rec *s, int workers)
{
    pthread_t t;
    hp.g = g;
    hp.s = s;
    hp.workers = workers;
    hp.jobs = pyhost_xcalloc((size_t)workers + 1, sizeof(uint64_t));
    if (sem_init(&hp.wake, 0, 0) < 0 || pthread_create(&t, NULL, helper_main, NULL)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     "daemon process %ld of group '%s': cannot start its helper thread",
                     (long)getpid(), g->name);
        return -1;
    }
    pthread_detach(t);
    return 0;
}
