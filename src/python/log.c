/* python/log.c: error-log lines, Python tracebacks, and the Log stream type.
 *
 * Owns the routing of a line to the right log (request, daemon-side request, server), the
 * formatting of Python exceptions, and the Log type used for wsgi.errors, sys.stdout and
 * sys.stderr: a write() of text is split into lines, each complete line one log entry, a
 * partial line held until its newline, a flush or the end of the request. */
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

void pyhost_log_exception(const pyhost_logctx *lc, const char *headline)
{
    PyObject *exc = pyhost_take_exception(), *tbmod = NULL, *lines = NULL, *desc = NULL;
    if (!exc) {
        pyhost_log_line(lc, APLOG_ERR, headline);
        return;
    }
    desc = PyObject_Str(exc);
    if (desc) {
        char line[4096];
        const char *d = PyUnicode_AsUTF8(desc);
        apr_snprintf(line, sizeof(line), "%s: %s%s%s", headline, Py_TYPE(exc)->tp_name,
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
    Py_DECREF(exc);
}

/* ---- the Log type ------------------------------------------------------------------------ */

/* The longest error-log entry a line of wsgi.errors or sys.stdout becomes; a longer line is
 * split. Apache itself cuts an entry at 8 KB (MAX_STRING_LEN), so more would be lost. */
#define LOG_LINE_MAX 8192

typedef struct {
    PyObject_HEAD
    const pyhost_logctx *lc; /* bound request, or NULL to follow the thread's request */
    int bound;               /* was created for a request (wsgi.errors) */
    int level;
    int closed;
    const char *restricted; /* "stdout"/"stdin" when access is refused */
    pthread_mutex_t lock;   /* the buffer, when no GIL serialises writers */
    apr_size_t len;
    char buf[LOG_LINE_MAX];
} LogObject;

PyObject *pyhost_log_new(PyTypeObject *type, const pyhost_logctx *lc, int level)
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
    return (PyObject *)self;
}

PyObject *pyhost_log_restricted(PyTypeObject *type, const char *name)
{
    LogObject *self = (LogObject *)pyhost_log_new(type, NULL, APLOG_ERR);
    if (self) {
        self->restricted = name;
    }
    return (PyObject *)self;
}

static int refuse(LogObject *self)
{
    if (self->restricted) {
        PyErr_Format(PyExc_OSError, "sys.%s access restricted by mod_wsgi", self->restricted);
        return -1;
    }
    return 0;
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

void pyhost_log_close(PyObject *obj)
{
    LogObject *self = (LogObject *)obj;
    pthread_mutex_lock(&self->lock);
    emit_locked(self);
    self->lc = NULL;
    pthread_mutex_unlock(&self->lock);
}

static PyObject *log_write(LogObject *self, PyObject *arg)
{
    Py_ssize_t n;
    const char *s;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (refuse(self) < 0) {
        return NULL;
    }
    if (self->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed log");
        return NULL;
    }
    s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (!s) {
        /* lone surrogates: replace them as the 'replace' error handler would */
        PyObject *b;
        PyErr_Clear();
        b = PyUnicode_AsEncodedString(arg, "utf-8", "replace");
        if (!b) {
            return NULL;
        }
        pthread_mutex_lock(&self->lock);
        append_locked(self, PyBytes_AS_STRING(b), (apr_size_t)PyBytes_GET_SIZE(b));
        pthread_mutex_unlock(&self->lock);
        Py_DECREF(b);
    }
    else {
        pthread_mutex_lock(&self->lock);
        append_locked(self, s, (apr_size_t)n);
        pthread_mutex_unlock(&self->lock);
    }
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
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

/* Log objects are write-only; sys.stdin is one only when restricted. */
static PyObject *log_read(LogObject *self, PyObject *args)
{
    (void)args;
    if (refuse(self) < 0) {
        return NULL;
    }
    return PyUnicode_FromString("");
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

static PyObject *log_get_str(LogObject *self, void *c)
{
    (void)self;
    return PyUnicode_FromString((const char *)c);
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
                                    {"read", (PyCFunction)log_read, METH_VARARGS, NULL},
                                    {"readline", (PyCFunction)log_read, METH_VARARGS, NULL},
                                    {"isatty", (PyCFunction)log_false, METH_NOARGS, NULL},
                                    {"readable", (PyCFunction)log_false, METH_NOARGS, NULL},
                                    {"seekable", (PyCFunction)log_false, METH_NOARGS, NULL},
                                    {"writable", (PyCFunction)log_true, METH_NOARGS, NULL},
                                    {NULL}};

static PyGetSetDef log_getset[] = {{"closed", (getter)log_get_closed, NULL, NULL, NULL},
                                   {"encoding", (getter)log_get_str, NULL, NULL, "utf-8"},
                                   {"errors", (getter)log_get_str, NULL, NULL, "replace"},
                                   {"name", (getter)log_get_str, NULL, NULL, "<wsgi.errors>"},
                                   {"line_buffering", (getter)log_true, NULL, NULL, NULL},
                                   {NULL}};

static PyType_Slot log_slots[] = {{Py_tp_dealloc, log_dealloc},
                                  {Py_tp_methods, log_methods},
                                  {Py_tp_getset, log_getset},
                                  {0, NULL}};

PyType_Spec pyhost_log_spec = {"mod_wsgi.Log", sizeof(LogObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, log_slots};
