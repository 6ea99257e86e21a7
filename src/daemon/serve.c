/* daemon/serve.c: serving requests inside a daemon process.
 *
 * Owns the worker threads, which all wait in one epoll set holding the group's listening
 * socket and every idle connection (one-shot, so a ready connection wakes exactly one
 * thread and no thread ever waits on an idle connection); the connections from Apache (the
 * secret checked on the first frame, GOODBYE before an idle one is closed); and the
 * pyhost_io of daemon mode: the body pulled from Apache as the application reads it, the
 * response written as frames with as few writes as the application's flushes allow; and what
 * the watch sees of each worker's request, shared without a lock (a control word per worker
 * says which request runs and who may write to its connection), so that the watch can answer
 * for a stuck request while its thread is blocked, in the application or in a write. */
#include "daemon/serve.h"
#include "shared/alloc.h"

#include "daemon/recycle.h"

#include "python/runtime.h"
#include "python/script.h"
#include "python/wsgi.h"
#include "shared/stats.h"

#include "http_log.h"
#include "apr_strings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

/* A read from Apache asks for this much: a request's environ (a few KB) and the body sent
 * with it usually come in one system call. */
#define READ_CHUNK 16384
/* A response block up to this size is copied into the frame buffer, so several go out in one
 * write; a bigger one goes through the response ring (shared/protocol.h), or is written from
 * the application's own buffer where there is no ring. */
#define COPY_LIMIT 32768
/* A daemon waiting for room in the ring looks this often whether the request is still wanted
 * (the watch answered for it, or Apache closed the connection). */
#define RING_POLL_MS 100
/* Response bytes held before they are written even without a flush: bounds the copy per
 * connection and lets Apache start on a long response. */
#define OUT_HIGH_WATER 65536
/* The least body asked for with MORE (a small read by the application would otherwise cost a
 * round trip each), and the most (MORE answers are held whole by Apache: 1 MB bounds that). */
#define BODY_PULL     65536
#define BODY_PULL_MAX (1u << 20)

enum { CONN_IDLE, CONN_BUSY, CONN_CLOSED };

typedef struct dconn {
    int fd;
    int state; /* CONN_*, changed atomically */
    int authed;
    pyhost_reader rd; /* Apache's frames */
    struct dconn *next, *prev;
    pyhost_ring_ctl *ring; /* the rings shared with Apache, once made */
    uint64_t ring_pos;     /* where the next response block goes in it */
    uint64_t in_pos;       /* where the next request body bytes are taken from */
    int ring_failed;       /* it could not be made: blocks go through the socket */
} dconn;

struct dio;

/* A worker's control word, which the watch reads and changes without a lock: the number of
 * its latest request (from CTL_SEQ_SHIFT up) and these flags. */
#define CTL_RUNNING   1u /* the request runs; the fields the watch reads are set */
#define CTL_WRITING   2u /* the worker writes to the request's connection */
#define CTL_GONE      4u /* the watch answered for the request: the worker writes no more */
#define CTL_WATCHING  8u /* the watch uses the connection: the worker must not close it yet */
#define CTL_SEQ_SHIFT 8

typedef struct {
    int index; /* 1-based: mod_wsgi.thread_id */
    pthread_t thread;
    pyhost_buf req; /* the request payload, kept for the request's life */
    pyhost_buf out; /* response frames not yet written */
    int phase;      /* PHASE_*, changed atomically */
    uint64_t ctl;   /* CTL_* */
    /* Set (atomically) before ctl marks the request running, read by the watch while ctl
     * still names that request. */
    apr_time_t started;
    int fd;       /* the request's connection */
    int head_out; /* the response head has been written (1), or all of it, END too (2) */
    pyhost_interp *interp;
    apr_uint64_t py_thread;
    apr_uint64_t interrupted_seq; /* the request RequestTimeout was raised in, and when */
    apr_time_t interrupted_at;
    char what[PYHOST_WHAT_LEN]; /* "METHOD URI (client host:port)" */
} worker;

/* A worker's phase: idle, or holding a request (OLD: one that a graceful recycle waits for;
 * STUCK: one the watch answered for, which no one waits for). */
enum { PHASE_IDLE, PHASE_BUSY, PHASE_OLD, PHASE_STUCK };

static struct {
    pyhost_group *g;
    server_rec *s;
    unsigned char secret[PYHOST_SECRET_LEN]; /* what Apache's connections present first */
    int epfd;
    int listen_fd;
    int wake_fd;
    pthread_mutex_t mu; /* conns list */
    dconn *conns;
    int stopping;
    int busy;     /* workers holding a connection: a request is somewhere in its course */
    int given_up; /* of those, the ones the watch has answered for (stuck threads) */
    pid_t pid;
    worker **workers;
    apr_time_t activity;
    apr_time_t first_request;
    apr_uint64_t completed;
    int old_left; /* requests a graceful recycle waits for, plus one while it marks them */
} sv;

static void touch(void)
{
    __atomic_store_n(&sv.activity, apr_time_now(), __ATOMIC_RELAXED);
}

static char listener_tag, wake_tag;

/* ---- connections ------------------------------------------------------------------------- */

static void conn_link(dconn *c)
{
    pthread_mutex_lock(&sv.mu);
    c->next = sv.conns;
    c->prev = NULL;
    if (sv.conns) {
        sv.conns->prev = c;
    }
    sv.conns = c;
    pthread_mutex_unlock(&sv.mu);
}

/* Closes a connection this thread owns (busy), freeing it. */
static void conn_close(dconn *c)
{
    pthread_mutex_lock(&sv.mu);
    if (c->prev) {
        c->prev->next = c->next;
    }
    else {
        sv.conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&sv.mu);
    close(c->fd);
    pyhost_reader_free(&c->rd);
    pyhost_ring_unmap(c->ring);
    free(c);
}

/* GOODBYE then close, for an idle connection whose state this thread moved to CLOSED: a
 * request Apache sent meanwhile is read back as not taken, and sent again (the frame is
 * queued ahead of the reset that closing with unread data causes, and Apache reads it
 * first). Without waiting: the watch calls this too. */
static void conn_goodbye(dconn *c)
{
    pyhost_frame f = {PYHOST_F_GOODBYE, 0, 0, 0};
    epoll_ctl(sv.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (send(c->fd, &f, sizeof(f), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, errno, sv.s,
                     "daemon process %ld of group '%s': GOODBYE not sent on an idle connection",
                     (long)sv.pid, sv.g->name);
    }
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    c->fd = -1;
}

static int conn_claim(dconn *c, int from, int to)
{
    return __atomic_compare_exchange_n(&c->state, &from, to, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Puts a connection back into the epoll set, unless the process is stopping. */
static void conn_idle(dconn *c)
{
    struct epoll_event ev;
    __atomic_store_n(&c->state, CONN_IDLE, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sv.stopping, __ATOMIC_SEQ_CST)) {
        if (conn_claim(c, CONN_IDLE, CONN_CLOSED)) {
            conn_goodbye(c);
        }
        return;
    }
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = c;
    epoll_ctl(sv.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Takes every pending connection. Counted as busy meanwhile: a process that stops must not
 * exit between accept() and the HELLO or GOODBYE (the request Apache wrote into a connection
 * closed unread would be lost to a reset). */
static void accept_all(void)
{
    struct epoll_event ev;
    __atomic_add_fetch(&sv.busy, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&sv.stopping, __ATOMIC_SEQ_CST)) {
        struct timeval tv;
        dconn *c;
        int fd = accept4(sv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        unsigned char hello[sizeof(pyhost_frame) + 8];
        pyhost_frame f = {PYHOST_F_HELLO, 0, 0, 8};
        uint32_t magic = PYHOST_PROTO_MAGIC;
        int32_t pid = (int32_t)sv.pid;
        int sndbuf = PYHOST_SOCKET_BUFFER;
        struct iovec iov = {hello, sizeof(hello)};
        if (fd < 0) {
            break;
        }
        tv.tv_sec = (time_t)apr_time_sec(sv.g->socket_timeout);
        tv.tv_usec = 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        memcpy(hello, &f, sizeof(f));
        memcpy(hello + sizeof(f), &magic, 4);
        memcpy(hello + sizeof(f) + 4, &pid, 4);
        if (pyhost_sendv(fd, &iov, 1, -1)) {
            close(fd);
            continue;
        }
        c = pyhost_xcalloc(1, sizeof(*c));
        c->fd = fd;
        pyhost_reader_init(&c->rd, fd, 0, READ_CHUNK);
        c->rd.limit = 4 + PYHOST_SECRET_LEN; /* until the secret is seen, nothing bigger */
        c->state = CONN_BUSY;
        conn_link(c);
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.ptr = c;
        epoll_ctl(sv.epfd, EPOLL_CTL_ADD, fd, &ev);
        conn_idle(c);
    }
    if (!__atomic_load_n(&sv.stopping, __ATOMIC_SEQ_CST)) {
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.ptr = &listener_tag;
        epoll_ctl(sv.epfd, EPOLL_CTL_MOD, sv.listen_fd, &ev);
    }
    if (!__atomic_sub_fetch(&sv.busy, 1, __ATOMIC_SEQ_CST)) {
        pyhost_daemon_idle();
    }
}

/* ---- the daemon pyhost_io ---------------------------------------------------------------- */

typedef struct dio {
    pyhost_io io;
    dconn *c;
    worker *w;
    int eof;         /* the whole body has arrived */
    int open;        /* body exchanges not yet ended by EOF or PAUSE (at most two) */
    uint32_t ask[2]; /* of those, oldest first: body bytes asked for and not yet announced */
    uint32_t rleft;  /* body bytes of the RBODY frame being read still in the ring */
    int pulled;      /* MORE was sent: the body is larger than what came with the request */
    int pending;     /* flags of the BODY frame being read, applied when it is all taken */
    int broken;      /* the connection is out of step: close it (atomic: see is_broken) */
    int head_queued; /* the response head is in w->out */
    int active;      /* counts as activity (not WSGIIgnoreActivity) */
    int ended;       /* END has been written: the response is over for Apache */
} dio;

/* broken is the worker's (the watch answers for a request through the worker's control word,
 * never through its dio); read and written through these all the same, so that no path can
 * make it a plain field shared between threads again. */
static int is_broken(const dio *d)
{
    return __atomic_load_n(&d->broken, __ATOMIC_SEQ_CST);
}

static void set_broken(dio *d)
{
    __atomic_store_n(&d->broken, 1, __ATOMIC_SEQ_CST);
}

/* The BODY frame just taken ended: so does its exchange, on EOF or PAUSE. */
static void apply_pending(dio *d)
{
    if (d->pending & PYHOST_FL_EOF) {
        d->eof = 1;
    }
    if (d->pending & (PYHOST_FL_EOF | PYHOST_FL_PAUSE) && d->open) {
        d->open--;
        d->ask[0] = d->ask[1];
        d->ask[1] = 0;
    }
    d->pending = 0;
}

/* A BODY or RBODY frame's header: its len bytes are no longer awaited. */
static void body_frame(dio *d, uint32_t len, int flags)
{
    d->ask[0] -= len < d->ask[0] ? len : d->ask[0];
    d->pending = flags;
    if (!len) {
        apply_pending(d);
    }
}

/* Takes the next frame of a body exchange: BODY (its payload follows in the socket) or RBODY
 * (in the ring, where it must begin where the last ended and fit beside it). -1 when the
 * connection is out of step. */
static int next_body_frame(dio *d)
{
    dconn *c = d->c;
    pyhost_frame f;
    uint64_t at;
    uint32_t n;
    if (pyhost_read_frame(&c->rd, &f) != PYHOST_READ_OK) {
        return -1;
    }
    if (f.type == PYHOST_F_BODY) {
        body_frame(d, f.len, f.flags);
        return 0;
    }
    if (f.type != PYHOST_F_RBODY || f.len != 12 || !c->ring) {
        return -1;
    }
    memcpy(&at, pyhost_reader_payload(&c->rd), 8);
    memcpy(&n, pyhost_reader_payload(&c->rd) + 8, 4);
    pyhost_reader_skip(&c->rd, f.len);
    if (at != c->in_pos || n > d->ask[0]) { /* Apache writes only what was asked for */
        return -1;
    }
    d->rleft = n;
    body_frame(d, n, f.flags);
    return 0;
}

/* The worker's claim on writing to its request's connection: -1 once the watch has answered
 * for the request. */
static int write_begin(worker *w)
{
    uint64_t v = __atomic_load_n(&w->ctl, __ATOMIC_ACQUIRE);
    do {
        if (v & CTL_GONE) {
            return -1;
        }
    } while (!__atomic_compare_exchange_n(&w->ctl, &v, v | CTL_WRITING, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    return 0;
}

/* -1 if the watch answered for the request meanwhile (and cut the connection). */
static int write_end(worker *w)
{
    return __atomic_fetch_and(&w->ctl, ~(uint64_t)CTL_WRITING, __ATOMIC_ACQ_REL) & CTL_GONE ? -1
                                                                                            : 0;
}

static apr_status_t send_out(dio *d, const char *data, apr_size_t len, const void *trailer,
                             apr_size_t tlen, int fd)
{
    struct iovec iov[3];
    int n = 0, err = 0;
    if (d->active) {
        touch();
    }
    if (d->w->out.len) {
        iov[n].iov_base = d->w->out.data;
        iov[n++].iov_len = d->w->out.len;
    }
    if (len) {
        iov[n].iov_base = (void *)data;
        iov[n++].iov_len = len;
    }
    if (tlen) {
        iov[n].iov_base = (void *)trailer;
        iov[n++].iov_len = tlen;
    }
    if (is_broken(d) || write_begin(d->w) < 0) {
        err = ECONNRESET; /* the watch answered for this request */
    }
    else {
        if (n) {
            err = pyhost_sendv(d->c->fd, iov, n, fd);
            __atomic_store_n(&d->w->head_out, d->ended ? 2 : d->head_queued, __ATOMIC_RELAXED);
        }
        if (write_end(d->w) < 0 && !err) {
            err = ECONNRESET;
        }
    }
    d->w->out.len = 0;
    if (err) {
        set_broken(d);
        return APR_FROM_OS_ERROR(err);
    }
    return APR_SUCCESS;
}

/* The connection's ring, made and passed to Apache (with what w->out holds) on first use. 0
 * when there is none: the block goes through the socket. */
static int ring_ready(dio *d)
{
    dconn *c = d->c;
    uint32_t size = PYHOST_RING_SIZE;
    int fd;
    if (c->ring || c->ring_failed) {
        return c->ring != NULL;
    }
    if ((fd = pyhost_ring_create(&c->ring)) < 0) {
        c->ring_failed = 1;
        return 0;
    }
    pyhost_frame_add(&d->w->out, PYHOST_F_RING, 0, 0, &size, sizeof(size));
    send_out(d, NULL, 0, NULL, 0, fd);
    close(fd);
    return 1;
}

/* What is asked for ahead: through the ring when the connection has one, else what the
 * socket's buffer holds. */
static uint32_t ahead_size(const dconn *c)
{
    return c->ring ? PYHOST_RING_AHEAD : PYHOST_BODY_AHEAD;
}

/* Asks Apache for more of the body: want bytes (within the pull limits) when nothing is
 * coming, or, ahead, the next part while the application still reads the last. Through the
 * ring when there is one, made for the first body large enough to be asked ahead for: never
 * more than fits beside what is in it or asked for. */
static int pull(dio *d, apr_size_t want, int ahead)
{
    int ring = (ahead || d->c->ring) && ring_ready(d);
    uint32_t most = ring ? PYHOST_IN_RING_SIZE - d->rleft - d->ask[0] - d->ask[1] : BODY_PULL_MAX;
    uint32_t n = ahead              ? ahead_size(d->c)
                 : want > BODY_PULL ? (want > most ? most : (uint32_t)want)
                                    : BODY_PULL;
    n = n > most ? most : n;
    pyhost_frame_add(&d->w->out, PYHOST_F_MORE,
                     (ahead ? PYHOST_FL_AHEAD : 0) | (ring ? PYHOST_FL_RING : 0), 0, &n, sizeof(n));
    d->ask[d->open++] = n;
    d->pulled = 1;
    return send_out(d, NULL, 0, NULL, 0, -1) == APR_SUCCESS ? 0 : -1;
}

/* Whether to ask ahead: one exchange open, not known to end the body, and less than half an
 * ahead's worth of it still to come or unread. */
static int ask_ahead(const dio *d)
{
    return d->pulled && !d->eof && !(d->pending & PYHOST_FL_EOF) && d->open == 1 &&
           d->ask[0] + d->rleft + pyhost_reader_left(&d->c->rd) <= ahead_size(d->c) / 2;
}

/* Takes up to *len body bytes of the RBODY frame being read out of the ring. */
static void ring_take(dio *d, char *buf, apr_size_t *len)
{
    apr_size_t n = *len < d->rleft ? *len : d->rleft;
    if (buf) {
        pyhost_ring_get(d->c->ring, d->c->in_pos, buf, n);
    }
    d->c->in_pos += n;
    d->rleft -= (uint32_t)n;
    *len = n;
    if (!d->rleft) {
        apply_pending(d);
    }
}

static apr_status_t d_read(pyhost_io *io, char *buf, apr_size_t *len)
{
    dio *d = (dio *)io;
    pyhost_reader *rd = &d->c->rd;
    apr_size_t want = *len;
    *len = 0;
    if (d->active) {
        touch();
    }
    for (;;) {
        pyhost_read_result res;
        /* looked at again once a frame's header is read: a body taken in whole frames would
         * otherwise end each exchange before the next is asked for */
        if (ask_ahead(d) && pull(d, 0, 1) < 0) {
            return APR_ECONNRESET;
        }
        if (d->rleft) {
            *len = want;
            ring_take(d, buf, len);
            return APR_SUCCESS;
        }
        if (pyhost_reader_left(rd)) {
            res = pyhost_read_into(rd, buf, want, len);
            if (res != PYHOST_READ_OK) {
                set_broken(d);
                return res == PYHOST_READ_FAILED ? APR_FROM_OS_ERROR(rd->err) : APR_EOF;
            }
            if (!pyhost_reader_left(rd)) {
                apply_pending(d);
            }
            return APR_SUCCESS;
        }
        if (d->eof) {
            return APR_SUCCESS;
        }
        if (!d->open && pull(d, want, 0) < 0) {
            return APR_ECONNRESET;
        }
        if (next_body_frame(d) < 0) {
            set_broken(d);
            return APR_EGENERAL;
        }
    }
}

/* Reads and drops what remains of the open body exchanges, so the connection is in step. */
static void drain(dio *d)
{
    pyhost_reader *rd = &d->c->rd;
    while (!is_broken(d) && (d->rleft || pyhost_reader_left(rd) || d->open)) {
        if (d->rleft) {
            apr_size_t n = d->rleft;
            ring_take(d, NULL, &n);
            continue;
        }
        if (pyhost_reader_left(rd)) {
            const char *p;
            apr_size_t n;
            if (pyhost_read_some(rd, pyhost_reader_left(rd), &p, &n) != PYHOST_READ_OK) {
                set_broken(d);
                return;
            }
            if (!pyhost_reader_left(rd)) {
                apply_pending(d);
            }
            continue;
        }
        if (next_body_frame(d) < 0) {
            set_broken(d);
            return;
        }
    }
}

static apr_status_t d_start(pyhost_io *io, int status, const char *status_line,
                            const pyhost_header *h, int n)
{
    dio *d = (dio *)io;
    pyhost_buf *b = &d->w->out;
    apr_size_t at = pyhost_frame_begin(b, PYHOST_F_HEAD, 0, status);
    d->head_queued = 1;
    uint32_t sl = (uint32_t)strlen(status_line), count = (uint32_t)n;
    int i;
    pyhost_buf_add(b, &count, 4);
    pyhost_buf_add(b, &sl, 4);
    pyhost_buf_add(b, status_line, sl);
    for (i = 0; i < n; i++) {
        uint32_t nl = (uint32_t)h[i].nlen, vl = (uint32_t)h[i].vlen;
        pyhost_buf_add(b, &nl, 4);
        pyhost_buf_add(b, &vl, 4);
        pyhost_buf_add(b, h[i].name, nl);
        pyhost_buf_add(b, h[i].value, vl);
    }
    pyhost_frame_end(b, at);
    return APR_SUCCESS;
}

/* Waits until the ring has room for the block ending at end. 0, or -1 when the request is no
 * longer wanted (the watch answered for it, Apache closed the connection) or socket-timeout
 * passed. */
static int ring_room(dio *d, uint64_t end)
{
    apr_time_t until =
        apr_time_now() + (sv.g->socket_timeout ? sv.g->socket_timeout : apr_time_from_sec(3600));
    uint64_t need = end > PYHOST_RING_SIZE ? end - PYHOST_RING_SIZE : 0;
    uint64_t want = end > PYHOST_RING_SIZE / 2 ? end - PYHOST_RING_SIZE / 2 : 0;
    int rv = 0;
    if (__atomic_load_n(&d->c->ring->done, __ATOMIC_SEQ_CST) >= need) {
        return 0;
    }
    /* waiting for room is waiting to write: the watch, answering for the request meanwhile,
     * cuts the connection as for a worker blocked in a write */
    if (write_begin(d->w) < 0) {
        set_broken(d);
        return -1;
    }
    while (!pyhost_ring_wait(d->c->ring, need, want > need ? want : need, RING_POLL_MS)) {
        struct pollfd p = {d->c->fd, POLLRDHUP, 0};
        if (is_broken(d) || (__atomic_load_n(&d->w->ctl, __ATOMIC_ACQUIRE) & CTL_GONE) ||
            (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) ||
            apr_time_now() > until) {
            rv = -1;
            break;
        }
    }
    if (write_end(d->w) < 0) {
        rv = -1;
    }
    if (rv < 0) {
        set_broken(d);
    }
    return rv;
}

/* Sends a block through the ring: copied in, block by block, each announced by an RDATA frame
 * (the last followed by END when last). */
static apr_status_t ring_write(dio *d, const char *data, apr_size_t len, int last)
{
    dconn *c = d->c;
    char *base = (char *)c->ring + PYHOST_RING_CTL;
    while (len) {
        uint32_t n = len > PYHOST_RING_BLOCK ? PYHOST_RING_BLOCK : (uint32_t)len;
        uint64_t at = c->ring_pos;
        pyhost_frame end = {PYHOST_F_END, 0, 0, 0};
        char span[12];
        apr_status_t rv;
        if (at % PYHOST_RING_SIZE + n > PYHOST_RING_SIZE) {
            at += PYHOST_RING_SIZE - at % PYHOST_RING_SIZE; /* never across the end */
        }
        if (ring_room(d, at + n) < 0) {
            return APR_ECONNRESET;
        }
        memcpy(base + at % PYHOST_RING_SIZE, data, n);
        c->ring_pos = at + n;
        memcpy(span, &at, 8);
        memcpy(span + 8, &n, 4);
        pyhost_frame_add(&d->w->out, PYHOST_F_RDATA, 0, 0, span, sizeof(span));
        data += n;
        len -= n;
        if (last && !len) {
            d->ended = 1;
        }
        rv = send_out(d, NULL, 0, last && !len ? &end : NULL, last && !len ? sizeof(end) : 0, -1);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t d_write(pyhost_io *io, const char *data, apr_size_t len, int flags)
{
    dio *d = (dio *)io;
    pyhost_buf *b = &d->w->out;
    pyhost_frame end = {PYHOST_F_END, 0, 0, 0};
    const char *extra = NULL;
    apr_size_t elen = 0;
    if (is_broken(d)) {
        return APR_ECONNRESET;
    }
    if (len > COPY_LIMIT && ring_ready(d)) {
        return ring_write(d, data, len, flags & PYHOST_OUT_LAST);
    }
    if (len <= COPY_LIMIT) {
        if (len) {
            pyhost_frame_add(b, PYHOST_F_DATA, 0, 0, data, len);
        }
    }
    else {
        pyhost_frame f = {PYHOST_F_DATA, 0, 0, (uint32_t)len};
        pyhost_buf_add(b, &f, sizeof(f));
        extra = data;
        elen = len;
    }
    if (flags & PYHOST_OUT_LAST) {
        d->ended = 1;
        return send_out(d, extra, elen, &end, sizeof(end), -1);
    }
    if ((flags & PYHOST_OUT_FLUSH) || extra || b->len > OUT_HIGH_WATER) {
        return send_out(d, extra, elen, NULL, 0, -1);
    }
    return APR_SUCCESS;
}

static apr_status_t d_sendfile(pyhost_io *io, int fd, apr_off_t offset, apr_off_t len)
{
    dio *d = (dio *)io;
    int64_t span[2] = {offset, len};
    pyhost_frame end = {PYHOST_F_END, 0, 0, 0};
    if (is_broken(d)) {
        return APR_ECONNRESET;
    }
    pyhost_frame_add(&d->w->out, PYHOST_F_FILE, 0, 0, span, sizeof(span));
    d->ended = 1;
    return send_out(d, NULL, 0, &end, sizeof(end), fd);
}

static void d_abort(pyhost_io *io)
{
    dio *d = (dio *)io;
    pyhost_frame end = {PYHOST_F_END, PYHOST_FL_FAILED, 0, 0};
    /* After END (a close() that raised once the response was complete), a second END would
     * be read by Apache as the answer to its next request on this connection. */
    if (!is_broken(d) && !d->ended) {
        d->ended = 1;
        send_out(d, NULL, 0, &end, sizeof(end), -1);
    }
}

static const pyhost_io_ops daemon_ops = {d_read, d_start, d_write, d_sendfile, d_abort};

static void refuse(dio *d, int status, int retry, const char *why)
{
    pyhost_frame_add(&d->w->out, PYHOST_F_REFUSE, retry ? PYHOST_FL_RETRY : 0, status, why,
                     strlen(why));
    send_out(d, NULL, 0, NULL, 0, -1);
}

/* ---- one request ------------------------------------------------------------------------- */

typedef struct {
    const char *p;
    apr_size_t n;
} span;

typedef struct {
    span script, handler_script, callable, app_group, addr, port, method, uri;
} req_info;

static void note_pair(void *ctx, unsigned id, const char *k, apr_size_t kl, const char *v,
                      apr_size_t vl)
{
    req_info *ri = ctx;
    span *to = NULL;
    (void)k;
    (void)kl;
    switch (id) {
    case PYHOST_K_SCRIPT_FILENAME:
        to = &ri->script;
        break;
    case PYHOST_K_HANDLER_SCRIPT:
        to = &ri->handler_script;
        break;
    case PYHOST_K_CALLABLE_OBJECT:
        to = &ri->callable;
        break;
    case PYHOST_K_APPLICATION_GROUP:
        to = &ri->app_group;
        break;
    case PYHOST_K_REMOTE_ADDR:
        to = &ri->addr;
        break;
    case PYHOST_K_REMOTE_PORT:
        to = &ri->port;
        break;
    case PYHOST_K_REQUEST_METHOD:
        to = &ri->method;
        break;
    case PYHOST_K_REQUEST_URI:
        to = &ri->uri;
        break;
    default:
        return;
    }
    to->p = v;
    to->n = vl;
}

typedef struct {
    const char *p;
    apr_size_t len;
    uint32_t npairs;
} pairs_src;

static void request_pairs(void *ctx, pyhost_env_fn fn, void *fn_ctx)
{
    pairs_src *src = ctx;
    pyhost_pairs_walk(src->p, src->len, src->npairs, fn, fn_ctx);
}

/* Wire strings are not NUL-terminated. */
static const char *cstr(apr_pool_t *p, const span *v)
{
    return apr_pstrmemdup(p, v->p ? v->p : "", v->n);
}

/* Copies a string between a worker and the watch byte by byte, each access atomic: the watch
 * may read while the worker writes the next request's (and then discards its copy). */
static void copy_shared(char *to, const char *from, apr_size_t len)
{
    apr_size_t i;
    for (i = 0; i + 1 < len; i++) {
        char ch = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
        __atomic_store_n(&to[i], ch, __ATOMIC_RELAXED);
        if (!ch) {
            return;
        }
    }
    __atomic_store_n(&to[i], '\0', __ATOMIC_RELAXED);
}

/* Runs the application for a request that was accepted; what describes it for the log. */
static int run(worker *w, dio *d, pyhost_wsgi_call *call, const char *what)
{
    uint64_t v = __atomic_load_n(&w->ctl, __ATOMIC_RELAXED);
    int rv;
    copy_shared(w->what, what, sizeof(w->what));
    __atomic_store_n(&w->interp, call->interp, __ATOMIC_RELAXED);
    __atomic_store_n(&w->fd, d->c->fd, __ATOMIC_RELAXED);
    __atomic_store_n(&w->head_out, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->started, apr_time_now(), __ATOMIC_RELAXED);
    __atomic_store_n(&w->ctl, ((v >> CTL_SEQ_SHIFT) + 1) << CTL_SEQ_SHIFT | CTL_RUNNING,
                     __ATOMIC_RELEASE);
    pyhost_stats_daemon_begin(w->index, what, call->queue_start, call->daemon_start);
    rv = pyhost_wsgi_run(call);
    pyhost_stats_daemon_end(w->index, call->io->gil_time, call->io->gil_waits);
    /* the request ends; the watch may be answering for it this moment (a few system calls) */
    v = __atomic_load_n(&w->ctl, __ATOMIC_ACQUIRE);
    for (;;) {
        if (v & CTL_WATCHING) {
            sched_yield();
            v = __atomic_load_n(&w->ctl, __ATOMIC_ACQUIRE);
            continue;
        }
        if (__atomic_compare_exchange_n(&w->ctl, &v, v >> CTL_SEQ_SHIFT << CTL_SEQ_SHIFT, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            break;
        }
    }
    if (v & CTL_GONE) {
        set_broken(d);
        __atomic_sub_fetch(&sv.given_up, 1, __ATOMIC_SEQ_CST);
    }
    return rv;
}

/* Runs one request whose payload is in w->req. Returns -1 if the connection must close. */
static int handle_request(dconn *c, worker *w, apr_pool_t *p)
{
    pyhost_req_fixed fx;
    pairs_src src;
    req_info ri;
    dio d;
    pyhost_wsgi_call call;
    pyhost_interp *interp;
    apr_time_t now = apr_time_now();
    apr_uint64_t done;
    int rv;

    memcpy(&fx, w->req.data, sizeof(fx));
    src.p = w->req.data + sizeof(fx);
    src.len = w->req.len - sizeof(fx);
    src.npairs = fx.npairs;
    memset(&ri, 0, sizeof(ri));
    memset(&d, 0, sizeof(d));
    d.io.ops = &daemon_ops;
    d.io.head_request = (fx.flags & PYHOST_RQ_HEAD) != 0;
    d.c = c;
    d.w = w;
    d.eof = (fx.flags & PYHOST_RQ_NO_BODY) != 0;
    d.open = !d.eof;
    d.active = !(fx.flags & PYHOST_RQ_IGNORE_ACTIVITY);

    if (pyhost_pairs_walk(src.p, src.len, src.npairs, note_pair, &ri) < 0 || !ri.script.p ||
        !ri.callable.p || !ri.app_group.p) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, sv.s,
                     "daemon process %ld of group '%s': malformed request from Apache",
                     (long)sv.pid, sv.g->name);
        refuse(&d, 500, 0, "malformed request");
        return -1;
    }
    if (d.active) {
        touch();
    }
    if (!__atomic_load_n(&sv.first_request, __ATOMIC_RELAXED)) {
        apr_time_t none = 0; /* the first of racing workers wins; the watch reads it */
        __atomic_compare_exchange_n(&sv.first_request, &none, now, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&sv.stopping, __ATOMIC_SEQ_CST)) {
        refuse(&d, 503, 1, "the daemon process is stopping");
        drain(&d);
        return is_broken(&d) ? -1 : 0;
    }
    if (sv.g->queue_timeout && now - fx.request_time > sv.g->queue_timeout) {
        refuse(&d, 503, 0,
               apr_psprintf(p,
                            "queue-timeout: the request waited %.1f seconds for a thread of "
                            "the daemon group (queue-timeout=%ld)",
                            (double)(now - fx.request_time) / APR_USEC_PER_SEC,
                            (long)apr_time_sec(sv.g->queue_timeout)));
        drain(&d);
        return is_broken(&d) ? -1 : 0;
    }

    memset(&call, 0, sizeof(call));
    call.script = cstr(p, ri.handler_script.n ? &ri.handler_script : &ri.script);
    call.callable = cstr(p, &ri.callable);
    /* with a pool, the least busy member runs the request */
    interp = sv.g->interpreters > 1
                 ? pyhost_interp_pick(cstr(p, &ri.app_group), sv.g->interpreters, w->index - 1)
                 : pyhost_interp_get(cstr(p, &ri.app_group));
    if (!interp) {
        const char *group = cstr(p, &ri.app_group);
        const char *why = apr_psprintf(p, "Python interpreter '%s' could not be created: %s", group,
                                       pyhost_interp_failure(group));
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, sv.s, "daemon process %ld of group '%s': %s",
                     (long)sv.pid, sv.g->name, why);
        refuse(&d, 500, 0, why);
        drain(&d);
        return is_broken(&d) ? -1 : 0;
    }
    if ((fx.flags & PYHOST_RQ_RELOAD) && !pyhost_recycle_retired() &&
        pyhost_script_changed(interp, call.script, fx.script_mtime)) {
        /* the new code runs in a new process; this request waits for it */
        pyhost_daemon_recycle(PYHOST_RECYCLE_DRAIN, "script_reload",
                              apr_psprintf(p, "script %s changed", call.script));
        refuse(&d, 503, 1, "the script changed; the daemon process restarts");
        drain(&d);
        if (sv.g->interpreters > 1) {
            pyhost_interp_done(interp);
        }
        return is_broken(&d) ? -1 : 0;
    }
    call.interp = interp;
    call.mtime = fx.script_mtime;
    call.reload = 0;
    call.pairs = request_pairs;
    call.pairs_ctx = &src;
    call.io = &d.io;
    call.log.s = sv.s;
    call.log.client = apr_psprintf(p, "%s:%s", cstr(p, &ri.addr), cstr(p, &ri.port));
    call.queue_start = (double)fx.sent_time / 1e6;
    call.daemon_start = (double)now / 1e6;
    call.thread_id = w->index;
    call.request_start = fx.request_time;
    rv = run(w, &d, &call,
             apr_psprintf(p, "%s %s (client %s)", cstr(p, &ri.method), cstr(p, &ri.uri),
                          call.log.client));
    if (sv.g->interpreters > 1) {
        pyhost_interp_done(interp);
    }
    if (rv != OK && !is_broken(&d)) {
        refuse(&d, rv, 0, "the application failed before its response; see the daemon's log");
    }
    drain(&d);
    if (d.active) {
        touch();
    }
    done = __atomic_add_fetch(&sv.completed, 1, __ATOMIC_SEQ_CST);
    if (sv.g->maximum_requests && done == (apr_uint64_t)sv.g->maximum_requests &&
        !pyhost_recycle_retired()) {
        pyhost_daemon_recycle(
            PYHOST_RECYCLE_GRACEFUL, "maximum_requests",
            apr_psprintf(p, "maximum-requests (%d) reached", sv.g->maximum_requests));
    }
    return is_broken(&d) ? -1 : 0;
}

/* Logs a connection that did not prove it comes from Apache. */
static void log_stranger(dconn *c)
{
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    memset(&cred, 0, sizeof(cred));
    getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, sv.s,
                 "daemon process %ld of group '%s': dropped a connection from pid %ld (uid %ld) "
                 "that did not present Apache's secret",
                 (long)sv.pid, sv.g->name, (long)cred.pid, (long)cred.uid);
}

/* Serves one request on a ready connection. Returns 0 to keep it, -1 to close it. */
static int serve(dconn *c, worker *w, apr_pool_t *p)
{
    pyhost_frame f;
    for (;;) {
        pyhost_read_result res = pyhost_read_frame(&c->rd, &f);
        const char *payload = pyhost_reader_payload(&c->rd);
        if (res != PYHOST_READ_OK) {
            if (!c->authed && res != PYHOST_READ_END) {
                log_stranger(c); /* junk, less than a frame, or too much */
            }
            return -1;
        }
        if (!c->authed) {
            uint32_t magic = 0;
            if (f.type != PYHOST_F_HELLO || f.len != 4 + PYHOST_SECRET_LEN ||
                (memcpy(&magic, payload, 4), magic != PYHOST_PROTO_MAGIC) ||
                memcmp(payload + 4, sv.secret, PYHOST_SECRET_LEN)) {
                log_stranger(c);
                return -1;
            }
            pyhost_reader_skip(&c->rd, f.len);
            c->authed = 1;
            c->rd.limit = PYHOST_FRAME_MAX;
            continue;
        }
        if (f.type != PYHOST_F_REQUEST || f.len < sizeof(pyhost_req_fixed)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, sv.s,
                         "daemon process %ld of group '%s': unexpected frame %d from Apache; "
                         "connection dropped",
                         (long)sv.pid, sv.g->name, f.type);
            return -1;
        }
        w->req.len = 0;
        pyhost_buf_add(&w->req, payload, f.len);
        pyhost_reader_skip(&c->rd, f.len);
        return handle_request(c, w, p) < 0 ? -1 : 0;
    }
}

static void old_done(void)
{
    if (!__atomic_sub_fetch(&sv.old_left, 1, __ATOMIC_SEQ_CST)) {
        pyhost_serve_stop();
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    apr_pool_t *p;
    int rv;
    apr_pool_create(&p, NULL);
    __atomic_store_n(&w->py_thread, (apr_uint64_t)pthread_self(), __ATOMIC_RELAXED);
    for (;;) {
        struct epoll_event ev;
        dconn *c;
        int n = epoll_wait(sv.epfd, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (n == 0) {
            continue;
        }
        if (ev.data.ptr == &wake_tag) {
            break;
        }
        if (ev.data.ptr == &listener_tag) {
            accept_all();
            continue;
        }
        c = ev.data.ptr;
        __atomic_add_fetch(&sv.busy, 1, __ATOMIC_SEQ_CST);
        if (!conn_claim(c, CONN_IDLE, CONN_BUSY)) {
            __atomic_sub_fetch(&sv.busy, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        /* Apache writes a kept connection's next request as soon as its client has the
         * response, which can be before this thread has read the last of the body exchange
         * before it: a request read along with that is served at once (epoll would not
         * report it), unless the process is stopping (conn_idle says GOODBYE to it). */
        do {
            __atomic_store_n(&w->phase, PHASE_BUSY, __ATOMIC_SEQ_CST);
            rv = serve(c, w, p);
            if (__atomic_exchange_n(&w->phase, PHASE_IDLE, __ATOMIC_SEQ_CST) == PHASE_OLD) {
                old_done();
            }
            apr_pool_clear(p);
        } while (rv == 0 && pyhost_reader_buffered(&c->rd) &&
                 !__atomic_load_n(&sv.stopping, __ATOMIC_SEQ_CST));
        if (rv < 0) {
            epoll_ctl(sv.epfd, EPOLL_CTL_DEL, c->fd, NULL);
            conn_close(c);
        }
        else {
            conn_idle(c);
        }
        if (!__atomic_sub_fetch(&sv.busy, 1, __ATOMIC_SEQ_CST)) {
            pyhost_daemon_idle();
        }
    }
    apr_pool_destroy(p);
    return NULL;
}

/* ---- start and stop ---------------------------------------------------------------------- */

int pyhost_serve_start(pyhost_group *g, server_rec *s, const unsigned char *secret)
{
    struct epoll_event ev;
    pthread_attr_t attr;
    int i, flags;

    memset(&sv, 0, sizeof(sv));
    sv.g = g;
    sv.s = s;
    memcpy(sv.secret, secret, PYHOST_SECRET_LEN);
    sv.pid = getpid();
    sv.listen_fd = g->listen_fd;
    pthread_mutex_init(&sv.mu, NULL);
    sv.epfd = epoll_create1(EPOLL_CLOEXEC);
    sv.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    flags = fcntl(sv.listen_fd, F_GETFL);
    if (sv.epfd < 0 || sv.wake_fd < 0 || flags < 0 ||
        fcntl(sv.listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     "daemon process %ld of group '%s': cannot set up its event loop", (long)sv.pid,
                     g->name);
        return -1;
    }
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = &listener_tag;
    epoll_ctl(sv.epfd, EPOLL_CTL_ADD, sv.listen_fd, &ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &wake_tag;
    epoll_ctl(sv.epfd, EPOLL_CTL_ADD, sv.wake_fd, &ev);

    pthread_attr_init(&attr);
    if (g->stack_size) {
        apr_size_t least = (apr_size_t)PTHREAD_STACK_MIN;
        pthread_attr_setstacksize(&attr, g->stack_size > least ? g->stack_size : least);
    }
    sv.workers = pyhost_xcalloc((size_t)g->threads, sizeof(worker *));
    sv.activity = apr_time_now();
    for (i = 0; i < g->threads; i++) {
        worker *w = pyhost_xcalloc(1, sizeof(*w));
        w->index = i + 1;
        sv.workers[i] = w;
        if (pthread_create(&w->thread, &attr, worker_main, w)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                         "daemon process %ld of group '%s': cannot start thread %d", (long)sv.pid,
                         g->name, i + 1);
            pthread_attr_destroy(&attr);
            return -1;
        }
    }
    pthread_attr_destroy(&attr);
    return 0;
}

void pyhost_serve_stop(void)
{
    dconn *c;
    uint64_t one = 1;
    if (!sv.workers) {
        return; /* a service daemon (threads=0) serves no requests */
    }
    __atomic_store_n(&sv.stopping, 1, __ATOMIC_SEQ_CST);
    epoll_ctl(sv.epfd, EPOLL_CTL_DEL, sv.listen_fd, NULL);
    pthread_mutex_lock(&sv.mu);
    for (c = sv.conns; c; c = c->next) {
        if (conn_claim(c, CONN_IDLE, CONN_CLOSED)) {
            conn_goodbye(c);
        }
    }
    pthread_mutex_unlock(&sv.mu);
    if (write(sv.wake_fd, &one, sizeof(one)) != sizeof(one)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, sv.s,
                     "daemon process %ld of group '%s': cannot wake its threads to stop",
                     (long)sv.pid, sv.g->name);
    }
}

void pyhost_serve_stop_after_current(void)
{
    int i;
    if (!sv.workers) {
        return;
    }
    __atomic_store_n(&sv.old_left, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < sv.g->threads; i++) {
        int busy = PHASE_BUSY;
        /* counted first, so that a request ending at once cannot bring it to 0 early */
        __atomic_add_fetch(&sv.old_left, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_compare_exchange_n(&sv.workers[i]->phase, &busy, PHASE_OLD, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            __atomic_sub_fetch(&sv.old_left, 1, __ATOMIC_SEQ_CST);
        }
    }
    old_done();
}

int pyhost_serve_active(void)
{
    return __atomic_load_n(&sv.busy, __ATOMIC_SEQ_CST) -
           __atomic_load_n(&sv.given_up, __ATOMIC_SEQ_CST);
}

int pyhost_serve_threads(void)
{
    return sv.workers ? sv.g->threads : 0;
}

int pyhost_serve_view(int i, pyhost_worker_view *v)
{
    worker *w = sv.workers[i];
    uint64_t before = __atomic_load_n(&w->ctl, __ATOMIC_ACQUIRE), after;
    if (!(before & CTL_RUNNING)) {
        return 0;
    }
    v->seq = before >> CTL_SEQ_SHIFT;
    v->started = __atomic_load_n(&w->started, __ATOMIC_RELAXED);
    v->interp = __atomic_load_n(&w->interp, __ATOMIC_RELAXED);
    v->py_thread = __atomic_load_n(&w->py_thread, __ATOMIC_RELAXED);
    v->interrupted_at = __atomic_load_n(&w->interrupted_seq, __ATOMIC_ACQUIRE) == v->seq
                            ? __atomic_load_n(&w->interrupted_at, __ATOMIC_RELAXED)
                            : 0;
    copy_shared(v->what, w->what, sizeof(v->what));
    after = __atomic_load_n(&w->ctl, __ATOMIC_ACQUIRE);
    v->given_up = (after & CTL_GONE) != 0;
    return (after & CTL_RUNNING) && after >> CTL_SEQ_SHIFT == v->seq;
}

void pyhost_serve_interrupted(int i, apr_uint64_t seq, apr_time_t when)
{
    worker *w = sv.workers[i];
    __atomic_store_n(&w->interrupted_at, when, __ATOMIC_RELAXED);
    __atomic_store_n(&w->interrupted_seq, seq, __ATOMIC_RELEASE);
}

apr_time_t pyhost_serve_activity(void)
{
    return __atomic_load_n(&sv.activity, __ATOMIC_RELAXED);
}

apr_time_t pyhost_serve_first_request(void)
{
    return __atomic_load_n(&sv.first_request, __ATOMIC_SEQ_CST);
}

int pyhost_serve_stuck(void)
{
    return __atomic_load_n(&sv.given_up, __ATOMIC_SEQ_CST);
}

int pyhost_serve_give_up(int i, apr_uint64_t seq, int status, const char *why)
{
    worker *w = sv.workers[i];
    uint64_t v = __atomic_load_n(&w->ctl, __ATOMIC_ACQUIRE);
    int phase = __atomic_load_n(&w->phase, __ATOMIC_SEQ_CST), fd, ended;
    do {
        if (!(v & CTL_RUNNING) || v >> CTL_SEQ_SHIFT != seq || (v & CTL_GONE)) {
            return PYHOST_GAVE_UP_NONE; /* it ended meanwhile */
        }
    } while (!__atomic_compare_exchange_n(&w->ctl, &v, v | CTL_GONE | CTL_WATCHING, 1,
                                          __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    __atomic_add_fetch(&sv.given_up, 1, __ATOMIC_SEQ_CST);
    fd = __atomic_load_n(&w->fd, __ATOMIC_RELAXED);
    ended = __atomic_load_n(&w->head_out, __ATOMIC_RELAXED) == 2;
    if (!(v & CTL_WRITING) && !ended) {
        /* The answer is small and goes without waiting. Reading is shut first: once Apache
         * has it, its next request must fail to be sent on this connection (and go to a new
         * one), not be sent and lost. */
        char out[sizeof(pyhost_frame) + 512];
        pyhost_frame f = {PYHOST_F_REFUSE, 0, (uint16_t)status, 0};
        if (__atomic_load_n(&w->head_out, __ATOMIC_RELAXED)) {
            f.type = PYHOST_F_END;
            f.flags = PYHOST_FL_FAILED;
            f.aux = 0;
        }
        else {
            f.len = (uint32_t)strlen(why);
            if (f.len > sizeof(out) - sizeof(f)) {
                f.len = sizeof(out) - sizeof(f);
            }
            memcpy(out + sizeof(f), why, f.len);
        }
        memcpy(out, &f, sizeof(f));
        shutdown(fd, SHUT_RD);
        if (send(fd, out, sizeof(f) + f.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, errno, sv.s,
                         "daemon process %ld of group '%s': the answer for a stuck request "
                         "could not be written at once; its connection is cut",
                         (long)sv.pid, sv.g->name);
        }
    }
    /* a worker blocked writing (to a peer that does not read) returns at once; after END,
     * Apache's next request on the connection finds it closed unread, and sends it again */
    shutdown(fd, SHUT_RDWR);
    __atomic_fetch_and(&w->ctl, ~(uint64_t)CTL_WATCHING, __ATOMIC_RELEASE);
    /* a graceful recycle does not wait for a stuck thread */
    while ((phase == PHASE_BUSY || phase == PHASE_OLD) &&
           !__atomic_compare_exchange_n(&w->phase, &phase, PHASE_STUCK, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
    }
    if (phase == PHASE_OLD) {
        old_done();
    }
    return ended             ? PYHOST_GAVE_UP_AFTER_END
           : v & CTL_WRITING ? PYHOST_GAVE_UP_CUT
                             : PYHOST_GAVE_UP_ANSWERED;
}
