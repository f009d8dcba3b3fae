#include "weir_config.h"
#include "proc/config.h"
#include "proc/config-t.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/conf.h"
#include "core/log.h"
#include "event/tls.h"
#include "http/route.h"
#include "upstream/health.h"

/*
 * The schema of weir.ini and its checks. Parsing goes through the generic
 * engine (core/conf.c); the config*.c files own what the sections mean:
 * this one the sections, their constructors, the defaults and the load
 * entry point; config_schema.c the rows, the custom setters and the dump;
 * config_check.c the cross-reference pass.
 *
 * Decisions worth knowing (for weir.ini(5)):
 * - [route] without `server =` belongs to the only [server] when there is
 *   exactly one; with several it is an error.
 * - `match` is required in a [route] (a silent catch-all would shadow every
 *   later route).
 * - Upstream servers are numeric IP addresses; a hostname is an error
 *   ("hostname resolution is not supported yet, use an IP address").
 * - mime_types defaults to mime.types next to the config file; a missing
 *   file is not a load error (static files then go out as
 *   application/octet-stream). The loader reads it, and only when a
 *   route has `root`, so a missing file is warned about once per load,
 *   not by every worker (config_warn.c).
 * - [admin] without `listen` listens on 127.0.0.1:9145; `allow` defaults
 *   to 127.0.0.1/32 and ::1/128.
 * - A [cache] without `path` uses <prefix>/cache/<name>; without
 *   `max_objects`, max_size / 32k index slots, within 1024..1048576.
 * - [http] error_page entries apply to every route that has none for the
 *   same status.
 */

#if defined(WEIR_DEFAULT_PREFIX)
#define DEFAULT_PREFIX WEIR_DEFAULT_PREFIX
#elif defined(WEIR_PREFIX)
#define DEFAULT_PREFIX WEIR_PREFIX
#else
#define DEFAULT_PREFIX "/usr/local/weir"
#endif

static void error_sink(void *data, const char *line);
static void errors_add(weir_config_errors_t *errs, const char *line);
static char *absolute(weir_pool_t *pool, const char *path);
static void *create_main(weir_conf_t *c, const char *name);
static void *create_http(weir_conf_t *c, const char *name);
static void set_defaults(weir_conf_t *c);
static void *create_upstream(weir_conf_t *c, const char *name);
static void *create_cache(weir_conf_t *c, const char *name);
static void *create_server(weir_conf_t *c, const char *name);
static void *create_route(weir_conf_t *c, const char *name);
static void route_cleanup(void *data);
static void upstream_cleanup(void *data);
static void *create_admin(weir_conf_t *c, const char *name);
static void *create_limit(weir_conf_t *c, const char *name);

static const weir_conf_section_t sections[] = {
    [SEC_MAIN]     = { "main", 0, create_main },
    [SEC_HTTP]     = { "http", 0, create_http },
    [SEC_UPSTREAM] = { "upstream", 1, create_upstream },
    [SEC_CACHE]    = { "cache", 1, create_cache },
    [SEC_SERVER]   = { "server", 1, create_server },
    [SEC_ROUTE]    = { "route", 1, create_route },
    [SEC_ADMIN]    = { "admin", 0, create_admin },
    [SEC_LIMIT]    = { "limit", 1, create_limit },
};

/* ---- loading ---------------------------------------------------------- */

static void
error_sink(void *data, const char *line)
{
    errors_add(((load_t *) data)->errs, line);
}

static void
errors_add(weir_config_errors_t *errs, const char *line)
{
    char                 **lines;
    char                  *copy;

    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        lines = realloc(errs->lines, cap * sizeof(char *));
        if (lines == NULL) {
            return;
        }
        errs->lines = lines;
        errs->cap = cap;
    }
    copy = strdup(line);
    if (copy) {
        errs->lines[errs->n++] = copy;
    }
}

weir_config_t *
weir_config_load(const char *path, const char *prefix,
    weir_config_errors_t *errs)
{
    weir_pool_t   *pool;
    weir_config_t *cf;
    load_t         ld;
    weir_conf_t   *keys;
    FILE          *fp;
    size_t         before = errs->n;
    int            rc;

    pool = weir_pool_create(16384);
    cf = pool ? weir_pcalloc(pool, sizeof(*cf)) : NULL;
    memset(&ld, 0, sizeof(ld));
    ld.errs = errs;
    ld.cf = cf;
    ld.shown = path;
    if (cf == NULL) {
        error_sink(&ld, "out of memory");
        weir_pool_destroy(pool);
        return NULL;
    }
    cf->pool = pool;
    cf->file = absolute(pool, path);
    cf->prefix = absolute(pool, prefix ? prefix : DEFAULT_PREFIX);
    /* Messages and the models' `file` fields show the path as given; the
     * copy lives as long as the config. */
    ld.shown = weir_pstrndup(pool, path, strlen(path));
    if (cf->file == NULL || cf->prefix == NULL || ld.shown == NULL) {
        error_sink(&ld, "out of memory");
        weir_pool_destroy(pool);
        return NULL;
    }
    weir_conf_init(&ld.conf, pool, ld.shown, cf->prefix, sections,
                   weir_nelems(sections), weir_config_cmds,
                   weir_config_ncmds,
                   error_sink, &ld);
    set_defaults(&ld.conf);

    fp = fopen(path, "r");
    if (fp == NULL) {
        weir_conf_error_at(&ld.conf, path, 0, NULL, NULL,
                           "cannot open: %s", strerror(errno));
        weir_pool_destroy(pool);
        return NULL;
    }
    rc = weir_conf_parse(&ld.conf, fp);
    fclose(fp);
    if (weir_config_check(&ld) != WEIR_OK || rc != WEIR_OK
        || errs->n != before)
    {
        weir_pool_destroy(pool);
        return NULL;
    }
    weir_config_warn(&ld);
    /* Keep the key lines (they live in the arena) for weir_config_report;
     * the parser state and the sink on our stack are not kept. */
    keys = weir_palloc(pool, sizeof(*keys));
    if (keys == NULL) {
        error_sink(&ld, "out of memory");
        weir_pool_destroy(pool);
        return NULL;
    }
    *keys = ld.conf;
    keys->error = NULL;
    keys->data = NULL;
    keys->cur = NULL;
    keys->fp = NULL;
    keys->buf = NULL;
    keys->lbuf = NULL;
    keys->lkey = NULL;
    keys->lvalue = NULL;
    cf->keys = keys;
    return cf;
}

void
weir_config_report(const weir_config_t *cf, weir_config_errors_t *errs,
    int line, const void *obj, const char *section, const char *key,
    const char *fmt, ...)
{
    char        where[PATH_MAX + 32], msg[1024], out[PATH_MAX + 1200];
    const char *file = cf->keys ? cf->keys->file : cf->file;
    va_list     ap;
    int         n;

    if (line == 0 && cf->keys && obj && key) {
        line = weir_conf_key_line(cf->keys, obj, key);
    }
    n = line ? snprintf(where, sizeof(where), "%s:%d", file, line)
             : snprintf(where, sizeof(where), "%s", file);
    if (n < 0) {
        where[0] = '\0';
    }
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        msg[0] = '\0';
    }
    /* Truncation is acceptable here: every part is bounded. */
    n = snprintf(out, sizeof(out), "%s: %s%s%s%s%s", where,
                 section ? section : "", section ? " " : "",
                 key ? key : "", key ? ": " : "", msg);
    if (n < 0) {
        return;
    }
    errors_add(errs, out);
}

void
weir_config_free(weir_config_t *cf)
{
    if (cf) {
        weir_pool_destroy(cf->pool);   /* cf lives in its own arena */
    }
}

void
weir_config_errors_free(weir_config_errors_t *errs)
{
    size_t i;

    for (i = 0; i < errs->n; i++) {
        free(errs->lines[i]);
    }
    free(errs->lines);
    errs->lines = NULL;
    errs->n = errs->cap = 0;
}

size_t
weir_config_nlistens(const weir_config_t *cf)
{
    size_t i, n = cf->has_admin ? cf->admin.nlistens : 0;

    for (i = 0; i < cf->http.nservers; i++) {
        n += cf->http.servers[i]->nlistens;
    }
    return n;
}

/* The path made absolute against the working directory, without a
 * trailing '/'. Not canonicalised: the file may not exist yet. */
static char *
absolute(weir_pool_t *pool, const char *path)
{
    char   cwd[PATH_MAX];
    char  *p;
    size_t n;

    if (path[0] == '/') {
        p = weir_pstrndup(pool, path, strlen(path));
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            return NULL;
        }
        n = strlen(cwd) + strlen(path) + 2;
        p = weir_palloc(pool, n);
        if (p) {
            snprintf(p, n, "%s/%s", strcmp(cwd, "/") ? cwd : "", path);
        }
    }
    if (p) {
        n = strlen(p);
        while (n > 0 && p[n - 1] == '/') {
            p[--n] = '\0';
        }
    }
    return p;
}

#define LOADER(c) ((load_t *) (c)->data)

static void *
create_main(weir_conf_t *c, const char *name)
{
    (void) name;
    return &LOADER(c)->cf->main;
}

static void *
create_http(weir_conf_t *c, const char *name)
{
    (void) name;
    return &LOADER(c)->cf->http;
}

/* Defaults of [main] and [http], which exist even when not written. */
static void
set_defaults(weir_conf_t *c)
{
    weir_main_conf_t *m = &LOADER(c)->cf->main;
    weir_http_conf_t *h = &LOADER(c)->cf->http;

    m->workers = 0;
    m->error_log = weir_conf_path(c, "logs/error.log");
    m->log_level = WEIR_LOG_NOTICE;
    m->pid = weir_conf_path(c, "logs/weir.pid");
    m->daemon = 1;
    m->shm_size = MB(32);
    m->shutdown_timeout = SEC(30);
    m->worker_connections = 10000;

    h->access_log = weir_conf_path(c, "logs/access.log");
    h->log_format = WEIR_LOG_FORMAT_COMBINED;
    h->keepalive_timeout = SEC(75);
    h->keepalive_requests = 1000;
    h->client_header_timeout = SEC(10);
    h->client_body_timeout = SEC(30);
    h->send_timeout = SEC(60);
    /* A few bytes a second for 20 s of waiting: no real client, however
     * bad its link (2G moves some KB/s), but enough for a trickle to hold
     * a connection and its buffers for hours. */
    h->client_body_min_rate = 256;
    h->send_min_rate = 256;
    h->min_rate_window = SEC(20);
    h->client_max_body_size = MB(1);
    h->max_header_size = KB(16);
    h->client_body_buffer_size = KB(16);
    h->lingering_timeout = SEC(5);
    h->server_tokens = "weir";
    h->sec.on = 0;
}

static void *
create_upstream(weir_conf_t *c, const char *name)
{
    weir_config_t        *cf = LOADER(c)->cf;
    weir_upstream_conf_t *u, **arr;

    u = weir_pcalloc(c->pool, sizeof(*u));
    arr = u ? weir_conf_grow(c, cf->upstreams, cf->nupstreams, sizeof(*arr))
            : NULL;
    if (arr == NULL || weir_pool_cleanup_add(c->pool, upstream_cleanup, u)) {
        return NULL;
    }
    cf->upstreams = arr;
    arr[cf->nupstreams++] = u;
    u->name = (char *) name;
    u->balance = WEIR_BALANCE_ROUND_ROBIN;
    u->keepalive = 32;
    u->keepalive_timeout = SEC(60);
    u->keepalive_requests = 1000;
    u->connect_timeout = SEC(2);
    u->send_timeout = SEC(30);
    u->read_timeout = SEC(30);
    u->retries = 1;
    u->retry_on = WEIR_RETRY_ERROR | WEIR_RETRY_TIMEOUT;
    u->retry_budget = 20;
    u->retry_budget_min = 3;
    u->max_fails = 3;
    u->fail_timeout = SEC(10);
    u->fail_on = WEIR_FAIL_ON_ERROR | WEIR_FAIL_ON_TIMEOUT;
    u->max_cooldown = SEC(300);
    u->queue = 128;
    u->queue_timeout = SEC(10);
    u->health_interval = SEC(5);
    u->resolve = SEC(30);
    u->health_timeout = SEC(2);
    u->health_fall = 3;
    u->health_rise = 2;
    u->panic_threshold = 50;
    u->tls_verify = 1;
    u->tls_session_reuse = 1;
    u->file = c->file;
    u->line = c->line;
    return u;
}

static void *
create_cache(weir_conf_t *c, const char *name)
{
    weir_config_t     *cf = LOADER(c)->cf;
    weir_cache_conf_t *k, **arr;
    size_t             i;

    k = weir_pcalloc(c->pool, sizeof(*k));
    arr = k ? weir_conf_grow(c, cf->caches, cf->ncaches, sizeof(*arr)) : NULL;
    if (arr == NULL) {
        return NULL;
    }
    cf->caches = arr;
    arr[cf->ncaches++] = k;
    k->name = (char *) name;
    k->levels[0] = 1;
    k->levels[1] = 2;
    k->nlevels = 2;
    k->max_size = (int64_t) 1024 * MB(1);
    k->inactive = SEC(600);
    /* The host and the port too: DESIGN 5, a key without the host lets one
     * site's response answer for another's. The normalised target, not
     * the raw one: it is what the origin is asked for, so "/a/../b",
     * "/%62" and "/b" are one object, not three copies of it. */
    k->key = "$scheme://$host:$server_port$normalized_request_uri";
    k->lock_timeout = SEC(5);
    k->min_uses = 1;
    k->fill_after_abort = MB(1);
    k->open_files = 256;
    k->open_files_inactive = SEC(10);
    for (i = 0; i < weir_nelems(k->rules.valid); i++) {
        k->rules.valid[i] = -1;
    }
    k->file = c->file;
    k->line = c->line;
    return k;
}

static void *
create_server(weir_conf_t *c, const char *name)
{
    weir_http_conf_t   *h = &LOADER(c)->cf->http;
    weir_server_conf_t *s, **arr;

    s = weir_pcalloc(c->pool, sizeof(*s));
    arr = s ? weir_conf_grow(c, h->servers, h->nservers, sizeof(*arr)) : NULL;
    if (arr == NULL) {
        return NULL;
    }
    h->servers = arr;
    arr[h->nservers++] = s;
    s->name = (char *) name;
    s->sec.on = -1;             /* inherit [http]'s */
    s->file = c->file;
    s->line = c->line;
    s->tls_protocols = WEIR_TLS_V1_2 | WEIR_TLS_V1_3;
    s->tls_session_tickets = 1;
    s->tls_session_cache = 20480;
    s->tls_session_timeout = SEC(3600);
    return s;
}

static void *
create_route(weir_conf_t *c, const char *name)
{
    weir_http_conf_t   *h = &LOADER(c)->cf->http;
    route_ext_t        *x;
    weir_route_conf_t **arr;

    x = weir_pcalloc(c->pool, sizeof(*x));
    arr = x ? weir_conf_grow(c, h->routes, h->nroutes, sizeof(*arr)) : NULL;
    if (arr == NULL || weir_pool_cleanup_add(c->pool, route_cleanup, x)) {
        return NULL;
    }
    h->routes = arr;
    arr[h->nroutes++] = &x->r;
    x->r.name = (char *) name;
    x->r.client_max_body_size = -1;
    x->r.sec.on = -1;           /* inherit the server's */
    x->r.gzip_level = 1;        /* nginx's default: most of the saving for
                                   the least CPU (contrib/bench/README) */
    x->r.gzip_min_length = 256; /* below, the 18 bytes of gzip framing
                                   and the chunking eat the gain */
    x->r.file = c->file;
    x->r.line = c->line;
    return x;
}

static void
route_cleanup(void *data)
{
    weir_route_free(data);
}

/* health_expect's compiled regex lives outside the arena. */
static void
upstream_cleanup(void *data)
{
    weir_health_expect_free(data);
}

static void *
create_admin(weir_conf_t *c, const char *name)
{
    weir_config_t *cf = LOADER(c)->cf;

    (void) name;
    cf->has_admin = 1;
    return &cf->admin;
}

static void *
create_limit(weir_conf_t *c, const char *name)
{
    weir_http_conf_t   *h = &LOADER(c)->cf->http;
    weir_limit_conf_t  *l, **arr;

    l = weir_pcalloc(c->pool, sizeof(*l));
    arr = l ? weir_conf_grow(c, h->limits, h->nlimits, sizeof(*arr)) : NULL;
    if (arr == NULL) {
        return NULL;
    }
    h->limits = arr;
    arr[h->nlimits++] = l;
    l->name = (char *) name;
    l->rate_period = SEC(1);
    l->size = 10000;
    l->status = 429;
    l->file = c->file;
    l->line = c->line;
    return l;
}
