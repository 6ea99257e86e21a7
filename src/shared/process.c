/* shared/process.c: the process record (see shared/process.h) and the two ways it is
 * filled in: from Apache's MPM for its children, from a daemon group's options for a daemon
 * process (which keeps Apache's MPM figures for the apache module). */
#include "shared/process.h"

#include "ap_mpm.h"

pyhost_process pyhost_proc;

static int mpm_value(int query, int fallback)
{
    int v = 0;
    if (ap_mpm_query(query, &v) != APR_SUCCESS) {
        return fallback;
    }
    return v;
}

void pyhost_process_describe_apache(server_rec *s)
{
    int threaded = mpm_value(AP_MPMQ_IS_THREADED, AP_MPMQ_NOT_SUPPORTED);
    int forked = mpm_value(AP_MPMQ_IS_FORKED, AP_MPMQ_NOT_SUPPORTED);
    int max_threads = mpm_value(AP_MPMQ_MAX_THREADS, 1);
    int max_daemons = mpm_value(AP_MPMQ_MAX_DAEMONS, 1);
    int used = mpm_value(AP_MPMQ_MAX_DAEMON_USED, -1);

    pyhost_proc.process_group = "";
    pyhost_proc.group = NULL;
    pyhost_proc.multithread = threaded != AP_MPMQ_NOT_SUPPORTED && max_threads != 1;
    pyhost_proc.multiprocess = forked != AP_MPMQ_NOT_SUPPORTED && max_daemons != 1;
    pyhost_proc.run_once = 0;
    pyhost_proc.threads_per_process = max_threads > 0 ? max_threads : 1;
    if (used == -1) {
        used = max_daemons;
    }
    pyhost_proc.maximum_processes = used > 0 ? used : 1;
    pyhost_proc.apache_threads = pyhost_proc.threads_per_process;
    pyhost_proc.apache_processes = pyhost_proc.maximum_processes;
    pyhost_proc.mpm_name = ap_show_mpm();
    pyhost_proc.server = s;
}

void pyhost_process_describe_daemon(pyhost_group *g)
{
    pyhost_proc.process_group = g->name;
    pyhost_proc.group = g;
    pyhost_proc.multithread = g->threads != 1;
    pyhost_proc.multiprocess = g->multiprocess;
    pyhost_proc.run_once = g->threads == 1 && g->maximum_requests == 1;
    pyhost_proc.threads_per_process = g->threads;
    pyhost_proc.maximum_processes = g->processes;
    pyhost_proc.server = g->server;
}
