/* python/runtime.h: Python in a process: initialisation, the interpreters per application group
 * in each GIL mode, preloaded scripts, signals for the applications, and finalisation. */
#ifndef PYHOST_RUNTIME_H
#define PYHOST_RUNTIME_H

#include "python/interp.h"

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
