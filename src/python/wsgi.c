/* python/wsgi.c: the WSGI adapter (PEP 3333), shared by embedded and daemon mode.
 *
 * Owns the environ dict (the request's pairs plus the wsgi.* and mod_wsgi keys),
 * start_response with its exc_info rules and the validation of status and headers, the
 * write() callable, iteration of the response with Content-Length enforcement, the
 * wsgi.file_wrapper fast path, close(), and what happens when an application misbehaves:
 * a 500 with one log line before output, an aborted response after it. */
#include "python/wsgi.h"

#include "python/events.h"
#include "python/input.h"
#include "python/metrics.h"
#include "python/modstate.h"
#include "python/script.h"
#include "shared/process.h"

#include "httpd.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <sys/stat.h>

typedef struct {
    PyObject_HEAD
    pyhost_wsgi_call *call; /* NULL once the request is over */
    pyhost_modstate *st;
    PyObject *status;  /* str given to start_response, or NULL */
    PyObject *headers; /* list given to start_response, or NULL */
    int status_code;
    apr_off_t content_length; /* declared, or -1 */
    int headers_sent;
    int client_gone;
} AdapterObject;

/* ---- environ ----------------------------------------------------------------------------- */

typedef struct {
    PyObject *dict;
    pyhost_modstate *st;
    int failed;
} env_builder;

static PyObject *decode(unsigned id, const char *v, apr_size_t vl)
{
    if (id != PYHOST_K_OTHER && pyhost_key_types[id] == PYHOST_ENV_FSPATH) {
        return PyUnicode_DecodeFSDefaultAndSize(v, (Py_ssize_t)vl);
    }
    if (id != PYHOST_K_OTHER && pyhost_key_types[id] == PYHOST_ENV_TIME) {
        apr_int64_t us = 0;
        apr_size_t i;
        for (i = 0; i < vl && apr_isdigit(v[i]); i++) {
            us = us * 10 + (v[i] - '0');
        }
        return PyFloat_FromDouble((double)us / 1e6);
    }
    return PyUnicode_DecodeLatin1(v, (Py_ssize_t)vl, NULL);
}

/* Most values of a known key repeat from request to request (server name, script, groups):
 * the str made last time is reused when its bytes are the same. Without a GIL the cache
 * would need a lock, so free-threaded builds decode every time. */
static PyObject *env_value(pyhost_modstate *st, unsigned id, const char *v, apr_size_t vl)
{
#ifndef Py_GIL_DISABLED
    PyObject *c, *val;
    if (id == PYHOST_K_OTHER || pyhost_key_types[id] == PYHOST_ENV_TIME) {
        return decode(id, v, vl);
    }
    c = st->values[id];
    if (c && PyUnicode_IS_ASCII(c) && (apr_size_t)PyUnicode_GET_LENGTH(c) == vl &&
        !memcmp(PyUnicode_1BYTE_DATA(c), v, vl)) {
        return Py_NewRef(c);
    }
    val = decode(id, v, vl);
    if (val) {
        Py_XSETREF(st->values[id], Py_NewRef(val));
    }
    return val;
#else
    (void)st;
    return decode(id, v, vl);
#endif
}

static void env_put(void *ctx, unsigned id, const char *k, apr_size_t kl, const char *v,
                    apr_size_t vl)
{
    env_builder *b = ctx;
    PyObject *key, *val;
    if (b->failed) {
        return;
    }
    key = id != PYHOST_K_OTHER ? Py_NewRef(b->st->keys[id])
                               : PyUnicode_DecodeLatin1(k, (Py_ssize_t)kl, NULL);
    val = key ? env_value(b->st, id, v, vl) : NULL;
    if (!val || PyDict_SetItem(b->dict, key, val) < 0) {
        b->failed = 1;
    }
    Py_XDECREF(key);
    Py_XDECREF(val);
}

static int set_name(PyObject *d, pyhost_modstate *st, int id, PyObject *v)
{
    int rv;
    if (!v) {
        return -1;
    }
    rv = PyDict_SetItem(d, st->names[id], v);
    Py_DECREF(v);
    return rv;
}

static PyObject *make_environ(pyhost_wsgi_call *call, pyhost_modstate *st, PyObject *input,
                              PyObject *errors)
{
    env_builder b = {PyDict_New(), st, 0};
    PyObject *d = b.dict;
    if (!d) {
        return NULL;
    }
    call->pairs(call->pairs_ctx, env_put, &b);
    if (b.failed || set_name(d, st, PYHOST_N_WSGI_VERSION, Py_NewRef(st->wsgi_version)) < 0 ||
        set_name(d, st, PYHOST_N_WSGI_MULTITHREAD, PyBool_FromLong(pyhost_proc.multithread)) < 0 ||
        set_name(d, st, PYHOST_N_WSGI_MULTIPROCESS, PyBool_FromLong(pyhost_proc.multiprocess)) <
            0 ||
        set_name(d, st, PYHOST_N_WSGI_RUN_ONCE, PyBool_FromLong(pyhost_proc.run_once)) < 0 ||
        set_name(d, st, PYHOST_N_WSGI_INPUT, Py_NewRef(input)) < 0 ||
        set_name(d, st, PYHOST_N_WSGI_ERRORS, Py_NewRef(errors)) < 0 ||
        set_name(d, st, PYHOST_N_WSGI_FILE_WRAPPER, Py_NewRef(st->file_wrapper_type)) < 0 ||
        set_name(d, st, PYHOST_N_WSGI_INPUT_TERMINATED, Py_NewRef(Py_True)) < 0 ||
        set_name(d, st, PYHOST_N_MOD_WSGI_VERSION, Py_NewRef(st->mod_wsgi_version)) < 0 ||
        set_name(d, st, PYHOST_N_APACHE_VERSION, Py_NewRef(st->apache_version)) < 0 ||
        set_name(d, st, PYHOST_N_THREAD_ID, PyLong_FromLong(call->thread_id)) < 0 ||
        set_name(d, st, PYHOST_N_QUEUE_START, PyFloat_FromDouble(call->queue_start)) < 0 ||
        set_name(d, st, PYHOST_N_DAEMON_START, PyFloat_FromDouble(call->daemon_start)) < 0 ||
        set_name(d, st, PYHOST_N_APPLICATION_START,
                 PyFloat_FromDouble((double)call->app_start / 1e6)) < 0 ||
        (call->apache_request &&
         set_name(d, st, PYHOST_N_APACHE_REQUEST_REC,
                  PyCapsule_New(call->apache_request, "apache.request_rec", NULL)) < 0)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "cannot build the WSGI environ");
        }
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* wsgi.errors is an io.TextIOWrapper, which takes microseconds to make: each thread keeps the
 * one of its last request in each interpreter when nothing else refers to it any more, and
 * the next request there takes it back (free-threaded builds, where a reference count says
 * less, make one each time). */
#define SPARE_ERRORS 16
#ifndef Py_GIL_DISABLED
static _Thread_local struct {
    PyObject *stream, *buffer;
} spare_errors[SPARE_ERRORS];
#endif

static PyObject *errors_stream(pyhost_wsgi_call *call, pyhost_modstate *st)
{
    PyObject *stream;
#ifndef Py_GIL_DISABLED
    int i = call->interp->index;
    if (i < SPARE_ERRORS && spare_errors[i].stream) {
        stream = spare_errors[i].stream;
        spare_errors[i].stream = NULL;
        if (pyhost_log_bind(spare_errors[i].buffer, &call->log) == 0) {
            call->errors_buffer = spare_errors[i].buffer;
            return stream;
        }
        Py_DECREF(stream);
    }
#endif
    stream = pyhost_log_new(st->log_type, st->text_wrapper, &call->log, APLOG_ERR);
    call->errors_buffer = stream ? pyhost_log_buffer(stream) : NULL;
    return stream;
}

/* Ends wsgi.errors' use by the request (the caller's reference is taken). */
static void errors_done(pyhost_wsgi_call *call, PyObject *stream)
{
    if (!call->errors_buffer) {
        Py_DECREF(stream);
        return;
    }
    pyhost_log_unbind(call->errors_buffer);
#ifndef Py_GIL_DISABLED
    if (call->interp->index < SPARE_ERRORS && Py_REFCNT(stream) == 1 &&
        !spare_errors[call->interp->index].stream) {
        spare_errors[call->interp->index].stream = stream;
        spare_errors[call->interp->index].buffer = call->errors_buffer;
        return;
    }
#endif
    Py_DECREF(stream);
}

PyObject *pyhost_wsgi_environ(pyhost_wsgi_call *call, PyObject **input, PyObject **errors)
{
    pyhost_modstate *st = call->interp->st;
    PyObject *env = NULL;
    call->app_start = apr_time_now();
    *input = pyhost_input_new(st->input_type, call->io);
    *errors = *input ? errors_stream(call, st) : NULL;
    if (*errors) {
        env = make_environ(call, st, *input, *errors);
    }
    if (!env) {
        pyhost_log_exception(&call->log, "cannot build the WSGI environ");
    }
    return env;
}

/* ---- status and headers ------------------------------------------------------------------ */

/* Latin-1 bytes of a str: its own buffer when ASCII, else encoded into *tmp (NULL with
 * UnicodeEncodeError set when it is not latin-1). */
static const char *latin1(PyObject *s, apr_size_t *len, PyObject **tmp)
{
    Py_ssize_t n;
    const char *p;
    *tmp = NULL;
    if (PyUnicode_IS_ASCII(s)) {
        p = PyUnicode_AsUTF8AndSize(s, &n);
    }
    else {
        *tmp = PyUnicode_AsLatin1String(s);
        if (!*tmp) {
            return NULL;
        }
        p = PyBytes_AS_STRING(*tmp);
        n = PyBytes_GET_SIZE(*tmp);
    }
    *len = (apr_size_t)n;
    return p;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* The checks of status and headers raise what mod_wsgi 6 raises, with its messages, so that
 * applications catching them keep working: TypeError for a wrong type, ValueError for a wrong
 * value (UnicodeEncodeError, a ValueError, for text outside latin-1). */
static int need_str(PyObject *v)
{
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "expected unicode object, value of type %.200s found",
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    return 0;
}

static int check_status(PyObject *status, int *code)
{
    PyObject *tmp;
    apr_size_t n, i;
    const char *s, *why = NULL;
    if (need_str(status) < 0 || !(s = latin1(status, &n, &tmp))) {
        return -1;
    }
    if (n < 3 || !apr_isdigit(s[0]) || !apr_isdigit(s[1]) || !apr_isdigit(s[2]) ||
        (n > 3 && apr_isdigit(s[3]))) {
        why = "status code is not a 3 digit integer";
    }
    else if (n == 3 || s[3] != ' ') {
        why = "no space following status code";
    }
    else if (s[0] == '0') {
        why = "status code is below 100"; /* Apache cannot send it */
    }
    else if (s[0] == '1') {
        /* A client reads a 1xx as interim and the body after it as the next response. */
        why = "status code is informational (1xx), not a final response";
    }
    for (i = 4; !why && i < n; i++) {
        if (is_ctl((unsigned char)s[i])) {
            why = "control character present in reason phrase";
        }
    }
    if (!why) {
        *code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    }
    Py_XDECREF(tmp);
    if (why) {
        PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    return 0;
}

static const char *bad_name(const char *s, apr_size_t n)
{
    apr_size_t j;
    if (!n) {
        return "header name is empty";
    }
    for (j = 0; j < n; j++) {
        unsigned char c = (unsigned char)s[j];
        if (is_ctl(c)) {
            return "control character present in header name";
        }
        if (c == ' ') {
            return "space character present in header name";
        }
        /* beyond mod_wsgi: Apache refuses these too, but only after the response began */
        if (c == ':') {
            return "colon character present in header name";
        }
        if (c > 0x7e) {
            return "non-ASCII character present in header name";
        }
    }
    return NULL;
}

static const char *bad_value(const char *s, apr_size_t n)
{
    apr_size_t j;
    for (j = 0; j < n; j++) {
        if (s[j] == '\r' || s[j] == '\n') {
            return "carriage return/line feed character present in header value";
        }
        if (s[j] == '\0') {
            return "null character present in header value";
        }
    }
    return NULL;
}

static int check_headers(PyObject *headers)
{
    Py_ssize_t i, n;
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "start_response() argument 2 must be list, not %.200s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    n = PyList_GET_SIZE(headers);
    for (i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(headers, i), *tn = NULL, *tv = NULL;
        const char *ns, *vs = NULL, *why;
        apr_size_t nl, vl;
        if (!PyTuple_Check(h)) {
            PyErr_Format(PyExc_TypeError,
                         "list of tuple values expected for headers, value of type %.200s found",
                         Py_TYPE(h)->tp_name);
            return -1;
        }
        if (PyTuple_GET_SIZE(h) != 2) {
            PyErr_Format(PyExc_ValueError, "tuple of length 2 expected for header, length is %d",
                         (int)PyTuple_GET_SIZE(h));
            return -1;
        }
        if (need_str(PyTuple_GET_ITEM(h, 0)) < 0 ||
            !(ns = latin1(PyTuple_GET_ITEM(h, 0), &nl, &tn))) {
            return -1;
        }
        why = bad_name(ns, nl);
        if (!why && (need_str(PyTuple_GET_ITEM(h, 1)) < 0 ||
                     !(vs = latin1(PyTuple_GET_ITEM(h, 1), &vl, &tv)))) {
            Py_XDECREF(tn);
            return -1;
        }
        if (!why) {
            why = bad_value(vs, vl);
        }
        Py_XDECREF(tn);
        Py_XDECREF(tv);
        if (why) {
            PyErr_SetString(PyExc_ValueError, why);
            return -1;
        }
    }
    return 0;
}

static int parse_length(const char *s, apr_size_t n, apr_off_t *out)
{
    apr_off_t v = 0;
    apr_size_t i;
    if (!n || n > 18) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!apr_isdigit(s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Responses with up to this many headers (nearly all) pass them to the io from the stack;
 * more take one allocation. */
#define HEADERS_ON_STACK 32

/* Hands status and headers to the io; add_length >= 0 adds a Content-Length. */
static int send_headers(AdapterObject *self, apr_off_t add_length)
{
    pyhost_io *io = self->call->io;
    Py_ssize_t i, n = PyList_GET_SIZE(self->headers);
    pyhost_header stack_h[HEADERS_ON_STACK + 1], *h = stack_h;
    PyObject *stack_tmp[2 * HEADERS_ON_STACK], **tmp = stack_tmp;
    PyObject *status_tmp;
    apr_size_t status_len;
    char lenbuf[24];
    const char *status_line;
    int count = 0, rv = -1, k;

    if (n > HEADERS_ON_STACK) {
        h = PyMem_Malloc(sizeof(*h) * (size_t)(n + 1));
        tmp = PyMem_Malloc(sizeof(*tmp) * (size_t)(2 * n));
        if (!h || !tmp) {
            PyMem_Free(h);
            PyMem_Free(tmp);
            PyErr_NoMemory();
            return -1;
        }
    }
    status_line = latin1(self->status, &status_len, &status_tmp);
    self->content_length = -1;
    for (i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(self->headers, i);
        h[count].name = latin1(PyTuple_GET_ITEM(t, 0), &h[count].nlen, &tmp[2 * i]);
        h[count].value = latin1(PyTuple_GET_ITEM(t, 1), &h[count].vlen, &tmp[2 * i + 1]);
        if (h[count].nlen == 14 && !strncasecmp(h[count].name, "Content-Length", 14)) {
            if (parse_length(h[count].value, h[count].vlen, &self->content_length) < 0) {
                PyErr_Format(PyExc_ValueError, "invalid Content-Length header value %R",
                             PyTuple_GET_ITEM(t, 1));
                n = i + 1;
                goto out;
            }
        }
        count++;
    }
    if (add_length >= 0 && self->content_length < 0) {
        h[count].name = "Content-Length";
        h[count].nlen = 14;
        h[count].vlen =
            (apr_size_t)apr_snprintf(lenbuf, sizeof(lenbuf), "%" APR_OFF_T_FMT, add_length);
        h[count].value = lenbuf;
        count++;
        self->content_length = add_length;
    }
    if (io->ops->start(io, self->status_code, status_line, h, count) != APR_SUCCESS) {
        PyErr_SetString(PyExc_OSError, "mod_wsgi cannot send the response headers");
        goto out;
    }
    self->headers_sent = 1;
    self->call->status = self->status_code;
    rv = 0;
out:
    for (k = 0; k < 2 * n; k++) {
        Py_XDECREF(tmp[k]);
    }
    Py_XDECREF(status_tmp);
    if (h != stack_h) {
        PyMem_Free(h);
        PyMem_Free(tmp);
    }
    return rv;
}

/* ---- output ------------------------------------------------------------------------------ */

/* Writes with the thread detached, counting for the request_finished event and the metrics. */
static apr_status_t timed_write(pyhost_wsgi_call *call, const char *data, apr_size_t len, int flags)
{
    apr_time_t start = apr_time_now();
    PyThreadState *save = PyEval_SaveThread();
    apr_status_t rv = call->io->ops->write(call->io, data, len, flags);
    pyhost_metrics_attach(call->io, save);
    call->out_writes++;
    call->out_time += apr_time_now() - start;
    return rv;
}

/* Result of sending: 0 sent, -1 error (exception set), 1 the client has gone. */
static int send_block(AdapterObject *self, PyObject *item, int flags)
{
    const char *data;
    apr_off_t len;
    apr_status_t rv;
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError,
                     "sequence of byte string values expected, value of type %.200s found",
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    data = PyBytes_AS_STRING(item);
    len = PyBytes_GET_SIZE(item);
    if (!len && !(flags & PYHOST_OUT_LAST)) {
        /* PEP 3333: headers go with the first non-empty block, so that until then the
         * application may still replace them (start_response with exc_info) */
        return 0;
    }
    if (!self->status) {
        PyErr_SetString(PyExc_RuntimeError,
                        "response has not been started (the application gave body data "
                        "without calling start_response())");
        return -1;
    }
    if (!self->headers_sent && send_headers(self, -1) < 0) {
        return -1;
    }
    if (self->content_length >= 0 && len > self->content_length - self->call->sent) {
        len = self->content_length - self->call->sent;
    }
    if (!len && !(flags & PYHOST_OUT_LAST)) {
        return 0;
    }
    rv = timed_write(self->call, data, (apr_size_t)len, flags);
    if (rv != APR_SUCCESS) {
        self->client_gone = 1;
        return 1;
    }
    self->call->sent += len;
    return 0;
}

/* A body shorter than the declared Content-Length cannot be delivered as complete. */
static int is_short(AdapterObject *self, apr_off_t more)
{
    int code = self->status_code;
    return self->content_length >= 0 && self->call->sent + more < self->content_length &&
           !self->call->io->head_request && code >= 200 && code != 204 && code != 304;
}

/* Ends the response after its last block: 0, -1 with an exception, or 1 client gone. */
static int finish(AdapterObject *self)
{
    pyhost_io *io = self->call->io;
    apr_status_t rv;
    if (!self->status) {
        PyErr_SetString(PyExc_RuntimeError,
                        "response has not been started (the application returned without "
                        "calling start_response())");
        return -1;
    }
    if (!self->headers_sent && send_headers(self, -1) < 0) {
        return -1;
    }
    if (is_short(self, 0)) {
        pyhost_log_fmt(&self->call->log, APLOG_ERR,
                       "%s: response body of %" APR_OFF_T_FMT
                       " bytes is shorter than its Content-Length %" APR_OFF_T_FMT
                       "; the connection is closed so the client sees it incomplete",
                       self->call->script, self->call->sent, self->content_length);
        Py_BEGIN_ALLOW_THREADS
        io->ops->abort(io);
        Py_END_ALLOW_THREADS
        return 0;
    }
    rv = timed_write(self->call, NULL, 0, PYHOST_OUT_LAST);
    return rv == APR_SUCCESS ? 0 : 1;
}

/* wsgi.file_wrapper over a regular file: the file goes out as a file, not through Python.
 * Returns DECLINED when the object does not qualify (it is then iterated). */
static int send_file(AdapterObject *self, pyhost_file_wrapper *fw)
{
    pyhost_modstate *st = self->st;
    PyObject *r;
    long fd;
    apr_off_t offset, length;
    struct stat sb;
    apr_status_t rv;
    apr_time_t start;
    PyThreadState *save;

    r = PyObject_CallMethodNoArgs(fw->filelike, st->names[PYHOST_N_FILENO]);
    fd = r ? PyLong_AsLong(r) : -1;
    Py_XDECREF(r);
    if (fd < 0 || fstat((int)fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        PyErr_Clear();
        return DECLINED;
    }
    r = PyObject_CallMethodNoArgs(fw->filelike, st->names[PYHOST_N_TELL]);
    offset = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    if (offset < 0) {
        PyErr_Clear();
        return DECLINED;
    }
    length = sb.st_size > offset ? sb.st_size - offset : 0;
    if (send_headers(self, length) < 0) {
        return -1;
    }
    if (self->content_length < length) {
        length = self->content_length;
    }
    start = apr_time_now();
    save = PyEval_SaveThread();
    rv = self->call->io->ops->sendfile(self->call->io, (int)fd, offset, length);
    pyhost_metrics_attach(self->call->io, save);
    self->call->out_writes++;
    self->call->out_time += apr_time_now() - start;
    if (rv != APR_SUCCESS) {
        self->client_gone = 1;
        return 1;
    }
    self->call->sent += length;
    return 0;
}

/* Consumes the iterable. 0 done, 1 client gone, -1 exception from the application's iterable
 * (traceback wanted), -2 misbehaviour found by the adapter (exception set, one line wanted). */
static int consume(AdapterObject *self, PyObject *result)
{
    PyObject *it, *item;
    int rv;
    if (Py_IS_TYPE(result, self->st->file_wrapper_type) && self->status && !self->headers_sent) {
        rv = send_file(self, (pyhost_file_wrapper *)result);
        if (rv != DECLINED) {
            return rv < 0 ? -2 : rv;
        }
    }
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        Py_ssize_t i, n = PySequence_Fast_GET_SIZE(result);
        /* Items are checked before anything is sent, so a wrong one is still a 500; then the
         * declared Content-Length decides whether the last item ends the response. */
        for (i = 0; i < n; i++) {
            PyObject *o = PySequence_Fast_GET_ITEM(result, i);
            if (!PyBytes_Check(o)) {
                PyErr_Format(PyExc_TypeError,
                             "sequence of byte string values expected, value of type %.200s "
                             "found",
                             Py_TYPE(o)->tp_name);
                return -2;
            }
        }
        if (n && self->status && !self->headers_sent && send_headers(self, -1) < 0) {
            return -2;
        }
        for (i = 0; i < n; i++) {
            int last = 0;
            item = Py_NewRef(PySequence_Fast_GET_ITEM(result, i));
            if (i == n - 1 && PyBytes_Check(item) && self->status &&
                !is_short(self, PyBytes_GET_SIZE(item))) {
                last = PYHOST_OUT_LAST;
            }
            rv = send_block(self, item, last ? last : PYHOST_OUT_FLUSH);
            Py_DECREF(item);
            if (rv) {
                return rv < 0 ? -2 : rv;
            }
            if (last) {
                return 0;
            }
        }
        rv = finish(self);
        return rv < 0 ? -2 : rv;
    }
    it = PyObject_GetIter(result);
    if (!it) {
        return -2;
    }
    while ((item = PyIter_Next(it))) {
        rv = send_block(self, item, PYHOST_OUT_FLUSH);
        Py_DECREF(item);
        if (rv) {
            Py_DECREF(it);
            return rv < 0 ? -2 : rv;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return -1;
    }
    rv = finish(self);
    return rv < 0 ? -2 : rv;
}

/* ---- the start_response object ----------------------------------------------------------- */

static PyObject *adapter_write(AdapterObject *self, PyObject *data);

/* PEP 3333 wants exc_info on a second call; mod_wsgi takes it without. Said once per
 * application, as the application is what should change. */
static void second_call_warning(pyhost_wsgi_call *call)
{
    if (pyhost_script_first_warning(call->interp, call->script)) {
        pyhost_log_fmt(&call->log, APLOG_WARNING,
                       "WSGI application '%s' of %s called start_response() a second time "
                       "without exc_info before sending any output; PEP 3333 allows that only "
                       "with exc_info. The second status and headers are used, as mod_wsgi "
                       "does (this is logged once per application)",
                       call->callable, call->script);
    }
}

static PyMethodDef write_def = {"write", (PyCFunction)adapter_write, METH_O,
                                "write(data): send data to the client now"};

static PyObject *adapter_start_response(AdapterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"status", "response_headers", "exc_info", NULL};
    PyObject *status, *headers, *exc_info = Py_None;
    int code;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:start_response", kwlist, &status, &headers,
                                     &exc_info)) {
        return NULL;
    }
    if (!self->call) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after the request ended");
        return NULL;
    }
    if (exc_info != Py_None && !PyTuple_Check(exc_info)) {
        PyErr_SetString(PyExc_RuntimeError, "exception info must be a tuple");
        return NULL;
    }
    if (exc_info != Py_None && self->headers_sent) {
        /* too late to replace the response: the application's exception goes on */
        PyObject *type, *value, *tb;
        if (!PyArg_ParseTuple(exc_info, "OOO:start_response", &type, &value, &tb)) {
            return NULL;
        }
        PyErr_Restore(Py_NewRef(type), Py_NewRef(value), tb == Py_None ? NULL : Py_NewRef(tb));
        return NULL;
    }
    if (exc_info == Py_None && self->headers_sent) {
        PyErr_SetString(PyExc_RuntimeError, "headers have already been sent");
        return NULL;
    }
    if (check_status(status, &code) < 0 || check_headers(headers) < 0) {
        return NULL;
    }
    if (exc_info == Py_None && self->status) {
        /* mod_wsgi lets a second call before any output replace the first; so does this */
        second_call_warning(self->call);
    }
    Py_XSETREF(self->status, Py_NewRef(status));
    Py_XSETREF(self->headers, Py_NewRef(headers));
    self->status_code = code;
    if (pyhost_events_on(self->st)) {
        pyhost_event_response_started(self->call, status, headers, exc_info);
    }
    return PyCFunction_New(&write_def, (PyObject *)self);
}

static PyObject *adapter_write(AdapterObject *self, PyObject *data)
{
    int rv;
    if (!self->call) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after the request ended");
        return NULL;
    }
    if (!self->status) {
        PyErr_SetString(PyExc_RuntimeError, "write() called before start_response()");
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "byte string value expected, value of type %.200s found",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    rv = send_block(self, data, PYHOST_OUT_FLUSH);
    if (rv < 0) {
        return NULL;
    }
    if (rv > 0) {
        PyErr_SetString(PyExc_OSError, "mod_wsgi client connection closed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static void adapter_dealloc(AdapterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->status);
    Py_XDECREF(self->headers);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef adapter_methods[] = {{"write", (PyCFunction)adapter_write, METH_O, NULL},
                                        {NULL}};

static PyType_Slot adapter_slots[] = {{Py_tp_dealloc, adapter_dealloc},
                                      {Py_tp_call, adapter_start_response},
                                      {Py_tp_methods, adapter_methods},
                                      {0, NULL}};

PyType_Spec pyhost_adapter_spec = {"mod_wsgi.StartResponse", sizeof(AdapterObject), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                   adapter_slots};

/* ---- one request ------------------------------------------------------------------------- */

/* Logs the pending exception of the application, or misbehaviour the adapter found, with
 * mod_wsgi 6's line for it. */
static void log_app_exception(pyhost_wsgi_call *call)
{
    char context[512];
    pyhost_log_app_exception(&call->log, call->script,
                             pyhost_interp_context(call->interp, context, sizeof(context)));
}

/* Calls result.close() if it has one; a failure is logged. Returns -1 if it failed. */
static int close_result(pyhost_wsgi_call *call, pyhost_modstate *st, PyObject *result)
{
    PyObject *close = PyObject_GetAttr(result, st->names[PYHOST_N_CLOSE]), *r;
    if (!close) {
        PyErr_Clear();
        return 0;
    }
    r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (!r) {
        log_app_exception(call);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Logs the application's exception, after telling request_exception subscribers. */
static void app_exception(pyhost_wsgi_call *call)
{
    if (pyhost_events_on(call->interp->st)) {
        PyObject *exc = pyhost_take_exception();
        if (exc) {
            pyhost_event_request_exception(call, exc);
            pyhost_restore_exception(exc);
        }
    }
    log_app_exception(call);
}

/* mod_wsgi.RequestTimeout, raised in the thread by the daemon's watch, means 504 (or a cut
 * response once the headers are out). mod_wsgi 6's line, then what happened. */
static int timed_out(pyhost_wsgi_call *call, pyhost_modstate *st, int headers_sent)
{
    if (!PyErr_ExceptionMatches(st->request_timeout)) {
        return 0;
    }
    PyErr_Clear();
    pyhost_log_fmt(&call->log, APLOG_ERR,
                   headers_sent ? "Request interrupted by RequestTimeout after headers sent; "
                                  "response truncated. (%s was interrupted by "
                                  "mod_wsgi.RequestTimeout: request-timeout; the response is "
                                  "cut short)"
                                : "Request interrupted by RequestTimeout; thread recovered. "
                                  "(%s was interrupted by mod_wsgi.RequestTimeout: "
                                  "request-timeout; answered with 504)",
                   call->script);
    return 1;
}

static int run_application(pyhost_wsgi_call *call, PyObject *app, pyhost_modstate *st)
{
    AdapterObject *a = PyObject_New(AdapterObject, st->adapter_type);
    PyObject *input = NULL, *errors = NULL, *env = NULL, *result = NULL;
    int rv = HTTP_INTERNAL_SERVER_ERROR, c;

    if (!a) {
        log_app_exception(call);
        return rv;
    }
    a->call = call;
    a->st = st;
    a->status = NULL;
    a->headers = NULL;
    a->status_code = 0;
    a->content_length = -1;
    a->headers_sent = 0;
    a->client_gone = 0;
    env = pyhost_wsgi_environ(call, &input, &errors);
    if (!env) {
        goto out;
    }
    if (pyhost_events_on(st)) {
        app = pyhost_event_request_started(call, env, app);
    }
    else {
        Py_INCREF(app);
    }
    result = PyObject_CallFunctionObjArgs(app, env, (PyObject *)a, NULL);
    Py_DECREF(app);
    if (!result) {
        if (timed_out(call, st, a->headers_sent)) {
            rv = HTTP_GATEWAY_TIME_OUT;
        }
        else {
            app_exception(call);
        }
    }
    else {
        c = consume(a, result);
        if (c == -1 && timed_out(call, st, a->headers_sent)) {
            rv = HTTP_GATEWAY_TIME_OUT;
        }
        else if (c == -1) {
            app_exception(call);
        }
        else if (c == -2) {
            log_app_exception(call);
        }
        if (close_result(call, st, result) < 0 && c >= 0) {
            c = -1;
        }
        if (c >= 0) {
            rv = OK;
        }
    }
    if (rv != OK && a->headers_sent) {
        /* too late for a 500: cut the response so the client can tell */
        Py_BEGIN_ALLOW_THREADS
        call->io->ops->abort(call->io);
        Py_END_ALLOW_THREADS
        rv = OK;
    }
    if (pyhost_events_on(st)) {
        pyhost_event_request_finished(call);
    }
out:
    a->call = NULL;
    if (input) {
        pyhost_input_detach(input);
    }
    Py_XDECREF(result);
    Py_XDECREF(env);
    if (errors) {
        errors_done(call, errors);
    }
    Py_XDECREF(input);
    Py_DECREF(a);
    return rv;
}

int pyhost_wsgi_run(pyhost_wsgi_call *call)
{
    PyThreadState *ts;
    const pyhost_logctx *prev = pyhost_current_log;
    pyhost_wsgi_call *prev_call = pyhost_current_call;
    PyObject *module, *app;
    int rv = HTTP_INTERNAL_SERVER_ERROR;

    pyhost_metrics_request_begin(call);
    if (call->io && call->interp->st && pyhost_events_on(call->interp->st)) {
        /* request_finished tells the waits for the GIL (a racy look at the list's size is
         * enough: a subscriber added meanwhile sees the counts from the next request on) */
        call->io->gil_count = 1;
        call->attach_start = apr_time_now();
    }
    ts = pyhost_interp_enter(call->interp);
    pyhost_metrics_request_attached(call);
    pyhost_current_log = &call->log;
    pyhost_current_call = call;
    module =
        pyhost_script_module(call->interp, call->script, call->mtime, call->reload, &call->log);
    if (module) {
        app = PyObject_GetAttrString(module, call->callable);
        if (!app) {
            PyErr_Clear();
            pyhost_log_fmt(&call->log, APLOG_ERR,
                           "WSGI0089: Target WSGI script '%s' does not contain WSGI application "
                           "'%s'.",
                           call->script, call->callable);
            rv = HTTP_NOT_FOUND;
        }
        else {
            rv = run_application(call, app, call->interp->st);
            Py_DECREF(app);
        }
        Py_DECREF(module);
    }
    pyhost_metrics_request_end(call);
    Py_CLEAR(call->request_data);
    Py_CLEAR(call->request_id);
    pyhost_current_call = prev_call;
    pyhost_current_log = prev;
    pyhost_interp_leave(ts);
    return rv;
}
