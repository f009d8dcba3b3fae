#include "weir_config.h"
#include "proc/config-t.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "core/log.h"
#include "http/mime.h"
#include "http/route.h"

/*
 * Warnings about a configuration that loaded: things that are legal but
 * almost certainly not what the operator meant, or that will cost
 * something at run time. They go to the error log at warn level where the
 * file is loaded: on stderr for `weir -t` and at start-up (before the
 * error log is open), in the error log on reload. They never fail the
 * load. mime.types is read here too, because its only failure is such a
 * warning.
 */

static void warn_shadowed(load_t *ld, const weir_server_conf_t *s);
static int has_var(const char *t, const char *var);
static void warn_cache_key(load_t *ld, const weir_cache_conf_t *k);
static void load_mime_types(load_t *ld);
static int any_root(const weir_config_t *cf);

void
weir_config_warn(load_t *ld)
{
    size_t i;

    for (i = 0; i < ld->cf->http.nservers; i++) {
        warn_shadowed(ld, ld->cf->http.servers[i]);
    }
    for (i = 0; i < ld->cf->ncaches; i++) {
        warn_cache_key(ld, ld->cf->caches[i]);
    }
    load_mime_types(ld);
}

/* A route that an earlier route of the same server covers never matches
 * (routes are tried in file order, the first match wins). One warning per
 * shadowed route, naming the first route that covers it. */
static void
warn_shadowed(load_t *ld, const weir_server_conf_t *s)
{
    const route_ext_t *a, *b;
    size_t             i, j;
    int                la, lb;

    for (i = 1; i < s->nroutes; i++) {
        b = (const route_ext_t *) (const void *) s->routes[i];
        for (j = 0; j < i; j++) {
            a = (const route_ext_t *) (const void *) s->routes[j];
            if (!weir_route_covers(&a->r, &b->r)) {
                continue;
            }
            la = weir_conf_key_line(&ld->conf, a, "match");
            lb = weir_conf_key_line(&ld->conf, b, "match");
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "%s:%d: [route %s] match = %s never matches: "
                           "[route %s] (%s:%d, match = %s) comes first in "
                           "[server %s] and matches every path it would; "
                           "move [route %s] above it",
                           ld->shown, lb ? lb : b->r.line, b->r.name,
                           b->match_text, a->r.name, ld->shown,
                           la ? la : a->r.line, a->match_text, s->name,
                           b->r.name);
            break;
        }
    }
}

/* Does template t use $var (the whole name: $host is not $hostx)? */
static int
has_var(const char *t, const char *var)
{
    size_t      len = strlen(var);
    const char *p = t;

    while ((p = strchr(p, '$')) != NULL) {
        p++;
        if (strncmp(p, var, len) == 0 && !isalnum((unsigned char) p[len])
            && p[len] != '_')
        {
            return 1;
        }
    }
    return 0;
}

/* A cache key without the host answers a request for one site with a
 * response stored for another that has the same path: whoever controls
 * any name pointing at weir can poison the others' entries. Legal (one
 * site behind weir is common), so a warning, not an error. $http_host
 * counts: it is the Host header itself. */
static void
warn_cache_key(load_t *ld, const weir_cache_conf_t *k)
{
    int line;

    if (has_var(k->key, "host") || has_var(k->key, "http_host")) {
        return;
    }
    line = weir_conf_key_line(&ld->conf, k, "key");
    weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                   "%s:%d: [cache %s] key = %s has no $host: requests for "
                   "different sites with the same path share one cached "
                   "response (cache poisoning); add $host unless only one "
                   "site is ever served through this cache",
                   ld->shown, line ? line : k->line, k->name, k->key);
}

static int
any_root(const weir_config_t *cf)
{
    size_t i;

    for (i = 0; i < cf->http.nroutes; i++) {
        if (cf->http.routes[i]->root != NULL) {
            return 1;
        }
    }
    return 0;
}

/*
 * mime.types matters only to routes with `root` (static files and the
 * error pages they serve), so it is read only when one exists. It is read
 * here, into the config's arena, and the workers inherit the table across
 * fork(): a file that does not load is then reported once per load, not
 * once by every worker, and a missing file stays a warning (files go out
 * as application/octet-stream).
 */
static void
load_mime_types(load_t *ld)
{
    weir_http_conf_t *h = &ld->cf->http;
    weir_mime_t      *mime = NULL;
    char              err[512];

    if (h->mime_types == NULL || !any_root(ld->cf)) {
        return;
    }
    if (weir_mime_load(h->mime_types, ld->cf->pool, &mime, err, sizeof(err))
        != WEIR_OK)
    {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "%s; serving files as application/octet-stream",
                       err);
        mime = NULL;
    }
    h->mime = mime;
}
