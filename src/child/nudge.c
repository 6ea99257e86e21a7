/* child/nudge.c: Apache's core output of a connection, written without waiting.
 *
 * Owns finding the core's output filter where the MPM completes writes itself (event, not TLS,
 * not a secondary connection) and asking it to write what it holds, as the event MPM does after
 * a request: the end of a response (child/output.c) and the slow-client spool (child/spool.c)
 * both use it. */
#include "child/nudge.h"

#include "ap_mpm.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_ssl.h"
#include "util_filter.h"

static int mpm_is_async(void)
{
    static int known, async;
    if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
        int v = 0;
        ap_mpm_query(AP_MPMQ_IS_ASYNC, &v);
        async = v;
        __atomic_store_n(&known, 1, __ATOMIC_RELEASE);
    }
    return async;
}

ap_filter_t *pyhost_core_filter(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;
    if (c->master || !mpm_is_async() || ap_ssl_conn_is_ssl(c)) {
        return NULL;
    }
    while (f && f->next) {
        f = f->next;
    }
    return f && f->frec == ap_core_output_filter_handle ? f : NULL;
}

int pyhost_nudge(conn_rec *c)
{
    ap_filter_t *f = pyhost_core_filter(c);
    apr_status_t rv;
    if (!f) {
        return 0;
    }
    rv = f->frec->filter_func.out_func(f, NULL);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
        c->aborted = 1;
    }
    return 1;
}
