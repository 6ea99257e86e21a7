/* child/route.c: the names a route is given.
 *
 * Owns SCRIPT_NAME (the URI without its path info, runs of slashes folded) and the expansion
 * of group names (%{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST}, %{ENV:name}), which the router
 * (child/router.c) and the Python hooks (child/pyhooks.c) both use. */
#include "child/route.h"

#include "http_core.h"
#include "http_protocol.h"
#include "util_script.h"
#include "apr_strings.h"

/* ---- group names ------------------------------------------------------------------------- */

static const char *host_and_port(request_rec *r, const char *host)
{
    apr_port_t port = ap_get_server_port(r);
    if (port == 80 || port == 443) {
        return host;
    }
    return apr_psprintf(r->pool, "%s:%u", host, (unsigned)port);
}

const char *pyhost_expand_group(request_rec *r, const char *name, const char *script_name)
{
    int depth;
    for (depth = 0; depth < 8; depth++) {
        if (name[0] != '%' || name[1] != '{') {
            return name;
        }
        if (!strcmp(name, "%{GLOBAL}")) {
            return "";
        }
        if (!strcmp(name, "%{SERVER}")) {
            return host_and_port(r, r->server->server_hostname);
        }
        if (!strcmp(name, "%{HOST}")) {
            return host_and_port(r, r->hostname ? r->hostname : r->server->server_hostname);
        }
        if (!strcmp(name, "%{RESOURCE}")) {
            const char *sn = script_name;
            if (!pyhost_g.case_sensitivity) {
                char *lower = apr_pstrdup(r->pool, sn);
                ap_str_tolower(lower);
                sn = lower;
            }
            return apr_pstrcat(r->pool, host_and_port(r, r->server->server_hostname), "|", sn,
                               NULL);
        }
        if (!strncmp(name, "%{ENV:", 6)) {
            apr_size_t len = strlen(name);
            const char *var = apr_pstrmemdup(r->pool, name + 6, len - 7), *value;
            value = apr_table_get(r->notes, var);
            if (!value) {
                value = apr_table_get(r->subprocess_env, var);
            }
            if (!value) {
                value = getenv(var);
            }
            if (!value) {
                return name;
            }
            if (value[0] == '%' && !strncmp(value, "%{ENV:", 6)) {
                return value; /* no chains of indirection */
            }
            name = value;
            continue;
        }
        return name;
    }
    return name;
}

/* ---- SCRIPT_NAME ------------------------------------------------------------------------- */

const char *pyhost_script_name(request_rec *r)
{
    int len = r->path_info && *r->path_info ? ap_find_path_info(r->uri, r->path_info)
                                            : (int)strlen(r->uri);
    char *out = apr_palloc(r->pool, (apr_size_t)len + 1), *o = out;
    int i;
    for (i = 0; i < len; i++) {
        if (r->uri[i] == '/' && o > out && o[-1] == '/') {
            continue;
        }
        *o++ = r->uri[i];
    }
    *o = '\0';
    return out;
}
