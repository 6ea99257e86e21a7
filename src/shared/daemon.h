/* shared/daemon.h: daemon mode, as the rest of the module sees it.
 *
 * Apache's parent creates each group's socket, forks its processes and replaces those that
 * end (parent/supervise.c); a daemon process serves requests (daemon/process.c); Apache's children
 * hand requests over (child/daemon_hop.c). They share a scoreboard in shared memory, made by
 * the parent before anything forks. */
#ifndef PYHOST_DAEMON_H
#define PYHOST_DAEMON_H

#include "shared/protocol.h"
#include "child/route.h"

#include <sys/types.h>

typedef struct {
    volatile pid_t pid;       /* the process in this slot now, 0 if none */
    volatile pid_t dead_pid;  /* the last process of this slot that ended */
    volatile int dead_code;   /* how it ended: CLD_EXITED, CLD_KILLED or CLD_DUMPED */
    volatile int dead_status; /* its exit status or signal */
    volatile apr_time_t started;
    volatile apr_uint32_t restarts;
} pyhost_slot;

typedef struct {
    unsigned char secret[PYHOST_SECRET_LEN]; /* proves a connection comes from Apache */
    int nslots;
    pyhost_slot slots[];
} pyhost_shared;

extern pyhost_shared *pyhost_shm;

/* register_hooks: the parent's hooks that follow the MPM's children (parent/supervise.c). */
void pyhost_daemons_register_hooks(void);
/* check_config: what needs the whole configuration. */
int pyhost_daemons_check(server_rec *s);
/* post_config in Apache's parent: sockets, scoreboard, processes. */
int pyhost_daemons_start(apr_pool_t *pconf, server_rec *s);
/* child_init of an Apache child. */
void pyhost_daemons_child_init(apr_pool_t *pchild);

/* The handler's way to a daemon. */
int pyhost_daemon_hop(pyhost_route *rt);

/* The life of a daemon process, from just after its fork. */
void pyhost_daemon_main(pyhost_group *g, int process, server_rec *s) __attribute__((noreturn));

/* Ways a daemon process recycles itself (daemon/process.c), mildest first:
 * GRACEFUL keeps serving until it is idle or graceful-timeout passes; DRAIN stops taking
 * requests now and lets running ones finish; STOP gives running ones shutdown-timeout. */
enum { PYHOST_RECYCLE_GRACEFUL = 1, PYHOST_RECYCLE_DRAIN = 2, PYHOST_RECYCLE_STOP = 3 };

/* Asks this daemon process to recycle itself. code is the shutdown_reason given to
 * mod_wsgi.subscribe_shutdown callbacks, reason the log's words. Any thread may call it; the
 * strongest request wins. */
void pyhost_daemon_recycle(int how, const char *code, const char *reason);

/* Called by the serving side when no request is in progress: a graceful recycle happens now. */
void pyhost_daemon_idle(void);

/* How process pid of the scoreboard ended ("killed by signal 9 (SIGKILL...)"), waiting up to
 * wait for Apache's parent to have seen it; NULL if it is not known to have ended. */
const char *pyhost_daemon_death(apr_pool_t *p, pid_t pid, apr_interval_time_t wait);

#endif
