/* child/daemon_hop.c: the hop from an Apache child to a daemon process.
 *
 * Owns the connections each Apache thread keeps to each daemon group (made on first use,
 * reused for every later request, made again when the daemon said GOODBYE or is gone), the
 * request message (the environ and the body at hand, in one write), answering the daemon's
 * requests for more body, passing the response to the client as it arrives, and the failures
 * a daemon can cause, each with its own status and one log line naming the group, the
 * process and the cause. */
#include "child/daemon_hop.h"

#include "shared/daemon.h"
#include "shared/alloc.h"
#include "child/output.h"
#include "child/environ.h"
#include "child/spool.h"

#include "http_connection.h"
#include "shared/stats.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "util_filter.h"
#include "apr_strings.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

/* A read from a daemon asks for this much: a whole small response (head, body, end) comes in
 * one system call, and a large body in few. */
#define READ_BUFFER 65536
/* Body bytes sent with the request without waiting for the client: a small POST goes in the
 * same write as its environ; more is pulled by the daemon (MORE), so a slow client does not
 * hold a daemon thread. */
#define EAGER_BODY 65536
/* The most pieces of body (buckets as read from the client) one BODY frame is written from. */
#define BODY_IOV 64
/* The most body one RBODY frame announces: an ahead's worth, so a daemon waiting for the
 * body wakes once an exchange (fewer frames cost less than taking a part earlier: measured,
 * bench/bodies_ab.py); a larger answer comes in parts, the first taken while Apache copies
 * the next. */
#define RING_FRAME PYHOST_RING_AHEAD
/* A DATA payload read straight from the daemon goes into a buffer of this size (each thread
 * has one, made on first use): a large response costs one read per frame and no copy. */
#define DIRECT_BUFFER (256 * 1024)
/* Between attempts to connect while the group's socket is missing or its backlog full (the
 * group restarting): short against connect-timeout, long enough not to spin. */
#define CONNECT_RETRY_PAUSE apr_time_from_msec(20)
/* Pauses before a handed-back request is sent again: the first short (the replacement is
 * usually already listening), doubling to the longest, all within connect-timeout. */
#define RESEND_PAUSE_FIRST apr_time_from_msec(1)
#define RESEND_PAUSE_MAX   apr_time_from_msec(50)
/* How long to wait for a stopping daemon's death to be recorded by Apache's parent, so the
 * 502 can say how it died: the parent sees SIGCHLD within milliseconds. */
#define DEATH_WAIT apr_time_from_sec(2)

/* One kept connection of one Apache thread to one daemon group. */
typedef struct {
    int fd;
    pid_t pid;             /* of the daemon that accepted it, from its HELLO */
    int hello_sent;        /* the secret went with the first request */
    pyhost_reader rd;      /* the daemon's frames */
    pyhost_ring_ctl *ring; /* the rings the daemon shared, once it has */
    uint64_t in_pos;       /* where the next request body bytes go in the ring */
} aconn;

/* What each Apache thread keeps: its connections, by group index, and its request buffer.
 * Released when the thread ends. */
typedef struct {
    aconn *conns;
    int n;
    pyhost_buf out;
    pyhost_buf more;   /* answers to MORE from a body read before the hop */
    pyhost_buf direct; /* DATA payloads read straight (DIRECT_BUFFER) */
} thread_state;

static _Thread_local thread_state tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void conn_drop(aconn *c);

static void thread_end(void *data)
{
    thread_state *t = data;
    int i;
    for (i = 0; i < t->n; i++) {
        conn_drop(&t->conns[i]);
        pyhost_reader_free(&t->conns[i].rd);
    }
    free(t->conns);
    pyhost_buf_free(&t->out);
    pyhost_buf_free(&t->more);
    pyhost_buf_free(&t->direct);
    t->conns = NULL;
    t->n = 0;
}

static void make_key(void)
{
    pthread_key_create(&tls_key, thread_end);
}

static aconn *conn_of(const pyhost_group *g)
{
    if (g->index >= tls.n) {
        int n = g->index + 4, i;
        aconn *v = pyhost_xrealloc(tls.conns, sizeof(*v) * (size_t)n);
        for (i = tls.n; i < n; i++) {
            memset(&v[i], 0, sizeof(v[i]));
            v[i].fd = -1;
            pyhost_reader_init(&v[i].rd, -1, 1, READ_BUFFER);
        }
        if (!tls.conns) {
            pthread_once(&tls_once, make_key);
            pthread_setspecific(tls_key, &tls);
        }
        tls.conns = v;
        tls.n = n;
    }
    return &tls.conns[g->index];
}

static void conn_drop(aconn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->pid = 0;
    c->hello_sent = 0;
    pyhost_reader_reset(&c->rd, -1);
    pyhost_ring_unmap(c->ring);
    c->ring = NULL;
    c->in_pos = 0;
}

static void set_timeout(int fd, int which, apr_interval_time_t t)
{
    struct timeval tv;
    tv.tv_sec = (time_t)apr_time_sec(t);
    tv.tv_usec = (suseconds_t)(t % APR_USEC_PER_SEC);
    setsockopt(fd, SOL_SOCKET, which, &tv, sizeof(tv));
}

/* Whether this Apache child belongs to a generation that a restart has replaced: the
 * daemon groups of its configuration have stopped and their sockets are gone. */
static int superseded(void)
{
    ap_generation_t mine = 0;
    return ap_mpm_query(AP_MPMQ_GENERATION, &mine) == APR_SUCCESS && ap_scoreboard_image &&
           ap_scoreboard_image->global->running_generation != mine;
}

/* Connects within connect-timeout: a full backlog or a missing socket (the group restarting)
 * is tried again until then. Returns 0 or an errno value. */
static int conn_open(aconn *c, const pyhost_group *g)
{
    apr_time_t until = apr_time_now() + g->connect_timeout;
    struct sockaddr_un addr;
    int err, sndbuf = PYHOST_SOCKET_BUFFER;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, g->socket_path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            return errno;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            pyhost_stats_connect(g, apr_time_now() - (until - g->connect_timeout));
            set_timeout(fd, SO_SNDTIMEO, g->socket_timeout);
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
            /* until a daemon accepts it (its HELLO), the wait is connect-timeout's */
            set_timeout(fd, SO_RCVTIMEO,
                        g->connect_timeout ? g->connect_timeout : g->socket_timeout);
            c->fd = fd;
            pyhost_reader_reset(&c->rd, fd);
            return 0;
        }
        err = errno;
        close(fd);
        if (err != EAGAIN && err != ENOENT && err != ECONNREFUSED && err != EINTR) {
            return err;
        }
        if (err == ENOENT && superseded()) {
            return ESTALE; /* its group's socket went with its generation: no use waiting */
        }
        if (apr_time_now() >= until) {
            return err;
        }
        apr_sleep(CONNECT_RETRY_PAUSE);
    }
}

/* ---- the request ------------------------------------------------------------------------- */

typedef struct {
    pyhost_buf *b;
    uint32_t n;
} encoder;

static void encode_pair(void *ctx, unsigned id, const char *k, apr_size_t kl, const char *v,
                        apr_size_t vl)
{
    encoder *e = ctx;
    pyhost_pair_add(e->b, id, k, kl, v, vl);
    e->n++;
}

static int has_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    return apr_table_get(r->headers_in, "Transfer-Encoding") || (cl && strcmp(cl, "0"));
}

/* Appends a BODY frame with up to max bytes of the body that ends the exchange: EOF when the
 * body is complete (*done set), PAUSE otherwise. block: wait for the client. held: the body,
 * read whole before the hop (request-buffer-size), or NULL. */
static apr_status_t add_body(request_rec *r, apr_bucket_brigade *bb, pyhost_body *held,
                             pyhost_buf *out, apr_size_t max, int block, int *done)
{
    apr_size_t at = pyhost_frame_begin(out, PYHOST_F_BODY, 0, 0), got = 0;
    int eos = 0;
    apr_status_t rv = APR_SUCCESS;
    if (held) {
        pyhost_buf_reserve(out, max);
        got = pyhost_body_take(held, out->data + out->len, max);
        out->len += got;
        eos = got < max;
    }
    while (got < max && !eos) {
        apr_bucket *e;
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            block && !got ? APR_BLOCK_READ : APR_NONBLOCK_READ,
                            (apr_off_t)(max - got));
        if (rv != APR_SUCCESS || APR_BRIGADE_EMPTY(bb)) {
            break;
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(e)) {
                eos = 1;
                break;
            }
            if ((rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ)) != APR_SUCCESS) {
                break;
            }
            pyhost_buf_add(out, data, len);
            got += len;
        }
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS) {
            break;
        }
    }
    if (APR_STATUS_IS_EAGAIN(rv)) {
        rv = APR_SUCCESS;
    }
    *done = rv != APR_SUCCESS || eos;
    out->data[at + 1] = (char)(*done ? PYHOST_FL_EOF : PYHOST_FL_PAUSE);
    pyhost_frame_end(out, at);
    return rv;
}

static void build_request(pyhost_route *rt, pyhost_buf *out, apr_bucket_brigade *bb,
                          pyhost_body *held, int *body_done)
{
    request_rec *r = rt->r;
    const pyhost_dir_cfg *d = rt->cfg;
    pyhost_req_fixed fx;
    encoder enc = {out, 0};
    apr_size_t at;
    int body = has_body(r);

    out->len = 0;
    at = pyhost_frame_begin(out, PYHOST_F_REQUEST, 0, 0);
    memset(&fx, 0, sizeof(fx));
    fx.flags = (body ? 0 : PYHOST_RQ_NO_BODY) | (r->header_only ? PYHOST_RQ_HEAD : 0) |
               (rt->script_reloading ? PYHOST_RQ_RELOAD : 0) |
               (pyhost_flag(d->ignore_activity, 0) ? PYHOST_RQ_IGNORE_ACTIVITY : 0);
    fx.request_time = r->request_time;
    fx.sent_time = apr_time_now();
    fx.script_mtime = rt->script_mtime;
    pyhost_buf_add(out, &fx, sizeof(fx));
    pyhost_environ_each(rt, encode_pair, &enc);
    memcpy(out->data + at + sizeof(pyhost_frame) + offsetof(pyhost_req_fixed, npairs), &enc.n,
           sizeof(enc.n));
    pyhost_frame_end(out, at);
    if (body) {
        if (r->expecting_100) {
            pyhost_frame_add(out, PYHOST_F_BODY, PYHOST_FL_PAUSE, 0, NULL, 0);
        }
        else {
            add_body(r, bb, held, out, EAGER_BODY, 0, body_done);
        }
    }
}

/* ---- outcomes ---------------------------------------------------------------------------- */

/* How one exchange with a daemon ended; what the hop does next is written against these. */
typedef enum {
    HOP_DONE,      /* the response, or the daemon's own error status, is given (x->status) */
    HOP_RESEND,    /* the daemon handed the request back unstarted: send it again */
    HOP_CUT_SHORT, /* the response began and cannot be completed: the client must see that */
    HOP_FAIL       /* no response began: Apache answers with x->status (5xx), logged */
} hop_outcome;

typedef struct {
    request_rec *r;
    const pyhost_group *g;
    aconn *c;
    apr_bucket_brigade *bb;   /* response data not yet passed */
    apr_bucket_brigade *in;   /* for reading the request body */
    apr_bucket_brigade *sent; /* body buckets a BODY frame is being written from */
    apr_size_t buffered;
    int status;          /* the handler's result, with HOP_DONE and HOP_FAIL */
    int head_seen;       /* the response has begun */
    int body_pulled;     /* the daemon asked for body (MORE): the request cannot be sent again */
    int body_done;       /* the body's end (EOF) was sent: a later MORE is answered with EOF */
    int ended;           /* the exchange ended in step (END or REFUSE): the next frame is new */
    int unflushed;       /* response data passed or held since the client was last flushed */
    int client_gone;     /* writing to the client failed */
    int override;        /* WSGIErrorOverride: Apache makes the error page */
    pyhost_spool *spool; /* what the client has not taken yet (child/spool.c), or NULL */
    pyhost_body *body;   /* the request body read before the hop, or NULL */
} response;

static const char *who(request_rec *r, const pyhost_group *g, const aconn *c)
{
    return c->pid ? apr_psprintf(r->pool, "daemon process %ld of group '%s'", (long)c->pid, g->name)
                  : apr_psprintf(r->pool, "daemon group '%s'", g->name);
}

/* The stream ended or failed before the response was complete: logged, and the outcome. */
static hop_outcome broken(response *x, int err)
{
    request_rec *r = x->r;
    const pyhost_group *g = x->g;
    const char *cause;
    if ((err == EAGAIN || err == EWOULDBLOCK) && !x->c->pid) {
        x->status = HTTP_SERVICE_UNAVAILABLE;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "no process of daemon group '%s' accepted the connection within "
                      "connect-timeout (%ld seconds)",
                      g->name, (long)apr_time_sec(g->connect_timeout));
        return HOP_FAIL;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
        x->status = HTTP_GATEWAY_TIME_OUT;
        cause = apr_psprintf(r->pool, "socket-timeout of %ld seconds passed waiting for %s",
                             (long)apr_time_sec(g->socket_timeout),
                             x->head_seen ? "the rest of the response" : "the response");
    }
    else {
        const char *death = pyhost_daemon_death(r->pool, x->c->pid, DEATH_WAIT);
        x->status = HTTP_BAD_GATEWAY;
        cause = death ? apr_psprintf(r->pool, "died while handling the request: %s", death)
                : err ? apr_psprintf(r->pool, "connection failed while handling the request: %s",
                                     strerror(err))
                      : "closed the connection while handling the request";
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s %s%s", who(r, g, x->c), cause,
                  x->head_seen ? "; the response was cut short" : "");
    return x->head_seen ? HOP_CUT_SHORT : HOP_FAIL;
}

static hop_outcome read_failed(response *x, pyhost_read_result res)
{
    return broken(x, pyhost_read_errno(&x->c->rd, res));
}

/* The one place that decides whether a connection is kept for this thread's next request to
 * the group (as nginx's upstream keepalive module decides it): any check that fails closes
 * it, and the next request makes a new one. */
static void conn_release(aconn *c, const response *x, hop_outcome o)
{
    if (c->fd < 0) {
        return;
    }
    if (o == HOP_RESEND) {
        goto invalid; /* its daemon is stopping and will close it */
    }
    if (!x->ended) {
        goto invalid; /* frames of this exchange may still be on their way: out of step */
    }
    if (pyhost_reader_buffered(&c->rd) || pyhost_reader_left(&c->rd)) {
        goto invalid; /* bytes past the end of the exchange: a GOODBYE, or a daemon out of step */
    }
    if (c->rd.passed_fd >= 0) {
        goto invalid; /* a descriptor no FILE frame claimed */
    }
    return;
invalid:
    conn_drop(c);
}

/* ---- the response ------------------------------------------------------------------------ */

static apr_status_t pass(response *x, int flush)
{
    apr_status_t rv;
    if (pyhost_answered_by_apache(x->r)) { /* a body Apache refused: its 400 or 413 is out */
        apr_brigade_cleanup(x->bb);
        x->buffered = 0;
        x->client_gone = 1;
        return APR_ECONNABORTED;
    }
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_flush_create(x->r->connection->bucket_alloc));
    }
    rv = ap_pass_brigade(x->r->output_filters, x->bb);
    apr_brigade_cleanup(x->bb);
    x->buffered = 0;
    x->unflushed = !flush;
    if (rv == APR_SUCCESS && x->r->connection->aborted) {
        rv = APR_ECONNABORTED;
    }
    if (rv != APR_SUCCESS) {
        x->client_gone = 1; /* the rest is not relayed: closing the connection tells the daemon */
    }
    return rv;
}

/* Gives what was gathered to the spool (child/spool.c). */
static apr_status_t spool_pass(response *x)
{
    apr_status_t rv;
    x->buffered = 0;
    if ((rv = pyhost_spool_pass(x->spool, x->bb)) != APR_SUCCESS) {
        x->client_gone = 1; /* as pass() */
    }
    return rv;
}

/* Before anything is passed without the spool (a file, the end): what was gathered goes to
 * the spool, and what the spool holds for the core is put in x->bb, in order. */
static apr_status_t spool_finish(response *x)
{
    apr_status_t rv = x->buffered ? spool_pass(x) : APR_SUCCESS;
    pyhost_spool_end(x->spool, x->bb);
    return rv;
}

/* Before a read that would wait for the daemon: response data the client has not been sent
 * is flushed, unless more arrives within response-flush-delay (a pause of the application
 * shows, a transient stall mid-transfer does not break the response into small writes).
 * APR_SUCCESS, or the client's error. */
static apr_status_t flush_if_dry(response *x)
{
    struct pollfd pfd;
    if (x->spool && !pyhost_reader_buffered(&x->c->rd)) {
        /* what was gathered goes to Apache unless more comes within the delay; then the
         * client is fed whenever it can take more while the daemon is quiet */
        pfd.fd = x->c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (x->buffered &&
            (x->g->response_flush_delay <= 0 || poll(&pfd, 1, x->g->response_flush_delay) <= 0)) {
            apr_status_t rv = spool_pass(x);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        if (!x->buffered &&
            pyhost_spool_wait(x->spool, x->c->fd,
                              x->g->socket_timeout ? x->g->socket_timeout : -1) != APR_SUCCESS) {
            x->client_gone = 1;
            return APR_ECONNABORTED;
        }
        return APR_SUCCESS;
    }
    if (!x->unflushed || x->override || pyhost_reader_buffered(&x->c->rd)) {
        return APR_SUCCESS;
    }
    pfd.fd = x->c->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (x->g->response_flush_delay > 0 && poll(&pfd, 1, x->g->response_flush_delay) > 0) {
        return APR_SUCCESS;
    }
    return pass(x, 1);
}

static int read_u32(const char **p, const char *end, uint32_t *v)
{
    if (end - *p < 4) {
        return -1;
    }
    memcpy(v, *p, 4);
    *p += 4;
    return 0;
}

/* Applies the HEAD frame f (its payload held by the reader). OK or an HTTP status. */
static int apply_head(response *x, const pyhost_frame *f)
{
    request_rec *r = x->r;
    const char *p = pyhost_reader_payload(&x->c->rd), *end = p + f->len, *line;
    uint32_t n, sl, i;
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    if (read_u32(&p, end, &n) < 0 || read_u32(&p, end, &sl) < 0 || (uint32_t)(end - p) < sl) {
        return HTTP_BAD_GATEWAY;
    }
    if (f->aux >= 400 && pyhost_flag(d->error_override, 0)) {
        x->override = f->aux;
        return OK;
    }
    line = p;
    p += sl;
    for (i = 0; i < n; i++) {
        uint32_t nl, vl;
        if (read_u32(&p, end, &nl) < 0 || read_u32(&p, end, &vl) < 0 ||
            (apr_size_t)(end - p) < (apr_size_t)nl + vl) {
            return HTTP_BAD_GATEWAY;
        }
        if ((apr_size_t)nl + 2 + vl > (apr_size_t)x->g->header_buffer_size) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "%s sent a response header line of %lu bytes ('%.*s: ...'), over "
                          "header-buffer-size %d",
                          who(r, x->g, x->c), (unsigned long)nl + 2 + vl, (int)(nl > 64 ? 64 : nl),
                          p, x->g->header_buffer_size);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        pyhost_response_header(r, p, nl, p + nl, vl);
        p += nl + vl;
    }
    pyhost_response_status(r, f->aux, line, sl);
    return OK;
}

/* Moves the DATA frame's payload to the client side (or drops it: keep 0). */
static pyhost_read_result take_data(response *x, int keep)
{
    aconn *c = x->c;
    apr_bucket_alloc_t *ba = x->r->connection->bucket_alloc;
    while (pyhost_reader_left(&c->rd)) {
        const char *p;
        apr_size_t n, max = pyhost_reader_left(&c->rd);
        pyhost_read_result res;
        if (keep && x->spool && x->buffered && max > pyhost_spool_piece(x->spool) - x->buffered) {
            max = pyhost_spool_piece(x->spool) - x->buffered;
        }
        if (x->client_gone || (keep && flush_if_dry(x) != APR_SUCCESS)) {
            x->client_gone = 1;
            return PYHOST_READ_OK; /* relay() ends the exchange */
        }
        if (keep && x->spool && !x->buffered &&
            pyhost_reader_buffered(&c->rd) < pyhost_spool_piece(x->spool) &&
            max >= pyhost_spool_piece(x->spool)) {
            /* a piece or more to come, less at hand: what is at hand copied, the rest read
             * straight after it, to the frame's end when it fits, and at least a piece (the rest
             * of a frame the daemon wrote at once comes at once) */
            apr_size_t want = max > DIRECT_BUFFER ? DIRECT_BUFFER : max, got = 0;
            pyhost_buf_reserve(&tls.direct, DIRECT_BUFFER);
            do {
                res = pyhost_read_into(&c->rd, tls.direct.data + got, want - got, &n);
                got += n;
            } while (res == PYHOST_READ_OK && got < pyhost_spool_piece(x->spool));
            p = tls.direct.data;
            n = got;
        }
        else {
            res = pyhost_read_some(&c->rd, max, &p, &n);
        }
        if (res != PYHOST_READ_OK) {
            return res;
        }
        if (keep && x->spool && !x->buffered && n >= pyhost_spool_piece(x->spool)) {
            /* a piece or more at hand: given as it is, without a copy */
            if (pyhost_spool_write(x->spool, x->bb, p, n) != APR_SUCCESS) {
                x->client_gone = 1;
                return PYHOST_READ_OK;
            }
        }
        else if (keep && x->spool) {
            /* gathered up to a piece, which the core takes without waiting */
            APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_heap_create(p, n, NULL, ba));
            x->buffered += n;
            if (x->buffered >= pyhost_spool_piece(x->spool) && spool_pass(x) != APR_SUCCESS) {
                x->client_gone = 1;
                return PYHOST_READ_OK;
            }
        }
        else if (keep) {
            APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_heap_create(p, n, NULL, ba));
            x->buffered += n;
            x->unflushed = 1;
            if (x->buffered >= (apr_size_t)x->g->response_buffer_size) {
                pass(x, 0);
            }
        }
    }
    return PYHOST_READ_OK;
}

/* The daemon's RING: its memory file, mapped for as long as the connection lasts. */
static int take_ring(response *x)
{
    aconn *c = x->c;
    int fd = c->rd.passed_fd;
    c->rd.passed_fd = -1;
    if (fd < 0 || c->ring) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    c->ring = pyhost_ring_map(fd);
    close(fd);
    return c->ring ? 0 : -1;
}

/* An RDATA frame: len response bytes at ring position at, given on as a DATA payload is (the
 * spool or the core copies what it keeps), then marked done. -1 for a frame out of bounds. */
static int take_ring_data(response *x, const pyhost_frame *f)
{
    aconn *c = x->c;
    const char *p = pyhost_reader_payload(&c->rd);
    apr_bucket_alloc_t *ba = x->r->connection->bucket_alloc;
    uint64_t at;
    uint32_t n;
    const char *data;
    if (f->len < 12 || !c->ring) {
        return -1;
    }
    memcpy(&at, p, 8);
    memcpy(&n, p + 8, 4);
    if (n > PYHOST_RING_BLOCK || at % PYHOST_RING_SIZE + n > PYHOST_RING_SIZE) {
        return -1;
    }
    data = (const char *)c->ring + PYHOST_RING_CTL + at % PYHOST_RING_SIZE;
    if (x->override || x->client_gone) {
        /* dropped */
    }
    else if (x->spool) {
        if ((x->buffered && spool_pass(x) != APR_SUCCESS) ||
            pyhost_spool_write(x->spool, x->bb, data, n) != APR_SUCCESS) {
            x->client_gone = 1;
        }
    }
    else {
        APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_heap_create(data, n, NULL, ba));
        x->buffered += n;
        x->unflushed = 1;
        if (x->buffered >= (apr_size_t)x->g->response_buffer_size) {
            pass(x, 0);
        }
    }
    pyhost_ring_release(c->ring, at + n);
    return 0;
}

static void take_file(response *x, int64_t offset, int64_t len)
{
    int fd = x->c->rd.passed_fd;
    x->c->rd.passed_fd = -1;
    if (x->spool && spool_finish(x) != APR_SUCCESS) {
        x->client_gone = 1;
    }
    if (fd >= 0) {
        pyhost_bb_file(x->r, x->bb, fd, offset, x->override ? 0 : len);
        x->unflushed = 1;
    }
}

/* Up to n bytes of the body for one BODY frame, as pieces of iov from *niov on: from the body
 * read before the hop (copied), or from the client, the buckets as read (kept in x->sent until
 * the frame is written). wait: wait for the client if nothing is at hand. *eos: the body is
 * complete. APR_SUCCESS, or the error reading from the client. */
static apr_status_t body_gather(response *x, apr_size_t n, int wait, struct iovec *iov, int *niov,
                                apr_size_t *got, int *eos)
{
    apr_status_t rv = APR_SUCCESS;
    *got = 0;
    *eos = 0;
    if (x->body) {
        pyhost_buf_reserve(&tls.more, n);
        *got = pyhost_body_take(x->body, tls.more.data, n);
        iov[*niov].iov_base = tls.more.data;
        iov[(*niov)++].iov_len = *got;
        *eos = *got < n;
        return APR_SUCCESS;
    }
    while (*got < n && *niov < BODY_IOV) {
        apr_bucket *e;
        const char *data;
        apr_size_t len;
        if (APR_BRIGADE_EMPTY(x->in)) {
            rv = ap_get_brigade(x->r->input_filters, x->in, AP_MODE_READBYTES,
                                wait && !*got ? APR_BLOCK_READ : APR_NONBLOCK_READ,
                                (apr_off_t)(n - *got));
            if (rv != APR_SUCCESS || APR_BRIGADE_EMPTY(x->in)) {
                break;
            }
        }
        e = APR_BRIGADE_FIRST(x->in);
        if (APR_BUCKET_IS_EOS(e)) {
            *eos = 1;
            break;
        }
        if ((rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ)) != APR_SUCCESS) {
            break;
        }
        if (len > n - *got) {
            apr_bucket_split(e, n - *got);
            len = n - *got;
        }
        APR_BUCKET_REMOVE(e);
        APR_BRIGADE_INSERT_TAIL(x->sent, e);
        if (len) {
            iov[*niov].iov_base = (void *)data;
            iov[(*niov)++].iov_len = len;
            *got += len;
        }
    }
    return APR_STATUS_IS_EAGAIN(rv) ? APR_SUCCESS : rv;
}

/* Copies the body gathered in iov[1..*niov) into the ring and makes iov[1] the RBODY payload
 * saying where (span: its 12 bytes). */
static void ring_body(aconn *c, struct iovec *iov, int *niov, apr_size_t got, char *span)
{
    uint64_t at = c->in_pos;
    uint32_t n = (uint32_t)got;
    int i;
    for (i = 1; i < *niov; i++) {
        pyhost_ring_put(c->ring, c->in_pos, iov[i].iov_base, iov[i].iov_len);
        c->in_pos += iov[i].iov_len;
    }
    memcpy(span, &at, 8);
    memcpy(span + 8, &n, 4);
    iov[1].iov_base = span;
    iov[1].iov_len = 12;
    *niov = 2;
}

/* Sends MORE's answer: up to want bytes of the body in BODY frames, each written from the
 * data as read from the client, or (flag RING) copied into the ring and announced by RBODY
 * frames. The first read waits for the client unless the daemon asked ahead; the exchange
 * goes on while frames are full and more is wanted, so the daemon reads one while the next
 * is read from the client. -1 (errno set) when the answer could not be written, or the
 * daemon asked for the ring without having shared one or for more than it holds. */
static int answer_more(response *x, uint32_t want, int flags)
{
    int first = 1, ring = (flags & PYHOST_FL_RING) != 0;
    apr_size_t most = ring ? RING_FRAME : PYHOST_BODY_FRAME;
    if (ring && (!x->c->ring || want > PYHOST_IN_RING_SIZE)) {
        errno = EPROTO;
        return -1;
    }
    for (;;) {
        struct iovec iov[BODY_IOV];
        char span[12];
        pyhost_frame f = {ring ? PYHOST_F_RBODY : PYHOST_F_BODY, 0, 0, 0};
        apr_size_t n = want > most ? most : want, got = 0;
        int niov = 1, eos = 1, more, err;
        if (!x->body_done) {
            apr_status_t rv =
                body_gather(x, n, first && !(flags & PYHOST_FL_AHEAD), iov, &niov, &got, &eos);
            if (rv != APR_SUCCESS) {
                eos = 1;
                ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, x->r,
                              "reading the request body from the client failed; the application "
                              "sees it end here");
            }
        }
        want -= (uint32_t)got;
        more = !eos && want && got && (got == n || niov == BODY_IOV);
        f.flags = (uint8_t)(eos ? PYHOST_FL_EOF : more ? 0 : PYHOST_FL_PAUSE);
        x->body_done |= eos;
        if (ring) {
            ring_body(x->c, iov, &niov, got, span);
        }
        f.len = ring ? 12 : (uint32_t)got;
        iov[0].iov_base = &f;
        iov[0].iov_len = sizeof(f);
        err = pyhost_sendv(x->c->fd, iov, niov, -1);
        apr_brigade_cleanup(x->sent);
        if (err || !more) {
            errno = err;
            return err ? -1 : 0;
        }
        first = 0;
    }
}

/* The daemon's HELLO: its pid, and from now on the wait for a response is socket-timeout's. */
static void take_hello(response *x, const pyhost_frame *f)
{
    int32_t pid = 0;
    if (f->len >= 8) {
        memcpy(&pid, pyhost_reader_payload(&x->c->rd) + 4, 4);
    }
    x->c->pid = pid;
    set_timeout(x->c->fd, SO_RCVTIMEO, x->g->socket_timeout);
}

/* Reads the daemon's frames to the end of the exchange. */
static hop_outcome relay(response *x)
{
    request_rec *r = x->r;
    aconn *c = x->c;
    for (;;) {
        pyhost_frame f;
        pyhost_read_result res;
        int rv;
        if (x->client_gone || flush_if_dry(x) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          "the client went away while %s sent its response", who(r, x->g, c));
            return HOP_CUT_SHORT; /* the rest is not read: closing tells the daemon */
        }
        if ((res = pyhost_read_frame(&c->rd, &f)) != PYHOST_READ_OK) {
            return read_failed(x, res);
        }
        switch (f.type) {
        case PYHOST_F_HELLO:
            take_hello(x, &f);
            pyhost_reader_skip(&c->rd, f.len);
            break;
        case PYHOST_F_GOODBYE:
            if (x->head_seen || x->body_pulled) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "%s closed the connection in a request it had begun",
                              who(r, x->g, c));
                x->status = HTTP_BAD_GATEWAY;
                return x->head_seen ? HOP_CUT_SHORT : HOP_FAIL;
            }
            return HOP_RESEND;
        case PYHOST_F_MORE: {
            uint32_t want = 0;
            if (f.len >= 4) {
                memcpy(&want, pyhost_reader_payload(&c->rd), 4);
            }
            pyhost_reader_skip(&c->rd, f.len);
            x->body_pulled = 1; /* the body is being consumed: no resending any more */
            if (answer_more(x, want, f.flags)) {
                return broken(x, errno);
            }
            break;
        }
        case PYHOST_F_REFUSE: {
            const char *why = apr_pstrmemdup(r->pool, pyhost_reader_payload(&c->rd), f.len);
            pyhost_reader_skip(&c->rd, f.len);
            x->ended = 1;
            if ((f.flags & PYHOST_FL_RETRY) && !x->body_pulled) {
                return HOP_RESEND;
            }
            ap_log_rerror(APLOG_MARK, f.aux == HTTP_INTERNAL_SERVER_ERROR ? APLOG_DEBUG : APLOG_ERR,
                          0, r, "%s refused the request: %s", who(r, x->g, c), why);
            x->status = f.aux >= 400 && f.aux < 600 ? f.aux : HTTP_INTERNAL_SERVER_ERROR;
            return HOP_DONE;
        }
        case PYHOST_F_HEAD:
            rv = apply_head(x, &f);
            pyhost_reader_skip(&c->rd, f.len);
            if (rv != OK) {
                x->status = rv;
                return HOP_FAIL;
            }
            x->head_seen = 1;
            if (!x->override) {
                x->spool = pyhost_spool_open(r, 0);
            }
            break;
        case PYHOST_F_DATA:
            if ((res = take_data(x, !x->override)) != PYHOST_READ_OK) {
                return read_failed(x, res);
            }
            break;
        case PYHOST_F_FILE: {
            int64_t span[2] = {0, 0};
            if (f.len >= sizeof(span)) {
                memcpy(span, pyhost_reader_payload(&c->rd), sizeof(span));
            }
            pyhost_reader_skip(&c->rd, f.len);
            take_file(x, span[0], span[1]);
            break;
        }
        case PYHOST_F_RING:
        case PYHOST_F_RDATA:
            rv = f.type == PYHOST_F_RING ? take_ring(x) : take_ring_data(x, &f);
            pyhost_reader_skip(&c->rd, f.len);
            if (rv < 0) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s sent a response ring frame %s",
                              who(r, x->g, c),
                              f.type == PYHOST_F_RING ? "whose memory cannot be mapped"
                                                      : "out of the ring's bounds");
                x->status = HTTP_BAD_GATEWAY;
                return x->head_seen ? HOP_CUT_SHORT : HOP_FAIL;
            }
            break;
        case PYHOST_F_END:
            pyhost_reader_skip(&c->rd, f.len);
            x->ended = 1;
            if (x->override) {
                x->status = x->override;
                return HOP_DONE;
            }
            if (f.flags & PYHOST_FL_FAILED) {
                return HOP_CUT_SHORT;
            }
            if (pyhost_answered_by_apache(r)) {
                apr_brigade_cleanup(x->bb);
                x->status = OK;
                return HOP_DONE;
            }
            if (x->spool && spool_finish(x) != APR_SUCCESS) {
                x->client_gone = 1;
                return HOP_CUT_SHORT;
            }
            pyhost_pass_last(r, x->bb);
            x->buffered = 0;
            x->status = OK;
            return HOP_DONE;
        default:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s sent an unknown frame %d",
                          who(r, x->g, c), f.type);
            x->status = HTTP_BAD_GATEWAY;
            return x->head_seen ? HOP_CUT_SHORT : HOP_FAIL;
        }
    }
}

/* ---- the hop ----------------------------------------------------------------------------- */

/* request-buffer-size: a body of known length up to that size is read whole before the
 * request goes to a daemon, so a slow uploader holds this thread but no daemon thread. Larger
 * and chunked bodies, and a client waiting for 100-continue, stream as the application reads.
 * On failure x->status is the status to answer with. */
static apr_status_t buffer_body(response *x)
{
    request_rec *r = x->r;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t len = 0;
    char *end;
    apr_status_t rv;
    if (!x->g->request_buffer_size || !cl || r->expecting_100 ||
        apr_table_get(r->headers_in, "Transfer-Encoding") ||
        apr_strtoff(&len, cl, &end, 10) != APR_SUCCESS || *end || len <= 0 ||
        len > x->g->request_buffer_size) {
        return APR_SUCCESS;
    }
    rv = pyhost_body_read(r, x->in, len, EAGER_BODY, &x->body);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                      "reading the request body from the client failed before the request was "
                      "sent to daemon group '%s'",
                      x->g->name);
        x->status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    }
    return rv;
}

/* script-user / script-group: the script and its directory belong to them and are not
 * writable by others. */
static int script_owner_ok(request_rec *r, const pyhost_route *rt)
{
    const pyhost_group *g = rt->group;
    struct stat st, dst;
    char *dir;
    if (!g->script_user_given && !g->script_group_given) {
        return 1;
    }
    dir = ap_make_dirstr_parent(r->pool, rt->script);
    if (stat(rt->script, &st) < 0 || stat(dir, &dst) < 0) {
        return 0;
    }
    if ((st.st_mode | dst.st_mode) & S_IWOTH || (st.st_mode & S_IWGRP) ||
        (g->script_user_given && (st.st_uid != g->script_uid || dst.st_uid != g->script_uid)) ||
        (g->script_group_given && (st.st_gid != g->script_gid || dst.st_gid != g->script_gid))) {
        return 0;
    }
    return 1;
}

/* Writes the request, with the secret first on a new connection. 0 or an errno value. */
static int send_request(aconn *c, const pyhost_buf *req)
{
    unsigned char hello[sizeof(pyhost_frame) + 4 + PYHOST_SECRET_LEN];
    pyhost_frame f = {PYHOST_F_HELLO, 0, 0, 4 + PYHOST_SECRET_LEN};
    uint32_t magic = PYHOST_PROTO_MAGIC;
    struct iovec iov[2];
    int n = 0, err;
    if (!c->hello_sent) {
        memcpy(hello, &f, sizeof(f));
        memcpy(hello + sizeof(f), &magic, 4);
        memcpy(hello + sizeof(f) + 4, pyhost_shm->secret, PYHOST_SECRET_LEN);
        iov[n].iov_base = hello;
        iov[n++].iov_len = sizeof(hello);
    }
    iov[n].iov_base = req->data;
    iov[n++].iov_len = req->len;
    err = pyhost_sendv(c->fd, iov, n, -1);
    if (!err) {
        c->hello_sent = 1;
    }
    return err;
}

/* response-socket-timeout: the longest a write of the response to the client may wait (a
 * client that stops reading holds this thread and, through it, a daemon thread). Returns the
 * timeout to put back, or -2 when the connection's socket is not this request's alone. */
static apr_interval_time_t client_timeout_set(request_rec *r, apr_interval_time_t t)
{
    apr_socket_t *cs = r->connection->master ? NULL : ap_get_conn_socket(r->connection);
    apr_interval_time_t old = -2;
    if (cs && apr_socket_timeout_get(cs, &old) == APR_SUCCESS) {
        apr_socket_timeout_set(cs, t);
        return old;
    }
    return -2;
}

static void client_timeout_restore(request_rec *r, apr_interval_time_t old)
{
    if (old != -2) {
        apr_socket_timeout_set(ap_get_conn_socket(r->connection), old);
    }
}

/* Sends the request (on a kept connection, or a new one) and relays the response: one
 * exchange. The connection is released (kept or closed) before it returns. */
static hop_outcome exchange(response *x)
{
    aconn *c = x->c;
    hop_outcome o;
    apr_interval_time_t old;
    x->ended = x->head_seen = x->body_pulled = 0;
    if (send_request(c, &tls.out)) {
        o = HOP_RESEND; /* a kept connection the daemon has closed: try a new one */
    }
    else {
        old = client_timeout_set(x->r, x->g->response_socket_timeout);
        o = relay(x);
        client_timeout_restore(x->r, old);
    }
    conn_release(c, x, o);
    return o;
}

int pyhost_daemon_hop(pyhost_route *rt)
{
    request_rec *r = rt->r;
    const pyhost_group *g = rt->group;
    aconn *c;
    response x;
    hop_outcome outcome;
    apr_time_t until = apr_time_now() + g->connect_timeout;
    apr_interval_time_t pause = RESEND_PAUSE_FIRST;

    if (!pyhost_shm || !g->socket_path) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "daemon group '%s' is not running in this server", g->name);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (g->unavailable) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "daemon group '%s' was not started: %s", g->name,
                      g->unavailable);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (!script_owner_ok(r, rt)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: refused by script-user/script-group of daemon group '%s' (owner, "
                      "group or write permission do not match)",
                      rt->script, g->name);
        return HTTP_FORBIDDEN;
    }
    c = conn_of(g);
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.g = g;
    x.c = c;
    x.bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    x.in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    x.sent = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (buffer_body(&x) != APR_SUCCESS) {
        return x.status;
    }
    build_request(rt, &tls.out, x.in, x.body, &x.body_done);

    /* A process that is stopping hands the request back (GOODBYE, or REFUSE with RETRY);
     * it is sent again, to another process or the replacement, within connect-timeout. */
    for (;;) {
        int err;
        if (c->fd < 0) {
            err = conn_open(c, g);
            if (err == ESTALE) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "daemon group '%s' of this Apache process's configuration has "
                              "stopped: Apache was restarted and this process, of the previous "
                              "generation, took the request as it was finishing",
                              g->name);
                return HTTP_SERVICE_UNAVAILABLE;
            }
            if (err) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "no process of daemon group '%s' accepted a connection within "
                              "connect-timeout (%ld seconds): %s",
                              g->name, (long)apr_time_sec(g->connect_timeout), strerror(err));
                return HTTP_SERVICE_UNAVAILABLE;
            }
        }
        outcome = exchange(&x);
        if (pyhost_answered_by_apache(r)) {
            return OK; /* Apache answered a request body it refused (400, 413): nothing follows */
        }
        switch (outcome) {
        case HOP_DONE:
        case HOP_FAIL:
            return x.status;
        case HOP_CUT_SHORT:
            if (!x.client_gone) {
                if (x.spool) {
                    spool_finish(&x);
                }
                pass(&x, 1); /* what came before the cut is the client's, as in embedded mode */
            }
            pyhost_cut_short(r, x.bb);
            return OK;
        case HOP_RESEND:
            break;
        }
        if (apr_time_now() >= until) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "no process of daemon group '%s' took the request within "
                          "connect-timeout (%ld seconds): they were all stopping",
                          g->name, (long)apr_time_sec(g->connect_timeout));
            return HTTP_SERVICE_UNAVAILABLE;
        }
        apr_sleep(pause);
        pause = pause * 2 > RESEND_PAUSE_MAX ? RESEND_PAUSE_MAX : pause * 2;
    }
}
