/* python/input.h: wsgi.input, the request body as a Python file-like object. */
#ifndef PYHOST_INPUT_H
#define PYHOST_INPUT_H

#include "python/call.h"

/* A new wsgi.input reading the body through io. */
PyObject *pyhost_input_new(PyTypeObject *type, pyhost_io *io);

/* Ends its use: later reads raise. */
void pyhost_input_detach(PyObject *input);

extern PyType_Spec pyhost_input_spec;

#endif
