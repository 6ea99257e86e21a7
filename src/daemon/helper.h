/* daemon/helper.h: the thread that does the watch's Python work. */
#ifndef PYHOST_DAEMON_HELPER_H
#define PYHOST_DAEMON_HELPER_H

#include "shared/daemon.h"

/* What the watch can ask of the helper about a worker's request. */
#define PYHOST_JOB_RAISE 1 /* raise mod_wsgi.RequestTimeout in its thread */
#define PYHOST_JOB_STACK 2 /* log its thread's Python stack */

/* Starts the helper thread (after Python is up). 0, or -1 with the reason logged. */
int pyhost_helper_start(pyhost_group *g, server_rec *s, int workers);

/* Asks for job (PYHOST_JOB_*) on request seq of worker i; returns at once. */
void pyhost_helper_post(int i, apr_uint64_t seq, int job);

/* Whether every job posted so far is done. */
int pyhost_helper_idle(void);

/* Asks for signum to be delivered to the mod_wsgi signal handlers of every interpreter. */
void pyhost_helper_signal(int signum);

#endif
