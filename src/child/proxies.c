/* child/proxies.c: WSGITrustedProxies and WSGITrustedProxyHeaders.
 *
 * Owns which forwarded headers a request may carry and what they change: from a trusted peer
 * (any peer when WSGITrustedProxies is not set) the listed headers are applied and the other
 * headers of the same kind are dropped; from any other peer every header of a listed kind is
 * dropped. Kinds: client address (X-Forwarded-For walked right to left past trusted proxies,
 * X-Client-IP, X-Real-IP), host, server name, port, script name (the mount point) and scheme. */
#include "child/proxies.h"

#include "apr_strings.h"
#include "apr_lib.h"

#include <arpa/inet.h>

enum { PX_CLIENT = 1, PX_HOST = 2, PX_SERVER = 4, PX_PORT = 8, PX_SCRIPT = 16, PX_SCHEME = 32 };

static const struct {
    const char *cgi;
    int kind;
} known[] = {{"HTTP_X_FORWARDED_FOR", PX_CLIENT},
             {"HTTP_X_CLIENT_IP", PX_CLIENT},
             {"HTTP_X_REAL_IP", PX_CLIENT},
             {"HTTP_X_FORWARDED_HOST", PX_HOST},
             {"HTTP_X_HOST", PX_HOST},
             {"HTTP_X_FORWARDED_SERVER", PX_SERVER},
             {"HTTP_X_FORWARDED_PORT", PX_PORT},
             {"HTTP_X_SCRIPT_NAME", PX_SCRIPT},
             {"HTTP_X_FORWARDED_SCRIPT_NAME", PX_SCRIPT},
             {"HTTP_X_FORWARDED_PROTO", PX_SCHEME},
             {"HTTP_X_FORWARDED_SCHEME", PX_SCHEME},
             {"HTTP_X_SCHEME", PX_SCHEME},
             {"HTTP_X_FORWARDED_HTTPS", PX_SCHEME},
             {"HTTP_X_FORWARDED_SSL", PX_SCHEME},
             {"HTTP_X_HTTPS", PX_SCHEME},
             {NULL, 0}};

static int kind_of(const char *cgi)
{
    int i;
    for (i = 0; known[i].cgi; i++) {
        if (!strcmp(known[i].cgi, cgi)) {
            return known[i].kind;
        }
    }
    return 0;
}

/* Whether the address is one of the trusted proxies. */
static int trusted(const pyhost_dir_cfg *d, apr_sockaddr_t *sa)
{
    int i;
    for (i = 0; i < d->trusted_proxies->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(d->trusted_proxies, i, apr_ipsubnet_t *), sa)) {
            return 1;
        }
    }
    return 0;
}

/* A numeric address as a sockaddr (no name lookup), or NULL. */
static apr_sockaddr_t *numeric(apr_pool_t *p, const char *text)
{
    unsigned char buf[sizeof(struct in6_addr)];
    apr_sockaddr_t *sa;
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, text, buf) != 1 ||
        apr_sockaddr_info_get(&sa, text, family, 0, 0, p) != APR_SUCCESS) {
        return NULL;
    }
    return sa;
}

void pyhost_proxy_begin(pyhost_proxy *px, const pyhost_route *rt)
{
    const pyhost_dir_cfg *d = rt->cfg;
    int i, n = d->trusted_proxy_headers->nelts;
    px->rt = rt;
    px->kinds = 0;
    px->values = apr_pcalloc(rt->r->pool, sizeof(const char *) * (apr_size_t)n);
    for (i = 0; i < n; i++) {
        px->kinds |= kind_of(APR_ARRAY_IDX(d->trusted_proxy_headers, i, const char *));
    }
    px->trusted = !d->trusted_proxies || trusted(d, rt->r->connection->client_addr);
}

int pyhost_proxy_header(pyhost_proxy *px, const char *cgi, const char *value)
{
    const apr_array_header_t *listed = px->rt->cfg->trusted_proxy_headers;
    int i, kind = kind_of(cgi);
    if (!(kind & px->kinds)) {
        return 1; /* not a kind anyone listed: an ordinary header */
    }
    if (!px->trusted) {
        return 0;
    }
    for (i = 0; i < listed->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(listed, i, const char *), cgi)) {
            px->values[i] = value;
            return 1;
        }
    }
    return 0; /* another header of a listed kind */
}

static void put(pyhost_env_fn fn, void *ctx, unsigned id, const char *value)
{
    fn(ctx, id, pyhost_key_names[id], pyhost_key_lens[id], value, strlen(value));
}

/* X-Forwarded-For: the client is the rightmost address that is not a trusted proxy. */
static void forwarded_for(pyhost_proxy *px, const char *value, pyhost_env_fn fn, void *ctx)
{
    request_rec *r = px->rt->r;
    apr_array_header_t *hops = apr_array_make(r->pool, 4, sizeof(char *));
    char *list = apr_pstrdup(r->pool, value), *last, *hop;
    int i, first = -1;
    for (hop = apr_strtok(list, ",", &last); hop; hop = apr_strtok(NULL, ",", &last)) {
        while (apr_isspace(*hop)) {
            hop++;
        }
        apr_collapse_spaces(hop, hop);
        if (*hop) {
            APR_ARRAY_PUSH(hops, char *) = hop;
        }
    }
    if (!hops->nelts) {
        return;
    }
    if (!px->rt->cfg->trusted_proxies) {
        put(fn, ctx, PYHOST_K_REMOTE_ADDR, APR_ARRAY_IDX(hops, 0, char *));
        return;
    }
    for (i = hops->nelts - 1; i >= 0; i--) {
        apr_sockaddr_t *sa = numeric(r->pool, APR_ARRAY_IDX(hops, i, char *));
        if (!sa || !trusted(px->rt->cfg, sa)) {
            break;
        }
        first = i;
    }
    i = first < 0 ? hops->nelts - 1 : first > 0 ? first - 1 : 0;
    put(fn, ctx, PYHOST_K_REMOTE_ADDR, APR_ARRAY_IDX(hops, i, char *));
    /* what is left of the chain starts with the client */
    for (list = APR_ARRAY_IDX(hops, i, char *), first = i + 1; first < hops->nelts; first++) {
        list = apr_pstrcat(r->pool, list, ", ", APR_ARRAY_IDX(hops, first, char *), NULL);
    }
    fn(ctx, PYHOST_K_OTHER, "HTTP_X_FORWARDED_FOR", 20, list, strlen(list));
}

void pyhost_proxy_apply(pyhost_proxy *px, pyhost_env_fn fn, void *ctx)
{
    const apr_array_header_t *listed = px->rt->cfg->trusted_proxy_headers;
    const char *scheme = NULL;
    int i;
    for (i = 0; i < listed->nelts; i++) {
        const char *cgi = APR_ARRAY_IDX(listed, i, const char *), *v = px->values[i];
        if (!v) {
            continue;
        }
        switch (kind_of(cgi)) {
        case PX_CLIENT:
            if (!strcmp(cgi, "HTTP_X_FORWARDED_FOR")) {
                forwarded_for(px, v, fn, ctx);
            }
            else {
                put(fn, ctx, PYHOST_K_REMOTE_ADDR, v);
            }
            break;
        case PX_HOST:
            put(fn, ctx, PYHOST_K_HTTP_HOST, v);
            break;
        case PX_SERVER:
            put(fn, ctx, PYHOST_K_SERVER_NAME, v);
            break;
        case PX_PORT:
            put(fn, ctx, PYHOST_K_SERVER_PORT, v);
            break;
        case PX_SCRIPT:
            put(fn, ctx, PYHOST_K_SCRIPT_NAME, v);
            put(fn, ctx, PYHOST_K_MOUNT_POINT, v);
            break;
        case PX_SCHEME:
            if (!strcasecmp(v, "https") || !strcasecmp(v, "on") || !strcasecmp(v, "true") ||
                !strcmp(v, "1")) {
                scheme = "https";
            }
            else if (!strcasecmp(v, "http") || !strcasecmp(v, "off") || !strcasecmp(v, "false") ||
                     !strcmp(v, "0")) {
                scheme = "http";
            }
            break;
        default:
            break;
        }
    }
    if (scheme) {
        put(fn, ctx, PYHOST_K_URL_SCHEME, scheme);
    }
}
