/* python/shared_view.c: the shared record of metrics (shared/stats.h), as Python sees it.
 *
 * Owns the "groups" entry that mod_wsgi.server_metrics() adds to Apache's scoreboard: per
 * group (embedded mode and each daemon group), the requests by status class, the restarts by
 * reason and the daemon processes, the same numbers the pyhost-metrics and pyhost-status
 * handlers show. */
#include "python/shared_view.h"

#include "shared/stats.h"

static PyObject *ull(apr_uint64_t v)
{
    return PyLong_FromUnsignedLongLong((unsigned long long)v);
}

/* Sets d[key] = v (a new reference; NULL: failed); -1 on failure. */
static int put(PyObject *d, const char *key, PyObject *v)
{
    int rc = v ? PyDict_SetItemString(d, key, v) : -1;
    Py_XDECREF(v);
    return rc;
}

static PyObject *processes(int gi)
{
    PyObject *list = PyList_New(0);
    int i, first = pyhost_sh.first_proc[gi];
    for (i = first; list && gi && i < first + pyhost_sh.procs[gi]; i++) {
        const pyhost_stats_proc *p = &pyhost_st_procs[i];
        int last = p->last_reason >= 0 && p->last_reason < PYHOST_RS_COUNT ? p->last_reason : -1;
        pid_t pid = __atomic_load_n(&p->pid, __ATOMIC_ACQUIRE);
        PyObject *item = Py_BuildValue(
            "{s:i,s:i,s:K,s:d,s:s}", "process", i - first, "pid", (int)pid, "request_count",
            (unsigned long long)__atomic_load_n(&p->requests, __ATOMIC_RELAXED), "start_time",
            pid ? (double)p->started / APR_USEC_PER_SEC : 0.0, "last_restart",
            last >= 0 ? pyhost_stats_reason_names[last] : NULL);
        if (!item || PyList_Append(list, item) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(item);
    }
    return list;
}

static PyObject *group(int gi)
{
    const pyhost_stats_group *g = &pyhost_st_groups[gi];
    PyObject *d = PyDict_New(), *restarts = PyDict_New();
    char key[24]; /* "status_%dxx" with room for any int, as the compiler checks */
    int c, k, ok = d && restarts;
    for (k = 0; ok && gi && k < PYHOST_RS_COUNT; k++) {
        ok = put(restarts, pyhost_stats_reason_names[k],
                 ull(__atomic_load_n(&g->restarts[k], __ATOMIC_RELAXED))) == 0;
    }
    ok = ok && put(d, "name", PyUnicode_FromString(pyhost_sh.names[gi])) == 0 &&
         put(d, "mode", PyUnicode_FromString(gi ? "daemon" : "embedded")) == 0 &&
         put(d, "request_count",
             ull(__atomic_load_n(&g->hist[PYHOST_HIST_DURATION].count, __ATOMIC_RELAXED))) == 0;
    for (c = 1; ok && c <= 5; c++) {
        snprintf(key, sizeof(key), "status_%dxx", c);
        ok = put(d, key,
                 ull(__atomic_load_n(&g->status[c], __ATOMIC_RELAXED) +
                     (c == 5 ? __atomic_load_n(&g->status[0], __ATOMIC_RELAXED) : 0))) == 0;
    }
    ok = ok && PyDict_SetItemString(d, "restarts", restarts) == 0 &&
         put(d, "processes", processes(gi)) == 0;
    Py_XDECREF(restarts);
    if (!ok) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

PyObject *pyhost_shared_groups(void)
{
    PyObject *list;
    int gi;
    if (!pyhost_st) {
        return PyList_New(0);
    }
    list = PyList_New(0);
    for (gi = 0; list && gi < pyhost_sh.ngroups; gi++) {
        PyObject *g = group(gi);
        if (!g || PyList_Append(list, g) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(g);
    }
    return list;
}
