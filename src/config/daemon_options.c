/* config/daemon_options.c: WSGIDaemonProcess and its options.
 *
 * Owns the table of every option mod_wsgi 6 accepts, their defaults and the validation of
 * their values (strict: a value that is not what the option takes fails the configuration,
 * naming the group, the option and the value), and the registration of groups by name. */
#include "config/config.h"

#include "http_log.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

typedef enum {
    OPT_INT,     /* integer >= min */
    OPT_SECONDS, /* whole seconds >= 0, stored as apr_interval_time_t */
    OPT_BYTES,   /* byte count, K/M/G suffix allowed, 0 or >= min */
    OPT_STRING,
    OPT_PATH, /* absolute path */
    OPT_FLAG, /* On/Off */
    OPT_FLOAT /* positive seconds */
} opt_type;

typedef const char *(*opt_special)(cmd_parms *cmd, pyhost_group *g, const char *value);

typedef struct {
    const char *name;
    opt_type type;
    size_t offset;
    long long min;
    long long max;
    opt_special special; /* parses the value itself when set */
} opt_def;

#define OFF(f) APR_OFFSETOF(pyhost_group, f)

static const char *opt_error(cmd_parms *cmd, pyhost_group *g, const char *opt, const char *value,
                             const char *why)
{
    return apr_psprintf(cmd->pool, "WSGIDaemonProcess %s: invalid value '%s' for %s: %s", g->name,
                        value, opt, why);
}

static int parse_uid(const char *value, uid_t *uid, const char **name)
{
    struct passwd *pw;
    if (value[0] == '#') {
        char *end;
        long v = strtol(value + 1, &end, 10);
        if (!value[1] || *end || v < 0) {
            return -1;
        }
        *uid = (uid_t)v;
        pw = getpwuid(*uid);
        *name = pw ? pw->pw_name : NULL;
        return 0;
    }
    pw = getpwnam(value);
    if (!pw) {
        return -1;
    }
    *uid = pw->pw_uid;
    *name = pw->pw_name;
    return 0;
}

static int parse_gid(const char *value, gid_t *gid)
{
    struct group *gr;
    if (value[0] == '#') {
        char *end;
        long v = strtol(value + 1, &end, 10);
        if (!value[1] || *end || v < 0) {
            return -1;
        }
        *gid = (gid_t)v;
        return 0;
    }
    gr = getgrnam(value);
    if (!gr) {
        return -1;
    }
    *gid = gr->gr_gid;
    return 0;
}

static const char *opt_user(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    const char *name = NULL;
    if (parse_uid(value, &g->uid, &name) < 0) {
        return opt_error(cmd, g, "user", value, "no such user");
    }
    if (g->uid == 0) {
        return opt_error(cmd, g, "user", value, "daemon processes may not run as root");
    }
    g->user_name = apr_pstrdup(cmd->pool, name ? name : value);
    g->uid_given = 1;
    return NULL;
}

static const char *opt_group(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    if (parse_gid(value, &g->gid) < 0) {
        return opt_error(cmd, g, "group", value, "no such group");
    }
    g->gid_given = 1;
    return NULL;
}

static const char *opt_supplementary_groups(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    char *list = apr_pstrdup(cmd->pool, value), *last, *word;
    g->groups = apr_pcalloc(cmd->pool, sizeof(gid_t) * (NGROUPS_MAX + 1));
    g->ngroups = 0;
    for (word = apr_strtok(list, ",", &last); word; word = apr_strtok(NULL, ",", &last)) {
        if (g->ngroups == NGROUPS_MAX) {
            return opt_error(cmd, g, "supplementary-groups", value, "too many groups");
        }
        if (parse_gid(word, &g->groups[g->ngroups]) < 0) {
            return opt_error(cmd, g, "supplementary-groups", value,
                             apr_psprintf(cmd->pool, "no such group '%s'", word));
        }
        g->ngroups++;
    }
    if (!g->ngroups) {
        return opt_error(cmd, g, "supplementary-groups", value, "expected group1,group2,...");
    }
    return NULL;
}

static const char *opt_umask(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    char *end;
    long v = strtol(value, &end, 8);
    if (!*value || *end || v < 0 || v > 0777) {
        return opt_error(cmd, g, "umask", value, "expected an octal mask such as 0022");
    }
    g->umask = (int)v;
    return NULL;
}

static const char *opt_display_name(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    g->display_name =
        !strcmp(value, "%{GROUP}") ? apr_psprintf(cmd->pool, "(wsgi:%s)", g->name) : value;
    return NULL;
}

static const char *opt_socket_user(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    const char *name;
    if (parse_uid(value, &g->socket_uid, &name) < 0) {
        return opt_error(cmd, g, "socket-user", value, "no such user");
    }
    g->socket_uid_given = 1;
    return NULL;
}

static const char *opt_script_user(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    const char *name;
    if (parse_uid(value, &g->script_uid, &name) < 0) {
        return opt_error(cmd, g, "script-user", value, "no such user");
    }
    g->script_user_given = 1;
    return NULL;
}

static const char *opt_script_group(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    if (parse_gid(value, &g->script_gid) < 0) {
        return opt_error(cmd, g, "script-group", value, "no such group");
    }
    g->script_group_given = 1;
    return NULL;
}

static const char *opt_chroot(cmd_parms *cmd, pyhost_group *g, const char *value)
{
    if (value[0] != '/') {
        return opt_error(cmd, g, "chroot", value, "expected an absolute path");
    }
    if (geteuid() != 0) {
        return opt_error(cmd, g, "chroot", value, "needs Apache to be started as root");
    }
    g->chroot = value;
    return NULL;
}

static const opt_def options[] = {
    {"processes", OPT_INT, OFF(processes), 1, 100000, NULL},
    {"threads", OPT_INT, OFF(threads), 0, 65533, NULL},
    {"display-name", OPT_STRING, 0, 0, 0, opt_display_name},
    {"user", OPT_STRING, 0, 0, 0, opt_user},
    {"group", OPT_STRING, 0, 0, 0, opt_group},
    {"supplementary-groups", OPT_STRING, 0, 0, 0, opt_supplementary_groups},
    {"umask", OPT_STRING, 0, 0, 0, opt_umask},
    {"chroot", OPT_STRING, 0, 0, 0, opt_chroot},
    {"home", OPT_PATH, OFF(home), 0, 0, NULL},
    {"lang", OPT_STRING, OFF(lang), 0, 0, NULL},
    {"locale", OPT_STRING, OFF(locale), 0, 0, NULL},
    {"python-home", OPT_PATH, OFF(python_home), 0, 0, NULL},
    {"python-path", OPT_STRING, OFF(python_path), 0, 0, NULL},
    {"python-eggs", OPT_PATH, OFF(python_eggs), 0, 0, NULL},
    {"switch-interval", OPT_FLOAT, OFF(switch_interval), 0, 0, NULL},
    {"stack-size", OPT_BYTES, OFF(stack_size), 65536, 0, NULL},
    {"listen-backlog", OPT_INT, OFF(listen_backlog), 1, 65535, NULL},
    {"connect-timeout", OPT_SECONDS, OFF(connect_timeout), 0, 0, NULL},
    {"socket-timeout", OPT_SECONDS, OFF(socket_timeout), 0, 0, NULL},
    {"queue-timeout", OPT_SECONDS, OFF(queue_timeout), 0, 0, NULL},
    {"response-socket-timeout", OPT_SECONDS, OFF(response_socket_timeout), 0, 0, NULL},
    {"response-flush-delay", OPT_INT, OFF(response_flush_delay), 0, 60000, NULL},
    {"header-buffer-size", OPT_BYTES, OFF(header_buffer_size), 8192, INT_MAX, NULL},
    {"response-buffer-size", OPT_BYTES, OFF(response_buffer_size), 65536, INT_MAX, NULL},
    {"send-buffer-size", OPT_BYTES, OFF(send_buffer_size), 512, INT_MAX, NULL},
    {"receive-buffer-size", OPT_BYTES, OFF(receive_buffer_size), 512, INT_MAX, NULL},
    {"socket-user", OPT_STRING, 0, 0, 0, opt_socket_user},
    {"script-user", OPT_STRING, 0, 0, 0, opt_script_user},
    {"script-group", OPT_STRING, 0, 0, 0, opt_script_group},
    {"maximum-requests", OPT_INT, OFF(maximum_requests), 0, INT_MAX, NULL},
    {"restart-interval", OPT_SECONDS, OFF(restart_interval), 0, 0, NULL},
    {"inactivity-timeout", OPT_SECONDS, OFF(inactivity_timeout), 0, 0, NULL},
    {"request-timeout", OPT_SECONDS, OFF(request_timeout), 0, 0, NULL},
    {"interrupt-timeout", OPT_SECONDS, OFF(interrupt_timeout), 0, 0, NULL},
    {"startup-timeout", OPT_SECONDS, OFF(startup_timeout), 0, 0, NULL},
    {"deadlock-timeout", OPT_SECONDS, OFF(deadlock_timeout), 0, 0, NULL},
    {"graceful-timeout", OPT_SECONDS, OFF(graceful_timeout), 0, 0, NULL},
    {"eviction-timeout", OPT_SECONDS, OFF(eviction_timeout), 0, 0, NULL},
    {"shutdown-timeout", OPT_SECONDS, OFF(shutdown_timeout), 0, 0, NULL},
    {"cpu-time-limit", OPT_INT, OFF(cpu_time_limit), 0, INT_MAX, NULL},
    {"cpu-priority", OPT_INT, OFF(cpu_priority), -20, 20, NULL},
    {"memory-limit", OPT_BYTES, OFF(memory_limit), 1, 0, NULL},
    {"virtual-memory-limit", OPT_BYTES, OFF(virtual_memory_limit), 1, 0, NULL},
    {"server-metrics", OPT_FLAG, OFF(server_metrics), 0, 0, NULL},
    {"interpreters", OPT_INT, OFF(interpreters), 1, 64, NULL},
    {NULL, 0, 0, 0, 0, NULL}};

/* Options mod_wsgi takes with an empty value (mod_wsgi-express writes python-path='' and
 * python-eggs='' by default): the option is then as if not given. */
static int empty_accepted(const opt_def *o)
{
    static const char *const names[] = {"display-name", "supplementary-groups", "lang",
                                        "locale",       "python-home",          "python-path",
                                        "python-eggs"};
    apr_size_t i;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcmp(o->name, names[i])) {
            return 1;
        }
    }
    return 0;
}

static const char *daemon_option_list(void)
{
    static char list[1024];
    const opt_def *o;
    apr_size_t used = 0;
    if (!list[0]) {
        for (o = options; o->name; o++) {
            used += (apr_size_t)apr_snprintf(list + used, sizeof(list) - used, "%s%s",
                                             o == options ? "" : ", ", o->name);
        }
    }
    return list;
}

/* Byte counts: digits with an optional K, M or G (powers of 1024). */
static int parse_bytes(const char *value, long long *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(value, &end, 10);
    if (!apr_isdigit(value[0]) || errno) {
        return -1;
    }
    switch (apr_toupper(*end)) {
    case '\0':
        break;
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        return -1;
    }
    if (*end) {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *set_option(cmd_parms *cmd, pyhost_group *g, const opt_def *o, const char *value)
{
    char *base = (char *)g, *end;
    long long v;
    if (o->special) {
        return o->special(cmd, g, value);
    }
    switch (o->type) {
    case OPT_INT:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (!*value || *end || errno || v < o->min || v > o->max) {
            return opt_error(cmd, g, o->name, value,
                             apr_psprintf(cmd->pool,
                                          "expected a whole number from %" APR_INT64_T_FMT
                                          " to %" APR_INT64_T_FMT,
                                          (apr_int64_t)o->min, (apr_int64_t)o->max));
        }
        *(int *)(base + o->offset) = (int)v;
        return NULL;
    case OPT_SECONDS:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (!apr_isdigit(value[0]) || *end || errno || v > 31536000) {
            return opt_error(cmd, g, o->name, value, "expected whole seconds, 0 or more");
        }
        *(apr_interval_time_t *)(base + o->offset) = apr_time_from_sec(v);
        return NULL;
    case OPT_BYTES:
        if (parse_bytes(value, &v) < 0 || (v && v < o->min) || (o->max && v > o->max)) {
            return opt_error(
                cmd, g, o->name, value,
                apr_psprintf(
                    cmd->pool,
                    "expected a byte count (K, M or G allowed) of at least %" APR_INT64_T_FMT "%s",
                    (apr_int64_t)o->min, o->min > 1 ? ", or 0 for the default" : ""));
        }
        if (o->offset == OFF(stack_size)) {
            g->stack_size = (apr_size_t)v;
        }
        else if (o->offset == OFF(memory_limit) || o->offset == OFF(virtual_memory_limit)) {
            *(apr_int64_t *)(base + o->offset) = v;
        }
        else {
            *(int *)(base + o->offset) = (int)v;
        }
        return NULL;
    case OPT_PATH:
        if (value[0] != '/') {
            return opt_error(cmd, g, o->name, value, "expected an absolute path");
        }
        *(const char **)(base + o->offset) = value;
        return NULL;
    case OPT_STRING:
        *(const char **)(base + o->offset) = value;
        return NULL;
    case OPT_FLAG:
        if (!strcasecmp(value, "On")) {
            *(int *)(base + o->offset) = 1;
        }
        else if (!strcasecmp(value, "Off")) {
            *(int *)(base + o->offset) = 0;
        }
        else {
            return opt_error(cmd, g, o->name, value, "expected On or Off");
        }
        return NULL;
    case OPT_FLOAT: {
        double d = strtod(value, &end);
        if (!*value || *end || !(d > 0)) {
            return opt_error(cmd, g, o->name, value, "expected a positive number of seconds");
        }
        *(double *)(base + o->offset) = d;
        return NULL;
    }
    }
    return NULL;
}

static pyhost_group *new_group(cmd_parms *cmd, const char *name)
{
    pyhost_group *g = apr_pcalloc(cmd->pool, sizeof(*g));
    g->name = name;
    g->server = cmd->server;
    g->processes = 1;
    g->threads = 15;
    g->umask = -1;
    g->listen_backlog = 100;
    g->connect_timeout = apr_time_from_sec(15);
    g->deadlock_timeout = apr_time_from_sec(300);
    g->graceful_timeout = apr_time_from_sec(15);
    g->shutdown_timeout = apr_time_from_sec(5);
    g->interpreters = 1;
    g->response_flush_delay = 5; /* milliseconds, as mod_wsgi 6.0.2+ */
    g->listen_fd = -1;
    return g;
}

const char *pyhost_parse_daemon_process(cmd_parms *cmd, void *mconfig, const char *args)
{
    const char *name = ap_getword_conf(cmd->pool, &args), *word, *err;
    pyhost_group *g;
    (void)mconfig;
    if (!*name) {
        return "WSGIDaemonProcess: needs the name of the daemon process group";
    }
    if (name[0] == '%' || strchr(name, '/')) {
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: invalid group name '%s'", name);
    }
    if (pyhost_group_find(name)) {
        return apr_psprintf(cmd->pool,
                            "WSGIDaemonProcess: a daemon process group named '%s' is already "
                            "defined",
                            name);
    }
    g = new_group(cmd, name);
    while (*(word = pyhost_getword_option(cmd->pool, &args))) {
        const char *eq = strchr(word, '=');
        const opt_def *o;
        apr_size_t len = eq ? (apr_size_t)(eq - word) : strlen(word);
        for (o = options; o->name; o++) {
            if (strlen(o->name) == len && !strncmp(o->name, word, len)) {
                break;
            }
        }
        if (!o->name) {
            return apr_psprintf(cmd->pool,
                                "WSGIDaemonProcess %s: unknown option '%s' (options: %s)", name,
                                word, daemon_option_list());
        }
        if (eq && !eq[1] && empty_accepted(o)) {
            continue;
        }
        if (!eq || !eq[1]) {
            return apr_psprintf(cmd->pool, "WSGIDaemonProcess %s: option '%s' needs a value", name,
                                word);
        }
        if (!strcmp(o->name, "processes")) {
            g->multiprocess = 1;
        }
        if ((err = set_option(cmd, g, o, eq + 1))) {
            return err;
        }
    }
    if (g->script_user_given && g->script_group_given) {
        return apr_psprintf(cmd->pool,
                            "WSGIDaemonProcess %s: script-user and script-group cannot both be "
                            "given",
                            name);
    }
    g->index = pyhost_g.groups->nelts;
    APR_ARRAY_PUSH(pyhost_g.groups, pyhost_group *) = g;
    apr_hash_set(pyhost_g.group_index, g->name, APR_HASH_KEY_STRING, g);
    return NULL;
}
