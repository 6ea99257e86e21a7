/* child/daemon_hop.c: the hop from an Apache child to a daemon process.
 *
 * Owns the connections each Apache thread keeps to each daemon group (made on first use,
 * reused for every later request, made again when the daemon said GOODBYE or is gone), the
 * request message (the environ and the body at hand, in one write), answering the daemon's
 * requests for more body, passing the response to the client as it arrives, and the failures
 * a daemon can cause, each with its own status and one log line naming the group, the
 * process and the cause. */
#include "shared/daemon.h"
#include "child/output.h"

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
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

#define READ_BUFFER 65536
#define EAGER_BODY  65536

/* One kept connection of one Apache thread to one daemon group. */
typedef struct {
    int fd;
    pid_t pid;      /* of the daemon that accepted it, from its HELLO */
    int hello_sent; /* the secret went with the first request */
    pyhost_buf in;  /* what was read and not yet used, from in.data + pos */
    apr_size_t pos;
    int passed_fd; /* a file descriptor that arrived with the data, or -1 */
} aconn;

/* What each Apache thread keeps: its connections, by group index, and its request buffer.
 * Released when the thread ends. */
typedef struct {
    aconn *conns;
    int n;
    pyhost_buf out;
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
        pyhost_buf_free(&t->conns[i].in);
    }
    free(t->conns);
    pyhost_buf_free(&t->out);
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
        aconn *v = realloc(tls.conns, sizeof(*v) * (size_t)n);
        if (!v) {
            abort();
        }
        for (i = tls.n; i < n; i++) {
            memset(&v[i], 0, sizeof(v[i]));
            v[i].fd = -1;
            v[i].passed_fd = -1;
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
    if (c->passed_fd >= 0) {
        close(c->passed_fd);
    }
    c->fd = c->passed_fd = -1;
    c->pid = 0;
    c->hello_sent = 0;
    c->pos = c->in.len = 0;
}

static void set_timeout(int fd, int which, apr_interval_time_t t)
{
    struct timeval tv;
    tv.tv_sec = (time_t)apr_time_sec(t);
    tv.tv_usec = (suseconds_t)(t % APR_USEC_PER_SEC);
    setsockopt(fd, SOL_SOCKET, which, &tv, sizeof(tv));
}

/* Connects within connect-timeout: a full backlog or a missing socket (the group restarting)
 * is tried again until then. Returns 0 or an errno value. */
/* Whether this Apache child belongs to a generation that a restart has replaced: the
 * daemon groups of its configuration have stopped and their sockets are gone. */
static int superseded(void)
{
    ap_generation_t mine = 0;
    return ap_mpm_query(AP_MPMQ_GENERATION, &mine) == APR_SUCCESS && ap_scoreboard_image &&
           ap_scoreboard_image->global->running_generation != mine;
}

static int conn_open(aconn *c, const pyhost_group *g)
{
    apr_time_t until = apr_time_now() + g->connect_timeout;
    struct sockaddr_un addr;
    int err;
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
            set_timeout(fd, SO_SNDTIMEO, g->socket_timeout);
            /* until a daemon accepts it (its HELLO), the wait is connect-timeout's */
            set_timeout(fd, SO_RCVTIMEO,
                        g->connect_timeout ? g->connect_timeout : g->socket_timeout);
            c->fd = fd;
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
        apr_sleep(apr_time_from_msec(20));
    }
}

/* ---- reading the daemon's frames --------------------------------------------------------- */

/* Makes n bytes available at c->in.data + c->pos. 0, or -1 with errno (0 at the end of the
 * stream). */
static int need(aconn *c, apr_size_t n)
{
    while (c->in.len - c->pos < n) {
        apr_ssize_t r;
        if (c->pos) {
            memmove(c->in.data, c->in.data + c->pos, c->in.len - c->pos);
            c->in.len -= c->pos;
            c->pos = 0;
        }
        pyhost_buf_reserve(&c->in, n > READ_BUFFER ? n : READ_BUFFER);
        r = pyhost_recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, &c->passed_fd);
        if (r <= 0) {
            if (r == 0) {
                errno = 0;
            }
            return -1;
        }
        c->in.len += (apr_size_t)r;
    }
    return 0;
}

#define MAX_FRAME (16 * 1024 * 1024)

static int next_frame(aconn *c, pyhost_frame *f)
{
    if (need(c, sizeof(*f)) < 0) {
        return -1;
    }
    memcpy(f, c->in.data + c->pos, sizeof(*f));
    c->pos += sizeof(*f);
    if (f->type != PYHOST_F_DATA && f->len > MAX_FRAME) {
        errno = EPROTO;
        return -1;
    }
    return 0;
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

/* Appends BODY frames with up to max bytes of the body, then the frame that ends the
 * exchange: EOF when the body is complete, PAUSE otherwise. block: wait for the client. */
static apr_status_t add_body(request_rec *r, apr_bucket_brigade *bb, pyhost_buf *out,
                             apr_size_t max, int block)
{
    apr_size_t at = pyhost_frame_begin(out, PYHOST_F_BODY, 0, 0), got = 0;
    int eos = 0;
    apr_status_t rv = APR_SUCCESS;
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
    out->data[at + 1] = (char)(rv != APR_SUCCESS ? PYHOST_FL_EOF
                               : eos             ? PYHOST_FL_EOF
                                                 : PYHOST_FL_PAUSE);
    pyhost_frame_end(out, at);
    return rv;
}

static void build_request(pyhost_route *rt, pyhost_buf *out, apr_bucket_brigade *bb)
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
            add_body(r, bb, out, EAGER_BODY, 0);
        }
    }
}

/* ---- failures ---------------------------------------------------------------------------- */

static const char *who(request_rec *r, const pyhost_group *g, const aconn *c)
{
    return c->pid ? apr_psprintf(r->pool, "daemon process %ld of group '%s'", (long)c->pid, g->name)
                  : apr_psprintf(r->pool, "daemon group '%s'", g->name);
}

/* The stream ended or failed before the response was complete. */
static int broken(request_rec *r, const pyhost_group *g, aconn *c, int head_seen, int err)
{
    int status;
    const char *cause;
    if ((err == EAGAIN || err == EWOULDBLOCK) && !c->pid) {
        status = HTTP_SERVICE_UNAVAILABLE;
        cause = apr_psprintf(r->pool,
                             "no process of daemon group '%s' accepted the connection within "
                             "connect-timeout (%ld seconds)",
                             g->name, (long)apr_time_sec(g->connect_timeout));
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s", cause);
        conn_drop(c);
        return status;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
        status = HTTP_GATEWAY_TIME_OUT;
        cause = apr_psprintf(r->pool, "socket-timeout of %ld seconds passed waiting for %s",
                             (long)apr_time_sec(g->socket_timeout),
                             head_seen ? "the rest of the response" : "the response");
    }
    else {
        const char *death = pyhost_daemon_death(r->pool, c->pid, apr_time_from_sec(2));
        status = HTTP_BAD_GATEWAY;
        cause = death ? apr_psprintf(r->pool, "died while handling the request: %s", death)
                : err ? apr_psprintf(r->pool, "connection failed while handling the request: %s",
                                     strerror(err))
                      : "closed the connection while handling the request";
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s %s%s", who(r, g, c), cause,
                  head_seen ? "; the response was cut short" : "");
    conn_drop(c);
    return head_seen ? -status : status;
}

/* ---- the response ------------------------------------------------------------------------ */

typedef struct {
    request_rec *r;
    const pyhost_group *g;
    aconn *c;
    apr_bucket_brigade *bb; /* response data not yet passed */
    apr_bucket_brigade *in; /* for reading the request body */
    apr_size_t buffered;
    int head_seen;
    int override; /* WSGIErrorOverride: Apache makes the error page */
} response;

static apr_status_t pass(response *x, int flush)
{
    apr_status_t rv;
    if (pyhost_answered_by_apache(x->r)) { /* a body Apache refused: its 400 or 413 is out */
        apr_brigade_cleanup(x->bb);
        x->buffered = 0;
        return APR_SUCCESS;
    }
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_flush_create(x->r->connection->bucket_alloc));
    }
    rv = ap_pass_brigade(x->r->output_filters, x->bb);
    apr_brigade_cleanup(x->bb);
    x->buffered = 0;
    return rv;
}

static void abort_client(response *x)
{
    if (pyhost_answered_by_apache(x->r)) {
        apr_brigade_cleanup(x->bb);
        return;
    }
    pyhost_cut_short(x->r, x->bb);
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

/* Applies a HEAD frame of len bytes (in the read buffer). Returns OK or an HTTP status. */
static int apply_head(response *x, const pyhost_frame *f)
{
    request_rec *r = x->r;
    const char *p = x->c->in.data + x->c->pos, *end = p + f->len;
    uint32_t n, sl, i;
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    if (read_u32(&p, end, &n) < 0 || read_u32(&p, end, &sl) < 0 || (uint32_t)(end - p) < sl) {
        return HTTP_BAD_GATEWAY;
    }
    if (f->aux >= 400 && pyhost_flag(d->error_override, 0)) {
        x->override = f->aux;
        return OK;
    }
    r->status = f->aux;
    r->status_line = apr_pstrmemdup(r->pool, p, sl);
    p += sl;
    for (i = 0; i < n; i++) {
        uint32_t nl, vl;
        const char *name, *value;
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
        name = apr_pstrmemdup(r->pool, p, nl);
        value = apr_pstrmemdup(r->pool, p + nl, vl);
        p += nl + vl;
        if (!strcasecmp(name, "Content-Type")) {
            ap_set_content_type(r, value);
        }
        else if (!strcasecmp(name, "Content-Length")) {
            apr_table_setn(r->headers_out, "Content-Length", value);
        }
        else if (!strcasecmp(name, "WWW-Authenticate")) {
            apr_table_addn(r->err_headers_out, name, value);
        }
        else {
            apr_table_addn(r->headers_out, name, value);
        }
    }
    return OK;
}

/* Moves len payload bytes of a DATA frame to the client side. -1 with errno on a read
 * failure. */
static int take_data(response *x, apr_size_t len, int keep)
{
    aconn *c = x->c;
    apr_bucket_alloc_t *ba = x->r->connection->bucket_alloc;
    while (len) {
        apr_size_t n;
        if (c->pos == c->in.len && need(c, 1) < 0) {
            return -1;
        }
        n = c->in.len - c->pos;
        if (n > len) {
            n = len;
        }
        if (keep) {
            APR_BRIGADE_INSERT_TAIL(x->bb,
                                    apr_bucket_heap_create(c->in.data + c->pos, n, NULL, ba));
            x->buffered += n;
        }
        c->pos += n;
        len -= n;
        if (keep && x->buffered >= (apr_size_t)x->g->response_buffer_size) {
            pass(x, 0);
        }
    }
    return 0;
}

static void take_file(response *x, int64_t offset, int64_t len)
{
    int fd = x->c->passed_fd;
    x->c->passed_fd = -1;
    if (fd >= 0) {
        pyhost_bb_file(x->r, x->bb, fd, offset, x->override ? 0 : len, 1);
    }
}

/* Sends MORE's answer: up to want bytes of the body, read from the client. */
static int answer_more(response *x, uint32_t want)
{
    pyhost_buf out = {NULL, 0, 0};
    struct iovec iov;
    int err;
    apr_status_t rv = add_body(x->r, x->in, &out, want, 1);
    if (rv != APR_SUCCESS) {
        out.data[1] = (char)PYHOST_FL_EOF;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, x->r,
                      "reading the request body from the client failed; the application sees "
                      "it end here");
    }
    iov.iov_base = out.data;
    iov.iov_len = out.len;
    err = pyhost_sendv(x->c->fd, &iov, 1, -1);
    pyhost_buf_free(&out);
    return err;
}

/* Reads frames to the end of the response. Returns the handler's result. */
static int relay(response *x, int *retry)
{
    request_rec *r = x->r;
    aconn *c = x->c;
    for (;;) {
        pyhost_frame f;
        int rv;
        if (next_frame(c, &f) < 0 || (f.len && f.type != PYHOST_F_DATA && need(c, f.len) < 0)) {
            rv = broken(r, x->g, c, x->head_seen, errno);
            if (rv < 0) {
                abort_client(x);
                return OK;
            }
            return rv;
        }
        switch (f.type) {
        case PYHOST_F_HELLO: {
            int32_t pid = 0;
            if (f.len >= 8) {
                memcpy(&pid, c->in.data + c->pos + 4, 4);
            }
            c->pid = pid;
            c->pos += f.len;
            set_timeout(c->fd, SO_RCVTIMEO, x->g->socket_timeout);
            break;
        }
        case PYHOST_F_GOODBYE:
            conn_drop(c);
            if (x->head_seen) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "daemon group '%s' closed the connection in a response", x->g->name);
                abort_client(x);
                return OK;
            }
            *retry = 1;
            return OK;
        case PYHOST_F_MORE: {
            uint32_t want = 0;
            if (f.len >= 4) {
                memcpy(&want, c->in.data + c->pos, 4);
            }
            c->pos += f.len;
            *retry = -1; /* the body is being consumed: no resending any more */
            if (answer_more(x, want)) {
                rv = broken(r, x->g, c, x->head_seen, errno);
                if (rv < 0) {
                    abort_client(x);
                    return OK;
                }
                return rv;
            }
            break;
        }
        case PYHOST_F_REFUSE: {
            const char *why = apr_pstrmemdup(r->pool, c->in.data + c->pos, f.len);
            c->pos += f.len;
            if ((f.flags & PYHOST_FL_RETRY) && *retry == 0) {
                conn_drop(c);
                *retry = 1;
                return OK;
            }
            ap_log_rerror(APLOG_MARK, f.aux == HTTP_INTERNAL_SERVER_ERROR ? APLOG_DEBUG : APLOG_ERR,
                          0, r, "%s refused the request: %s", who(r, x->g, c), why);
            return f.aux >= 400 && f.aux < 600 ? f.aux : HTTP_INTERNAL_SERVER_ERROR;
        }
        case PYHOST_F_HEAD:
            rv = apply_head(x, &f);
            if (rv != OK) {
                conn_drop(c);
                return rv;
            }
            c->pos += f.len;
            x->head_seen = 1;
            break;
        case PYHOST_F_DATA:
            if (take_data(x, f.len, !x->override) < 0) {
                broken(r, x->g, c, x->head_seen, errno);
                abort_client(x);
                return OK;
            }
            if ((f.flags & PYHOST_FL_FLUSH) && !x->override && pass(x, 1) != APR_SUCCESS) {
                conn_drop(c); /* the client left; the daemon's rest cannot be read in step */
                return OK;
            }
            break;
        case PYHOST_F_FILE: {
            int64_t span[2] = {0, 0};
            if (f.len >= sizeof(span)) {
                memcpy(span, c->in.data + c->pos, sizeof(span));
            }
            c->pos += f.len;
            take_file(x, span[0], span[1]);
            break;
        }
        case PYHOST_F_END:
            c->pos += f.len;
            if (pyhost_answered_by_apache(r)) {
                apr_brigade_cleanup(x->bb);
                return OK;
            }
            if (x->override) {
                return x->override;
            }
            if (f.flags & PYHOST_FL_FAILED) {
                abort_client(x);
                return OK;
            }
            pyhost_pass_last(r, x->bb);
            x->buffered = 0;
            return OK;
        default:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s sent an unknown frame %d",
                          who(r, x->g, c), f.type);
            conn_drop(c);
            if (x->head_seen) {
                abort_client(x);
                return OK;
            }
            return HTTP_BAD_GATEWAY;
        }
    }
}

/* ---- the hop ----------------------------------------------------------------------------- */

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

int pyhost_daemon_hop(pyhost_route *rt)
{
    request_rec *r = rt->r;
    const pyhost_group *g = rt->group;
    aconn *c;
    response x;
    int retry = 0, rv = OK;
    apr_time_t until = apr_time_now() + g->connect_timeout;
    apr_interval_time_t pause = apr_time_from_msec(1);

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
    build_request(rt, &tls.out, x.in);

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
        if (send_request(c, &tls.out)) {
            conn_drop(c); /* a kept connection the daemon has closed: try a new one */
        }
        else {
            retry = 0;
            rv = relay(&x, &retry);
            if (retry != 1) {
                return rv;
            }
        }
        if (apr_time_now() >= until) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "no process of daemon group '%s' took the request within "
                          "connect-timeout (%ld seconds): they were all stopping",
                          g->name, (long)apr_time_sec(g->connect_timeout));
            return HTTP_SERVICE_UNAVAILABLE;
        }
        apr_sleep(pause);
        pause = pause * 2 > apr_time_from_msec(50) ? apr_time_from_msec(50) : pause * 2;
    }
}
