/* python/wsgi.h: the WSGI adapter, independent of where the request came from.
 *
 * The adapter calls an application with an environ and start_response, validates what it
 * returns, and drives a pyhost_io: embedded mode's io writes to Apache's filters, daemon
 * mode's io writes frames to the Apache child. */
#ifndef PYHOST_WSGI_H
#define PYHOST_WSGI_H

#include "python/call.h"

/* Runs one request; call it without a thread state attached. Returns OK when a response was
 * sent (whatever its status), or an HTTP status for the caller to answer with when the
 * application failed before sending anything (the reason logged). */
int pyhost_wsgi_run(pyhost_wsgi_call *call);

/* The environ of call (attached): its pairs, the wsgi.* and mod_wsgi keys; wsgi.input
 * reads call->io (NULL: no body). The caller ends the use of *input and *errors with
 * pyhost_input_detach and pyhost_log_close. NULL with the failure logged. */
PyObject *pyhost_wsgi_environ(pyhost_wsgi_call *call, PyObject **input, PyObject **errors);

extern PyType_Spec pyhost_adapter_spec;

#endif
