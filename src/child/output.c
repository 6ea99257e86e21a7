/* child/output.c: file buckets and cut-short responses, for embedded mode and the daemon hop.
 *
 * Owns the two response endings that need more than data buckets: a file handed over as a
 * descriptor (sent by Apache's core, with sendfile when allowed), and a response that cannot
 * be completed (an error bucket stops the chunking filter's last chunk, and the connection
 * closes after the request). */
#include "child/output.h"

#include "http_connection.h"
#include "http_protocol.h"
#include "util_filter.h"

#include <stdint.h>
#include <unistd.h>

static apr_status_t close_fd(void *data)
{
    close((int)(intptr_t)data);
    return APR_SUCCESS;
}

void pyhost_bb_file(request_rec *r, apr_bucket_brigade *bb, int fd, apr_off_t offset, apr_off_t len,
                    int sendfile)
{
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
    if (rv == APR_SUCCESS) {
        /* the connection's filters: the request's have seen EOS */
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
