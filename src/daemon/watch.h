/* daemon/watch.h: the watch over a daemon process (timeouts and limits that recycle it). */
#ifndef PYHOST_DAEMON_WATCH_H
#define PYHOST_DAEMON_WATCH_H

#include "shared/daemon.h"

/* Starts watching, and the helper thread: call once the process serves (after Python is up).
 * 0, or -1 with the reason logged. */
int pyhost_watch_start(pyhost_group *g, server_rec *s);

/* One look at the process; asks for a recycle when a limit is passed. */
void pyhost_watch_tick(apr_time_t now);

#endif
