/* child/router.h: the route of a request (child/route.h), decided in Apache's hooks. */
#ifndef PYHOST_ROUTER_H
#define PYHOST_ROUTER_H

#include "child/route.h"

/* translate_name: WSGIScriptAlias and WSGIScriptAliasMatch. */
int pyhost_translate_name(request_rec *r);

/* Decides the route of a request that reached the handler. Returns OK, DECLINED (not ours) or
 * an HTTP status for Apache to answer with (the reason already logged). */
int pyhost_route_request(request_rec *r, pyhost_route *rt);

#endif
