/* child/router.c: from URL to application.
 *
 * Owns WSGIScriptAlias(Match) URL mapping (translate_name), the checks a request must pass
 * before a script runs (file exists, not a directory, ExecCGI, path info, request body
 * framing) and the choice of daemon group, application group and callable (with
 * WSGIDispatchScript's say, child/pyhooks.c), named as child/route.c names them. */
#include "child/router.h"
#include "child/pyhooks.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "util_script.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <stdlib.h>

APLOG_USE_MODULE(wsgi);

/* ---- WSGIScriptAlias --------------------------------------------------------------------- */

/* Length of the URI prefix matching alias, slashes in the alias matching runs of slashes, or
 * -1 if no match or the match ends inside a path segment. The slashes that end the match are
 * left to the rest, which becomes PATH_INFO: WSGIScriptAlias / gives "/" for "/". */
static apr_ssize_t prefix_match(const char *uri, const char *alias)
{
    const char *a = alias, *u = uri;
    while (*a) {
        if (*a == '/') {
            if (*u != '/') {
                return -1;
            }
            while (*a == '/') {
                a++;
            }
            while (*u == '/') {
                u++;
            }
        }
        else if (*u++ != *a++) {
            return -1;
        }
    }
    if (a[-1] == '/') {
        while (u > uri && u[-1] == '/') {
            u--;
        }
    }
    else if (*u && *u != '/') {
        return -1;
    }
    return (apr_ssize_t)(u - uri);
}

/* target + the unmatched rest of the URI, with exactly one slash between them. */
static char *join_rest(apr_pool_t *p, const char *target, const char *rest)
{
    apr_size_t tl = strlen(target);
    int target_slash = tl && target[tl - 1] == '/';
    if (*rest == '/' && target_slash) {
        rest++;
    }
    else if (*rest && *rest != '/' && !target_slash) {
        return apr_pstrcat(p, target, "/", rest, NULL);
    }
    return apr_pstrcat(p, target, rest, NULL);
}

int pyhost_translate_name(request_rec *r)
{
    pyhost_server_cfg *sc = ap_get_module_config(r->server->module_config, &wsgi_module);
    const pyhost_alias *a = (const pyhost_alias *)sc->aliases->elts;
    int i;
    if (!sc->aliases->nelts || r->uri[0] != '/') {
        return DECLINED;
    }
    for (i = 0; i < sc->aliases->nelts; i++) {
        char *found = NULL;
        if (a[i].regex) {
            ap_regmatch_t m[AP_MAX_REG_MATCH];
            if (!ap_regexec(a[i].regex, r->uri, AP_MAX_REG_MATCH, m, 0)) {
                char *sub = ap_pregsub(r->pool, a[i].target, r->uri, AP_MAX_REG_MATCH, m);
                if (!sub) {
                    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                                  "WSGIScriptAliasMatch %s: substitution of '%s' failed for %s",
                                  a[i].location, a[i].target, r->uri);
                    return HTTP_INTERNAL_SERVER_ERROR;
                }
                found = join_rest(r->pool, sub, r->uri + m[0].rm_eo);
            }
        }
        else {
            apr_ssize_t l = prefix_match(r->uri, a[i].location);
            if (l >= 0) {
                found = join_rest(r->pool, a[i].target, r->uri + l);
            }
        }
        if (found) {
            r->filename = found;
            r->handler = "wsgi-script";
            apr_table_setn(r->notes, "alias-forced-type", r->handler);
            ap_set_module_config(r->request_config, &wsgi_module, (void *)&a[i]);
            return OK;
        }
    }
    return DECLINED;
}

/* ---- per request ------------------------------------------------------------------------- */

/* A content filter (deflate, substitute...) must see the body of a HEAD request as the GET
 * would produce it. */
static int has_content_filter(request_rec *r)
{
    ap_filter_t *f;
    for (f = r->output_filters; f; f = f->next) {
        if (f->frec->ftype < AP_FTYPE_PROTOCOL) {
            return 1;
        }
    }
    return 0;
}

static int body_checks(request_rec *r, const pyhost_dir_cfg *d)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    if (te) {
        if (strcasecmp(te, "chunked")) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "Transfer-Encoding '%s' of the request body is not supported", te);
            return HTTP_NOT_IMPLEMENTED;
        }
        if (!pyhost_flag(d->chunked_request, 0)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "chunked request body refused for %s: WSGIChunkedRequest is Off", r->uri);
            return HTTP_LENGTH_REQUIRED;
        }
    }
    else if (cl) {
        apr_off_t len, limit = ap_get_limit_req_body(r);
        char *end;
        if (apr_strtoff(&len, cl, &end, 10) || *end || len < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "invalid Content-Length '%s'", cl);
            return HTTP_BAD_REQUEST;
        }
        if (limit && len > limit) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "request body of %" APR_OFF_T_FMT
                          " bytes is over LimitRequestBody %" APR_OFF_T_FMT,
                          len, limit);
            ap_discard_request_body(r);
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    return OK;
}

static int group_allowed(request_rec *r, const pyhost_dir_cfg *d, pyhost_route *rt)
{
    const char *name = rt->process_group;
    int i;
    if (d->restrict_process) {
        for (i = 0; i < d->restrict_process->nelts; i++) {
            if (!strcmp(APR_ARRAY_IDX(d->restrict_process, i, const char *), name)) {
                break;
            }
        }
        if (i == d->restrict_process->nelts) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "%s: process group '%s' is not allowed here by WSGIRestrictProcess",
                          rt->script, name);
            return 0;
        }
    }
    if (!*name) {
        return 1;
    }
    rt->group = pyhost_group_find(name);
    if (!rt->group) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: no WSGIDaemonProcess named '%s' is configured", rt->script, name);
        return 0;
    }
    if (rt->group->server->is_virtual && rt->group->server != r->server &&
        strcmp(rt->group->server->server_hostname, r->server->server_hostname)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: daemon process group '%s' belongs to virtual host '%s' and cannot "
                      "serve '%s'",
                      rt->script, name, rt->group->server->server_hostname,
                      r->server->server_hostname);
        return 0;
    }
    return 1;
}

int pyhost_route_request(request_rec *r, pyhost_route *rt)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    const pyhost_alias *alias = ap_get_module_config(r->request_config, &wsgi_module);
    const pyhost_handler_script *hs = NULL;
    const pyhost_target_opts *o = NULL;
    const char *pg, *ag, *callable;
    int rv;

    if (!r->handler) {
        return DECLINED;
    }
    if (strcmp(r->handler, "wsgi-script") && strcmp(r->handler, "application/x-httpd-wsgi")) {
        if (!d->handler_scripts ||
            !(hs = apr_hash_get(d->handler_scripts, r->handler, APR_HASH_KEY_STRING))) {
            return DECLINED;
        }
    }
    memset(rt, 0, sizeof(*rt));
    rt->r = r;
    rt->cfg = d;
    if (hs) {
        o = &hs->opts;
        rt->script = hs->path;
        rt->handler_script = hs->path;
    }
    else {
        o = alias ? &alias->opts : NULL;
        rt->script = r->filename;
        if (r->finfo.filetype == APR_NOFILE) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "WSGI script not found or unable to stat: %s", r->filename);
            return HTTP_NOT_FOUND;
        }
        if (r->finfo.filetype == APR_DIR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "attempt to run a directory as a WSGI script: %s", r->filename);
            return HTTP_FORBIDDEN;
        }
        if (!alias && !(ap_allow_options(r) & OPT_EXECCGI)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "Options ExecCGI is off in this directory: %s", r->filename);
            return HTTP_FORBIDDEN;
        }
        rt->script_mtime = r->finfo.mtime;
    }
    if (r->used_path_info == AP_REQ_REJECT_PATH_INFO && r->path_info && *r->path_info) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "path info '%s' refused by AcceptPathInfo Off for %s", r->path_info,
                      rt->script);
        return HTTP_NOT_FOUND;
    }
    if ((rv = body_checks(r, d)) != OK) {
        return rv;
    }

    rt->script_name = pyhost_script_name(r);
    pg = o && o->process_group ? o->process_group : d->process_group ? d->process_group : "";
    ag = o && o->application_group ? o->application_group
         : d->application_group    ? d->application_group
                                   : "%{RESOURCE}";
    callable = hs                        ? "handle_request"
               : o && o->callable_object ? o->callable_object
               : d->callable_object      ? d->callable_object
                                         : "application";
    rt->application_group = pyhost_expand_group(r, ag, rt->script_name);
    if (d->dispatch_script && pyhost_dispatch(rt, &pg, &ag, &callable) < 0) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rt->process_group = pyhost_expand_group(r, pg, rt->script_name);
    rt->application_group = pyhost_expand_group(r, ag, rt->script_name);
    rt->callable = pyhost_expand_group(r, callable, rt->script_name);
    rt->pass_authorization = o && o->pass_authorization != PYHOST_UNSET
                                 ? o->pass_authorization
                                 : pyhost_flag(d->pass_authorization, 0);
    rt->script_reloading = pyhost_flag(d->script_reloading, 1);
    if (r->header_only) {
        int map = pyhost_flag(d->map_head_to_get, PYHOST_HEAD_AUTO);
        rt->head_as_get =
            map == PYHOST_HEAD_ON || (map == PYHOST_HEAD_AUTO && has_content_filter(r));
    }
    if (!group_allowed(r, d, rt)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
