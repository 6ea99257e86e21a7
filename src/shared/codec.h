/* shared/codec.h: the frame codec of the Apache-to-daemon wire format, used by both ends.
 *
 * Every byte on a connection belongs to a frame: an 8-byte header (type, flags, aux, length
 * in host order: both ends are on one machine) and length bytes of payload. This file owns
 * the header, the growable buffers frames are built in, the one write and the one reader
 * both sides use, and the reader's limits. What the payloads mean is shared/protocol.h's.
 *
 * The reader hands over a frame's payload in one of two ways. The payload of a DATA or BODY
 * frame (the response and request bodies) is streamed: the caller takes it in pieces as the
 * bytes arrive, so its length is not limited. Every other payload is held: the reader has it
 * whole in memory when it returns the header, and it may be at most the reader's limit
 * (PYHOST_FRAME_MAX, lowered by a daemon until a connection has shown Apache's secret). */
#ifndef PYHOST_CODEC_H
#define PYHOST_CODEC_H

#include "apr.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum {
    PYHOST_F_HELLO = 1,    /* A->D: magic, secret. D->A: magic, pid */
    PYHOST_F_REQUEST = 2,  /* A->D: pyhost_req_fixed, then the environ pairs */
    PYHOST_F_BODY = 3,     /* A->D: request body bytes; flags EOF or PAUSE end an exchange */
    PYHOST_F_MORE = 4,     /* D->A: flag AHEAD; payload uint32 bytes wanted */
    PYHOST_F_HEAD = 5,     /* D->A: status, status line, headers */
    PYHOST_F_DATA = 6,     /* D->A: response body bytes */
    PYHOST_F_FILE = 7,     /* D->A: int64 offset, int64 length; the fd rides along */
    PYHOST_F_END = 8,      /* D->A: the response is complete, or FAILED */
    PYHOST_F_REFUSE = 9,   /* D->A: aux HTTP status; flag RETRY; payload a reason */
    PYHOST_F_GOODBYE = 10, /* D->A: this idle connection is being closed */
    PYHOST_F_RING = 11,    /* D->A: uint32 ring size; the ring's memory file rides along */
    PYHOST_F_RDATA = 12,   /* D->A: uint64 ring position, uint32 length: response body bytes */
    PYHOST_F_RBODY = 13    /* A->D: uint64 ring position, uint32 length: request body bytes;
                              flags as BODY's */
};

/* frame flags */
#define PYHOST_FL_EOF    1 /* BODY, RBODY: the request body is complete */
#define PYHOST_FL_PAUSE  2 /* BODY, RBODY: more body exists, sent when asked */
#define PYHOST_FL_AHEAD  1 /* MORE: asked early: answer with what is at hand, without waiting */
#define PYHOST_FL_RING   2 /* MORE: answer in the ring (RBODY frames) */
#define PYHOST_FL_FAILED 1 /* END: the response was cut short */
#define PYHOST_FL_RETRY  1 /* REFUSE: the request did not start; send it again */

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint16_t aux;
    uint32_t len;
} pyhost_frame;

/* The longest held payload. The largest a correct peer sends is a REQUEST (the environ, at
 * most Apache's LimitRequestFields x LimitRequestFieldSize, 100 x 8 KB by default) or a HEAD
 * (at most header-buffer-size per line); 16 MB is far above both and still bounds what a peer
 * out of step (or not ours) can make the other side allocate. */
#define PYHOST_FRAME_MAX (16 * 1024 * 1024)

/* Whether a frame type's payload is streamed rather than held. */
#define PYHOST_FRAME_STREAMED(type) ((type) == PYHOST_F_DATA || (type) == PYHOST_F_BODY)

/* ---- buffers, and building frames in them ------------------------------------------------ */

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

/* Writes every byte of iov, passing fd along when fd >= 0. 0, or an errno value. */
int pyhost_sendv(int sock, struct iovec *iov, int n, int fd);

/* ---- reading frames ---------------------------------------------------------------------- */

/* How a read ended. */
typedef enum {
    PYHOST_READ_OK = 0,
    PYHOST_READ_END,       /* the peer closed the stream between two frames */
    PYHOST_READ_TRUNCATED, /* the stream ended inside a frame */
    PYHOST_READ_OVERSIZED, /* a held payload longer than the reader's limit */
    PYHOST_READ_FAILED     /* the read failed or timed out: the reader's err says why */
} pyhost_read_result;

typedef struct {
    int fd;
    int take_fds;     /* recvmsg, keeping a descriptor that arrives with the bytes */
    apr_size_t chunk; /* the least a read asks the socket for */
    pyhost_buf in;    /* what was read and not yet used, from in.data + pos */
    apr_size_t pos;
    apr_size_t left; /* streamed payload of the current frame not yet taken */
    int passed_fd;   /* a file descriptor that arrived with the data, or -1 */
    int err;         /* errno of the last PYHOST_READ_FAILED */
    uint32_t limit;  /* the longest held payload: PYHOST_FRAME_MAX unless lowered */
} pyhost_reader;

void pyhost_reader_init(pyhost_reader *rd, int fd, int take_fds, apr_size_t chunk);
/* Forgets what was read (and closes a descriptor that arrived): for a new connection on fd. */
void pyhost_reader_reset(pyhost_reader *rd, int fd);
void pyhost_reader_free(pyhost_reader *rd);

/* Reads the next frame's header, and its whole payload unless the payload is streamed. The
 * previous frame's streamed payload must have been taken. */
pyhost_read_result pyhost_read_frame(pyhost_reader *rd, pyhost_frame *f);

/* The held payload of the frame just read (valid until the next read). */
const char *pyhost_reader_payload(const pyhost_reader *rd);
/* Marks n bytes of it used. */
void pyhost_reader_skip(pyhost_reader *rd, apr_size_t n);

/* Streamed payload: up to max bytes of what remains of the current frame's, from what is
 * buffered, reading the socket once if nothing is. *p and *n say where they are (valid until
 * the next read). */
pyhost_read_result pyhost_read_some(pyhost_reader *rd, apr_size_t max, const char **p,
                                    apr_size_t *n);

/* The same, copied into buf; with nothing buffered and a large max, read straight into buf
 * (and, when that reads to the payload's end, the next frame's header with it). */
pyhost_read_result pyhost_read_into(pyhost_reader *rd, char *buf, apr_size_t max, apr_size_t *n);

/* Streamed payload of the current frame not yet taken. */
apr_size_t pyhost_reader_left(const pyhost_reader *rd);
/* Bytes read from the socket and not yet used: what the peer sent ahead. */
apr_size_t pyhost_reader_buffered(const pyhost_reader *rd);

/* The errno value that describes a result (0 for the stream's end, EPROTO for a frame over
 * the limit). */
int pyhost_read_errno(const pyhost_reader *rd, pyhost_read_result res);

/* The result's name, for logs and tests. */
const char *pyhost_read_result_name(pyhost_read_result res);

#endif
