/* child/spool.c: what Apache's child holds for a client that reads slower than the application
 * writes, in both modes, and request bodies read whole before the hop to a daemon.
 *
 * Apache 2.4's core output filter makes the handler's thread wait for the client only on a
 * FLUSH, or when more than FlushMaxThreshold bytes of memory buckets are waiting; file buckets
 * of a sendfile-enabled file do not count, and the event MPM sends what is left after the
 * handler returns (write completion) without holding a thread. So a response is passed in
 * memory while the client keeps up, and what the client has not taken goes to a spool (an
 * anonymous memory file up to WSGIResponseBufferMemory, then an unlinked temporary file in
 * WSGIBufferDirectory within WSGIBufferDiskLimit per process) and is passed as file buckets:
 * the application's thread is free as soon as it has written its last block, and Apache's as
 * soon as the handler returns. The spool's descriptors belong to the request's pool, which
 * lives until the last byte is written; Apache's core gets wrappers without cleanups. Data is
 * written at explicit offsets (the core reads file buckets with seek and read on a shared
 * descriptor). See ../shared/design/slow-clients.md. */
#include "child/spool.h"
#include "child/nudge.h"
#include "child/output.h"

#include "config/config.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_filter.h"
#include "apr_file_io.h"
#include "apr_portable.h"
#include "apr_strings.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

/* WSGIResponseBufferMemory's default: a few times what Apache's core keeps in memory anyway
 * (FlushMaxThreshold, 64 KB), so a response a little larger than a socket buffer never touches
 * the disk, while 200 slow readers hold 50 MB of memory at most. */
#define DEFAULT_MEMORY (256 * 1024)
/* A pause of the application longer than this while data waits for the client ends the
 * holding in embedded mode for the rest of the response (held data is sent only when the
 * application writes again, and PEP 3333 wants it sent while the application runs). Long,
 * because a generator of ready data is paused too while its thread waits for the GIL and a
 * core: with 25 threads per process making 16 MB responses for slow readers on 2 busy cores,
 * such waits reached 1.6 seconds, and a response mistaken for a stream holds its thread. Data
 * only waits for the client when the application wrote more than the socket buffers hold, which
 * an application that streams by pausing rarely does. */
#define PAUSE_LIMIT apr_time_from_sec(5)
/* How long a write waits for a client that has not taken what Apache holds before the client
 * is taken for a slow one (and what follows is held for it without waiting, until it has
 * taken everything again): a client that keeps up drains its socket in far less even on a
 * loaded machine, and a response to it is then paced by the client as without a spool, with
 * no copy to the spool; a slow reader costs the application this once. */
#define CLIENT_PATIENCE_MS 50
/* Smallest piece passed in memory: below the core's own 4 KB write threshold nothing is won. */
#define MIN_PIECE 4096

struct pyhost_spool {
    request_rec *r;
    apr_size_t piece;      /* most memory bytes passed at once: half of FlushMaxThreshold */
    apr_off_t mem_limit;   /* WSGIResponseBufferMemory */
    int mem_fd, disk_fd;   /* -1 until used */
    apr_off_t mem_used;    /* bytes written to mem_fd */
    apr_off_t disk_used;   /* bytes written to disk_fd, counted in disk_in_use */
    int producer_here;     /* embedded mode: see pyhost_spool_open */
    int waiting;           /* limits reached or a pause: each write waits for the client */
    int client_slow;       /* the client did not drain within CLIENT_PATIENCE_MS */
    apr_time_t last_write; /* when the last write returned */
    /* spooled bytes not yet given to the core (the ends of mem_fd and disk_fd): given when
     * the core has written what it had, so a slow client costs one write to the spool per
     * block and the core a few large file buckets */
    apr_off_t pend_mem, pend_disk;
    int cfd; /* the client's socket */
};

/* Bytes of temporary files this process holds, against WSGIBufferDiskLimit. */
static apr_int64_t disk_in_use;

static int reserve(apr_int64_t n)
{
    apr_int64_t now = __atomic_add_fetch(&disk_in_use, n, __ATOMIC_RELAXED);
    if (now > pyhost_g.buffer_disk_limit) {
        __atomic_sub_fetch(&disk_in_use, n, __ATOMIC_RELAXED);
        return 0;
    }
    return 1;
}

static void release(apr_int64_t n)
{
    __atomic_sub_fetch(&disk_in_use, n, __ATOMIC_RELAXED);
}

/* An unlinked temporary file in WSGIBufferDirectory (O_TMPFILE, else mkstemp and unlink):
 * nothing is left behind whatever happens to the process. -1 with errno. */
static int temp_file(request_rec *r, const char **dir_out)
{
    const char *dir = pyhost_g.buffer_directory;
    int fd;
    if (!dir && apr_temp_dir_get(&dir, r->server->process->pool) != APR_SUCCESS) {
        dir = "/tmp";
    }
    *dir_out = dir;
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char *path = apr_pstrcat(r->pool, dir, "/pyhost-XXXXXX", NULL);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0) {
            unlink(path);
        }
    }
    return fd;
}

static int pwrite_all(int fd, const char *data, apr_size_t len, apr_off_t at)
{
    while (len) {
        ssize_t n = pwrite(fd, data, len, at);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        data += n;
        len -= (apr_size_t)n;
        at += n;
    }
    return 0;
}

/* A filter that reads every bucket and passes memory: file buckets would not get past it. */
static int has_rewriting_filter(request_rec *r)
{
    ap_filter_t *f;
    for (f = r->output_filters; f; f = f->next) {
        const char *n = f->frec->name;
        if (n && (!strcasecmp(n, "deflate") || !strcasecmp(n, "brotli_compress"))) {
            return 1;
        }
    }
    return 0;
}

/* ---- responses --------------------------------------------------------------------------- */

static apr_status_t spool_cleanup(void *data)
{
    pyhost_spool *s = data;
    if (s->mem_fd >= 0) {
        close(s->mem_fd);
    }
    if (s->disk_fd >= 0) {
        close(s->disk_fd);
    }
    release(s->disk_used);
    return APR_SUCCESS;
}

pyhost_spool *pyhost_spool_open(request_rec *r, int producer_here)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    const char *xab = apr_table_get(r->headers_out, "X-Accel-Buffering");
    core_server_config *core = ap_get_core_module_config(r->connection->base_server->module_config);
    pyhost_spool *s;
    if (xab) {
        apr_table_unset(r->headers_out, "X-Accel-Buffering");
        if (!strcasecmp(xab, "no")) {
            return NULL;
        }
    }
    if (!pyhost_flag(d->response_buffering, 1) || r->header_only ||
        (r->content_type && !strncasecmp(r->content_type, "text/event-stream", 17)) ||
        !pyhost_core_filter(r->connection) || has_rewriting_filter(r)) {
        return NULL;
    }
    s = apr_pcalloc(r->pool, sizeof(*s));
    s->r = r;
    s->piece = core->flush_max_threshold / 2;
    if (s->piece < MIN_PIECE) {
        s->piece = MIN_PIECE;
    }
    s->mem_limit = d->response_buffer_memory == PYHOST_UNSET ? DEFAULT_MEMORY
                                                             : (apr_off_t)d->response_buffer_memory;
    s->mem_fd = s->disk_fd = -1;
    s->producer_here = producer_here;
    if (apr_os_sock_get(&s->cfd, ap_get_conn_socket(r->connection)) != APR_SUCCESS) {
        return NULL;
    }
    s->last_write = apr_time_now();
    apr_pool_cleanup_register(r->pool, s, spool_cleanup, apr_pool_cleanup_null);
    return s;
}

/* Gives bb to Apache's output filters, unless Apache has answered the request itself (a body
 * it refused while the application read: its 400 or 413 is out, and nothing may follow). */
static apr_status_t pass_on(pyhost_spool *s, apr_bucket_brigade *bb)
{
    apr_status_t rv;
    if (pyhost_answered_by_apache(s->r)) {
        apr_brigade_cleanup(bb);
        return APR_ECONNABORTED;
    }
    rv = ap_pass_brigade(s->r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv == APR_SUCCESS && s->r->connection->aborted ? APR_ECONNABORTED : rv;
}

/* Passes bb on, then lets the core write what it can now. */
static apr_status_t pass(pyhost_spool *s, apr_bucket_brigade *bb)
{
    conn_rec *c = s->r->connection;
    apr_size_t mem = 0;
    int file = 0;
    apr_bucket *e;
    apr_status_t rv;
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_FILE(e)) {
            file = 1;
        }
        else {
            mem += e->length;
        }
    }
    rv = pass_on(s, bb);
    if (rv == APR_SUCCESS && c->data_in_output_filters && !file && mem < MIN_PIECE) {
        pyhost_nudge(c); /* the core writes less than 4 KB of memory only when asked */
    }
    return rv;
}

static void add_file(pyhost_spool *s, apr_bucket_brigade *bb, int fd, apr_off_t at, apr_size_t len);

/* Appends file buckets of what is spooled and not yet given to the core to bb. */
static void add_pending(pyhost_spool *s, apr_bucket_brigade *bb)
{
    if (s->pend_mem) {
        add_file(s, bb, s->mem_fd, s->mem_used - s->pend_mem, (apr_size_t)s->pend_mem);
    }
    if (s->pend_disk) {
        add_file(s, bb, s->disk_fd, s->disk_used - s->pend_disk, (apr_size_t)s->pend_disk);
    }
    s->pend_mem = s->pend_disk = 0;
}

void pyhost_spool_end(pyhost_spool *s, apr_bucket_brigade *bb)
{
    add_pending(s, bb);
}

/* As without a spool: the data and a FLUSH, waiting for the client. */
static apr_status_t pass_waiting(pyhost_spool *s, apr_bucket_brigade *bb, const char *data,
                                 apr_size_t len)
{
    apr_bucket_alloc_t *ba = s->r->connection->bucket_alloc;
    add_pending(s, bb);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(data, len, ba));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(ba));
    return pass_on(s, bb);
}

/* Appends a file bucket of len bytes of fd from at to bb. */
static void add_file(pyhost_spool *s, apr_bucket_brigade *bb, int fd, apr_off_t at, apr_size_t len)
{
    request_rec *r = s->r;
    apr_file_t *f = NULL;
    apr_bucket *e;
    apr_os_file_put(&f, &fd, APR_FOPEN_READ | APR_FOPEN_SENDFILE_ENABLED, r->pool);
    e = apr_bucket_file_create(f, at, len, r->pool, r->connection->bucket_alloc);
    apr_bucket_file_enable_mmap(e, 0);
    APR_BRIGADE_INSERT_TAIL(bb, e);
}

/* Writes data to the spool (memory first, the rest to disk), to be given to the core later.
 * APR_ENOSPC past the limits, with what fitted written. */
static apr_status_t hold(pyhost_spool *s, const char **data, apr_size_t *len)
{
    request_rec *r = s->r;
    apr_size_t n = s->mem_limit - s->mem_used < (apr_off_t)*len
                       ? (apr_size_t)(s->mem_limit - s->mem_used)
                       : *len;
    apr_status_t rv = APR_SUCCESS;
    if (n && (s->mem_fd >= 0 || (s->mem_fd = memfd_create("pyhost-response", MFD_CLOEXEC)) >= 0) &&
        pwrite_all(s->mem_fd, *data, n, s->mem_used) == 0) {
        s->mem_used += (apr_off_t)n;
        s->pend_mem += (apr_off_t)n;
        *data += n;
        *len -= n;
    }
    if (*len && !reserve((apr_int64_t)*len)) {
        rv = APR_ENOSPC;
    }
    else if (*len) {
        s->disk_used += (apr_off_t)*len; /* released with the spool */
        if (s->disk_fd < 0) {
            const char *dir;
            if ((s->disk_fd = temp_file(r, &dir)) < 0) {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, errno, r,
                              "WSGIBufferDirectory %s: cannot create a temporary file; the "
                              "response waits for the client instead",
                              dir);
                rv = APR_ENOSPC;
            }
        }
        if (rv == APR_SUCCESS &&
            pwrite_all(s->disk_fd, *data, *len, s->disk_used - (apr_off_t)*len) < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, errno, r,
                          "writing the response's temporary file failed; the response waits "
                          "for the client instead");
            rv = APR_ENOSPC;
        }
        if (rv == APR_SUCCESS) {
            s->pend_disk += (apr_off_t)*len;
            *data += *len;
            *len = 0;
        }
    }
    return rv;
}

/* Lets the client take what the core holds, for as long as it keeps taking it (each wait at
 * most CLIENT_PATIENCE_MS). 1 when all of it is written, 0 for a slow client. */
static int drained(pyhost_spool *s)
{
    conn_rec *c = s->r->connection;
    while (c->data_in_output_filters && !c->aborted) {
        struct pollfd p = {s->cfd, POLLOUT, 0};
        int n = poll(&p, 1, CLIENT_PATIENCE_MS);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            s->client_slow = 1;
            return 0;
        }
        pyhost_nudge(c);
    }
    return !c->aborted;
}

/* For a slow client, at each write: whether it is still there (a client that went away stops
 * the application, as without a spool), and the core given a chance to write if the client
 * can take more now. 0 when it has gone. */
static int client_check(pyhost_spool *s)
{
    conn_rec *c = s->r->connection;
    struct pollfd p = {s->cfd, POLLOUT, 0};
    if (poll(&p, 1, 0) > 0) {
        if (p.revents & (POLLERR | POLLHUP)) {
            c->aborted = 1;
        }
        else if (c->data_in_output_filters) {
            pyhost_nudge(c);
        }
    }
    return !c->aborted;
}

apr_status_t pyhost_spool_write(pyhost_spool *s, apr_bucket_brigade *bb, const char *data,
                                apr_size_t len)
{
    conn_rec *c = s->r->connection;
    apr_bucket_alloc_t *ba = c->bucket_alloc;
    apr_status_t rv = APR_SUCCESS;
    if (!s->waiting && s->producer_here && c->data_in_output_filters &&
        apr_time_now() - s->last_write > PAUSE_LIMIT) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, s->r,
                      "the application paused %ld ms while data waited for the client: the "
                      "rest of the response is sent as it comes, each write waiting for the "
                      "client",
                      (long)apr_time_as_msec(apr_time_now() - s->last_write));
        s->waiting = 1;
    }
    if (s->waiting) {
        rv = pass_waiting(s, bb, data, len);
    }
    else {
        if (s->client_slow && !client_check(s)) {
            s->last_write = apr_time_now();
            return APR_ECONNABORTED;
        }
        if ((s->pend_mem || s->pend_disk) && !c->data_in_output_filters) {
            add_pending(s, bb); /* the core has written what it had: more for it */
            rv = pass(s, bb);
        }
        if (s->client_slow && !c->data_in_output_filters) {
            s->client_slow = 0; /* it took everything: not so slow after all */
        }
        while (len && rv == APR_SUCCESS &&
               (!c->data_in_output_filters || (!s->client_slow && drained(s)))) {
            apr_size_t n = len < s->piece ? len : s->piece;
            add_pending(s, bb);
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(data, n, ba));
            rv = pass(s, bb);
            data += n;
            len -= n;
        }
        if (rv == APR_SUCCESS && c->aborted) {
            rv = APR_ECONNABORTED; /* found while waiting for the client to drain */
        }
        if (len && rv == APR_SUCCESS && (rv = hold(s, &data, &len)) == APR_ENOSPC) {
            s->waiting = 1;
            rv = pass_waiting(s, bb, data, len);
        }
    }
    s->last_write = apr_time_now();
    return rv;
}

apr_size_t pyhost_spool_piece(const pyhost_spool *s)
{
    return s->piece;
}

apr_status_t pyhost_spool_pass(pyhost_spool *s, apr_bucket_brigade *bb)
{
    conn_rec *c = s->r->connection;
    apr_status_t rv = APR_SUCCESS;
    apr_bucket_brigade *one;
    if (!s->waiting && (!c->data_in_output_filters || (!s->client_slow && drained(s)))) {
        apr_bucket_brigade *first = apr_brigade_create(s->r->pool, c->bucket_alloc);
        add_pending(s, first);
        APR_BRIGADE_PREPEND(bb, first);
        apr_brigade_destroy(first);
        s->last_write = apr_time_now();
        return pass(s, bb);
    }
    one = apr_brigade_create(s->r->pool, c->bucket_alloc);
    while (!APR_BRIGADE_EMPTY(bb) && rv == APR_SUCCESS) {
        apr_bucket *e = APR_BRIGADE_FIRST(bb);
        const char *data;
        apr_size_t len;
        if ((rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ)) == APR_SUCCESS && len) {
            rv = pyhost_spool_write(s, one, data, len);
        }
        apr_bucket_delete(e);
    }
    apr_brigade_cleanup(bb);
    apr_brigade_destroy(one);
    return rv;
}

apr_status_t pyhost_spool_wait(pyhost_spool *s, int fd, apr_interval_time_t timeout)
{
    conn_rec *c = s->r->connection;
    apr_time_t until = timeout >= 0 ? apr_time_now() + timeout : 0;
    while ((c->data_in_output_filters || s->pend_mem || s->pend_disk) && !c->aborted) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {s->cfd, POLLOUT, 0}};
        int ms = -1, n;
        if (!c->data_in_output_filters) {
            apr_bucket_brigade *bb = apr_brigade_create(s->r->pool, c->bucket_alloc);
            add_pending(s, bb); /* the core has written what it had: more for it */
            pass(s, bb);
            apr_brigade_destroy(bb);
            continue;
        }
        if (until) {
            apr_time_t left = until - apr_time_now();
            if (left <= 0) {
                break;
            }
            ms = (int)apr_time_as_msec(left) + 1;
        }
        n = poll(p, 2, ms);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (p[1].revents) {
            pyhost_nudge(c);
        }
        if (p[0].revents) {
            break;
        }
    }
    return c->aborted ? APR_ECONNABORTED : APR_SUCCESS;
}

/* ---- request bodies ---------------------------------------------------------------------- */

struct pyhost_body {
    char *mem;
    apr_size_t mem_len;
    int fd;
    apr_off_t file_len;
    apr_off_t reserved;
    apr_off_t taken;
};

static apr_status_t body_cleanup(void *data)
{
    pyhost_body *b = data;
    if (b->fd >= 0) {
        close(b->fd);
    }
    release(b->reserved);
    return APR_SUCCESS;
}

/* Adds len bytes read from the client to the body. */
static apr_status_t body_add(request_rec *r, pyhost_body *b, apr_size_t mem, const char *data,
                             apr_size_t len)
{
    apr_size_t n = mem - b->mem_len < len ? mem - b->mem_len : len;
    memcpy(b->mem + b->mem_len, data, n);
    b->mem_len += n;
    data += n;
    len -= n;
    if (!len) {
        return APR_SUCCESS;
    }
    if (b->file_len + (apr_off_t)len > b->reserved) {
        return APR_EGENERAL; /* more than Content-Length: the input filters prevent it */
    }
    if (b->fd < 0) {
        const char *dir;
        if ((b->fd = temp_file(r, &dir)) < 0) {
            apr_status_t rv = APR_FROM_OS_ERROR(errno);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                          "WSGIBufferDirectory %s: cannot create a temporary file for the "
                          "request body",
                          dir);
            return rv;
        }
    }
    if (pwrite_all(b->fd, data, len, b->file_len) < 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "writing the request body's temporary file failed");
        return rv;
    }
    b->file_len += (apr_off_t)len;
    return APR_SUCCESS;
}

apr_status_t pyhost_body_read(request_rec *r, apr_bucket_brigade *bb, apr_off_t len, apr_size_t mem,
                              pyhost_body **out)
{
    pyhost_body *b;
    apr_off_t file_part = len > (apr_off_t)mem ? len - (apr_off_t)mem : 0;
    int eos = 0;
    *out = NULL;
    if (file_part && !reserve(file_part)) {
        return APR_SUCCESS;
    }
    b = apr_pcalloc(r->pool, sizeof(*b));
    b->fd = -1;
    b->reserved = file_part;
    b->mem = apr_palloc(r->pool, len < (apr_off_t)mem ? (apr_size_t)len + 1 : mem);
    if (len < (apr_off_t)mem) {
        mem = (apr_size_t)len;
    }
    apr_pool_cleanup_register(r->pool, b, body_cleanup, apr_pool_cleanup_null);
    while (!eos) {
        apr_bucket *e;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                                         HUGE_STRING_LEN * 8);
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return rv;
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb) && !eos;
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t n;
            if (APR_BUCKET_IS_EOS(e)) {
                eos = 1;
            }
            else if ((rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ)) != APR_SUCCESS ||
                     (rv = body_add(r, b, mem, data, n)) != APR_SUCCESS) {
                apr_brigade_cleanup(bb);
                return rv;
            }
        }
        apr_brigade_cleanup(bb);
    }
    *out = b;
    return APR_SUCCESS;
}

apr_size_t pyhost_body_take(pyhost_body *b, char *dst, apr_size_t n)
{
    apr_size_t got = 0;
    if ((apr_size_t)b->taken < b->mem_len) {
        got = b->mem_len - (apr_size_t)b->taken < n ? b->mem_len - (apr_size_t)b->taken : n;
        memcpy(dst, b->mem + b->taken, got);
        b->taken += (apr_off_t)got;
    }
    while (got < n && b->fd >= 0) {
        apr_off_t at = b->taken - (apr_off_t)b->mem_len;
        ssize_t r;
        if (at >= b->file_len) {
            break;
        }
        r = pread(b->fd, dst + got,
                  n - got < (apr_size_t)(b->file_len - at) ? n - got
                                                           : (apr_size_t)(b->file_len - at),
                  at);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break; /* the application sees the body end here */
        }
        got += (apr_size_t)r;
        b->taken += r;
    }
    return got;
}
