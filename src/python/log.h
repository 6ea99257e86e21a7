/* python/log.h: everything mod_pyhost writes to Apache's error log.
 *
 * A pyhost_logctx says where a line goes: a request (embedded mode: Apache adds the client),
 * a daemon-side request (the client is named in the line), or the server. wsgi.errors,
 * sys.stdout and sys.stderr are line-buffered io.TextIOWrapper streams over a binary Log whose
 * lines become error log entries (so .buffer exists, as in mod_wsgi). */
#ifndef PYHOST_LOG_H
#define PYHOST_LOG_H

#include <Python.h>

#include "httpd.h"
#include "http_log.h"

typedef struct {
    request_rec *r;     /* embedded request, or NULL */
    server_rec *s;      /* server whose error log is used when r is NULL */
    const char *client; /* "address:port" of a daemon-side request, or NULL */
} pyhost_logctx;

/* The request this thread is running, if any: sys.stdout and sys.stderr follow it. */
extern _Thread_local const pyhost_logctx *pyhost_current_log;

/* The process's server, for lines that belong to no request. */
extern server_rec *pyhost_log_server;

void pyhost_log_line(const pyhost_logctx *lc, int level, const char *msg);
void pyhost_log_fmt(const pyhost_logctx *lc, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs the exception that is set, as headline + ": Type: message" (" Type: message" after a
 * headline ending with '.') and then its traceback, one entry per line, and clears it. Needs
 * an attached thread state. */
void pyhost_log_exception(const pyhost_logctx *lc, const char *headline);

/* The same for an exception of a WSGI application, headed by mod_wsgi 6's line: "WSGI0174:
 * <Type> exception raised processing WSGI script '<script>' for <context>." (WSGI0175 and
 * "; ignored." for SystemExit). context as pyhost_interp_context() gives it. */
void pyhost_log_app_exception(const pyhost_logctx *lc, const char *script, const char *context);

/* Something that can add a line explaining an exception pyhost_log_exception has logged
 * (the interpreter code registers python/preflight.c's, for extensions a sub interpreter
 * refused): logging itself knows nothing of what it explains. */
typedef void (*pyhost_log_explain_fn)(const pyhost_logctx *lc, PyObject *exc);
void pyhost_log_set_explainer(pyhost_log_explain_fn fn);

/* The exception that is set, normalised, as a new reference (NULL if none); clears it. */
PyObject *pyhost_take_exception(void);

/* Sets exc (a reference it takes) as the exception being raised again. */
void pyhost_restore_exception(PyObject *exc);

/* A new text stream: text_wrapper (io.TextIOWrapper) over a Log object of the given type,
 * bound to a request (lc != NULL) or following the thread's current request (lc == NULL). */
PyObject *pyhost_log_new(PyTypeObject *type, PyObject *text_wrapper, const pyhost_logctx *lc,
                         int level);

/* An object whose every attribute access raises OSError naming it ("sys.stdin"): sys.stdin or
 * sys.stdout under WSGIRestrictStdin / WSGIRestrictStdout. */
PyObject *pyhost_log_restricted(PyTypeObject *type, const char *name);

/* The binary Log under a stream of pyhost_log_new (borrowed; NULL if there is none). */
PyObject *pyhost_log_buffer(PyObject *stream);

/* Binds the Log of a stream no one uses any more to another request's lc; -1 if it cannot
 * serve again (closed). */
int pyhost_log_bind(PyObject *buffer, const pyhost_logctx *lc);

/* Emits the Log's partial line and unbinds it from its request. The stream above it has
 * nothing pending: it writes through. */
void pyhost_log_unbind(PyObject *buffer);

/* Flushes a stream of pyhost_log_new, emits a partial line and unbinds it from its request. */
void pyhost_log_close(PyObject *stream);

extern PyType_Spec pyhost_log_spec;

#endif
