/* python/runtime.c: Python's life in one process (an Apache child or a daemon).
 *
 * Owns Python initialisation from the WSGIPython* settings (or a daemon group's python-home
 * and python-path), the table of interpreters by application group, the creation of sub
 * interpreters in each GIL mode, the set-up every interpreter gets (mod_wsgi module,
 * sys.stdout/stderr to the error log, restrictions, sys.path), preloading of scripts, and
 * finalisation. The threads' thread states are python/interp.c's. */
#include "python/runtime.h"
#include "shared/alloc.h"

#include "python/log.h"
#include "python/events.h"
#include "python/preflight.h"
#include "python/pymodule.h"
#include "python/script.h"
#include "shared/process.h"

#include "http_log.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

static int python_ready;
static apr_pool_t *interp_pool;
static apr_thread_mutex_t *table_lock;  /* interpreters */
static apr_thread_mutex_t *create_lock; /* one interpreter created at a time */
static apr_hash_t *interp_table;        /* name -> pyhost_interp */
static apr_hash_t *failed_table;        /* name -> why its creation failed (create_lock) */
static apr_array_header_t *interp_list; /* of pyhost_interp *, index order */
static int next_index;                  /* of the next interpreter */

int pyhost_python_ready(void)
{
    return python_ready;
}

/* ---- per-interpreter set-up -------------------------------------------------------------- */

/* Adds each directory with site.addsitedir() (so .pth files work) and moves what was added to
 * the front of sys.path. */
static const char path_code[] =
    "import sys, site\n"
    "_before = list(sys.path)\n"
    "for _d in _dirs.split(':'):\n"
    "    if _d:\n"
    "        site.addsitedir(_d)\n"
    "sys.path[:] = [p for p in sys.path if p not in _before] + _before\n"
    "if _home:\n"
    "    sys.path.insert(0, _home)\n";

static int setup_sys_path(const char *dirs, const char *home)
{
    PyObject *g = PyDict_New(), *r = NULL, *v;
    int ok = 0;
    if (!g) {
        return -1;
    }
    v = PyUnicode_DecodeFSDefault(dirs ? dirs : "");
    if (v && PyDict_SetItemString(g, "_dirs", v) == 0) {
        Py_DECREF(v);
        v = PyUnicode_DecodeFSDefault(home ? home : "");
        if (v && PyDict_SetItemString(g, "_home", v) == 0 &&
            PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) == 0) {
            r = PyRun_String(path_code, Py_file_input, g, g);
            ok = r != NULL;
        }
    }
    Py_XDECREF(v);
    Py_XDECREF(r);
    Py_DECREF(g);
    return ok ? 0 : -1;
}

static int set_stream(pyhost_modstate *st, const char *name, int restricted)
{
    PyObject *o = restricted ? pyhost_log_restricted(st->log_type,
                                                     apr_pstrcat(interp_pool, "sys.", name, NULL))
                             : pyhost_log_new(st->log_type, st->text_wrapper, NULL, APLOG_ERR);
    int rv;
    if (!o) {
        return -1;
    }
    rv = PySys_SetObject(name, o);
    Py_DECREF(o);
    return rv;
}

static int set_switch_interval(double seconds)
{
    PyObject *sys = PyImport_ImportModule("sys"), *r;
    if (!sys) {
        return -1;
    }
    r = PyObject_CallMethod(sys, "setswitchinterval", "d", seconds);
    Py_DECREF(sys);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Whether Python refuses, in a sub interpreter of this mode, extensions that do not declare
 * support for it: with its own GIL, and always on a free-threaded build (which allows no
 * other kind of sub interpreter). */
static int strict_extensions(pyhost_gil_mode mode)
{
#ifdef Py_GIL_DISABLED
    /* a free-threaded build refuses any sub interpreter open to single-phase extensions */
    (void)mode;
    return 1;
#else
    return mode == PYHOST_GIL_OWN;
#endif
}

/* The exception that is set, as "Type: message" in p, leaving it set (for the log). */
static const char *exception_summary(apr_pool_t *p)
{
    PyObject *exc = pyhost_take_exception(), *str;
    const char *msg, *out;
    if (!exc) {
        return "no exception was set";
    }
    str = PyObject_Str(exc);
    msg = str ? PyUnicode_AsUTF8(str) : NULL;
    out = apr_psprintf(p, "%s%s%s", Py_TYPE(exc)->tp_name, msg && *msg ? ": " : "", msg ? msg : "");
    Py_XDECREF(str);
    PyErr_Clear();
    pyhost_restore_exception(exc);
    return out;
}

/* The set-up of an interpreter, with its thread state attached. */
static int setup_interp(pyhost_interp *interp, const pyhost_interp_settings *set, const char **why)
{
    const pyhost_logctx lc = {NULL, pyhost_proc.server, NULL};
    const char *python_path =
        pyhost_proc.group ? pyhost_proc.group->python_path : pyhost_g.python_path;
    const char *home = pyhost_proc.group ? pyhost_proc.group->home : NULL;
    int i;

    interp->module = PyImport_ImportModule("mod_wsgi");
    if (!interp->module) {
        *why = apr_pstrcat(interp_pool,
                           "cannot import the mod_wsgi module: ", exception_summary(interp_pool),
                           NULL);
        pyhost_log_exception(&lc, "cannot import the mod_wsgi module");
        return -1;
    }
    interp->st = PyModule_GetState(interp->module);
    if (pyhost_pymodule_describe(interp->module, interp->group) < 0 ||
        set_stream(interp->st, "stdout", set->restrict_stdout) < 0 ||
        set_stream(interp->st, "stderr", 0) < 0 ||
        (set->restrict_stdin && set_stream(interp->st, "stdin", 1) < 0) ||
        ((python_path || home) && setup_sys_path(python_path, home) < 0) ||
        (set->restrict_signal && !(pyhost_proc.group && pyhost_proc.group->threads == 0) &&
         pyhost_pymodule_restrict_signal(interp->module) < 0) ||
        (set->switch_interval > 0 && set_switch_interval(set->switch_interval) < 0)) {
        goto fail;
    }
    if (set->switch_interval_ignored > 0) {
        char seconds[32]; /* APR's %g drops the leading zero */
        snprintf(seconds, sizeof(seconds), "%g", set->switch_interval_ignored);
        pyhost_log_fmt(&lc, APLOG_WARNING,
                       "WSGISwitchInterval %s for application group '%s' is not applied: its "
                       "interpreter shares the GIL, whose switch interval is the process's",
                       seconds, interp->group);
    }
    if (interp->name[0] && strict_extensions(interp->mode) &&
        pyhost_preflight_install(interp->module) < 0) {
        goto fail;
    }
    for (i = 0; i < set->python_paths->nelts; i++) {
        if (setup_sys_path(APR_ARRAY_IDX(set->python_paths, i, const char *), NULL) < 0) {
            goto fail;
        }
    }
    return 0;
fail:
    *why = exception_summary(interp_pool);
    pyhost_log_exception(
        &lc, apr_psprintf(interp->pool, "cannot set up Python interpreter '%s'", interp->name));
    return -1;
}

static pyhost_interp *new_interp_record(const char *name, pyhost_gil_mode mode)
{
    apr_pool_t *p;
    pyhost_interp *interp;
    apr_pool_create(&p, interp_pool);
    interp = apr_pcalloc(p, sizeof(*interp));
    interp->pool = p;
    interp->name = apr_pstrdup(p, name);
    interp->group = interp->name;
    interp->mode = mode;
    interp->index = next_index++;
    interp->scripts = apr_hash_make(p);
    interp->scripts_lock = PyThread_allocate_lock();
    return interp;
}

/* ---- process initialisation -------------------------------------------------------------- */

static int config_status(PyStatus status, PyConfig *config, server_rec *s, const char *what)
{
    if (PyStatus_Exception(status)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "Python initialisation failed (%s): %s", what,
                     status.err_msg ? status.err_msg : "unknown error");
        PyConfig_Clear(config);
        return -1;
    }
    return 0;
}

static int python_home_config(PyConfig *config, server_rec *s, const char *home)
{
    char *cfg = apr_pstrcat(interp_pool, home, "/pyvenv.cfg", NULL);
    if (access(cfg, R_OK) == 0) {
        /* a virtual environment: Python finds its base installation from bin/python */
        return config_status(
            PyConfig_SetBytesString(config, &config->program_name,
                                    apr_pstrcat(interp_pool, home, "/bin/python", NULL)),
            config, s, "python home");
    }
    return config_status(PyConfig_SetBytesString(config, &config->home, home), config, s,
                         "python home");
}

int pyhost_python_init(apr_pool_t *p, server_rec *s)
{
    PyConfig config;
    PyThreadState *ts;
    pyhost_interp *main_interp;
    const char *home = pyhost_proc.group && pyhost_proc.group->python_home
                           ? pyhost_proc.group->python_home
                           : pyhost_g.python_home;
    const char *eggs = pyhost_proc.group && pyhost_proc.group->python_eggs
                           ? pyhost_proc.group->python_eggs
                           : pyhost_g.python_eggs;
    pyhost_interp_settings main_set;
    const char *why = NULL;
    int i;

    pyhost_log_server = s;
    pyhost_log_set_explainer(pyhost_explain_import_error);
    interp_pool = p;
    apr_thread_mutex_create(&table_lock, APR_THREAD_MUTEX_DEFAULT, p);
    apr_thread_mutex_create(&create_lock, APR_THREAD_MUTEX_DEFAULT, p);
    interp_table = apr_hash_make(p);
    failed_table = apr_hash_make(p);
    interp_list = apr_array_make(p, 4, sizeof(pyhost_interp *));
    pyhost_interp_registry_init(p);
    if (eggs) {
        setenv("PYTHON_EGG_CACHE", eggs, 1);
    }

    if (PyImport_AppendInittab("mod_wsgi", pyhost_pymodule_init) < 0 ||
        PyImport_AppendInittab("apache", pyhost_apache_module_init) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "cannot register the mod_wsgi module");
        return -1;
    }
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    /* sys.argv is ['mod_wsgi'], as under mod_wsgi (argparse and click read argv[0]) */
    if (config_status(PyWideStringList_Append(&config.argv, L"mod_wsgi"), &config, s, "argv") < 0) {
        return -1;
    }
    config.optimization_level = pyhost_g.python_optimize;
    config.write_bytecode = !pyhost_g.dont_write_bytecode;
    if (pyhost_g.python_hash_seed >= 0) {
        config.use_hash_seed = 1;
        config.hash_seed = (unsigned long)pyhost_g.python_hash_seed;
    }
    pyhost_interp_settings_for(pyhost_proc.process_group, "", &main_set, p);
#ifdef Py_GIL_DISABLED
    config.enable_gil = main_set.mode == PYHOST_GIL_FREE ? 0 : 1;
#endif
    if (config_status(PyConfig_SetBytesString(&config, &config.program_name, "python3"), &config, s,
                      "program name") < 0 ||
        (home && python_home_config(&config, s, home) < 0)) {
        return -1;
    }
    for (i = 0; i < pyhost_g.python_warnings->nelts; i++) {
        wchar_t *w =
            Py_DecodeLocale(APR_ARRAY_IDX(pyhost_g.python_warnings, i, const char *), NULL);
        if (!w || config_status(PyWideStringList_Append(&config.warnoptions, w), &config, s,
                                "WSGIPythonWarnings") < 0) {
            PyMem_RawFree(w);
            return -1;
        }
        PyMem_RawFree(w);
    }
    if (config_status(Py_InitializeFromConfig(&config), &config, s, "start-up") < 0) {
        return -1;
    }
    PyConfig_Clear(&config);

    ts = PyThreadState_Get();
    main_interp = new_interp_record("", main_set.mode);
    main_interp->istate = PyThreadState_GetInterpreter(ts);
    APR_ARRAY_PUSH(interp_list, pyhost_interp *) = main_interp;
    apr_hash_set(interp_table, main_interp->name, APR_HASH_KEY_STRING, main_interp);
    pyhost_interp_adopt(main_interp, ts);
    pyhost_main_interp = main_interp;
    if (setup_interp(main_interp, &main_set, &why) < 0) {
        PyEval_SaveThread();
        return -1;
    }
    PyEval_SaveThread();
    python_ready = 1;
    return 0;
}

/* ---- sub interpreters -------------------------------------------------------------------- */

/* Creates a sub interpreter; the calling thread has the main interpreter attached and, on
 * success, has the new interpreter attached instead. */
static PyThreadState *create_sub(pyhost_gil_mode mode, server_rec *s, const char *name,
                                 const char **why, apr_pool_t *p)
{
    PyThreadState *ts = NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyInterpreterConfig cfg;
    PyStatus status;
    memset(&cfg, 0, sizeof(cfg));
    cfg.use_main_obmalloc = mode == PYHOST_GIL_OWN ? 0 : 1;
    cfg.allow_fork = 1;
    cfg.allow_exec = 1;
    cfg.allow_threads = 1;
    cfg.allow_daemon_threads = 1;
    cfg.check_multi_interp_extensions = strict_extensions(mode);
    cfg.gil = mode == PYHOST_GIL_OWN ? PyInterpreterConfig_OWN_GIL : PyInterpreterConfig_SHARED_GIL;
    status = Py_NewInterpreterFromConfig(&ts, &cfg);
    if (PyStatus_Exception(status)) {
        *why = apr_pstrdup(p, status.err_msg ? status.err_msg : "unknown error");
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "cannot create Python interpreter '%s': %s", name,
                     *why);
        return NULL;
    }
#else
    (void)mode;
    (void)p;
    ts = Py_NewInterpreter();
    if (!ts) {
        *why = "Py_NewInterpreter() failed";
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "cannot create Python interpreter '%s'", name);
    }
#endif
    return ts;
}

static pyhost_interp *lookup(const char *name)
{
    pyhost_interp *interp;
    apr_thread_mutex_lock(table_lock);
    interp = apr_hash_get(interp_table, name, APR_HASH_KEY_STRING);
    apr_thread_mutex_unlock(table_lock);
    return interp;
}

/* Remembers why interpreter name could not be made (and lets go of create_lock): later
 * requests for it get pyhost_interp_failure()'s reason at once. */
static pyhost_interp *creation_failed(const char *name, const char *why)
{
    apr_hash_set(failed_table, apr_pstrdup(interp_pool, name), APR_HASH_KEY_STRING,
                 apr_pstrdup(interp_pool, why ? why : "unknown error"));
    apr_thread_mutex_unlock(create_lock);
    return NULL;
}

const char *pyhost_interp_failure(const char *name)
{
    const char *why;
    if (!python_ready) {
        return "Python is not initialised in this process";
    }
    apr_thread_mutex_lock(create_lock);
    why = apr_hash_get(failed_table, name, APR_HASH_KEY_STRING);
    apr_thread_mutex_unlock(create_lock);
    return why ? why : "unknown error";
}

/* Creation runs under create_lock with the main interpreter attached. No thread waits for
 * create_lock or table_lock while it has a thread state attached, so no GIL is ever held by
 * a thread waiting for them. */
/* Finds or creates interpreter name, which serves application group group (they differ for
 * the members of a pool); own_gil asks for an own GIL whatever the settings say. */
static pyhost_interp *get(const char *name, const char *group, int own_gil)
{
    pyhost_interp *interp = lookup(name), *main_interp;
    PyThreadState *ts;
    pyhost_interp_settings set;
    const char *why = NULL;

    if (interp || !python_ready) {
        return interp;
    }
    apr_thread_mutex_lock(create_lock);
    interp = lookup(name);
    if (interp || apr_hash_get(failed_table, name, APR_HASH_KEY_STRING)) {
        /* a creation that failed is not tried again: each try would leave an interpreter */
        apr_thread_mutex_unlock(create_lock);
        return interp;
    }
    apr_thread_mutex_lock(table_lock);
    main_interp = APR_ARRAY_IDX(interp_list, 0, pyhost_interp *);
    interp = new_interp_record(name, PYHOST_GIL_SHARED);
    apr_thread_mutex_unlock(table_lock);
    pyhost_interp_settings_for(pyhost_proc.process_group, group, &set, interp->pool);
    interp->group = apr_pstrdup(interp->pool, group);
    if (own_gil && set.mode == PYHOST_GIL_SHARED && PY_VERSION_HEX >= 0x030C0000) {
        set.mode = PYHOST_GIL_OWN;
    }
    /* a sub interpreter of a free-threaded process has no GIL to share or own */
    interp->mode = set.mode == PYHOST_GIL_FREE ? PYHOST_GIL_SHARED : set.mode;

    pyhost_interp_enter(main_interp);
    ts = create_sub(interp->mode, pyhost_proc.server, name, &why, interp_pool);
    if (!ts) {
        pyhost_interp_leave(ts);
        return creation_failed(name, why);
    }
    interp->istate = PyThreadState_GetInterpreter(ts);
    pyhost_interp_adopt(interp, ts);
    if (setup_interp(interp, &set, &why) < 0) {
        pyhost_interp_leave(ts);
        return creation_failed(name, why);
    }
    if (interp->mode == PYHOST_GIL_OWN) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, pyhost_proc.server,
                     "Python interpreter '%s' created with its own GIL", name);
    }
    pyhost_interp_leave(ts);

    apr_thread_mutex_lock(table_lock);
    APR_ARRAY_PUSH(interp_list, pyhost_interp *) = interp;
    apr_hash_set(interp_table, interp->name, APR_HASH_KEY_STRING, interp);
    apr_thread_mutex_unlock(table_lock);
    apr_thread_mutex_unlock(create_lock);
    return interp;
}

pyhost_interp *pyhost_interp_get(const char *name)
{
    return get(name, name, 0);
}

/* An interpreter pool (WSGIDaemonProcess interpreters=N): member m of N of the interpreters
 * serving application group group, each but the main interpreter with its own GIL. */
static pyhost_interp *pooled(const char *group, int member, int size)
{
    char name[512];
    if (size <= 1 || !*group) {
        return get(group, group, 0); /* the main interpreter (%{GLOBAL}) is never pooled */
    }
    if (!member) {
        return get(group, group, 1);
    }
    apr_snprintf(name, sizeof(name), "%s#%d", group, member);
    return get(name, group, 1);
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

pyhost_interp *pyhost_interp_pick(const char *group, int size, int hint)
{
    pyhost_interp *members[64], *best = NULL;
    int i;
    if (size > 64) {
        size = 64;
    }
    if (!*group) {
        size = 1; /* the main interpreter (%{GLOBAL}) is never pooled */
    }
    for (i = 0; i < size; i++) {
        members[i] = pooled(group, i, size);
        if (!members[i]) {
            return NULL;
        }
    }
    pthread_mutex_lock(&pool_lock);
    for (i = 0; i < size; i++) {
        pyhost_interp *m = members[(hint + i) % size];
        if (!best || m->busy < best->busy) {
            best = m;
        }
    }
    best->busy++;
    pthread_mutex_unlock(&pool_lock);
    return best;
}

void pyhost_interp_done(pyhost_interp *interp)
{
    pthread_mutex_lock(&pool_lock);
    interp->busy--;
    pthread_mutex_unlock(&pool_lock);
}

/* ---- preloading and shutdown ------------------------------------------------------------- */

void pyhost_import_scripts(const char *process_group)
{
    /* in a daemon group with a pool, every member of the pool loads the script */
    int i, m, size = pyhost_proc.group ? pyhost_proc.group->interpreters : 1;
    for (i = 0; i < pyhost_g.import_scripts->nelts; i++) {
        const pyhost_script *sc = &APR_ARRAY_IDX(pyhost_g.import_scripts, i, pyhost_script);
        const pyhost_logctx lc = {NULL, pyhost_proc.server, NULL};
        if (strcmp(sc->process_group, process_group)) {
            continue;
        }
        for (m = 0; m < (size > 1 && *sc->application_group ? size : 1); m++) {
            pyhost_interp *interp = pooled(sc->application_group, m, size);
            PyThreadState *ts;
            PyObject *module;
            if (!interp) {
                break;
            }
            ts = pyhost_interp_enter(interp);
            module = pyhost_script_module(interp, sc->path, 0, 0, &lc);
            Py_XDECREF(module);
            pyhost_interp_leave(ts);
        }
    }
}

void pyhost_interp_signal(int signum)
{
    int i, n;
    apr_thread_mutex_lock(table_lock);
    n = interp_list->nelts;
    apr_thread_mutex_unlock(table_lock);
    for (i = 0; i < n; i++) {
        pyhost_interp *interp = APR_ARRAY_IDX(interp_list, i, pyhost_interp *);
        PyThreadState *ts = pyhost_interp_enter(interp);
        pyhost_events_signal(interp->st, signum);
        pyhost_interp_leave(ts);
    }
}

/* Python's main thread turns these signals into SystemExit in a service script. */
static const char service_code[] = "import signal\n"
                                   "def _pyhost_stop(signum, frame):\n"
                                   "    raise SystemExit(0)\n"
                                   "for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
                                   "    signal.signal(_s, _pyhost_stop)\n";

void pyhost_run_service(const char *process_group)
{
    pyhost_interp *main_interp = APR_ARRAY_IDX(interp_list, 0, pyhost_interp *);
    PyThreadState *ts = pyhost_interp_enter(main_interp);
    const pyhost_logctx lc = {NULL, pyhost_proc.server, NULL};
    PyObject *g = PyDict_New(), *r = NULL;
    if (g && PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) == 0) {
        r = PyRun_String(service_code, Py_file_input, g, g);
    }
    if (!r) {
        pyhost_log_exception(&lc, "cannot prepare signals for the service script");
    }
    Py_XDECREF(r);
    Py_XDECREF(g);
    pyhost_interp_leave(ts);
    pyhost_import_scripts(process_group);
}

/* Ends a sub interpreter that shares the main GIL, which ts_main holds; ts_main is attached
 * again on return. */
static void end_shared_sub(pyhost_interp *interp, PyThreadState *ts_main,
                           const char *shutdown_reason)
{
    PyThreadState *ts = pyhost_interp_tstate(interp);
    PyThreadState_Swap(ts);
    pyhost_events_process_stopping(interp->st, shutdown_reason);
    if (pyhost_g.destroy_interpreter) {
        pyhost_interp_drop_others(interp, ts);
        Py_EndInterpreter(ts);
        pyhost_interp_forget(ts);
    }
    PyThreadState_Swap(ts_main);
}

/* Runs the shutdown callbacks of an interpreter with its own GIL; it is left to the process's
 * exit, as ending it while its GIL might still be awaited is not safe. */
static void stop_own_gil_sub(pyhost_interp *interp, const char *shutdown_reason)
{
    PyThreadState *ts = pyhost_interp_enter(interp);
    pyhost_events_process_stopping(interp->st, shutdown_reason);
    pyhost_interp_leave(ts);
}

void pyhost_python_fini(const char *shutdown_reason)
{
    pyhost_interp *main_interp;
    PyThreadState *ts_main;
    int i;
    if (!python_ready) {
        return;
    }
    if (pyhost_interp_inside()) {
        /* This thread is inside Python: prefork runs pchild's cleanups from its SIGTERM
         * handler, which can interrupt a request. Entering Python again here would wait
         * forever for the GIL that request holds, or (WSGIDestroyInterpreter On) end an
         * interpreter under a running frame, which aborts; the process exits as it is. */
        return;
    }
    python_ready = 0;
    main_interp = APR_ARRAY_IDX(interp_list, 0, pyhost_interp *);
    for (i = interp_list->nelts - 1; i > 0; i--) {
        pyhost_interp *interp = APR_ARRAY_IDX(interp_list, i, pyhost_interp *);
        if (interp->mode == PYHOST_GIL_OWN) {
            stop_own_gil_sub(interp, shutdown_reason);
        }
    }
    ts_main = pyhost_interp_enter(main_interp);
    for (i = interp_list->nelts - 1; i > 0; i--) {
        pyhost_interp *interp = APR_ARRAY_IDX(interp_list, i, pyhost_interp *);
        if (interp->mode != PYHOST_GIL_OWN) {
            end_shared_sub(interp, ts_main, shutdown_reason);
        }
    }
    pyhost_events_process_stopping(main_interp->st, shutdown_reason);
    if (pyhost_g.destroy_interpreter) {
        pyhost_interp_drop_others(main_interp, ts_main);
        pyhost_interp_forget(ts_main);
        Py_FinalizeEx();
        for (i = 0; i < interp_list->nelts; i++) {
            PyThread_free_lock(APR_ARRAY_IDX(interp_list, i, pyhost_interp *)->scripts_lock);
        }
    }
    else {
        pyhost_interp_leave(ts_main);
    }
}
