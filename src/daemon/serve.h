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

/* What the watch (daemon/watch.c) sees of one worker thread. */
typedef struct {
    apr_time_t started;     /* start of its request; 0 when idle */
    const char *what;       /* "METHOD URI (client)" of that request */
    pyhost_interp *interp;  /* where its request runs */
    apr_uint64_t py_thread; /* its thread ident, as Python's thread functions know it */
    apr_time_t interrupted; /* when mod_wsgi.RequestTimeout was raised in it, or 0 */
    int given_up;           /* answered by the watch: the thread is stuck */
} pyhost_worker_view;

int pyhost_serve_threads(void);
/* A copy of worker i's view (what copied into buf); 0 if it is idle. */
int pyhost_serve_view(int i, pyhost_worker_view *v, char *buf, apr_size_t len);
/* Notes that RequestTimeout was raised in worker i's thread. */
void pyhost_serve_interrupted(int i, apr_time_t when);

/* Last request activity (a request starting or ending, body read, response written). */
apr_time_t pyhost_serve_activity(void);
/* When the first request arrived (0: none yet). */
apr_time_t pyhost_serve_first_request(void);

/* Answers worker i's request with status and drops its connection: the thread is stuck. */
void pyhost_serve_give_up(int i, int status, const char *why);

#endif
