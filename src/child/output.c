/* child/output.c: the response, as embedded mode and the daemon hop both give it to Apache.
 *
 * Owns the status and headers (which header goes where in the request record), a file
 * handed over as a descriptor (sent by Apache's core, with sendfile when WSGIEnableSendfile
 * allows), the end of a response (written to the client at once), and a response that
 * cannot be completed (an error bucket stops the chunking filter's last chunk, and the
 * connection closes after the request). */
#include "child/output.h"

#include "child/nudge.h"
#include "config/config.h"

#include "http_connection.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "util_filter.h"

#include <stdint.h>
#include <unistd.h>

static apr_status_t close_fd(void *data)
{
    close((int)(intptr_t)data);
    return APR_SUCCESS;
}

void pyhost_response_status(request_rec *r, int status, const char *line, apr_size_t len)
{
    r->status = status;
    r->status_line = apr_pstrmemdup(r->pool, line, len);
}

void pyhost_response_header(request_rec *r, const char *name, apr_size_t nlen, const char *value,
                            apr_size_t vlen)
{
    const char *n = apr_pstrmemdup(r->pool, name, nlen);
    const char *v = apr_pstrmemdup(r->pool, value, vlen);
    if (nlen == 12 && !strcasecmp(n, "Content-Type")) {
        ap_set_content_type(r, v);
    }
    else if (nlen == 14 && !strcasecmp(n, "Content-Length")) {
        apr_table_setn(r->headers_out, "Content-Length", v);
    }
    else if (nlen == 16 && !strcasecmp(n, "WWW-Authenticate")) {
        apr_table_addn(r->err_headers_out, n, v);
    }
    else {
        apr_table_addn(r->headers_out, n, v);
    }
}

void pyhost_bb_file(request_rec *r, apr_bucket_brigade *bb, int fd, apr_off_t offset, apr_off_t len)
{
    const pyhost_dir_cfg *d = ap_get_module_config(r->per_dir_config, &wsgi_module);
    int sendfile = pyhost_flag(d->enable_sendfile, 0);
    apr_file_t *f = NULL;
    apr_pool_cleanup_register(r->pool, (void *)(intptr_t)fd, close_fd, apr_pool_cleanup_null);
    if (len > 0) {
        apr_os_file_put(&f, &fd, APR_FOPEN_READ | (sendfile ? APR_FOPEN_SENDFILE_ENABLED : 0),
                        r->pool);
        apr_brigade_insert_file(bb, f, offset, len, r->pool);
    }
}

int pyhost_answered_by_apache(request_rec *r)
{
    return r->eos_sent;
}

apr_status_t pyhost_pass_last(request_rec *r, apr_bucket_brigade *bb)
{
    apr_status_t rv;
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    if (rv == APR_SUCCESS && !pyhost_nudge(r->connection)) {
        /* no write completion to leave the rest to: the connection's filters (the request's
         * have seen EOS) write it all now */
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(r->connection->bucket_alloc));
        rv = ap_pass_brigade(r->connection->output_filters, bb);
        apr_brigade_cleanup(bb);
    }
    return rv;
}

void pyhost_cut_short(request_rec *r, apr_bucket_brigade *bb)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    r->connection->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
}
