/* python/interp.c: an interpreter's record and the threads attached to it.
 *
 * Owns the per-thread table of thread states (one per thread and interpreter, made on first
 * use and reused), the registry of all of them that finalisation needs, entering and leaving
 * an interpreter in every GIL mode, and how messages name an interpreter. Making the
 * interpreters and Python's life in the process are python/runtime.c's. */
#include "python/interp.h"
#include "shared/alloc.h"
#include "shared/process.h"

#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include <pthread.h>
#include <stdlib.h>

pyhost_interp *pyhost_main_interp;

static apr_thread_mutex_t *registry_lock; /* all_tstates */
static apr_array_header_t *all_tstates;   /* of PyThreadState *, for finalisation */

/* This thread's thread state for each interpreter, by pyhost_interp.index. */
static _Thread_local PyThreadState **tls_states;
static _Thread_local int tls_count;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

void pyhost_interp_registry_init(apr_pool_t *p)
{
    apr_thread_mutex_create(&registry_lock, APR_THREAD_MUTEX_DEFAULT, p);
    all_tstates = apr_array_make(p, 16, sizeof(PyThreadState *));
}

/* A thread that ends takes its table with it; its thread states stay registered until
 * Python is finalised. */
static void thread_end(void *data)
{
    (void)data;
    free(tls_states);
    tls_states = NULL;
    tls_count = 0;
}

static void make_key(void)
{
    pthread_key_create(&tls_key, thread_end);
}

void pyhost_interp_adopt(pyhost_interp *interp, PyThreadState *ts)
{
    int index = interp->index;
    if (!tls_states) {
        pthread_once(&tls_once, make_key);
        pthread_setspecific(tls_key, &tls_states);
    }
    if (index >= tls_count) {
        int n = index + 8, i; /* room for a few more interpreters before the next growth */
        PyThreadState **v = pyhost_xrealloc(tls_states, (size_t)n * sizeof(*v));
        for (i = tls_count; i < n; i++) {
            v[i] = NULL;
        }
        tls_states = v;
        tls_count = n;
    }
    tls_states[index] = ts;
    apr_thread_mutex_lock(registry_lock);
    APR_ARRAY_PUSH(all_tstates, PyThreadState *) = ts;
    apr_thread_mutex_unlock(registry_lock);
}

PyThreadState *pyhost_interp_tstate(pyhost_interp *interp)
{
    PyThreadState *ts = interp->index < tls_count ? tls_states[interp->index] : NULL;
    if (!ts) {
        ts = PyThreadState_New(interp->istate);
        pyhost_interp_adopt(interp, ts);
    }
    return ts;
}

_Thread_local pyhost_interp *pyhost_current_interp;

/* How deep this thread is between pyhost_interp_enter() and pyhost_interp_leave(); each enter
 * needs its leave, as pyhost_python_fini() does nothing on a thread that is inside Python. */
static _Thread_local int tls_entered;

PyThreadState *pyhost_interp_enter(pyhost_interp *interp)
{
    PyThreadState *ts;
    tls_entered++;
    pyhost_current_interp = interp;
    ts = pyhost_interp_tstate(interp);
    PyEval_RestoreThread(ts);
    return ts;
}

void pyhost_interp_leave(PyThreadState *ts)
{
    (void)ts;
    PyEval_SaveThread();
    tls_entered--;
}

int pyhost_interp_inside(void)
{
    return tls_entered;
}

void pyhost_interp_forget(PyThreadState *ts)
{
    int i;
    for (i = 0; i < all_tstates->nelts; i++) {
        if (APR_ARRAY_IDX(all_tstates, i, PyThreadState *) == ts) {
            APR_ARRAY_IDX(all_tstates, i, PyThreadState *) = NULL;
        }
    }
    for (i = 0; i < tls_count; i++) {
        if (tls_states[i] == ts) {
            tls_states[i] = NULL;
        }
    }
}

void pyhost_interp_drop_others(pyhost_interp *interp, PyThreadState *keep)
{
    int i;
    for (i = 0; i < all_tstates->nelts; i++) {
        PyThreadState *o = APR_ARRAY_IDX(all_tstates, i, PyThreadState *);
        if (o && o != keep && PyThreadState_GetInterpreter(o) == interp->istate) {
            PyThreadState_Clear(o);
            PyThreadState_Delete(o);
            APR_ARRAY_IDX(all_tstates, i, PyThreadState *) = NULL;
        }
    }
}

const char *pyhost_interp_context(const pyhost_interp *interp, char *buf, apr_size_t size)
{
    const char *g = pyhost_proc.group ? pyhost_proc.group->name : NULL;
    if (!interp || !interp->name[0]) {
        apr_snprintf(buf, size, "main interpreter %s%s%s", g ? "of daemon process '" : "",
                     g ? g : "in embedded mode", g ? "'" : "");
    }
    else {
        apr_snprintf(buf, size, "sub-interpreter '%s' %s%s%s", interp->name,
                     g ? "of daemon process '" : "", g ? g : "in embedded mode", g ? "'" : "");
    }
    return buf;
}
