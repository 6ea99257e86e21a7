/* config/config.c: the WSGI* directives (except WSGIDaemonProcess's options, in
 * config/daemon_options.c).
 *
 * Owns the directive table, the per-directory and per-server configuration records and their
 * merging, the process-wide settings in pyhost_g, and the validation of every value: a wrong
 * value fails the configuration with a message naming the directive and the value. */
#include "config/config.h"

#include "http_core.h"
#include "http_log.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_network_io.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

pyhost_globals pyhost_g;

/* ---- messages ---------------------------------------------------------------------------- */

static const char *bad_value(cmd_parms *cmd, const char *value, const char *expected)
{
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': %s", cmd->cmd->name, value, expected);
}

/* Directives that only make sense once per server: they configure the Python runtime or the
 * daemon infrastructure of the whole Apache instance. */
static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

static const char *parse_on_off(cmd_parms *cmd, const char *word, const char *value, int *out)
{
    if (!strcasecmp(value, "On")) {
        *out = 1;
    }
    else if (!strcasecmp(value, "Off")) {
        *out = 0;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: invalid value '%s' for %s: expected On or Off",
                            cmd->cmd->name, value, word);
    }
    return NULL;
}

/* ---- records ----------------------------------------------------------------------------- */

void *pyhost_create_dir_cfg(apr_pool_t *p, char *dir)
{
    pyhost_dir_cfg *d = apr_pcalloc(p, sizeof(*d));
    (void)dir;
    d->pass_authorization = PYHOST_UNSET;
    d->script_reloading = PYHOST_UNSET;
    d->error_override = PYHOST_UNSET;
    d->chunked_request = PYHOST_UNSET;
    d->map_head_to_get = PYHOST_UNSET;
    d->ignore_activity = PYHOST_UNSET;
    d->enable_sendfile = PYHOST_UNSET;
    d->pass_apache_request = PYHOST_UNSET;
    d->group_authoritative = PYHOST_UNSET;
    d->response_buffering = PYHOST_UNSET;
    d->response_buffer_memory = PYHOST_UNSET;
    return d;
}

#define MERGE_PTR(f) m->f = a->f ? a->f : b->f
#define MERGE_INT(f) m->f = a->f != PYHOST_UNSET ? a->f : b->f

void *pyhost_merge_dir_cfg(apr_pool_t *p, void *base, void *add)
{
    const pyhost_dir_cfg *b = base, *a = add;
    pyhost_dir_cfg *m = apr_palloc(p, sizeof(*m));
    MERGE_PTR(process_group);
    MERGE_PTR(application_group);
    MERGE_PTR(callable_object);
    MERGE_INT(pass_authorization);
    MERGE_INT(script_reloading);
    MERGE_INT(error_override);
    MERGE_INT(chunked_request);
    MERGE_INT(map_head_to_get);
    MERGE_INT(ignore_activity);
    MERGE_INT(enable_sendfile);
    MERGE_INT(pass_apache_request);
    MERGE_PTR(restrict_process);
    MERGE_PTR(dispatch_script);
    MERGE_PTR(access_script);
    MERGE_PTR(auth_user_script);
    MERGE_PTR(auth_group_script);
    MERGE_INT(group_authoritative);
    MERGE_PTR(trusted_proxies);
    MERGE_PTR(trusted_proxy_headers);
    MERGE_INT(response_buffering);
    MERGE_INT(response_buffer_memory);
    if (a->handler_scripts && b->handler_scripts) {
        m->handler_scripts = apr_hash_overlay(p, a->handler_scripts, b->handler_scripts);
    }
    else {
        MERGE_PTR(handler_scripts);
    }
    return m;
}

void *pyhost_create_server_cfg(apr_pool_t *p, server_rec *s)
{
    pyhost_server_cfg *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->aliases = apr_array_make(p, 4, sizeof(pyhost_alias));
    return c;
}

/* A virtual host's aliases are tried before the main server's, as mod_alias does. */
void *pyhost_merge_server_cfg(apr_pool_t *p, void *base, void *add)
{
    const pyhost_server_cfg *b = base, *a = add;
    pyhost_server_cfg *m = apr_palloc(p, sizeof(*m));
    m->aliases = apr_array_append(p, a->aliases, b->aliases);
    return m;
}

void pyhost_config_reset(apr_pool_t *pconf)
{
    pyhost_interp_options *top;
    memset(&pyhost_g, 0, sizeof(pyhost_g));
    pyhost_g.python_optimize = 0;
    pyhost_g.python_hash_seed = -1;
    pyhost_g.python_warnings = apr_array_make(pconf, 2, sizeof(const char *));
    pyhost_g.restrict_signal = 1;
    pyhost_g.destroy_interpreter = 1;
    pyhost_g.case_sensitivity = 1;
    pyhost_g.socket_rotation = 1;
    pyhost_g.buffer_disk_limit = (apr_int64_t)1 << 30; /* nginx's max_temp_file_size, per child */
    pyhost_g.shared_metrics = 1;
    pyhost_g.import_scripts = apr_array_make(pconf, 2, sizeof(pyhost_script));
    pyhost_g.groups = apr_array_make(pconf, 2, sizeof(pyhost_group *));
    pyhost_g.group_index = apr_hash_make(pconf);
    pyhost_g.interp_options = apr_array_make(pconf, 2, sizeof(pyhost_interp_options *));
    top = apr_pcalloc(pconf, sizeof(*top));
    top->per_interpreter_gil = PYHOST_UNSET;
    top->free_threading = PYHOST_UNSET;
    top->restrict_stdin = PYHOST_UNSET;
    top->restrict_stdout = PYHOST_UNSET;
    top->restrict_signal = PYHOST_UNSET;
    APR_ARRAY_PUSH(pyhost_g.interp_options, pyhost_interp_options *) = top;
}

pyhost_group *pyhost_group_find(const char *name)
{
    return pyhost_g.group_index ? apr_hash_get(pyhost_g.group_index, name, APR_HASH_KEY_STRING)
                                : NULL;
}

/* ---- option words: key=value after the positional arguments ------------------------------ */

const char *pyhost_getword_option(apr_pool_t *p, const char **line)
{
    const char *s = *line, *start;
    char *out, *o;
    while (apr_isspace(*s)) {
        s++;
    }
    start = s;
    out = o = apr_palloc(p, strlen(s) + 1);
    while (*s && !apr_isspace(*s) && *s != '=') {
        *o++ = *s++;
    }
    if (*s == '=') {
        *o++ = *s++;
        if (*s == '"' || *s == '\'') {
            char quote = *s++;
            while (*s && *s != quote) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
                *o++ = *s++;
            }
            if (*s) {
                s++;
            }
        }
        else {
            while (*s && !apr_isspace(*s)) {
                *o++ = *s++;
            }
        }
    }
    else if (s == start && *s) {
        return ap_getword_conf(p, line); /* a quoted word that is not an option */
    }
    *o = '\0';
    *line = s;
    return out;
}

/* "%{GLOBAL}" names the main interpreter and embedded mode: both are the empty name. */
static const char *group_value(const char *value)
{
    return strcmp(value, "%{GLOBAL}") ? value : "";
}

static const char *split_option(cmd_parms *cmd, const char *word, const char **value)
{
    const char *eq = strchr(word, '=');
    if (!eq || eq == word) {
        *value = NULL;
        return apr_psprintf(cmd->pool, "%s: invalid option '%s': expected name=value",
                            cmd->cmd->name, word);
    }
    *value = eq + 1;
    return NULL;
}

static const char *check_group_name(cmd_parms *cmd, const char *value, int allow_resource);

static const char *check_group_option(cmd_parms *cmd, const char *option, const char *value)
{
    if (check_group_name(cmd, value, 1)) {
        return apr_psprintf(cmd->pool,
                            "%s: invalid option '%s=%s': expected a name, %%{GLOBAL}, "
                            "%%{SERVER}, %%{RESOURCE}, %%{HOST} or %%{ENV:variable}",
                            cmd->cmd->name, option, value);
    }
    return NULL;
}

static const char *parse_target_opts(cmd_parms *cmd, const char **args, pyhost_target_opts *o,
                                     int allow_callable)
{
    const char *word, *value, *err;
    o->process_group = NULL;
    o->application_group = NULL;
    o->callable_object = NULL;
    o->pass_authorization = PYHOST_UNSET;
    while (*(word = pyhost_getword_option(cmd->pool, args))) {
        if ((err = split_option(cmd, word, &value))) {
            return err;
        }
        if (!strncmp(word, "process-group=", 14)) {
            if ((err = check_group_option(cmd, "process-group", value))) {
                return err;
            }
            o->process_group = group_value(value);
        }
        else if (!strncmp(word, "application-group=", 18)) {
            if ((err = check_group_option(cmd, "application-group", value))) {
                return err;
            }
            o->application_group = group_value(value);
        }
        else if (allow_callable && !strncmp(word, "callable-object=", 16)) {
            if (!*value) {
                return bad_value(cmd, word, "callable-object= needs a name");
            }
            o->callable_object = value;
        }
        else if (!strncmp(word, "pass-authorization=", 19)) {
            if ((err = parse_on_off(cmd, "pass-authorization", value, &o->pass_authorization))) {
                return err;
            }
        }
        else {
            return apr_psprintf(cmd->pool, "%s: invalid option '%s'", cmd->cmd->name, word);
        }
    }
    return NULL;
}

/* ---- routing directives ------------------------------------------------------------------ */

static int is_directory(apr_pool_t *p, const char *path)
{
    struct stat st;
    (void)p;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A script named with both groups, neither expanded per request, is loaded when its process
 * starts rather than on its first request. */
static void note_preload(cmd_parms *cmd, const char *path, const pyhost_target_opts *o)
{
    pyhost_script *s;
    if (!o->process_group || !o->application_group || strstr(o->process_group, "%{") ||
        strstr(o->application_group, "%{") || strchr(path, '$') || is_directory(cmd->pool, path)) {
        return;
    }
    s = apr_array_push(pyhost_g.import_scripts);
    s->path = path;
    s->process_group = o->process_group;
    s->application_group = o->application_group;
}

static const char *cmd_script_alias(cmd_parms *cmd, void *mconfig, const char *args)
{
    pyhost_server_cfg *sc = ap_get_module_config(cmd->server->module_config, &wsgi_module);
    int is_match = cmd->info != NULL;
    pyhost_alias a;
    const char *err;
    (void)mconfig;
    memset(&a, 0, sizeof(a));
    a.location = ap_getword_conf(cmd->pool, &args);
    a.target = ap_getword_conf(cmd->pool, &args);
    if (!*a.location || !*a.target) {
        return apr_psprintf(cmd->pool, "%s: needs a %s and a script path", cmd->cmd->name,
                            is_match ? "regular expression" : "URL path");
    }
    if ((err = parse_target_opts(cmd, &args, &a.opts, 1))) {
        return err;
    }
    if (is_match) {
        a.regex = ap_pregcomp(cmd->pool, a.location, AP_REG_EXTENDED);
        if (!a.regex) {
            return bad_value(cmd, a.location, "not a valid regular expression");
        }
    }
    else if (a.location[0] != '/') {
        return bad_value(cmd, a.location, "the URL path must begin with '/'");
    }
    *(pyhost_alias *)apr_array_push(sc->aliases) = a;
    note_preload(cmd, a.target, &a.opts);
    return NULL;
}

static const char *cmd_handler_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    pyhost_dir_cfg *d = mconfig;
    pyhost_handler_script *h = apr_pcalloc(cmd->pool, sizeof(*h));
    const char *err;
    h->name = ap_getword_conf(cmd->pool, &args);
    h->path = ap_getword_conf(cmd->pool, &args);
    if (!*h->name || !*h->path) {
        return apr_psprintf(cmd->pool, "%s: needs a handler name and a script path",
                            cmd->cmd->name);
    }
    if ((err = parse_target_opts(cmd, &args, &h->opts, 0))) {
        return err;
    }
    if (!d->handler_scripts) {
        d->handler_scripts = apr_hash_make(cmd->pool);
    }
    apr_hash_set(d->handler_scripts, h->name, APR_HASH_KEY_STRING, h);
    return NULL;
}

static const char *check_group_name(cmd_parms *cmd, const char *value, int allow_resource)
{
    if (!*value) {
        return bad_value(cmd, value, "the name must not be empty");
    }
    if (value[0] == '%' && value[1] == '{') {
        if (!strcmp(value, "%{GLOBAL}") || !strcmp(value, "%{SERVER}") ||
            !strcmp(value, "%{HOST}") || (allow_resource && !strcmp(value, "%{RESOURCE}")) ||
            (!strncmp(value, "%{ENV:", 6) && value[strlen(value) - 1] == '}' && value[6] != '}')) {
            return NULL;
        }
        return bad_value(cmd, value,
                         allow_resource
                             ? "expected a name, %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST} or "
                               "%{ENV:variable}"
                             : "expected a name, %{GLOBAL}, %{SERVER}, %{HOST} or %{ENV:variable}");
    }
    return NULL;
}

static const char *cmd_process_group(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = check_group_name(cmd, value, 1);
    if (err) {
        return err;
    }
    ((pyhost_dir_cfg *)mconfig)->process_group = group_value(value);
    return NULL;
}

static const char *cmd_application_group(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = check_group_name(cmd, value, 1);
    if (err) {
        return err;
    }
    ((pyhost_dir_cfg *)mconfig)->application_group = group_value(value);
    return NULL;
}

static const char *cmd_callable_object(cmd_parms *cmd, void *mconfig, const char *value)
{
    if (!*value) {
        return bad_value(cmd, value, "expected the name of a callable or %{ENV:variable}");
    }
    ((pyhost_dir_cfg *)mconfig)->callable_object = value;
    return NULL;
}

static const char *cmd_restrict_process(cmd_parms *cmd, void *mconfig, const char *value)
{
    pyhost_dir_cfg *d = mconfig;
    if (!d->restrict_process) {
        d->restrict_process = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(d->restrict_process, const char *) = group_value(value);
    return NULL;
}

/* Script directives with a path and optional group options: WSGIImportScript,
 * WSGIDispatchScript, WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript. */
static const char *parse_script(cmd_parms *cmd, const char *args, int allow_process_group,
                                pyhost_script **out)
{
    pyhost_script *s = apr_pcalloc(cmd->pool, sizeof(*s));
    const char *word, *value, *err;
    s->path = ap_getword_conf(cmd->pool, &args);
    if (!*s->path) {
        return apr_psprintf(cmd->pool, "%s: needs a script path", cmd->cmd->name);
    }
    while (*(word = pyhost_getword_option(cmd->pool, &args))) {
        if ((err = split_option(cmd, word, &value))) {
            return err;
        }
        if (allow_process_group && !strncmp(word, "process-group=", 14)) {
            if ((err = check_group_option(cmd, "process-group", value))) {
                return err;
            }
            s->process_group = group_value(value);
        }
        else if (!strncmp(word, "application-group=", 18)) {
            if ((err = check_group_option(cmd, "application-group", value))) {
                return err;
            }
            s->application_group = group_value(value);
        }
        else {
            return apr_psprintf(cmd->pool, "%s: invalid option '%s'", cmd->cmd->name, word);
        }
    }
    *out = s;
    return NULL;
}

static const char *cmd_import_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    pyhost_script *s;
    const char *err = parse_script(cmd, args, 1, &s);
    (void)mconfig;
    if (err) {
        return err;
    }
    if (!s->process_group || !s->application_group) {
        return apr_psprintf(cmd->pool,
                            "%s: %s needs both process-group= and application-group= options",
                            cmd->cmd->name, s->path);
    }
    if (strstr(s->process_group, "%{") || strstr(s->application_group, "%{")) {
        return apr_psprintf(cmd->pool,
                            "%s: %s: the groups of an imported script must be literal names or "
                            "%%{GLOBAL}",
                            cmd->cmd->name, s->path);
    }
    if (*s->process_group) {
        pyhost_group *g = pyhost_group_find(s->process_group);
        if (!g) {
            return apr_psprintf(cmd->pool,
                                "%s: %s: no WSGIDaemonProcess named '%s' is defined before it",
                                cmd->cmd->name, s->path, s->process_group);
        }
        if (g->server != cmd->server && g->server->is_virtual &&
            (!cmd->server->server_hostname ||
             strcmp(g->server->server_hostname, cmd->server->server_hostname))) {
            return apr_psprintf(cmd->pool,
                                "%s: %s: daemon process group '%s' belongs to another virtual "
                                "host",
                                cmd->cmd->name, s->path, s->process_group);
        }
    }
    *(pyhost_script *)apr_array_push(pyhost_g.import_scripts) = *s;
    return NULL;
}

static const char *cmd_dir_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    pyhost_script **slot = (pyhost_script **)((char *)mconfig + (size_t)cmd->info);
    pyhost_g.embedded_scripts = 1;
    return parse_script(cmd, args, 0, slot);
}

/* ---- per-request flags ------------------------------------------------------------------- */

/* On/Off directives: TAKE1 rather than FLAG, so that a wrong value is named. */
static const char *on_off(cmd_parms *cmd, const char *value, int *out)
{
    if (!strcasecmp(value, "On")) {
        *out = 1;
    }
    else if (!strcasecmp(value, "Off")) {
        *out = 0;
    }
    else {
        return bad_value(cmd, value, "expected On or Off");
    }
    return NULL;
}

static const char *cmd_dir_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    return on_off(cmd, value, (int *)((char *)mconfig + (size_t)cmd->info));
}

/* WSGIResponseBufferMemory: bytes, K/M/G allowed, 0 for none. */
static const char *cmd_dir_bytes(cmd_parms *cmd, void *mconfig, const char *value)
{
    long long v;
    if (pyhost_parse_bytes(value, &v) < 0) {
        return bad_value(cmd, value, "expected a byte count (K, M or G allowed), 0 or more");
    }
    *(apr_int64_t *)((char *)mconfig + (size_t)cmd->info) = v;
    return NULL;
}

static const char *cmd_map_head(cmd_parms *cmd, void *mconfig, const char *value)
{
    pyhost_dir_cfg *d = mconfig;
    if (!strcasecmp(value, "Off")) {
        d->map_head_to_get = PYHOST_HEAD_OFF;
    }
    else if (!strcasecmp(value, "On")) {
        d->map_head_to_get = PYHOST_HEAD_ON;
    }
    else if (!strcasecmp(value, "Auto")) {
        d->map_head_to_get = PYHOST_HEAD_AUTO;
    }
    else {
        return bad_value(cmd, value, "expected On, Off or Auto");
    }
    return NULL;
}

static const char *cmd_trusted_proxies(cmd_parms *cmd, void *mconfig, const char *value)
{
    pyhost_dir_cfg *d = mconfig;
    apr_ipsubnet_t *sub;
    char *ip = apr_pstrdup(cmd->pool, value), *mask = strchr(ip, '/');
    apr_status_t rv;
    if (mask) {
        *mask++ = '\0';
    }
    rv = apr_ipsubnet_create(&sub, ip, mask, cmd->pool);
    if (rv != APR_SUCCESS) {
        return bad_value(cmd, value, "expected an IP address or address/prefix-length");
    }
    if (!d->trusted_proxies) {
        d->trusted_proxies = apr_array_make(cmd->pool, 2, sizeof(apr_ipsubnet_t *));
    }
    APR_ARRAY_PUSH(d->trusted_proxies, apr_ipsubnet_t *) = sub;
    return NULL;
}

static const char *cmd_trusted_proxy_headers(cmd_parms *cmd, void *mconfig, const char *value)
{
    pyhost_dir_cfg *d = mconfig;
    char *cgi = apr_pstrcat(cmd->pool, "HTTP_", value, NULL), *c;
    for (c = cgi + 5; *c; c++) {
        if (*c == '-') {
            *c = '_';
        }
        else if (apr_isalnum(*c)) {
            *c = apr_toupper(*c);
        }
        else {
            return bad_value(cmd, value, "not a valid header name");
        }
    }
    if (!d->trusted_proxy_headers) {
        d->trusted_proxy_headers = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(d->trusted_proxy_headers, const char *) = cgi;
    return NULL;
}

/* ---- process-wide settings --------------------------------------------------------------- */

static const char *cmd_global_str(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) {
        return err;
    }
    if (!*value) {
        return bad_value(cmd, value, "must not be empty");
    }
    *(const char **)((char *)&pyhost_g + (size_t)cmd->info) = value;
    return NULL;
}

static const char *cmd_global_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) {
        return err;
    }
    return on_off(cmd, value, (int *)((char *)&pyhost_g + (size_t)cmd->info));
}

static const char *cmd_buffer_directory(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    struct stat st;
    (void)mconfig;
    if (err) {
        return err;
    }
    if (value[0] != '/' || stat(value, &st) < 0 || !S_ISDIR(st.st_mode)) {
        return bad_value(cmd, value, "expected the absolute path of an existing directory");
    }
    pyhost_g.buffer_directory = value;
    return NULL;
}

static const char *cmd_buffer_disk_limit(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    long long v;
    (void)mconfig;
    if (err) {
        return err;
    }
    if (pyhost_parse_bytes(value, &v) < 0) {
        return bad_value(cmd, value, "expected a byte count (K, M or G allowed), 0 or more");
    }
    pyhost_g.buffer_disk_limit = v;
    return NULL;
}

static const char *cmd_python_optimize(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) {
        return err;
    }
    if (strlen(value) != 1 || value[0] < '0' || value[0] > '2') {
        return bad_value(cmd, value, "expected 0, 1 or 2");
    }
    pyhost_g.python_optimize = value[0] - '0';
    return NULL;
}

static const char *cmd_python_hash_seed(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    char *end;
    unsigned long long seed;
    (void)mconfig;
    if (err) {
        return err;
    }
    if (!strcmp(value, "random")) {
        pyhost_g.python_hash_seed = -1;
        return NULL;
    }
    errno = 0;
    seed = strtoull(value, &end, 10);
    if (!apr_isdigit(value[0]) || *end || errno || seed > 4294967295ULL) {
        return bad_value(cmd, value, "expected 'random' or an integer from 0 to 4294967295");
    }
    pyhost_g.python_hash_seed = (long long)seed;
    return NULL;
}

static const char *cmd_python_warnings(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) {
        return err;
    }
    APR_ARRAY_PUSH(pyhost_g.python_warnings, const char *) = value;
    return NULL;
}

static const char *cmd_accept_mutex(cmd_parms *cmd, void *mconfig, const char *value)
{
    static const char *const known[] = {"default",  "flock",   "fcntl", "sysvsem",
                                        "posixsem", "pthread", NULL};
    const char *err = global_only(cmd);
    int i;
    (void)mconfig;
    if (err) {
        return err;
    }
    for (i = 0; known[i]; i++) {
        if (!strcasecmp(value, known[i])) {
            pyhost_g.accept_mutex = known[i];
            return NULL;
        }
    }
    return bad_value(cmd, value, "expected default, flock, fcntl, sysvsem, posixsem or pthread");
}

/* ---- table ------------------------------------------------------------------------------- */

#define G_OFF(f) ((void *)APR_OFFSETOF(pyhost_globals, f))
#define D_OFF(f) ((void *)APR_OFFSETOF(pyhost_dir_cfg, f))
#define SD       (ACCESS_CONF | RSRC_CONF)

const command_rec pyhost_cmds[] = {
    /* routing */
    AP_INIT_RAW_ARGS("WSGIScriptAlias", cmd_script_alias, NULL, RSRC_CONF,
                     "URL path, script file or directory, and options"),
    AP_INIT_RAW_ARGS("WSGIScriptAliasMatch", cmd_script_alias, "match", RSRC_CONF,
                     "regular expression, script file or directory, and options"),
    AP_INIT_RAW_ARGS("WSGIHandlerScript", cmd_handler_script, NULL, SD | OR_FILEINFO,
                     "handler name, script path and options"),
    AP_INIT_TAKE1("WSGIProcessGroup", cmd_process_group, NULL, SD,
                  "daemon process group, %{GLOBAL} for embedded mode"),
    AP_INIT_TAKE1("WSGIApplicationGroup", cmd_application_group, NULL, SD,
                  "application group (sub interpreter)"),
    AP_INIT_TAKE1("WSGICallableObject", cmd_callable_object, NULL, OR_FILEINFO,
                  "name of the WSGI application object in the script"),
    AP_INIT_RAW_ARGS("WSGIImportScript", cmd_import_script, NULL, RSRC_CONF,
                     "script loaded when a process starts"),
    AP_INIT_RAW_ARGS("WSGIDispatchScript", cmd_dir_script, D_OFF(dispatch_script), SD,
                     "script choosing the groups of each request"),
    AP_INIT_ITERATE("WSGIRestrictProcess", cmd_restrict_process, NULL, SD,
                    "daemon process groups that may be selected here"),
    /* daemon mode */
    AP_INIT_RAW_ARGS("WSGIDaemonProcess", pyhost_parse_daemon_process, NULL, RSRC_CONF,
                     "daemon process group name and options"),
    AP_INIT_TAKE1("WSGISocketPrefix", cmd_global_str, G_OFF(socket_prefix), RSRC_CONF,
                  "path prefix of the daemon sockets"),
    AP_INIT_TAKE1("WSGISocketRotation", cmd_global_flag, G_OFF(socket_rotation), RSRC_CONF,
                  "new daemon socket names on each restart"),
    AP_INIT_TAKE1("WSGIAcceptMutex", cmd_accept_mutex, NULL, RSRC_CONF,
                  "accept mutex of daemon processes"),
    AP_INIT_TAKE1("WSGIRestrictEmbedded", cmd_global_flag, G_OFF(restrict_embedded), RSRC_CONF,
                  "refuse to run applications in Apache's child processes"),
    /* Python */
    AP_INIT_TAKE1("WSGIPythonHome", cmd_global_str, G_OFF(python_home), RSRC_CONF,
                  "Python installation or virtual environment prefix"),
    AP_INIT_TAKE1("WSGIPythonPath", pyhost_cmd_python_path, NULL, RSRC_CONF,
                  "directories added to sys.path"),
    AP_INIT_TAKE1("WSGIPythonEggs", cmd_global_str, G_OFF(python_eggs), RSRC_CONF,
                  "Python egg cache directory"),
    AP_INIT_TAKE1("WSGIPythonOptimize", cmd_python_optimize, NULL, RSRC_CONF,
                  "Python optimisation level 0, 1 or 2"),
    AP_INIT_TAKE1("WSGIPythonHashSeed", cmd_python_hash_seed, NULL, RSRC_CONF,
                  "Python hash seed: random or a number"),
    AP_INIT_TAKE1("WSGIPythonWarnings", cmd_python_warnings, NULL, RSRC_CONF,
                  "Python warnings filter"),
    AP_INIT_TAKE1("WSGIDontWriteBytecode", cmd_global_flag, G_OFF(dont_write_bytecode), RSRC_CONF,
                  "do not write .pyc files"),
    AP_INIT_TAKE1("WSGIDestroyInterpreter", cmd_global_flag, G_OFF(destroy_interpreter), RSRC_CONF,
                  "finalise Python when a process exits"),
    AP_INIT_TAKE1("WSGIRestrictStdin", pyhost_cmd_scoped_flag, (void *)2, RSRC_CONF,
                  "make reading sys.stdin an error"),
    AP_INIT_TAKE1("WSGIRestrictStdout", pyhost_cmd_scoped_flag, (void *)3, RSRC_CONF,
                  "make writing sys.stdout an error"),
    AP_INIT_TAKE1("WSGIRestrictSignal", pyhost_cmd_scoped_flag, (void *)4, RSRC_CONF,
                  "ignore signal handler registration by applications"),
    /* GIL modes and <WSGIInterpreterOptions> (config/interp_options.c) */
    AP_INIT_RAW_ARGS("<WSGIInterpreterOptions", pyhost_cmd_interp_container, NULL, RSRC_CONF,
                     "settings for the interpreters of a process group / application group"),
    AP_INIT_TAKE1("WSGIPerInterpreterGIL", pyhost_cmd_scoped_flag, (void *)0, RSRC_CONF,
                  "give sub interpreters their own GIL (PEP 684)"),
    AP_INIT_TAKE1("WSGIFreeThreading", pyhost_cmd_scoped_flag, (void *)1, RSRC_CONF,
                  "run the process without a GIL (PEP 703)"),
    AP_INIT_TAKE1("WSGISwitchInterval", pyhost_cmd_switch_interval, NULL, RSRC_CONF,
                  "Python's thread switch interval in seconds"),
    AP_INIT_TAKE1("WSGICaseSensitivity", cmd_global_flag, G_OFF(case_sensitivity), RSRC_CONF,
                  "script names are case sensitive"),
    AP_INIT_TAKE1("WSGIVerboseDebugging", cmd_global_flag, G_OFF(verbose_debugging), RSRC_CONF,
                  "accepted for compatibility; use LogLevel wsgi:debug"),
    AP_INIT_TAKE1("WSGIServerMetrics", cmd_global_flag, G_OFF(server_metrics), RSRC_CONF,
                  "allow mod_wsgi.server_metrics() in embedded mode"),
    AP_INIT_TAKE1("WSGISharedMetrics", cmd_global_flag, G_OFF(shared_metrics), RSRC_CONF,
                  "On (default): keep the per-request numbers of pyhost-metrics/pyhost-status"),
    /* per request */
    AP_INIT_TAKE1("WSGIPassAuthorization", cmd_dir_flag, D_OFF(pass_authorization), OR_FILEINFO,
                  "pass the Authorization header to the application"),
    AP_INIT_TAKE1("WSGIScriptReloading", cmd_dir_flag, D_OFF(script_reloading), OR_FILEINFO,
                  "reload a script when it changes"),
    AP_INIT_TAKE1("WSGIErrorOverride", cmd_dir_flag, D_OFF(error_override), OR_FILEINFO,
                  "let Apache's ErrorDocument replace error responses of daemons"),
    AP_INIT_TAKE1("WSGIChunkedRequest", cmd_dir_flag, D_OFF(chunked_request), OR_FILEINFO,
                  "accept chunked request bodies"),
    AP_INIT_TAKE1("WSGIMapHEADToGET", cmd_map_head, NULL, OR_FILEINFO,
                  "On, Off or Auto: present HEAD requests as GET"),
    AP_INIT_TAKE1("WSGIIgnoreActivity", cmd_dir_flag, D_OFF(ignore_activity), OR_FILEINFO,
                  "requests do not count as daemon activity"),
    AP_INIT_TAKE1("WSGIEnableSendfile", cmd_dir_flag, D_OFF(enable_sendfile), OR_FILEINFO,
                  "send wsgi.file_wrapper files with sendfile"),
    AP_INIT_TAKE1("WSGIPassApacheRequest", cmd_dir_flag, D_OFF(pass_apache_request), SD,
                  "put the request_rec in the environ"),
    AP_INIT_TAKE1("WSGIResponseBuffering", cmd_dir_flag, D_OFF(response_buffering), OR_FILEINFO,
                  "hold what the client has not taken yet, so the application's thread is free"),
    AP_INIT_TAKE1("WSGIResponseBufferMemory", cmd_dir_bytes, D_OFF(response_buffer_memory),
                  OR_FILEINFO, "bytes of a response held in memory before a temporary file"),
    AP_INIT_TAKE1("WSGIBufferDirectory", cmd_buffer_directory, NULL, RSRC_CONF,
                  "directory of the temporary files of held responses and request bodies"),
    AP_INIT_TAKE1("WSGIBufferDiskLimit", cmd_buffer_disk_limit, NULL, RSRC_CONF,
                  "bytes of temporary files one Apache child process may hold"),
    AP_INIT_ITERATE("WSGITrustedProxies", cmd_trusted_proxies, NULL, OR_FILEINFO,
                    "addresses of trusted front-end proxies"),
    AP_INIT_ITERATE("WSGITrustedProxyHeaders", cmd_trusted_proxy_headers, NULL, OR_FILEINFO,
                    "headers honoured from trusted proxies"),
    /* access and authentication */
    AP_INIT_RAW_ARGS("WSGIAccessScript", cmd_dir_script, D_OFF(access_script), OR_AUTHCFG,
                     "script deciding host access"),
    AP_INIT_RAW_ARGS("WSGIAuthUserScript", cmd_dir_script, D_OFF(auth_user_script), OR_AUTHCFG,
                     "script checking user passwords"),
    AP_INIT_RAW_ARGS("WSGIAuthGroupScript", cmd_dir_script, D_OFF(auth_group_script), OR_AUTHCFG,
                     "script listing a user's groups"),
    AP_INIT_TAKE1("WSGIGroupAuthoritative", cmd_dir_flag, D_OFF(group_authoritative), OR_AUTHCFG,
                  "a failed group check is final"),
    {NULL}};
