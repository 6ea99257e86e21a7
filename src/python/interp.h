/* python/interp.h: an interpreter's record, and the thread states per (thread, interpreter).
 * (Python's life in the process, and making the interpreters: python/runtime.h.)
 *
 * Entering an interpreter is the same call in every GIL mode: pyhost_interp_enter() attaches
 * this thread's own thread state for that interpreter (taking the shared GIL, the
 * interpreter's own GIL, or no GIL when free-threaded), pyhost_interp_leave() detaches it. */
#ifndef PYHOST_INTERP_H
#define PYHOST_INTERP_H

#include <Python.h>

#include "config/config.h"
#include "python/log.h"

struct pyhost_modstate;

typedef struct pyhost_interp {
    const char *name;  /* unique in the process; "" is the main interpreter */
    const char *group; /* the application group it serves (its name, but in a pool) */
    int index;         /* slot in each thread's table of thread states */
    pyhost_gil_mode mode;
    PyInterpreterState *istate;
    PyObject *module; /* this interpreter's mod_wsgi module */
    struct pyhost_modstate *st;
    PyThread_type_lock scripts_lock; /* guards scripts */
    apr_hash_t *scripts;             /* path -> pyhost_loaded (python/script.c) */
    apr_pool_t *pool;
    int busy; /* requests running in it, for a pool's choice (pool_lock) */
} pyhost_interp;

/* How mod_wsgi 6's messages name interp in this process: "main interpreter in embedded mode",
 * "sub-interpreter 'name' of daemon process 'group'", ... (written into buf). */
const char *pyhost_interp_context(const pyhost_interp *interp, char *buf, apr_size_t size);

/* The interpreter this thread entered last (for messages about it). */
extern _Thread_local pyhost_interp *pyhost_current_interp;

/* The main interpreter, once Python is initialised. */
extern pyhost_interp *pyhost_main_interp;

/* Attaches this thread to interp and returns the thread state to pass to leave. */
PyThreadState *pyhost_interp_enter(pyhost_interp *interp);
void pyhost_interp_leave(PyThreadState *ts);

/* For python/runtime.c, which makes interpreters and ends them. */
/* Once, before any interpreter: the registry of thread states lives in p. */
void pyhost_interp_registry_init(apr_pool_t *p);
/* Records ts (made by Python with a new interpreter) as this thread's for interp. */
void pyhost_interp_adopt(pyhost_interp *interp, PyThreadState *ts);
/* This thread's thread state for interp, made if it has none yet (not attached). */
PyThreadState *pyhost_interp_tstate(pyhost_interp *interp);
/* Whether this thread is between an enter and its leave. */
int pyhost_interp_inside(void);
/* Removes a thread state that Python has freed from the registry. */
void pyhost_interp_forget(PyThreadState *ts);
/* Deletes every registered thread state of interp except keep (the attached one). */
void pyhost_interp_drop_others(pyhost_interp *interp, PyThreadState *keep);

#endif
