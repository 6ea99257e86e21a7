/* python/interp.h: Python in a process: initialisation, interpreters per application group, thread
 * states per (thread, interpreter), and the GIL modes.
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

/* Initialises Python in this process (Apache child or daemon). Returns 0 on success. */
int pyhost_python_init(apr_pool_t *p, server_rec *s);
int pyhost_python_ready(void);

/* Finds or creates the interpreter of an application group. Call without any thread state
 * attached. NULL when it cannot be created: logged in full the first time, and not tried
 * again in this process (each try would leave a half-made interpreter behind). */
pyhost_interp *pyhost_interp_get(const char *name);

/* Why interpreter name could not be created, for the log line of a request that needed it. */
const char *pyhost_interp_failure(const char *name);

/* The least busy member of group's pool of size interpreters, from member hint % size on;
 * counted busy until pyhost_interp_done(). NULL if a member cannot be created. */
pyhost_interp *pyhost_interp_pick(const char *group, int size, int hint);
void pyhost_interp_done(pyhost_interp *interp);

/* How mod_wsgi 6's messages name interp in this process: "main interpreter in embedded mode",
 * "sub-interpreter 'name' of daemon process 'group'", ... (written into buf). */
const char *pyhost_interp_context(const pyhost_interp *interp, char *buf, apr_size_t size);

/* The interpreter this thread entered last (for messages about it). */
extern _Thread_local pyhost_interp *pyhost_current_interp;

/* Attaches this thread to interp and returns the thread state to pass to leave. */
PyThreadState *pyhost_interp_enter(pyhost_interp *interp);
void pyhost_interp_leave(PyThreadState *ts);

/* Loads the scripts named for this process (WSGIImportScript and preloaded aliases) whose
 * process group is process_group. */
void pyhost_import_scripts(const char *process_group);

/* threads=0 daemons: runs the group's imported scripts in this thread (Python's main thread),
 * with SIGTERM, SIGINT and SIGHUP raising SystemExit in them. Returns when they end. */
void pyhost_run_service(const char *process_group);

/* Tells each interpreter's subscribe_signals callbacks about signum. */
void pyhost_interp_signal(int signum);

/* Runs shutdown callbacks (with the reason the process stops) and, with
 * WSGIDestroyInterpreter On, finalises Python. */
void pyhost_python_fini(const char *shutdown_reason);

#endif
