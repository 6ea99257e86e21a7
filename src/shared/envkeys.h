/* shared/envkeys.h: the environ keys known in advance, and the shape of one (key, value) pair.
 *
 * Three parts of the module speak of environ keys: an Apache child makes the pairs
 * (child/environ.c), the wire carries them (shared/protocol.c, one byte for a known key
 * instead of its name) and Python turns them into a dict (python/wsgi.c, with key objects made
 * once per interpreter). The table lives here, below all three, so that none of them has to
 * include another's code to know it. */
#ifndef PYHOST_ENVKEYS_H
#define PYHOST_ENVKEYS_H

#include "apr.h"

/* X(id, name, type): type says how the Python side presents the value. */
#define PYHOST_ENV_KEYS(X)                                                                         \
    X(REQUEST_METHOD, "REQUEST_METHOD", STR)                                                       \
    X(SCRIPT_NAME, "SCRIPT_NAME", STR)                                                             \
    X(PATH_INFO, "PATH_INFO", STR)                                                                 \
    X(QUERY_STRING, "QUERY_STRING", STR)                                                           \
    X(CONTENT_TYPE, "CONTENT_TYPE", STR)                                                           \
    X(CONTENT_LENGTH, "CONTENT_LENGTH", STR)                                                       \
    X(SERVER_NAME, "SERVER_NAME", STR)                                                             \
    X(SERVER_PORT, "SERVER_PORT", STR)                                                             \
    X(SERVER_PROTOCOL, "SERVER_PROTOCOL", STR)                                                     \
    X(SERVER_SOFTWARE, "SERVER_SOFTWARE", STR)                                                     \
    X(SERVER_ADDR, "SERVER_ADDR", STR)                                                             \
    X(SERVER_ADMIN, "SERVER_ADMIN", STR)                                                           \
    X(REMOTE_ADDR, "REMOTE_ADDR", STR)                                                             \
    X(REMOTE_PORT, "REMOTE_PORT", STR)                                                             \
    X(REMOTE_USER, "REMOTE_USER", STR)                                                             \
    X(AUTH_TYPE, "AUTH_TYPE", STR)                                                                 \
    X(DOCUMENT_ROOT, "DOCUMENT_ROOT", FSPATH)                                                      \
    X(CONTEXT_PREFIX, "CONTEXT_PREFIX", STR)                                                       \
    X(CONTEXT_DOCUMENT_ROOT, "CONTEXT_DOCUMENT_ROOT", FSPATH)                                      \
    X(REQUEST_SCHEME, "REQUEST_SCHEME", STR)                                                       \
    X(REQUEST_URI, "REQUEST_URI", STR)                                                             \
    X(SCRIPT_FILENAME, "SCRIPT_FILENAME", FSPATH)                                                  \
    X(HTTP_HOST, "HTTP_HOST", STR)                                                                 \
    X(HTTP_USER_AGENT, "HTTP_USER_AGENT", STR)                                                     \
    X(HTTP_ACCEPT, "HTTP_ACCEPT", STR)                                                             \
    X(HTTP_ACCEPT_ENCODING, "HTTP_ACCEPT_ENCODING", STR)                                           \
    X(HTTP_ACCEPT_LANGUAGE, "HTTP_ACCEPT_LANGUAGE", STR)                                           \
    X(HTTP_CONNECTION, "HTTP_CONNECTION", STR)                                                     \
    X(HTTP_COOKIE, "HTTP_COOKIE", STR)                                                             \
    X(HTTP_REFERER, "HTTP_REFERER", STR)                                                           \
    X(HTTP_CACHE_CONTROL, "HTTP_CACHE_CONTROL", STR)                                               \
    X(HTTP_AUTHORIZATION, "HTTP_AUTHORIZATION", STR)                                               \
    X(URL_SCHEME, "wsgi.url_scheme", STR)                                                          \
    X(PROCESS_GROUP, "mod_wsgi.process_group", STR)                                                \
    X(APPLICATION_GROUP, "mod_wsgi.application_group", STR)                                        \
    X(CALLABLE_OBJECT, "mod_wsgi.callable_object", STR)                                            \
    X(REQUEST_HANDLER, "mod_wsgi.request_handler", STR)                                            \
    X(HANDLER_SCRIPT, "mod_wsgi.handler_script", STR)                                              \
    X(SCRIPT_RELOADING, "mod_wsgi.script_reloading", STR)                                          \
    X(SERVER_PID, "mod_wsgi.server_pid", STR)                                                      \
    X(LISTENER_HOST, "mod_wsgi.listener_host", STR)                                                \
    X(LISTENER_PORT, "mod_wsgi.listener_port", STR)                                                \
    X(REQUEST_ID, "mod_wsgi.request_id", STR)                                                      \
    X(CONNECTION_ID, "mod_wsgi.connection_id", STR)                                                \
    X(REQUEST_START, "mod_wsgi.request_start", TIME)                                               \
    X(ORIG_SCRIPT_NAME, "mod_wsgi.script_name", STR)                                               \
    X(ORIG_PATH_INFO, "mod_wsgi.path_info", STR)                                                   \
    X(MOUNT_POINT, "mod_wsgi.mount_point", STR)

#define PYHOST_ENV_ID(id, name, type) PYHOST_K_##id,
typedef enum { PYHOST_ENV_KEYS(PYHOST_ENV_ID) PYHOST_K_COUNT } pyhost_key_id;
#undef PYHOST_ENV_ID

/* How a value becomes a Python object. STR: latin-1 str. FSPATH: str in the filesystem
 * encoding. TIME: microseconds since the epoch, presented as float seconds. */
typedef enum { PYHOST_ENV_STR, PYHOST_ENV_FSPATH, PYHOST_ENV_TIME } pyhost_env_type;

/* Id for keys not in the table. */
#define PYHOST_K_OTHER 0xff

extern const char *const pyhost_key_names[PYHOST_K_COUNT];
extern const unsigned char pyhost_key_types[PYHOST_K_COUNT];
extern const unsigned char pyhost_key_lens[PYHOST_K_COUNT];

/* Receives one pair; key is pyhost_key_names[id] when id != PYHOST_K_OTHER. */
typedef void (*pyhost_env_fn)(void *ctx, unsigned id, const char *key, apr_size_t klen,
                              const char *val, apr_size_t vlen);

#endif
