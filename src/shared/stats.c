/* shared/stats.c: the shared record of what the server does (see shared/stats.h).
 *
 * Owns the record's mapping (made by Apache's parent before it forks, an anonymous shared
 * mapping kept in Apache's retained data so that counters survive restarts; a restart whose
 * groups changed gets a new mapping, with each group's counters carried over by name), and
 * every write to it: per request, a few relaxed atomic additions by the thread that served
 * it and, once a second, one sample of the totals by whichever thread notices the second
 * turned. Nothing here blocks or takes a lock. */
#include "shared/stats.h"
#include "shared/alloc.h"

#include "ap_mpm.h"
#include "http_log.h"
#include "http_protocol.h"
#include "scoreboard.h"
#include "apr_strings.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

const apr_int64_t pyhost_stats_bounds[PYHOST_STATS_BUCKETS - 1] = {
    250,    500,    1000,    2500,    5000,    10000,    25000,    50000,   100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};

const char *const pyhost_stats_reason_names[PYHOST_RS_COUNT] = {"maximum-requests",
                                                                "restart-interval",
                                                                "inactivity-timeout",
                                                                "memory-limit",
                                                                "request-timeout",
                                                                "cpu-time-limit",
                                                                "startup-timeout",
                                                                "deadlock-timeout",
                                                                "script-reload",
                                                                "signal",
                                                                "crash",
                                                                "reload"};

/* mod_wsgi's shutdown reasons (daemon/process.c's codes) and the names above. */
static const struct {
    const char *code;
    int reason;
} codes[] = {{"maximum_requests", PYHOST_RS_MAXIMUM_REQUESTS},
             {"restart_interval", PYHOST_RS_RESTART_INTERVAL},
             {"inactivity_timeout", PYHOST_RS_INACTIVITY_TIMEOUT},
             {"memory_limit", PYHOST_RS_MEMORY_LIMIT},
             {"request_timeout", PYHOST_RS_REQUEST_TIMEOUT},
             {"cpu_time_limit", PYHOST_RS_CPU_TIME_LIMIT},
             {"startup_timeout", PYHOST_RS_STARTUP_TIMEOUT},
             {"deadlock_timeout", PYHOST_RS_DEADLOCK_TIMEOUT},
             {"script_reload", PYHOST_RS_SCRIPT_RELOAD},
             {"graceful_signal", PYHOST_RS_SIGNAL},
             {"shutdown_signal", PYHOST_RS_SIGNAL}};

pyhost_stats *pyhost_st;
pyhost_stats_group *pyhost_st_groups;
pyhost_stats_proc *pyhost_st_procs;
pyhost_stats_thread *pyhost_st_dthreads, *pyhost_st_athreads;
pyhost_stats_sample *pyhost_st_samples;
apr_uint64_t *pyhost_st_sample_requests;
apr_uint32_t *pyhost_st_sample_busy;

/* In a daemon process: its slot, its group's index in the record, its pid. */
static int my_slot = -1, my_group;
static pid_t my_pid;

#define ADD(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)

/* ---- the mapping ------------------------------------------------------------------------- */

pyhost_stats_shape pyhost_sh;

/* What Apache's parent keeps across restarts: the mapping and the shape it was made for. */
typedef struct {
    void *base;
    apr_size_t size;
    int ngroups, nprocs, ndthreads, nathreads;
    char (*names)[64]; /* per group (malloc: retained data outlives the configuration) */
    int *procs, *threads;
    /* The record before the last restart that changed the groups: the old generation's
     * children finish their requests in it, so what they add after the carry-over is folded
     * into the new record's groups of the same names (see pyhost_stats_fold). */
    pyhost_stats_group *retired; /* its groups, in the retired mapping */
    void *retired_base;
    apr_size_t retired_size;
    int retired_ngroups;
    pyhost_stats_group *seen; /* per retired group: its counters when last folded (malloc) */
    int *into;                /* per retired group: the new record's group, or -1 (malloc) */
} retained;

static retained *kept_record;

static apr_size_t align(apr_size_t n)
{
    return (n + 63) & ~(apr_size_t)63;
}

/* Offsets of the parts of a record with these counts. */
typedef struct {
    apr_size_t groups, procs, dthreads, athreads, samples, sreq, sbusy, size;
} layout;

static void lay_out(layout *l, int ngroups, int nprocs, int ndthreads, int nathreads)
{
    l->groups = align(sizeof(pyhost_stats));
    l->procs = l->groups + align(sizeof(pyhost_stats_group) * (apr_size_t)ngroups);
    l->dthreads = l->procs + align(sizeof(pyhost_stats_proc) * (apr_size_t)nprocs);
    l->athreads = l->dthreads + align(sizeof(pyhost_stats_thread) * (apr_size_t)ndthreads);
    l->samples = l->athreads + align(sizeof(pyhost_stats_thread) * (apr_size_t)nathreads);
    l->sreq = l->samples + align(sizeof(pyhost_stats_sample) * PYHOST_STATS_HISTORY);
    l->sbusy = l->sreq + align(sizeof(apr_uint64_t) * PYHOST_STATS_HISTORY * (apr_size_t)ngroups);
    l->size = l->sbusy + align(sizeof(apr_uint32_t) * PYHOST_STATS_HISTORY * (apr_size_t)ngroups);
}

static void point_at(char *base, const layout *l)
{
    pyhost_st = (pyhost_stats *)base;
    pyhost_st_groups = (pyhost_stats_group *)(base + l->groups);
    pyhost_st_procs = (pyhost_stats_proc *)(base + l->procs);
    pyhost_st_dthreads = (pyhost_stats_thread *)(base + l->dthreads);
    pyhost_st_athreads = (pyhost_stats_thread *)(base + l->athreads);
    pyhost_st_samples = (pyhost_stats_sample *)(base + l->samples);
    pyhost_st_sample_requests = (apr_uint64_t *)(base + l->sreq);
    pyhost_st_sample_busy = (apr_uint32_t *)(base + l->sbusy);
}

static int mpm_limit(int query)
{
    int v = 0;
    return ap_mpm_query(query, &v) == APR_SUCCESS && v > 0 ? v : 1;
}

/* pyhost_sh, from the configuration. */
static void shape(apr_pool_t *p)
{
    pyhost_stats_shape *sh = &pyhost_sh;
    int i, n, slot = 0, thread = 0;
    memset(sh, 0, sizeof(*sh));
    sh->ngroups = 1 + pyhost_g.groups->nelts;
    sh->thread_limit = mpm_limit(AP_MPMQ_HARD_LIMIT_THREADS);
    sh->server_limit = mpm_limit(AP_MPMQ_HARD_LIMIT_DAEMONS);
    sh->nathreads = sh->server_limit * sh->thread_limit;
    sh->names = apr_pcalloc(p, sizeof(char *) * (apr_size_t)sh->ngroups);
    sh->first_proc = apr_pcalloc(p, sizeof(int) * (apr_size_t)sh->ngroups);
    sh->procs = apr_pcalloc(p, sizeof(int) * (apr_size_t)sh->ngroups);
    sh->threads = apr_pcalloc(p, sizeof(int) * (apr_size_t)sh->ngroups);
    sh->names[0] = "";
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        const pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        sh->names[i + 1] = g->name;
        sh->procs[i + 1] = g->processes;
        sh->threads[i + 1] = g->threads;
        sh->nprocs += g->processes;
        sh->ndthreads += g->processes * g->threads;
    }
    sh->first_thread = apr_pcalloc(p, sizeof(int) * (apr_size_t)(sh->nprocs + 1));
    sh->group_of = apr_pcalloc(p, sizeof(int) * (apr_size_t)(sh->nprocs + 1));
    for (i = 1; i < sh->ngroups; i++) {
        sh->first_proc[i] = slot;
        for (n = 0; n < sh->procs[i]; n++, slot++) {
            sh->first_thread[slot] = thread;
            sh->group_of[slot] = i;
            thread += sh->threads[i];
        }
    }
}

/* Whether the kept record was made for the same groups, processes and threads. */
static int same_shape(const retained *k, const layout *l)
{
    int i;
    if (k->size != l->size || k->ngroups != pyhost_sh.ngroups ||
        k->nathreads != pyhost_sh.nathreads) {
        return 0;
    }
    for (i = 0; i < k->ngroups; i++) {
        if (strcmp(k->names[i], pyhost_sh.names[i]) || k->procs[i] != pyhost_sh.procs[i] ||
            k->threads[i] != pyhost_sh.threads[i]) {
            return 0;
        }
    }
    return 1;
}

/* Adds to the new record what the retired one's groups gained since the last fold. */
static void fold(retained *k)
{
    int j;
    size_t f;
    const size_t nf = sizeof(pyhost_stats_group) / sizeof(apr_uint64_t);
    for (j = 0; j < k->retired_ngroups; j++) {
        const apr_uint64_t *now = (const apr_uint64_t *)&k->retired[j];
        apr_uint64_t *seen = (apr_uint64_t *)&k->seen[j];
        apr_uint64_t *to;
        if (k->into[j] < 0) {
            continue;
        }
        to = (apr_uint64_t *)&pyhost_st_groups[k->into[j]];
        for (f = 0; f < nf; f++) {
            apr_uint64_t v = __atomic_load_n(&now[f], __ATOMIC_RELAXED);
            if (v != seen[f]) {
                ADD(to[f], v - seen[f]);
                seen[f] = v;
            }
        }
    }
}

/* Unmaps the retired record after a last fold; the old generation's children keep theirs. */
static void drop_retired(retained *k)
{
    if (!k->retired_base) {
        return;
    }
    fold(k);
    munmap(k->retired_base, k->retired_size);
    free(k->seen);
    free(k->into);
    k->retired_base = NULL;
    k->retired = k->seen = NULL;
    k->into = NULL;
    k->retired_ngroups = 0;
}

/* A new record's groups take the counters of the old one's groups of the same name, and the
 * old record is kept (retired) for what its generation's requests in flight add later. */
static void carry_over(retained *k)
{
    const pyhost_stats *old = k->base;
    int i, j;
    layout ol;
    drop_retired(k);
    lay_out(&ol, k->ngroups, k->nprocs, k->ndthreads, k->nathreads);
    k->retired_base = k->base;
    k->retired_size = k->size;
    k->retired_ngroups = k->ngroups;
    k->retired = (pyhost_stats_group *)((char *)k->base + ol.groups);
    k->seen = pyhost_xcalloc((size_t)k->ngroups, sizeof(*k->seen));
    k->into = pyhost_xcalloc((size_t)k->ngroups, sizeof(*k->into));
    for (j = 0; j < k->ngroups; j++) {
        k->into[j] = -1;
        for (i = 0; i < pyhost_sh.ngroups; i++) {
            if ((i == 0) == (j == 0) && !strcmp(k->names[j], pyhost_sh.names[i])) {
                k->into[j] = i;
            }
        }
    }
    /* from zero: the first fold copies the counters as they are now */
    fold(k);
    memcpy(pyhost_st->restart_ring, old->restart_ring, sizeof(old->restart_ring));
    pyhost_st->restart_next = old->restart_next;
    pyhost_st->created = old->created;
}

void pyhost_stats_fold(void)
{
    if (kept_record && kept_record->retired_base && pyhost_st) {
        fold(kept_record);
    }
}

/* Remembers the shape of the record just made, for the next restart. */
static void keep_shape(retained *k, void *base, apr_size_t size)
{
    int i;
    free(k->names);
    free(k->procs);
    free(k->threads);
    k->base = base;
    k->size = size;
    k->ngroups = pyhost_sh.ngroups;
    k->nprocs = pyhost_sh.nprocs;
    k->ndthreads = pyhost_sh.ndthreads;
    k->nathreads = pyhost_sh.nathreads;
    k->names = pyhost_xcalloc((size_t)k->ngroups, sizeof(*k->names));
    k->procs = pyhost_xcalloc((size_t)k->ngroups, sizeof(int));
    k->threads = pyhost_xcalloc((size_t)k->ngroups, sizeof(int));
    for (i = 0; i < k->ngroups; i++) {
        apr_cpystrn(k->names[i], pyhost_sh.names[i], sizeof(k->names[i]));
        k->procs[i] = pyhost_sh.procs[i];
        k->threads[i] = pyhost_sh.threads[i];
    }
}

/* Clears what described the processes and threads of the previous generation. */
static void clear_processes(void)
{
    int i;
    for (i = 0; i < pyhost_sh.nprocs; i++) {
        pyhost_stats_proc *p = &pyhost_st_procs[i];
        p->pid = 0;
        p->state = PYHOST_PS_NONE;
        p->started = 0;
        p->requests = 0;
        p->stop_reason = -1;
    }
    memset(pyhost_st_dthreads, 0, sizeof(pyhost_stats_thread) * (apr_size_t)pyhost_sh.ndthreads);
    memset(pyhost_st_athreads, 0, sizeof(pyhost_stats_thread) * (apr_size_t)pyhost_sh.nathreads);
}

int pyhost_stats_create(apr_pool_t *pconf, server_rec *s)
{
    static const char *const key = "mod_pyhost.stats";
    retained *kept = ap_retained_data_get(key);
    layout l;
    void *base;
    int i;

    shape(pconf);
    lay_out(&l, pyhost_sh.ngroups, pyhost_sh.nprocs, pyhost_sh.ndthreads, pyhost_sh.nathreads);
    if (!kept) {
        kept = ap_retained_data_create(key, sizeof(*kept));
    }
    kept_record = kept;
    if (kept->base && same_shape(kept, &l)) {
        point_at(kept->base, &l);
    }
    else {
        base = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                         "cannot map %lu bytes of shared memory for the metrics; the "
                         "pyhost-metrics and pyhost-status handlers will have nothing to show",
                         (unsigned long)l.size);
            pyhost_st = NULL;
            return OK;
        }
        memset(base, 0, l.size);
        point_at(base, &l);
        pyhost_st->created = apr_time_now();
        for (i = 0; i < pyhost_sh.nprocs; i++) {
            pyhost_st_procs[i].last_reason = -1;
        }
        if (kept->base) {
            carry_over(kept);
        }
        keep_shape(kept, base, l.size);
    }
    clear_processes();
    pyhost_st->recording = pyhost_g.shared_metrics;
    return OK;
}

/* ---- writing ----------------------------------------------------------------------------- */

static int bucket_of(apr_int64_t us)
{
    int i;
    for (i = 0; i < PYHOST_STATS_BUCKETS - 1 && us > pyhost_stats_bounds[i]; i++) {
    }
    return i;
}

static void hist_add(pyhost_hist *h, apr_int64_t us)
{
    if (us < 0) {
        us = 0;
    }
    ADD(h->count, 1);
    ADD(h->sum_us, (apr_uint64_t)us);
    ADD(h->bucket[bucket_of(us)], 1);
}

/* The request's fields of thread record t, written by its own thread. */
static void thread_set(pyhost_stats_thread *t, pid_t pid, apr_time_t started, const char *what)
{
    ADD(t->seq, 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (t->pid != pid) {
        t->pid = pid;
        t->requests = 0;
    }
    t->started = started;
    if (what) {
        apr_cpystrn(t->what, what, sizeof(t->what));
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ADD(t->seq, 1);
}

/* The record of the Apache thread serving r: the MPMs number a connection by its thread's
 * place in the scoreboard (slot * ThreadLimit + thread). HTTP/2's streams run on secondary
 * connections numbered otherwise: they have no record. */
static pyhost_stats_thread *athread_of(request_rec *r)
{
    long id = r->connection->id;
    if (r->connection->master || id < 0 || id >= pyhost_sh.nathreads) {
        return NULL;
    }
    return &pyhost_st_athreads[id];
}

void pyhost_stats_request_begin(request_rec *r, const pyhost_group *g)
{
    static pid_t me;
    pyhost_stats_thread *t;
    char what[sizeof(t->what)];
    if (g || !pyhost_stats_recording() || !(t = athread_of(r))) {
        return; /* a daemon's thread shows a daemon group's request */
    }
    if (!me) {
        me = getpid();
    }
    apr_snprintf(what, sizeof(what), "%s %s", r->method, r->unparsed_uri);
    thread_set(t, me, r->request_time, what);
}

void pyhost_stats_request_end(request_rec *r, const pyhost_group *g, int rv)
{
    apr_time_t now;
    pyhost_stats_group *sg;
    pyhost_stats_thread *t;
    int status = rv == OK || rv == DONE ? r->status : rv;
    if (!pyhost_stats_recording()) {
        return;
    }
    now = apr_time_now();
    sg = &pyhost_st_groups[g ? g->index + 1 : 0];
    ADD(sg->status[status >= 100 && status < 600 ? status / 100 : 0], 1);
    hist_add(&sg->hist[PYHOST_HIST_DURATION], now - r->request_time);
    if (!g && (t = athread_of(r))) {
        __atomic_store_n(&t->started, 0, __ATOMIC_RELEASE);
        ADD(t->requests, 1);
    }
    pyhost_stats_tick(now);
}

void pyhost_stats_connect(const pyhost_group *g, apr_interval_time_t took)
{
    if (pyhost_stats_recording()) {
        hist_add(&pyhost_st_groups[g->index + 1].hist[PYHOST_HIST_CONNECT], took);
    }
}

void pyhost_stats_embedded_gil(apr_interval_time_t gil_wait, int gil_waits)
{
    if (pyhost_stats_recording() && gil_waits) {
        ADD(pyhost_st_groups[0].gil_wait_us, (apr_uint64_t)gil_wait);
        ADD(pyhost_st_groups[0].gil_waits, (apr_uint64_t)gil_waits);
    }
}

/* ---- daemon processes, from Apache's parent ---------------------------------------------- */

static void begin_proc(pyhost_stats_proc *p, pid_t pid)
{
    p->requests = 0;
    p->started = apr_time_now();
    p->stop_reason = -1;
    p->stop_detail[0] = '\0';
    p->state = PYHOST_PS_STARTING;
    __atomic_store_n(&p->pid, pid, __ATOMIC_RELEASE);
}

void pyhost_stats_spawned(int slot, pid_t pid)
{
    pyhost_stats_proc *p;
    if (!pyhost_st || slot < 0 || slot >= pyhost_sh.nprocs) {
        return;
    }
    p = &pyhost_st_procs[slot];
    if (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) != pid) {
        begin_proc(p, pid); /* unless the process was quicker (pyhost_stats_daemon_init) */
    }
}

void pyhost_stats_ended(int slot, int stopping, const char *how)
{
    pyhost_stats_proc *p;
    pyhost_stats_group *g;
    pyhost_stats_restart *e;
    int reason, i, gi;
    if (!pyhost_st || slot < 0 || slot >= pyhost_sh.nprocs || !pyhost_st_procs[slot].pid) {
        return;
    }
    p = &pyhost_st_procs[slot];
    gi = pyhost_sh.group_of[slot];
    g = &pyhost_st_groups[gi];
    /* the process's own word is only taken if it is one of the reasons */
    reason = stopping                                                  ? PYHOST_RS_RELOAD
             : p->stop_reason >= 0 && p->stop_reason < PYHOST_RS_COUNT ? p->stop_reason
                                                                       : PYHOST_RS_CRASH;
    ADD(g->restarts[reason], 1);
    p->last_reason = reason;
    if (reason == p->stop_reason && p->stop_detail[0]) {
        apr_snprintf(p->last_detail, sizeof(p->last_detail), "%.*s; %s",
                     (int)sizeof(p->stop_detail) - 1, p->stop_detail, how);
    }
    else {
        apr_cpystrn(p->last_detail, how, sizeof(p->last_detail));
    }
    e = &pyhost_st->restart_ring[pyhost_st->restart_next % PYHOST_STATS_RESTARTS];
    e->when = apr_time_now();
    e->pid = p->pid;
    e->reason = reason;
    apr_cpystrn(e->group, pyhost_sh.names[gi], sizeof(e->group));
    apr_cpystrn(e->detail, p->last_detail, sizeof(e->detail));
    ADD(pyhost_st->restart_next, 1);
    /* a process that died in a request leaves its thread records busy */
    for (i = 0; i < pyhost_sh.threads[gi]; i++) {
        __atomic_store_n(&pyhost_st_dthreads[pyhost_sh.first_thread[slot] + i].started, 0,
                         __ATOMIC_RELAXED);
    }
    p->state = PYHOST_PS_NONE;
    __atomic_store_n(&p->pid, 0, __ATOMIC_RELEASE);
}

void pyhost_stats_reloaded(void)
{
    int i;
    for (i = 0; pyhost_st && i < pyhost_sh.nprocs; i++) {
        pyhost_stats_ended(i, 1, "Apache restarted or stopped");
    }
}

/* ---- daemon processes, from themselves --------------------------------------------------- */

/* This daemon's process record; NULL once the slot is another process's: a daemon that a
 * graceful restart retired goes on serving the old generation's children, while its slot
 * in a record kept across the restart belongs to its successor. */
static pyhost_stats_proc *my_proc(void)
{
    if (!pyhost_st || my_slot < 0 || my_slot >= pyhost_sh.nprocs ||
        __atomic_load_n(&pyhost_st_procs[my_slot].pid, __ATOMIC_ACQUIRE) != my_pid) {
        return NULL;
    }
    return &pyhost_st_procs[my_slot];
}

void pyhost_stats_daemon_init(const pyhost_group *g, int process)
{
    my_slot = g->slot_base + process;
    my_group = g->index + 1;
    my_pid = getpid();
    if (pyhost_st && my_slot >= 0 && my_slot < pyhost_sh.nprocs) {
        begin_proc(&pyhost_st_procs[my_slot], my_pid);
    }
}

void pyhost_stats_daemon_ready(void)
{
    pyhost_stats_proc *p = my_proc();
    if (p && p->state == PYHOST_PS_STARTING) {
        __atomic_store_n(&p->state, PYHOST_PS_READY, __ATOMIC_RELEASE);
    }
}

void pyhost_stats_daemon_stopping(const char *code, const char *why)
{
    pyhost_stats_proc *p = my_proc();
    apr_size_t i;
    if (!p) {
        return;
    }
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (!strcmp(codes[i].code, code)) {
            p->stop_reason = codes[i].reason;
        }
    }
    apr_cpystrn(p->stop_detail, why, sizeof(p->stop_detail));
    __atomic_store_n(&p->state, PYHOST_PS_STOPPING, __ATOMIC_RELEASE);
}

static pyhost_stats_thread *dthread_of(int thread)
{
    if (!my_proc() || thread < 1 || thread > pyhost_sh.threads[my_group]) {
        return NULL;
    }
    return &pyhost_st_dthreads[pyhost_sh.first_thread[my_slot] + thread - 1];
}

void pyhost_stats_daemon_begin(int thread, const char *what, double queue_start,
                               double daemon_start)
{
    pyhost_stats_thread *t;
    if (!pyhost_stats_recording() || !(t = dthread_of(thread))) {
        return;
    }
    thread_set(t, my_pid, apr_time_now(), what);
    hist_add(&pyhost_st_groups[my_group].hist[PYHOST_HIST_QUEUE],
             (apr_int64_t)((daemon_start - queue_start) * APR_USEC_PER_SEC));
}

void pyhost_stats_daemon_end(int thread, apr_interval_time_t gil_wait, int gil_waits)
{
    pyhost_stats_thread *t;
    pyhost_stats_group *g;
    if (!pyhost_stats_recording() || !(t = dthread_of(thread))) {
        return;
    }
    g = &pyhost_st_groups[my_group];
    __atomic_store_n(&t->started, 0, __ATOMIC_RELEASE);
    ADD(t->requests, 1);
    ADD(pyhost_st_procs[my_slot].requests, 1);
    if (gil_waits) {
        ADD(g->gil_wait_us, (apr_uint64_t)gil_wait);
        ADD(g->gil_waits, (apr_uint64_t)gil_waits);
    }
}

/* ---- reading ----------------------------------------------------------------------------- */

int pyhost_stats_athread_live(int i)
{
    const pyhost_stats_thread *t = &pyhost_st_athreads[i];
    int slot = i / pyhost_sh.thread_limit;
    pid_t pid = __atomic_load_n(&t->pid, __ATOMIC_RELAXED);
    return pid && ap_scoreboard_image && slot < pyhost_sh.server_limit &&
           ap_scoreboard_image->parent[slot].pid == pid;
}

int pyhost_stats_busy(int group)
{
    int busy = 0, i, j;
    if (!pyhost_st || group < 0 || group >= pyhost_sh.ngroups) {
        return 0;
    }
    if (!group) {
        for (i = 0; i < pyhost_sh.nathreads; i++) {
            if (__atomic_load_n(&pyhost_st_athreads[i].started, __ATOMIC_RELAXED) &&
                pyhost_stats_athread_live(i)) {
                busy++;
            }
        }
        return busy;
    }
    for (i = pyhost_sh.first_proc[group]; i < pyhost_sh.first_proc[group] + pyhost_sh.procs[group];
         i++) {
        if (!__atomic_load_n(&pyhost_st_procs[i].pid, __ATOMIC_RELAXED)) {
            continue;
        }
        for (j = 0; j < pyhost_sh.threads[group]; j++) {
            busy += __atomic_load_n(&pyhost_st_dthreads[pyhost_sh.first_thread[i] + j].started,
                                    __ATOMIC_RELAXED) != 0;
        }
    }
    return busy;
}

void pyhost_stats_tick(apr_time_t now)
{
    apr_int64_t second = (apr_int64_t)apr_time_sec(now), last;
    pyhost_stats_sample *s;
    apr_uint32_t at;
    int g, b, c;
    if (!pyhost_st) {
        return;
    }
    last = __atomic_load_n(&pyhost_st->sampled, __ATOMIC_RELAXED);
    if (second <= last || !__atomic_compare_exchange_n(&pyhost_st->sampled, &last, second, 0,
                                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        return;
    }
    at = pyhost_st->sample_next % PYHOST_STATS_HISTORY;
    s = &pyhost_st_samples[at];
    ADD(s->seq, 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->second = second;
    memset(s->duration, 0, sizeof(s->duration));
    for (g = 0; g < pyhost_sh.ngroups; g++) {
        const pyhost_stats_group *sg = &pyhost_st_groups[g];
        apr_uint64_t requests = 0;
        for (b = 0; b < PYHOST_STATS_BUCKETS; b++) {
            s->duration[b] +=
                __atomic_load_n(&sg->hist[PYHOST_HIST_DURATION].bucket[b], __ATOMIC_RELAXED);
        }
        for (c = 0; c < 6; c++) {
            requests += __atomic_load_n(&sg->status[c], __ATOMIC_RELAXED);
        }
        pyhost_st_sample_requests[at * (apr_size_t)pyhost_sh.ngroups + (apr_size_t)g] = requests;
        pyhost_st_sample_busy[at * (apr_size_t)pyhost_sh.ngroups + (apr_size_t)g] =
            (apr_uint32_t)pyhost_stats_busy(g);
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ADD(s->seq, 1);
    ADD(pyhost_st->sample_next, 1);
}
