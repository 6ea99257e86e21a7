/* shared/daemon.h: daemon mode, as the rest of the module sees it.
 *
 * Apache's parent creates each group's socket, forks its processes and replaces those that
 * end (parent/supervise.c); a daemon process serves requests (daemon/process.c); Apache's children
 * hand requests over (child/daemon_hop.c). They share a scoreboard in shared memory, made by
 * the parent before anything forks. */
#ifndef PYHOST_DAEMON_H
#define PYHOST_DAEMON_H

#include "shared/protocol.h"
#include "config/config.h"

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

/* The life of a daemon process, from just after its fork. */
void pyhost_daemon_main(pyhost_group *g, int process, server_rec *s) __attribute__((noreturn));

/* How process pid of the scoreboard ended ("killed by signal 9 (SIGKILL...)"), waiting up to
 * wait for Apache's parent to have seen it; NULL if it is not known to have ended. */
const char *pyhost_daemon_death(apr_pool_t *p, pid_t pid, apr_interval_time_t wait);

#endif
