/* child/embedded.c: running an application inside Apache's child process.
 *
 * Owns the pyhost_io of embedded mode: the request body from Apache's input filters, the
 * response through its output filters (a transient bucket per block, a flush where the
 * application wants one, file buckets for wsgi.file_wrapper; through child/spool.c when the
 * client reads slower than the application writes), and the cut-short response that lets the
 * client tell a body is incomplete. */
#include "child/embedded.h"

#include "child/output.h"
#include "child/environ.h"
#include "child/spool.h"
#include "python/runtime.h"
#include "python/wsgi.h"
#include "shared/stats.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"

#include <errno.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

/* A last block up to this size that is the whole response is passed with the end at once (a
 * hello-world costs no more than before); Apache's core keeps 64 KB in memory anyway. */
#define SMALL_LAST 32768

typedef struct {
    pyhost_io io;
    request_rec *r;
    apr_bucket_brigade *in;
    apr_bucket_brigade *out;
    int eos;
    pyhost_spool *spool; /* what the client has not taken yet (child/spool.c) */
    int spool_asked;     /* pyhost_spool_open was called */
} embedded_io;

static apr_status_t em_read(pyhost_io *io, char *buf, apr_size_t *len)
{
    embedded_io *e = (embedded_io *)io;
    apr_size_t want = *len;
    *len = 0;
    while (!e->eos && !*len) {
        apr_status_t rv;
        apr_size_t got = want;
        rv = ap_get_brigade(e->r->input_filters, e->in, AP_MODE_READBYTES, APR_BLOCK_READ,
                            (apr_off_t)want);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (!APR_BRIGADE_EMPTY(e->in) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(e->in))) {
            e->eos = 1;
        }
        rv = apr_brigade_flatten(e->in, buf, &got);
        apr_brigade_cleanup(e->in);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        *len = got;
    }
    return APR_SUCCESS;
}

static apr_status_t em_start(pyhost_io *io, int status, const char *status_line,
                             const pyhost_header *h, int n)
{
    request_rec *r = ((embedded_io *)io)->r;
    int i;
    pyhost_response_status(r, status, status_line, strlen(status_line));
    for (i = 0; i < n; i++) {
        pyhost_response_header(r, h[i].name, h[i].nlen, h[i].value, h[i].vlen);
    }
    return APR_SUCCESS;
}

/* Passes e->out; last: as the end of the response (pyhost_pass_last). */
static apr_status_t pass(embedded_io *e, int last)
{
    apr_status_t rv;
    if (pyhost_answered_by_apache(e->r)) {
        apr_brigade_cleanup(e->out);
        return APR_ECONNABORTED;
    }
    if (last) {
        rv = pyhost_pass_last(e->r, e->out);
    }
    else {
        rv = ap_pass_brigade(e->r->output_filters, e->out);
        apr_brigade_cleanup(e->out);
    }
    if (rv == APR_SUCCESS && e->r->connection->aborted) {
        rv = APR_ECONNABORTED;
    }
    return rv;
}

static apr_status_t em_write(pyhost_io *io, const char *data, apr_size_t len, int flags)
{
    embedded_io *e = (embedded_io *)io;
    apr_bucket_alloc_t *ba = e->r->connection->bucket_alloc;
    /* A whole small response goes as it is; else what the client does not take at once is
     * held for it, so this thread does not wait on the client. */
    if (!e->spool_asked && len && (!(flags & PYHOST_OUT_LAST) || len > SMALL_LAST)) {
        e->spool = pyhost_spool_open(e->r, 1);
        e->spool_asked = 1;
    }
    if (e->spool) {
        apr_status_t rv = len ? pyhost_spool_write(e->spool, e->out, data, len) : APR_SUCCESS;
        if (rv != APR_SUCCESS || !(flags & PYHOST_OUT_LAST)) {
            return rv;
        }
        pyhost_spool_end(e->spool, e->out);
        return pass(e, 1);
    }
    if (len) {
        APR_BRIGADE_INSERT_TAIL(e->out, apr_bucket_transient_create(data, len, ba));
    }
    if (flags & PYHOST_OUT_LAST) {
        return pass(e, 1);
    }
    if (flags & PYHOST_OUT_FLUSH) {
        APR_BRIGADE_INSERT_TAIL(e->out, apr_bucket_flush_create(ba));
    }
    return pass(e, 0);
}

static apr_status_t em_sendfile(pyhost_io *io, int fd, apr_off_t offset, apr_off_t len)
{
    embedded_io *e = (embedded_io *)io;
    int own;
    if (pyhost_answered_by_apache(e->r)) {
        return APR_ECONNABORTED;
    }
    own = dup(fd);
    if (own < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    pyhost_bb_file(e->r, e->out, own, offset, len);
    return pass(e, 1);
}

static void em_abort(pyhost_io *io)
{
    embedded_io *e = (embedded_io *)io;
    if (pyhost_answered_by_apache(e->r)) {
        return;
    }
    if (e->spool) {
        pyhost_spool_end(e->spool, e->out);
    }
    pyhost_cut_short(e->r, e->out);
}

static const pyhost_io_ops embedded_ops = {em_read, em_start, em_write, em_sendfile, em_abort};

static void route_pairs(void *ctx, pyhost_env_fn fn, void *fn_ctx)
{
    pyhost_environ_each(ctx, fn, fn_ctx);
}

static _Thread_local int thread_number;
static int threads_seen;

int pyhost_embedded_run(pyhost_route *rt)
{
    request_rec *r = rt->r;
    embedded_io e;
    pyhost_wsgi_call call;
    pyhost_interp *interp;
    int rv;

    if (pyhost_g.restrict_embedded) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: embedded mode is disabled (WSGIRestrictEmbedded On) and no daemon "
                      "process group was chosen",
                      rt->script);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pyhost_python_ready()) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s: Python is not initialised in this process",
                      rt->script);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    interp = pyhost_interp_get(rt->application_group);
    if (!interp) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: Python interpreter '%s' could not be created: %s", rt->script,
                      rt->application_group, pyhost_interp_failure(rt->application_group));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!thread_number) {
        thread_number = __atomic_add_fetch(&threads_seen, 1, __ATOMIC_RELAXED);
    }
    memset(&e, 0, sizeof(e));
    e.io.ops = &embedded_ops;
    e.io.head_request = r->header_only;
    e.r = r;
    e.in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    e.out = apr_brigade_create(r->pool, r->connection->bucket_alloc);

    memset(&call, 0, sizeof(call));
    call.interp = interp;
    call.script = rt->script;
    call.callable = rt->callable;
    call.mtime = rt->script_mtime;
    call.reload = rt->script_reloading;
    call.pairs = route_pairs;
    call.pairs_ctx = rt;
    call.io = &e.io;
    call.log.r = r;
    call.log.s = r->server;
    call.thread_id = thread_number;
    call.request_start = r->request_time;
    if (pyhost_flag(rt->cfg->pass_apache_request, 0)) {
        call.apache_request = r;
    }
    rv = pyhost_wsgi_run(&call);
    pyhost_stats_embedded_gil(e.io.gil_time, e.io.gil_waits);
    return rv;
}
