/* daemon/watch.c: the watch over a daemon process, run by its main thread every tick.
 *
 * Owns the decisions to recycle the process and their reasons: restart-interval,
 * inactivity-timeout, memory-limit (resident set size, checked here rather than left to a
 * setrlimit that would only make the application fail), startup-timeout, deadlock-timeout (a
 * thread that must be able to take the main interpreter's GIL every second) and
 * request-timeout, judged per thread: mod_wsgi.RequestTimeout raised in the stuck thread
 * when interrupt-timeout is set, else (or if that did not help) a 504 for the request, its
 * Python stack in the log, and a restart that takes no new request.
 *
 * The watch reads only atomics and never takes a GIL or a lock a worker can hold while
 * blocked: a thread stuck in C code holding the GIL, or blocked writing to a peer that does not
 * read, cannot stop it. What needs Python goes to the helper thread (daemon/helper.c). */
#include "daemon/watch.h"

#include "daemon/recycle.h"
#include "daemon/helper.h"
#include "daemon/serve.h"
#include "python/runtime.h"
#include "python/script.h"

#include "http_log.h"
#include "apr_strings.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

static struct {
    pyhost_group *g;
    server_rec *s;
    apr_time_t started;
    apr_time_t gil_seen; /* last time the GIL watcher got the main interpreter's GIL */
    long page_size;
} wt;

#define WATCH_PREFIX "daemon process %ld of group '%s': "

/* The GIL watcher takes the main interpreter's GIL once a second: deadlock-timeout (seconds)
 * is judged to within one, and the probe costs nothing that matters. */
#define GIL_PROBE_PAUSE 1

/* /proc/self/statm starts with the size and the resident size, in pages: the two read here. */
#define STATM_FIELDS 2

/* The memory-limit line speaks in megabytes (bytes >> MB_SHIFT). */
#define MB_SHIFT 20

static void *gil_watcher(void *arg)
{
    pyhost_interp *main_interp = pyhost_interp_get("");
    (void)arg;
    for (;;) {
        PyThreadState *ts = pyhost_interp_enter(main_interp);
        pyhost_interp_leave(ts);
        __atomic_store_n(&wt.gil_seen, apr_time_now(), __ATOMIC_RELAXED);
        sleep(GIL_PROBE_PAUSE);
    }
    return NULL;
}

int pyhost_watch_start(pyhost_group *g, server_rec *s)
{
    pthread_t t;
    wt.g = g;
    wt.s = s;
    wt.started = apr_time_now();
    wt.gil_seen = wt.started;
    wt.page_size = sysconf(_SC_PAGESIZE);
    if (g->deadlock_timeout && pthread_create(&t, NULL, gil_watcher, NULL) == 0) {
        pthread_detach(t);
    }
    return pyhost_helper_start(g, s, pyhost_serve_threads());
}

/* Resident set size in bytes, from /proc/self/statm. */
static apr_int64_t resident(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;
    if (!f) {
        return 0;
    }
    if (fscanf(f, "%ld %ld", &size, &rss) != STATM_FIELDS) {
        rss = 0;
    }
    fclose(f);
    return (apr_int64_t)rss * wt.page_size;
}

static void watch_requests(apr_time_t now)
{
    pyhost_group *g = wt.g;
    int i, n = pyhost_serve_threads();
    for (i = 0; i < n; i++) {
        pyhost_worker_view v;
        char why[PYHOST_RECYCLE_WHY_LEN];
        double age;
        int answered;
        if (!pyhost_serve_view(i, &v) || v.given_up || now - v.started <= g->request_timeout) {
            continue;
        }
        age = (double)(now - v.started) / APR_USEC_PER_SEC;
        if (g->interrupt_timeout && !v.interrupted_at) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, wt.s,
                         WATCH_PREFIX "request-timeout: %s has run %.1f seconds "
                                      "(request-timeout=%ld); raising mod_wsgi.RequestTimeout "
                                      "in its thread",
                         (long)getpid(), g->name, v.what, age,
                         (long)apr_time_sec(g->request_timeout));
            pyhost_serve_interrupted(i, v.seq, now);
            pyhost_helper_post(i, v.seq, PYHOST_JOB_RAISE);
            continue;
        }
        if (v.interrupted_at && now - v.interrupted_at <= g->interrupt_timeout) {
            continue;
        }
        apr_snprintf(why, sizeof(why),
                     "request-timeout: the request ran %.1f seconds "
                     "(request-timeout=%ld)",
                     age, (long)apr_time_sec(g->request_timeout));
        answered = pyhost_serve_give_up(i, v.seq, HTTP_GATEWAY_TIME_OUT, why);
        if (answered == PYHOST_GAVE_UP_NONE) {
            continue; /* it has just ended */
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, wt.s,
                     WATCH_PREFIX "request-timeout: %s has run %.1f seconds "
                                  "(request-timeout=%ld)%s; %s, the process restarts",
                     (long)getpid(), g->name, v.what, age, (long)apr_time_sec(g->request_timeout),
                     v.interrupted_at ? " and did not stop when interrupted" : "",
                     answered == PYHOST_GAVE_UP_ANSWERED ? "answered with 504"
                     : answered == PYHOST_GAVE_UP_CUT
                         ? "its connection was cut (its thread was blocked writing the response)"
                         : "its response had been sent, but its thread has not come back (from "
                           "close() or the request's end)");
        pyhost_helper_post(i, v.seq, PYHOST_JOB_STACK);
        apr_snprintf(why, sizeof(why), "request-timeout on %s", v.what);
        pyhost_daemon_recycle(PYHOST_RECYCLE_DRAIN, "request_timeout", why);
    }
}

void pyhost_watch_tick(apr_time_t now)
{
    pyhost_group *g = wt.g;
    char why[PYHOST_RECYCLE_WHY_LEN];
    int routine = !pyhost_recycle_retired(); /* see daemon/recycle.h */
    if (g->request_timeout) {
        watch_requests(now);
    }
    if (routine && g->restart_interval && now - wt.started > g->restart_interval) {
        apr_snprintf(why, sizeof(why), "restart-interval of %ld seconds passed",
                     (long)apr_time_sec(g->restart_interval));
        pyhost_daemon_recycle(PYHOST_RECYCLE_GRACEFUL, "restart_interval", why);
    }
    if (routine && g->inactivity_timeout && now - pyhost_serve_activity() > g->inactivity_timeout) {
        apr_snprintf(why, sizeof(why), "inactivity-timeout: no request activity for %ld seconds",
                     (long)apr_time_sec(g->inactivity_timeout));
        pyhost_daemon_recycle(PYHOST_RECYCLE_DRAIN, "inactivity_timeout", why);
    }
    if (g->memory_limit) {
        apr_int64_t rss = resident();
        if (rss > g->memory_limit) {
            apr_snprintf(why, sizeof(why),
                         "memory-limit: resident size reached %" APR_INT64_T_FMT
                         " MB (memory-limit %" APR_INT64_T_FMT " MB)",
                         rss >> MB_SHIFT, g->memory_limit >> MB_SHIFT);
            pyhost_daemon_recycle(PYHOST_RECYCLE_DRAIN, "memory_limit", why);
        }
    }
    if (g->startup_timeout && pyhost_serve_first_request() && !pyhost_scripts_loaded() &&
        now - pyhost_serve_first_request() > g->startup_timeout) {
        apr_snprintf(why, sizeof(why),
                     "startup-timeout: no WSGI script loaded within %ld seconds of the first "
                     "request",
                     (long)apr_time_sec(g->startup_timeout));
        pyhost_daemon_recycle(PYHOST_RECYCLE_STOP, "startup_timeout", why);
    }
    if (g->deadlock_timeout &&
        now - __atomic_load_n(&wt.gil_seen, __ATOMIC_RELAXED) > g->deadlock_timeout) {
        apr_snprintf(why, sizeof(why),
                     "deadlock-timeout: the Python GIL could not be taken for %ld seconds",
                     (long)apr_time_sec(g->deadlock_timeout));
        pyhost_daemon_recycle(PYHOST_RECYCLE_STOP, "deadlock_timeout", why);
    }
}
