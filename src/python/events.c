/* python/events.c: events, per-request data and logging for applications (the mod_wsgi module).
 *
 * Owns subscribe_events / subscribe_shutdown / subscribe_signals and the dispatch of events to
 * their callbacks (callback(name, **event); a returned dict is merged into the event; an
 * exception is logged and the next callback still runs): request_started (whose subscribers
 * may replace the application), response_started, request_exception, request_finished,
 * process_stopping and process_signal; request_data() and active_requests; and LogHandler, a
 * logging.Handler writing records to Apache's error log at the matching level. */
#include "python/events.h"

#include "python/interp.h"
#include "python/log.h"

#include "apr_strings.h"

#include <sys/resource.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

_Thread_local pyhost_wsgi_call *pyhost_current_call;

static pyhost_modstate *state_of(PyObject *module)
{
    return PyModule_GetState(module);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static void dispatch(PyObject *callbacks, const char *name, PyObject *event)
{
    PyObject *list = PyList_GetSlice(callbacks, 0, PY_SSIZE_T_MAX), *args;
    Py_ssize_t i;
    args = list ? Py_BuildValue("(s)", name) : NULL;
    for (i = 0; args && i < PyList_GET_SIZE(list); i++) {
        PyObject *r = PyObject_Call(PyList_GET_ITEM(list, i), args, event);
        if (!r) {
            char headline[256];
            apr_snprintf(headline, sizeof(headline), "exception in a mod_wsgi %s callback", name);
            pyhost_log_exception(pyhost_current_log, headline);
        }
        else if (PyDict_Check(r) && PyDict_Update(event, r) < 0) {
            PyErr_Clear();
        }
        Py_XDECREF(r);
    }
    PyErr_Clear();
    Py_XDECREF(args);
    Py_XDECREF(list);
}

static int put(PyObject *d, const char *key, PyObject *value)
{
    int rv = value ? PyDict_SetItemString(d, key, value) : -1;
    Py_XDECREF(value);
    return rv;
}

static PyObject *request_data_of(pyhost_wsgi_call *call)
{
    if (!call->request_data) {
        call->request_data = PyDict_New();
    }
    return call->request_data;
}

/* The keys every request event has. */
static PyObject *request_event(pyhost_wsgi_call *call)
{
    PyObject *d = PyDict_New();
    if (!d) {
        return NULL;
    }
    if ((call->request_id && put(d, "request_id", Py_NewRef(call->request_id)) < 0) ||
        !request_data_of(call) || PyDict_SetItemString(d, "request_data", call->request_data) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* The Apache child's pid from environ's mod_wsgi.server_pid (a daemon's own pid differs). */
static long apache_pid(PyObject *value)
{
    const char *text = value && PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : NULL;
    if (!text) {
        PyErr_Clear();
        return (long)getpid();
    }
    return strtol(text, NULL, 10);
}

static double seconds(apr_time_t t)
{
    return (double)t / APR_USEC_PER_SEC;
}

static double cpu(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* ---- request events ---------------------------------------------------------------------- */

PyObject *pyhost_event_request_started(pyhost_wsgi_call *call, PyObject *environ, PyObject *app)
{
    pyhost_modstate *st = call->interp->st;
    PyObject *event, *replaced;
    struct rusage ru;
    call->request_id = PyDict_GetItem(environ, st->keys[PYHOST_K_REQUEST_ID]);
    Py_XINCREF(call->request_id);
    call->server_pid = apache_pid(PyDict_GetItem(environ, st->keys[PYHOST_K_SERVER_PID]));
    if (!getrusage(RUSAGE_THREAD, &ru)) {
        call->cpu_user = cpu(&ru.ru_utime);
        call->cpu_system = cpu(&ru.ru_stime);
    }
    event = request_event(call);
    if (!event || put(event, "thread_id", PyLong_FromLong(call->thread_id)) < 0 ||
        put(event, "server_pid", PyLong_FromLong(call->server_pid)) < 0 ||
        put(event, "request_start",
            Py_XNewRef(PyDict_GetItem(environ, st->keys[PYHOST_K_REQUEST_START]))) < 0 ||
        put(event, "queue_start", PyFloat_FromDouble(call->queue_start)) < 0 ||
        put(event, "daemon_start", PyFloat_FromDouble(call->daemon_start)) < 0 ||
        put(event, "application_start", PyFloat_FromDouble(seconds(call->app_start))) < 0 ||
        put(event, "daemon_connects", PyLong_FromLong(0)) < 0 ||
        put(event, "daemon_restarts", PyLong_FromLong(0)) < 0 ||
        put(event, "application_object", Py_NewRef(app)) < 0 ||
        put(event, "request_environ", Py_NewRef(environ)) < 0) {
        PyErr_Clear();
        Py_XDECREF(event);
        return Py_NewRef(app);
    }
    dispatch(st->event_callbacks, "request_started", event);
    if (call->request_id && PyDict_SetItem(st->active_requests, call->request_id, event) < 0) {
        PyErr_Clear();
    }
    replaced = PyDict_GetItemString(event, "application_object");
    replaced = Py_NewRef(replaced ? replaced : app);
    Py_DECREF(event);
    return replaced;
}

void pyhost_event_response_started(pyhost_wsgi_call *call, PyObject *status, PyObject *headers,
                                   PyObject *exc_info)
{
    PyObject *event = request_event(call);
    if (!event || put(event, "response_status", Py_NewRef(status)) < 0 ||
        put(event, "response_headers", Py_NewRef(headers)) < 0 ||
        put(event, "exception_info", Py_NewRef(exc_info)) < 0) {
        PyErr_Clear();
        Py_XDECREF(event);
        return;
    }
    dispatch(call->interp->st->event_callbacks, "response_started", event);
    Py_DECREF(event);
}

void pyhost_event_request_exception(pyhost_wsgi_call *call, PyObject *exc)
{
    PyObject *event = request_event(call), *info;
    if (!event) {
        PyErr_Clear();
        return;
    }
    info = Py_BuildValue("(OOO)", (PyObject *)Py_TYPE(exc), exc,
                         PyException_GetTraceback(exc) ? PyException_GetTraceback(exc) : Py_None);
    if (put(event, "exception_info", info) == 0) {
        dispatch(call->interp->st->event_callbacks, "request_exception", event);
    }
    PyErr_Clear();
    Py_DECREF(event);
}

void pyhost_event_request_finished(pyhost_wsgi_call *call)
{
    pyhost_modstate *st = call->interp->st;
    apr_time_t now = apr_time_now();
    PyObject *event = request_event(call);
    struct rusage ru;
    int have_cpu = !getrusage(RUSAGE_THREAD, &ru);
    if (!event || put(event, "thread_id", PyLong_FromLong(call->thread_id)) < 0 ||
        put(event, "server_pid", PyLong_FromLong(call->server_pid)) < 0 ||
        put(event, "status", PyLong_FromLong(call->status)) < 0 ||
        put(event, "input_reads", PyLong_FromLong(call->io->in_reads)) < 0 ||
        put(event, "input_length", PyLong_FromLongLong(call->io->in_bytes)) < 0 ||
        put(event, "input_time", PyFloat_FromDouble(seconds(call->io->in_time))) < 0 ||
        put(event, "output_length", PyLong_FromLongLong(call->sent)) < 0 ||
        put(event, "output_writes", PyLong_FromLong(call->out_writes)) < 0 ||
        put(event, "output_time", PyFloat_FromDouble(seconds(call->out_time))) < 0 ||
        put(event, "application_start", PyFloat_FromDouble(seconds(call->app_start))) < 0 ||
        put(event, "application_finish", PyFloat_FromDouble(seconds(now))) < 0 ||
        put(event, "application_time", PyFloat_FromDouble(seconds(now - call->app_start))) < 0 ||
        put(event, "request_start", PyFloat_FromDouble(seconds(call->request_start))) < 0 ||
        put(event, "queue_start", PyFloat_FromDouble(call->queue_start)) < 0 ||
        put(event, "daemon_start", PyFloat_FromDouble(call->daemon_start)) < 0 ||
        put(event, "gil_wait_time", PyFloat_FromDouble(seconds(call->io->gil_time))) < 0 ||
        put(event, "gil_wait_count", PyLong_FromLong(call->io->gil_waits)) < 0 ||
        (have_cpu &&
         (put(event, "cpu_user_time", PyFloat_FromDouble(cpu(&ru.ru_utime) - call->cpu_user)) < 0 ||
          put(event, "cpu_system_time", PyFloat_FromDouble(cpu(&ru.ru_stime) - call->cpu_system)) <
              0 ||
          put(event, "cpu_time",
              PyFloat_FromDouble(cpu(&ru.ru_utime) - call->cpu_user + cpu(&ru.ru_stime) -
                                 call->cpu_system)) < 0))) {
        PyErr_Clear();
    }
    else {
        dispatch(st->event_callbacks, "request_finished", event);
    }
    if (call->request_id && PyDict_DelItem(st->active_requests, call->request_id) < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(event);
}

/* ---- process events ---------------------------------------------------------------------- */

void pyhost_events_process_stopping(pyhost_modstate *st, const char *reason)
{
    PyObject *event;
    if (!st) {
        return;
    }
    event = Py_BuildValue("{s:s}", "shutdown_reason", reason);
    if (event) {
        dispatch(st->event_callbacks, "process_stopping", event);
        dispatch(st->shutdown_callbacks, "process_stopping", event);
        Py_DECREF(event);
    }
    PyErr_Clear();
}

void pyhost_events_signal(pyhost_modstate *st, int signum)
{
    PyObject *event;
    if (!st || !PyList_GET_SIZE(st->signal_callbacks)) {
        return;
    }
    event = Py_BuildValue("{s:i,s:s}", "signal_number", signum, "signal_name",
                          sigabbrev_np(signum) ? sigabbrev_np(signum) : "?");
    if (event) {
        dispatch(st->signal_callbacks, "process_signal", event);
        Py_DECREF(event);
    }
    PyErr_Clear();
}

/* ---- module functions -------------------------------------------------------------------- */

static PyObject *subscribe(PyObject *list, PyObject *callback, const char *what)
{
    if (!PyCallable_Check(callback)) {
        PyErr_Format(PyExc_TypeError, "%s() needs a callable", what);
        return NULL;
    }
    if (PyList_Append(list, callback) < 0) {
        return NULL;
    }
    return Py_NewRef(callback); /* usable as a decorator */
}

static PyObject *subscribe_events(PyObject *module, PyObject *callback)
{
    return subscribe(state_of(module)->event_callbacks, callback, "subscribe_events");
}

static PyObject *subscribe_shutdown(PyObject *module, PyObject *callback)
{
    return subscribe(state_of(module)->shutdown_callbacks, callback, "subscribe_shutdown");
}

static PyObject *subscribe_signals(PyObject *module, PyObject *callback)
{
    return subscribe(state_of(module)->signal_callbacks, callback, "subscribe_signals");
}

static PyObject *request_data(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (!pyhost_current_call) {
        PyErr_SetString(PyExc_RuntimeError, "no active request for thread");
        return NULL;
    }
    return Py_XNewRef(request_data_of(pyhost_current_call));
}

/* LogHandler's emit: one record to the error log, at the Apache level of its Python level. */
static PyObject *log_record(PyObject *module, PyObject *args)
{
    int levelno, line, level;
    const char *msg, *path;
    (void)module;
    if (!PyArg_ParseTuple(args, "isz|i", &levelno, &msg, &path, &line)) {
        return NULL;
    }
    level = levelno >= 50   ? APLOG_CRIT
            : levelno >= 40 ? APLOG_ERR
            : levelno >= 30 ? APLOG_WARNING
            : levelno >= 20 ? APLOG_INFO
                            : APLOG_DEBUG;
    if (pyhost_current_log && pyhost_current_log->r) {
        ap_log_rerror_(path ? path : "python", line, APLOG_MODULE_INDEX, level, 0,
                       pyhost_current_log->r, "%s", msg);
    }
    else {
        pyhost_log_line(pyhost_current_log, level, msg);
    }
    Py_RETURN_NONE;
}

/* LogHandler is a logging.Handler subclass, made when first asked for. */
static const char log_handler_code[] =
    "import logging\n"
    "class LogHandler(logging.Handler):\n"
    "    '''Writes log records to Apache's error log, at the Apache level of their level.'''\n"
    "    def emit(self, record):\n"
    "        try:\n"
    "            _log(record.levelno, self.format(record), record.pathname, record.lineno)\n"
    "        except Exception:\n"
    "            self.handleError(record)\n";

static PyObject *module_getattr(PyObject *module, PyObject *name)
{
    pyhost_modstate *st = state_of(module);
    if (PyUnicode_Check(name) && !PyUnicode_CompareWithASCIIString(name, "LogHandler")) {
        if (!st->log_handler) {
            PyObject *g = PyDict_New(), *log = PyObject_GetAttrString(module, "_log"), *r = NULL;
            if (g && log && PyDict_SetItemString(g, "_log", log) == 0 &&
                PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) == 0 &&
                PyDict_SetItemString(g, "__name__", PyModule_GetNameObject(module)) == 0) {
                r = PyRun_String(log_handler_code, Py_file_input, g, g);
            }
            if (r) {
                st->log_handler = Py_XNewRef(PyDict_GetItemString(g, "LogHandler"));
            }
            Py_XDECREF(r);
            Py_XDECREF(log);
            Py_XDECREF(g);
            if (!st->log_handler) {
                return NULL;
            }
        }
        return Py_NewRef(st->log_handler);
    }
    PyErr_Format(PyExc_AttributeError, "module 'mod_wsgi' has no attribute %R", name);
    return NULL;
}

PyMethodDef pyhost_event_functions[] = {
    {"subscribe_events", subscribe_events, METH_O,
     "subscribe_events(callback): callback(name, **event) for every event"},
    {"subscribe_shutdown", subscribe_shutdown, METH_O,
     "subscribe_shutdown(callback): callback('process_stopping', **event) at exit"},
    {"subscribe_signals", subscribe_signals, METH_O,
     "subscribe_signals(callback): callback('process_signal', **event) on SIGUSR2 (daemons)"},
    {"request_data", request_data, METH_NOARGS, "request_data(): this request's scratch dict"},
    {"_log", log_record, METH_VARARGS, NULL},
    {"__getattr__", module_getattr, METH_O, NULL},
    {NULL}};
