/* python/shared_view.h: the shared record of metrics as Python objects. */
#ifndef PYHOST_SHARED_VIEW_H
#define PYHOST_SHARED_VIEW_H

#include <Python.h>

/* [{'name', 'mode', 'request_count', 'status_1xx'.., 'restarts', 'processes'}, ...] for
 * embedded mode and each daemon group; a new reference, NULL with an exception set. */
PyObject *pyhost_shared_groups(void);

#endif
