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
 * frames ending with EOF or PAUSE, so either side always knows where the other's data ends
 * and a connection is reusable after every complete exchange. While the application reads a
 * large body, the daemon asks for the next part before it has used up the last (MORE with
 * AHEAD, answered at once with what Apache has at hand, so no one waits on the client for it):
 * at most two exchanges are open, the body flows without a round trip per part, and what
 * the application may leave unread stays within the socket's buffer (PYHOST_SOCKET_BUFFER). A
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
