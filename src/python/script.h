/* python/script.h: WSGI scripts as Python modules.
 *
 * A script is loaded once per interpreter as a module named _mod_wsgi_<md5 of its path> and
 * kept; with reloading on, a change of its modification time, or a true result of the
 * script's reload_required(resource), loads it afresh. */
#ifndef PYHOST_SCRIPT_H
#define PYHOST_SCRIPT_H

#include "python/interp.h"
#include "python/log.h"

/* New reference to the module of the script at path in interp (attached), or NULL with the
 * failure logged. mtime is the file's modification time if the caller knows it (0: unknown);
 * reload asks for a fresh load when it differs from the loaded one. */
PyObject *pyhost_script_module(pyhost_interp *interp, const char *path, apr_time_t mtime,
                               int reload, const pyhost_logctx *lc);

/* Whether the script at path changed since its module was loaded (the request's mtime differs
 * and so does the file's), or its reload_required() hook says it must be reloaded (for daemon
 * reloading). Call it without a thread state attached. */
int pyhost_script_changed(pyhost_interp *interp, const char *path, apr_time_t mtime);

/* 1 the first time it is asked about the loaded script at path in interp (attached), then 0:
 * for warnings said once per application. */
int pyhost_script_first_warning(pyhost_interp *interp, const char *path);

/* How many scripts this process has loaded successfully. */
int pyhost_scripts_loaded(void);

#endif
