/* python/preflight.h: extension modules checked before a strict sub interpreter loads them. */
#ifndef PYHOST_PREFLIGHT_H
#define PYHOST_PREFLIGHT_H

#include "python/log.h"

/* In a sub interpreter that refuses extensions not declaring support for it: the import
 * hook that asks first, so such an extension is refused before its initialisation runs. */
int pyhost_preflight_install(PyObject *module);

/* An ImportError of an extension that cannot be loaded in this sub interpreter: one log line
 * naming the module, the interpreter and the fix. A pyhost_log_explain_fn (python/log.h). */
void pyhost_explain_import_error(const pyhost_logctx *lc, PyObject *exc);

#endif
