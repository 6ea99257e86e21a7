/* child/environ.c: enumerates the WSGI environ of a request from Apache's request_rec.
 *
 * Owns the CGI variables (built straight from the request, not through ap_add_cgi_vars), the
 * HTTP_* header variables with CGI's rules (Content-Type and Content-Length renamed,
 * Authorization only when passed, Proxy dropped, names with characters other than letters,
 * digits and '-' dropped), the SetEnv/subprocess_env pass-through and mod_wsgi's own keys. */
#include "child/environ.h"
#include "child/proxies.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <unistd.h>

typedef struct {
    pyhost_env_fn fn;
    void *ctx;
} emitter;

static void put(const emitter *e, unsigned id, const char *val)
{
    if (val) {
        e->fn(e->ctx, id, pyhost_key_names[id], pyhost_key_lens[id], val, strlen(val));
    }
}

/* Decimal digits of a non-negative number, without the cost of a printf. */
static void put_num(const emitter *e, unsigned id, apr_int64_t n)
{
    char buf[24], *p = buf + sizeof(buf);
    apr_uint64_t v = n < 0 ? 0 : (apr_uint64_t)n;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    e->fn(e->ctx, id, pyhost_key_names[id], pyhost_key_lens[id], p,
          (apr_size_t)(buf + sizeof(buf) - p));
}

static void put_other(const emitter *e, const char *key, const char *val)
{
    e->fn(e->ctx, PYHOST_K_OTHER, key, strlen(key), val, strlen(val));
}

/* Headers with a key made once per interpreter; the rest get HTTP_ + name built per request. */
static unsigned known_header(const char *name, apr_size_t len)
{
    switch (len) {
    case 4:
        return strcasecmp(name, "Host") ? PYHOST_K_OTHER : PYHOST_K_HTTP_HOST;
    case 6:
        if (!strcasecmp(name, "Accept")) {
            return PYHOST_K_HTTP_ACCEPT;
        }
        return strcasecmp(name, "Cookie") ? PYHOST_K_OTHER : PYHOST_K_HTTP_COOKIE;
    case 7:
        return strcasecmp(name, "Referer") ? PYHOST_K_OTHER : PYHOST_K_HTTP_REFERER;
    case 10:
        if (!strcasecmp(name, "User-Agent")) {
            return PYHOST_K_HTTP_USER_AGENT;
        }
        return strcasecmp(name, "Connection") ? PYHOST_K_OTHER : PYHOST_K_HTTP_CONNECTION;
    case 13:
        return strcasecmp(name, "Cache-Control") ? PYHOST_K_OTHER : PYHOST_K_HTTP_CACHE_CONTROL;
    case 15:
        if (!strcasecmp(name, "Accept-Encoding")) {
            return PYHOST_K_HTTP_ACCEPT_ENCODING;
        }
        return strcasecmp(name, "Accept-Language") ? PYHOST_K_OTHER : PYHOST_K_HTTP_ACCEPT_LANGUAGE;
    default:
        return PYHOST_K_OTHER;
    }
}

static void put_headers(const emitter *e, const pyhost_route *rt, pyhost_proxy *px)
{
    const apr_array_header_t *arr = apr_table_elts(rt->r->headers_in);
    const apr_table_entry_t *h = (const apr_table_entry_t *)arr->elts;
    char name[256];
    int i;
    for (i = 0; i < arr->nelts; i++) {
        const char *k = h[i].key, *v = h[i].val;
        apr_size_t len, j;
        unsigned id;
        if (!k || !v) {
            continue;
        }
        len = strlen(k);
        if (len == 12 && !strcasecmp(k, "Content-Type")) {
            put(e, PYHOST_K_CONTENT_TYPE, v);
            continue;
        }
        if (len == 14 && !strcasecmp(k, "Content-Length")) {
            put(e, PYHOST_K_CONTENT_LENGTH, v);
            continue;
        }
        if (len == 13 && !strcasecmp(k, "Authorization")) {
            if (rt->pass_authorization) {
                put(e, PYHOST_K_HTTP_AUTHORIZATION, v);
            }
            continue;
        }
        if ((len == 5 && !strcasecmp(k, "Proxy")) ||
            (len == 19 && !strcasecmp(k, "Proxy-Authorization"))) {
            continue;
        }
        id = known_header(k, len);
        if (id != PYHOST_K_OTHER) {
            put(e, id, v);
            continue;
        }
        if (len + 6 > sizeof(name)) {
            continue;
        }
        memcpy(name, "HTTP_", 5);
        for (j = 0; j < len; j++) {
            unsigned char c = (unsigned char)k[j];
            if (apr_isalnum(c)) {
                name[5 + j] = (char)apr_toupper(c);
            }
            else if (c == '-') {
                name[5 + j] = '_';
            }
            else {
                break; /* header smuggling guard: X_Forwarded_For must not pass as X-... */
            }
        }
        if (j == len) {
            name[len + 5] = '\0';
            if (!px || pyhost_proxy_header(px, name, v)) {
                e->fn(e->ctx, PYHOST_K_OTHER, name, len + 5, v, strlen(v));
            }
        }
    }
}

/* SetEnv, mod_rewrite's E=, mod_ssl's variables and the like. */
static void put_subprocess_env(const emitter *e, const request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *t = (const apr_table_entry_t *)arr->elts;
    int i;
    for (i = 0; i < arr->nelts; i++) {
        if (!t[i].key || !t[i].val || !strcmp(t[i].key, "PATH") || !strcmp(t[i].key, "HTTPS") ||
            !strncmp(t[i].key, "mod_wsgi.x-", 11)) {
            continue;
        }
        put_other(e, t[i].key, t[i].val);
    }
}

/* REQUEST_METHOD: HEAD becomes GET when WSGIMapHEADToGET says so (route decides). */
static const char *method_of(const pyhost_route *rt)
{
    return rt->head_as_get ? "GET" : rt->r->method;
}

void pyhost_environ_each(const pyhost_route *rt, pyhost_env_fn fn, void *ctx)
{
    request_rec *r = rt->r;
    conn_rec *c = r->connection;
    const emitter em = {fn, ctx}, *e = &em;
    pyhost_proxy proxy, *px = NULL;

    put_subprocess_env(e, r);
    if (r->prev) {
        const request_rec *first = r->prev;
        while (first->prev) {
            first = first->prev;
        }
        if (first->args) {
            put_other(e, "REDIRECT_QUERY_STRING", first->args);
        }
        put_other(e, "REDIRECT_URL", first->uri);
        if (!r->user && first->user) {
            put_other(e, "REDIRECT_REMOTE_USER", first->user);
        }
    }
    if (rt->cfg->trusted_proxy_headers) {
        px = &proxy;
        pyhost_proxy_begin(px, rt);
    }
    put_headers(e, rt, px);

    put(e, PYHOST_K_SERVER_SOFTWARE, ap_get_server_banner());
    put(e, PYHOST_K_SERVER_NAME, ap_get_server_name_for_url(r));
    put(e, PYHOST_K_SERVER_ADDR, c->local_ip);
    put_num(e, PYHOST_K_SERVER_PORT, ap_get_server_port(r));
    put(e, PYHOST_K_REMOTE_ADDR, r->useragent_ip);
    put_num(e, PYHOST_K_REMOTE_PORT, c->client_addr->port);
    put(e, PYHOST_K_DOCUMENT_ROOT, ap_document_root(r));
    put(e, PYHOST_K_REQUEST_SCHEME, ap_http_scheme(r));
    put(e, PYHOST_K_CONTEXT_PREFIX, ap_context_prefix(r));
    put(e, PYHOST_K_CONTEXT_DOCUMENT_ROOT, ap_context_document_root(r));
    put(e, PYHOST_K_SERVER_ADMIN, r->server->server_admin);
    put(e, PYHOST_K_SCRIPT_FILENAME, r->filename);
    put(e, PYHOST_K_REMOTE_USER, r->user);
    put(e, PYHOST_K_AUTH_TYPE, r->ap_auth_type);
    put(e, PYHOST_K_SERVER_PROTOCOL, r->protocol);
    put(e, PYHOST_K_REQUEST_METHOD, method_of(rt));
    put(e, PYHOST_K_QUERY_STRING, r->args ? r->args : "");
    put(e, PYHOST_K_REQUEST_URI, r->unparsed_uri);
    put(e, PYHOST_K_SCRIPT_NAME, rt->script_name);
    put(e, PYHOST_K_PATH_INFO, r->path_info ? r->path_info : "");

    put(e, PYHOST_K_URL_SCHEME, ap_http_scheme(r));
    put(e, PYHOST_K_PROCESS_GROUP, rt->process_group);
    put(e, PYHOST_K_APPLICATION_GROUP, rt->application_group);
    put(e, PYHOST_K_CALLABLE_OBJECT, rt->callable);
    put(e, PYHOST_K_REQUEST_HANDLER, r->handler);
    put(e, PYHOST_K_HANDLER_SCRIPT, rt->handler_script ? rt->handler_script : "");
    put(e, PYHOST_K_SCRIPT_RELOADING, rt->script_reloading ? "1" : "0");
    put_num(e, PYHOST_K_SERVER_PID, getpid());
    put(e, PYHOST_K_LISTENER_HOST, c->local_ip);
    put_num(e, PYHOST_K_LISTENER_PORT, c->local_addr->port);
    if (!r->log_id) {
        ap_run_generate_log_id(c, r, &r->log_id);
    }
    put(e, PYHOST_K_REQUEST_ID, r->log_id);
    if (!c->log_id) {
        ap_run_generate_log_id(c, NULL, &c->log_id);
    }
    put(e, PYHOST_K_CONNECTION_ID, c->log_id);
    put_num(e, PYHOST_K_REQUEST_START, r->request_time);
    put(e, PYHOST_K_ORIG_SCRIPT_NAME, rt->script_name);
    put(e, PYHOST_K_ORIG_PATH_INFO, r->path_info ? r->path_info : "");
    if (px) {
        pyhost_proxy_apply(px, fn, ctx);
    }
}
