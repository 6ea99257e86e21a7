/* python/call.h: one request as the WSGI adapter (python/wsgi.c) runs it: where it came from
 * (its environ pairs, its pyhost_io to read the body and write the response), and what the
 * events, wsgi.input and the metrics note of it. A header of its own, as those units read
 * what the adapter, which calls them, fills in. */
#ifndef PYHOST_CALL_H
#define PYHOST_CALL_H

#include "python/interp.h"
#include "python/log.h"
#include "shared/envkeys.h"

typedef struct pyhost_io pyhost_io;

typedef struct {
    const char *name;
    apr_size_t nlen;
    const char *value;
    apr_size_t vlen;
} pyhost_header;

/* Flags of pyhost_io_ops.write. */
#define PYHOST_OUT_FLUSH 1 /* the client should see this now */
#define PYHOST_OUT_LAST  2 /* the response ends with this block */

typedef struct {
    /* Reads up to *len request body bytes into buf; *len = 0 at the end of the body. Called
     * without a thread state attached; may block. */
    apr_status_t (*read)(pyhost_io *io, char *buf, apr_size_t *len);
    /* Sets status and headers. Called attached; must copy what it keeps and must not block. */
    apr_status_t (*start)(pyhost_io *io, int status, const char *status_line,
                          const pyhost_header *h, int n);
    /* Sends body bytes (data valid during the call only). Called without a thread state. */
    apr_status_t (*write)(pyhost_io *io, const char *data, apr_size_t len, int flags);
    /* Sends len bytes of the regular file fd from offset and ends the response (fd stays the
     * caller's). Called without a thread state. */
    apr_status_t (*sendfile)(pyhost_io *io, int fd, apr_off_t offset, apr_off_t len);
    /* The response cannot be completed: the client must be able to tell it was cut short. */
    void (*abort)(pyhost_io *io);
} pyhost_io_ops;

struct pyhost_io {
    const pyhost_io_ops *ops;
    int head_request; /* HEAD: a body shorter than Content-Length is no error */
    /* what wsgi.input did, for the request_finished event */
    int in_reads;
    apr_off_t in_bytes;
    apr_interval_time_t in_time;
    /* waits to attach again after blocking I/O (python/metrics.c), counted while metrics are
     * recorded, the shared record is kept (shared/stats.h) or gil_count is set (request events
     * are subscribed) */
    int gil_count;
    int gil_waits;
    apr_interval_time_t gil_time, gil_min, gil_max;
};

/* Passes each (key, value) pair of the request's environ to fn (see child/environ.h). */
typedef void (*pyhost_pairs_fn)(void *ctx, pyhost_env_fn fn, void *fn_ctx);

typedef struct {
    pyhost_interp *interp;
    const char *script;
    const char *callable;
    apr_time_t mtime;
    int reload;
    pyhost_pairs_fn pairs;
    void *pairs_ctx;
    pyhost_io *io;
    pyhost_logctx log;
    double queue_start, daemon_start; /* seconds since the epoch; 0 in embedded mode */
    apr_time_t request_start;         /* when Apache received the request */
    int thread_id;
    request_rec *apache_request; /* WSGIPassApacheRequest On in embedded mode, else NULL */
    /* results */
    int status;     /* status sent to the client, 0 if none */
    apr_off_t sent; /* body bytes sent */
    int out_writes;
    apr_interval_time_t out_time;
    /* for events (python/events.c) */
    apr_time_t app_start;
    PyObject *request_id;   /* environ's mod_wsgi.request_id, once events run */
    long server_pid;        /* the Apache child's pid (environ's mod_wsgi.server_pid) */
    PyObject *request_data; /* mod_wsgi.request_data(), made when first asked for */
    double cpu_user, cpu_system;
    /* for metrics (python/metrics.c): when the request took its thread, and that thread's CPU time
     * then; 0 unless recording */
    apr_time_t slot_start;
    apr_interval_time_t slot_cpu;
    apr_time_t attach_start; /* when the thread began to attach, if request events count it */
    PyObject *errors_buffer; /* the binary Log under wsgi.errors (borrowed) */
} pyhost_wsgi_call;

#endif
