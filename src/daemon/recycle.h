/* daemon/recycle.h: requests that a daemon process recycle itself.
 *
 * The serving threads (maximum-requests, a changed script), the watch (timeouts, limits) and
 * the signal loop all ask here; the process's main loop (daemon/process.c) reads the request
 * and carries it out. This unit calls none of them: what must happen at once when a stronger
 * request arrives (stop taking connections) is a function the process registers, so serve,
 * watch and process depend on this file and not on each other. */
#ifndef PYHOST_DAEMON_RECYCLE_H
#define PYHOST_DAEMON_RECYCLE_H

#include "apr.h"

#include <pthread.h>
#include <signal.h>

/* Ways a daemon process recycles itself, mildest first:
 * GRACEFUL keeps serving until it is idle or graceful-timeout passes; DRAIN stops taking
 * requests now and lets running ones finish; STOP gives running ones shutdown-timeout. */
enum { PYHOST_RECYCLE_GRACEFUL = 1, PYHOST_RECYCLE_DRAIN = 2, PYHOST_RECYCLE_STOP = 3 };

/* Room for a recycle request's code (a shutdown_reason such as "request_timeout") and for its
 * reason (a log line's words, which may name a request: PYHOST_WHAT_LEN and some). */
#define PYHOST_RECYCLE_CODE_LEN 32
#define PYHOST_RECYCLE_WHY_LEN  600

/* The main thread waits in sigtimedwait(); this signal wakes it for a recycle request. */
#define PYHOST_SIG_WAKE (SIGRTMIN + 1)

/* What the process does at once on a request stronger than any before (how), in the thread
 * that asked. */
typedef void (*pyhost_recycle_act_fn)(int how);

/* Once, before any request: the thread to wake, and the function that acts at once. */
void pyhost_recycle_init(pthread_t main_thread, pyhost_recycle_act_fn act);

/* Asks this daemon process to recycle itself. code is the shutdown_reason given to
 * mod_wsgi.subscribe_shutdown callbacks, reason the log's words. Any thread may call it; the
 * strongest request wins. */
void pyhost_daemon_recycle(int how, const char *code, const char *reason);

/* Called by the serving side when no request is in progress: a graceful recycle happens now. */
void pyhost_daemon_idle(void);

/* Apache's parent retired this process (a graceful restart replaced its configuration): it
 * serves the old generation's Apache children until they have gone, and the routine recycles
 * (maximum-requests, restart-interval, inactivity-timeout, a changed script, SIGUSR1) no
 * longer apply; its replacement would be of a configuration that no longer exists. */
void pyhost_recycle_retire(void);
int pyhost_recycle_retired(void);

/* The strongest request so far (0: none), with its code and reason copied out. */
int pyhost_recycle_read(char *code, apr_size_t code_len, char *why, apr_size_t why_len);

#endif
