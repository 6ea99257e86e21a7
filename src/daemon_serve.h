/* daemon_serve.h: the request-serving machinery inside a daemon process. */
#ifndef PYHOST_DAEMON_SERVE_H
#define PYHOST_DAEMON_SERVE_H

#include "daemon.h"

/* Starts the worker threads on group g's socket. 0, or -1 with the reason logged. */
int pyhost_serve_start(pyhost_group *g, server_rec *s);

/* Stops taking new connections and says GOODBYE to idle ones; busy ones are closed when
 * their request ends. */
void pyhost_serve_stop(void);

/* Requests being handled now. */
int pyhost_serve_active(void);

#endif
