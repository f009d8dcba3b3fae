#include "weir_config.h"
#include "admin/admin.h"

#include <stdio.h>
#include <string.h>
#include "admin/admin-t.h"
#include "core/log.h"
#include "core/str.h"
#include "upstream/breaker.h"
#include "upstream/peer_state.h"

admin_ctx_t admin_ctx;

static void send_page(weir_request_t *r, int status, const char *type,
    weir_sbuf_t *o);
static int wants_html(const weir_request_t *r);
static int path_is(const weir_request_t *r, const char *p);
static int has_arg(const weir_request_t *r, const char *pair);

void
weir_admin_init(const weir_config_t *cf, weir_shm_t *shm)
{
    admin_ctx.cf = cf;
    admin_ctx.shm = shm;
    admin_ctx.master = weir_master_stats(shm);
    admin_ctx.procs = weir_proc_stats(shm);
}

static int
path_is(const weir_request_t *r, const char *p)
{
    size_t n = strlen(p);

    return r->path.len == n && memcmp(r->path.data, p, n) == 0;
}

/* Is "name=value" one of the query's &-separated arguments? */
static int
has_arg(const weir_request_t *r, const char *pair)
{
    const char *p, *end, *e;
    size_t      n = strlen(pair);

    if (r->args.len == 0) {
        return 0;
    }
    p = r->args.data;
    end = p + r->args.len;
    while (p < end) {
        e = memchr(p, '&', (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }
        if ((size_t) (e - p) == n && memcmp(p, pair, n) == 0) {
            return 1;
        }
        p = e + 1;
    }
    return 0;
}

/* A browser asks for text/html first; a script or curl does not. */
static int
wants_html(const weir_request_t *r)
{
    const weir_http_header_t *h = weir_http_header_find(r, "accept");
    weir_str_t                v;

    if (has_arg(r, "format=json")) {
        return 0;
    }
    if (has_arg(r, "format=html")) {
        return 1;
    }
    if (h == NULL) {
        return 0;
    }
    v.data = h->value;
    v.len = h->value_len;
    return weir_str_has_token(&v, "text/html");
}

void
weir_admin_handle(weir_request_t *r)
{
    weir_sbuf_t o;
    int         stopping, status;

    if (r->c->denied) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "admin access denied to %s (not in allow)",
                       r->c->addr_text);
        weir_http_finalize_error(r, 403, "FORBIDDEN");
        return;
    }
    weir_sbuf_init_pool(&o, r->pool, 16384);
    if (path_is(r, "/purge")) {
        if (r->method != WEIR_HTTP_POST) {
            weir_http_add_header(r, "Allow", 5, "POST", 4);
            weir_http_finalize_error(r, 405, "METHOD_NOT_ALLOWED");
            return;
        }
        status = admin_purge(r, &o);
        send_page(r, status, "application/json", &o);
        return;
    }
    if (r->method != WEIR_HTTP_GET && r->method != WEIR_HTTP_HEAD) {
        weir_http_add_header(r, "Allow", 5, "GET, HEAD", 9);
        weir_http_finalize_error(r, 405, "METHOD_NOT_ALLOWED");
        return;
    }
    if (path_is(r, "/metrics")) {
        admin_metrics(&o);
        send_page(r, 200, "text/plain; version=0.0.4; charset=utf-8", &o);
        return;
    }
    if (path_is(r, "/healthz")) {
        /* 503 once the whole weir is stopping (a balancer takes it out
         * while requests drain); a reload is not a stop. */
        stopping = admin_ctx.master
                   && atomic_load(&admin_ctx.master->stopping);
        weir_sbuf_append_cstr(&o, stopping ? "draining\n" : "ok\n");
        send_page(r, stopping ? 503 : 200, "text/plain", &o);
        return;
    }
    if (path_is(r, "/status")) {
        if (wants_html(r)) {
            admin_status_html(&o);
            send_page(r, 200, "text/html; charset=utf-8", &o);
        } else {
            admin_status_json(&o);
            send_page(r, 200, "application/json", &o);
        }
        return;
    }
    if (path_is(r, "/")) {
        weir_sbuf_append_cstr(&o, "weir admin: /metrics /healthz /status, "
                                  "POST /purge\n");
        send_page(r, 200, "text/plain", &o);
        return;
    }
    weir_http_finalize_error(r, 404, "NOT_FOUND");
}

static void
send_page(weir_request_t *r, int status, const char *type, weir_sbuf_t *o)
{
    if (weir_sbuf_failed(o)) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    r->status = status;
    weir_http_add_header(r, "Content-Type", 12, type, strlen(type));
    /* Always fresh: a cached status page during an incident misleads. */
    weir_http_add_header(r, "Cache-Control", 13, "no-store", 8);
    r->body_mem = o->data;
    r->body_mem_len = o->len;
    r->content_length = (off_t) o->len;
    weir_http_send_response(r);
}

/* ---- escaping ----------------------------------------------------------- */

void
admin_out_json(weir_sbuf_t *o, const char *s)
{
    char   esc[8];
    size_t i, run = 0;

    for (i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char) s[i];
        /* <, > and & too: the document is also embedded in the HTML
         * page's <script>, where "</" would end it. */
        if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != '<' && ch != '>'
            && ch != '&') {
            continue;
        }
        weir_sbuf_append(o, s + run, i - run);
        snprintf(esc, sizeof(esc), ch == '"' ? "\\\"" : ch == '\\' ? "\\\\"
                 : "\\u%04x", ch);
        weir_sbuf_append_cstr(o, esc);
        run = i + 1;
    }
    weir_sbuf_append(o, s + run, i - run);
}

void
admin_out_label(weir_sbuf_t *o, const char *s)
{
    size_t i, run = 0;

    for (i = 0; s[i]; i++) {
        if (s[i] != '"' && s[i] != '\\' && s[i] != '\n') {
            continue;
        }
        weir_sbuf_append(o, s + run, i - run);
        weir_sbuf_append_cstr(o, s[i] == '\n' ? "\\n" : s[i] == '"' ? "\\\"" : "\\\\");
        run = i + 1;
    }
    weir_sbuf_append(o, s + run, i - run);
}

void
admin_out_html(weir_sbuf_t *o, const char *s)
{
    size_t i, run = 0;

    for (i = 0; s[i]; i++) {
        const char *e = s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;"
                        : s[i] == '&' ? "&amp;" : s[i] == '"' ? "&quot;"
                        : s[i] == '\'' ? "&#39;" : NULL;
        if (e == NULL) {
            continue;
        }
        weir_sbuf_append(o, s + run, i - run);
        weir_sbuf_append_cstr(o, e);
        run = i + 1;
    }
    weir_sbuf_append(o, s + run, i - run);
}

const char *
admin_peer_state(const weir_upstream_conf_t *u, const weir_peer_conf_t *p)
{
    const weir_peer_state_t *s = p->state;
    int                      b;

    if (p->down) {
        return "disabled";
    }
    if (s == NULL) {
        return "up";
    }
    if (!atomic_load_explicit(&s->health, memory_order_relaxed)) {
        return "down";
    }
    b = weir_breaker_state(s, NULL, NULL);
    (void) u;
    return b == WEIR_BREAKER_OPEN ? "open"
           : b == WEIR_BREAKER_HALF_OPEN ? "half_open" : "up";
}
