/* python/pymodule.h: the `mod_wsgi` Python module (its per-interpreter state: python/modstate.h).
 *
 * Every interpreter imports its own instance (multi-phase init), so no Python object is ever
 * shared between interpreters: the types, the interned environ keys and the callback lists
 * all live in the module state of that interpreter. */
#ifndef PYHOST_PYMODULE_H
#define PYHOST_PYMODULE_H

#include "python/modstate.h"

/* The mod_wsgi and apache module definitions, for PyImport_AppendInittab. */
PyObject *pyhost_pymodule_init(void);
PyObject *pyhost_apache_module_init(void);

/* Sets the attributes that describe the process and interpreter. */
int pyhost_pymodule_describe(PyObject *module, const char *application_group);

/* Replaces signal.signal with a function that logs and ignores registrations. */
int pyhost_pymodule_restrict_signal(PyObject *module);

#endif
