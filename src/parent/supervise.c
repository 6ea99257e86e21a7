/* parent/supervise.c: supervision of daemon processes by Apache's parent.
 *
 * Owns, in the parent: the scoreboard in shared memory and the connection secret (one for
 * the life of the parent, so that a child of an older generation still proves itself), each
 * group's listening UNIX socket (owned by Apache's child user, mode 0600), forking the
 * processes, noticing at once when one ends (a SIGCHLD handler records how, from waitid
 * without reaping, and wakes the MPM's loop), replacing it, and their end: on stop or hard
 * restart SIGTERM, then SIGKILL after shutdown-timeout, with the sockets removed; on a
 * graceful restart the processes of the old configuration are retired instead, as Apache's
 * own children are: they go on serving what the old generation's children still send, on
 * their old socket, and are stopped once the last of those children has gone. */
#include "shared/daemon.h"
#include "shared/stats.h"
#include "shared/alloc.h"

#include "ap_mpm.h"
#include "http_core.h"
#include "http_log.h"
#include "mpm_common.h"
#include "scoreboard.h"
#include "unixd.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

pyhost_shared *pyhost_shm;

typedef struct {
    pyhost_group *group;
    int process;
    apr_proc_t proc;
    apr_pool_t *pool;
} daemon_rec;

static apr_array_header_t *daemons; /* of daemon_rec *, in the parent */
static server_rec *main_server;
static pid_t parent_pid;
static int stopping;
static int spawn_pending; /* the processes of this configuration have not been forked yet */
static int spawn_all(void);

/* Daemon processes that a graceful restart retired. Kept in Apache's retained data: the
 * module itself is unloaded and loaded again at each restart, so each generation registers
 * the live ones with the MPM's reaper anew (retired_register). */
#define RETIRED_MAX 128 /* more live retired processes than this are stopped at the restart */
/* A retired process's group name, for its log lines only: longer names are cut. */
#define GROUP_NAME_MAX 64

/* While waiting for a daemon's end (its death recorded, its processes reaped): short against
 * the waits (milliseconds to shutdown-timeout), long enough not to spin. */
#define END_POLL apr_time_from_msec(10)

/* The group's socket: only Apache's child user (or socket-user) may connect. */
#define SOCKET_MODE 0600

/* mod_wsgi's defaults for header-buffer-size (the longest response header line) and
 * response-buffer-size (what is read from the daemon at once). */
#define DEFAULT_HEADER_BUFFER_SIZE   32768
#define DEFAULT_RESPONSE_BUFFER_SIZE 65536
typedef struct {
    apr_proc_t proc; /* pid 0: a free entry */
    int signalled;   /* SIGTERM sent */
    char group[GROUP_NAME_MAX];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* its socket */
} retired_rec;

typedef struct {
    unsigned char secret[PYHOST_SECRET_LEN];
    int have_secret;
    retired_rec retired[RETIRED_MAX];
} retained_state;

static retained_state *kept;

/* ---- how a process ended ----------------------------------------------------------------- */

static void on_sigchld(int sig)
{
    int saved = errno, i;
    (void)sig;
    if (!pyhost_shm) {
        return;
    }
    for (i = 0; i < pyhost_shm->nslots; i++) {
        pyhost_slot *s = &pyhost_shm->slots[i];
        siginfo_t si;
        pid_t pid = s->pid;
        if (pid <= 0 || pid == s->dead_pid) {
            continue;
        }
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
            s->dead_code = si.si_code;
            s->dead_status = si.si_status;
            __atomic_store_n(&s->dead_pid, pid, __ATOMIC_RELEASE);
        }
    }
    errno = saved;
}

static const char *describe_end(apr_pool_t *p, int code, int status)
{
    if (code == CLD_EXITED) {
        return apr_psprintf(p, "exited with status %d", status);
    }
    return apr_psprintf(p, "killed by signal %d (%s%s)%s", status,
                        sigabbrev_np(status) ? sigabbrev_np(status) : "?",
                        status == SIGKILL ? "; possibly the kernel's out-of-memory killer" : "",
                        code == CLD_DUMPED ? ", core dumped" : "");
}

const char *pyhost_daemon_death(apr_pool_t *p, pid_t pid, apr_interval_time_t wait)
{
    apr_time_t until = apr_time_now() + wait;
    int i;
    if (!pyhost_shm || pid <= 0) {
        return NULL;
    }
    for (;;) {
        for (i = 0; i < pyhost_shm->nslots; i++) {
            pyhost_slot *s = &pyhost_shm->slots[i];
            if (__atomic_load_n(&s->dead_pid, __ATOMIC_ACQUIRE) == pid) {
                return describe_end(p, s->dead_code, s->dead_status);
            }
        }
        if (apr_time_now() >= until) {
            return NULL;
        }
        apr_sleep(END_POLL);
    }
}

/* ---- sockets ----------------------------------------------------------------------------- */

static int retired_uses(const char *path);

/* pconf cleanup: the parent's copy of the socket goes; its name too, unless retired
 * processes still serve on it (they remove it when the last of them has gone). */
static apr_status_t remove_socket(void *data)
{
    pyhost_group *g = data;
    if (getpid() == parent_pid) {
        if (g->listen_fd >= 0) {
            close(g->listen_fd);
            g->listen_fd = -1;
        }
        if (!retired_uses(g->socket_path)) {
            unlink(g->socket_path);
        }
    }
    return APR_SUCCESS;
}

static int make_socket(apr_pool_t *pconf, server_rec *s, pyhost_group *g, unsigned generation)
{
    const char *prefix = pyhost_g.socket_prefix
                             ? ap_server_root_relative(pconf, pyhost_g.socket_prefix)
                             : ap_runtime_dir_relative(pconf, "wsgi");
    struct sockaddr_un addr;
    const char *tmp;
    int fd;

    if (pyhost_g.socket_rotation) {
        g->socket_path = apr_psprintf(pconf, "%s.%ld.%u.%d.sock", prefix, (long)parent_pid,
                                      generation, g->index);
    }
    else {
        g->socket_path = apr_psprintf(pconf, "%s.%ld.u%ld.%d.sock", prefix, (long)parent_pid,
                                      (long)ap_unixd_config.user_id, g->index);
    }
    if (strlen(g->socket_path) >= sizeof(addr.sun_path)) {
        g->unavailable = apr_psprintf(pconf,
                                      "its socket path '%s' is longer than %d bytes; use a "
                                      "shorter WSGISocketPrefix",
                                      g->socket_path, (int)sizeof(addr.sun_path) - 1);
        return -1;
    }
    /* Made under a name of its own, then renamed over the path: with WSGISocketRotation Off
     * the path is the one of the previous generation, whose retired processes serve on it
     * until now, so a connection never finds the name missing. */
    tmp = strlen(g->socket_path) + 1 < sizeof(addr.sun_path)
              ? apr_pstrcat(pconf, g->socket_path, "~", NULL)
              : g->socket_path;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, tmp);
    unlink(tmp);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, g->listen_backlog) < 0 ||
        chown(tmp, g->socket_uid_given ? g->socket_uid : ap_unixd_config.user_id, (gid_t)-1) < 0 ||
        chmod(tmp, SOCKET_MODE) < 0 || rename(tmp, g->socket_path) < 0) {
        g->unavailable = apr_psprintf(pconf,
                                      "its socket '%s' cannot be created: %s (does the "
                                      "directory of WSGISocketPrefix exist, and can Apache's "
                                      "user reach it?)",
                                      g->socket_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (g->send_buffer_size) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &g->send_buffer_size, sizeof(int));
    }
    if (g->receive_buffer_size) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &g->receive_buffer_size, sizeof(int));
    }
    g->listen_fd = fd;
    apr_pool_cleanup_register(pconf, g, remove_socket, apr_pool_cleanup_null);
    return 0;
}

/* ---- processes of a configuration a graceful restart replaced ---------------------------- */

/* Whether an Apache child of an older generation than the running one is alive (other than
 * the one whose end is being reported). */
static int old_children_left(pid_t ending)
{
    int i, limit = 0;
    if (!ap_scoreboard_image) {
        return 0;
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    for (i = 0; i < limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        if (ps->pid > 0 && ps->pid != ending &&
            ps->generation != ap_scoreboard_image->global->running_generation) {
            return 1;
        }
    }
    return 0;
}

/* Once the old generation's children are gone, nothing can send the retired processes a
 * request: they stop (each says GOODBYE to what it still holds, and ends). */
static void retired_check(pid_t ending)
{
    int i, n = 0;
    if (!kept || old_children_left(ending)) {
        return;
    }
    for (i = 0; i < RETIRED_MAX; i++) {
        retired_rec *r = &kept->retired[i];
        if (r->proc.pid > 0 && !r->signalled) {
            r->signalled = 1;
            kill(r->proc.pid, SIGTERM);
            n++;
        }
    }
    if (n) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                     "the Apache children of the previous configuration have ended: its %d "
                     "daemon process(es) stop",
                     n);
    }
}

/* Whether path is the socket of a group of the running configuration or of another live
 * retired process. */
static int path_in_use(const char *path, const retired_rec *except)
{
    int i;
    for (i = 0; i < RETIRED_MAX; i++) {
        const retired_rec *r = &kept->retired[i];
        if (r != except && r->proc.pid > 0 && !strcmp(r->path, path)) {
            return 1;
        }
    }
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        const pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        if (g->socket_path && !strcmp(g->socket_path, path)) {
            return 1;
        }
    }
    return 0;
}

static void retired_gone(retired_rec *r)
{
    if (r->path[0] && !path_in_use(r->path, r)) {
        unlink(r->path);
    }
    memset(r, 0, sizeof(*r));
}

static void retired_maintenance(int reason, void *data, int status)
{
    retired_rec *r = data;
    (void)status;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(r);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                     "retired daemon process %ld of group '%s' has ended", (long)r->proc.pid,
                     r->group);
        retired_gone(r);
        break;
    case APR_OC_REASON_RESTART: /* a stop or hard restart: no more waiting for anyone */
        if (r->proc.pid > 0) {
            r->signalled = 1;
            kill(r->proc.pid, SIGTERM);
        }
        break;
    default:
        break;
    }
}

/* Each generation tells the MPM's reaper about the retired processes still alive. */
static void retired_register(apr_pool_t *pconf)
{
    int i;
    for (i = 0; i < RETIRED_MAX; i++) {
        retired_rec *r = &kept->retired[i];
        if (r->proc.pid <= 0) {
            continue;
        }
        if (kill(r->proc.pid, 0) < 0 && errno == ESRCH) {
            retired_gone(r);
            continue;
        }
        apr_proc_other_child_register(&r->proc, retired_maintenance, r, NULL, pconf);
    }
}

/* A graceful restart: daemon d goes on serving the old generation. 0, or -1 if there is no
 * room to keep track of it. */
static int retire(daemon_rec *d, pid_t pid)
{
    int i;
    for (i = 0; i < RETIRED_MAX; i++) {
        retired_rec *r = &kept->retired[i];
        if (r->proc.pid <= 0) {
            memset(r, 0, sizeof(*r));
            r->proc = d->proc;
            r->proc.pid = pid;
            apr_cpystrn(r->group, d->group->name, sizeof(r->group));
            apr_cpystrn(r->path, d->group->socket_path, sizeof(r->path));
            kill(pid, SIGWINCH); /* routine recycles no longer apply (daemon/recycle.h) */
            return 0;
        }
    }
    return -1;
}

static void on_child_status(server_rec *s, pid_t pid, ap_generation_t gen, int slot,
                            mpm_child_status state)
{
    (void)s;
    (void)gen;
    (void)slot;
    if (getpid() == parent_pid && (state == MPM_CHILD_EXITED || state == MPM_CHILD_LOST_SLOT)) {
        retired_check(pid);
        pyhost_stats_fold(); /* what its last requests added to a retired metrics record */
    }
}

/* The MPM's periodic call in the parent: a safety net for an end the status hook missed, and
 * the fold of what the old generation's requests in flight count after a restart. */
static int on_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    (void)s;
    if (getpid() == parent_pid) {
        retired_check(0);
        pyhost_stats_fold();
    }
    return DECLINED;
}

static int on_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type);

void pyhost_daemons_register_hooks(void)
{
    /* after the core's, which makes the scoreboard */
    ap_hook_pre_mpm(on_pre_mpm, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_child_status(on_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(on_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}

/* ---- processes --------------------------------------------------------------------------- */

static void maintenance(int reason, void *data, int status);

static int spawn(daemon_rec *d, server_rec *s)
{
    pyhost_slot *slot = &pyhost_shm->slots[d->group->slot_base + d->process];
    apr_status_t rv = apr_proc_fork(&d->proc, d->pool);
    if (rv == APR_INCHILD) {
        pyhost_daemon_main(d->group, d->process, s);
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "WSGIDaemonProcess %s: cannot fork daemon process %d", d->group->name,
                     d->process);
        return -1;
    }
    slot->pid = d->proc.pid;
    slot->started = apr_time_now();
    pyhost_stats_spawned(d->group->slot_base + d->process, d->proc.pid);
    apr_proc_other_child_register(&d->proc, maintenance, d, NULL, d->pool);
    return 0;
}

static int mpm_stopping(void)
{
    int state = AP_MPMQ_RUNNING;
    ap_mpm_query(AP_MPMQ_MPM_STATE, &state);
    return stopping || state == AP_MPMQ_STOPPING;
}

static void maintenance(int reason, void *data, int status)
{
    daemon_rec *d = data;
    pyhost_slot *slot = &pyhost_shm->slots[d->group->slot_base + d->process];
    (void)status;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(d);
        on_sigchld(SIGCHLD);
        if (slot->dead_pid != d->proc.pid) {
            slot->dead_pid = d->proc.pid;
            slot->dead_code = CLD_EXITED;
            slot->dead_status = status;
        }
        pyhost_stats_ended(d->group->slot_base + d->process, mpm_stopping(),
                           describe_end(d->pool, slot->dead_code, slot->dead_status));
        slot->pid = 0;
        if (mpm_stopping()) {
            break;
        }
        slot->restarts++;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                     "daemon process %ld of group '%s' %s; starting a new one", (long)d->proc.pid,
                     d->group->name, describe_end(d->pool, slot->dead_code, slot->dead_status));
        spawn(d, main_server);
        break;
    case APR_OC_REASON_RESTART:
        /* Apache restarts or stops: the daemons start draining now. */
        stopping = 1;
        apr_proc_other_child_unregister(d);
        if (slot->pid > 0) {
            kill(slot->pid, SIGTERM);
        }
        break;
    default:
        break;
    }
}

/* Whether the pconf cleanup under way is a graceful restart's: the configuration is being
 * replaced and the MPM did not stop the children (it calls maintenance() with
 * APR_OC_REASON_RESTART on a stop or hard restart). */
static int graceful_restart(void)
{
    return !stopping && ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_DESTROY_CONFIG;
}

static int retired_uses(const char *path)
{
    int i;
    for (i = 0; kept && i < RETIRED_MAX; i++) {
        if (kept->retired[i].proc.pid > 0 && !strcmp(kept->retired[i].path, path)) {
            return 1;
        }
    }
    return 0;
}

/* Waits for the processes of pids (n of them, 0 for a free place) to end, SIGKILL at
 * deadline; each one's socket name goes with the retired ones (retired, or NULL). */
static void reap_all(pid_t *pids, int n, apr_time_t deadline, retired_rec *retired)
{
    int i, left;
    do {
        left = 0;
        for (i = 0; i < n; i++) {
            pid_t r;
            if (pids[i] <= 0) {
                continue;
            }
            r = waitpid(pids[i], NULL, WNOHANG);
            if (r == pids[i] || (r < 0 && errno == ECHILD)) {
                pids[i] = 0;
            }
            else if (apr_time_now() >= deadline) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                             "daemon process %ld did not stop within its shutdown-timeout; "
                             "killing it",
                             (long)pids[i]);
                kill(pids[i], SIGKILL);
                waitpid(pids[i], NULL, 0);
                pids[i] = 0;
            }
            else {
                left++;
            }
            if (!pids[i] && retired) {
                retired_gone(&retired[i]);
            }
        }
        if (left) {
            apr_sleep(END_POLL);
        }
    } while (left);
}

/* pconf cleanup in the parent. A graceful restart retires the daemons (see the top of the
 * file); a stop or hard restart ends every one, retired ones too, within shutdown-timeout. */
static apr_status_t stop_daemons(void *data)
{
    apr_time_t deadline = 0;
    apr_interval_time_t longest = 0;
    pid_t *pids, retired_pids[RETIRED_MAX];
    int i, graceful = graceful_restart();
    (void)data;
    if (getpid() != parent_pid) {
        return APR_SUCCESS;
    }
    stopping = 1;
    /* the handler is in this module, which is unloaded with the configuration */
    signal(SIGCHLD, SIG_DFL);
    pids = pyhost_xcalloc((size_t)daemons->nelts + 1, sizeof(pid_t));
    for (i = 0; i < daemons->nelts; i++) {
        daemon_rec *d = APR_ARRAY_IDX(daemons, i, daemon_rec *);
        pid_t pid = pyhost_shm->slots[d->group->slot_base + d->process].pid;
        if (pid <= 0) {
            continue;
        }
        if (graceful && retire(d, pid) == 0) {
            continue;
        }
        kill(pid, SIGTERM);
        pids[i] = pid;
        if (d->group->shutdown_timeout > longest) {
            longest = d->group->shutdown_timeout;
        }
    }
    deadline = apr_time_now() + longest + apr_time_from_sec(1);
    reap_all(pids, daemons->nelts, deadline, NULL);
    free(pids);
    if (!graceful) {
        for (i = 0; i < RETIRED_MAX; i++) {
            retired_pids[i] = kept->retired[i].proc.pid;
            if (retired_pids[i] > 0) {
                kill(retired_pids[i], SIGTERM);
            }
        }
        reap_all(retired_pids, RETIRED_MAX, deadline, kept->retired);
    }
    pyhost_stats_reloaded();
    pyhost_shm = NULL;
    return APR_SUCCESS;
}

/* ---- configuration hooks ----------------------------------------------------------------- */

int pyhost_daemons_check(server_rec *s)
{
    int i;
    for (i = 0; i < pyhost_g.import_scripts->nelts; i++) {
        const pyhost_script *sc = &APR_ARRAY_IDX(pyhost_g.import_scripts, i, pyhost_script);
        if (*sc->process_group && !pyhost_group_find(sc->process_group)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         "WSGIScriptAlias %s: process-group '%s' names no WSGIDaemonProcess",
                         sc->path, sc->process_group);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static void fill_defaults(pyhost_group *g, server_rec *s)
{
    if (!g->uid_given) {
        g->uid = ap_unixd_config.user_id;
        g->user_name = ap_unixd_config.user_name;
    }
    if (!g->gid_given) {
        g->gid = ap_unixd_config.group_id;
    }
    if (!g->socket_timeout) {
        g->socket_timeout = s->timeout;
    }
    if (!g->response_socket_timeout) {
        g->response_socket_timeout = g->socket_timeout;
    }
    if (!g->header_buffer_size) {
        g->header_buffer_size = DEFAULT_HEADER_BUFFER_SIZE;
    }
    if (!g->response_buffer_size) {
        g->response_buffer_size = DEFAULT_RESPONSE_BUFFER_SIZE;
    }
}

int pyhost_daemons_start(apr_pool_t *pconf, server_rec *s)
{
    static const char *const key = "mod_pyhost.generation";
    static const char *const kept_key = "mod_pyhost.retained";
    unsigned *generation;
    apr_shm_t *shm;
    apr_size_t size;
    int i, total = 0;
    struct sigaction sa;

    parent_pid = getpid();
    main_server = s;
    stopping = 0;
    spawn_pending = 0;
    kept = ap_retained_data_get(kept_key);
    if (!kept) {
        kept = ap_retained_data_create(kept_key, sizeof(*kept));
        memset(kept, 0, sizeof(*kept));
    }
    if (!kept->have_secret) {
        if (apr_generate_random_bytes(kept->secret, PYHOST_SECRET_LEN) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "cannot generate the daemon secret");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        kept->have_secret = 1;
    }
    retired_register(pconf);
    retired_check(0);
    if (!pyhost_g.groups->nelts) {
        return OK;
    }
    generation = ap_retained_data_get(key);
    if (!generation) {
        generation = ap_retained_data_create(key, sizeof(*generation));
    }
    (*generation)++;
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        g->slot_base = total;
        total += g->processes;
    }
    size = sizeof(pyhost_shared) + (apr_size_t)total * sizeof(pyhost_slot);
    if (apr_shm_create(&shm, size, NULL, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     "cannot create shared memory for daemon processes");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    pyhost_shm = apr_shm_baseaddr_get(shm);
    memset(pyhost_shm, 0, size);
    pyhost_shm->nslots = total;
    memcpy(pyhost_shm->secret, kept->secret, PYHOST_SECRET_LEN);
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        fill_defaults(g, s);
        g->unavailable = NULL;
        if (make_socket(pconf, s, g, *generation) < 0) {
            /* as in mod_wsgi, Apache serves on: this group's requests get 503 */
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         "WSGIDaemonProcess %s is not started: %s; its requests are answered "
                         "with 503",
                         g->name, g->unavailable);
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);

    daemons = apr_array_make(pconf, total, sizeof(daemon_rec *));
    apr_pool_cleanup_register(pconf, NULL, stop_daemons, apr_pool_cleanup_null);
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        int n;
        for (n = 0; !g->unavailable && n < g->processes; n++) {
            daemon_rec *d = apr_pcalloc(pconf, sizeof(*d));
            d->group = g;
            d->process = n;
            d->pool = pconf;
            APR_ARRAY_PUSH(daemons, daemon_rec *) = d;
        }
    }
    /* The processes inherit Apache's scoreboard (mod_wsgi.server_metrics() reads it): on the
     * first start the MPM makes it after this hook, so they are forked in pre_mpm then; on a
     * restart it is kept from before and cleared in place, so they can start now. */
    spawn_pending = 1;
    return ap_scoreboard_image ? spawn_all() : OK;
}

static int spawn_all(void)
{
    int i;
    if (!spawn_pending) {
        return OK;
    }
    spawn_pending = 0;
    for (i = 0; i < daemons->nelts; i++) {
        if (spawn(APR_ARRAY_IDX(daemons, i, daemon_rec *), main_server) < 0) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int on_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type)
{
    (void)p;
    (void)sb_type;
    return spawn_all();
}

void pyhost_daemons_child_init(apr_pool_t *pchild)
{
    int i;
    (void)pchild;
    if (!pyhost_shm) {
        return;
    }
    signal(SIGCHLD, SIG_DFL);
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, pyhost_group *);
        if (g->listen_fd >= 0) {
            close(g->listen_fd);
            g->listen_fd = -1;
        }
    }
}
