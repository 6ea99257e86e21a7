/* child/embedded.h: running an application in Apache's child process. */
#ifndef PYHOST_EMBEDDED_H
#define PYHOST_EMBEDDED_H

#include "child/route.h"

/* Runs the routed request in this process. Returns what the handler returns. */
int pyhost_embedded_run(pyhost_route *rt);

#endif
