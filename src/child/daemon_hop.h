/* child/daemon_hop.h: the handler's way to a daemon process (child/daemon_hop.c). */
#ifndef PYHOST_DAEMON_HOP_H
#define PYHOST_DAEMON_HOP_H

#include "child/route.h"

/* Sends the routed request to its daemon group and relays the response. Returns what the
 * handler returns. */
int pyhost_daemon_hop(pyhost_route *rt);

#endif
