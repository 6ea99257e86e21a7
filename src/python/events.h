/* python/events.h: what the mod_wsgi module tells applications about requests and the process. */
#ifndef PYHOST_EVENTS_H
#define PYHOST_EVENTS_H

#include "python/modstate.h"
#include "python/call.h"

/* The module functions of python/events.c: subscribe_events, subscribe_shutdown, subscribe_signals,
 * request_data, and the LogHandler factory. */
extern PyMethodDef pyhost_event_functions[];

/* Whether anyone in this interpreter listens to request events. */
static inline int pyhost_events_on(const pyhost_modstate *st)
{
    return st->event_callbacks && PyList_GET_SIZE(st->event_callbacks) > 0;
}

/* Request events, published from the request's thread with its interpreter attached. */
PyObject *pyhost_event_request_started(pyhost_wsgi_call *call, PyObject *environ, PyObject *app);
void pyhost_event_response_started(pyhost_wsgi_call *call, PyObject *status, PyObject *headers,
                                   PyObject *exc_info);
void pyhost_event_request_exception(pyhost_wsgi_call *call, PyObject *exc);
void pyhost_event_request_finished(pyhost_wsgi_call *call);

/* The process stops: process_stopping to the event and shutdown subscribers. */
void pyhost_events_process_stopping(pyhost_modstate *st, const char *reason);

/* A signal for the application (SIGUSR2 in a daemon): process_signal to subscribe_signals. */
void pyhost_events_signal(pyhost_modstate *st, int signum);

/* The request running on this thread, for mod_wsgi.request_data(). */
extern _Thread_local pyhost_wsgi_call *pyhost_current_call;

#endif
