/* child/pyhooks.h: Python scripts in Apache's request phases (access, authn, authz, dispatch). */
#ifndef PYHOST_PYHOOKS_H
#define PYHOST_PYHOOKS_H

#include "child/route.h"

/* Registers the access hook and the "wsgi" and "wsgi-group" auth providers. */
void pyhost_register_pyhooks(apr_pool_t *p);

/* Runs the WSGIDispatchScript of rt's configuration: its process_group(),
 * application_group() and callable_object() may replace the three names (not yet expanded).
 * 0, or -1 with the failure logged. */
int pyhost_dispatch(pyhost_route *rt, const char **process_group, const char **application_group,
                    const char **callable);

#endif
