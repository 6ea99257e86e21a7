/* child/status.h: the pyhost-metrics, pyhost-status and pyhost-health handlers. */
#ifndef PYHOST_STATUS_H
#define PYHOST_STATUS_H

#include "apr_pools.h"

/* Registers the handler hook that answers the three handler names. */
void pyhost_status_register(apr_pool_t *p);

#endif
