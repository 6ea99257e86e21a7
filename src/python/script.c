/* python/script.c: loading WSGI scripts as modules, per interpreter, and reloading them.
 *
 * Owns the module name of a script (_mod_wsgi_ + md5 of its path, as mod_wsgi), reading and
 * compiling it with its path as the code's file name, executing it in a fresh module that is
 * in sys.modules while it runs, the per-interpreter cache of loaded scripts with their
 * modification times, and the scripts' reload_required(resource) hook. */
#include "python/script.h"

#include "shared/process.h"

#include "apr_md5.h"
#include "apr_file_info.h"
#include "apr_strings.h"

#include <stdio.h>

typedef struct {
    PyObject *module;
    apr_time_t mtime;
    int warned; /* pyhost_script_first_warning() has answered 1 */
    int hook;   /* the module defines reload_required() */
} pyhost_loaded;

static int loaded_count; /* scripts loaded successfully in this process */

int pyhost_scripts_loaded(void)
{
    return __atomic_load_n(&loaded_count, __ATOMIC_RELAXED);
}

/* Takes the interpreter's script lock; waits for it with the thread detached so that the
 * thread loading a script can take this interpreter's GIL meanwhile. */
static void lock_scripts(pyhost_interp *interp)
{
    if (!PyThread_acquire_lock(interp->scripts_lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(interp->scripts_lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

static apr_time_t mtime_of(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;
    return apr_stat(&fi, path, APR_FINFO_MTIME, p) == APR_SUCCESS ? fi.mtime : 0;
}

static PyObject *module_name(const char *path)
{
    unsigned char digest[APR_MD5_DIGESTSIZE];
    char hex[2 * APR_MD5_DIGESTSIZE + 1];
    int i;
    apr_md5(digest, path, strlen(path));
    for (i = 0; i < APR_MD5_DIGESTSIZE; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    return PyUnicode_FromFormat("_mod_wsgi_%s", hex);
}

/* mod_wsgi 6's message IDs of a script that cannot be loaded, for a request and for a
 * preload (no request). */
static int for_request(const pyhost_logctx *lc)
{
    return lc && (lc->r || lc->client);
}

static PyObject *read_source(pyhost_interp *interp, const char *path, const pyhost_logctx *lc)
{
    FILE *f = fopen(path, "rb");
    PyObject *data = NULL;
    long size;
    char context[512];
    const char *why = NULL;
    if (!f) {
        why = strerror(errno);
    }
    else if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        why = strerror(errno);
    }
    else {
        data = PyBytes_FromStringAndSize(NULL, size);
        if (data && fread(PyBytes_AS_STRING(data), 1, (size_t)size, f) != (size_t)size) {
            why = "short read";
            Py_CLEAR(data);
        }
    }
    if (why) {
        pyhost_log_fmt(lc, APLOG_ERR,
                       "%s: Could not read or compile WSGI script '%s' for %s. (cannot read it: "
                       "%s)",
                       for_request(lc) ? "WSGI0105" : "WSGI0106", path,
                       pyhost_interp_context(interp, context, sizeof(context)), why);
    }
    if (f) {
        fclose(f);
    }
    return data;
}

/* Compiles and runs the script in a new module; NULL with the failure logged (with mod_wsgi
 * 6's lines: loading at info level, a failure with its message ID). */
static PyObject *load(pyhost_interp *interp, const char *path, int again, const pyhost_logctx *lc)
{
    PyObject *name = NULL, *source = NULL, *filename = NULL, *code = NULL, *module = NULL;
    PyObject *modules = PySys_GetObject("modules"), *dict, *result;
    char headline[1024], context[512];

    pyhost_interp_context(interp, context, sizeof(context));
    if (again) {
        pyhost_log_fmt(lc, APLOG_INFO, "Reloading WSGI script '%s'.", path);
    }
    else {
        pyhost_log_fmt(lc, APLOG_INFO, "Loading Python script file '%s'.", path);
    }
    apr_snprintf(headline, sizeof(headline), "%s: Unable to execute Python script file '%s'.",
                 for_request(lc) ? "WSGI0109" : "WSGI0110", path);
    if (!(source = read_source(interp, path, lc))) {
        return NULL;
    }
    if (!(name = module_name(path)) || !(filename = PyUnicode_DecodeFSDefault(path)) ||
        !(module = PyModule_NewObject(name))) {
        goto fail;
    }
    code = Py_CompileStringObject(PyBytes_AS_STRING(source), filename, Py_file_input, NULL, -1);
    if (!code) {
        apr_snprintf(headline, sizeof(headline),
                     "%s: Could not read or compile WSGI script '%s' for %s.",
                     for_request(lc) ? "WSGI0105" : "WSGI0106", path, context);
        goto fail;
    }
    dict = PyModule_GetDict(module);
    if (PyDict_SetItemString(dict, "__file__", filename) < 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) < 0 || !modules ||
        PyObject_SetItem(modules, name, module) < 0) {
        goto fail;
    }
    result = PyEval_EvalCode(code, dict, dict);
    if (!result && PyErr_ExceptionMatches(PyExc_SystemExit)) {
        PyErr_Clear();
        pyhost_log_fmt(lc, APLOG_INFO, "WSGI script '%s' ended with SystemExit", path);
        result = Py_NewRef(Py_None);
    }
    if (!result) {
        pyhost_log_exception(lc, headline);
        if (PyMapping_DelItem(modules, name) < 0) {
            PyErr_Clear();
        }
        Py_CLEAR(module);
        goto done;
    }
    Py_DECREF(result);
    goto done;
fail:
    pyhost_log_exception(lc, headline);
    Py_CLEAR(module);
done:
    Py_XDECREF(code);
    Py_XDECREF(filename);
    Py_XDECREF(name);
    Py_XDECREF(source);
    return module;
}

/* The script's own say (attached): mod_wsgi calls a module-level reload_required(resource)
 * of a loaded, unchanged script before each request, and reloads it when that is true. An
 * exception is logged and means no. */
static int hook_wants_reload(PyObject *module, const char *path, const pyhost_logctx *lc)
{
    PyObject *fn = PyDict_GetItemString(PyModule_GetDict(module), "reload_required"), *arg, *r;
    int yes = 0;
    if (!fn) {
        return 0;
    }
    Py_INCREF(fn);
    arg = PyUnicode_DecodeFSDefault(path);
    r = arg ? PyObject_CallOneArg(fn, arg) : NULL;
    if (r) {
        yes = PyObject_IsTrue(r);
    }
    if (!r || yes < 0) {
        char headline[1024];
        apr_snprintf(headline, sizeof(headline),
                     "exception in reload_required() of WSGI script '%s'; it is not reloaded",
                     path);
        pyhost_log_exception(lc, headline);
        yes = 0;
    }
    else if (yes) {
        pyhost_log_fmt(lc, APLOG_INFO,
                       "reload_required() of WSGI script '%s' returned true: it "
                       "is reloaded (in daemon mode, by a new process)",
                       path);
    }
    Py_XDECREF(r);
    Py_XDECREF(arg);
    Py_DECREF(fn);
    return yes;
}

PyObject *pyhost_script_module(pyhost_interp *interp, const char *path, apr_time_t mtime,
                               int reload, const pyhost_logctx *lc)
{
    pyhost_loaded *l;
    PyObject *module = NULL;
    apr_time_t loaded_mtime;

    lock_scripts(interp);
    l = apr_hash_get(interp->scripts, path, APR_HASH_KEY_STRING);
    if (l && reload) {
        if (!mtime) {
            mtime = mtime_of(interp->pool, path);
        }
        if (mtime != l->mtime) {
            Py_CLEAR(l->module);
        }
        else if (l->module && l->hook) {
            /* called without the lock, which the hook's imports may need */
            PyObject *m = Py_NewRef(l->module);
            int yes;
            PyThread_release_lock(interp->scripts_lock);
            yes = hook_wants_reload(m, path, lc);
            Py_DECREF(m);
            lock_scripts(interp);
            if (yes && l->module == m) {
                Py_CLEAR(l->module);
            }
        }
    }
    if (l && l->module) {
        module = Py_NewRef(l->module);
        PyThread_release_lock(interp->scripts_lock);
        return module;
    }
    /* what is loaded is the file as it is now, whatever time the request saw */
    loaded_mtime = mtime_of(interp->pool, path);
    module = load(interp, path, l != NULL, lc);
    if (module) {
        if (!l) {
            l = apr_pcalloc(interp->pool, sizeof(*l));
            apr_hash_set(interp->scripts, apr_pstrdup(interp->pool, path), APR_HASH_KEY_STRING, l);
        }
        l->module = Py_NewRef(module);
        l->mtime = loaded_mtime ? loaded_mtime : mtime;
        l->hook = PyDict_GetItemString(PyModule_GetDict(module), "reload_required") != NULL;
        __atomic_add_fetch(&loaded_count, 1, __ATOMIC_RELAXED);
    }
    PyThread_release_lock(interp->scripts_lock);
    return module;
}

int pyhost_script_changed(pyhost_interp *interp, const char *path, apr_time_t mtime)
{
    pyhost_loaded *l;
    int changed, hook;
    PyThreadState *ts;
    PyObject *m = NULL;
    PyThread_acquire_lock(interp->scripts_lock, WAIT_LOCK);
    l = apr_hash_get(interp->scripts, path, APR_HASH_KEY_STRING);
    /* A request carries the time Apache saw: one seen before the file last changed (sent again
     * after the restart it caused, or on its way meanwhile) differs from what this process
     * loaded although the file does not; only the file itself says it changed. */
    changed =
        l && l->module && mtime && mtime != l->mtime && mtime_of(interp->pool, path) != l->mtime;
    hook = !changed && l && l->module && l->hook;
    PyThread_release_lock(interp->scripts_lock);
    if (!hook) {
        return changed;
    }
    ts = pyhost_interp_enter(interp);
    lock_scripts(interp);
    if (l->module) {
        m = Py_NewRef(l->module);
    }
    PyThread_release_lock(interp->scripts_lock);
    if (m) {
        const pyhost_logctx lc = {NULL, pyhost_proc.server, NULL};
        changed = hook_wants_reload(m, path, pyhost_current_log ? pyhost_current_log : &lc);
        Py_DECREF(m);
    }
    pyhost_interp_leave(ts);
    return changed;
}

int pyhost_script_first_warning(pyhost_interp *interp, const char *path)
{
    pyhost_loaded *l;
    int first;
    lock_scripts(interp);
    l = apr_hash_get(interp->scripts, path, APR_HASH_KEY_STRING);
    first = l && !l->warned;
    if (first) {
        l->warned = 1;
    }
    PyThread_release_lock(interp->scripts_lock);
    return first;
}
