/* python/script.c: loading WSGI scripts as modules, per interpreter, and reloading them.
 *
 * Owns the module name of a script (_mod_wsgi_ + md5 of its path, as mod_wsgi), reading and
 * compiling it with its path as the code's file name, executing it in a fresh module that is
 * in sys.modules while it runs, and the per-interpreter cache of loaded scripts with their
 * modification times. */
#include "python/script.h"

#include "apr_md5.h"
#include "apr_file_info.h"
#include "apr_strings.h"

#include <stdio.h>

typedef struct {
    PyObject *module;
    apr_time_t mtime;
    int warned; /* pyhost_script_first_warning() has answered 1 */
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

static PyObject *read_source(const char *path, const pyhost_logctx *lc)
{
    FILE *f = fopen(path, "rb");
    PyObject *data;
    long size;
    if (!f) {
        pyhost_log_fmt(lc, APLOG_ERR, "cannot open WSGI script '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        pyhost_log_fmt(lc, APLOG_ERR, "cannot read WSGI script '%s': %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    data = PyBytes_FromStringAndSize(NULL, size);
    if (data && fread(PyBytes_AS_STRING(data), 1, (size_t)size, f) != (size_t)size) {
        pyhost_log_fmt(lc, APLOG_ERR, "cannot read WSGI script '%s'", path);
        Py_CLEAR(data);
    }
    fclose(f);
    return data;
}

/* Compiles and runs the script in a new module; NULL with the failure logged. */
static PyObject *load(const char *path, const pyhost_logctx *lc)
{
    PyObject *name = NULL, *source = NULL, *filename = NULL, *code = NULL, *module = NULL;
    PyObject *modules = PySys_GetObject("modules"), *dict, *result;
    char headline[1024];

    apr_snprintf(headline, sizeof(headline), "failed to load WSGI script '%s'", path);
    if (!(source = read_source(path, lc))) {
        return NULL;
    }
    if (!(name = module_name(path)) || !(filename = PyUnicode_DecodeFSDefault(path)) ||
        !(module = PyModule_NewObject(name))) {
        goto fail;
    }
    code = Py_CompileStringObject(PyBytes_AS_STRING(source), filename, Py_file_input, NULL, -1);
    if (!code) {
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

PyObject *pyhost_script_module(pyhost_interp *interp, const char *path, apr_time_t mtime,
                               int reload, const pyhost_logctx *lc)
{
    pyhost_loaded *l;
    PyObject *module = NULL;

    lock_scripts(interp);
    l = apr_hash_get(interp->scripts, path, APR_HASH_KEY_STRING);
    if (l && reload) {
        if (!mtime) {
            mtime = mtime_of(interp->pool, path);
        }
        if (mtime != l->mtime) {
            Py_CLEAR(l->module);
        }
    }
    if (l && l->module) {
        module = Py_NewRef(l->module);
        PyThread_release_lock(interp->scripts_lock);
        return module;
    }
    if (!mtime) {
        mtime = mtime_of(interp->pool, path);
    }
    module = load(path, lc);
    if (module) {
        if (!l) {
            l = apr_pcalloc(interp->pool, sizeof(*l));
            apr_hash_set(interp->scripts, apr_pstrdup(interp->pool, path), APR_HASH_KEY_STRING, l);
        }
        l->module = Py_NewRef(module);
        l->mtime = mtime;
        __atomic_add_fetch(&loaded_count, 1, __ATOMIC_RELAXED);
    }
    PyThread_release_lock(interp->scripts_lock);
    return module;
}

int pyhost_script_changed(pyhost_interp *interp, const char *path, apr_time_t mtime)
{
    pyhost_loaded *l;
    int changed;
    PyThread_acquire_lock(interp->scripts_lock, WAIT_LOCK);
    l = apr_hash_get(interp->scripts, path, APR_HASH_KEY_STRING);
    changed = l && l->module && mtime && mtime != l->mtime;
    PyThread_release_lock(interp->scripts_lock);
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
