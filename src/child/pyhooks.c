/* child/pyhooks.c: Python scripts that take part in Apache's request phases.
 *
 * Owns WSGIAccessScript (allow_access), the authn provider "wsgi" for WSGIAuthUserScript
 * (check_password for Basic, get_realm_hash for Digest), the authz provider "wsgi-group" for
 * WSGIAuthGroupScript (groups_for_user, with WSGIGroupAuthoritative) and WSGIDispatchScript
 * (process_group, application_group, callable_object). They always run in the Apache child,
 * never in a daemon, in the main interpreter unless their application-group= says
 * otherwise, with an environ built like an application's. */
#include "child/pyhooks.h"
#include "child/environ.h"

#include "python/runtime.h"
#include "python/log.h"
#include "python/input.h"
#include "python/script.h"
#include "python/wsgi.h"

#include "ap_provider.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "mod_auth.h"
#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

typedef struct {
    request_rec *r;
    pyhost_route rt;
    pyhost_wsgi_call call;
    PyThreadState *ts;
    const pyhost_logctx *prev_log;
    PyObject *module, *environ, *input, *errors;
} hook;

static void route_pairs(void *ctx, pyhost_env_fn fn, void *fn_ctx)
{
    pyhost_environ_each(ctx, fn, fn_ctx);
}

/* Enters the interpreter of script sc (group: its application-group=, else dflt), loads
 * the script and builds the environ. 0, or -1 with the failure logged. */
static int hook_begin(hook *h, request_rec *r, const pyhost_script *sc, const char *dflt)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    pyhost_interp *interp;
    memset(h, 0, sizeof(*h));
    h->r = r;
    if (!pyhost_python_ready()) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s: Python is not initialised in this process",
                      sc->path);
        return -1;
    }
    h->rt.r = r;
    h->rt.cfg = d;
    h->rt.script = sc->path;
    h->rt.callable = "";
    h->rt.process_group = "";
    h->rt.script_name = pyhost_script_name(r);
    h->rt.pass_authorization = 0; /* never the credentials themselves */
    h->rt.application_group = sc->application_group
                                  ? pyhost_expand_group(r, sc->application_group, h->rt.script_name)
                                  : dflt;
    interp = pyhost_interp_get(h->rt.application_group);
    if (!interp) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: Python interpreter '%s' could not be created: %s", sc->path,
                      h->rt.application_group, pyhost_interp_failure(h->rt.application_group));
        return -1;
    }
    h->call.interp = interp;
    h->call.script = sc->path;
    h->call.callable = "";
    h->call.pairs = route_pairs;
    h->call.pairs_ctx = &h->rt;
    h->call.log.r = r;
    h->call.log.s = r->server;
    h->ts = pyhost_interp_enter(interp);
    h->prev_log = pyhost_current_log;
    pyhost_current_log = &h->call.log;
    h->module = pyhost_script_module(interp, sc->path, 0, pyhost_flag(d->script_reloading, 1),
                                     &h->call.log);
    if (h->module) {
        h->environ = pyhost_wsgi_environ(&h->call, &h->input, &h->errors);
    }
    if (!h->environ) {
        Py_CLEAR(h->module);
        pyhost_current_log = h->prev_log;
        pyhost_interp_leave(h->ts);
        return -1;
    }
    return 0;
}

static void hook_end(hook *h)
{
    pyhost_input_detach(h->input);
    pyhost_log_close(h->errors);
    Py_XDECREF(h->input);
    Py_XDECREF(h->errors);
    Py_XDECREF(h->environ);
    Py_XDECREF(h->module);
    pyhost_current_log = h->prev_log;
    pyhost_interp_leave(h->ts);
}

/* Calls the script's function name(environ, *more). NULL when the script has no such
 * function (*missing set) or it raised (logged). */
static PyObject *hook_call(hook *h, const char *name, PyObject *more, int *missing)
{
    PyObject *fn = PyObject_GetAttrString(h->module, name), *args, *result;
    Py_ssize_t i, n = more ? PyTuple_GET_SIZE(more) : 0;
    *missing = 0;
    if (!fn) {
        PyErr_Clear();
        *missing = 1;
        return NULL;
    }
    args = PyTuple_New(n + 1);
    if (!args) {
        Py_DECREF(fn);
        return NULL;
    }
    PyTuple_SET_ITEM(args, 0, Py_NewRef(h->environ));
    for (i = 0; i < n; i++) {
        PyTuple_SET_ITEM(args, i + 1, Py_NewRef(PyTuple_GET_ITEM(more, i)));
    }
    result = PyObject_Call(fn, args, NULL);
    Py_DECREF(args);
    Py_DECREF(fn);
    if (!result) {
        char headline[512];
        apr_snprintf(headline, sizeof(headline), "exception in %s() of %s", name, h->call.script);
        pyhost_log_exception(&h->call.log, headline);
    }
    return result;
}

static void bad_result(hook *h, const char *name, PyObject *result, const char *expected)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, h->r, "%s() of %s returned a %s, not %s", name,
                  h->call.script, Py_TYPE(result)->tp_name, expected);
}

/* ---- WSGIAccessScript -------------------------------------------------------------------- */

static int check_access(request_rec *r)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    const char *host;
    PyObject *more, *result;
    hook h;
    int rv = HTTP_FORBIDDEN, missing = 0;
    if (!d->access_script) {
        return DECLINED;
    }
    if (hook_begin(&h, r, d->access_script, "") < 0) {
        return HTTP_FORBIDDEN; /* an access script that cannot run denies */
    }
    host = ap_get_useragent_host(r, REMOTE_HOST, NULL);
    more = Py_BuildValue("(s)", host ? host : r->useragent_ip);
    result = more ? hook_call(&h, "allow_access", more, &missing) : NULL;
    if (result == Py_True) {
        rv = OK;
    }
    else if (result == Py_False) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "client denied by %s: %s",
                      d->access_script->path, r->uri);
        rv = HTTP_FORBIDDEN;
    }
    else if (result == Py_None) {
        rv = DECLINED;
    }
    else if (result) {
        bad_result(&h, "allow_access", result, "True, False or None; access denied");
    }
    else if (missing) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s has no allow_access()",
                      d->access_script->path);
    }
    Py_XDECREF(result);
    Py_XDECREF(more);
    hook_end(&h);
    return rv;
}

/* ---- authn provider "wsgi" --------------------------------------------------------------- */

static const pyhost_script *user_script(request_rec *r)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    if (!d->auth_user_script) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "AuthBasicProvider/AuthDigestProvider wsgi needs a WSGIAuthUserScript "
                      "for %s",
                      r->uri);
    }
    return d->auth_user_script;
}

/* Calls fn(a, b) in r's WSGIAuthUserScript: its result (a new reference), or NULL when there
 * is no script, it cannot run, it lacks fn or fn raised (each logged). *begun says whether
 * the hook was begun, to be ended by the caller once it has used the result. */
static PyObject *call_user_script(request_rec *r, hook *h, const char *fn, const char *a,
                                  const char *b, int *begun)
{
    const pyhost_script *sc = user_script(r);
    PyObject *more, *result;
    int missing = 0;
    *begun = 0;
    if (!sc || hook_begin(h, r, sc, "") < 0) {
        return NULL;
    }
    *begun = 1;
    more = Py_BuildValue("(ss)", a, b);
    result = more ? hook_call(h, fn, more, &missing) : NULL;
    Py_XDECREF(more);
    if (!result && missing) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s has no %s()", sc->path, fn);
    }
    return result;
}

static authn_status check_password(request_rec *r, const char *user, const char *password)
{
    hook h;
    int begun;
    authn_status st = AUTH_GENERAL_ERROR;
    PyObject *result = call_user_script(r, &h, "check_password", user, password, &begun);
    if (result == Py_True) {
        st = AUTH_GRANTED;
    }
    else if (result == Py_False) {
        st = AUTH_DENIED;
    }
    else if (result == Py_None) {
        st = AUTH_USER_NOT_FOUND;
    }
    else if (result && PyUnicode_Check(result) && PyUnicode_GET_LENGTH(result)) {
        /* granted, as the user the script names */
        const char *name = PyUnicode_AsUTF8(result);
        if (name) {
            r->user = apr_pstrdup(r->pool, name);
            st = AUTH_GRANTED;
        }
        PyErr_Clear();
    }
    else if (result) {
        bad_result(&h, "check_password", result, "True, False, None or a user name");
    }
    Py_XDECREF(result);
    if (begun) {
        hook_end(&h);
    }
    return st;
}

static authn_status get_realm_hash(request_rec *r, const char *user, const char *realm,
                                   char **rethash)
{
    hook h;
    int begun;
    authn_status st = AUTH_GENERAL_ERROR;
    PyObject *result = call_user_script(r, &h, "get_realm_hash", user, realm, &begun);
    if (result && PyUnicode_Check(result)) {
        const char *hash = PyUnicode_AsUTF8(result);
        if (hash) {
            *rethash = apr_pstrdup(r->pool, hash);
            st = AUTH_USER_FOUND;
        }
        PyErr_Clear();
    }
    else if (result == Py_None) {
        st = AUTH_USER_NOT_FOUND;
    }
    else if (result) {
        bad_result(&h, "get_realm_hash", result, "a str or None");
    }
    Py_XDECREF(result);
    if (begun) {
        hook_end(&h);
    }
    return st;
}

static const authn_provider authn_wsgi = {check_password, get_realm_hash};

/* ---- authz provider "wsgi-group" --------------------------------------------------------- */

/* Whether one of the groups in the iterable is named on the Require line. */
static int in_require_line(request_rec *r, PyObject *groups, const char *require_line)
{
    PyObject *it = PyObject_GetIter(groups), *g;
    int found = 0;
    if (!it) {
        return -1;
    }
    while (!found && (g = PyIter_Next(it))) {
        const char *name = PyUnicode_Check(g) ? PyUnicode_AsUTF8(g)
                           : PyBytes_Check(g) ? PyBytes_AS_STRING(g)
                                              : NULL;
        const char *line = require_line, *w;
        if (name) {
            while (*(w = ap_getword_conf(r->pool, &line))) {
                if (!strcmp(w, name)) {
                    found = 1;
                    break;
                }
            }
        }
        Py_DECREF(g);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return -1;
    }
    return found;
}

static authz_status check_group(request_rec *r, const char *require_line, const void *parsed)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    PyObject *more, *result;
    hook h;
    authz_status st = AUTHZ_GENERAL_ERROR;
    int missing = 0, found;
    (void)parsed;
    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (!d->auth_group_script) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "Require wsgi-group needs a WSGIAuthGroupScript for %s", r->uri);
        return AUTHZ_GENERAL_ERROR;
    }
    if (hook_begin(&h, r, d->auth_group_script, "") < 0) {
        return AUTHZ_GENERAL_ERROR;
    }
    more = Py_BuildValue("(s)", r->user);
    result = more ? hook_call(&h, "groups_for_user", more, &missing) : NULL;
    if (result) {
        found = result == Py_None ? 0 : in_require_line(r, result, require_line);
        if (found < 0) {
            PyErr_Clear();
            bad_result(&h, "groups_for_user", result, "an iterable of group names");
        }
        else if (found) {
            st = AUTHZ_GRANTED;
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          "user %s is in none of the groups required (%s) for %s", r->user,
                          require_line, r->uri);
            st = pyhost_flag(d->group_authoritative, 1) ? AUTHZ_DENIED : AUTHZ_NEUTRAL;
        }
    }
    else if (missing) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s has no groups_for_user()",
                      d->auth_group_script->path);
    }
    Py_XDECREF(result);
    Py_XDECREF(more);
    hook_end(&h);
    return st;
}

static const authz_provider authz_wsgi_group = {check_group, NULL};

/* ---- WSGIDispatchScript ------------------------------------------------------------------ */

/* One of the dispatch functions: a str replaces *value, None leaves it. */
static int dispatch_one(hook *h, const char *name, const char **value)
{
    int missing = 0;
    PyObject *result = hook_call(h, name, NULL, &missing);
    int rv = 0;
    if (result && PyUnicode_Check(result)) {
        const char *v = PyUnicode_AsUTF8(result);
        if (v) {
            *value = apr_pstrdup(h->r->pool, v);
        }
        else {
            PyErr_Clear();
            rv = -1;
        }
    }
    else if (result && result != Py_None) {
        bad_result(h, name, result, "a str or None");
        rv = -1;
    }
    else if (!result && !missing) {
        rv = -1;
    }
    Py_XDECREF(result);
    return rv;
}

int pyhost_dispatch(pyhost_route *rt, const char **process_group, const char **application_group,
                    const char **callable)
{
    const pyhost_script *sc = rt->cfg->dispatch_script;
    hook h;
    int rv;
    if (hook_begin(&h, rt->r, sc, rt->application_group) < 0) {
        return 0; /* logged; the configuration's own names stand */
    }
    rv = dispatch_one(&h, "process_group", process_group) < 0 ||
                 dispatch_one(&h, "application_group", application_group) < 0 ||
                 dispatch_one(&h, "callable_object", callable) < 0
             ? -1
             : 0;
    hook_end(&h);
    return rv;
}

void pyhost_register_pyhooks(apr_pool_t *p)
{
    ap_hook_check_access(check_access, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, "wsgi", AUTHN_PROVIDER_VERSION, &authn_wsgi,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wsgi-group", AUTHZ_PROVIDER_VERSION,
                              &authz_wsgi_group, AP_AUTH_INTERNAL_PER_CONF);
}
