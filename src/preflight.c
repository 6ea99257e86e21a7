/* preflight.c: extension modules and interpreters with their own GIL.
 *
 * Owns the check made before an extension module is loaded into an interpreter with its own
 * GIL (PEP 684): Python would run a single-phase extension's initialisation there before
 * refusing it, and some (numpy among them) leave the process broken when that happens. So
 * an import hook in such interpreters asks first: the extension is imported in the main
 * interpreter, where that is safe, and its module definition says whether it supports a
 * per-interpreter GIL. If not, the import fails cleanly, and the error log names the module,
 * the interpreter and the fix. */
#include "interp.h"

#include "log.h"
#include "pymodule.h"

#include "apr_strings.h"

#include <pthread.h>

#if PY_VERSION_HEX >= 0x030C0000

static pthread_mutex_t verdict_lock = PTHREAD_MUTEX_INITIALIZER;
static apr_hash_t *verdicts; /* module name -> reason it cannot be loaded, or "" */
static apr_pool_t *verdict_pool;

/* In the main interpreter (attached): why name cannot live with its own GIL, or NULL. */
static const char *judge(const char *name)
{
    PyObject *mod = PyImport_ImportModule(name);
    PyModuleDef *def;
    PyModuleDef_Slot *slot;
    if (!mod) {
        PyErr_Clear(); /* its own import will say what is wrong */
        return NULL;
    }
    def = PyModule_GetDef(mod);
    Py_DECREF(mod);
    if (!def) {
        PyErr_Clear();
        return NULL;
    }
    if (!def->m_slots) {
        return "it uses single-phase initialisation";
    }
    for (slot = def->m_slots; slot->slot; slot++) {
        if (slot->slot == Py_mod_multiple_interpreters) {
            return slot->value == Py_MOD_PER_INTERPRETER_GIL_SUPPORTED
                       ? NULL
                       : "it does not declare support for a per-interpreter GIL";
        }
    }
    return "it does not declare support for a per-interpreter GIL";
}

/* mod_wsgi._preflight(name): None if the extension may be loaded here, else the reason. */
static PyObject *preflight(PyObject *module, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg), *why;
    char copy[512];
    PyThreadState *here;
    (void)module;
    if (!name) {
        return NULL;
    }
    apr_cpystrn(copy, name, sizeof(copy));
    pthread_mutex_lock(&verdict_lock);
    if (!verdicts) {
        apr_pool_create(&verdict_pool, NULL);
        verdicts = apr_hash_make(verdict_pool);
    }
    why = apr_hash_get(verdicts, copy, APR_HASH_KEY_STRING);
    pthread_mutex_unlock(&verdict_lock);
    if (!why) {
        /* this interpreter's GIL is let go while the main interpreter's is held */
        pyhost_interp *self = pyhost_current_interp;
        here = PyEval_SaveThread();
        {
            PyThreadState *main_ts = pyhost_interp_enter(pyhost_interp_get(""));
            why = judge(copy);
            pyhost_interp_leave(main_ts);
        }
        pyhost_current_interp = self;
        PyEval_RestoreThread(here);
        pthread_mutex_lock(&verdict_lock);
        why = apr_pstrdup(verdict_pool, why ? why : "");
        apr_hash_set(verdicts, apr_pstrdup(verdict_pool, copy), APR_HASH_KEY_STRING, why);
        pthread_mutex_unlock(&verdict_lock);
    }
    if (!*why) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(why);
}

static PyMethodDef preflight_def = {"_preflight", preflight, METH_O, NULL};

static const char hook_code[] =
    "import sys, importlib.machinery as _m\n"
    "class PyhostPreflight:\n"
    "    '''Refuses extensions that cannot run with this interpreter's own GIL.'''\n"
    "    @classmethod\n"
    "    def find_spec(cls, name, path=None, target=None):\n"
    "        spec = _m.PathFinder.find_spec(name, path, target)\n"
    "        if spec is not None and isinstance(spec.loader, _m.ExtensionFileLoader):\n"
    "            why = _preflight(name)\n"
    "            if why:\n"
    "                raise ImportError('module %s does not support the per-interpreter GIL: %s'\n"
    "                                  % (name, why), name=name)\n"
    "        return None\n"
    "sys.meta_path.insert(0, PyhostPreflight)\n";

int pyhost_preflight_install(PyObject *module)
{
    PyObject *g = PyDict_New(), *fn = PyCFunction_New(&preflight_def, module), *r = NULL;
    if (g && fn && PyDict_SetItemString(g, "_preflight", fn) == 0 &&
        PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) == 0) {
        r = PyRun_String(hook_code, Py_file_input, g, g);
    }
    Py_XDECREF(fn);
    Py_XDECREF(g);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

#else

int pyhost_preflight_install(PyObject *module)
{
    (void)module;
    return 0; /* no interpreter has its own GIL before Python 3.12 */
}

#endif

/* The innermost ImportError in exc's chain (what it was raised from or during) that says an
 * extension cannot be loaded in a sub interpreter; borrowed, or NULL. */
static PyObject *refusal_in(PyObject *exc)
{
    PyObject *found = NULL, *next;
    int depth;
    for (depth = 0; exc && exc != Py_None && depth < 16; depth++) {
        if (PyErr_GivenExceptionMatches(exc, PyExc_ImportError)) {
            PyObject *msg = PyObject_Str(exc);
            const char *m = msg ? PyUnicode_AsUTF8(msg) : NULL;
            if (m && (strstr(m, "subinterpreter") || strstr(m, "per-interpreter GIL"))) {
                found = exc;
            }
            Py_XDECREF(msg);
            PyErr_Clear();
        }
        next = PyException_GetCause(exc);
        if (!next) {
            next = PyException_GetContext(exc);
        }
        Py_XDECREF(next); /* the chain holds it */
        exc = next;
    }
    return found;
}

void pyhost_explain_import_error(const pyhost_logctx *lc, PyObject *exc)
{
    pyhost_interp *interp = pyhost_current_interp;
    PyObject *refusal, *name;
    const char *mod;
    if (!interp || !(refusal = refusal_in(exc))) {
        return;
    }
    name = PyObject_GetAttrString(refusal, "name");
    mod = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (interp->mode == PYHOST_GIL_OWN) {
        pyhost_log_fmt(lc, APLOG_ERR,
                       "extension module %s cannot be loaded in Python interpreter '%s', which "
                       "has its own GIL: it does not support that (PEP 684); run this "
                       "application with WSGIApplicationGroup %%{GLOBAL}, or turn the own GIL "
                       "off for it (WSGIPerInterpreterGIL Off in <WSGIInterpreterOptions "
                       "application-group=%s>)",
                       mod ? mod : "?", interp->name, interp->group);
    }
    else {
        pyhost_log_fmt(lc, APLOG_ERR,
                       "extension module %s cannot be loaded in Python sub interpreter '%s': "
                       "run this application in the main interpreter with "
                       "WSGIApplicationGroup %%{GLOBAL}",
                       mod ? mod : "?", interp->name);
    }
    PyErr_Clear();
    Py_XDECREF(name);
}
