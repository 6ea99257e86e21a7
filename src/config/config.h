/* config/config.h: configuration model of mod_pyhost.
 *
 * Owns the structures that the directives fill: per-directory settings, per-server settings
 * (script aliases), process-wide settings (Python initialisation, daemon groups, import scripts)
 * and their lookup helpers. Parsing lives in config/config.c and config/daemon_options.c. */
#ifndef PYHOST_CONFIG_H
#define PYHOST_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "ap_regex.h"
#include "apr_tables.h"
#include "apr_hash.h"

#include <sys/types.h>

/* The module is wsgi_module, named "mod_wsgi.c" (also exported as pyhost_module), so that an
 * existing configuration's <IfModule mod_wsgi.c>, <IfModule wsgi_module> and
 * "LogLevel wsgi:debug" keep working when mod_pyhost.so replaces mod_wsgi.so. */
extern module AP_MODULE_DECLARE_DATA wsgi_module;

#define PYHOST_UNSET (-1) /* an option not given, where 0 is a value */

/* WSGIMapHEADToGET values. */
enum { PYHOST_HEAD_OFF = 0, PYHOST_HEAD_ON = 1, PYHOST_HEAD_AUTO = 2 };

/* Values of the three GIL-mode settings, as they resolve for one interpreter. */
typedef enum {
    PYHOST_GIL_SHARED = 0, /* one GIL for the process (the default) */
    PYHOST_GIL_OWN = 1,    /* PEP 684: this sub interpreter has its own GIL */
    PYHOST_GIL_FREE = 2    /* PEP 703: the process runs without a GIL */
} pyhost_gil_mode;

/* A Python script with the groups it runs in: WSGIImportScript, WSGIDispatchScript and the
 * auth scripts use this shape. NULL group means "not given". */
typedef struct {
    const char *path;
    const char *process_group;
    const char *application_group;
} pyhost_script;

/* Options shared by WSGIScriptAlias(Match) and WSGIHandlerScript. */
typedef struct {
    const char *process_group;     /* NULL: not given */
    const char *application_group; /* NULL: not given */
    const char *callable_object;   /* NULL: not given */
    int pass_authorization;        /* PYHOST_UNSET: not given */
} pyhost_target_opts;

/* WSGIScriptAlias / WSGIScriptAliasMatch. */
typedef struct {
    const char *location; /* URL prefix, or the regex source */
    const char *target;   /* file or directory; may hold $N for the regex form */
    ap_regex_t *regex;    /* NULL for the prefix form */
    pyhost_target_opts opts;
} pyhost_alias;

/* WSGIHandlerScript. */
typedef struct {
    const char *name;
    const char *path;
    pyhost_target_opts opts;
} pyhost_handler_script;

/* Settings that may appear in server, virtual host and directory context. Every field has an
 * unset value (PYHOST_UNSET or NULL) so that inner sections override outer ones field by field. */
typedef struct {
    const char *process_group;
    const char *application_group;
    const char *callable_object;
    int pass_authorization;
    int script_reloading;
    int error_override;
    int chunked_request;
    int map_head_to_get;
    int ignore_activity;
    int enable_sendfile;
    int pass_apache_request;
    apr_array_header_t *restrict_process; /* of const char *; NULL: no restriction */
    apr_hash_t *handler_scripts;          /* name -> pyhost_handler_script */
    pyhost_script *dispatch_script;
    pyhost_script *access_script;
    pyhost_script *auth_user_script;
    pyhost_script *auth_group_script;
    int group_authoritative;
    apr_array_header_t *trusted_proxies;       /* of apr_ipsubnet_t * */
    apr_array_header_t *trusted_proxy_headers; /* of const char * (CGI names, HTTP_X_...) */
    /* what Apache's child holds of a response the client has not taken (child/spool.c) */
    int response_buffering;             /* WSGIResponseBuffering */
    apr_int64_t response_buffer_memory; /* WSGIResponseBufferMemory; PYHOST_UNSET: default */
} pyhost_dir_cfg;

/* Per server (virtual host) configuration. Settings allowed in server and directory context
 * live in pyhost_dir_cfg: Apache merges a server's values into every request's directory view. */
typedef struct {
    apr_array_header_t *aliases; /* of pyhost_alias */
} pyhost_server_cfg;

/* One daemon process group: WSGIDaemonProcess. Times are apr_interval_time_t (microseconds),
 * 0 meaning "off" unless noted. */
typedef struct pyhost_group {
    const char *name;
    server_rec *server; /* where it was defined; a vhost restricts its use */
    int index;          /* position in pyhost_globals.groups */
    int processes;
    int multiprocess; /* processes= was given at all */
    int threads;
    const char *display_name;
    uid_t uid;
    gid_t gid;
    const char *user_name;
    int uid_given, gid_given;
    gid_t *groups;
    int ngroups;
    int umask; /* -1: inherit */
    const char *chroot;
    const char *home;
    const char *lang;
    const char *locale;
    const char *python_home;
    const char *python_path;
    const char *python_eggs;
    double switch_interval; /* 0: leave Python's */
    apr_size_t stack_size;
    int listen_backlog;
    apr_interval_time_t connect_timeout;
    apr_interval_time_t socket_timeout;
    apr_interval_time_t queue_timeout;
    apr_interval_time_t response_socket_timeout;
    int response_flush_delay; /* milliseconds */
    int header_buffer_size;
    int response_buffer_size;
    int send_buffer_size;
    int receive_buffer_size;
    uid_t socket_uid;
    int socket_uid_given;
    uid_t script_uid;
    gid_t script_gid;
    int script_user_given, script_group_given;
    /* recycling and limits */
    int maximum_requests;
    apr_interval_time_t restart_interval;
    apr_interval_time_t inactivity_timeout;
    apr_interval_time_t request_timeout;
    apr_interval_time_t interrupt_timeout;
    apr_interval_time_t startup_timeout;
    apr_interval_time_t deadlock_timeout;
    apr_interval_time_t graceful_timeout;
    apr_interval_time_t eviction_timeout;
    apr_interval_time_t shutdown_timeout;
    int cpu_time_limit; /* seconds */
    int cpu_priority;
    apr_int64_t memory_limit;
    apr_int64_t virtual_memory_limit;
    int server_metrics;
    /* beyond mod_wsgi: N own-GIL interpreters serving each application group */
    int interpreters;
    /* beyond mod_wsgi: request bodies up to this size are read by Apache's child before the
     * request goes to a daemon (child/spool.c); 0: never */
    int request_buffer_size;
    /* filled at start-up */
    int slot_base; /* first of its process slots in the shared scoreboard */
    const char *socket_path;
    int listen_fd;
    const char *unavailable; /* why the group could not be started, or NULL */
} pyhost_group;

/* <WSGIInterpreterOptions> block and the GIL-mode directives in it. */
typedef struct {
    const char *process_group;     /* NULL: any */
    const char *application_group; /* NULL: any */
    int per_interpreter_gil;
    int free_threading;
    double switch_interval;
    const char *python_path;
    int restrict_stdin, restrict_stdout, restrict_signal;
} pyhost_interp_options;

/* Process-wide settings: only in the main server configuration. Rebuilt on every (re)start. */
typedef struct {
    const char *python_home;
    const char *python_path;
    const char *python_eggs;
    int python_optimize;
    long long python_hash_seed;          /* -1: random */
    apr_array_header_t *python_warnings; /* of const char * */
    int dont_write_bytecode;
    int restrict_embedded;
    int embedded_scripts; /* access, auth or dispatch scripts need Python in the children */
    int restrict_stdin;
    int restrict_stdout;
    int restrict_signal;
    int destroy_interpreter;
    int case_sensitivity;
    int verbose_debugging;
    int server_metrics;
    int shared_metrics; /* WSGISharedMetrics: the per-request numbers of shared/stats.h */
    const char *socket_prefix;
    int socket_rotation;
    const char *accept_mutex;
    apr_array_header_t *import_scripts; /* of pyhost_script */
    apr_array_header_t *groups;         /* of pyhost_group * */
    apr_hash_t *group_index;            /* name -> pyhost_group * */
    apr_array_header_t *interp_options; /* of pyhost_interp_options *; [0] is the top level */
    /* where held responses and buffered request bodies go on disk, and how much of it one
     * Apache child process may use (WSGIBufferDirectory, WSGIBufferDiskLimit) */
    const char *buffer_directory; /* NULL: APR's temporary directory */
    apr_int64_t buffer_disk_limit;
} pyhost_globals;

extern pyhost_globals pyhost_g;

/* Module hooks for configuration. */
void *pyhost_create_dir_cfg(apr_pool_t *p, char *dir);
void *pyhost_merge_dir_cfg(apr_pool_t *p, void *base, void *add);
void *pyhost_create_server_cfg(apr_pool_t *p, server_rec *s);
void *pyhost_merge_server_cfg(apr_pool_t *p, void *base, void *add);
extern const command_rec pyhost_cmds[];

/* Resets the process-wide settings before a configuration is read. */
void pyhost_config_reset(apr_pool_t *pconf);

/* A flag of a merged directory configuration, or its default when it was never set. */
static inline int pyhost_flag(int value, int dflt)
{
    return value == PYHOST_UNSET ? dflt : value;
}

/* Daemon groups. */
pyhost_group *pyhost_group_find(const char *name);
const char *pyhost_parse_daemon_process(cmd_parms *cmd, void *mconfig, const char *args);

/* Shared parsing helpers (config/config.c). pyhost_getword_option reads the next word of a
 * directive's options as name=value, the value unquoted ('...' or "..." may hold spaces). */
const char *pyhost_getword_option(apr_pool_t *p, const char **line);
/* A byte count: digits with an optional K, M or G (powers of 1024). 0 or -1. */
int pyhost_parse_bytes(const char *value, long long *out);

/* What applies to one interpreter, resolved from the top level and the
 * <WSGIInterpreterOptions> blocks (config/interp_options.c). */
typedef struct {
    pyhost_gil_mode mode;
    double switch_interval; /* 0: leave Python's */
    /* an application group's switch interval left unset: its interpreter shares the GIL */
    double switch_interval_ignored;
    int restrict_stdin, restrict_stdout, restrict_signal;
    apr_array_header_t *python_paths; /* container layers, least specific first */
} pyhost_interp_settings;

void pyhost_interp_settings_for(const char *process_group, const char *application_group,
                                pyhost_interp_settings *s, apr_pool_t *p);
/* Warns once at start-up about what this Python build cannot do. */
void pyhost_interp_options_check(server_rec *s);

const char *pyhost_cmd_interp_container(cmd_parms *cmd, void *mconfig, const char *args);
const char *pyhost_cmd_scoped_flag(cmd_parms *cmd, void *mconfig, const char *value);
const char *pyhost_cmd_switch_interval(cmd_parms *cmd, void *mconfig, const char *value);
const char *pyhost_cmd_python_path(cmd_parms *cmd, void *mconfig, const char *value);

#endif
