/* mod_pyhost.c: the module record and the request path.
 *
 * Owns hook registration and the order of things: configuration is read (config/config.c), daemon
 * groups are started by Apache's parent (parent/supervise.c), Python starts in each child
 * (python/interp.c), and each request goes route -> (embedded | daemon hop) -> interpreter -> WSGI
 * adapter -> Apache output. */
#include "config/config.h"
#include "shared/daemon.h"
#include "child/daemon_hop.h"
#include "shared/stats.h"
#include "child/status.h"
#include "child/embedded.h"
#include "python/runtime.h"
#include "shared/process.h"
#include "child/pyhooks.h"
#include "child/router.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

#define PYHOST_VERSION "0.1.0"

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    pyhost_config_reset(pconf);
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    (void)ptemp;
    pyhost_process_describe_apache(s);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    pyhost_interp_options_check(s);
    ap_add_version_component(pconf, "mod_pyhost/" PYHOST_VERSION);
    ap_add_version_component(
        pconf, apr_psprintf(pconf, "Python/%d.%d", PY_MAJOR_VERSION, PY_MINOR_VERSION));
    pyhost_stats_create(pconf, s);
    return pyhost_daemons_start(pconf, s);
}

static int check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    return pyhost_daemons_check(s);
}

static apr_status_t child_exit(void *data)
{
    (void)data;
    pyhost_python_fini("shutdown_signal");
    return APR_SUCCESS;
}

/* Python starts in each child after the fork; the parent never runs Python. */
static void child_init(apr_pool_t *pchild, server_rec *s)
{
    pyhost_daemons_child_init(pchild);
    if (pyhost_g.restrict_embedded && !pyhost_g.embedded_scripts) {
        return;
    }
    if (pyhost_python_init(pchild, s) == 0) {
        pyhost_import_scripts("");
        /* A pre-cleanup: apr_pool_destroy() destroys pchild's sub pools, which hold the
         * interpreter records that pyhost_python_fini() reads, before its ordinary cleanups. */
        apr_pool_pre_cleanup_register(pchild, NULL, child_exit);
    }
}

static int handler(request_rec *r)
{
    pyhost_route rt;
    int rv = pyhost_route_request(r, &rt);
    if (rv != OK) {
        return rv;
    }
    pyhost_stats_request_begin(r, rt.group);
    rv = rt.group ? pyhost_daemon_hop(&rt) : pyhost_embedded_run(&rt);
    pyhost_stats_request_end(r, rt.group, rv);
    return rv;
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const after_alias[] = {"mod_alias.c", NULL};
    static const char *const before_userdir[] = {"mod_userdir.c", "mod_vhost_alias.c", NULL};
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(pyhost_translate_name, after_alias, before_userdir, APR_HOOK_MIDDLE);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
    pyhost_daemons_register_hooks();
    pyhost_register_pyhooks(p);
    pyhost_status_register(p);
}

/* Named "mod_wsgi.c": see config/config.h. */
module AP_MODULE_DECLARE_DATA wsgi_module = {MODULE_MAGIC_NUMBER_MAJOR,
                                             MODULE_MAGIC_NUMBER_MINOR,
                                             -1,
                                             "mod_wsgi.c",
                                             NULL,
                                             NULL,
                                             MODULE_MAGIC_COOKIE,
                                             NULL,
                                             pyhost_create_dir_cfg,
                                             pyhost_merge_dir_cfg,
                                             pyhost_create_server_cfg,
                                             pyhost_merge_server_cfg,
                                             pyhost_cmds,
                                             register_hooks,
                                             AP_MODULE_FLAG_NONE};

extern module AP_MODULE_DECLARE_DATA pyhost_module __attribute__((alias("wsgi_module")));
