/* child/status.c: what an operator sees of a running server.
 *
 * Owns three handlers, answered in Apache's children from the shared record (shared/stats.h)
 * and Apache's scoreboard; nothing is exposed unless a <Location> maps a handler name:
 *   pyhost-metrics  Prometheus' text format (version 0.0.4), per daemon group and embedded mode;
 *   pyhost-status   one self-contained HTML page that plots and tabulates the JSON it polls
 *                   (the page, src/child/status.html, is compiled in), or that JSON with ?json;
 *   pyhost-health   200 while every daemon group has a process taking requests, otherwise 503
 *                   with the reason; 503 too once Apache has begun a graceful stop.
 * Processes' resident memory and CPU time come from /proc/PID/stat, readable whatever user a
 * daemon runs as. */
#include "child/status.h"

#include "config/config.h"
#include "shared/daemon.h"
#include "shared/stats.h"

#include "ap_mpm.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mpm_common.h"
#include "scoreboard.h"
#include "apr_strings.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "status_html.h" /* STATUS_HTML, made from src/child/status.html by the Makefile */

APLOG_USE_MODULE(wsgi);

/* The JSON goes into the page where the page says so, so it draws before its first poll. */
#define DATA_MARK "/*DATA*/null"

/* ---- what is read, once per answer ------------------------------------------------------- */

typedef struct {
    int group; /* index in the record; 0: embedded mode */
    int slot;  /* daemon slot, or Apache's scoreboard slot */
    pid_t pid;
    int state; /* PYHOST_PS_*; Apache's children are READY */
    apr_time_t started;
    apr_uint64_t requests;
    double cpu;
    apr_int64_t rss;
    int last_reason;
    const char *last_detail;
} proc_view;

typedef struct {
    int group;
    pid_t pid;
    int thread;
    apr_interval_time_t elapsed;
    const char *what;
} inflight_view;

typedef struct {
    apr_time_t now;
    int threads_per_child;        /* Apache's */
    apr_array_header_t *procs;    /* of proc_view */
    apr_array_header_t *inflight; /* of inflight_view */
    int *busy, *total, *live;     /* per group: threads busy, threads, live processes */
} view;

static double boot_time(void)
{
    static double boot;
    char line[128];
    FILE *f;
    if (boot) {
        return boot;
    }
    if ((f = fopen("/proc/stat", "r"))) {
        while (fgets(line, sizeof(line), f)) {
            if (!strncmp(line, "btime ", 6)) {
                boot = atof(line + 6);
            }
        }
        fclose(f);
    }
    return boot;
}

/* CPU seconds (user + system), resident bytes and start time of pid; 0 if it is gone. */
static int proc_stat(pid_t pid, double *cpu, apr_int64_t *rss, apr_time_t *started)
{
    char path[64], buf[1024], *p;
    unsigned long long utime = 0, stime = 0, start = 0;
    long long pages = 0;
    apr_size_t n;
    FILE *f;
    long tick = sysconf(_SC_CLK_TCK);
    apr_snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "r"))) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the name in parentheses may hold spaces: fields are counted from its end (field 3) */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %*u %lld",
               &utime, &stime, &start, &pages) != 4) {
        return 0;
    }
    if (tick <= 0) {
        tick = 100;
    }
    *cpu = (double)(utime + stime) / (double)tick;
    *rss = (apr_int64_t)pages * sysconf(_SC_PAGESIZE);
    if (started) {
        *started = (apr_time_t)((boot_time() + (double)start / (double)tick) * APR_USEC_PER_SEC);
    }
    return 1;
}

/* A consistent copy of thread record t (its thread may be writing it). */
static int read_thread(const pyhost_stats_thread *t, pyhost_stats_thread *out)
{
    int tries;
    for (tries = 0; tries < 8; tries++) {
        apr_uint32_t before = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            continue;
        }
        memcpy(out, t, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&t->seq, __ATOMIC_RELAXED) == before) {
            out->what[sizeof(out->what) - 1] = '\0';
            return 1;
        }
    }
    return 0;
}

static void add_inflight(apr_pool_t *p, view *v, int group, pid_t pid, int thread,
                         const pyhost_stats_thread *t)
{
    inflight_view *f = apr_array_push(v->inflight);
    f->group = group;
    f->pid = pid;
    f->thread = thread;
    f->elapsed = v->now > t->started ? v->now - t->started : 0;
    f->what = apr_pstrdup(p, t->what);
}

/* Apache's children: each live process of the scoreboard, its threads' requests. */
static void read_apache(apr_pool_t *p, view *v)
{
    int i, j, tl = pyhost_sh.thread_limit;
    if (pyhost_g.restrict_embedded) {
        return; /* WSGIRestrictEmbedded On: no embedded mode to show */
    }
    for (i = 0; ap_scoreboard_image && i < pyhost_sh.server_limit; i++) {
        pid_t pid = ap_scoreboard_image->parent[i].pid;
        proc_view *pv;
        if (pid <= 0 || kill(pid, 0) < 0) {
            continue;
        }
        pv = apr_array_push(v->procs);
        memset(pv, 0, sizeof(*pv));
        pv->group = 0;
        pv->slot = i;
        pv->pid = pid;
        pv->state = PYHOST_PS_READY;
        pv->last_reason = -1;
        proc_stat(pid, &pv->cpu, &pv->rss, &pv->started);
        v->live[0]++;
        v->total[0] += v->threads_per_child;
        for (j = 0; j < tl; j++) {
            pyhost_stats_thread t;
            if (!read_thread(&pyhost_st_athreads[i * tl + j], &t) || t.pid != pid) {
                continue;
            }
            pv->requests += t.requests;
            if (t.started) {
                add_inflight(p, v, 0, pid, j, &t);
            }
        }
    }
}

static void read_daemons(apr_pool_t *p, view *v)
{
    int gi, i, j;
    for (gi = 1; gi < pyhost_sh.ngroups; gi++) {
        int first = pyhost_sh.first_proc[gi], threads = pyhost_sh.threads[gi];
        for (i = first; i < first + pyhost_sh.procs[gi]; i++) {
            const pyhost_stats_proc *sp = &pyhost_st_procs[i];
            proc_view *pv = apr_array_push(v->procs);
            memset(pv, 0, sizeof(*pv));
            pv->group = gi;
            pv->slot = i - first;
            pv->pid = __atomic_load_n(&sp->pid, __ATOMIC_ACQUIRE);
            pv->state = pv->pid ? __atomic_load_n(&sp->state, __ATOMIC_RELAXED) : PYHOST_PS_NONE;
            if (pv->state < PYHOST_PS_NONE || pv->state > PYHOST_PS_STOPPING) {
                pv->state = PYHOST_PS_NONE; /* the record is writable by daemons: checked */
            }
            pv->started = sp->started;
            pv->requests = __atomic_load_n(&sp->requests, __ATOMIC_RELAXED);
            pv->last_reason = sp->last_reason < PYHOST_RS_COUNT ? sp->last_reason : -1;
            pv->last_detail = apr_pstrndup(p, sp->last_detail, sizeof(sp->last_detail));
            if (!pv->pid || !proc_stat(pv->pid, &pv->cpu, &pv->rss, NULL)) {
                continue;
            }
            v->live[gi]++;
            v->total[gi] += threads;
            for (j = 0; j < threads; j++) {
                pyhost_stats_thread t;
                if (read_thread(&pyhost_st_dthreads[pyhost_sh.first_thread[i] + j], &t) &&
                    t.started && t.pid == pv->pid) {
                    add_inflight(p, v, gi, pv->pid, j + 1, &t);
                }
            }
        }
    }
}

static void read_view(apr_pool_t *p, view *v)
{
    int gi, n = pyhost_sh.ngroups;
    v->now = apr_time_now();
    v->threads_per_child = 1;
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &v->threads_per_child);
    if (v->threads_per_child < 1) {
        v->threads_per_child = 1;
    }
    v->procs = apr_array_make(p, 16, sizeof(proc_view));
    v->inflight = apr_array_make(p, 16, sizeof(inflight_view));
    v->busy = apr_pcalloc(p, sizeof(int) * (apr_size_t)n);
    v->total = apr_pcalloc(p, sizeof(int) * (apr_size_t)n);
    v->live = apr_pcalloc(p, sizeof(int) * (apr_size_t)n);
    read_apache(p, v);
    read_daemons(p, v);
    for (gi = 0; gi < n; gi++) {
        v->busy[gi] = pyhost_stats_busy(gi);
        if (v->busy[gi] > v->total[gi]) {
            v->busy[gi] = v->total[gi];
        }
    }
}

/* Groups shown: embedded mode unless WSGIRestrictEmbedded forbids it, and each daemon group. */
static int shown(int gi)
{
    return gi > 0 || !pyhost_g.restrict_embedded;
}

static apr_uint64_t load(const apr_uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static const char *mode_of(int gi)
{
    return gi ? "daemon" : "embedded";
}

static const char *const state_names[] = {"none", "starting", "ready", "stopping"};

/* ---- pyhost-metrics ---------------------------------------------------------------------- */

static const char *prom_label(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *o++ = '\\';
            *o++ = *s;
        }
        else if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static void prom_head(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_hist(request_rec *r, const char *name, const char *labels, const pyhost_hist *h)
{
    apr_uint64_t cum = 0;
    int b;
    for (b = 0; b < PYHOST_STATS_BUCKETS; b++) {
        cum += load(&h->bucket[b]);
        if (b < PYHOST_STATS_BUCKETS - 1) {
            char le[32];
            /* libc's %g: APR's leaves out the 0 before the point */
            snprintf(le, sizeof(le), "%g", (double)pyhost_stats_bounds[b] / APR_USEC_PER_SEC);
            ap_rprintf(r, "%s_bucket{%s,le=\"%s\"} %" APR_UINT64_T_FMT "\n", name, labels, le, cum);
        }
        else {
            ap_rprintf(r, "%s_bucket{%s,le=\"+Inf\"} %" APR_UINT64_T_FMT "\n", name, labels, cum);
        }
    }
    ap_rprintf(r, "%s_sum{%s} %.6f\n%s_count{%s} %" APR_UINT64_T_FMT "\n", name, labels,
               (double)load(&h->sum_us) / APR_USEC_PER_SEC, name, labels, cum);
}

static void prom_histograms(request_rec *r, const char **labels)
{
    static const struct {
        int which;
        const char *name, *help;
    } hists[] = {{PYHOST_HIST_DURATION, "pyhost_request_duration_seconds",
                  "Time from Apache reading the request to the end of the response."},
                 {PYHOST_HIST_QUEUE, "pyhost_queue_seconds",
                  "Time from the Apache child sending a request to a daemon thread taking it."},
                 {PYHOST_HIST_CONNECT, "pyhost_daemon_connect_seconds",
                  "Time to open a new connection to a daemon group's socket."}};
    int i, gi;
    for (i = 0; i < 3; i++) {
        prom_head(r, hists[i].name, "histogram", hists[i].help);
        for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
            if (shown(gi) && (gi || hists[i].which == PYHOST_HIST_DURATION)) {
                prom_hist(r, hists[i].name, labels[gi], &pyhost_st_groups[gi].hist[hists[i].which]);
            }
        }
    }
}

static void prom_processes(request_rec *r, const view *v, const char **labels)
{
    static const char *const names[] = {
        "pyhost_process_resident_memory_bytes", "pyhost_process_cpu_seconds_total",
        "pyhost_process_start_time_seconds", "pyhost_process_requests_total", "pyhost_process_id"};
    static const char *const types[] = {"gauge", "counter", "gauge", "counter", "gauge"};
    static const char *const helps[] = {
        "Resident memory of the process.", "CPU time (user and system) of the process.",
        "Start time of the process since the epoch.",
        "Requests the process has served since it started.", "Process id."};
    int k, i;
    for (k = 0; k < 5; k++) {
        prom_head(r, names[k], types[k], helps[k]);
        for (i = 0; i < v->procs->nelts; i++) {
            const proc_view *pv = &APR_ARRAY_IDX(v->procs, i, proc_view);
            if (!pv->pid || !shown(pv->group) || pv->state == PYHOST_PS_NONE) {
                continue;
            }
            ap_rprintf(r, "%s{%s,process=\"%d\"} ", names[k], labels[pv->group], pv->slot);
            if (k == 0) {
                ap_rprintf(r, "%" APR_INT64_T_FMT "\n", pv->rss);
            }
            else if (k == 1) {
                ap_rprintf(r, "%.2f\n", pv->cpu);
            }
            else if (k == 2) {
                ap_rprintf(r, "%.3f\n", (double)pv->started / APR_USEC_PER_SEC);
            }
            else if (k == 3) {
                ap_rprintf(r, "%" APR_UINT64_T_FMT "\n", pv->requests);
            }
            else {
                ap_rprintf(r, "%ld\n", (long)pv->pid);
            }
        }
    }
}

/* Responses held for slow clients (child/spool.c), summed over Apache's live children. */
static void prom_buffers(request_rec *r, const char **labels)
{
    static const char *const limits[] = {NULL, "memory", "disk"};
    pyhost_stats_buffer *held = apr_palloc(r->pool, sizeof(*held) * (apr_size_t)pyhost_sh.ngroups);
    int gi, k;
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        pyhost_stats_buffer_sum(gi, &held[gi]);
    }
    prom_head(r, "pyhost_response_buffer_bytes", "gauge",
              "Bytes of memory files and temporary files held by responses waiting for slow "
              "clients.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r,
                       "pyhost_response_buffer_bytes{%s,where=\"memory\"} %" APR_INT64_T_FMT "\n"
                       "pyhost_response_buffer_bytes{%s,where=\"disk\"} %" APR_INT64_T_FMT "\n",
                       labels[gi], held[gi].memory, labels[gi], held[gi].disk);
        }
    }
    prom_head(r, "pyhost_response_buffer_responses", "gauge",
              "Responses held now for clients slower than the application.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_response_buffer_responses{%s} %" APR_INT64_T_FMT "\n", labels[gi],
                       held[gi].responses);
        }
    }
    prom_head(r, "pyhost_response_buffered_total", "counter",
              "Responses held for clients slower than the application.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_response_buffered_total{%s} %" APR_UINT64_T_FMT "\n", labels[gi],
                       load(&pyhost_st_groups[gi].buffer_events[PYHOST_BUF_HELD]));
        }
    }
    prom_head(r, "pyhost_response_buffered_bytes_total", "counter",
              "Bytes written to memory files and temporary files for slow clients.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_response_buffered_bytes_total{%s} %" APR_UINT64_T_FMT "\n",
                       labels[gi], load(&pyhost_st_groups[gi].buffer_bytes));
        }
    }
    prom_head(
        r, "pyhost_request_buffer_bytes", "gauge",
        "Bytes of request bodies read whole before the hop to a daemon (request-buffer-size), "
        "held in memory and in temporary files.");
    for (gi = 1; gi < pyhost_sh.ngroups; gi++) {
        ap_rprintf(r,
                   "pyhost_request_buffer_bytes{%s,where=\"memory\"} %" APR_INT64_T_FMT "\n"
                   "pyhost_request_buffer_bytes{%s,where=\"disk\"} %" APR_INT64_T_FMT "\n",
                   labels[gi], held[gi].body_memory, labels[gi], held[gi].body_disk);
    }
    prom_head(r, "pyhost_request_buffer_bodies", "gauge",
              "Request bodies being read, or read, before the hop to a daemon, held now.");
    for (gi = 1; gi < pyhost_sh.ngroups; gi++) {
        ap_rprintf(r, "pyhost_request_buffer_bodies{%s} %" APR_INT64_T_FMT "\n", labels[gi],
                   held[gi].bodies);
    }
    prom_head(r, "pyhost_response_buffer_limit_total", "counter",
              "Held responses that filled WSGIResponseBufferMemory (the rest went to a temporary "
              "file), or met WSGIBufferDiskLimit (then each write waited for the client).");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        for (k = PYHOST_BUF_MEMORY_LIMIT; shown(gi) && k <= PYHOST_BUF_DISK_LIMIT; k++) {
            ap_rprintf(
                r, "pyhost_response_buffer_limit_total{%s,limit=\"%s\"} %" APR_UINT64_T_FMT "\n",
                labels[gi], limits[k], load(&pyhost_st_groups[gi].buffer_events[k]));
        }
    }
}

static void answer_metrics(request_rec *r)
{
    view v;
    const char **labels = apr_palloc(r->pool, sizeof(char *) * (apr_size_t)pyhost_sh.ngroups);
    int gi, c, k;
    read_view(r->pool, &v);
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        labels[gi] = apr_psprintf(r->pool, "mode=\"%s\",group=\"%s\"", mode_of(gi),
                                  prom_label(r->pool, pyhost_sh.names[gi]));
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    prom_head(r, "pyhost_requests_total", "counter",
              "Requests answered by WSGI applications, by status class.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        const pyhost_stats_group *g = &pyhost_st_groups[gi];
        for (c = 1; shown(gi) && c <= 5; c++) {
            /* a request that ended without a status failed: counted with the 5xx */
            ap_rprintf(r, "pyhost_requests_total{%s,code=\"%dxx\"} %" APR_UINT64_T_FMT "\n",
                       labels[gi], c, load(&g->status[c]) + (c == 5 ? load(&g->status[0]) : 0));
        }
    }
    prom_histograms(r, labels);
    prom_head(r, "pyhost_threads", "gauge",
              "Request threads of the group's live processes, busy or idle.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_threads{%s,state=\"busy\"} %d\n", labels[gi], v.busy[gi]);
            ap_rprintf(r, "pyhost_threads{%s,state=\"idle\"} %d\n", labels[gi],
                       v.total[gi] - v.busy[gi]);
        }
    }
    prom_head(r, "pyhost_processes", "gauge", "Live processes of the group.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_processes{%s} %d\n", labels[gi], v.live[gi]);
        }
    }
    prom_processes(r, &v, labels);
    prom_head(r, "pyhost_restarts_total", "counter",
              "Daemon processes that ended and were replaced, by reason.");
    for (gi = 1; gi < pyhost_sh.ngroups; gi++) {
        for (k = 0; k < PYHOST_RS_COUNT; k++) {
            ap_rprintf(r, "pyhost_restarts_total{%s,reason=\"%s\"} %" APR_UINT64_T_FMT "\n",
                       labels[gi], pyhost_stats_reason_names[k],
                       load(&pyhost_st_groups[gi].restarts[k]));
        }
    }
    prom_head(r, "pyhost_gil_wait_seconds_total", "counter",
              "Time request threads waited for the Python GIL after blocking I/O.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_gil_wait_seconds_total{%s} %.6f\n", labels[gi],
                       (double)load(&pyhost_st_groups[gi].gil_wait_us) / APR_USEC_PER_SEC);
        }
    }
    prom_head(r, "pyhost_gil_waits_total", "counter",
              "Times request threads waited for the Python GIL after blocking I/O.");
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (shown(gi)) {
            ap_rprintf(r, "pyhost_gil_waits_total{%s} %" APR_UINT64_T_FMT "\n", labels[gi],
                       load(&pyhost_st_groups[gi].gil_waits));
        }
    }
    prom_buffers(r, labels);
}

/* ---- pyhost-status: JSON ----------------------------------------------------------------- */

static const char *js(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, n * 6 + 3), *o = out;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        }
        else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c >= 0x7f) {
            /* <, > and & escaped too: the JSON is also placed inside the page's script */
            o += sprintf(o, "\\u%04x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static double secs(apr_time_t t)
{
    return (double)t / APR_USEC_PER_SEC;
}

/* The q-quantile of a histogram's counts, interpolated in its bucket; -1 if it is empty. */
static double quantile(const apr_uint64_t *counts, double q)
{
    apr_uint64_t total = 0, cum = 0;
    int b;
    for (b = 0; b < PYHOST_STATS_BUCKETS; b++) {
        total += counts[b];
    }
    if (!total) {
        return -1;
    }
    for (b = 0; b < PYHOST_STATS_BUCKETS; b++) {
        double rank = q * (double)total;
        if ((double)(cum + counts[b]) >= rank && counts[b]) {
            double lo = b ? (double)pyhost_stats_bounds[b - 1] : 0;
            double hi = b < PYHOST_STATS_BUCKETS - 1 ? (double)pyhost_stats_bounds[b] : lo;
            return (lo + (hi - lo) * (rank - (double)cum) / (double)counts[b]) / APR_USEC_PER_SEC;
        }
        cum += counts[b];
    }
    return (double)pyhost_stats_bounds[PYHOST_STATS_BUCKETS - 2] / APR_USEC_PER_SEC;
}

typedef struct {
    pyhost_stats_sample s;
    apr_uint64_t *requests;
    apr_uint32_t *busy;
} sample_copy;

/* The samples of the last PYHOST_STATS_HISTORY seconds, oldest first. */
static int read_samples(apr_pool_t *p, apr_time_t now, sample_copy **out)
{
    int n = 0, i, ng = pyhost_sh.ngroups;
    apr_uint32_t next = __atomic_load_n(&pyhost_st->sample_next, __ATOMIC_ACQUIRE), k;
    sample_copy *v = apr_pcalloc(p, sizeof(*v) * PYHOST_STATS_HISTORY);
    apr_int64_t oldest = (apr_int64_t)apr_time_sec(now) - PYHOST_STATS_HISTORY;
    for (k = next > PYHOST_STATS_HISTORY ? next - PYHOST_STATS_HISTORY : 0; k < next; k++) {
        apr_uint32_t at = k % PYHOST_STATS_HISTORY;
        const pyhost_stats_sample *s = &pyhost_st_samples[at];
        apr_uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            continue;
        }
        v[n].s = *s;
        v[n].requests = apr_pmemdup(p, pyhost_st_sample_requests + (apr_size_t)at * ng,
                                    sizeof(apr_uint64_t) * (apr_size_t)ng);
        v[n].busy = apr_pmemdup(p, pyhost_st_sample_busy + (apr_size_t)at * ng,
                                sizeof(apr_uint32_t) * (apr_size_t)ng);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != before || v[n].s.second <= oldest ||
            (n && v[n].s.second <= v[n - 1].s.second)) {
            continue;
        }
        n++;
    }
    for (i = 0; i < n; i++) {
        v[i].s.seq = 0;
    }
    *out = v;
    return n;
}

static apr_uint64_t delta(apr_uint64_t now, apr_uint64_t then)
{
    return now > then ? now - then : 0;
}

/* "history": per second (between consecutive samples), the request rate, the latency
 * percentiles of all groups, and each group's rate and busy threads. */
static void json_history(request_rec *r, apr_time_t now)
{
    sample_copy *v;
    int n = read_samples(r->pool, now, &v), i, gi, q, first = 1;
    static const double qs[] = {0.5, 0.9, 0.99};
    static const char *const qnames[] = {"p50", "p90", "p99"};
    ap_rputs("{\"time\":[", r);
    for (i = 1; i < n; i++) {
        ap_rprintf(r, "%s%" APR_INT64_T_FMT, i > 1 ? "," : "", v[i].s.second);
    }
    ap_rputs("],\"rate\":[", r);
    for (i = 1; i < n; i++) {
        apr_uint64_t all = 0;
        for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
            all += delta(v[i].requests[gi], v[i - 1].requests[gi]);
        }
        ap_rprintf(r, "%s%.2f", i > 1 ? "," : "",
                   (double)all / (double)(v[i].s.second - v[i - 1].s.second));
    }
    ap_rputs("]", r);
    for (q = 0; q < 3; q++) {
        ap_rprintf(r, ",\"%s\":[", qnames[q]);
        for (i = 1; i < n; i++) {
            apr_uint64_t d[PYHOST_STATS_BUCKETS];
            double x;
            int b;
            for (b = 0; b < PYHOST_STATS_BUCKETS; b++) {
                d[b] = delta(v[i].s.duration[b], v[i - 1].s.duration[b]);
            }
            x = quantile(d, qs[q]);
            ap_rprintf(r, i > 1 ? (x < 0 ? ",null" : ",%.6f") : (x < 0 ? "null" : "%.6f"), x);
        }
        ap_rputs("]", r);
    }
    ap_rputs(",\"groups\":[", r);
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        if (!shown(gi)) {
            continue;
        }
        ap_rprintf(r, "%s{\"name\":%s,\"mode\":\"%s\",\"rate\":[", first ? "" : ",",
                   js(r->pool, pyhost_sh.names[gi]), mode_of(gi));
        for (i = 1; i < n; i++) {
            ap_rprintf(r, "%s%.2f", i > 1 ? "," : "",
                       (double)delta(v[i].requests[gi], v[i - 1].requests[gi]) /
                           (double)(v[i].s.second - v[i - 1].s.second));
        }
        ap_rputs("],\"busy\":[", r);
        for (i = 1; i < n; i++) {
            ap_rprintf(r, "%s%u", i > 1 ? "," : "", v[i].busy[gi]);
        }
        ap_rputs("]}", r);
        first = 0;
    }
    ap_rputs("]}", r);
}

static void json_groups(request_rec *r, const view *v)
{
    int gi, c, k, first = 1;
    ap_rputs("\"groups\":[", r);
    for (gi = 0; gi < pyhost_sh.ngroups; gi++) {
        const pyhost_stats_group *g = &pyhost_st_groups[gi];
        const pyhost_hist *h = &g->hist[PYHOST_HIST_DURATION];
        pyhost_stats_buffer held;
        apr_uint64_t counts[PYHOST_STATS_BUCKETS];
        int b, any = 0;
        if (!shown(gi)) {
            continue;
        }
        for (b = 0; b < PYHOST_STATS_BUCKETS; b++) {
            counts[b] = load(&h->bucket[b]);
        }
        ap_rprintf(r,
                   "%s{\"name\":%s,\"mode\":\"%s\",\"processes\":%d,\"live\":%d,"
                   "\"threads\":%d,\"busy\":%d,\"requests\":%" APR_UINT64_T_FMT
                   ",\"mean\":%.6f,\"p99\":%.6f,\"status\":{",
                   first ? "" : ",", js(r->pool, pyhost_sh.names[gi]), mode_of(gi),
                   gi ? pyhost_sh.procs[gi] : v->live[0], v->live[gi], v->total[gi], v->busy[gi],
                   load(&h->count),
                   load(&h->count)
                       ? (double)load(&h->sum_us) / APR_USEC_PER_SEC / (double)load(&h->count)
                       : 0.0,
                   quantile(counts, 0.99));
        for (c = 1; c <= 5; c++) {
            ap_rprintf(r, "%s\"%dxx\":%" APR_UINT64_T_FMT, c > 1 ? "," : "", c,
                       load(&g->status[c]) + (c == 5 ? load(&g->status[0]) : 0));
        }
        pyhost_stats_buffer_sum(gi, &held);
        ap_rprintf(r,
                   "},\"buffers\":{\"memory\":%" APR_INT64_T_FMT ",\"disk\":%" APR_INT64_T_FMT
                   ",\"responses\":%" APR_INT64_T_FMT ",\"held\":%" APR_UINT64_T_FMT
                   ",\"memory_limit\":%" APR_UINT64_T_FMT ",\"disk_limit\":%" APR_UINT64_T_FMT
                   ",\"body_memory\":%" APR_INT64_T_FMT ",\"body_disk\":%" APR_INT64_T_FMT
                   ",\"bodies\":%" APR_INT64_T_FMT,
                   held.memory, held.disk, held.responses, load(&g->buffer_events[PYHOST_BUF_HELD]),
                   load(&g->buffer_events[PYHOST_BUF_MEMORY_LIMIT]),
                   load(&g->buffer_events[PYHOST_BUF_DISK_LIMIT]), held.body_memory, held.body_disk,
                   held.bodies);
        ap_rputs("},\"restarts\":{", r);
        for (k = 0; gi && k < PYHOST_RS_COUNT; k++) {
            if (load(&g->restarts[k])) {
                ap_rprintf(r, "%s\"%s\":%" APR_UINT64_T_FMT, any++ ? "," : "",
                           pyhost_stats_reason_names[k], load(&g->restarts[k]));
            }
        }
        ap_rputs("}}", r);
        first = 0;
    }
    ap_rputs("]", r);
}

static void json_procs(request_rec *r, const view *v)
{
    int i;
    ap_rputs(",\"processes\":[", r);
    for (i = 0; i < v->procs->nelts; i++) {
        const proc_view *pv = &APR_ARRAY_IDX(v->procs, i, proc_view);
        ap_rprintf(r,
                   "%s{\"group\":%s,\"mode\":\"%s\",\"process\":%d,\"pid\":%ld,\"state\":\"%s\","
                   "\"uptime\":%.1f,\"requests\":%" APR_UINT64_T_FMT ",\"rss\":%" APR_INT64_T_FMT
                   ",\"cpu\":%.2f,\"last_restart\":%s,\"last_restart_detail\":%s}",
                   i ? "," : "", js(r->pool, pyhost_sh.names[pv->group]), mode_of(pv->group),
                   pv->slot, (long)pv->pid, state_names[pv->state],
                   pv->pid && pv->started ? secs(v->now - pv->started) : 0.0, pv->requests, pv->rss,
                   pv->cpu,
                   pv->last_reason >= 0 ? js(r->pool, pyhost_stats_reason_names[pv->last_reason])
                                        : "null",
                   pv->last_reason >= 0 && pv->last_detail ? js(r->pool, pv->last_detail) : "null");
    }
    ap_rputs("],\"inflight\":[", r);
    for (i = 0; i < v->inflight->nelts; i++) {
        const inflight_view *f = &APR_ARRAY_IDX(v->inflight, i, inflight_view);
        ap_rprintf(r,
                   "%s{\"group\":%s,\"mode\":\"%s\",\"pid\":%ld,\"thread\":%d,\"request\":%s,"
                   "\"elapsed\":%.3f}",
                   i ? "," : "", js(r->pool, pyhost_sh.names[f->group]), mode_of(f->group),
                   (long)f->pid, f->thread, js(r->pool, f->what), secs(f->elapsed));
    }
    ap_rputs("]", r);
}

static void json_restarts(request_rec *r)
{
    apr_uint32_t next = __atomic_load_n(&pyhost_st->restart_next, __ATOMIC_ACQUIRE), k;
    int first = 1;
    ap_rputs(",\"restarts\":[", r);
    /* newest first */
    for (k = next; k > 0 && next - k < PYHOST_STATS_RESTARTS; k--) {
        const pyhost_stats_restart *e = &pyhost_st->restart_ring[(k - 1) % PYHOST_STATS_RESTARTS];
        ap_rprintf(r, "%s{\"time\":%.3f,\"group\":%s,\"pid\":%ld,\"reason\":%s,\"detail\":%s}",
                   first ? "" : ",", secs(e->when),
                   js(r->pool, apr_pstrndup(r->pool, e->group, sizeof(e->group))), (long)e->pid,
                   js(r->pool, pyhost_stats_reason_names[(unsigned)e->reason % PYHOST_RS_COUNT]),
                   js(r->pool, apr_pstrndup(r->pool, e->detail, sizeof(e->detail))));
        first = 0;
    }
    ap_rputs("]", r);
}

static void write_json(request_rec *r)
{
    view v;
    read_view(r->pool, &v);
    ap_rprintf(r,
               "{\"time\":%.3f,\"started\":%.3f,\"recording\":%s,\"server\":%s,\"mpm\":%s,"
               "\"pid\":%ld,",
               secs(v.now), secs(pyhost_st->created), pyhost_st->recording ? "true" : "false",
               js(r->pool, ap_get_server_description()), js(r->pool, ap_show_mpm()),
               (long)getppid());
    json_groups(r, &v);
    json_procs(r, &v);
    json_restarts(r);
    ap_rputs(",\"history\":", r);
    json_history(r, v.now);
    ap_rputs("}", r);
}

static void answer_status(request_rec *r)
{
    const char *page = STATUS_HTML, *mark = strstr(page, DATA_MARK);
    if (r->args && !strcmp(r->args, "json")) {
        ap_set_content_type(r, "application/json");
        write_json(r);
        return;
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    if (!mark) {
        ap_rputs(page, r);
        return;
    }
    ap_rwrite(page, (int)(mark - page), r);
    write_json(r);
    ap_rputs(mark + strlen(DATA_MARK), r);
}

/* ---- pyhost-health ----------------------------------------------------------------------- */

/* Apache's parent removes its pid file as a graceful stop begins (and at a stop). */
static int server_stopping(request_rec *r)
{
    const char *pidfile = ap_pid_fname ? ap_runtime_dir_relative(r->pool, ap_pid_fname) : NULL;
    return pidfile && access(pidfile, F_OK) < 0 && errno == ENOENT;
}

static int alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Why daemon group g takes no requests now, or NULL if one of its processes does. */
static const char *group_down(apr_pool_t *p, const pyhost_group *g)
{
    const char *why = "no process is running";
    int i;
    if (g->unavailable) {
        return apr_psprintf(p, "it was not started: %s", g->unavailable);
    }
    if (!g->processes) {
        return NULL;
    }
    if (!pyhost_st) {
        for (i = 0; pyhost_shm && i < g->processes; i++) {
            if (alive(pyhost_shm->slots[g->slot_base + i].pid)) {
                return NULL;
            }
        }
        return why;
    }
    for (i = pyhost_sh.first_proc[g->index + 1];
         i < pyhost_sh.first_proc[g->index + 1] + pyhost_sh.procs[g->index + 1]; i++) {
        const pyhost_stats_proc *sp = &pyhost_st_procs[i];
        pid_t pid = __atomic_load_n(&sp->pid, __ATOMIC_ACQUIRE);
        int state = __atomic_load_n(&sp->state, __ATOMIC_ACQUIRE);
        if (!alive(pid)) {
            continue;
        }
        if (state == PYHOST_PS_READY && g->threads) {
            return NULL;
        }
        why = state == PYHOST_PS_STOPPING
                  ? apr_psprintf(p, "process %ld is stopping (%.*s)", (long)pid,
                                 (int)sizeof(sp->stop_detail) - 1, sp->stop_detail)
                  : apr_psprintf(p, "process %ld is starting", (long)pid);
    }
    return why;
}

static int answer_health(request_rec *r)
{
    const char *down = NULL;
    int i, ready = 0;
    if (server_stopping(r)) {
        down = "Apache is stopping (graceful stop)";
    }
    for (i = 0; !down && i < pyhost_g.groups->nelts; i++) {
        const pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        const char *why = g->threads ? group_down(r->pool, g) : NULL;
        if (why) {
            down = apr_psprintf(r->pool, "daemon group '%s' takes no requests: %s", g->name, why);
        }
        ready += g->threads != 0;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "text/plain; charset=utf-8");
    if (down) {
        r->status = HTTP_SERVICE_UNAVAILABLE;
        ap_rprintf(r, "unavailable: %s\n", down);
        return OK;
    }
    ap_rprintf(r, "OK: %d daemon group(s) taking requests\n", ready);
    return OK;
}

/* ---- the handler ------------------------------------------------------------------------- */

enum { H_METRICS, H_STATUS, H_HEALTH };

static int status_handler(request_rec *r)
{
    int which;
    if (!r->handler) {
        return DECLINED;
    }
    if (!strcmp(r->handler, "pyhost-metrics")) {
        which = H_METRICS;
    }
    else if (!strcmp(r->handler, "pyhost-status")) {
        which = H_STATUS;
    }
    else if (!strcmp(r->handler, "pyhost-health")) {
        which = H_HEALTH;
    }
    else {
        return DECLINED;
    }
    r->allowed = AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (which == H_HEALTH) {
        return answer_health(r);
    }
    if (!pyhost_st) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: mod_pyhost has no shared record of metrics in this server (see the "
                      "start-up log)",
                      r->handler);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    pyhost_stats_tick(apr_time_now());
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (which == H_METRICS) {
        answer_metrics(r);
    }
    else {
        answer_status(r);
    }
    return OK;
}

void pyhost_status_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
