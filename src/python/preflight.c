/* python/preflight.c: extension modules in sub interpreters that check them.
 *
 * Owns the check made before an extension module is loaded into a sub interpreter where
 * Python refuses extensions that do not declare support for it (own GIL, PEP 684; any sub
 * interpreter of a free-threaded build). Python would run a single-phase extension's
 * initialisation there before refusing it, and some (numpy among them) leave the process
 * broken when that happens. So an import hook in such interpreters asks first: the extension
 * is imported in the main interpreter, where that is safe, and its module definition says
 * what it supports. If it cannot be loaded, the import fails cleanly, and the error log names
 * the module, the interpreter, the reason and the fix. */
#include "python/preflight.h"

#include "python/interp.h"
#include "python/modstate.h"

#include "apr_strings.h"

#include <pthread.h>

#if PY_VERSION_HEX >= 0x030C0000

/* What an extension's module definition says, for the interpreter that asks. */
typedef enum {
    VERDICT_OK = 1,
    VERDICT_SINGLE_PHASE, /* no slots: the legacy initialisation */
    VERDICT_NO_SUB,       /* Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED */
    VERDICT_NO_OWN_GIL    /* sub interpreters, but only those sharing the main GIL */
} verdict;

static const char *const reasons[] = {NULL, NULL, "it uses single-phase initialisation",
                                      "it does not support sub interpreters",
                                      "it does not declare support for a per-interpreter GIL"};

static pthread_mutex_t verdict_lock = PTHREAD_MUTEX_INITIALIZER;
static apr_hash_t *verdicts; /* "o:name" (own GIL) or "s:name" -> verdict */
static apr_pool_t *verdict_pool;

/* In the main interpreter (attached): whether name can live in a sub interpreter with its
 * own GIL (own_gil) or in one sharing the main GIL. */
static verdict judge(const char *name, int own_gil)
{
    PyObject *mod = PyImport_ImportModule(name);
    PyModuleDef *def;
    PyModuleDef_Slot *slot;
    if (!mod) {
        PyErr_Clear(); /* its own import will say what is wrong */
        return VERDICT_OK;
    }
    def = PyModule_GetDef(mod);
    Py_DECREF(mod);
    if (!def) {
        PyErr_Clear();
        return VERDICT_OK;
    }
    if (!def->m_slots) {
        return VERDICT_SINGLE_PHASE;
    }
    for (slot = def->m_slots; slot->slot; slot++) {
        if (slot->slot == Py_mod_multiple_interpreters) {
            if (slot->value == Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED) {
                return VERDICT_NO_SUB;
            }
            return slot->value == Py_MOD_PER_INTERPRETER_GIL_SUPPORTED || !own_gil
                       ? VERDICT_OK
                       : VERDICT_NO_OWN_GIL;
        }
    }
    /* without the slot, Python takes it as supporting sub interpreters that share the GIL */
    return own_gil ? VERDICT_NO_OWN_GIL : VERDICT_OK;
}

/* mod_wsgi._preflight(name): None if the extension may be loaded here, else why not, as
 * (reason, whether a sub interpreter sharing the main GIL could load it). */
static PyObject *preflight(PyObject *module, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    pyhost_interp *self = pyhost_current_interp;
    int own_gil = self && self->mode == PYHOST_GIL_OWN, shared_would_do;
    char key[512];
    verdict v;
    (void)module;
    if (!name) {
        return NULL;
    }
    apr_snprintf(key, sizeof(key), "%c:%s", own_gil ? 'o' : 's', name);
    pthread_mutex_lock(&verdict_lock);
    if (!verdicts) {
        apr_pool_create(&verdict_pool, NULL);
        verdicts = apr_hash_make(verdict_pool);
    }
    v = (verdict)(intptr_t)apr_hash_get(verdicts, key, APR_HASH_KEY_STRING);
    pthread_mutex_unlock(&verdict_lock);
    if (!v) {
        /* this interpreter is let go while the main one is attached */
        PyThreadState *here = PyEval_SaveThread(), *main_ts;
        main_ts = pyhost_interp_enter(pyhost_main_interp);
        v = judge(key + 2, own_gil);
        pyhost_interp_leave(main_ts);
        pyhost_current_interp = self;
        PyEval_RestoreThread(here);
        pthread_mutex_lock(&verdict_lock);
        apr_hash_set(verdicts, apr_pstrdup(verdict_pool, key), APR_HASH_KEY_STRING,
                     (void *)(intptr_t)v);
        pthread_mutex_unlock(&verdict_lock);
    }
    if (v == VERDICT_OK) {
        Py_RETURN_NONE;
    }
#ifdef Py_GIL_DISABLED
    shared_would_do = v == VERDICT_NO_OWN_GIL; /* there every sub interpreter checks */
#else
    shared_would_do = 1; /* sub interpreters sharing the GIL load anything */
#endif
    return Py_BuildValue("(sO)", reasons[v], shared_would_do ? Py_True : Py_False);
}

static PyMethodDef preflight_def = {"_preflight", preflight, METH_O, NULL};

static const char hook_code[] =
    "import sys, importlib.machinery as _m\n"
    "class PyhostPreflight:\n"
    "    '''Refuses the extensions this sub interpreter cannot load, before they run.'''\n"
    "    @classmethod\n"
    "    def find_spec(cls, name, path=None, target=None):\n"
    "        spec = _m.PathFinder.find_spec(name, path, target)\n"
    "        if spec is not None and isinstance(spec.loader, _m.ExtensionFileLoader):\n"
    "            why = _preflight(name)\n"
    "            if why:\n"
    "                e = ImportError('module %s cannot be loaded in this sub interpreter: %s'\n"
    "                                % (name, why[0]), name=name)\n"
    "                e.pyhost_reason, e.pyhost_shared_would_do = why\n"
    "                raise e\n"
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
    return 0; /* before Python 3.12 no sub interpreter checks extensions */
}

#endif

/* The innermost ImportError in exc's chain (what it was raised from or during) that says an
 * extension cannot be loaded in a sub interpreter: the preflight's, or Python's own ("module
 * X does not support loading in subinterpreters"); borrowed, or NULL. */
static PyObject *refusal_in(PyObject *exc)
{
    PyObject *found = NULL, *next;
    int depth;
    for (depth = 0; exc && exc != Py_None && depth < 16; depth++) {
        if (PyErr_GivenExceptionMatches(exc, PyExc_ImportError)) {
            PyObject *msg = PyObject_Str(exc);
            const char *m = msg ? PyUnicode_AsUTF8(msg) : NULL;
            if (m && (strstr(m, "in subinterpreters") || strstr(m, "in this sub interpreter"))) {
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

/* A string attribute of obj, copied into p, or NULL. */
static const char *str_attr(apr_pool_t *p, PyObject *obj, const char *attr)
{
    PyObject *v = PyObject_GetAttrString(obj, attr);
    const char *s = v && PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
    s = s ? apr_pstrdup(p, s) : NULL;
    Py_XDECREF(v);
    PyErr_Clear();
    return s;
}

void pyhost_explain_import_error(const pyhost_logctx *lc, PyObject *exc)
{
    pyhost_interp *interp = pyhost_current_interp;
    PyObject *refusal, *flag;
    const char *mod, *why, *msg;
    int shared_would_do = 0;
    apr_pool_t *p;
    if (!interp || !(refusal = refusal_in(exc))) {
        return;
    }
    apr_pool_create(&p, NULL);
    mod = str_attr(p, refusal, "name");
    why = str_attr(p, refusal, "pyhost_reason");
    if (why) {
        flag = PyObject_GetAttrString(refusal, "pyhost_shared_would_do");
        shared_would_do = flag && PyObject_IsTrue(flag) == 1;
        Py_XDECREF(flag);
        PyErr_Clear();
    }
    else {
        /* Python's own refusal names the module in its message only */
        msg = str_attr(p, refusal, "msg");
        if (!mod && msg && strncmp(msg, "module ", 7) == 0) {
            mod = apr_pstrndup(p, msg + 7, strcspn(msg + 7, " "));
        }
        why = "it does not support loading in sub interpreters";
    }
    if (interp->mode == PYHOST_GIL_OWN && shared_would_do) {
        pyhost_log_fmt(lc, APLOG_ERR,
                       "extension module %s cannot be loaded in Python interpreter '%s', which "
                       "has its own GIL: %s; run this application with WSGIApplicationGroup "
                       "%%{GLOBAL}, or turn the own GIL off for it (WSGIPerInterpreterGIL Off "
                       "in <WSGIInterpreterOptions application-group=%s>)",
                       mod ? mod : "?", interp->name, why, interp->group);
    }
    else {
        pyhost_log_fmt(lc, APLOG_ERR,
                       "extension module %s cannot be loaded in Python sub interpreter '%s': "
                       "%s; run this application in the main interpreter with "
                       "WSGIApplicationGroup %%{GLOBAL}",
                       mod ? mod : "?", interp->name, why);
    }
    apr_pool_destroy(p);
}
