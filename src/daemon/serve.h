/* daemon/serve.h: the request-serving machinery inside a daemon process. */
#ifndef PYHOST_DAEMON_SERVE_H
#define PYHOST_DAEMON_SERVE_H

#include "shared/daemon.h"
#include "python/interp.h"

/* Starts the worker threads on group g's socket; a connection must present secret (of
 * PYHOST_SECRET_LEN bytes, copied) first. 0, or -1 with the reason logged. */
int pyhost_serve_start(pyhost_group *g, server_rec *s, const unsigned char *secret);

/* Stops taking new connections and says GOODBYE to idle ones; busy ones are closed when
 * their request ends. */
void pyhost_serve_stop(void);

/* For a graceful recycle: new requests are still taken until every request in progress now
 * has ended, then pyhost_serve_stop. (Waiting for an idle moment instead, a steady stream of
 * requests over several threads could keep the process going until graceful-timeout.) */
void pyhost_serve_stop_after_current(void);

/* Requests being handled now, not counting those the watch has given up on. */
int pyhost_serve_active(void);

/* Room for "METHOD URI (client host:port)" in the log lines about a request. */
#define PYHOST_WHAT_LEN 512

/* What the watch (daemon/watch.c) sees of one worker thread's request, copied without a lock
 * and without waiting for the worker. */
typedef struct {
    apr_uint64_t seq;          /* which request of the thread: answers and jobs name it */
    apr_time_t started;        /* when it started */
    pyhost_interp *interp;     /* where it runs */
    apr_uint64_t py_thread;    /* its thread ident, as Python's thread functions know it */
    apr_time_t interrupted_at; /* when mod_wsgi.RequestTimeout was raised in it, or 0 */
    int given_up;              /* answered by the watch: the thread is stuck */
    char what[PYHOST_WHAT_LEN];
} pyhost_worker_view;

int pyhost_serve_threads(void);
/* A copy of the request worker i runs; 0 if it runs none (or it ended during the copy). */
int pyhost_serve_view(int i, pyhost_worker_view *v);
/* Notes that RequestTimeout was raised in request seq of worker i. */
void pyhost_serve_interrupted(int i, apr_uint64_t seq, apr_time_t when);

/* Last request activity (a request starting or ending, body read, response written). */
apr_time_t pyhost_serve_activity(void);
/* When the first request arrived (0: none yet). */
apr_time_t pyhost_serve_first_request(void);

/* Answers request seq of worker i with status (or cuts its response short, if its head was
 * written) and shuts its connection, without waiting: the thread is stuck. Returns how:
 * ANSWERED now; CUT: the thread was blocked writing to the connection, which is then only cut
 * (Apache sees it end); AFTER_END: the whole response had been sent (the thread is stuck after
 * it, in close() or the request's end), so the connection is only shut; NONE: the request has
 * ended meanwhile. */
enum { PYHOST_GAVE_UP_NONE, PYHOST_GAVE_UP_ANSWERED, PYHOST_GAVE_UP_CUT, PYHOST_GAVE_UP_AFTER_END };
int pyhost_serve_give_up(int i, apr_uint64_t seq, int status, const char *why);

/* Requests answered by the watch whose threads have not come back from the application. */
int pyhost_serve_stuck(void);

#endif
