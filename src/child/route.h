/* child/route.h: how a request reaches an application.
 *
 * A pyhost_route is everything decided about a request before any Python runs: which script,
 * which callable, which daemon group (or embedded), which application group, and the flags
 * that shape its environ. child/router.c builds it; child/embedded.c and child/daemon_hop.c
 * consume it. child/route.c gives it its names. */
#ifndef PYHOST_ROUTE_H
#define PYHOST_ROUTE_H

#include "config/config.h"

typedef struct {
    request_rec *r;
    const pyhost_dir_cfg *cfg;
    const char *script;            /* the file whose module holds the callable */
    const char *callable;          /* name of the callable in that module */
    const char *handler_script;    /* WSGIHandlerScript path, or NULL */
    const char *script_name;       /* SCRIPT_NAME */
    const char *process_group;     /* "" for embedded mode */
    const char *application_group; /* "" for the main interpreter */
    pyhost_group *group;           /* daemon group, NULL in embedded mode */
    apr_time_t script_mtime;       /* modification time of script */
    int pass_authorization;
    int script_reloading;
    int head_as_get; /* REQUEST_METHOD is GET although the request is HEAD */
} pyhost_route;

/* SCRIPT_NAME of a request: r->uri without path_info, duplicate slashes folded. */
const char *pyhost_script_name(request_rec *r);

/* Expands a group name: %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST}, %{ENV:name}. */
const char *pyhost_expand_group(request_rec *r, const char *name, const char *script_name);

#endif
