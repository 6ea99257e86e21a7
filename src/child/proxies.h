/* child/proxies.h: forwarded headers from trusted front-end proxies (child/environ.c uses it). */
#ifndef PYHOST_PROXIES_H
#define PYHOST_PROXIES_H

#include "child/route.h"
#include "shared/envkeys.h"

typedef struct {
    const pyhost_route *rt;
    int kinds;           /* the kinds of header WSGITrustedProxyHeaders lists */
    int trusted;         /* the peer may set them */
    const char **values; /* of the listed headers, as they came */
} pyhost_proxy;

/* For a request whose configuration lists WSGITrustedProxyHeaders. */
void pyhost_proxy_begin(pyhost_proxy *px, const pyhost_route *rt);

/* A request header about to become cgi (HTTP_...): 1 to pass it on, 0 to drop it. */
int pyhost_proxy_header(pyhost_proxy *px, const char *cgi, const char *value);

/* Emits what the applied headers change; after the CGI variables, so that they win. */
void pyhost_proxy_apply(pyhost_proxy *px, pyhost_env_fn fn, void *ctx);

#endif
