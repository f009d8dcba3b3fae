#include "weir_config.h"
#include "proc/config-t.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/cidr.h"
#include "core/conf.h"
#include "core/sbuf.h"
#include "core/units.h"
#include "event/listen.h"
#include "event/tls.h"
#include "http/vars.h"
#include "http/vhost.h"
#include "proc/resolve.h"

/*
 * The pass after parsing (STYLE 14): values that depend on others
 * (workers = auto, mime_types, cache paths, [admin] defaults), merges
 * from [http] into routes, and cross-references (route -> server,
 * upstream, cache; listens that cannot all be bound). Every error names
 * file:line, the section and the key.
 */

static char *dir_of(weir_pool_t *pool, const char *file);
static void check_upstream(load_t *ld, weir_upstream_conf_t *u);
static void admin_server(load_t *ld);
static int64_t msec_to_sec(weir_msec_t ms);
static void check_caches(load_t *ld);
static void check_tls_file(load_t *ld, weir_server_conf_t *s,
    const char *key, const char *path);
static void check_tls(load_t *ld, weir_server_conf_t *s,
    const weir_listen_conf_t *l);
static void check_server(load_t *ld, weir_server_conf_t *s);
static void check_route(load_t *ld, route_ext_t *x);
static void route_handler(load_t *ld, weir_route_conf_t *r);
static void route_refs(load_t *ld, weir_route_conf_t *r);
static void route_cache_vars(load_t *ld, weir_route_conf_t *r,
    const char *key, const char *t);
static void merge_error_pages(load_t *ld, weir_route_conf_t *r);
static void route_gzip(load_t *ld, weir_route_conf_t *r);
static int media_range(const char *s);
static const weir_cidr_t *route_cidrs(load_t *ld, weir_route_conf_t *r,
    const char *key, char *const *words, size_t n);
static weir_server_conf_t *route_server(load_t *ld, route_ext_t *x);
static void check_listens(load_t *ld);
static void vhost_report(void *data, const weir_server_conf_t *s, int line,
    const char *key, const char *msg);
static void xerror(load_t *ld, int line, const char *type, const char *name,
    const char *key, const char *fmt, ...) WEIR_PRINTF(6, 7);
static int line_of(load_t *ld, const void *obj, const char *key,
    int fallback);

/* ---- defaults and cross-references (STYLE 14) -------------------------- */

/* An error about a section after parsing: "file:line: [type name] key: ". */
static void
xerror(load_t *ld, int line, const char *type, const char *name,
    const char *key, const char *fmt, ...)
{
    char    label[160], msg[768];
    va_list ap;

    snprintf(label, sizeof(label), name ? "[%s %s]" : "[%s]", type, name);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    weir_conf_error_at(&ld->conf, ld->conf.file, line, label, key, "%s",
                       msg);
}

/* The line of key in obj's section, or the section's own line. */
static int
line_of(load_t *ld, const void *obj, const char *key, int fallback)
{
    int line = weir_conf_key_line(&ld->conf, obj, key);

    return line ? line : fallback;
}

int
weir_config_check(load_t *ld)
{
    weir_config_t *cf = ld->cf;
    weir_conf_t   *c = &ld->conf;
    size_t         i;
    long           ncpu;
    char          *dir;
    weir_sbuf_t    sb;

    if (cf->main.workers == 0) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        cf->main.workers = ncpu > 0 ? ncpu : 1;
    }
    if (cf->http.mime_types == NULL) {
        dir = dir_of(c->pool, cf->file);
        weir_sbuf_init_pool(&sb, c->pool, dir ? strlen(dir) + 11 : 0);
        weir_sbuf_printf(&sb, "%s/mime.types", dir ? dir : "");
        if (dir == NULL || weir_sbuf_failed(&sb)) {
            weir_conf_error(c, "out of memory");
            return WEIR_ERROR;
        }
        cf->http.mime_types = sb.data;
    }
    for (i = 0; i < cf->nupstreams; i++) {
        check_upstream(ld, cf->upstreams[i]);
    }
    check_caches(ld);
    weir_config_check_limits(ld);
    for (i = 0; i < cf->http.nservers; i++) {
        check_server(ld, cf->http.servers[i]);
    }
    for (i = 0; i < cf->http.nroutes; i++) {
        check_route(ld, (route_ext_t *) (void *) cf->http.routes[i]);
    }
    if (cf->has_admin && cf->admin.nlistens == 0) {
        weir_config_admin_listen_default(c, &cf->admin);
    }
    if (cf->has_admin && cf->admin.nallow == 0) {
        static char *loopback[] = { "127.0.0.1/32", "::1/128" };
        cf->admin.allow = loopback;
        cf->admin.nallow = 2;
    }
    check_listens(ld);
    if (c->nerrors == 0
        && weir_vhost_build(&cf->http, c->pool, vhost_report, ld)
           != WEIR_OK
        && c->nerrors == 0) {
        weir_conf_error(c, "out of memory");
    }
    if (cf->has_admin) {
        admin_server(ld);
    }
    return c->nerrors ? WEIR_ERROR : WEIR_OK;
}

/* The [admin] section as a listening server of its own kind: the master
 * opens its sockets like any other, a worker accepts on them, and every
 * path goes to the admin handler. */
static void
admin_server(load_t *ld)
{
    weir_admin_conf_t  *a = &ld->cf->admin;
    weir_pool_t        *pool = ld->conf.pool;
    weir_server_conf_t *srv;
    weir_route_conf_t  *rt, **routes;
    weir_cidr_t        *allow;
    size_t              i;

    srv = weir_pcalloc(pool, sizeof(*srv));
    rt = weir_pcalloc(pool, sizeof(*rt));
    routes = weir_pcalloc(pool, sizeof(*routes));
    allow = weir_pcalloc(pool, (a->nallow ? a->nallow : 1) * sizeof(*allow));
    if (srv == NULL || rt == NULL || routes == NULL || allow == NULL) {
        weir_conf_error(&ld->conf, "out of memory");
        return;
    }
    for (i = 0; i < a->nallow; i++) {
        if (weir_cidr_parse(a->allow[i], &allow[i]) != WEIR_OK) {
            xerror(ld, line_of(ld, a, "allow", 0), "admin", NULL, "allow",
                   "invalid address or CIDR \"%s\"", a->allow[i]);
            return;
        }
    }
    rt->name = "admin";
    rt->server = srv;
    rt->match_type = WEIR_MATCH_PREFIX;
    rt->match = "/";
    rt->match_len = 1;
    rt->handler = WEIR_ROUTE_ADMIN;
    rt->client_max_body_size = -1;
    routes[0] = rt;
    srv->name = "admin";
    srv->kind = WEIR_SERVER_ADMIN;
    {
        /* the admin pages get [http]'s security headers */
        const weir_sec_headers_t *chain[1] = { &ld->cf->http.sec };
        weir_config_security_resolve(chain, 1, srv->sec_out);
        memcpy(rt->sec_out, srv->sec_out, sizeof(rt->sec_out));
    }
    srv->listens = a->listens;
    srv->nlistens = a->nlistens;
    srv->allow = allow;
    srv->nallow = a->nallow;
    srv->routes = routes;
    srv->nroutes = 1;
    a->server = srv;
}

/* Every $name in a template (hash_key, a cache key, cache_bypass...) must
 * be a request variable: a misspelt one would be empty at run time, and a
 * cache key missing a part is a key that mixes up responses. The error
 * names obj's key (line_of(), else `line`). */
void
weir_config_check_vars(load_t *ld, const void *obj, const char *type,
    const char *name, int line, const char *key, const char *t)
{
    const char *p = t, *var;

    while ((p = strchr(p, '$')) != NULL) {
        var = ++p;
        while (isalnum((unsigned char) *p) || *p == '_') {
            p++;
        }
        if (p == var || !weir_http_vars_known(var, (size_t) (p - var))) {
            xerror(ld, line_of(ld, obj, key, line), type, name, key,
                   "unknown variable \"$%.*s\" in \"%s\" (known: "
                   "$remote_addr $host $request_uri $normalized_request_uri "
                   "$uri $args "
                   "$request_method $server_name $scheme $server_port "
                   "$ssl_protocol $ssl_cipher $ssl_server_name "
                   "$ssl_session_reused $ssl_client_verify $ssl_client_s_dn "
                   "$http_NAME $cookie_NAME $arg_NAME)", (int) (p - var),
                   var, t);
            return;
        }
    }
}

static void
check_upstream(load_t *ld, weir_upstream_conf_t *u)
{
    size_t i, primary = 0;

    for (i = 0; i < u->npeers; i++) {
        weir_peer_conf_t *p = &u->peers[i];
        if (p->max_fails < 0) {
            p->max_fails = (int) u->max_fails;
        }
        if (p->fail_timeout < 0) {
            p->fail_timeout = u->fail_timeout;
        }
        primary += !p->backup;
    }
    if (primary == 0) {
        xerror(ld, line_of(ld, u, "server", u->line), "upstream", u->name,
               "server", "%s", u->npeers
               ? "only backup servers: at least one non-backup server is "
                 "required"
               : "missing: an upstream needs at least one server");
    }
    if (u->npeers > 1024) {
        xerror(ld, line_of(ld, u, "server", u->line), "upstream", u->name,
               "server", "%zu servers: at most 1024 per upstream", u->npeers);
    }
    /* Each round forks a resolver child: 1ms would fork one every event
     * loop turn, forever. 0 (at load only) stays allowed. */
    if (u->resolve > 0 && u->resolve < WEIR_RESOLVE_MIN_MS) {
        xerror(ld, line_of(ld, u, "resolve", u->line), "upstream", u->name,
               "resolve", "%lldms is too often: 0 (at load only) or at "
               "least 1s", (long long) u->resolve);
    }
    if (u->balance == WEIR_BALANCE_HASH && u->hash_key == NULL) {
        u->hash_key = "$remote_addr";
    }
    if (u->hash_key) {
        weir_config_check_vars(ld, u, "upstream", u->name, u->line,
                               "hash_key", u->hash_key);
    }
}

/* The policy counts in seconds; a window written in milliseconds is
 * rounded up, so that a non-zero one never becomes "none". */
static int64_t
msec_to_sec(weir_msec_t ms)
{
    return ms / 1000 + (ms % 1000 != 0);
}

static void
check_caches(load_t *ld)
{
    weir_config_t     *cf = ld->cf;
    weir_cache_conf_t *k;
    size_t             i, j;
    char               rel[300];

    for (i = 0; i < cf->ncaches; i++) {
        k = cf->caches[i];
        if (k->path == NULL) {
            snprintf(rel, sizeof(rel), "cache/%s", k->name);
            k->path = weir_conf_path(&ld->conf, rel);
        }
        /* One index slot per 32k of max_size: objects much smaller than
         * that on average are rare enough to set max_objects for. The
         * clamp keeps a small cache useful and a huge one from taking
         * the whole shm segment. */
        if (k->max_objects == 0) {
            k->max_objects = weir_min(weir_max(k->max_size / KB(32),
                                               1024), 1048576);
        }
        k->rules.stale_if_error = msec_to_sec(k->stale_if_error);
        k->rules.stale_while_revalidate =
            msec_to_sec(k->stale_while_revalidate);
        weir_config_check_vars(ld, k, "cache", k->name, k->line, "key",
                               k->key);
        for (j = 0; k->path && j < i; j++) {
            if (strcmp(cf->caches[j]->path, k->path) == 0) {
                xerror(ld, line_of(ld, k, "path", k->line), "cache", k->name,
                       "path", "\"%s\" is already used by [cache %s]",
                       k->path, cf->caches[j]->name);
            }
        }
    }
}

static void
check_tls_file(load_t *ld, weir_server_conf_t *s, const char *key,
    const char *path)
{
    if (access(path, R_OK) != 0) {
        xerror(ld, line_of(ld, s, key, s->line), "server", s->name, key,
               "cannot read \"%s\": %s", path, strerror(errno));
    }
}

/* A server with a `tls` listen: certificates and keys in pairs, the
 * files readable (that they load is for the master to find out: proc/
 * config_tls.c), client verification with a CA to verify against
 * (optional_no_ca may have none). */
static void
check_tls(load_t *ld, weir_server_conf_t *s, const weir_listen_conf_t *l)
{
    size_t i;

    if (s->ntls_certificate == 0) {
        xerror(ld, s->line, "server", s->name, "tls_certificate",
               "missing (required by \"listen = %s tls\" at line %d)",
               l->text, l->line);
    }
    if (s->ntls_certificate_key != s->ntls_certificate) {
        xerror(ld, line_of(ld, s, "tls_certificate_key", s->line), "server",
               s->name, "tls_certificate_key", "%zu key(s) for %zu "
               "certificate(s): give one key per certificate, in the same "
               "order", s->ntls_certificate_key, s->ntls_certificate);
    }
    if (s->ntls_stapling_file > s->ntls_certificate) {
        xerror(ld, line_of(ld, s, "tls_stapling_file", s->line), "server",
               s->name, "tls_stapling_file", "more OCSP responses (%zu) "
               "than certificates (%zu)", s->ntls_stapling_file,
               s->ntls_certificate);
    }
    if (s->tls_protocols == 0) {
        xerror(ld, line_of(ld, s, "tls_protocols", s->line), "server",
               s->name, "tls_protocols", "off leaves no protocol: "
               "TLSv1.2, TLSv1.3 or both");
    }
    for (i = 0; i < s->ntls_certificate; i++) {
        check_tls_file(ld, s, "tls_certificate", s->tls_certificate[i]);
    }
    for (i = 0; i < s->ntls_certificate_key; i++) {
        check_tls_file(ld, s, "tls_certificate_key",
                       s->tls_certificate_key[i]);
    }
    for (i = 0; i < s->ntls_stapling_file; i++) {
        check_tls_file(ld, s, "tls_stapling_file", s->tls_stapling_file[i]);
    }
    if (s->tls_client_ca) {
        check_tls_file(ld, s, "tls_client_ca", s->tls_client_ca);
    } else if (s->tls_verify_client != WEIR_TLS_VERIFY_OFF
               && s->tls_verify_client != WEIR_TLS_VERIFY_OPTIONAL_NO_CA) {
        /* optional_no_ca leaves verification to the origin: without a
         * CA every certificate is FAILED:..., and passes. */
        xerror(ld, line_of(ld, s, "tls_verify_client", s->line), "server",
               s->name, "tls_verify_client", "needs tls_client_ca");
    }
}

static void
check_server(load_t *ld, weir_server_conf_t *s)
{
    size_t i;

    const weir_sec_headers_t *chain[2] = { &s->sec, &ld->cf->http.sec };

    weir_config_security_resolve(chain, 2, s->sec_out);
    if (s->nlistens == 0) {
        xerror(ld, s->line, "server", s->name, "listen",
               "missing: a server needs at least one listen");
        return;
    }
    for (i = 0; i < s->nlistens; i++) {
        if (s->listens[i].tls) {
            check_tls(ld, s, &s->listens[i]);
            break;
        }
    }
}

typedef struct listen_ref_s {
    const weir_listen_conf_t *l;
    const char               *type;
    const char               *name;
    const void               *owner;
} listen_ref_t;

/* Two listens that cannot both be bound are an error wherever they are:
 * within a server, across servers and against [admin]. The exception is
 * the same address written in two [server] sections: they share its
 * sockets and a request picks the server by name (http/vhost.h). An
 * address and a wildcard on the same port (127.0.0.1:80, 0.0.0.0:80) are
 * still refused: choosing a server by the local address of a connection
 * is not done. */
static void
check_listens(load_t *ld)
{
    weir_config_t *cf = ld->cf;
    listen_ref_t  *refs;
    size_t         n = 0, i, j, total = weir_config_nlistens(cf);

    refs = weir_palloc(ld->conf.pool, (total + 1) * sizeof(*refs));
    if (refs == NULL) {
        return;
    }
    for (i = 0; i < cf->http.nservers; i++) {
        weir_server_conf_t *s = cf->http.servers[i];
        for (j = 0; j < s->nlistens; j++) {
            refs[n++] = (listen_ref_t) { &s->listens[j], "server", s->name,
                                         s };
        }
    }
    for (j = 0; cf->has_admin && j < cf->admin.nlistens; j++) {
        refs[n++] = (listen_ref_t) { &cf->admin.listens[j], "admin", NULL,
                                     &cf->admin };
    }
    for (i = 1; i < n; i++) {
        for (j = 0; j < i; j++) {
            if (!weir_units_addr_conflict(&refs[i].l->addr, &refs[j].l->addr)
                || (refs[i].owner != refs[j].owner
                    && refs[i].owner != &cf->admin
                    && refs[j].owner != &cf->admin
                    && weir_sockaddr_equal(
                           (const struct sockaddr *) &refs[i].l->addr,
                           refs[i].l->addrlen,
                           (const struct sockaddr *) &refs[j].l->addr,
                           refs[j].l->addrlen)))
            {
                continue;
            }
            xerror(ld, refs[i].l->line, refs[i].type, refs[i].name, "listen",
                   "%s conflicts with %s of [%s%s%s] at line %d",
                   refs[i].l->text, refs[j].l->text, refs[j].type,
                   refs[j].name ? " " : "", refs[j].name ? refs[j].name : "",
                   refs[j].l->line);
            break;
        }
    }
}

/* A problem weir_vhost_build() found (names claimed twice on one
 * address, listen lines that must agree). */
static void
vhost_report(void *data, const weir_server_conf_t *s, int line,
    const char *key, const char *msg)
{
    xerror(data, line, "server", s->name, key, "%s", msg);
}

static weir_server_conf_t *
route_server(load_t *ld, route_ext_t *x)
{
    weir_http_conf_t *h = &ld->cf->http;
    size_t            i;

    if (x->server_name == NULL) {
        if (h->nservers == 1) {
            return h->servers[0];
        }
        if (h->nservers == 0) {
            xerror(ld, x->r.line, "route", x->r.name, "server",
                   "missing: there is no [server] section");
        } else {
            xerror(ld, x->r.line, "route", x->r.name, "server", "missing: "
                   "there are %zu [server] sections, name one with "
                   "server = NAME", h->nservers);
        }
        return NULL;
    }
    for (i = 0; i < h->nservers; i++) {
        if (strcmp(h->servers[i]->name, x->server_name) == 0) {
            return h->servers[i];
        }
    }
    xerror(ld, line_of(ld, x, "server", x->r.line), "route", x->r.name,
           "server", "unknown server \"%s\" (no [server %s] section)",
           x->server_name, x->server_name);
    return NULL;
}

static void
route_handler(load_t *ld, weir_route_conf_t *r)
{
    int         n = 0;
    char        list[64];
    weir_sbuf_t names;
    struct stat st;

    /* At most "root, return, upstream": it cannot fail, and if it did
     * the message would only name fewer keys. */
    weir_sbuf_init(&names, list, sizeof(list));
    if (r->root) {
        n++;
        r->handler = WEIR_ROUTE_STATIC;
        weir_sbuf_lit(&names, "root");
    }
    if (r->return_code) {
        n++;
        r->handler = WEIR_ROUTE_RETURN;
        weir_sbuf_append_cstr(&names, n > 1 ? ", return" : "return");
    }
    if (r->upstream_name) {
        n++;
        r->handler = WEIR_ROUTE_PROXY;
        weir_sbuf_append_cstr(&names, n > 1 ? ", upstream" : "upstream");
    }
    if (n == 0) {
        xerror(ld, r->line, "route", r->name, NULL,
               "no handler: set one of root, return or upstream");
    } else if (n > 1) {
        xerror(ld, r->line, "route", r->name, NULL,
               "several handlers (%s): set only one of root, return or "
               "upstream", list);
    }
    if (r->root) {
        const char *why = NULL;
        if (stat(r->root, &st) != 0) {
            why = strerror(errno);
        } else if (!S_ISDIR(st.st_mode)) {
            why = "not a directory";
        }
        if (why) {
            xerror(ld, line_of(ld, r, "root", r->line), "route", r->name,
                   "root", "\"%s\": %s", r->root, why);
        }
    }
}

static void
route_refs(load_t *ld, weir_route_conf_t *r)
{
    weir_config_t *cf = ld->cf;
    size_t         i;

    if (r->upstream_name) {
        for (i = 0; i < cf->nupstreams && !r->upstream; i++) {
            if (strcmp(cf->upstreams[i]->name, r->upstream_name) == 0) {
                r->upstream = cf->upstreams[i];
            }
        }
        if (r->upstream == NULL) {
            xerror(ld, line_of(ld, r, "upstream", r->line), "route", r->name,
                   "upstream", "unknown upstream \"%s\" (no [upstream %s] "
                   "section)", r->upstream_name, r->upstream_name);
        }
    }
    /* set_header values are templates (proxy_request.c): a misspelt
     * variable would send an empty header. */
    for (i = 0; i < r->nset_headers; i++) {
        if (r->set_headers[i].value) {
            weir_config_check_vars(ld, r, "route", r->name, r->line,
                                   "set_header", r->set_headers[i].value);
        }
    }
    route_cache_vars(ld, r, "cache_bypass", r->cache_bypass);
    route_cache_vars(ld, r, "no_cache", r->no_cache);
    if (r->cache_name == NULL) {
        return;
    }
    if (r->upstream_name == NULL) {
        xerror(ld, line_of(ld, r, "cache", r->line), "route", r->name,
               "cache", "requires upstream (only proxied responses are "
               "cached)");
    }
    for (i = 0; i < cf->ncaches && !r->cache; i++) {
        if (strcmp(cf->caches[i]->name, r->cache_name) == 0) {
            r->cache = cf->caches[i];
        }
    }
    if (r->cache == NULL) {
        xerror(ld, line_of(ld, r, "cache", r->line), "route", r->name,
               "cache", "unknown cache \"%s\" (no [cache %s] section)",
               r->cache_name, r->cache_name);
    }
}

/* cache_bypass and no_cache: templates whose value, when neither empty
 * nor "0", keeps the request away from the cache. Without `cache` they
 * would do nothing, which is a mistake worth stopping at. */
static void
route_cache_vars(load_t *ld, weir_route_conf_t *r, const char *key,
    const char *t)
{
    if (t == NULL) {
        return;
    }
    if (r->cache_name == NULL) {
        xerror(ld, line_of(ld, r, key, r->line), "route", r->name, key,
               "requires cache (this route has no cache = NAME)");
        return;
    }
    weir_config_check_vars(ld, r, "route", r->name, r->line, key, t);
}

static void
check_route(load_t *ld, route_ext_t *x)
{
    weir_route_conf_t  *r = &x->r;
    weir_server_conf_t *s;
    weir_route_conf_t **arr;
    static char        *index_html[] = { "index.html" };

    if (x->match_text == NULL && weir_conf_key_line(&ld->conf, x, "match")
                                 == 0)
    {
        xerror(ld, r->line, "route", r->name, "match",
               "missing (e.g. match = /, match = = /exact, match = ~ ^/re)");
    }
    route_handler(ld, r);
    route_refs(ld, r);
    if (r->client_max_body_size < 0) {
        r->client_max_body_size = ld->cf->http.client_max_body_size;
    }
    if (r->nindex == 0) {
        r->index = index_html;
        r->nindex = 1;
    }
    merge_error_pages(ld, r);
    route_gzip(ld, r);
    r->allow_cidr = route_cidrs(ld, r, "allow", r->allow, r->nallow);
    r->deny_cidr = route_cidrs(ld, r, "deny", r->deny, r->ndeny);

    s = route_server(ld, x);
    weir_config_route_limits(ld, r, s);
    if (s == NULL) {
        return;
    }
    r->server = s;
    x->server_name = s->name;
    {
        const weir_sec_headers_t *chain[3] = { &r->sec, &s->sec,
                                               &ld->cf->http.sec };
        weir_config_security_resolve(chain, 3, r->sec_out);
    }
    arr = weir_conf_grow(&ld->conf, s->routes, s->nroutes, sizeof(*arr));
    if (arr) {
        s->routes = arr;
        arr[s->nroutes++] = r;
    }
}

/* gzip_types: media types the filter compares a Content-Type with; a
 * value that can never match one is a typo worth stopping at, and so is
 * a list on a route that does not compress. gzip_static needs a root. */
static void
route_gzip(load_t *ld, weir_route_conf_t *r)
{
    size_t i;

    /* only a static route has a FILE to look for FILE.gz beside */
    if (r->gzip_static != WEIR_GZIP_STATIC_OFF && r->root == NULL) {
        xerror(ld, line_of(ld, r, "gzip_static", r->line), "route", r->name,
               "gzip_static", "requires root (a static route)");
    }
    if (r->ngzip_types > 0 && !r->gzip) {
        xerror(ld, line_of(ld, r, "gzip_types", r->line), "route", r->name,
               "gzip_types", "requires gzip = on");
    }
    for (i = 0; i < r->ngzip_types; i++) {
        if (!media_range(r->gzip_types[i])) {
            xerror(ld, line_of(ld, r, "gzip_types", r->line), "route",
                   r->name, "gzip_types", "\"%s\" is not a media type "
                   "(type/subtype, type/* or *)", r->gzip_types[i]);
        }
    }
}

/* "*", "type/subtype", or "type/" then "*" (any subtype), in RFC 9110
 * token characters. */
static int
media_range(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    const char       *slash = strchr(s, '/');
    size_t            i, n = strlen(s);

    if (n == 1 && s[0] == '*') {
        return 1;
    }
    if (slash == NULL || slash == s || slash[1] == '\0'
        || strchr(slash + 1, '/') || s[0] == '*') {
        return 0;
    }
    if (strcmp(slash + 1, "*") == 0) {
        n = (size_t) (slash - s);
    }
    for (i = 0; i < n; i++) {
        if (s + i != slash && !isalnum((unsigned char) s[i])
            && (s[i] == '*' || strchr(tchar, s[i]) == NULL)) {
            return 0;
        }
    }
    return 1;
}

/* A route's allow or deny list, compiled (the setter already checked
 * each word; a failure here is out of memory or a check missed). */
static const weir_cidr_t *
route_cidrs(load_t *ld, weir_route_conf_t *r, const char *key,
    char *const *words, size_t n)
{
    weir_cidr_t *c;
    size_t       i;

    if (n == 0) {
        return NULL;
    }
    c = weir_pcalloc(ld->conf.pool, n * sizeof(*c));
    if (c == NULL) {
        weir_conf_error(&ld->conf, "out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (weir_cidr_parse(words[i], &c[i]) != WEIR_OK) {
            xerror(ld, line_of(ld, r, key, r->line), "route", r->name, key,
                   "invalid address or CIDR \"%s\"", words[i]);
            return NULL;
        }
    }
    return c;
}

/* [http] error pages apply to routes that do not cover the same status;
 * deduplicating by status keeps a dumped config loading back unchanged. */
static void
merge_error_pages(load_t *ld, weir_route_conf_t *r)
{
    weir_http_conf_t  *h = &ld->cf->http;
    weir_error_page_t *arr;
    size_t             i, j;

    for (i = 0; i < h->nerror_pages; i++) {
        for (j = 0; j < r->nerror_pages; j++) {
            if (r->error_pages[j].status == h->error_pages[i].status) {
                break;
            }
        }
        if (j < r->nerror_pages) {
            continue;
        }
        arr = weir_conf_grow(&ld->conf, r->error_pages, r->nerror_pages,
                             sizeof(*arr));
        if (arr == NULL) {
            return;
        }
        r->error_pages = arr;
        arr[r->nerror_pages++] = h->error_pages[i];
    }
}

/* "/abs/dir/file" -> "/abs/dir"; "/file" -> "". */
static char *
dir_of(weir_pool_t *pool, const char *file)
{
    const char *slash = strrchr(file, '/');

    return weir_pstrndup(pool, file, slash ? (size_t) (slash - file) : 0);
}
