/* metrics.c: numbers about the process and the server, for the mod_wsgi module.
 *
 * Owns the per-process request counters (kept from the first start_recording_metrics() on),
 * process_metrics() (cumulative), request_metrics() (the interval since the last call),
 * server_metrics() (Apache's scoreboard, when WSGIServerMetrics or server-metrics= allow it),
 * and the accounting each request does at its end. */
#include "metrics.h"

#include "interp.h"

#include "scoreboard.h"
#include "apr_strings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
    apr_uint64_t requests;
    apr_time_t busy;        /* total application time */
    apr_uint64_t status[6]; /* by first digit; [0]: no status */
    apr_time_t server_time, queue_time, daemon_time;
    double cpu_user, cpu_system;
    apr_time_t when;
} counters;

static struct {
    pthread_mutex_t mu;
    int recording;
    apr_time_t start;
    counters total;
    counters mark; /* total at the last request_metrics() */
    int active;
    apr_uint64_t *thread_requests; /* by thread id, 1 .. threads */
    int threads;
} m = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, {0}, 0, NULL, 0};

void pyhost_metrics_request_begin(void)
{
    __atomic_add_fetch(&m.active, 1, __ATOMIC_RELAXED);
}

void pyhost_metrics_request_end(const pyhost_wsgi_call *call, apr_time_t request_start)
{
    apr_time_t now;
    __atomic_sub_fetch(&m.active, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&m.recording, __ATOMIC_RELAXED) || !call->app_start) {
        return;
    }
    now = apr_time_now();
    pthread_mutex_lock(&m.mu);
    m.total.requests++;
    if (call->thread_id > 0 && call->thread_id <= m.threads) {
        m.thread_requests[call->thread_id - 1]++;
    }
    m.total.busy += now - call->app_start;
    m.total.status[call->status >= 100 && call->status < 600 ? call->status / 100 : 0]++;
    if (request_start) {
        m.total.server_time += call->app_start - request_start;
    }
    if (call->daemon_start > 0) {
        m.total.queue_time += (apr_time_t)((call->daemon_start - call->queue_start) * 1e6);
        m.total.daemon_time += call->app_start - (apr_time_t)(call->daemon_start * 1e6);
    }
    pthread_mutex_unlock(&m.mu);
}

static void cpu_now(double *user, double *system)
{
    struct rusage ru;
    *user = *system = 0;
    if (!getrusage(RUSAGE_SELF, &ru)) {
        *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        *system = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
}

static void memory(long long *rss, long long *max_rss)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    struct rusage ru;
    *rss = *max_rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) == 2) {
            *rss = (long long)res * sysconf(_SC_PAGESIZE);
        }
        fclose(f);
    }
    if (!getrusage(RUSAGE_SELF, &ru)) {
        *max_rss = (long long)ru.ru_maxrss * 1024;
    }
}

static double secs(apr_time_t t)
{
    return (double)t / APR_USEC_PER_SEC;
}

/* ---- Python functions -------------------------------------------------------------------- */

static PyObject *start_recording(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    pthread_mutex_lock(&m.mu);
    if (!m.recording) {
        m.recording = 1;
        m.start = apr_time_now();
        cpu_now(&m.total.cpu_user, &m.total.cpu_system);
        m.total.when = m.start;
        m.mark = m.total;
        m.threads = pyhost_proc.threads_per_process > 0 ? pyhost_proc.threads_per_process : 1;
        m.thread_requests = calloc((size_t)m.threads, sizeof(*m.thread_requests));
        if (!m.thread_requests) {
            m.threads = 0;
        }
    }
    pthread_mutex_unlock(&m.mu);
    Py_RETURN_NONE;
}

/* [{'thread_id': n, 'request_count': k}, ...] for the threads that have served requests */
static PyObject *thread_list(void)
{
    PyObject *list = PyList_New(0), *item;
    int i;
    for (i = 0; list && i < m.threads; i++) {
        apr_uint64_t n = __atomic_load_n(&m.thread_requests[i], __ATOMIC_RELAXED);
        if (!n) {
            continue;
        }
        item =
            Py_BuildValue("{s:i,s:K}", "thread_id", i + 1, "request_count", (unsigned long long)n);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(item);
    }
    return list;
}

static PyObject *process_metrics(PyObject *module, PyObject *unused)
{
    counters t;
    double user, system;
    long long rss, max_rss;
    apr_time_t now = apr_time_now();
    (void)module;
    (void)unused;
    if (!__atomic_load_n(&m.recording, __ATOMIC_RELAXED)) {
        Py_RETURN_NONE;
    }
    pthread_mutex_lock(&m.mu);
    t = m.total;
    pthread_mutex_unlock(&m.mu);
    cpu_now(&user, &system);
    memory(&rss, &max_rss);
    return Py_BuildValue("{s:i,s:d,s:d,s:L,s:K,s:d,s:i,s:i,s:d,s:d,s:d,s:L,s:L,s:N}", "pid",
                         (int)getpid(), "restart_time", secs(m.start), "current_time", secs(now),
                         "running_time", (long long)apr_time_sec(now - m.start), "request_count",
                         (unsigned long long)t.requests, "request_busy_time", secs(t.busy),
                         "request_threads", pyhost_proc.threads_per_process, "active_requests",
                         __atomic_load_n(&m.active, __ATOMIC_RELAXED), "cpu_user_time", user,
                         "cpu_system_time", system, "cpu_time", user + system, "memory_rss", rss,
                         "memory_max_rss", max_rss, "threads", thread_list());
}

static PyObject *request_metrics(PyObject *module, PyObject *unused)
{
    counters now_c, was;
    double user, system, period, n;
    long long rss, max_rss;
    apr_time_t now = apr_time_now();
    (void)module;
    (void)unused;
    if (!__atomic_load_n(&m.recording, __ATOMIC_RELAXED)) {
        Py_RETURN_NONE;
    }
    cpu_now(&user, &system);
    memory(&rss, &max_rss);
    pthread_mutex_lock(&m.mu);
    was = m.mark;
    now_c = m.total;
    now_c.cpu_user = user;
    now_c.cpu_system = system;
    now_c.when = now;
    m.mark = now_c;
    pthread_mutex_unlock(&m.mu);
    period = secs(now - was.when);
    n = (double)(now_c.requests - was.requests);
    if (period <= 0) {
        period = 1e-6;
    }
#define MEAN(f) (n ? secs(now_c.f - was.f) / n : 0.0)
/* queue and daemon time are None in embedded mode, where there is no daemon hop */
#define HOP_MEAN(f) (pyhost_proc.group ? PyFloat_FromDouble(MEAN(f)) : Py_NewRef(Py_None))
    return Py_BuildValue(
        "{s:i,s:d,s:d,s:d,s:K,s:d,s:d,s:d,s:N,s:N,s:d,s:K,s:K,s:K,s:K,s:K,s:d,s:d,s:d,s:L,s:L}",
        "pid", (int)getpid(), "start_time", secs(was.when), "stop_time", secs(now), "sample_period",
        period, "request_count", (unsigned long long)(n), "request_throughput", n / period,
        "capacity_utilization",
        secs(now_c.busy - was.busy) /
            (period * (pyhost_proc.threads_per_process ? pyhost_proc.threads_per_process : 1)),
        "server_time", MEAN(server_time), "queue_time", HOP_MEAN(queue_time), "daemon_time",
        HOP_MEAN(daemon_time), "application_time", MEAN(busy), "status_1xx",
        (unsigned long long)(now_c.status[1] - was.status[1]), "status_2xx",
        (unsigned long long)(now_c.status[2] - was.status[2]), "status_3xx",
        (unsigned long long)(now_c.status[3] - was.status[3]), "status_4xx",
        (unsigned long long)(now_c.status[4] - was.status[4]), "status_5xx",
        (unsigned long long)(now_c.status[5] - was.status[5] + now_c.status[0] - was.status[0]),
        "cpu_user_utilization", (user - was.cpu_user) / period, "cpu_system_utilization",
        (system - was.cpu_system) / period, "cpu_utilization",
        (user + system - was.cpu_user - was.cpu_system) / period, "memory_rss", rss,
        "memory_max_rss", max_rss);
#undef HOP_MEAN
#undef MEAN
}

static PyObject *worker_dict(const worker_score *w)
{
    char status[2] = {".S_RWKLDCGI"[w->status < 11 ? w->status : 0], 0};
    return Py_BuildValue("{s:i,s:i,s:s,s:k,s:L,s:d,s:d,s:d,s:s,s:s,s:s}", "thread_num",
                         w->thread_num, "generation", (int)w->generation, "status", status,
                         "access_count", w->access_count, "bytes_served",
                         (long long)w->bytes_served, "start_time", secs(w->start_time), "stop_time",
                         secs(w->stop_time), "last_used", secs(w->last_used), "client", w->client64,
                         "request", w->request, "vhost", w->vhost);
}

static PyObject *server_metrics(PyObject *module, PyObject *unused)
{
    global_score *gs;
    PyObject *procs, *result;
    apr_time_t now = apr_time_now();
    int i, j;
    (void)module;
    (void)unused;
    if (!(pyhost_proc.group ? pyhost_proc.group->server_metrics : pyhost_g.server_metrics) ||
        !ap_exists_scoreboard_image()) {
        Py_RETURN_NONE;
    }
    gs = ap_get_scoreboard_global();
    procs = PyList_New(0);
    for (i = 0; procs && i < gs->server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        PyObject *workers = PyList_New(0), *proc;
        for (j = 0; workers && j < gs->thread_limit; j++) {
            worker_score w;
            PyObject *wd;
            ap_copy_scoreboard_worker(&w, i, j);
            wd = worker_dict(&w);
            if (!wd || PyList_Append(workers, wd) < 0) {
                Py_CLEAR(workers);
            }
            Py_XDECREF(wd);
        }
        proc = workers ? Py_BuildValue("{s:i,s:i,s:i,s:O,s:N}", "process_num", i, "pid",
                                       (int)ps->pid, "generation", (int)ps->generation, "quiescing",
                                       ps->quiescing ? Py_True : Py_False, "workers", workers)
                       : NULL;
        if (!proc || PyList_Append(procs, proc) < 0) {
            Py_CLEAR(procs);
        }
        Py_XDECREF(proc);
    }
    if (!procs) {
        return NULL;
    }
    result = Py_BuildValue("{s:i,s:i,s:i,s:d,s:d,s:L,s:N}", "server_limit", gs->server_limit,
                           "thread_limit", gs->thread_limit, "running_generation",
                           (int)gs->running_generation, "restart_time", secs(gs->restart_time),
                           "current_time", secs(now), "running_time",
                           (long long)apr_time_sec(now - gs->restart_time), "processes", procs);
    return result;
}

PyMethodDef pyhost_metrics_functions[] = {
    {"start_recording_metrics", start_recording, METH_NOARGS,
     "start_recording_metrics(): start counting requests for the metrics functions"},
    {"process_metrics", process_metrics, METH_NOARGS,
     "process_metrics(): cumulative numbers of this process, or None"},
    {"request_metrics", request_metrics, METH_NOARGS,
     "request_metrics(): numbers since the last call, or None"},
    {"server_metrics", server_metrics, METH_NOARGS,
     "server_metrics(): Apache's scoreboard, if WSGIServerMetrics / server-metrics= allow"},
    {NULL}};
