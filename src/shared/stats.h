/* shared/stats.h: the shared record of what the server does, for operators.
 *
 * Apache's parent maps it before anything forks and keeps it across restarts; Apache's children
 * and the daemon processes write into it with atomic additions (no locks), and any Apache child
 * reads it to answer the pyhost-metrics, pyhost-status and pyhost-health handlers
 * (child/status.c). Per group (embedded mode and each daemon group): requests by status class,
 * histograms of request duration, queue time and daemon-connect time, GIL waits, restarts by
 * reason. Per daemon process: pid, state, start, requests, why it or its predecessor ended. Per
 * thread (of daemons, and of Apache's children for embedded mode): the request in progress. A
 * ring of per-second samples and one of recent restarts. */
#ifndef PYHOST_STATS_H
#define PYHOST_STATS_H

#include "config/config.h"

#include "apr_time.h"

#include <sys/types.h>

/* Upper bounds of the histograms' buckets, in microseconds; the last bucket is +Inf. From a
 * quarter of a millisecond (a hello-world request) to a minute (request-timeout's range). */
#define PYHOST_STATS_BUCKETS 18
extern const apr_int64_t pyhost_stats_bounds[PYHOST_STATS_BUCKETS - 1];

enum { PYHOST_HIST_DURATION, PYHOST_HIST_QUEUE, PYHOST_HIST_CONNECT, PYHOST_HISTS };

typedef struct {
    apr_uint64_t count, sum_us;
    apr_uint64_t bucket[PYHOST_STATS_BUCKETS]; /* per bucket, not cumulative */
} pyhost_hist;

/* Why a daemon process ended; the names are pyhost_stats_reason_names[]. */
enum {
    PYHOST_RS_MAXIMUM_REQUESTS,
    PYHOST_RS_RESTART_INTERVAL,
    PYHOST_RS_INACTIVITY_TIMEOUT,
    PYHOST_RS_MEMORY_LIMIT,
    PYHOST_RS_REQUEST_TIMEOUT,
    PYHOST_RS_CPU_TIME_LIMIT,
    PYHOST_RS_STARTUP_TIMEOUT,
    PYHOST_RS_DEADLOCK_TIMEOUT,
    PYHOST_RS_SCRIPT_RELOAD,
    PYHOST_RS_SIGNAL, /* SIGUSR1 or SIGTERM sent to it */
    PYHOST_RS_CRASH,  /* it ended without saying why: a crash, or killed */
    PYHOST_RS_RELOAD, /* Apache restarted (graceful or not) */
    PYHOST_RS_COUNT
};
extern const char *const pyhost_stats_reason_names[PYHOST_RS_COUNT];

typedef struct {
    apr_uint64_t status[6]; /* by first digit; [0]: no status */
    pyhost_hist hist[PYHOST_HISTS];
    apr_uint64_t gil_wait_us, gil_waits;
    apr_uint64_t restarts[PYHOST_RS_COUNT];
} pyhost_stats_group;

enum { PYHOST_PS_NONE, PYHOST_PS_STARTING, PYHOST_PS_READY, PYHOST_PS_STOPPING };

typedef struct {
    pid_t pid; /* 0: none */
    int state; /* PYHOST_PS_* */
    apr_time_t started;
    apr_uint64_t requests;
    int stop_reason;       /* what the process said when it began to stop, or -1 */
    char stop_detail[112]; /* in its log's words */
    int last_reason;       /* why the process before it in this slot ended, or -1 */
    char last_detail[112];
} pyhost_stats_proc;

typedef struct {
    apr_uint32_t seq;   /* odd while its thread writes the request fields */
    pid_t pid;          /* of the process this thread is in */
    apr_time_t started; /* of its request; 0 when idle */
    apr_uint64_t requests;
    char what[104]; /* "METHOD URI" */
} pyhost_stats_thread;

typedef struct {
    apr_time_t when;
    pid_t pid;
    int reason;
    char group[64];
    char detail[112];
} pyhost_stats_restart;

/* Recent restarts the status page lists: enough for a crash loop's pattern to show, few
 * enough to read at a glance. */
#define PYHOST_STATS_RESTARTS 32
/* Seconds of history the status page plots. */
#define PYHOST_STATS_HISTORY 300

/* The header; the arrays follow it in the same mapping. */
typedef struct {
    int recording;      /* WSGISharedMetrics: per-request numbers are kept */
    apr_time_t created; /* when the first generation made it */
    apr_uint32_t restart_next;
    pyhost_stats_restart restart_ring[PYHOST_STATS_RESTARTS];
    apr_int64_t sampled; /* the second of the last sample */
    apr_uint32_t sample_next;
} pyhost_stats;

/* One second's sample: the totals then (the reader takes differences). */
typedef struct {
    apr_uint32_t seq;
    apr_int64_t second;
    apr_uint64_t duration[PYHOST_STATS_BUCKETS]; /* all groups' */
} pyhost_stats_sample;

/* The record's shape: private to each process (Apache's parent makes it with the record, the
 * others inherit it at the fork). Whoever indexes the record uses these, never numbers read
 * from the record, which a daemon process (perhaps another user's application) can write. */
typedef struct {
    int ngroups;   /* [0] embedded mode, [1 + index] each daemon group */
    int nprocs;    /* daemon process slots, as the daemon scoreboard's */
    int ndthreads; /* threads of all daemon process slots */
    int nathreads; /* Apache's ServerLimit * ThreadLimit */
    int thread_limit, server_limit;
    const char **names;                /* per group; "" for embedded mode */
    int *first_proc, *procs, *threads; /* per group: its slots in procs[], threads each */
    int *first_thread, *group_of;      /* per daemon slot: its threads in dthreads[], its group */
} pyhost_stats_shape;
extern pyhost_stats_shape pyhost_sh;

/* The record and its parts (NULL when there is none), the same in every process. */
extern pyhost_stats *pyhost_st;
extern pyhost_stats_group *pyhost_st_groups;
extern pyhost_stats_proc *pyhost_st_procs;
extern pyhost_stats_thread *pyhost_st_dthreads, *pyhost_st_athreads;
extern pyhost_stats_sample *pyhost_st_samples;
/* per sample, per group: requests then, busy threads then */
extern apr_uint64_t *pyhost_st_sample_requests;
extern apr_uint32_t *pyhost_st_sample_busy;

/* post_config in Apache's parent, after the daemon groups' slots are laid out. */
int pyhost_stats_create(apr_pool_t *pconf, server_rec *s);
/* Apache's parent, now and then and as children end: adds to this record what requests that
 * were in flight in the old generation's children added to the record before the last restart
 * that changed the groups. */
void pyhost_stats_fold(void);

/* Apache's children: around the handler of a WSGI request (group NULL: embedded mode). */
void pyhost_stats_request_begin(request_rec *r, const pyhost_group *g);
void pyhost_stats_request_end(request_rec *r, const pyhost_group *g, int rv);
/* A new connection to daemon group g took this long. */
void pyhost_stats_connect(const pyhost_group *g, apr_interval_time_t took);

/* Apache's parent: the process in daemon slot was started, or ended (how: in words;
 * stopping: Apache is restarting or stopping); reloaded: every daemon was stopped for that. */
void pyhost_stats_spawned(int slot, pid_t pid);
void pyhost_stats_ended(int slot, int stopping, const char *how);
void pyhost_stats_reloaded(void);

/* A daemon process: its slot, then ready to serve, then stopping (code: the shutdown reason
 * of mod_wsgi's callbacks, why: the log's words). */
void pyhost_stats_daemon_init(const pyhost_group *g, int process);
void pyhost_stats_daemon_ready(void);
void pyhost_stats_daemon_stopping(const char *code, const char *why);

/* A daemon thread (1-based, mod_wsgi.thread_id) begins or ends a request (times of the
 * queue in seconds since the epoch, as the environ's). */
void pyhost_stats_daemon_begin(int thread, const char *what, double queue_start,
                               double daemon_start);
void pyhost_stats_daemon_end(int thread, apr_interval_time_t gil_wait, int gil_waits);
/* An embedded request's waits for the GIL. */
void pyhost_stats_embedded_gil(apr_interval_time_t gil_wait, int gil_waits);

/* Takes this second's sample unless one was taken (cheap when it was). */
void pyhost_stats_tick(apr_time_t now);

/* Whether per-request numbers are kept (also asks for GIL waits to be timed). */
static inline int pyhost_stats_recording(void)
{
    return pyhost_st && pyhost_st->recording;
}

/* Threads of group i (0: embedded mode) in a request now. */
int pyhost_stats_busy(int group);
/* Thread record i of Apache's children belongs to a live child (its pid in the scoreboard). */
int pyhost_stats_athread_live(int i);

#endif
