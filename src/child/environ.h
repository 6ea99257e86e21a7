/* child/environ.h: the WSGI environ of a request, as (key, value) string pairs.
 *
 * One enumeration serves both modes: embedded mode turns the pairs into a Python dict
 * directly, daemon mode writes them into the request message. The keys known in advance are
 * shared/envkeys.h's. */
#ifndef PYHOST_ENVIRON_H
#define PYHOST_ENVIRON_H

#include "child/route.h"
#include "shared/envkeys.h"

/* Enumerates the environ of a routed request. Later pairs override earlier ones. */
void pyhost_environ_each(const pyhost_route *rt, pyhost_env_fn fn, void *ctx);

#endif
