/* python/input.c: wsgi.input.
 *
 * Owns the request body as Python sees it: read(), read(n), readline(n), readlines(hint),
 * iteration by line, close(). Data comes from the request's pyhost_io with the thread state
 * detached during every read; b"" at the end of the body, for ever after
 * (wsgi.input_terminated). A read error is raised as OSError and remembered. */
#include "python/input.h"
#include "python/metrics.h"

#include "apr_strings.h"

/* read() without a size starts with a buffer this big and doubles it: a small body is one
 * read, a large one takes few reallocations. */
#define INPUT_CHUNK 65536
/* readline()'s read-ahead: a typical form or multipart header line fits many times over,
 * and one read of the body serves many lines. */
#define LINE_BUFFER 8192

typedef struct {
    PyObject_HEAD
    pyhost_io *io; /* NULL after the request */
    int eof;
    apr_status_t error;
    /* read-ahead for readline */
    char *buf;
    apr_size_t pos, end;
} InputObject;

PyObject *pyhost_input_new(PyTypeObject *type, pyhost_io *io)
{
    InputObject *self = PyObject_New(InputObject, type);
    if (self) {
        self->io = io;
        self->eof = 0;
        self->error = APR_SUCCESS;
        self->buf = NULL;
        self->pos = self->end = 0;
    }
    return (PyObject *)self;
}

void pyhost_input_detach(PyObject *obj)
{
    ((InputObject *)obj)->io = NULL;
}

static int usable(InputObject *self)
{
    if (!self->io) {
        PyErr_SetString(PyExc_RuntimeError, "wsgi.input is not available here");
        return 0;
    }
    if (self->error != APR_SUCCESS) {
        char msg[120];
        apr_strerror(self->error, msg, sizeof(msg));
        PyErr_Format(PyExc_OSError, "mod_wsgi request data read error: %s", msg);
        return 0;
    }
    return 1;
}

/* Reads up to len bytes from the io into dst; returns the count, 0 at the end, -1 on error
 * (raised). */
static Py_ssize_t io_read(InputObject *self, char *dst, apr_size_t len)
{
    apr_status_t rv;
    apr_time_t start = apr_time_now();
    PyThreadState *save;
    if (self->eof || !len) {
        return 0;
    }
    save = PyEval_SaveThread();
    rv = self->io->ops->read(self->io, dst, &len);
    pyhost_metrics_attach(self->io, save);
    self->io->in_reads++;
    self->io->in_bytes += (apr_off_t)len;
    self->io->in_time += apr_time_now() - start;
    if (rv != APR_SUCCESS) {
        self->error = rv;
        usable(self);
        return -1;
    }
    if (!len) {
        self->eof = 1;
    }
    return (Py_ssize_t)len;
}

/* Takes up to len bytes already read ahead. */
static apr_size_t from_buffer(InputObject *self, char *dst, apr_size_t len)
{
    apr_size_t n = self->end - self->pos;
    if (n > len) {
        n = len;
    }
    if (n) {
        memcpy(dst, self->buf + self->pos, n);
        self->pos += n;
    }
    return n;
}

static PyObject *read_all(InputObject *self)
{
    apr_size_t size = INPUT_CHUNK, used;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!out) {
        return NULL;
    }
    used = from_buffer(self, PyBytes_AS_STRING(out), size);
    for (;;) {
        Py_ssize_t n;
        if (used == size) {
            size *= 2;
            if (_PyBytes_Resize(&out, (Py_ssize_t)size) < 0) {
                return NULL;
            }
        }
        n = io_read(self, PyBytes_AS_STRING(out) + used, size - used);
        if (n < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (!n) {
            break;
        }
        used += (apr_size_t)n;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)used) < 0) {
        return NULL;
    }
    return out;
}

static PyObject *read_n(InputObject *self, Py_ssize_t want)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, want);
    apr_size_t used;
    if (!out) {
        return NULL;
    }
    used = from_buffer(self, PyBytes_AS_STRING(out), (apr_size_t)want);
    while (used < (apr_size_t)want) {
        Py_ssize_t n = io_read(self, PyBytes_AS_STRING(out) + used, (apr_size_t)want - used);
        if (n < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (!n) {
            break;
        }
        used += (apr_size_t)n;
    }
    if (used != (apr_size_t)want && _PyBytes_Resize(&out, (Py_ssize_t)used) < 0) {
        return NULL;
    }
    return out;
}

static int size_arg(PyObject *const *args, Py_ssize_t nargs, const char *fn, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument", fn);
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyLong_AsSsize_t(args[0]);
        if (*size == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

static PyObject *input_read(InputObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (size_arg(args, nargs, "read", &size) < 0 || !usable(self)) {
        return NULL;
    }
    return size < 0 ? read_all(self) : read_n(self, size);
}

/* Fills the read-ahead buffer with more data; returns what was added, 0 at the end. */
static Py_ssize_t fill(InputObject *self)
{
    Py_ssize_t n;
    if (!self->buf) {
        self->buf = PyMem_Malloc(LINE_BUFFER);
        if (!self->buf) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (self->pos == self->end) {
        self->pos = self->end = 0;
    }
    else if (self->end == LINE_BUFFER) {
        memmove(self->buf, self->buf + self->pos, self->end - self->pos);
        self->end -= self->pos;
        self->pos = 0;
    }
    n = io_read(self, self->buf + self->end, LINE_BUFFER - self->end);
    if (n > 0) {
        self->end += (apr_size_t)n;
    }
    return n;
}

static PyObject *readline(InputObject *self, Py_ssize_t limit)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, 0);
    for (;;) {
        apr_size_t avail = self->end - self->pos, take;
        const char *nl;
        Py_ssize_t have = PyBytes_GET_SIZE(out), n;
        if (limit >= 0 && have >= limit) {
            break;
        }
        if (!avail) {
            n = fill(self);
            if (n < 0) {
                Py_DECREF(out);
                return NULL;
            }
            if (!n) {
                break;
            }
            continue;
        }
        nl = memchr(self->buf + self->pos, '\n', avail);
        take = nl ? (apr_size_t)(nl - (self->buf + self->pos)) + 1 : avail;
        if (limit >= 0 && (Py_ssize_t)take > limit - have) {
            take = (apr_size_t)(limit - have);
        }
        if (_PyBytes_Resize(&out, have + (Py_ssize_t)take) < 0) {
            return NULL;
        }
        memcpy(PyBytes_AS_STRING(out) + have, self->buf + self->pos, take);
        self->pos += take;
        if (take && PyBytes_AS_STRING(out)[have + (Py_ssize_t)take - 1] == '\n') {
            break;
        }
    }
    return out;
}

static PyObject *input_readline(InputObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (size_arg(args, nargs, "readline", &size) < 0 || !usable(self)) {
        return NULL;
    }
    return readline(self, size);
}

static PyObject *input_readlines(InputObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint, total = 0;
    PyObject *list;
    if (size_arg(args, nargs, "readlines", &hint) < 0 || !usable(self)) {
        return NULL;
    }
    list = PyList_New(0);
    while (list) {
        PyObject *line = readline(self, -1);
        if (!line) {
            Py_CLEAR(list);
            break;
        }
        if (!PyBytes_GET_SIZE(line)) {
            Py_DECREF(line);
            break;
        }
        total += PyBytes_GET_SIZE(line);
        if (PyList_Append(list, line) < 0) {
            Py_CLEAR(list);
        }
        Py_DECREF(line);
        if (hint > 0 && total >= hint) {
            break;
        }
    }
    return list;
}

static PyObject *input_iternext(InputObject *self)
{
    PyObject *line;
    if (!usable(self)) {
        return NULL;
    }
    line = readline(self, -1);
    if (line && !PyBytes_GET_SIZE(line)) {
        Py_DECREF(line);
        return NULL; /* StopIteration */
    }
    return line;
}

static PyObject *input_close(InputObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static void input_dealloc(InputObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyMem_Free(self->buf);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL, NULL},
    {"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL, NULL},
    {"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL, NULL},
    {"close", (PyCFunction)input_close, METH_NOARGS, NULL},
    {NULL}};

static PyType_Slot input_slots[] = {{Py_tp_dealloc, input_dealloc},
                                    {Py_tp_methods, input_methods},
                                    {Py_tp_iter, PyObject_SelfIter},
                                    {Py_tp_iternext, input_iternext},
                                    {0, NULL}};

PyType_Spec pyhost_input_spec = {"mod_wsgi.Input", sizeof(InputObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                 input_slots};
