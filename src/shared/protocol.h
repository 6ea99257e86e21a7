/* shared/protocol.h: the messages between Apache's children and daemon processes (the frames
 * that carry them: shared/codec.h).
 *
 * A connection is a UNIX stream socket that an Apache worker thread keeps and reuses. Both
 * directions are frames: an 8-byte header (type, flags, aux, length) and a payload. One
 * request, in the usual case, is one write each way:
 *
 *   Apache -> daemon   [HELLO secret, first request only] REQUEST BODY... (EOF | PAUSE)
 *   daemon -> Apache   [HELLO pid, once per connection] HEAD DATA... END
 *
 * The body beyond what Apache had at hand is pulled by the daemon: MORE n, answered by BODY
 * frames (or RBODY frames pointing into the ring, below) ending with EOF or PAUSE, so either
 * side always knows where the other's data ends and a connection is reusable after every
 * complete exchange. While the application reads a large body, the daemon asks for the next
 * part before it has used up the last (MORE with AHEAD, answered at once with what Apache has
 * at hand, so no one waits on the client for it): at most two exchanges are open, the body
 * flows without a round trip per part, and what the application may leave unread stays within
 * the socket's buffer (PYHOST_SOCKET_BUFFER) or the ring. A
 * daemon that must not run a request says REFUSE instead of HEAD; one closing an idle connection
 * says GOODBYE first, so that a request crossing it is retried rather than lost. */
#ifndef PYHOST_DAEMON_PROTO_H
#define PYHOST_DAEMON_PROTO_H

#include "shared/codec.h"
#include "shared/envkeys.h"

#define PYHOST_PROTO_MAGIC 0x31687970u /* "pyh1" */
#define PYHOST_SECRET_LEN  16          /* 128 random bits: not guessable by a local process */

/* Both ends ask for socket buffers this large (the kernel caps them at net.core.wmem_max, and
 * doubles what it grants): a large body moves in few wakeups, and the body a daemon asked
 * ahead for always fits (see PYHOST_BODY_AHEAD). */
#define PYHOST_SOCKET_BUFFER (1024 * 1024)
/* The body frames one answer to MORE is written in, and what a daemon asks for ahead: two of
 * them, with a frame of the previous answer unread, are well within the least buffer a socket
 * has by default (net.core.wmem_default, 208 KB), so an application that stops reading never
 * leaves Apache blocked writing body while the daemon waits to write the response. */
#define PYHOST_BODY_FRAME 65536
#define PYHOST_BODY_AHEAD (2 * PYHOST_BODY_FRAME)

/* The rings. Large body blocks travel between a daemon and Apache in memory both share, not
 * through the socket. The first time a connection needs it, the daemon makes a memory file
 * (a control block, then PYHOST_RING_SIZE bytes for the response, then PYHOST_IN_RING_SIZE
 * bytes for the request body; pages are only made as they are first written), maps it and
 * passes it with a RING frame; Apache maps it for as long as the connection lasts. The socket
 * still carries every frame, so the order of head, body and end is the socket's.
 *
 * Response: the daemon copies a block in at the next ring position (never across the data's
 * end: it skips to the start instead) and sends an RDATA frame saying where; Apache gives the
 * bytes on from there (the one copy, into the client's socket, as embedded mode makes) and
 * marks them done. Positions only grow; the daemon writes at position p once Apache has
 * marked done everything up to p - PYHOST_RING_SIZE, and waits for that otherwise.
 *
 * Request body: a daemon that has a ring asks for body with MORE and the RING flag; Apache
 * copies what it reads from the client in at the next position (across the end, in two
 * pieces) and says where with an RBODY frame, as it would with a BODY frame. Apache never
 * waits for room: the daemon asks only for what fits beside what it has not yet taken. So a
 * large body moves in few frames, each a wakeup at most, and its exchanges can be larger than
 * the socket's buffer allows (PYHOST_RING_AHEAD). */
#define PYHOST_RING_SIZE    (512 * 1024)
#define PYHOST_RING_CTL     64                     /* the control block's bytes */
#define PYHOST_RING_BLOCK   (PYHOST_RING_SIZE / 2) /* the most one RDATA frame carries */
#define PYHOST_IN_RING_SIZE (512 * 1024)
/* What a daemon asks for ahead through the ring: half of it, asked when less than a quarter
 * of it is still to come, so at most three quarters are ever asked and not taken. */
#define PYHOST_RING_AHEAD (PYHOST_IN_RING_SIZE / 2)

typedef struct {
    uint64_t done; /* Apache: every response position before this is free again */
    uint64_t want; /* the daemon waits for done to reach this (0: it does not wait) */
    uint32_t seq;  /* Apache: bumped on each wake of a waiting daemon (the futex word) */
} pyhost_ring_ctl;

/* Maps a ring's memory file (the daemon's own, or the one a RING frame brought): the control
 * block, the response data PYHOST_RING_CTL bytes after it, the request body's after that.
 * NULL when it cannot be mapped. */
pyhost_ring_ctl *pyhost_ring_map(int fd);
void pyhost_ring_unmap(pyhost_ring_ctl *ring);
/* The daemon's side: a new ring's memory file (mapped into *ring), or -1. */
int pyhost_ring_create(pyhost_ring_ctl **ring);
/* Apache's side: everything before end is free again; wakes a daemon waiting for it. */
void pyhost_ring_release(pyhost_ring_ctl *ring, uint64_t end);
/* The daemon's side: waits at most ms for everything before need to be free, and then for
 * everything before want (need <= want: a daemon that has filled the ring sleeps until half
 * of it is free, not once per block). 1 when need is free. */
int pyhost_ring_wait(pyhost_ring_ctl *ring, uint64_t need, uint64_t want, int ms);
/* The request body's part: n bytes copied in at position at (Apache), or out (the daemon),
 * wrapping at the end. */
void pyhost_ring_put(pyhost_ring_ctl *ring, uint64_t at, const char *from, apr_size_t n);
void pyhost_ring_get(const pyhost_ring_ctl *ring, uint64_t at, char *to, apr_size_t n);

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

/* Appends one environ pair (key id of child/environ.h). */
void pyhost_pair_add(pyhost_buf *b, unsigned id, const char *key, apr_size_t klen, const char *val,
                     apr_size_t vlen);
/* Walks the pairs of a REQUEST payload; returns -1 if they are malformed. */
int pyhost_pairs_walk(const char *p, apr_size_t len, uint32_t npairs, pyhost_env_fn fn, void *ctx);

#endif
