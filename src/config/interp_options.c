/* config/interp_options.c: settings that depend on which interpreter they are for.
 *
 * Owns <WSGIInterpreterOptions process-group=... application-group=...> and the directives
 * that may appear in it or at the top level (WSGIPerInterpreterGIL, WSGIFreeThreading,
 * WSGISwitchInterval, WSGIPythonPath, WSGIRestrictStdin/Stdout/Signal), mod_wsgi 6's
 * scoping (the most specific matching block wins, a later one on a tie; WSGIPythonPath adds
 * up; free-threading belongs to a whole process), the GIL mode each interpreter gets, and
 * the warnings when this Python cannot do what was asked. */
#include "config/config.h"

#include "http_log.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <Python.h>
#include <stdlib.h>

APLOG_USE_MODULE(wsgi);

/* The block whose directives are being read, while a container is walked. */
static pyhost_interp_options *reading;

static pyhost_interp_options *new_block(apr_pool_t *p)
{
    pyhost_interp_options *o = apr_pcalloc(p, sizeof(*o));
    o->per_interpreter_gil = PYHOST_UNSET;
    o->free_threading = PYHOST_UNSET;
    o->restrict_stdin = PYHOST_UNSET;
    o->restrict_stdout = PYHOST_UNSET;
    o->restrict_signal = PYHOST_UNSET;
    return o;
}

/* The block a directive sets: the container being read, or the top level. */
static pyhost_interp_options *target(void)
{
    return reading ? reading : APR_ARRAY_IDX(pyhost_g.interp_options, 0, pyhost_interp_options *);
}

static const char *flag_value(cmd_parms *cmd, const char *value, int *out)
{
    if (!strcasecmp(value, "On")) {
        *out = 1;
        return NULL;
    }
    if (!strcasecmp(value, "Off")) {
        *out = 0;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': expected On or Off", cmd->cmd->name,
                        value);
}

static const char *top_level_only(cmd_parms *cmd)
{
    return reading ? NULL : ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

/* ---- directives -------------------------------------------------------------------------- */

const char *pyhost_cmd_scoped_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = top_level_only(cmd);
    int on = 0, field = (int)(apr_uintptr_t)cmd->info;
    pyhost_interp_options *o = target();
    (void)mconfig;
    if (err || (err = flag_value(cmd, value, &on))) {
        return err;
    }
    switch (field) {
    case 0:
        o->per_interpreter_gil = on;
        break;
    case 1:
        o->free_threading = on;
        break;
    case 2:
        *(reading ? &o->restrict_stdin : &pyhost_g.restrict_stdin) = on;
        break;
    case 3:
        *(reading ? &o->restrict_stdout : &pyhost_g.restrict_stdout) = on;
        break;
    default:
        *(reading ? &o->restrict_signal : &pyhost_g.restrict_signal) = on;
        break;
    }
    return NULL;
}

const char *pyhost_cmd_switch_interval(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = top_level_only(cmd);
    char *end;
    double d;
    (void)mconfig;
    if (err) {
        return err;
    }
    d = strtod(value, &end);
    if (!*value || *end || !(d > 0)) {
        return apr_psprintf(cmd->pool,
                            "WSGISwitchInterval: invalid value '%s': expected a positive number "
                            "of seconds",
                            value);
    }
    target()->switch_interval = d;
    return NULL;
}

const char *pyhost_cmd_python_path(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = top_level_only(cmd);
    (void)mconfig;
    if (err) {
        return err;
    }
    if (!*value) {
        return "WSGIPythonPath: invalid value '': expected directories separated by ':'";
    }
    if (reading) {
        reading->python_path = value;
    }
    else {
        pyhost_g.python_path = value;
    }
    return NULL;
}

static const char *const allowed_inside[] = {
    "WSGIPerInterpreterGIL", "WSGIFreeThreading",  "WSGISwitchInterval", "WSGIPythonPath",
    "WSGIRestrictStdin",     "WSGIRestrictStdout", "WSGIRestrictSignal", NULL};

const char *pyhost_cmd_interp_container(cmd_parms *cmd, void *mconfig, const char *args)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY), *endp, *word;
    char *line;
    pyhost_interp_options *o;
    ap_directive_t *d;
    int i;
    if (err) {
        return err;
    }
    endp = ap_strrchr_c(args, '>');
    if (!endp) {
        return "<WSGIInterpreterOptions> directive missing closing '>'";
    }
    line = apr_pstrmemdup(cmd->pool, args, (apr_size_t)(endp - args));
    o = new_block(cmd->pool);
    while (*(word = pyhost_getword_option(cmd->pool, (const char **)&line))) {
        const char *eq = strchr(word, '='), **slot;
        if (!eq) {
            return apr_psprintf(cmd->pool,
                                "<WSGIInterpreterOptions>: argument '%s' is not of the form "
                                "key=value",
                                word);
        }
        if (!strncasecmp(word, "process-group=", 14)) {
            slot = &o->process_group;
        }
        else if (!strncasecmp(word, "application-group=", 18)) {
            slot = &o->application_group;
        }
        else {
            return apr_psprintf(cmd->pool,
                                "<WSGIInterpreterOptions>: unknown selector '%.*s', expected "
                                "process-group or application-group",
                                (int)(eq - word), word);
        }
        if (*slot) {
            return apr_psprintf(cmd->pool, "<WSGIInterpreterOptions>: %.*s given more than once",
                                (int)(eq - word), word);
        }
        *slot = strcmp(eq + 1, "%{GLOBAL}") ? eq + 1 : "";
    }
    for (d = cmd->directive->first_child; d; d = d->next) {
        for (i = 0; allowed_inside[i] && strcasecmp(d->directive, allowed_inside[i]); i++) {
        }
        if (!allowed_inside[i]) {
            return apr_psprintf(cmd->pool, "%s is not allowed inside <WSGIInterpreterOptions>",
                                d->directive);
        }
    }
    APR_ARRAY_PUSH(pyhost_g.interp_options, pyhost_interp_options *) = o;
    reading = o;
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    reading = NULL;
    return err;
}

/* ---- resolution -------------------------------------------------------------------------- */

static double group_switch_interval(const char *pg)
{
    const pyhost_group *g = pyhost_group_find(pg);
    return g ? g->switch_interval : 0;
}

static int selects(const pyhost_interp_options *o, const char *pg, const char *ag)
{
    return (!o->process_group || !strcmp(o->process_group, pg)) &&
           (!o->application_group || !strcmp(o->application_group, ag));
}

static int specificity(const pyhost_interp_options *o)
{
    return (o->process_group != NULL) + (o->application_group != NULL);
}

/* The value of an int field from the most specific matching block that sets it. */
static int scalar(const char *pg, const char *ag, size_t offset, int dflt)
{
    int i, best = -1, value = dflt;
    for (i = 0; i < pyhost_g.interp_options->nelts; i++) {
        const pyhost_interp_options *o =
            APR_ARRAY_IDX(pyhost_g.interp_options, i, pyhost_interp_options *);
        int v = *(const int *)((const char *)o + offset);
        if (v != PYHOST_UNSET && selects(o, pg, ag) && specificity(o) >= best) {
            best = specificity(o);
            value = v;
        }
    }
    return value;
}

static int free_threading(const char *process_group)
{
    int i, best = -1, value = 0;
    for (i = 0; i < pyhost_g.interp_options->nelts; i++) {
        const pyhost_interp_options *o =
            APR_ARRAY_IDX(pyhost_g.interp_options, i, pyhost_interp_options *);
        if (o->free_threading != PYHOST_UNSET && !o->application_group &&
            (!o->process_group || !strcmp(o->process_group, process_group)) &&
            specificity(o) >= best) {
            best = specificity(o);
            value = o->free_threading;
        }
    }
#ifdef Py_GIL_DISABLED
    return value;
#else
    (void)value;
    return 0;
#endif
}

void pyhost_interp_settings_for(const char *pg, const char *ag, pyhost_interp_settings *s,
                                apr_pool_t *p)
{
    int i, best = -1, by_group = 0;
    s->restrict_stdin = scalar(pg, ag, APR_OFFSETOF(pyhost_interp_options, restrict_stdin),
                               pyhost_g.restrict_stdin);
    s->restrict_stdout = scalar(pg, ag, APR_OFFSETOF(pyhost_interp_options, restrict_stdout),
                                pyhost_g.restrict_stdout);
    s->restrict_signal = scalar(pg, ag, APR_OFFSETOF(pyhost_interp_options, restrict_signal),
                                pyhost_g.restrict_signal);
    /* the top level's switch interval is embedded mode's; a daemon group has its option */
    s->switch_interval = *pg ? group_switch_interval(pg) : 0;
    s->switch_interval_ignored = 0;
    for (i = 0; i < pyhost_g.interp_options->nelts; i++) {
        const pyhost_interp_options *o =
            APR_ARRAY_IDX(pyhost_g.interp_options, i, pyhost_interp_options *);
        if (o->switch_interval > 0 && (i || !*pg) && selects(o, pg, ag) && specificity(o) >= best) {
            best = specificity(o);
            by_group = o->application_group != NULL;
            s->switch_interval = o->switch_interval;
        }
    }
    s->python_paths = apr_array_make(p, 2, sizeof(const char *));
    for (best = 0; best <= 2; best++) {
        for (i = 1; i < pyhost_g.interp_options->nelts; i++) {
            const pyhost_interp_options *o =
                APR_ARRAY_IDX(pyhost_g.interp_options, i, pyhost_interp_options *);
            if (o->python_path && specificity(o) == best && selects(o, pg, ag)) {
                APR_ARRAY_PUSH(s->python_paths, const char *) = o->python_path;
            }
        }
    }
    if (free_threading(pg)) {
        s->mode = PYHOST_GIL_FREE;
    }
    else if (*ag && PY_VERSION_HEX >= 0x030C0000 &&
             scalar(pg, ag, APR_OFFSETOF(pyhost_interp_options, per_interpreter_gil), 0)) {
        s->mode = PYHOST_GIL_OWN;
    }
    else {
        s->mode = PYHOST_GIL_SHARED;
    }
    if (by_group && s->mode != PYHOST_GIL_OWN) {
        /* a shared GIL's switch interval is every interpreter's: one group cannot have its own */
        s->switch_interval_ignored = s->switch_interval;
        s->switch_interval = 0;
    }
}

/* ---- what this Python can do ------------------------------------------------------------- */

/* One warning per request this build cannot honour; called once at start-up. */
void pyhost_interp_options_check(server_rec *s)
{
    int i, gil = 0, ft = 0;
    for (i = 0; i < pyhost_g.interp_options->nelts; i++) {
        const pyhost_interp_options *o =
            APR_ARRAY_IDX(pyhost_g.interp_options, i, pyhost_interp_options *);
        gil |= o->per_interpreter_gil == 1;
        ft |= o->free_threading == 1 && !o->application_group;
        if (o->free_threading == 1 && o->application_group) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "WSGIFreeThreading in <WSGIInterpreterOptions application-group=%s> is "
                         "ignored: free-threading belongs to a whole process, not to an "
                         "application group",
                         o->application_group);
        }
    }
#if PY_VERSION_HEX < 0x030C0000
    for (i = 0; i < pyhost_g.groups->nelts; i++) {
        const pyhost_group *g = APR_ARRAY_IDX(pyhost_g.groups, i, const pyhost_group *);
        if (g->interpreters > 1) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "WSGIDaemonProcess %s: interpreters=%d needs Python 3.12 or later for "
                         "interpreters with their own GIL; this module is built for Python %s: "
                         "the %d interpreters share one GIL",
                         g->name, g->interpreters, PY_VERSION, g->interpreters);
        }
    }
    if (gil) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "WSGIPerInterpreterGIL On needs Python 3.12 or later; this module is built "
                     "for Python %s: every interpreter shares one GIL",
                     PY_VERSION);
    }
#endif
#ifndef Py_GIL_DISABLED
    if (ft) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "WSGIFreeThreading On needs a free-threaded Python build (3.13t or later); "
                     "this module is built for Python %s with a GIL: the GIL stays on",
                     PY_VERSION);
    }
#else
    if (ft && gil) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "WSGIPerInterpreterGIL has no effect in processes that run free-threaded");
    }
#endif
    (void)gil;
    (void)ft;
}
