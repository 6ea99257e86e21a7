/* shared/process.h: what this process is (an Apache child or a daemon process).
 *
 * One record per process, filled in once after the fork by the side that owns the process
 * (Apache's post_config for the children, the daemon's start for a daemon), and read by the
 * environ, the mod_wsgi module and the interpreters. It lives here, below them all, so that
 * neither the interpreter code nor the daemon code has to include the other to reach it. */
#ifndef PYHOST_PROCESS_H
#define PYHOST_PROCESS_H

#include "config/config.h"

typedef struct {
    const char *process_group; /* "" in Apache's children */
    pyhost_group *group;       /* NULL in Apache's children */
    int multithread;
    int multiprocess;
    int run_once;
    int threads_per_process;
    int maximum_processes;
    server_rec *server;
    /* Apache's own, for the apache module: the same in daemons */
    const char *mpm_name;
    int apache_threads;
    int apache_processes;
} pyhost_process;

extern pyhost_process pyhost_proc;

/* Apache's children (and, until a daemon describes itself, every process): wsgi.multithread
 * and wsgi.multiprocess from the MPM. Call in post_config. */
void pyhost_process_describe_apache(server_rec *s);

/* A daemon process of group g, just after its fork. */
void pyhost_process_describe_daemon(pyhost_group *g);

#endif
