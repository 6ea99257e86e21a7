/* metrics.h: process and server numbers for the mod_wsgi module. */
#ifndef PYHOST_METRICS_H
#define PYHOST_METRICS_H

#include "wsgi.h"

/* start_recording_metrics, process_metrics, request_metrics, server_metrics. */
extern PyMethodDef pyhost_metrics_functions[];

/* Accounting around each request (cheap unless recording). */
void pyhost_metrics_request_begin(void);
void pyhost_metrics_request_end(const pyhost_wsgi_call *call, apr_time_t request_start);

#endif
