/* python/metrics.h: process and server numbers for the mod_wsgi module. */
#ifndef PYHOST_METRICS_H
#define PYHOST_METRICS_H

#include "python/call.h"

/* start_recording_metrics, process_metrics, request_metrics, server_metrics. */
extern PyMethodDef pyhost_metrics_functions[];

/* Accounting around each request (cheap unless recording): begin before the thread attaches
 * to the request's interpreter, attached right after it has, end at the end (attached). */
void pyhost_metrics_request_begin(pyhost_wsgi_call *call);
void pyhost_metrics_request_attached(pyhost_wsgi_call *call);
void pyhost_metrics_request_end(const pyhost_wsgi_call *call);

/* Attaches ts again after blocking I/O of the request io belongs to (io may be NULL); while
 * recording, the wait for the GIL is counted in io. */
void pyhost_metrics_attach(pyhost_io *io, PyThreadState *ts);

#endif
