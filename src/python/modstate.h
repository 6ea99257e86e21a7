/* python/modstate.h: the state of one interpreter's `mod_wsgi` module (python/pymodule.c makes
 * it), which the adapter, the events, the log and the watch's helper read: the types, the
 * interned environ keys and names, and the callback lists of that interpreter. */
#ifndef PYHOST_MODSTATE_H
#define PYHOST_MODSTATE_H

#include <Python.h>

#include "shared/envkeys.h"

/* Keys and names the WSGI adapter uses on every request, made once per interpreter. */
#define PYHOST_PY_NAMES(X)                                                                         \
    X(WSGI_VERSION, "wsgi.version")                                                                \
    X(WSGI_MULTITHREAD, "wsgi.multithread")                                                        \
    X(WSGI_MULTIPROCESS, "wsgi.multiprocess")                                                      \
    X(WSGI_RUN_ONCE, "wsgi.run_once")                                                              \
    X(WSGI_INPUT, "wsgi.input")                                                                    \
    X(WSGI_ERRORS, "wsgi.errors")                                                                  \
    X(WSGI_FILE_WRAPPER, "wsgi.file_wrapper")                                                      \
    X(WSGI_INPUT_TERMINATED, "wsgi.input_terminated")                                              \
    X(MOD_WSGI_VERSION, "mod_wsgi.version")                                                        \
    X(APACHE_VERSION, "apache.version")                                                            \
    X(THREAD_ID, "mod_wsgi.thread_id")                                                             \
    X(QUEUE_START, "mod_wsgi.queue_start")                                                         \
    X(DAEMON_START, "mod_wsgi.daemon_start")                                                       \
    X(APPLICATION_START, "mod_wsgi.application_start")                                             \
    X(APACHE_REQUEST_REC, "apache.request_rec")                                                    \
    X(CLOSE, "close")                                                                              \
    X(READ, "read")                                                                                \
    X(FILENO, "fileno")                                                                            \
    X(TELL, "tell")                                                                                \
    X(SEEK, "seek")

#define PYHOST_PY_NAME_ID(id, text) PYHOST_N_##id,
typedef enum { PYHOST_PY_NAMES(PYHOST_PY_NAME_ID) PYHOST_N_COUNT } pyhost_name_id;
#undef PYHOST_PY_NAME_ID

typedef struct pyhost_modstate {
    PyTypeObject *adapter_type;
    PyTypeObject *input_type;
    PyTypeObject *log_type;
    PyTypeObject *file_wrapper_type;
    PyObject *keys[PYHOST_K_COUNT];   /* environ keys of child/environ.h */
    PyObject *values[PYHOST_K_COUNT]; /* the last value seen for each, reused when equal */
    PyObject *names[PYHOST_N_COUNT];
    PyObject *wsgi_version;       /* (1, 0) */
    PyObject *mod_wsgi_version;   /* tuple */
    PyObject *apache_version;     /* tuple */
    PyObject *shutdown_callbacks; /* list */
    PyObject *event_callbacks;    /* list */
    PyObject *signal_callbacks;   /* list */
    PyObject *active_requests;    /* dict: request id -> request_started event */
    PyObject *log_handler;        /* the LogHandler class, once asked for */
    PyObject *request_timeout;    /* mod_wsgi.RequestTimeout */
    PyObject *text_wrapper;       /* io.TextIOWrapper, for the log streams */
} pyhost_modstate;

/* The FileWrapper object layout, for the adapter's file fast path. */
typedef struct {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t blksize;
} pyhost_file_wrapper;

#endif
