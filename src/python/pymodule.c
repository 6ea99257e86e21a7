/* python/pymodule.c: the `mod_wsgi` module that applications import.
 *
 * Owns the module definition (multi-phase init, one instance and one state per interpreter,
 * declared safe for own-GIL interpreters and for running without the GIL), its attributes
 * (version, process_group, application_group, maximum_processes, threads_per_process), the
 * FileWrapper type, the signal.signal() restriction, the per-interpreter objects the adapter
 * needs on every request, and the `apache` module. Events and logging are in python/events.c. */
#include "python/pymodule.h"

#include "python/events.h"
#include "python/input.h"
#include "python/metrics.h"
#include "python/interp.h"
#include "python/log.h"
#include "python/wsgi.h"
#include "shared/process.h"

#include "httpd.h"
#include "http_log.h"

/* The mod_wsgi API level this module provides. */
#define PYHOST_API_MAJOR 6
#define PYHOST_API_MINOR 0
#define PYHOST_API_MICRO 5

static pyhost_modstate *state_of(PyObject *module)
{
    return PyModule_GetState(module);
}

/* ---- FileWrapper ------------------------------------------------------------------------- */

static int fw_init(pyhost_file_wrapper *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filelike", "blksize", NULL};
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:FileWrapper", kwlist, &filelike, &blksize)) {
        return -1;
    }
    if (blksize <= 0) {
        PyErr_SetString(PyExc_ValueError, "blksize must be positive");
        return -1;
    }
    Py_XSETREF(self->filelike, Py_NewRef(filelike));
    self->blksize = blksize;
    return 0;
}

static PyObject *fw_iternext(pyhost_file_wrapper *self)
{
    PyObject *data;
    if (!self->filelike) {
        return NULL;
    }
    data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);
    if (!data) {
        return NULL;
    }
    if (PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *fw_close(pyhost_file_wrapper *self, PyObject *unused)
{
    PyObject *close;
    (void)unused;
    if (!self->filelike) {
        Py_RETURN_NONE;
    }
    close = PyObject_GetAttrString(self->filelike, "close");
    if (!close) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_SETREF(close, PyObject_CallNoArgs(close));
    return close;
}

static int fw_traverse(pyhost_file_wrapper *self, visitproc visit, void *arg)
{
    Py_VISIT(self->filelike);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int fw_clear(pyhost_file_wrapper *self)
{
    Py_CLEAR(self->filelike);
    return 0;
}

static void fw_dealloc(pyhost_file_wrapper *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    fw_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef fw_methods[] = {{"close", (PyCFunction)fw_close, METH_NOARGS, NULL}, {NULL}};

static PyType_Slot fw_slots[] = {
    {Py_tp_init, fw_init},       {Py_tp_iter, PyObject_SelfIter}, {Py_tp_iternext, fw_iternext},
    {Py_tp_methods, fw_methods}, {Py_tp_traverse, fw_traverse},   {Py_tp_clear, fw_clear},
    {Py_tp_dealloc, fw_dealloc}, {Py_tp_new, PyType_GenericNew},  {0, NULL}};

static PyType_Spec fw_spec = {"mod_wsgi.FileWrapper", sizeof(pyhost_file_wrapper), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                              fw_slots};

/* ---- module functions -------------------------------------------------------------------- */

/* signal.signal() under WSGIRestrictSignal: the registration is logged and ignored, and the
 * handler in place is returned as if it had been replaced. */
static PyObject *signal_ignored(PyObject *module, PyObject *args)
{
    PyObject *signum, *handler, *sig, *prev;
    long n;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO:signal", &signum, &handler)) {
        return NULL;
    }
    n = PyLong_AsLong(signum);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    pyhost_log_fmt(pyhost_current_log, APLOG_WARNING,
                   "registration of a handler for signal %ld ignored: Apache owns signals "
                   "(WSGIRestrictSignal On)",
                   n);
    sig = PyImport_ImportModule("signal");
    if (!sig) {
        return NULL;
    }
    prev = PyObject_CallMethod(sig, "getsignal", "O", signum);
    Py_DECREF(sig);
    return prev;
}

static PyMethodDef module_functions[] = {{"_signal_ignored", signal_ignored, METH_VARARGS, NULL},
                                         {NULL}};

int pyhost_pymodule_restrict_signal(PyObject *module)
{
    PyObject *sig = PyImport_ImportModule("signal"), *fn;
    int rv;
    if (!sig) {
        return -1;
    }
    fn = PyObject_GetAttrString(module, "_signal_ignored");
    rv = fn ? PyObject_SetAttrString(sig, "signal", fn) : -1;
    Py_XDECREF(fn);
    Py_DECREF(sig);
    return rv;
}

/* ---- state ------------------------------------------------------------------------------- */

static PyObject *version_tuple(int a, int b, int c)
{
    return Py_BuildValue("(iii)", a, b, c);
}

/* New reference to module.name. */
static PyObject *import_attr(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module), *attr;
    if (!m) {
        return NULL;
    }
    attr = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return attr;
}

static int module_exec(PyObject *module)
{
    pyhost_modstate *st = state_of(module);
    ap_version_t av;
    int i;

    ap_get_server_revision(&av);
#define PYHOST_NAME_TEXT(id, text) text,
    static const char *const names[PYHOST_N_COUNT] = {PYHOST_PY_NAMES(PYHOST_NAME_TEXT)};
#undef PYHOST_NAME_TEXT
    for (i = 0; i < PYHOST_K_COUNT; i++) {
        if (!(st->keys[i] = PyUnicode_InternFromString(pyhost_key_names[i]))) {
            return -1;
        }
    }
    for (i = 0; i < PYHOST_N_COUNT; i++) {
        if (!(st->names[i] = PyUnicode_InternFromString(names[i]))) {
            return -1;
        }
    }
    st->adapter_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &pyhost_adapter_spec, NULL);
    st->input_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &pyhost_input_spec, NULL);
    st->log_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &pyhost_log_spec, NULL);
    st->file_wrapper_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &fw_spec, NULL);
    st->wsgi_version = Py_BuildValue("(ii)", 1, 0);
    st->mod_wsgi_version = version_tuple(PYHOST_API_MAJOR, PYHOST_API_MINOR, PYHOST_API_MICRO);
    st->apache_version = version_tuple(av.major, av.minor, av.patch);
    st->shutdown_callbacks = PyList_New(0);
    st->event_callbacks = PyList_New(0);
    st->signal_callbacks = PyList_New(0);
    st->active_requests = PyDict_New();
    st->request_timeout =
        PyErr_NewExceptionWithDoc("mod_wsgi.RequestTimeout",
                                  "Raised in a request's thread when it runs past the "
                                  "request-timeout of its daemon process group.",
                                  PyExc_BaseException, NULL);
    st->text_wrapper = import_attr("io", "TextIOWrapper");
    if (!st->text_wrapper || !st->request_timeout || !st->adapter_type || !st->input_type ||
        !st->log_type || !st->file_wrapper_type || !st->wsgi_version || !st->mod_wsgi_version ||
        !st->apache_version || !st->shutdown_callbacks || !st->event_callbacks ||
        !st->signal_callbacks || !st->active_requests) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "FileWrapper", (PyObject *)st->file_wrapper_type) < 0 ||
        PyModule_AddObjectRef(module, "version", st->mod_wsgi_version) < 0 ||
        PyModule_AddObjectRef(module, "shutdown_callbacks", st->shutdown_callbacks) < 0 ||
        PyModule_AddObjectRef(module, "event_callbacks", st->event_callbacks) < 0 ||
        PyModule_AddObjectRef(module, "signal_callbacks", st->signal_callbacks) < 0 ||
        PyModule_AddObjectRef(module, "active_requests", st->active_requests) < 0 ||
        PyModule_AddFunctions(module, pyhost_event_functions) < 0 ||
        PyModule_AddFunctions(module, pyhost_metrics_functions) < 0 ||
        PyModule_AddObjectRef(module, "RequestTimeout", st->request_timeout) < 0) {
        return -1;
    }
    return 0;
}

int pyhost_pymodule_describe(PyObject *module, const char *application_group)
{
    if (PyModule_AddStringConstant(module, "process_group", pyhost_proc.process_group) < 0 ||
        PyModule_AddStringConstant(module, "application_group", application_group) < 0 ||
        PyModule_AddIntConstant(module, "maximum_processes", pyhost_proc.maximum_processes) < 0 ||
        PyModule_AddIntConstant(module, "threads_per_process", pyhost_proc.threads_per_process) <
            0) {
        return -1;
    }
    return 0;
}

/* Applies DO (Py_VISIT or Py_CLEAR) to every object of the module state st. */
/* clang-format off */
#define STATE_EACH(st, DO)                                                                       \
    do {                                                                                         \
        int i_;                                                                                  \
        for (i_ = 0; i_ < PYHOST_K_COUNT; i_++) {                                                \
            DO((st)->keys[i_]);                                                                  \
            DO((st)->values[i_]);                                                                \
        }                                                                                        \
        for (i_ = 0; i_ < PYHOST_N_COUNT; i_++) {                                                \
            DO((st)->names[i_]);                                                                 \
        }                                                                                        \
        DO((st)->adapter_type); DO((st)->input_type); DO((st)->log_type);                        \
        DO((st)->file_wrapper_type); DO((st)->wsgi_version); DO((st)->mod_wsgi_version);         \
        DO((st)->apache_version); DO((st)->shutdown_callbacks); DO((st)->event_callbacks);       \
        DO((st)->signal_callbacks); DO((st)->active_requests); DO((st)->log_handler);            \
        DO((st)->request_timeout); DO((st)->text_wrapper);                                       \
    } while (0)
/* clang-format on */

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    pyhost_modstate *st = state_of(module);
    STATE_EACH(st, Py_VISIT);
    return 0;
}

static int module_clear(PyObject *module)
{
    pyhost_modstate *st = state_of(module);
    STATE_EACH(st, Py_CLEAR);
    return 0;
}

static void module_free(void *module)
{
    module_clear(module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                                        "mod_wsgi",
                                        "Hosting of WSGI applications in Apache (mod_pyhost).",
                                        sizeof(pyhost_modstate),
                                        module_functions,
                                        module_slots,
                                        module_traverse,
                                        module_clear,
                                        module_free};

PyObject *pyhost_pymodule_init(void)
{
    return PyModuleDef_Init(&module_def);
}

/* ---- the apache module ------------------------------------------------------------------- */

static int apache_exec(PyObject *module)
{
    ap_version_t av;
    PyObject *version;
    int rv;
    ap_get_server_revision(&av);
    version = version_tuple(av.major, av.minor, av.patch);
    rv = version ? PyModule_AddObjectRef(module, "version", version) : -1;
    Py_XDECREF(version);
    if (rv < 0 || PyModule_AddStringConstant(module, "mpm_name", pyhost_proc.mpm_name) < 0 ||
        PyModule_AddIntConstant(module, "maximum_processes", pyhost_proc.apache_processes) < 0 ||
        PyModule_AddIntConstant(module, "threads_per_process", pyhost_proc.apache_threads) < 0 ||
        PyModule_AddStringConstant(module, "description", ap_get_server_description()) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot apache_slots[] = {
    {Py_mod_exec, apache_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};

static struct PyModuleDef apache_def = {PyModuleDef_HEAD_INIT,
                                        "apache",
                                        "The Apache server hosting this interpreter.",
                                        0,
                                        NULL,
                                        apache_slots,
                                        NULL,
                                        NULL,
                                        NULL};

PyObject *pyhost_apache_module_init(void)
{
    return PyModuleDef_Init(&apache_def);
}
