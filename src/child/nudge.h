/* child/nudge.h: Apache's core output of a connection, written without waiting. */
#ifndef PYHOST_NUDGE_H
#define PYHOST_NUDGE_H

#include "httpd.h"
#include "util_filter.h"

/* The core's output filter of c, where the MPM completes writes without a thread (an async
 * MPM, no TLS, not a secondary connection); else NULL. */
ap_filter_t *pyhost_core_filter(conn_rec *c);

/* Writes what Apache holds of c's output as far as the client takes it now, as the event MPM
 * does after a request, never waiting. 0 when c's output cannot be handled so (no write
 * completion, TLS, a secondary connection): the caller flushes instead. */
int pyhost_nudge(conn_rec *c);

#endif
