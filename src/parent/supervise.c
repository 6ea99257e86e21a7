/* parent/supervise.c: supervision of daemon processes by Apache's parent.
 *
 * Owns, in the parent: the scoreboard in shared memory and the connection secret, each
 * group's listening UNIX socket (owned by Apache's child user, mode 0600), forking the
 * processes, noticing at once when one ends (a SIGCHLD handler records how, from waitid
 * without reaping, and wakes the MPM's loop), replacing it, and stopping all of them on
 * restart or stop (SIGTERM, then SIGKILL after shutdown-timeout) with the sockets removed. */
#include "shared/daemon.h"
#include "shared/stats.h"

#include "ap_mpm.h"
#include "http_core.h"
#include "http_log.h"
#include "mpm_common.h"
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
        apr_sleep(apr_time_from_msec(10));
    }
}

/* ---- sockets ----------------------------------------------------------------------------- */

static apr_status_t remove_socket(void *data)
{
    pyhost_group *g = data;
    if (getpid() == parent_pid) {
        if (g->listen_fd >= 0) {
            close(g->listen_fd);
            g->listen_fd = -1;
        }
        unlink(g->socket_path);
    }
    return APR_SUCCESS;
}

static int make_socket(apr_pool_t *pconf, server_rec *s, pyhost_group *g, unsigned generation)
{
    const char *prefix = pyhost_g.socket_prefix
                             ? ap_server_root_relative(pconf, pyhost_g.socket_prefix)
                             : ap_runtime_dir_relative(pconf, "wsgi");
    struct sockaddr_un addr;
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
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, g->socket_path);
    unlink(g->socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, g->listen_backlog) < 0 ||
        chown(g->socket_path, g->socket_uid_given ? g->socket_uid : ap_unixd_config.user_id,
              (gid_t)-1) < 0 ||
        chmod(g->socket_path, 0600) < 0) {
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

/* pconf cleanup in the parent: every daemon ends, within its shutdown-timeout. */
static apr_status_t stop_daemons(void *data)
{
    apr_time_t deadline = 0;
    int i, left;
    (void)data;
    if (getpid() != parent_pid) {
        return APR_SUCCESS;
    }
    stopping = 1;
    for (i = 0; i < daemons->nelts; i++) {
        daemon_rec *d = APR_ARRAY_IDX(daemons, i, daemon_rec *);
        pid_t pid = pyhost_shm->slots[d->group->slot_base + d->process].pid;
        apr_time_t until = apr_time_now() + d->group->shutdown_timeout + apr_time_from_sec(1);
        if (pid > 0) {
            kill(pid, SIGTERM);
        }
        if (until > deadline) {
            deadline = until;
        }
    }
    do {
        left = 0;
        for (i = 0; i < daemons->nelts; i++) {
            daemon_rec *d = APR_ARRAY_IDX(daemons, i, daemon_rec *);
            pyhost_slot *slot = &pyhost_shm->slots[d->group->slot_base + d->process];
            if (slot->pid > 0) {
                pid_t r = waitpid(slot->pid, NULL, WNOHANG);
                if (r == slot->pid || (r < 0 && errno == ECHILD)) {
                    slot->pid = 0;
                }
                else if (apr_time_now() >= deadline) {
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                                 "daemon process %ld of group '%s' did not stop within its "
                                 "shutdown-timeout; killing it",
                                 (long)slot->pid, d->group->name);
                    kill(slot->pid, SIGKILL);
                    waitpid(slot->pid, NULL, 0);
                    slot->pid = 0;
                }
                else {
                    left++;
                }
            }
        }
        if (left) {
            apr_sleep(apr_time_from_msec(10));
        }
    } while (left);
    signal(SIGCHLD, SIG_DFL);
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
        g->header_buffer_size = 32768;
    }
    if (!g->response_buffer_size) {
        g->response_buffer_size = 65536;
    }
}

int pyhost_daemons_start(apr_pool_t *pconf, server_rec *s)
{
    static const char *const key = "mod_pyhost.generation";
    unsigned *generation;
    apr_shm_t *shm;
    apr_size_t size;
    int i, total = 0;
    struct sigaction sa;

    if (!pyhost_g.groups->nelts) {
        return OK;
    }
    parent_pid = getpid();
    main_server = s;
    stopping = 0;
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
    if (apr_generate_random_bytes(pyhost_shm->secret, PYHOST_SECRET_LEN) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "cannot generate the daemon secret");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
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
            if (spawn(d, s) < 0) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    return OK;
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
