/* python/metrics.c: numbers about the process and the server, for the mod_wsgi module.
 *
 * Owns the per-process request counters (kept from the first start_recording_metrics() on),
 * process_metrics() (cumulative), request_metrics() (the window since the last call: means,
 * extremes and histograms of each phase's time, per-thread numbers, I/O, statuses, CPU rates),
 * server_metrics() (Apache's scoreboard, when WSGIServerMetrics or server-metrics= allow it),
 * and the accounting each request does: a few clock reads and, at its end, one short hold of
 * the counters' mutex. */
#include "python/metrics.h"
#include "shared/alloc.h"

#include "python/interp.h"
#include "shared/process.h"

#include "scoreboard.h"
#include "apr_strings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Phases of a request with a mean, extremes and a histogram in request_metrics(). */
enum {
    PH_SERVER,      /* Apache received the request .. handed it on (to the daemon, or the app) */
    PH_QUEUE,       /* Apache child sent it .. the daemon process took it (daemon mode only) */
    PH_DAEMON,      /* the daemon process took it .. the application was called (daemon only) */
    PH_APPLICATION, /* the application was called .. the response was done */
    PH_REQUEST,     /* Apache received the request .. the response was done */
    PH_INPUT,       /* in wsgi.input reads */
    PH_OUTPUT,      /* in writes of the response body (and sendfile) */
    PH_GIL,         /* waiting to attach again after blocking I/O, and at the start */
    PHASES
};
static const char *const phase_names[PHASES] = {
    "server_time",  "queue_time",      "daemon_time",       "application_time",
    "request_time", "input_read_time", "output_write_time", "gil_wait_time"};

/* Histogram entries: below 1 ms and the first quarter of 1..2 ms in [0]; from 1 ms on, 16
 * octaves (1 ms * 2^k .. 2^(k+1)) of four equal quarters each, [4k + quarter]; 65.536 s and
 * more in [64]. */
#define BUCKETS 65

typedef struct {
    apr_uint64_t count;           /* requests with a sample */
    apr_interval_time_t sum;      /* of the samples */
    apr_interval_time_t min, max; /* of the samples; PH_GIL: of single waits */
    apr_uint64_t buckets[BUCKETS];
} phase;

/* What the requests that ended since the last request_metrics() did. */
typedef struct {
    apr_uint64_t requests;
    apr_uint64_t status[6]; /* by first digit; [0]: no status */
    phase ph[PHASES];
    apr_uint64_t gil_waits;
    apr_uint64_t input_bytes, input_reads, output_bytes, output_writes;
    apr_interval_time_t busy; /* threads' time in requests, in-flight parts included */
} window;

/* A request thread (mod_wsgi.thread_id - 1). */
typedef struct {
    apr_time_t inflight;    /* when its request began, 0 when idle (atomic: its thread writes) */
    apr_time_t counted;     /* its busy time is counted up to here (the last drain) */
    apr_uint64_t total;     /* requests since recording began */
    apr_uint64_t completed; /* this window: */
    apr_interval_time_t busy, cpu, longest;
} slot;

/* A slot's numbers for one request_metrics() result. */
typedef struct {
    apr_uint64_t completed;
    apr_interval_time_t busy, cpu, longest, elapsed;
} slot_view;

static struct {
    pthread_mutex_t mu; /* guards what follows but the atomics */
    int recording;      /* atomic; slots and threads are set before it is */
    int active;         /* atomic: requests running */
    int started;        /* atomic: threads that have taken a request */
    apr_time_t start;
    apr_uint64_t requests;    /* since recording began */
    apr_interval_time_t busy; /* application time since recording began */
    window w;
    apr_time_t w_start;
    double cpu_user, cpu_system; /* at w_start */
    slot *slots;
    int threads;
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int thread_counted;

static apr_interval_time_t since(apr_time_t now, apr_time_t t)
{
    return now > t ? now - t : 0;
}

static apr_interval_time_t thread_cpu(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)) {
        return 0;
    }
    return (apr_interval_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int bucket_of(apr_interval_time_t us)
{
    apr_uint64_t v = us > 0 ? (apr_uint64_t)us : 0;
    int octave;
    if (v < 1000) {
        return 0;
    }
    octave = 63 - __builtin_clzll(v / 1000);
    if (octave >= 16) {
        return BUCKETS - 1;
    }
    return 4 * octave + (int)(v * 4 / (1000ull << octave)) - 4;
}

static slot *slot_of(int thread_id)
{
    return thread_id > 0 && thread_id <= m.threads ? &m.slots[thread_id - 1] : NULL;
}

void pyhost_metrics_request_begin(pyhost_wsgi_call *call)
{
    slot *s;
    __atomic_add_fetch(&m.active, 1, __ATOMIC_RELAXED);
    if (!thread_counted) {
        thread_counted = 1;
        __atomic_add_fetch(&m.started, 1, __ATOMIC_RELAXED);
    }
    call->slot_start = 0;
    if (!__atomic_load_n(&m.recording, __ATOMIC_ACQUIRE)) {
        return;
    }
    call->slot_start = apr_time_now();
    call->slot_cpu = thread_cpu();
    if ((s = slot_of(call->thread_id))) {
        __atomic_store_n(&s->inflight, call->slot_start, __ATOMIC_RELAXED);
    }
}

static void gil_wait(pyhost_io *io, apr_interval_time_t d)
{
    if (!io->gil_waits || d < io->gil_min) {
        io->gil_min = d;
    }
    if (d > io->gil_max) {
        io->gil_max = d;
    }
    io->gil_waits++;
    io->gil_time += d;
}

void pyhost_metrics_request_attached(pyhost_wsgi_call *call)
{
    apr_time_t from = call->slot_start ? call->slot_start : call->attach_start;
    if (from && call->io) {
        gil_wait(call->io, since(apr_time_now(), from));
    }
}

void pyhost_metrics_attach(pyhost_io *io, PyThreadState *ts)
{
    apr_time_t t;
    if (!io || (!io->gil_count && !__atomic_load_n(&m.recording, __ATOMIC_RELAXED))) {
        PyEval_RestoreThread(ts);
        return;
    }
    t = apr_time_now();
    PyEval_RestoreThread(ts);
    gil_wait(io, since(apr_time_now(), t));
}

/* Widens p's extremes to lo .. hi; first: p has none yet. */
static void extremes(phase *p, apr_interval_time_t lo, apr_interval_time_t hi, int first)
{
    if (first || lo < p->min) {
        p->min = lo;
    }
    if (first || hi > p->max) {
        p->max = hi;
    }
}

static void sample(phase *p, apr_interval_time_t v, int bucket)
{
    p->count++;
    p->sum += v;
    p->buckets[bucket]++;
}

void pyhost_metrics_request_end(const pyhost_wsgi_call *call)
{
    apr_interval_time_t v[PHASES], cpu = 0, busy;
    int have[PHASES], bucket[PHASES], i;
    apr_time_t now, start, queue = 0, daemon = 0;
    const pyhost_io *io = call->io;
    slot *s;
    __atomic_sub_fetch(&m.active, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&m.recording, __ATOMIC_ACQUIRE) || !call->app_start) {
        return;
    }
    now = apr_time_now();
    /* a request that began before recording did counts from the application's call */
    start = call->slot_start ? call->slot_start : call->app_start;
    if (call->slot_start) {
        cpu = since(thread_cpu(), call->slot_cpu);
    }
    if (call->daemon_start > 0) {
        queue = (apr_time_t)(call->queue_start * APR_USEC_PER_SEC);
        daemon = (apr_time_t)(call->daemon_start * APR_USEC_PER_SEC);
    }
    have[PH_SERVER] = have[PH_REQUEST] = call->request_start != 0;
    have[PH_QUEUE] = have[PH_DAEMON] = call->daemon_start > 0;
    have[PH_APPLICATION] = have[PH_INPUT] = have[PH_OUTPUT] = have[PH_GIL] = 1;
    /* server time ends where the request leaves Apache's hands: at the daemon hop in daemon
     * mode (as mod_wsgi counts it), at the application's call in embedded mode */
    v[PH_SERVER] = since(queue ? queue : call->app_start, call->request_start);
    v[PH_QUEUE] = since(daemon, queue);
    v[PH_DAEMON] = since(call->app_start, daemon);
    v[PH_APPLICATION] = since(now, call->app_start);
    /* in daemon mode, the end is when the daemon has passed the whole response on */
    v[PH_REQUEST] = since(now, call->request_start);
    v[PH_INPUT] = io ? io->in_time : 0;
    v[PH_OUTPUT] = call->out_time;
    v[PH_GIL] = io ? io->gil_time : 0;
    for (i = 0; i < PHASES; i++) {
        bucket[i] = bucket_of(v[i]);
    }

    pthread_mutex_lock(&m.mu);
    m.requests++;
    m.busy += v[PH_APPLICATION];
    m.w.requests++;
    m.w.status[call->status >= 100 && call->status < 600 ? call->status / 100 : 0]++;
    for (i = 0; i < PHASES; i++) {
        if (have[i]) {
            if (i != PH_GIL) {
                extremes(&m.w.ph[i], v[i], v[i], !m.w.ph[i].count);
            }
            sample(&m.w.ph[i], v[i], bucket[i]);
        }
    }
    /* the GIL's extremes are of single waits, not of a request's sum */
    if (io && io->gil_waits) {
        extremes(&m.w.ph[PH_GIL], io->gil_min, io->gil_max, !m.w.gil_waits);
        m.w.gil_waits += (apr_uint64_t)io->gil_waits;
    }
    if (io) {
        m.w.input_bytes += (apr_uint64_t)io->in_bytes;
        m.w.input_reads += (apr_uint64_t)io->in_reads;
    }
    m.w.output_bytes += (apr_uint64_t)call->sent;
    m.w.output_writes += (apr_uint64_t)call->out_writes;
    busy = since(now, start);
    if ((s = slot_of(call->thread_id))) {
        /* a part the last drain counted as in flight is in an earlier window */
        busy = since(now, start > s->counted ? start : s->counted);
        s->total++;
        s->completed++;
        s->busy += busy;
        s->cpu += cpu;
        if (since(now, start) > s->longest) {
            s->longest = since(now, start);
        }
        __atomic_store_n(&s->inflight, 0, __ATOMIC_RELAXED);
    }
    m.w.busy += busy;
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
        m.threads = pyhost_proc.threads_per_process > 0 ? pyhost_proc.threads_per_process : 0;
        m.slots = pyhost_xcalloc((size_t)m.threads + 1, sizeof(*m.slots));
    }
    if (!m.recording) {
        m.start = m.w_start = apr_time_now();
        cpu_now(&m.cpu_user, &m.cpu_system);
        __atomic_store_n(&m.recording, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m.mu);
    return Py_NewRef(Py_None);
}

/* Stores v (a new reference, NULL: failed) as d[key]; -1 on failure. */
static int put(PyObject *d, const char *key, PyObject *v)
{
    int rc = v ? PyDict_SetItemString(d, key, v) : -1;
    Py_XDECREF(v);
    return rc;
}

static PyObject *ull(apr_uint64_t v)
{
    return PyLong_FromUnsignedLongLong((unsigned long long)v);
}

/* [{'thread_id': n, 'request_count': k}, ...] for the threads that have served requests */
static PyObject *thread_list(const apr_uint64_t *totals)
{
    PyObject *list = PyList_New(0), *item;
    int i;
    for (i = 0; list && i < m.threads; i++) {
        if (!totals[i]) {
            continue;
        }
        item = Py_BuildValue("{s:i,s:K}", "thread_id", i + 1, "request_count",
                             (unsigned long long)totals[i]);
        if (!item || PyList_Append(list, item) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(item);
    }
    return list;
}

static PyObject *process_metrics(PyObject *module, PyObject *unused)
{
    apr_uint64_t requests, *totals;
    apr_interval_time_t busy;
    double user, system;
    long long rss, max_rss;
    apr_time_t now = apr_time_now();
    PyObject *threads;
    int i;
    (void)module;
    (void)unused;
    if (!__atomic_load_n(&m.recording, __ATOMIC_ACQUIRE)) {
        Py_RETURN_NONE;
    }
    if (!(totals = PyMem_Calloc((size_t)m.threads + 1, sizeof(*totals)))) {
        return PyErr_NoMemory();
    }
    pthread_mutex_lock(&m.mu);
    requests = m.requests;
    busy = m.busy;
    for (i = 0; i < m.threads; i++) {
        totals[i] = m.slots[i].total;
    }
    pthread_mutex_unlock(&m.mu);
    threads = thread_list(totals);
    PyMem_Free(totals);
    cpu_now(&user, &system);
    memory(&rss, &max_rss);
    /* request_threads: the threads that have taken a request so far, as request_metrics()'s
     * request_threads_started */
    return Py_BuildValue("{s:i,s:d,s:d,s:L,s:K,s:d,s:i,s:i,s:d,s:d,s:d,s:L,s:L,s:N}", "pid",
                         (int)getpid(), "restart_time", secs(m.start), "current_time", secs(now),
                         "running_time", (long long)apr_time_sec(now - m.start), "request_count",
                         (unsigned long long)requests, "request_busy_time", secs(busy),
                         "request_threads", __atomic_load_n(&m.started, __ATOMIC_RELAXED),
                         "active_requests", __atomic_load_n(&m.active, __ATOMIC_RELAXED),
                         "cpu_user_time", user, "cpu_system_time", system, "cpu_time",
                         user + system, "memory_rss", rss, "memory_max_rss", max_rss, "threads",
                         threads);
}

/* The per-thread lists: request_threads_completed (and its old name request_threads_buckets),
 * _busy_time, _cpu_time, _current_elapsed, _max_duration. */
static int put_threads(PyObject *d, const slot_view *v, int n)
{
    enum { COMPLETED, BUSY, CPU, ELAPSED, LONGEST, LISTS };
    static const char *const names[LISTS] = {
        "request_threads_completed", "request_threads_busy_time", "request_threads_cpu_time",
        "request_threads_current_elapsed", "request_threads_max_duration"};
    PyObject *lists[LISTS];
    int i, j, rc = 0;
    for (j = 0; j < LISTS; j++) {
        lists[j] = PyList_New(n);
    }
    for (i = 0; i < n && lists[0] && lists[1] && lists[2] && lists[3] && lists[4]; i++) {
        PyList_SET_ITEM(lists[COMPLETED], i, ull(v[i].completed));
        PyList_SET_ITEM(lists[BUSY], i, PyFloat_FromDouble(secs(v[i].busy)));
        PyList_SET_ITEM(lists[CPU], i, PyFloat_FromDouble(secs(v[i].cpu)));
        PyList_SET_ITEM(lists[ELAPSED], i, PyFloat_FromDouble(secs(v[i].elapsed)));
        PyList_SET_ITEM(lists[LONGEST], i, PyFloat_FromDouble(secs(v[i].longest)));
        for (j = 0; j < LISTS; j++) {
            if (!PyList_GET_ITEM(lists[j], i)) {
                rc = -1;
            }
        }
        if (rc < 0) {
            break;
        }
    }
    for (j = 0; j < LISTS; j++) {
        if (rc < 0 || !lists[j] || PyDict_SetItemString(d, names[j], lists[j]) < 0) {
            rc = -1;
        }
    }
    if (rc == 0) {
        rc = put(d, "request_threads_buckets", PySequence_List(lists[COMPLETED]));
    }
    for (j = 0; j < LISTS; j++) {
        Py_XDECREF(lists[j]);
    }
    return rc;
}

static PyObject *bucket_list(const apr_uint64_t *buckets)
{
    PyObject *list = PyList_New(BUCKETS), *item;
    int i;
    for (i = 0; list && i < BUCKETS; i++) {
        if (!(item = ull(buckets[i]))) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* The phases' means (seconds), extremes (microseconds) and histograms; queue and daemon time
 * are None in embedded mode, where there is no daemon hop, and extremes None when nothing was
 * measured. */
static int put_phases(PyObject *d, const window *w)
{
    char key[48];
    int i, hop = pyhost_proc.group != NULL;
    for (i = 0; i < PHASES; i++) {
        const phase *p = &w->ph[i];
        int none = (i == PH_QUEUE || i == PH_DAEMON) && !hop;
        int known = !none && (i == PH_GIL ? w->gil_waits != 0 : p->count != 0);
        if (put(d, phase_names[i],
                none ? Py_NewRef(Py_None)
                     : PyFloat_FromDouble(w->requests ? secs(p->sum) / (double)w->requests : 0.0)) <
            0) {
            return -1;
        }
        snprintf(key, sizeof(key), "%s_min_us", phase_names[i]);
        if (put(d, key, known ? PyLong_FromLongLong(p->min) : Py_NewRef(Py_None)) < 0) {
            return -1;
        }
        snprintf(key, sizeof(key), "%s_max_us", phase_names[i]);
        if (put(d, key, known ? PyLong_FromLongLong(p->max) : Py_NewRef(Py_None)) < 0) {
            return -1;
        }
        snprintf(key, sizeof(key), "%s_buckets", phase_names[i]);
        if (put(d, key, bucket_list(p->buckets)) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *request_metrics(PyObject *module, PyObject *unused)
{
    window w;
    slot_view *v;
    double user, system, was_user, was_system, period, n;
    long long rss, max_rss;
    apr_time_t now, from;
    int i, threads_active = 0, ok;
    PyObject *d;
    (void)module;
    (void)unused;
    if (!__atomic_load_n(&m.recording, __ATOMIC_ACQUIRE)) {
        Py_RETURN_NONE;
    }
    if (!(v = PyMem_Calloc((size_t)m.threads + 1, sizeof(*v)))) {
        return PyErr_NoMemory();
    }
    cpu_now(&user, &system);
    memory(&rss, &max_rss);

    pthread_mutex_lock(&m.mu);
    now = apr_time_now();
    w = m.w;
    memset(&m.w, 0, sizeof(m.w));
    for (i = 0; i < m.threads; i++) {
        slot *s = &m.slots[i];
        apr_time_t began = __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
        v[i].completed = s->completed;
        v[i].busy = s->busy;
        v[i].cpu = s->cpu;
        v[i].longest = s->longest;
        if (began) {
            /* the part of the running request in this window */
            apr_interval_time_t tail = since(now, began > s->counted ? began : s->counted);
            v[i].busy += tail;
            w.busy += tail;
            v[i].elapsed = since(now, began);
            s->counted = now;
        }
        threads_active += began || s->completed;
        s->completed = 0;
        s->busy = s->cpu = s->longest = 0;
    }
    from = m.w_start;
    was_user = m.cpu_user;
    was_system = m.cpu_system;
    m.w_start = now;
    m.cpu_user = user;
    m.cpu_system = system;
    pthread_mutex_unlock(&m.mu);

    period = secs(since(now, from));
    if (period <= 0) {
        period = 1e-6;
    }
    n = (double)w.requests;
    user = (user - was_user) / period;
    system = (system - was_system) / period;
    d = PyDict_New();
    /* request_threads_started: the threads that have taken a request so far (Apache's and the
     * daemons' threads all exist from the start; mod_wsgi counts the ones put to use) */
    ok = d && put(d, "pid", PyLong_FromLong((long)getpid())) == 0 &&
         put(d, "start_time", PyFloat_FromDouble(secs(from))) == 0 &&
         put(d, "stop_time", PyFloat_FromDouble(secs(now))) == 0 &&
         put(d, "sample_period", PyFloat_FromDouble(period)) == 0 &&
         put(d, "request_count", ull(w.requests)) == 0 &&
         put(d, "request_throughput", PyFloat_FromDouble(n / period)) == 0 &&
         put(d, "request_threads_maximum", PyLong_FromLong(m.threads)) == 0 &&
         put(d, "request_threads_started",
             PyLong_FromLong(__atomic_load_n(&m.started, __ATOMIC_RELAXED))) == 0 &&
         put(d, "request_threads_active", PyLong_FromLong(threads_active)) == 0 &&
         put(d, "capacity_utilization",
             PyFloat_FromDouble(m.threads ? secs(w.busy) / (period * m.threads) : 0.0)) == 0 &&
         put_threads(d, v, m.threads) == 0 && put_phases(d, &w) == 0 &&
         put(d, "gil_wait_count", ull(w.gil_waits)) == 0 &&
         put(d, "input_bytes", ull(w.input_bytes)) == 0 &&
         put(d, "input_reads", ull(w.input_reads)) == 0 &&
         put(d, "output_bytes", ull(w.output_bytes)) == 0 &&
         put(d, "output_writes", ull(w.output_writes)) == 0 &&
         put(d, "status_1xx", ull(w.status[1])) == 0 &&
         put(d, "status_2xx", ull(w.status[2])) == 0 &&
         put(d, "status_3xx", ull(w.status[3])) == 0 &&
         put(d, "status_4xx", ull(w.status[4])) == 0 &&
         /* a request without a status failed: counted with the 5xx */
         put(d, "status_5xx", ull(w.status[5] + w.status[0])) == 0 &&
         put(d, "cpu_user_utilization", PyFloat_FromDouble(user)) == 0 &&
         put(d, "cpu_system_utilization", PyFloat_FromDouble(system)) == 0 &&
         put(d, "cpu_utilization", PyFloat_FromDouble(user + system)) == 0 &&
         /* mod_wsgi's older names of the three rates (rates here, unlike process_metrics()) */
         put(d, "cpu_user_time", PyFloat_FromDouble(user)) == 0 &&
         put(d, "cpu_system_time", PyFloat_FromDouble(system)) == 0 &&
         put(d, "cpu_time", PyFloat_FromDouble(user + system)) == 0 &&
         put(d, "memory_rss", PyLong_FromLongLong(rss)) == 0 &&
         put(d, "memory_max_rss", PyLong_FromLongLong(max_rss)) == 0;
    PyMem_Free(v);
    if (!ok) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
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
