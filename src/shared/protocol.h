/* shared/protocol.h: the wire protocol between Apache's children and daemon processes.
 *
 * A connection is a UNIX stream socket that an Apache worker thread keeps and reuses. Both
 * directions are frames: an 8-byte header (type, flags, aux, length) and a payload. One
 * request, in the usual case, is one write each way:
 *
 *   Apache -> daemon   [HELLO secret, first request only] REQUEST BODY... (EOF | PAUSE)
 *   daemon -> Apache   [HELLO pid, once per connection] HEAD DATA... END
 *
 * The body beyond what Apache had at hand is pulled by the daemon: MORE n, answered by BODY
 * frames ending with EOF or PAUSE, so either side always knows where the other's data ends
 * and a connection is reusable after every complete exchange. A daemon that must not run a
 * request says REFUSE instead of HEAD; one closing an idle connection says GOODBYE first, so
 * that a request crossing it is retried rather than lost. */
#ifndef PYHOST_DAEMON_PROTO_H
#define PYHOST_DAEMON_PROTO_H

#include "child/environ.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PYHOST_PROTO_MAGIC 0x31687970u /* "pyh1" */
#define PYHOST_SECRET_LEN  16

enum {
    PYHOST_F_HELLO = 1,   /* A->D: magic, secret. D->A: magic, pid */
    PYHOST_F_REQUEST = 2, /* A->D: pyhost_req_fixed, then the environ pairs */
    PYHOST_F_BODY = 3,    /* A->D: request body bytes; flags EOF or PAUSE end an exchange */
    PYHOST_F_MORE = 4,    /* D->A: aux unused, payload uint32 bytes wanted */
    PYHOST_F_HEAD = 5,    /* D->A: status, status line, headers */
    PYHOST_F_DATA = 6,    /* D->A: response body bytes; flag FLUSH */
    PYHOST_F_FILE = 7,    /* D->A: int64 offset, int64 length; the fd rides along */
    PYHOST_F_END = 8,     /* D->A: the response is complete, or FAILED */
    PYHOST_F_REFUSE = 9,  /* D->A: aux HTTP status; flag RETRY; payload a reason */
    PYHOST_F_GOODBYE = 10 /* D->A: this idle connection is being closed */
};

/* frame flags */
#define PYHOST_FL_EOF    1 /* BODY: the request body is complete */
#define PYHOST_FL_PAUSE  2 /* BODY: more body exists, sent when asked */
#define PYHOST_FL_FLUSH  1 /* DATA: the client should see this now */
#define PYHOST_FL_FAILED 1 /* END: the response was cut short */
#define PYHOST_FL_RETRY  1 /* REFUSE: the request did not start; send it again */

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint16_t aux;
    uint32_t len;
} pyhost_frame;

/* REQUEST flags */
#define PYHOST_RQ_NO_BODY         1 /* no body follows: the input is empty */
#define PYHOST_RQ_HEAD            2 /* a HEAD request */
#define PYHOST_RQ_RELOAD          4 /* WSGIScriptReloading On */
#define PYHOST_RQ_IGNORE_ACTIVITY 8 /* WSGIIgnoreActivity On */

typedef struct {
    uint32_t flags;
    uint32_t npairs;
    int64_t request_time; /* apr_time_t of the request's start */
    int64_t sent_time;    /* apr_time_t when Apache sent it */
    int64_t script_mtime; /* apr_time_t, 0 if unknown */
} pyhost_req_fixed;

typedef struct {
    char *data;
    apr_size_t len;
    apr_size_t cap;
} pyhost_buf;

void pyhost_buf_reserve(pyhost_buf *b, apr_size_t more);
void pyhost_buf_add(pyhost_buf *b, const void *data, apr_size_t len);
void pyhost_buf_free(pyhost_buf *b);

/* Starts a frame in b and returns its offset, for pyhost_frame_end to fill in the length. */
apr_size_t pyhost_frame_begin(pyhost_buf *b, int type, int flags, int aux);
void pyhost_frame_end(pyhost_buf *b, apr_size_t at);
/* A whole frame at once. */
void pyhost_frame_add(pyhost_buf *b, int type, int flags, int aux, const void *payload,
                      apr_size_t len);

/* Appends one environ pair (key id of child/environ.h). */
void pyhost_pair_add(pyhost_buf *b, unsigned id, const char *key, apr_size_t klen, const char *val,
                     apr_size_t vlen);
/* Walks the pairs of a REQUEST payload; returns -1 if they are malformed. */
int pyhost_pairs_walk(const char *p, apr_size_t len, uint32_t npairs, pyhost_env_fn fn, void *ctx);

/* Writes every byte of iov, passing fd along when fd >= 0. 0, or an errno value. */
int pyhost_sendv(int sock, struct iovec *iov, int n, int fd);

/* Reads up to len bytes; a file descriptor that arrives is stored in *fd. Returns the count,
 * 0 at the end, -1 with errno. */
apr_ssize_t pyhost_recv(int sock, char *buf, apr_size_t len, int *fd);

#endif
