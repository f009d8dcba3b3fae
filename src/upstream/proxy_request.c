#include "weir_config.h"
#include "upstream/proxy-t.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "core/log.h"
#include "core/sbuf.h"
#include "core/str.h"
#include "http/vars.h"
#include "upstream/upstream.h"

/* The request side of the proxy: the rewritten head, and the body either
 * buffered (replayable on retry) or streamed. */

static int hop_by_hop(const char *name, size_t len);
static int listed_in_connection(const weir_request_t *r, const char *name,
    size_t len);
static int edited(const weir_route_conf_t *rt, const char *name, size_t len);
static int underscored(const weir_http_header_t *h);
static int conditional(const weir_http_header_t *h);
static void set_header_value(weir_sbuf_t *sb, weir_request_t *r,
    const char *value);
static size_t upgrade_offer(const weir_request_t *r, weir_sbuf_t *sb);
static void body_error(proxy_t *p);
static int proxy_header(proxy_t *p);
static int add_iov(struct iovec *iov, int cnt, char *base, size_t len,
    size_t *skip);

/* ---- the request head ------------------------------------------------------- */

static int
hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-connection", "content-length", "host", "expect",
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "via",
        "http2-settings"
    };

    return weir_str_one_of(name, len, hop, weir_nelems(hop));
}

/* Headers named by Connection are hop-by-hop too (RFC 9110 7.6.1). */
static int
listed_in_connection(const weir_request_t *r, const char *name, size_t len)
{
    return weir_proxy_connection_lists(r->headers, r->head.num_headers, name,
                                       len);
}

static int
edited(const weir_route_conf_t *rt, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < rt->nremove_headers; i++) {
        if (strlen(rt->remove_headers[i].name) == len
            && weir_strncaseeq(rt->remove_headers[i].name, name, len)) {
            return 1;
        }
    }
    for (i = 0; i < rt->nset_headers; i++) {
        if (strlen(rt->set_headers[i].name) == len
            && weir_strncaseeq(rt->set_headers[i].name, name, len)) {
            return 1;
        }
    }
    return 0;
}

/* A field name with '_' is not forwarded (nginx's underscores_in_headers
 * off): CGI, WSGI and Rack map '-' and '_' to the same variable, so
 * "X_Forwarded_For" would reach the application as the X-Forwarded-For
 * weir sets, and "Transfer_Encoding" as a framing header. */
static int
underscored(const weir_http_header_t *h)
{
    return memchr(h->name, '_', h->name_len) != NULL;
}

/* The fields that make a request conditional or partial: a cache fill
 * asks for the whole representation with its own validators. */
static int
conditional(const weir_http_header_t *h)
{
    static const char *const names[] = {
        "range", "if-range", "if-match", "if-none-match",
        "if-modified-since", "if-unmodified-since"
    };

    return weir_str_one_of(h->name, h->name_len, names, weir_nelems(names));
}

/* A set_header value: with a $variable it is a template (vars.c; the
 * loader refused unknown names), evaluated per request, so the origin
 * can get $remote_addr or $ssl_client_s_dn as nginx's proxy_set_header
 * gives them. Bytes that would end the header line are blanked: no
 * variable should carry them (the parser refuses them in headers, a
 * subject's are escaped), and a header line must never be split. */
static void
set_header_value(weir_sbuf_t *sb, weir_request_t *r, const char *value)
{
    char   *buf;
    size_t  n, i;
    enum { CAP = 8192 };

    if (strchr(value, '$') == NULL) {
        weir_sbuf_append_cstr(sb, value);
        return;
    }
    buf = weir_palloc(r->pool, CAP);
    if (buf == NULL) {
        return;     /* the value is empty; the sbuf's own failures stick */
    }
    n = weir_http_vars_eval(r, value, buf, CAP);
    for (i = 0; i < n; i++) {
        if (buf[i] == '\r' || buf[i] == '\n' || buf[i] == '\0') {
            buf[i] = ' ';
        }
    }
    weir_sbuf_append(sb, buf, n);
}

void
weir_proxy_request_id(weir_request_t *r)
{
    const weir_http_header_t *rid;
    size_t                    k;

    if (edited(r->route, "x-request-id", 12)) {
        return;     /* the route decides the upstream's; ours is logged */
    }
    rid = weir_http_header_find(r, "x-request-id");
    if (rid && rid->value_len > 0) {
        /* Keep the caller's id so logs on both sides correlate. */
        k = weir_min(rid->value_len, sizeof(r->request_id) - 1);
        memcpy(r->request_id, rid->value, k);
        r->request_id[k] = '\0';
    }
}

int
weir_proxy_build_head(proxy_t *p)
{
    weir_request_t          *r = p->r;
    const weir_route_conf_t *rt = r->route;
    const weir_http_header_t *h, *xff = NULL, *via = NULL, *rid = NULL,
                             *dropped = NULL;
    size_t                   hint = 768, i, ndropped = 0;
    weir_sbuf_t              sb;

    /* Only a hint, so that the builder seldom has to grow: the client's
     * fields, with the Host value twice (Host and X-Forwarded-Host), the
     * route's set_header fields, and 768 bytes for weir's own. */
    for (i = 0; i < r->head.num_headers; i++) {
        hint += r->headers[i].name_len + r->headers[i].value_len + 4;
    }
    for (i = 0; i < rt->nset_headers; i++) {
        hint += strlen(rt->set_headers[i].name)
                + strlen(rt->set_headers[i].value) + 4;
    }
    hint += r->method_name.len + r->target.len
            + (r->h_host ? 2 * r->h_host->value_len : 0)
            + r->head.authority_len;
    weir_sbuf_init_pool(&sb, r->pool, hint);

    weir_sbuf_append_str(&sb, &r->method_name);
    weir_sbuf_lit(&sb, " ");
    weir_sbuf_append_str(&sb, &r->target);
    weir_sbuf_lit(&sb, " HTTP/1.1\r\n");
    /* A header the route sets or removes replaces weir's own. */
    if (!edited(rt, "host", 4)) {
        weir_sbuf_lit(&sb, "Host: ");
        if (rt->host_header) {
            weir_sbuf_append_cstr(&sb, rt->host_header);
        } else if (r->h_host) {
            /* For an absolute-form target the parser already made this
             * the target's authority (RFC 9112 3.2.2). */
            weir_sbuf_append(&sb, r->h_host->value, r->h_host->value_len);
        } else if (r->head.authority) {
            /* HTTP/1.0 with an absolute-form target and no Host: the
             * target names the host, as it named the server. */
            weir_sbuf_append(&sb, r->head.authority, r->head.authority_len);
        } else if (p->u->npeers) {
            /* A peer given by name is asked for by that name. */
            const weir_peer_conf_t *pc = p->u->peers[0].conf;
            weir_sbuf_append_cstr(&sb, pc->host ? pc->host : pc->text);
        }
        weir_sbuf_lit(&sb, "\r\n");
    }
    for (i = 0; i < r->head.num_headers; i++) {
        h = &r->headers[i];
        if (h->name_len == 15 && weir_strncaseeq(h->name, "x-forwarded-for", 15)) {
            xff = h;
        } else if (h->name_len == 3 && weir_strncaseeq(h->name, "via", 3)) {
            via = h;
        } else if (h->name_len == 12
                   && weir_strncaseeq(h->name, "x-request-id", 12)) {
            rid = h;
        }
        if (underscored(h)) {
            dropped = dropped ? dropped : h;
            ndropped++;
            continue;
        }
        if (hop_by_hop(h->name, h->name_len)
            || listed_in_connection(r, h->name, h->name_len)
            || edited(rt, h->name, h->name_len)
            || (p->obs && p->obs->whole && conditional(h))) {
            continue;
        }
        weir_sbuf_append(&sb, h->name, h->name_len);
        weir_sbuf_lit(&sb, ": ");
        weir_sbuf_append(&sb, h->value, h->value_len);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (!edited(rt, "x-forwarded-for", 15)) {
        weir_sbuf_lit(&sb, "X-Forwarded-For: ");
        if (xff) {
            weir_sbuf_append(&sb, xff->value, xff->value_len);
            weir_sbuf_lit(&sb, ", ");
        }
        weir_sbuf_append_cstr(&sb, r->c->addr_text);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (!edited(rt, "x-forwarded-proto", 17)) {
        weir_str_t scheme = weir_http_vars_scheme(r);

        weir_sbuf_lit(&sb, "X-Forwarded-Proto: ");
        weir_sbuf_append(&sb, scheme.data, scheme.len);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (r->h_host && !edited(rt, "x-forwarded-host", 16)) {
        weir_sbuf_lit(&sb, "X-Forwarded-Host: ");
        weir_sbuf_append(&sb, r->h_host->value, r->h_host->value_len);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (!edited(rt, "via", 3)) {
        weir_sbuf_lit(&sb, "Via: ");
        if (via) {
            weir_sbuf_append(&sb, via->value, via->value_len);
            weir_sbuf_lit(&sb, ", ");
        }
        weir_sbuf_lit(&sb, "1.1 weir\r\n");
    }
    if (!edited(rt, "x-request-id", 12) && rid == NULL) {
        weir_sbuf_lit(&sb, "X-Request-Id: ");
        weir_sbuf_append_cstr(&sb, r->request_id);
        weir_sbuf_lit(&sb, "\r\n");
    }
    weir_proxy_request_id(r);
    if (p->obs && p->obs->extra_len) {
        weir_sbuf_append(&sb, p->obs->extra, p->obs->extra_len);
    }
    for (i = 0; i < rt->nset_headers; i++) {
        const weir_header_edit_t *e = &rt->set_headers[i];
        if (e->value[0] != '\0') {
            weir_sbuf_append_cstr(&sb, e->name);
            weir_sbuf_lit(&sb, ": ");
            set_header_value(&sb, r, e->value);
            weir_sbuf_lit(&sb, "\r\n");
        }
    }
    if (p->body_mode == 1) {
        /* A buffered body (even one that came chunked) goes with its
         * length: simplest for every upstream. */
        weir_sbuf_lit(&sb, "Content-Length: ");
        weir_sbuf_append_u64(&sb, p->replay_len);
        weir_sbuf_lit(&sb, "\r\n");
    } else if (p->body_mode == 2 && p->up_chunked) {
        weir_sbuf_lit(&sb, "Transfer-Encoding: chunked\r\n");
    } else if (p->body_mode == 2) {
        weir_sbuf_lit(&sb, "Content-Length: ");
        weir_sbuf_append_u64(&sb, r->framing.content_length);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (r->framing.upgrade && upgrade_offer(r, NULL) == 0) {
        /* Only h2c was offered: an ordinary request, and a 101 to it is
         * refused as to any request that did not upgrade. */
        r->framing.upgrade = 0;
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client asked to upgrade to h2c, not forwarded");
    }
    if (r->framing.upgrade) {
        weir_sbuf_lit(&sb, "Connection: upgrade\r\nUpgrade: ");
        (void) upgrade_offer(r, &sb);
        weir_sbuf_lit(&sb, "\r\n");
    } else if (p->uconf->keepalive == 0) {
        weir_sbuf_lit(&sb, "Connection: close\r\n");
    }
    weir_sbuf_lit(&sb, "\r\n");
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;      /* out of memory: nothing else fails */
    }
    p->head = sb.data;
    p->head_len = sb.len;
    if (dropped) {
        /* The head is built once per request: one line per request. */
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent %zu header(s) with underscore in the "
                       "name, not forwarded: \"%.*s\"%s", ndropped,
                       (int) dropped->name_len, dropped->name,
                       ndropped > 1 ? ", ..." : "");
    }
    return WEIR_OK;
}

/* Write into sb (when not NULL) the protocols of the client's Upgrade
 * field that go to the origin, and return how many. "h2c" never does:
 * after the origin's 101 the proxy would pass bytes both ways, and every
 * request the client then sends in HTTP/2 would bypass routing and the
 * routes' access rules (h2c smuggling). HTTP2-Settings, h2c's companion,
 * is dropped with the hop-by-hop fields. A WebSocket offer goes on. */
static size_t
upgrade_offer(const weir_request_t *r, weir_sbuf_t *sb)
{
    const weir_http_header_t *h;
    const char               *s, *el;
    size_t                    i, n, kept = 0;

    for (i = 0; i < r->head.num_headers; i++) {
        h = &r->headers[i];
        if (h->name_len != 7 || !weir_strncaseeq(h->name, "upgrade", 7)) {
            continue;
        }
        s = h->value;
        while (weir_http_list_next(&s, h->value + h->value_len, &el, &n)) {
            if (n == 0 || (n >= 3 && weir_strncaseeq(el, "h2c", 3)
                           && (n == 3 || el[3] == '/'))) {
                continue;
            }
            if (sb) {
                if (kept) {
                    weir_sbuf_lit(sb, ", ");
                }
                weir_sbuf_append(sb, el, n);
            }
            kept++;
        }
    }
    return kept;
}

/* ---- request body: small ones are buffered (replayable) ----------------- */

void
weir_proxy_client_body_handler(weir_event_t *ev)
{
    proxy_t *p = weir_proxy_from_client(ev);

    if (p == NULL) {
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                       "client timed out sending the request body");
        /* The upstream may hold part of the body: it must not see a
         * complete-looking request, nor answer into our 408. */
        weir_proxy_release_upstream(p, 0);
        p->r->proxy = NULL;
        p->r->lingering = 1;
        weir_http_finalize_error(p->r, 408, "REQUEST_TIMEOUT");
        return;
    }
    if (p->phase == P_BUFFER) {
        weir_proxy_buffer_body(p);
    } else if (p->phase == P_STREAM) {
        weir_proxy_stream_body(p);
    } else if (p->phase == P_TUNNEL) {
        weir_proxy_tunnel(p);
    }
}

static void
body_error(proxy_t *p)
{
    weir_request_t *r = p->r;

    weir_proxy_release_upstream(p, 0);
    r->proxy = NULL;
    if (r->body_error == 0) {
        /* The client went away: nobody to answer. */
        weir_http_abort(r);
        return;
    }
    r->lingering = 1;
    weir_http_finalize_error(r, r->body_error,
                             r->body_error == 413 ? "BODY_TOO_LARGE"
                             : r->body_error == 408 ? "REQUEST_TIMEOUT"
                                                    : "BAD_REQUEST");
}

void
weir_proxy_buffer_body(proxy_t *p)
{
    weir_request_t *r = p->r;
    ssize_t         n;

    for (;;) {
        if (p->up_chunked && p->replay_len == REPLAY_MAX) {
            /* A chunked body that fills the replay buffer: stream it,
             * starting with what was buffered (not retryable). The 32
             * spare bytes take the chunk framing around it. */
            p->body_mode = 2;
            p->sbuf = weir_palloc(r->pool, SBUF_SIZE + 32);
            if (p->sbuf == NULL || weir_proxy_build_head(p) != WEIR_OK) {
                weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
                return;
            }
            n = snprintf(p->chunk_hdr, sizeof(p->chunk_hdr), "%zx\r\n",
                         p->replay_len);
            memmove(p->replay + n, p->replay, p->replay_len);
            memcpy(p->replay, p->chunk_hdr, (size_t) n);
            p->replay_len += (size_t) n;
            p->replay[p->replay_len++] = '\r';
            p->replay[p->replay_len++] = '\n';
            break;
        }
        n = weir_http_read_body(r, p->replay + p->replay_len,
                                REPLAY_MAX - p->replay_len);
        if (n == WEIR_AGAIN) {
            weir_timer_add(&r->c->read, weir_http.conf->client_body_timeout);
            return;
        }
        if (n == WEIR_ERROR) {
            body_error(p);
            return;
        }
        if (n == 0) {
            p->client_body_done = 1;
            break;
        }
        p->replay_len += (size_t) n;
    }
    weir_timer_del(&r->c->read);
    weir_http_set_handlers(r, weir_proxy_client_watch, NULL, "proxying");
    if (p->body_mode == 1 && weir_proxy_build_head(p) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    weir_proxy_connect_peer(p);
}

/* ---- sending the request ---------------------------------------------------------- */

/* upstream proxy_protocol: a new connection starts with a PROXY header
 * for the client's connection (its address, carried by the client's own
 * PROXY header if it had one, and weir's listening address). The peer
 * takes every request on that connection for that client's, so the
 * connection becomes private to it: the spec forbids sharing it, and a
 * pooled one is reused only for the same client connection. */
static int
proxy_header(proxy_t *p)
{
    weir_conn_t    *c = p->r->c;
    weir_sockaddr_t local;
    socklen_t       len = sizeof(local);

    p->pp_len = 0;
    if (p->reused || p->uconf->proxy_protocol == 0) {
        return WEIR_OK;
    }
    if (getsockname(c->fd, &local.sa, &len) < 0) {
        return WEIR_ERROR;
    }
    if (weir_proxy_protocol_build(p->uconf->proxy_protocol, &c->sockaddr.sa,
                                  &local.sa, p->pp, sizeof(p->pp),
                                  &p->pp_len) != WEIR_OK) {
        errno = EINVAL;
        return WEIR_ERROR;
    }
    p->uc->private_to = c->number;
    return WEIR_OK;
}

/* Append what is left of [base, base + len) after skipping *skip bytes
 * of the whole (the part already sent). Returns the new count. */
static int
add_iov(struct iovec *iov, int cnt, char *base, size_t len, size_t *skip)
{
    if (*skip >= len) {
        *skip -= len;
        return cnt;
    }
    iov[cnt].iov_base = base + *skip;
    iov[cnt].iov_len = len - *skip;
    *skip = 0;
    return cnt + 1;
}

void
weir_proxy_send_request(proxy_t *p)
{
    weir_conn_t  *uc = p->uc;
    struct iovec  iov[3];
    size_t        total, skip;
    ssize_t       n;
    int           cnt;

    if (p->sent == 0 && proxy_header(p) != WEIR_OK) {
        weir_proxy_fail(p, F_SEND_ERROR, errno,
                        "cannot build the PROXY protocol header");
        return;
    }
    total = p->pp_len + p->head_len + p->replay_len;
    while (p->sent < total) {
        skip = p->sent;
        cnt = add_iov(iov, 0, p->pp, p->pp_len, &skip);
        cnt = add_iov(iov, cnt, p->head, p->head_len, &skip);
        cnt = add_iov(iov, cnt, p->replay, p->replay_len, &skip);
        n = uc->writev(uc, iov, cnt);
        if (n == WEIR_AGAIN) {
            weir_timer_add(&uc->write,
                           weir_proxy_timeout(p, p->uconf->send_timeout));
            return;
        }
        if (n == WEIR_ERROR) {
            weir_proxy_fail(p, F_SEND_ERROR, errno, NULL);
            return;
        }
        p->sent += (size_t) n;
    }
    weir_timer_del(&uc->write);
    if (p->body_mode == 2 && !p->client_body_done) {
        if (p->sbuf == NULL) {
            p->sbuf = weir_palloc(p->r->pool, SBUF_SIZE + 32);
            if (p->sbuf == NULL) {
                weir_proxy_fail(p, F_SEND_ERROR, ENOMEM, NULL);
                return;
            }
        }
        weir_proxy_phase(p, P_STREAM);
        weir_http_set_handlers(p->r, weir_proxy_client_body_handler, NULL,
                               "proxying request body");
        weir_proxy_stream_body(p);
        return;
    }
    p->request_sent = 1;
    weir_proxy_phase(p, P_HEAD);
    uc->log.action = "reading response head from upstream";
    weir_timer_add(&uc->read, weir_proxy_timeout(p, p->uconf->read_timeout));
    weir_proxy_read_head(p);
}

/* Client body -> sbuf -> upstream, one buffer at a time: the client is
 * read only when the upstream took the previous buffer (back-pressure). */
void
weir_proxy_stream_body(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_conn_t    *uc = p->uc;
    struct iovec    iov;
    ssize_t         n;
    int             h;

    for (;;) {
        if (p->s_pos < p->s_last) {
            iov.iov_base = p->sbuf + p->s_pos;
            iov.iov_len = p->s_last - p->s_pos;
            n = uc->writev(uc, &iov, 1);
            if (n == WEIR_AGAIN) {
                weir_timer_add(&uc->write,
                           weir_proxy_timeout(p, p->uconf->send_timeout));
                weir_timer_del(&r->c->read);
                return;
            }
            if (n == WEIR_ERROR) {
                weir_proxy_fail(p, F_SEND_ERROR, errno, NULL);
                return;
            }
            p->s_pos += (size_t) n;
            continue;
        }
        weir_timer_del(&uc->write);
        if (p->client_body_done) {
            break;
        }
        /* Room for a chunk header in front and CRLF behind. */
        p->s_pos = p->s_last = 0;
        n = weir_http_read_body(r, p->sbuf + 16, SBUF_SIZE - 16);
        if (n == WEIR_AGAIN) {
            weir_timer_add(&r->c->read, weir_http.conf->client_body_timeout);
            return;
        }
        if (n == WEIR_ERROR) {
            /* The upstream got part of a body: it must not see a
             * complete-looking request. */
            weir_proxy_release_upstream(p, 0);
            body_error(p);
            return;
        }
        weir_timer_del(&r->c->read);
        if (n == 0) {
            p->client_body_done = 1;
            if (p->up_chunked) {
                memcpy(p->sbuf, "0\r\n\r\n", 5);
                p->s_last = 5;
            }
            continue;
        }
        if (p->up_chunked) {
            h = snprintf(p->chunk_hdr, sizeof(p->chunk_hdr), "%zx\r\n",
                         (size_t) n);
            p->s_pos = (size_t) (16 - h);
            memcpy(p->sbuf + p->s_pos, p->chunk_hdr, (size_t) h);
            memcpy(p->sbuf + 16 + n, "\r\n", 2);
            p->s_last = 16 + (size_t) n + 2;
        } else {
            p->s_pos = 16;
            p->s_last = 16 + (size_t) n;
        }
    }
    p->request_sent = 1;
    /* A FIN (or close_notify) that came with the body's last bytes came
     * with the request: the client waits for the answer (client_watch). */
    p->client_halfclosed |= r->c->read.eof;
    weir_http_set_handlers(r, weir_proxy_client_watch, NULL, "proxying");
    if (p->phase == P_STREAM) {
        weir_proxy_phase(p, P_HEAD);
        uc->log.action = "reading response head from upstream";
        weir_timer_add(&uc->read,
                       weir_proxy_timeout(p, p->uconf->read_timeout));
        weir_proxy_read_head(p);
    }
}
