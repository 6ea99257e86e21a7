/* daemon/process.c: the life of a daemon process.
 *
 * Owns what happens between the fork in Apache's parent and the exit: shedding what belongs
 * to Apache (listening sockets, signal handlers), resource limits, dropping to the group's
 * user and group, home directory, locale, process title, Python start-up and preloaded
 * scripts, then the main thread's watch (signals, and the parent's death) and the orderly
 * stop: no new connections, idle ones told GOODBYE, running requests given shutdown-timeout,
 * shutdown callbacks run. */
#include "shared/daemon.h"
#include "shared/alloc.h"
#include "daemon/recycle.h"
#include "daemon/helper.h"
#include "daemon/serve.h"
#include "daemon/watch.h"
#include "shared/stats.h"

#include "python/runtime.h"
#include "shared/process.h"
#include "python/log.h"

#include "ap_listen.h"
#include "http_log.h"
#include "unixd.h"
#include "apr_strings.h"

#include <errno.h>
#include <grp.h>
#include <locale.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

static pyhost_group *self_group;
static server_rec *self_server;

#define LOG_PREFIX "daemon process %ld of group '%s': "

/* A failure before the process could serve: logged, then a pause of FATAL_PAUSE seconds so
 * that a group that cannot start does not make Apache's parent fork in a tight loop. */
#define FATAL_PAUSE 2
static void fatal(const char *what, int err) __attribute__((noreturn));
static void fatal(const char *what, int err)
{
    ap_log_error(APLOG_MARK, APLOG_CRIT, err, self_server, LOG_PREFIX "%s", (long)getpid(),
                 self_group->name, what);
    sleep(FATAL_PAUSE);
    _exit(1);
}

/* Everything Apache's parent had that a daemon must not keep. */
static void shed_apache(pyhost_group *g)
{
    int i;
    struct sigaction sa;
    ap_close_listeners();
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        pyhost_group *o = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        if (o != g && o->listen_fd >= 0) {
            close(o->listen_fd);
            o->listen_fd = -1;
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (i = 1; i < NSIG; i++) {
        if (i != SIGKILL && i != SIGSTOP) {
            sigaction(i, &sa, NULL);
        }
    }
    signal(SIGPIPE, SIG_IGN);
}

/* memory-limit is not an rlimit here: an allocation failing inside the application helps no
 * one, so the watch recycles the process once it has grown past it (daemon/watch.c).
 * cpu-time-limit is the soft limit (SIGXCPU: a graceful recycle); the kernel's SIGKILL comes
 * only once the stop that follows has had shutdown-timeout and this many CPU seconds more. */
#define CPU_KILL_MARGIN 1
static void set_limits(pyhost_group *g)
{
    struct rlimit rl;
    if (g->cpu_time_limit) {
        rl.rlim_cur = (rlim_t)g->cpu_time_limit;
        rl.rlim_max =
            (rlim_t)g->cpu_time_limit + CPU_KILL_MARGIN + (rlim_t)apr_time_sec(g->shutdown_timeout);
        setrlimit(RLIMIT_CPU, &rl);
    }
    if (g->virtual_memory_limit) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)g->virtual_memory_limit;
        setrlimit(RLIMIT_AS, &rl);
    }
    if (g->cpu_priority) {
        setpriority(PRIO_PROCESS, 0, g->cpu_priority);
    }
}

static void drop_privileges(pyhost_group *g)
{
    if (geteuid() != 0) {
        return; /* Apache was not started as root: it has nothing to give away */
    }
    if (g->chroot && (chroot(g->chroot) < 0 || chdir("/") < 0)) {
        fatal(apr_psprintf(g->server->process->pool, "cannot chroot to %s", g->chroot), errno);
    }
    if (setgid(g->gid) < 0) {
        fatal("cannot set its group id", errno);
    }
    if (g->ngroups) {
        gid_t *list = pyhost_xmalloc(sizeof(gid_t) * (size_t)(g->ngroups + 1));
        list[0] = g->gid;
        memcpy(list + 1, g->groups, sizeof(gid_t) * (size_t)g->ngroups);
        if (setgroups((size_t)g->ngroups + 1, list) < 0) {
            fatal("cannot set its supplementary groups", errno);
        }
        free(list);
    }
    else if (g->user_name && initgroups(g->user_name, g->gid) < 0) {
        fatal("cannot set its supplementary groups", errno);
    }
    if (g->uid == 0) {
        fatal("refuses to run as root", 0);
    }
    if (setuid(g->uid) < 0) {
        fatal("cannot set its user id", errno);
    }
}

static void set_home_and_locale(pyhost_group *g)
{
    const char *home = g->home;
    struct passwd *me = getpwuid(geteuid());
    /* HOME is the home of the user the daemon runs as (git, dulwich, pip read files there),
     * not the one of whoever started Apache, as in mod_wsgi; Apache's children keep theirs */
    if (me && me->pw_dir) {
        setenv("HOME", me->pw_dir, 1);
    }
    if (!home && g->uid_given && g->uid != ap_unixd_config.user_id) {
        struct passwd *pw = getpwuid(g->uid);
        home = pw ? pw->pw_dir : NULL;
    }
    if (home && chdir(home) < 0) {
        fatal(apr_psprintf(g->server->process->pool, "cannot change directory to %s", home), errno);
    }
    if (g->umask >= 0) {
        umask((mode_t)g->umask);
    }
    if (g->lang) {
        setenv("LANG", g->lang, 1);
    }
    if (g->locale) {
        setenv("LC_ALL", g->locale, 1);
        if (!setlocale(LC_ALL, g->locale)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, self_server,
                         "WSGI0079: Unsupported locale setting '%s' specified for daemon process "
                         "group '%s'; daemon will run with the inherited locale. Consider "
                         "'C.UTF-8' as a fallback. (daemon process %ld; `locale -a` lists the "
                         "installed ones)",
                         g->locale, g->name, (long)getpid());
        }
    }
}

/* display-name: ps shows the argument area, so the name overwrites it. */
static void set_title(server_rec *s, const char *name)
{
    const char *const *argv = s->process->argv;
    int argc = s->process->argc;
    char *start, *end;
    apr_size_t room, len = strlen(name);
    if (!argv || argc < 1 || !argv[0]) {
        return;
    }
    start = (char *)argv[0];
    end = (char *)argv[argc - 1] + strlen(argv[argc - 1]);
    room = (apr_size_t)(end - start);
    if (len > room) {
        len = room;
    }
    memset(start, 0, room);
    memcpy(start, name, len);
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* ---- recycling ---------------------------------------------------------------------------- */

/* What a recycle request does at once, in the thread that asked (daemon/recycle.h). */
static void act_on_recycle(int how)
{
    if (how >= PYHOST_RECYCLE_DRAIN) {
        /* at once, so that a request sent again lands in the backlog for the replacement */
        pyhost_serve_stop();
    }
    else {
        pyhost_serve_stop_after_current();
    }
}

static apr_interval_time_t shutdown_timeout;

/* A process with a thread the watch answered for (it may hold the GIL forever) gives Python's
 * finalisation this long, not shutdown-timeout, so that it restarts promptly. */
#define STUCK_FINI_TIME apr_time_from_sec(1)

/* How often the stop looks whether the running requests, and the helper, are done: short
 * against shutdown-timeout, long enough not to spin. */
#define STOP_POLL apr_time_from_msec(10)

/* Once stopping has begun, nothing may keep the process alive past shutdown-timeout. */
static void *reaper(void *arg)
{
    apr_interval_time_t wait = pyhost_serve_stuck() && STUCK_FINI_TIME < shutdown_timeout
                                   ? STUCK_FINI_TIME
                                   : shutdown_timeout;
    (void)arg;
    apr_sleep(wait);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, self_server,
                 LOG_PREFIX "Python's finalisation did not end within %.1f seconds%s; exiting "
                            "now",
                 (long)getpid(), self_group->name, (double)wait / APR_USEC_PER_SEC,
                 pyhost_serve_stuck() ? " (a stuck thread may hold the GIL)" : "");
    _exit(0);
    return NULL;
}

/* Ends the process: no new requests, running ones given until deadline, then the shutdown
 * callbacks and Python's finalisation under the reaper's guard. */
static void finish(apr_time_t deadline, const char *code) __attribute__((noreturn));
static void finish(apr_time_t deadline, const char *code)
{
    pthread_t t;
    pyhost_serve_stop();
    while (pyhost_serve_active() && apr_time_now() < deadline) {
        apr_sleep(STOP_POLL);
    }
    if (pyhost_serve_active()) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, self_server,
                     LOG_PREFIX "%d request(s) still running when its time to stop ran out; "
                                "exiting",
                     (long)getpid(), self_group->name, pyhost_serve_active());
        _exit(0);
    }
    /* what the helper was asked (a stuck thread's stack) is logged first, unless a GIL it
     * needs stays held */
    deadline = apr_time_now() + STUCK_FINI_TIME;
    while (!pyhost_helper_idle() && apr_time_now() < deadline) {
        apr_sleep(STOP_POLL);
    }
    if (pthread_create(&t, NULL, reaper, NULL) == 0) {
        pthread_detach(t);
    }
    pyhost_python_fini(code);
    _exit(0);
}

/* threads=0: the service script runs in the main thread, where Python turns SIGTERM into
 * SystemExit; the watch runs in a thread of its own and stops the process through SIGTERM. */
static int service_mode;

static void service_stop(apr_time_t deadline)
{
    static int signalled;
    if (!signalled) {
        signalled = 1;
        kill(getpid(), SIGTERM);
    }
    if (apr_time_now() >= deadline) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, self_server,
                     LOG_PREFIX "the service script did not stop after SIGTERM; exiting now",
                     (long)getpid(), self_group->name);
        _exit(0);
    }
}

/* The watch loop: signals, the watch, and acting on recycle requests. It looks every tenth of
 * a second (WATCH_TICK_NSEC): request-timeout and the limits are judged that closely, and a
 * recycle request or a signal wakes it at once. */
#define WATCH_TICK_NSEC (100L * 1000 * 1000)
static void watch_loop(const sigset_t *set, pid_t parent) __attribute__((noreturn));
static void watch_loop(const sigset_t *set, pid_t parent)
{
    pyhost_group *g = self_group;
    int state = 0;
    apr_time_t deadline = 0;
    char code[PYHOST_RECYCLE_CODE_LEN] = "";
    for (;;) {
        struct timespec tick = {0, WATCH_TICK_NSEC};
        int sig = sigtimedwait(set, NULL, &tick), how;
        apr_time_t now = apr_time_now();
        char why[PYHOST_RECYCLE_WHY_LEN], code_now[PYHOST_RECYCLE_CODE_LEN];
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            apr_snprintf(why, sizeof(why), "signal %s%s", sigabbrev_np(sig),
                         pyhost_recycle_retired() ? " (retired: the Apache children of its "
                                                    "configuration have gone)"
                                                  : "");
            pyhost_daemon_recycle(PYHOST_RECYCLE_STOP, "shutdown_signal", why);
        }
        else if (sig == SIGWINCH && !pyhost_recycle_retired()) {
            pyhost_recycle_retire();
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, self_server,
                         LOG_PREFIX "retired: a graceful restart replaced its configuration; it "
                                    "serves the previous generation's Apache children until "
                                    "they have gone",
                         (long)getpid(), g->name);
        }
        else if (sig == SIGUSR1 && !pyhost_recycle_retired()) {
            pyhost_daemon_recycle(PYHOST_RECYCLE_GRACEFUL, "graceful_signal", "signal USR1");
        }
        else if (sig == SIGUSR2) {
            pyhost_helper_signal(SIGUSR2);
        }
        else if (sig == SIGXCPU) {
            pyhost_daemon_recycle(PYHOST_RECYCLE_GRACEFUL, "cpu_time_limit",
                                  "cpu-time-limit reached");
        }
        if (getppid() != parent) {
            pyhost_daemon_recycle(PYHOST_RECYCLE_STOP, "shutdown_signal",
                                  "Apache's parent process has gone");
        }
        pyhost_watch_tick(now);

        how = pyhost_recycle_read(code_now, sizeof(code_now), why, sizeof(why));
        if (how > state) {
            apr_cpystrn(code, code_now, sizeof(code));
        }
        if (how > state) {
            pyhost_stats_daemon_stopping(code, why);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, self_server, LOG_PREFIX "%s: %s",
                         (long)getpid(), g->name,
                         how == PYHOST_RECYCLE_STOP && !strcmp(code, "shutdown_signal")
                             ? "stopping"
                             : "restarting",
                         why);
            if (how == PYHOST_RECYCLE_GRACEFUL) {
                deadline = now + (!strcmp(code, "graceful_signal") && g->eviction_timeout
                                      ? g->eviction_timeout
                                      : g->graceful_timeout);
            }
            else {
                pyhost_serve_stop();
                deadline = now + g->shutdown_timeout +
                           (how == PYHOST_RECYCLE_DRAIN ? g->graceful_timeout : 0);
            }
            state = how;
        }
        if (state && service_mode) {
            service_stop(deadline + g->shutdown_timeout);
        }
        else if (state && (!pyhost_serve_active() || now >= deadline)) {
            finish(state == PYHOST_RECYCLE_GRACEFUL ? now + g->shutdown_timeout : deadline, code);
        }
    }
}

static struct {
    sigset_t set;
    pid_t parent;
} watch_args;

static void *watch_thread(void *arg)
{
    (void)arg;
    watch_loop(&watch_args.set, watch_args.parent);
    return NULL;
}

/* threads=0: the WSGIImportScript scripts of the group are the process's work. */
static void run_service(const sigset_t *set, pid_t parent) __attribute__((noreturn));
static void run_service(const sigset_t *set, pid_t parent)
{
    sigset_t python_sigs;
    pthread_t t;
    service_mode = 1;
    watch_args.set = *set;
    watch_args.parent = parent;
    sigdelset(&watch_args.set, SIGTERM);
    sigdelset(&watch_args.set, SIGINT);
    sigdelset(&watch_args.set, SIGHUP);
    if (pyhost_watch_start(self_group, self_server) < 0) {
        fatal("cannot start its watch", 0);
    }
    if (pthread_create(&t, NULL, watch_thread, NULL)) {
        fatal("cannot start its watch thread", errno);
    }
    pyhost_recycle_init(t, act_on_recycle);
    sigemptyset(&python_sigs);
    sigaddset(&python_sigs, SIGTERM);
    sigaddset(&python_sigs, SIGINT);
    sigaddset(&python_sigs, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &python_sigs, NULL);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, self_server,
                 LOG_PREFIX "running its service script(s) (threads=0)", (long)getpid(),
                 self_group->name);
    pyhost_run_service(self_group->name);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, self_server,
                 LOG_PREFIX "its service script(s) ended; the process exits", (long)getpid(),
                 self_group->name);
    pyhost_python_fini("service_exit");
    _exit(0);
}

void pyhost_daemon_main(pyhost_group *g, int process, server_rec *s)
{
    pid_t parent = getppid();
    sigset_t set;
    apr_pool_t *p;
    pyhost_stats_daemon_init(g, process);

    self_group = g;
    self_server = g->server;
    apr_pool_create(&p, NULL);
    shed_apache(g);
    set_limits(g);
    drop_privileges(g);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != parent) {
        _exit(0);
    }
    set_home_and_locale(g);
    if (g->display_name) {
        set_title(s, g->display_name);
    }
    pyhost_process_describe_daemon(g);

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGXCPU);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, PYHOST_SIG_WAKE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pyhost_recycle_init(pthread_self(), act_on_recycle);

    if (pyhost_python_init(p, g->server) < 0) {
        fatal("cannot start Python", 0);
    }
    shutdown_timeout = g->shutdown_timeout;
    if (!g->threads) {
        run_service(&set, parent);
    }
    pyhost_import_scripts(g->name);
    if (pyhost_serve_start(g, g->server, pyhost_shm->secret) < 0) {
        fatal("cannot start its threads", 0);
    }
    if (pyhost_watch_start(g, g->server) < 0) {
        fatal("cannot start its watch", 0);
    }
    pyhost_stats_daemon_ready();
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, self_server, LOG_PREFIX "ready with %d thread(s)",
                 (long)getpid(), g->name, g->threads);
    watch_loop(&set, parent);
}
