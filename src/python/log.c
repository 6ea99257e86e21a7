/* python/log.c: error-log lines, Python tracebacks, and the Log stream type.
 *
 * Owns the routing of a line to the right log (request, daemon-side request, server), the
 * formatting of Python exceptions, and the streams wsgi.errors, sys.stdout and sys.stderr: each
 * an io.TextIOWrapper (UTF-8, errors 'replace', line buffered) over a binary Log whose
 * complete lines are log entries, a partial line held until its newline, a flush or the end
 * of the request; and the restricted sys.stdin / sys.stdout that refuse every use. */
#include "python/log.h"

#include "apr_strings.h"

#include <pthread.h>

APLOG_USE_MODULE(wsgi);

_Thread_local const pyhost_logctx *pyhost_current_log;
server_rec *pyhost_log_server;

void pyhost_log_line(const pyhost_logctx *lc, int level, const char *msg)
{
    if (lc && lc->r) {
        ap_log_rerror(APLOG_MARK, level, 0, lc->r, "%s", msg);
    }
    else if (lc && lc->client) {
        ap_log_error(APLOG_MARK, level, 0, lc->s, "[client %s] %s", lc->client, msg);
    }
    else {
        ap_log_error(APLOG_MARK, level, 0, lc && lc->s ? lc->s : pyhost_log_server, "%s", msg);
    }
}

void pyhost_log_fmt(const pyhost_logctx *lc, int level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pyhost_log_line(lc, level, buf);
}

/* Logs each line of a Python str (possibly several lines). */
static void log_text(const pyhost_logctx *lc, int level, PyObject *text)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n), *end, *nl;
    if (!s) {
        PyErr_Clear();
        return;
    }
    end = s + n;
    while (s < end) {
        char line[4096];
        apr_size_t len;
        nl = memchr(s, '\n', (apr_size_t)(end - s));
        len = (apr_size_t)((nl ? nl : end) - s);
        if (len >= sizeof(line)) {
            len = sizeof(line) - 1;
        }
        memcpy(line, s, len);
        line[len] = '\0';
        if (len) {
            pyhost_log_line(lc, level, line);
        }
        s = nl ? nl + 1 : end;
    }
}

PyObject *pyhost_take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

void pyhost_restore_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

static pyhost_log_explain_fn explainer;

void pyhost_log_set_explainer(pyhost_log_explain_fn fn)
{
    explainer = fn;
}

/* Logs the headline with the exception's type and message (after ": ", or after " " when the
 * headline is a sentence of mod_wsgi's ending with '.'), what the explainer adds, and the
 * traceback, one entry per line. */
static void log_taken(const pyhost_logctx *lc, PyObject *exc, const char *headline)
{
    PyObject *tbmod, *lines = NULL, *desc = PyObject_Str(exc);
    apr_size_t hl = strlen(headline);
    if (desc) {
        char line[4096];
        const char *d = PyUnicode_AsUTF8(desc);
        apr_snprintf(line, sizeof(line), "%s%s%s%s%s", headline,
                     hl && headline[hl - 1] == '.' ? " " : ": ", Py_TYPE(exc)->tp_name,
                     d && *d ? ": " : "", d ? d : "");
        pyhost_log_line(lc, APLOG_ERR, line);
    }
    else {
        PyErr_Clear();
        pyhost_log_line(lc, APLOG_ERR, headline);
    }
    if (explainer) {
        explainer(lc, exc);
    }
    tbmod = PyImport_ImportModule("traceback");
    if (tbmod) {
        lines = PyObject_CallMethod(tbmod, "format_exception", "O", exc);
    }
    if (lines) {
        Py_ssize_t i, n = PyList_GET_SIZE(lines);
        for (i = 0; i < n; i++) {
            log_text(lc, APLOG_ERR, PyList_GET_ITEM(lines, i));
        }
    }
    PyErr_Clear();
    Py_XDECREF(lines);
    Py_XDECREF(tbmod);
    Py_XDECREF(desc);
}

void pyhost_log_exception(const pyhost_logctx *lc, const char *headline)
{
    PyObject *exc = pyhost_take_exception();
    if (!exc) {
        pyhost_log_line(lc, APLOG_ERR, headline);
        return;
    }
    log_taken(lc, exc, headline);
    Py_DECREF(exc);
}

void pyhost_log_app_exception(const pyhost_logctx *lc, const char *script, const char *context)
{
    PyObject *exc = pyhost_take_exception();
    char headline[2048];
    if (!exc) {
        return;
    }
    /* mod_wsgi 6's lines (WSGI0175 for SystemExit, WSGI0174 for the rest), which log
     * monitoring matches; the exception's message follows on the same line */
    if (PyErr_GivenExceptionMatches(exc, PyExc_SystemExit)) {
        apr_snprintf(headline, sizeof(headline),
                     "WSGI0175: %s exception raised by WSGI script '%s' for %s; ignored.",
                     Py_TYPE(exc)->tp_name, script, context);
    }
    else {
        apr_snprintf(headline, sizeof(headline),
                     "WSGI0174: %s exception raised processing WSGI script '%s' for %s.",
                     Py_TYPE(exc)->tp_name, script, context);
    }
    log_taken(lc, exc, headline);
    Py_DECREF(exc);
}

/* ---- the Log type ------------------------------------------------------------------------ */

/* The longest error-log entry a line of wsgi.errors or sys.stdout becomes; a longer line is
 * split. Apache itself cuts an entry at 8 KB (MAX_STRING_LEN), so more would be lost. */
#define LOG_LINE_MAX 8192

/* The binary stream under wsgi.errors, sys.stdout and sys.stderr (their .buffer); each of those
 * is an io.TextIOWrapper over one, as in mod_wsgi. */
typedef struct {
    PyObject_HEAD
    const pyhost_logctx *lc; /* bound request, or NULL to follow the thread's request */
    int bound;               /* was created for a request (wsgi.errors) */
    int level;
    int closed;
    const char *restricted; /* "sys.stdout"/"sys.stdin" when every use is refused */
    pthread_mutex_t lock;   /* the buffer, when no GIL serialises writers */
    apr_size_t len;
    char buf[LOG_LINE_MAX];
} LogObject;

static LogObject *log_buffer_new(PyTypeObject *type, const pyhost_logctx *lc, int level)
{
    LogObject *self = PyObject_New(LogObject, type);
    if (!self) {
        return NULL;
    }
    self->lc = lc;
    self->bound = lc != NULL;
    self->level = level;
    self->closed = 0;
    self->restricted = NULL;
    self->len = 0;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

PyObject *pyhost_log_new(PyTypeObject *type, PyObject *text_wrapper, const pyhost_logctx *lc,
                         int level)
{
    PyObject *buffer = (PyObject *)log_buffer_new(type, lc, level), *stream;
    if (!buffer) {
        return NULL;
    }
    /* TextIOWrapper(buffer, 'utf-8', 'replace', None, line_buffering=True, write_through=True) */
    stream = PyObject_CallFunction(text_wrapper, "OssOOO", buffer, "utf-8", "replace", Py_None,
                                   Py_True, Py_True);
    Py_DECREF(buffer);
    return stream;
}

PyObject *pyhost_log_restricted(PyTypeObject *type, const char *name)
{
    LogObject *self = log_buffer_new(type, NULL, APLOG_ERR);
    if (self) {
        self->restricted = name;
    }
    return (PyObject *)self;
}

/* A restricted stream refuses every attribute, as mod_wsgi's does: the use fails where the
 * application touches the stream, not later. */
static PyObject *log_getattro(LogObject *self, PyObject *name)
{
    if (self->restricted) {
        PyErr_Format(PyExc_OSError, "%s access restricted by mod_wsgi", self->restricted);
        return NULL;
    }
    return PyObject_GenericGetAttr((PyObject *)self, name);
}

static const pyhost_logctx *target_of(LogObject *self)
{
    if (self->lc) {
        return self->lc;
    }
    return self->bound ? NULL : pyhost_current_log;
}

/* Emits the buffered partial line. Caller holds self->lock. */
static void emit_locked(LogObject *self)
{
    if (self->len) {
        self->buf[self->len] = '\0';
        pyhost_log_line(target_of(self), self->level, self->buf);
        self->len = 0;
    }
}

static void append_locked(LogObject *self, const char *s, apr_size_t n)
{
    while (n) {
        const char *nl = memchr(s, '\n', n);
        apr_size_t take = nl ? (apr_size_t)(nl - s) : n;
        while (take) {
            apr_size_t room = LOG_LINE_MAX - 1 - self->len;
            apr_size_t chunk = take < room ? take : room;
            memcpy(self->buf + self->len, s, chunk);
            self->len += chunk;
            s += chunk;
            n -= chunk;
            take -= chunk;
            if (self->len == LOG_LINE_MAX - 1) {
                emit_locked(self);
            }
        }
        if (nl) {
            self->buf[self->len] = '\0';
            pyhost_log_line(target_of(self), self->level, self->buf);
            self->len = 0;
            s++;
            n--;
        }
    }
}

/* The LogObject under a stream made by pyhost_log_new (NULL if it is not one). */
static LogObject *buffer_of(PyObject *stream)
{
    PyObject *b = PyObject_GetAttrString(stream, "buffer");
    if (!b) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(b); /* the stream keeps it */
    return (LogObject *)b;
}

PyObject *pyhost_log_buffer(PyObject *stream)
{
    return (PyObject *)buffer_of(stream);
}

int pyhost_log_bind(PyObject *buffer, const pyhost_logctx *lc)
{
    LogObject *self = (LogObject *)buffer;
    if (self->closed) {
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    self->lc = lc;
    self->bound = 1;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void pyhost_log_unbind(PyObject *buffer)
{
    LogObject *self = (LogObject *)buffer;
    pthread_mutex_lock(&self->lock);
    emit_locked(self);
    self->lc = NULL;
    pthread_mutex_unlock(&self->lock);
}

void pyhost_log_close(PyObject *stream)
{
    LogObject *self;
    PyObject *r = PyObject_CallMethod(stream, "flush", NULL);
    if (!r) {
        PyErr_Clear();
    }
    Py_XDECREF(r);
    if ((self = buffer_of(stream))) {
        pyhost_log_unbind((PyObject *)self);
    }
}

/* write(b): bytes (or any bytes-like object) become log lines; a str is taken as UTF-8. */
static PyObject *log_write(LogObject *self, PyObject *arg)
{
    Py_buffer view;
    Py_ssize_t n;
    if (self->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed log");
        return NULL;
    }
    if (PyUnicode_Check(arg)) {
        PyObject *b = PyUnicode_AsEncodedString(arg, "utf-8", "replace");
        if (!b) {
            return NULL;
        }
        pthread_mutex_lock(&self->lock);
        append_locked(self, PyBytes_AS_STRING(b), (apr_size_t)PyBytes_GET_SIZE(b));
        pthread_mutex_unlock(&self->lock);
        Py_DECREF(b);
        return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "a bytes-like object is required, not '%.100s'",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    pthread_mutex_lock(&self->lock);
    append_locked(self, view.buf, (apr_size_t)view.len);
    pthread_mutex_unlock(&self->lock);
    n = view.len;
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

static PyObject *log_writelines(LogObject *self, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq), *item;
    if (!it) {
        return NULL;
    }
    while ((item = PyIter_Next(it))) {
        PyObject *r = log_write(self, item);
        Py_DECREF(item);
        if (!r) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *log_flush(LogObject *self, PyObject *unused)
{
    (void)unused;
    pthread_mutex_lock(&self->lock);
    emit_locked(self);
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

static PyObject *log_close_method(LogObject *self, PyObject *unused)
{
    (void)unused;
    pthread_mutex_lock(&self->lock);
    emit_locked(self);
    pthread_mutex_unlock(&self->lock);
    self->closed = 1;
    Py_RETURN_NONE;
}

/* The error log has no descriptor of its own: io.UnsupportedOperation, as for any stream
 * without one (faulthandler and subprocess callers catch it). */
static PyObject *log_fileno(LogObject *self, PyObject *unused)
{
    PyObject *io = PyImport_ImportModule("io"), *exc;
    (void)self;
    (void)unused;
    exc = io ? PyObject_GetAttrString(io, "UnsupportedOperation") : NULL;
    Py_XDECREF(io);
    if (exc) {
        PyErr_SetString(exc, "Apache/mod_wsgi log object is not associated with a file "
                             "descriptor.");
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *log_false(LogObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *log_true(LogObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *log_get_closed(LogObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->closed);
}

static PyObject *log_get_name(LogObject *self, void *c)
{
    (void)c;
    return PyUnicode_FromString(self->bound ? "<wsgi.errors>" : "<log>");
}

static void log_dealloc(LogObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pthread_mutex_lock(&self->lock);
    emit_locked(self);
    pthread_mutex_unlock(&self->lock);
    pthread_mutex_destroy(&self->lock);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef log_methods[] = {{"write", (PyCFunction)log_write, METH_O, NULL},
                                    {"writelines", (PyCFunction)log_writelines, METH_O, NULL},
                                    {"flush", (PyCFunction)log_flush, METH_NOARGS, NULL},
                                    {"close", (PyCFunction)log_close_method, METH_NOARGS, NULL},
                                    {"fileno", (PyCFunction)log_fileno, METH_NOARGS, NULL},
                                    {"isatty", (PyCFunction)log_false, METH_NOARGS, NULL},
                                    {"readable", (PyCFunction)log_false, METH_NOARGS, NULL},
                                    {"seekable", (PyCFunction)log_false, METH_NOARGS, NULL},
                                    {"writable", (PyCFunction)log_true, METH_NOARGS, NULL},
                                    {NULL}};

static PyGetSetDef log_getset[] = {{"closed", (getter)log_get_closed, NULL, NULL, NULL},
                                   {"name", (getter)log_get_name, NULL, NULL, NULL},
                                   {NULL}};

static PyType_Slot log_slots[] = {{Py_tp_dealloc, log_dealloc},
                                  {Py_tp_getattro, log_getattro},
                                  {Py_tp_methods, log_methods},
                                  {Py_tp_getset, log_getset},
                                  {0, NULL}};

PyType_Spec pyhost_log_spec = {"mod_wsgi.Log", sizeof(LogObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, log_slots};
