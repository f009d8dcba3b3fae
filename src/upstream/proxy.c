#include "weir_config.h"
#include "upstream/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"
#include "http/response.h"
#include "upstream/upstream.h"

/*
 * Phases of a proxied request. The upstream connection's and the client
 * connection's event handlers both land in the function of the phase.
 *
 *   BUFFER   reading a small request body from the client (replayable)
 *   CONNECT  connect() in progress
 *   SEND     writing the request head (+ buffered body) upstream
 *   STREAM   streaming a large request body client -> upstream
 *   HEAD     waiting for and parsing the response head
 *   BODY     streaming the response body upstream -> client
 *   TUNNEL   upgraded connection: bytes both ways
 */
enum phase { P_BUFFER, P_CONNECT, P_SEND, P_STREAM, P_HEAD, P_BODY, P_TUNNEL,
             P_DONE };

/* One error taxonomy (DESIGN §4): logs, access log and retry decisions. */
enum fail_kind {
    F_CONNECT_REFUSED, F_CONNECT_TIMEOUT, F_SEND_ERROR, F_HEADER_TIMEOUT,
    F_RESET_BEFORE_HEADERS, F_BAD_RESPONSE, F_READ_TIMEOUT, F_RESET_MID_BODY,
    F_NO_PEER
};

static const struct {
    const char *name;
    int         status;
    const char *code;
} fails[] = {
    { "connect_refused", 502, "UPSTREAM_CONNECT_FAILED" },
    { "connect_timeout", 504, "UPSTREAM_TIMEOUT" },
    { "send_error", 502, "UPSTREAM_SEND_FAILED" },
    { "header_timeout", 504, "UPSTREAM_TIMEOUT" },
    { "reset_before_headers", 502, "UPSTREAM_RESET" },
    { "bad_response", 502, "UPSTREAM_BAD_RESPONSE" },
    { "read_timeout", 504, "UPSTREAM_TIMEOUT" },
    { "reset_mid_body", 502, "UPSTREAM_RESET" },
    { "no_healthy_peer", 503, "NO_HEALTHY_UPSTREAM" },
};

#define REPLAY_MAX   65536     /* bodies up to this size are retryable */
#define RBUF_SIZE    65536     /* upstream -> client */
#define SBUF_SIZE    16384     /* client -> upstream (streaming) */
#define MAX_TRIED    16
#define MAX_RESP_HEADERS 100

typedef struct proxy_s {
    weir_request_t            *r;
    weir_upstream_t           *u;
    const weir_upstream_conf_t *uconf;
    weir_peer_t               *peer;
    weir_peer_t               *tried[MAX_TRIED];
    size_t                     ntried;
    int                        tries;
    weir_conn_t               *uc;
    int                        phase;

    /* request */
    char                      *head;
    size_t                     head_len;
    int                        body_mode;     /* 0 none, 1 buffered, 2 stream */
    int                        up_chunked;    /* body sent chunked upstream */
    char                      *replay;
    size_t                     replay_len;
    size_t                     sent;          /* of head + replay */
    char                      *sbuf;
    size_t                     s_pos, s_last;
    unsigned                   client_body_done:1;
    unsigned                   request_sent:1;
    unsigned                   reused:1;
    unsigned                   fresh_only:1;  /* retry: no pooled conn */
    unsigned                   resp_started:1;
    unsigned                   client_head_sent:1;
    unsigned                   client_chunked:1;
    unsigned                   body_done:1;
    unsigned                   terminator_sent:1;
    unsigned                   upstream_eof:1;
    unsigned                   client_eof:1;
    unsigned                   idempotent:1;

    /* response */
    char                      *rbuf;
    size_t                     rb_pos, rb_last;
    weir_http_response_head_t  rh;
    weir_http_header_t        *rheaders;      /* MAX_RESP_HEADERS */
    weir_http_framing_t        rf;
    weir_http_chunked_t        rch;
    uint64_t                   rleft;
    weir_msec_t                keepalive_hint;  /* ms, -1 none */
    struct iovec               out[6];
    int                        nout;
    char                       chunk_hdr[24];
    size_t                     pend_consume;  /* rbuf bytes freed by out */

    weir_msec_t                t_start, t_connect_start;
    char                       addrs[256];
    size_t                     addrs_len;
} proxy_t;

static int weir_proxy_quitting;

/* Response buffers are recycled: a 64 KiB malloc/free per request costs
 * more than the whole parse. A few are kept, never more. */
#define RBUF_FREE_MAX 32
static char  *rbuf_free[RBUF_FREE_MAX];
static size_t nrbuf_free;

static void cleanup(void *data);
static int build_head(proxy_t *p);
static int hop_by_hop(const char *name, size_t len);
static int listed_in_connection(const weir_request_t *r, const char *name,
    size_t len);
static void client_body_handler(weir_event_t *ev);
static void buffer_body(proxy_t *p);
static void connect_peer(proxy_t *p);
static void upstream_write_handler(weir_event_t *ev);
static void upstream_read_handler(weir_event_t *ev);
static void client_write_handler(weir_event_t *ev);
static void connected(proxy_t *p);
static void send_request(proxy_t *p);
static void stream_body(proxy_t *p);
static void read_head(proxy_t *p);
static void process_head(proxy_t *p);
static int client_head(proxy_t *p);
static void pump(proxy_t *p);
static int produce(proxy_t *p);
static int terminate(proxy_t *p);
static void finish(proxy_t *p);
static void tunnel(proxy_t *p);
static void fail(proxy_t *p, int kind, int err, const char *detail);
static int may_retry(proxy_t *p, int kind);
static void release_upstream(proxy_t *p, int reusable);
static void note_addr(proxy_t *p);

void
weir_proxy_shutdown(void)
{
    weir_proxy_quitting = 1;
    weir_upstream_keepalive_close_all();
}

/* If the request ends early (client gone), its upstream connection goes. */
static void
cleanup(void *data)
{
    proxy_t *p = data;

    if (p->uc) {
        weir_conn_close(p->uc);
        p->uc = NULL;
    }
    if (p->rbuf) {
        if (nrbuf_free < RBUF_FREE_MAX) {
            rbuf_free[nrbuf_free++] = p->rbuf;
        } else {
            free(p->rbuf);
        }
        p->rbuf = NULL;
    }
}

void
weir_proxy_handle(weir_request_t *r)
{
    proxy_t *p;

    p = weir_pcalloc(r->pool, sizeof(*p));
    if (p == NULL || weir_pool_cleanup_add(r->pool, cleanup, p) != 0) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    p->r = r;
    r->proxy = p;
    p->uconf = r->route->upstream;
    p->u = weir_upstream_get(p->uconf);
    p->t_start = weir_current_msec;
    p->keepalive_hint = -1;
    p->idempotent = r->method == WEIR_HTTP_GET || r->method == WEIR_HTTP_HEAD
                    || r->method == WEIR_HTTP_OPTIONS
                    || r->method == WEIR_HTTP_TRACE
                    || r->method == WEIR_HTTP_PUT
                    || r->method == WEIR_HTTP_DELETE
                    || p->uconf->retry_non_idempotent;
    r->c->data = r->hc;
    if (p->u == NULL) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    p->rheaders = weir_palloc(r->pool,
                              sizeof(weir_http_header_t) * MAX_RESP_HEADERS);
    if (p->rheaders == NULL) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    p->rbuf = nrbuf_free ? rbuf_free[--nrbuf_free] : malloc(RBUF_SIZE);
    if (p->rbuf == NULL) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    if (r->framing.body == WEIR_HTTP_BODY_CHUNKED) {
        p->up_chunked = 1;
        p->body_mode = 1;
    } else if (r->framing.body == WEIR_HTTP_BODY_LENGTH
               && r->framing.content_length > 0) {
        p->body_mode = r->framing.content_length <= REPLAY_MAX ? 1 : 2;
    }
    if (p->body_mode == 1) {
        p->replay = weir_palloc(r->pool, REPLAY_MAX + 32);
        if (p->replay == NULL) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
    }
    r->c->read.data = r->c;
    r->c->write.data = r->c;
    r->hc->r = r;
    if (p->body_mode == 1) {
        p->phase = P_BUFFER;
        weir_http_set_handlers(r, client_body_handler, NULL,
                               "reading client request body");
        buffer_body(p);
        return;
    }
    p->client_body_done = p->body_mode == 0;
    if (build_head(p) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    connect_peer(p);
}

/* The proxy state is reached from the client connection through the
 * request: r->hc->r; from the upstream connection through uc->data. */
static proxy_t *
client_proxy(weir_event_t *ev)
{
    weir_conn_t      *c = ev->data;
    weir_http_conn_t *hc = c->data;

    return hc && hc->r ? hc->r->proxy : NULL;
}

/* ---- the request head ------------------------------------------------------- */

static int
hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-connection", "content-length", "host", "expect",
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "via"
    };
    size_t i;

    for (i = 0; i < weir_nelems(hop); i++) {
        if (strlen(hop[i]) == len && weir_strncaseeq(name, hop[i], len)) {
            return 1;
        }
    }
    return 0;
}

/* Headers named by Connection are hop-by-hop too (RFC 9110 7.6.1). */
static int
listed_in_connection(const weir_request_t *r, const char *name, size_t len)
{
    char       tok[64];
    weir_str_t v;
    size_t     i;

    if (len >= sizeof(tok)) {
        return 0;
    }
    memcpy(tok, name, len);
    tok[len] = '\0';
    for (i = 0; i < r->head.num_headers; i++) {
        const weir_http_header_t *h = &r->headers[i];
        if (h->name_len == 10 && weir_strncaseeq(h->name, "connection", 10)) {
            v.data = h->value;
            v.len = h->value_len;
            if (weir_str_has_token(&v, tok)) {
                return 1;
            }
        }
    }
    return 0;
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

#define APPEND(str, len) (s = weir_cpymem(s, (str), (len)))
#define LIT(lit)         (s = weir_cpylit(s, lit))

static int
build_head(proxy_t *p)
{
    weir_request_t          *r = p->r;
    const weir_route_conf_t *rt = r->route;
    const weir_http_header_t *h, *xff = NULL, *via = NULL, *rid = NULL;
    size_t                   size = 768, i;
    char                    *s;

    /* An upper bound of everything appended below, so the appends need
     * no checks (the Host value may appear twice: Host and
     * X-Forwarded-Host). */
    for (i = 0; i < r->head.num_headers; i++) {
        size += r->headers[i].name_len + r->headers[i].value_len + 4;
    }
    for (i = 0; i < rt->nset_headers; i++) {
        size += strlen(rt->set_headers[i].name)
                + strlen(rt->set_headers[i].value) + 4;
    }
    size += r->method_name.len + r->uri.len
            + (rt->host_header ? strlen(rt->host_header) : 0)
            + (r->h_host ? 2 * r->h_host->value_len : 0)
            + sizeof(r->c->addr_text) + sizeof(r->request_id)
            + (p->u->npeers ? strlen(p->u->peers[0].conf->text) : 0);
    s = p->head = weir_palloc(r->pool, size);
    if (s == NULL) {
        return WEIR_ERROR;
    }

    APPEND(r->method_name.data, r->method_name.len);
    LIT(" ");
    APPEND(r->uri.data, r->uri.len);
    LIT(" HTTP/1.1\r\nHost: ");
    if (rt->host_header) {
        APPEND(rt->host_header, strlen(rt->host_header));
    } else if (r->h_host) {
        APPEND(r->h_host->value, r->h_host->value_len);
    } else if (p->u->npeers) {
        APPEND(p->u->peers[0].conf->text, strlen(p->u->peers[0].conf->text));
    }
    LIT("\r\n");
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
        if (hop_by_hop(h->name, h->name_len)
            || listed_in_connection(r, h->name, h->name_len)
            || edited(rt, h->name, h->name_len)) {
            continue;
        }
        APPEND(h->name, h->name_len);
        LIT(": ");
        APPEND(h->value, h->value_len);
        LIT("\r\n");
    }
    LIT("X-Forwarded-For: ");
    if (xff) {
        APPEND(xff->value, xff->value_len);
        LIT(", ");
    }
    APPEND(r->c->addr_text, strlen(r->c->addr_text));
    LIT("\r\nX-Forwarded-Proto: http\r\n");
    if (r->h_host) {
        LIT("X-Forwarded-Host: ");
        APPEND(r->h_host->value, r->h_host->value_len);
        LIT("\r\n");
    }
    LIT("Via: ");
    if (via) {
        APPEND(via->value, via->value_len);
        LIT(", ");
    }
    LIT("1.1 weir\r\n");
    if (rid == NULL) {
        LIT("X-Request-Id: ");
        APPEND(r->request_id, strlen(r->request_id));
        LIT("\r\n");
    } else if (rid->value_len > 0) {
        /* Keep the caller's id so logs on both sides correlate. */
        size_t k = weir_min(rid->value_len, sizeof(r->request_id) - 1);
        memcpy(r->request_id, rid->value, k);
        r->request_id[k] = '\0';
    }
    for (i = 0; i < rt->nset_headers; i++) {
        const weir_header_edit_t *e = &rt->set_headers[i];
        if (e->value[0] != '\0') {
            APPEND(e->name, strlen(e->name));
            LIT(": ");
            APPEND(e->value, strlen(e->value));
            LIT("\r\n");
        }
    }
    if (p->body_mode == 1) {
        /* A buffered body (even one that came chunked) goes with its
         * length: simplest for every upstream. */
        LIT("Content-Length: ");
        s = weir_sprint_u64(s, p->replay_len);
        LIT("\r\n");
    } else if (p->body_mode == 2 && p->up_chunked) {
        LIT("Transfer-Encoding: chunked\r\n");
    } else if (p->body_mode == 2) {
        LIT("Content-Length: ");
        s = weir_sprint_u64(s, r->framing.content_length);
        LIT("\r\n");
    }
    if (r->framing.upgrade) {
        const weir_http_header_t *up = weir_http_header_find(r, "upgrade");
        LIT("Connection: upgrade\r\nUpgrade: ");
        if (up) {
            APPEND(up->value, up->value_len);
        }
        LIT("\r\n");
    } else if (p->uconf->keepalive == 0) {
        LIT("Connection: close\r\n");
    }
    LIT("\r\n");
    p->head_len = (size_t) (s - p->head);
    return WEIR_OK;
}

#undef APPEND
#undef LIT

/* ---- request body: small ones are buffered (replayable) ----------------- */

static void
client_body_handler(weir_event_t *ev)
{
    proxy_t *p = client_proxy(ev);

    if (p == NULL) {
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                       "client timed out sending the request body");
        p->r->lingering = 1;
        weir_http_finalize_error(p->r, 408, "REQUEST_TIMEOUT");
        return;
    }
    if (p->phase == P_BUFFER) {
        buffer_body(p);
    } else if (p->phase == P_STREAM) {
        stream_body(p);
    } else if (p->phase == P_TUNNEL) {
        tunnel(p);
    }
}

static void
body_error(proxy_t *p)
{
    weir_request_t *r = p->r;

    if (r->body_error == 0) {
        /* The client went away: nobody to answer. */
        weir_http_abort(r);
        return;
    }
    r->lingering = 1;
    weir_http_finalize_error(r, r->body_error,
                             r->body_error == 413 ? "BODY_TOO_LARGE"
                                                  : "BAD_REQUEST");
}

static void
buffer_body(proxy_t *p)
{
    weir_request_t *r = p->r;
    ssize_t         n;

    for (;;) {
        if (p->replay_len == REPLAY_MAX) {
            /* A chunked body that fills the replay buffer: stream it,
             * starting with what was buffered (not retryable). The 32
             * spare bytes take the chunk framing around it. */
            p->body_mode = 2;
            p->sbuf = weir_palloc(r->pool, SBUF_SIZE + 32);
            if (p->sbuf == NULL || build_head(p) != WEIR_OK) {
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
    weir_http_set_handlers(r, NULL, NULL, "proxying");
    if (p->body_mode == 1 && build_head(p) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    connect_peer(p);
}

/* ---- connecting ----------------------------------------------------------------- */

static void
note_addr(proxy_t *p)
{
    int n;

    n = snprintf(p->addrs + p->addrs_len, sizeof(p->addrs) - p->addrs_len,
                 "%s%s", p->addrs_len ? ", " : "", p->peer->conf->text);
    if (n > 0 && (size_t) n < sizeof(p->addrs) - p->addrs_len) {
        p->addrs_len += (size_t) n;
    }
    p->r->upstream_addr = p->addrs;
}

static void
connect_peer(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_conn_t    *uc;

    if (!p->fresh_only || p->peer == NULL) {
        p->peer = weir_upstream_pick(p->u, p->tried, p->ntried);
    }
    if (p->peer == NULL) {
        fail(p, F_NO_PEER, 0, NULL);
        return;
    }
    p->tries++;
    if (p->ntried < MAX_TRIED) {
        p->tried[p->ntried++] = p->peer;
    }
    note_addr(p);
    p->sent = 0;
    p->s_pos = p->s_last = 0;
    p->rb_pos = p->rb_last = 0;
    p->resp_started = 0;
    p->request_sent = 0;
    p->peer->requests++;

    uc = p->fresh_only ? NULL : weir_upstream_keepalive_get(p->peer);
    p->fresh_only = 0;
    p->t_connect_start = weir_current_msec;
    if (uc) {
        p->uc = uc;
        p->reused = 1;
        uc->data = p;
        uc->read.handler = upstream_read_handler;
        uc->write.handler = upstream_write_handler;
        uc->log = r->c->log;
        r->upstream_connect_ms = 0;
        p->phase = P_SEND;
        send_request(p);
        return;
    }
    p->reused = 0;
    uc = weir_upstream_connect(p->peer);
    if (uc == NULL) {
        fail(p, F_CONNECT_REFUSED, errno, NULL);
        return;
    }
    p->uc = uc;
    uc->data = p;
    uc->log = r->c->log;
    uc->log.action = "connecting to upstream";
    uc->read.handler = upstream_read_handler;
    uc->write.handler = upstream_write_handler;
    p->phase = P_CONNECT;
    weir_timer_add(&uc->write, p->uconf->connect_timeout);
}

static void
upstream_write_handler(weir_event_t *ev)
{
    weir_conn_t *uc = ev->data;
    proxy_t     *p = uc->data;

    switch (p->phase) {
    case P_CONNECT:
        if (ev->timedout) {
            ev->timedout = 0;
            fail(p, F_CONNECT_TIMEOUT, ETIMEDOUT, NULL);
            return;
        }
        connected(p);
        return;
    case P_SEND:
        if (ev->timedout) {
            ev->timedout = 0;
            fail(p, F_SEND_ERROR, ETIMEDOUT, NULL);
            return;
        }
        send_request(p);
        return;
    case P_STREAM:
        if (ev->timedout) {
            ev->timedout = 0;
            fail(p, F_SEND_ERROR, ETIMEDOUT, NULL);
            return;
        }
        stream_body(p);
        return;
    case P_TUNNEL:
        tunnel(p);
        return;
    default:
        return;
    }
}

static void
upstream_read_handler(weir_event_t *ev)
{
    weir_conn_t *uc = ev->data;
    proxy_t     *p = uc->data;

    switch (p->phase) {
    case P_SEND:
    case P_STREAM:
        /* An early response (an error before the body is all sent). */
        if (p->resp_started || ev->eof || ev->error || ev->ready) {
            read_head(p);
        }
        return;
    case P_HEAD:
        if (ev->timedout) {
            ev->timedout = 0;
            fail(p, F_HEADER_TIMEOUT, ETIMEDOUT, NULL);
            return;
        }
        read_head(p);
        return;
    case P_BODY:
        if (ev->timedout) {
            ev->timedout = 0;
            fail(p, F_READ_TIMEOUT, ETIMEDOUT, NULL);
            return;
        }
        pump(p);
        return;
    case P_TUNNEL:
        if (ev->timedout) {
            ev->timedout = 0;
            weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                           "tunnel idle timeout");
            release_upstream(p, 0);
            weir_http_abort(p->r);
            return;
        }
        tunnel(p);
        return;
    default:
        return;
    }
}

static void
connected(proxy_t *p)
{
    int       err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(p->uc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    if (err) {
        fail(p, err == ETIMEDOUT ? F_CONNECT_TIMEOUT : F_CONNECT_REFUSED, err,
             NULL);
        return;
    }
    weir_timer_del(&p->uc->write);
    p->r->upstream_connect_ms = weir_current_msec - p->t_connect_start;
    p->phase = P_SEND;
    p->uc->log.action = "sending request to upstream";
    send_request(p);
}

/* ---- sending the request ---------------------------------------------------------- */

static void
send_request(proxy_t *p)
{
    weir_conn_t  *uc = p->uc;
    struct iovec  iov[2];
    size_t        total = p->head_len + p->replay_len;
    ssize_t       n;
    int           cnt;

    while (p->sent < total) {
        cnt = 0;
        if (p->sent < p->head_len) {
            iov[cnt].iov_base = p->head + p->sent;
            iov[cnt++].iov_len = p->head_len - p->sent;
            if (p->replay_len) {
                iov[cnt].iov_base = p->replay;
                iov[cnt++].iov_len = p->replay_len;
            }
        } else {
            iov[cnt].iov_base = p->replay + (p->sent - p->head_len);
            iov[cnt++].iov_len = total - p->sent;
        }
        n = uc->writev(uc, iov, cnt);
        if (n == WEIR_AGAIN) {
            weir_timer_add(&uc->write, p->uconf->send_timeout);
            return;
        }
        if (n == WEIR_ERROR) {
            fail(p, F_SEND_ERROR, errno, NULL);
            return;
        }
        p->sent += (size_t) n;
    }
    weir_timer_del(&uc->write);
    if (p->body_mode == 2 && !p->client_body_done) {
        if (p->sbuf == NULL) {
            p->sbuf = weir_palloc(p->r->pool, SBUF_SIZE + 32);
            if (p->sbuf == NULL) {
                fail(p, F_SEND_ERROR, ENOMEM, NULL);
                return;
            }
        }
        p->phase = P_STREAM;
        weir_http_set_handlers(p->r, client_body_handler, NULL,
                               "proxying request body");
        stream_body(p);
        return;
    }
    p->request_sent = 1;
    p->phase = P_HEAD;
    uc->log.action = "reading response head from upstream";
    weir_timer_add(&uc->read, p->uconf->read_timeout);
    read_head(p);
}

/* Client body -> sbuf -> upstream, one buffer at a time: the client is
 * read only when the upstream took the previous buffer (back-pressure). */
static void
stream_body(proxy_t *p)
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
                weir_timer_add(&uc->write, p->uconf->send_timeout);
                weir_timer_del(&r->c->read);
                return;
            }
            if (n == WEIR_ERROR) {
                fail(p, F_SEND_ERROR, errno, NULL);
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
            release_upstream(p, 0);
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
    weir_http_set_handlers(r, NULL, NULL, "proxying");
    if (p->phase == P_STREAM) {
        p->phase = P_HEAD;
        uc->log.action = "reading response head from upstream";
        weir_timer_add(&uc->read, p->uconf->read_timeout);
        read_head(p);
    }
}

/* ---- the response head -------------------------------------------------------- */

static void
read_head(proxy_t *p)
{
    weir_conn_t *uc = p->uc;
    size_t       consumed;
    ssize_t      n;
    int          rc;

    for (;;) {
        if (p->rb_last > p->rb_pos) {
            p->rh.headers = p->rheaders;
            p->rh.max_headers = MAX_RESP_HEADERS;
            p->rh.num_headers = 0;
            rc = weir_http_parse_response(p->rbuf + p->rb_pos,
                                          p->rb_last - p->rb_pos, &p->rh,
                                          &consumed);
            if (rc == WEIR_OK) {
                if (p->rh.status >= 100 && p->rh.status < 200
                    && p->rh.status != 101) {
                    /* Interim responses are not forwarded. */
                    p->rb_pos += consumed;
                    continue;
                }
                p->rb_pos += consumed;
                process_head(p);
                return;
            }
            if (rc > 0) {
                fail(p, F_BAD_RESPONSE, 0, weir_http_error_text(rc));
                return;
            }
            if (p->rb_pos == 0 && p->rb_last == RBUF_SIZE) {
                fail(p, F_BAD_RESPONSE, 0, "response head too large");
                return;
            }
        }
        if (p->rb_pos > 0) {
            memmove(p->rbuf, p->rbuf + p->rb_pos, p->rb_last - p->rb_pos);
            p->rb_last -= p->rb_pos;
            p->rb_pos = 0;
        }
        if (!uc->read.ready) {
            /* Edge-triggered: epoll tells us when the answer arrives; a
             * recv() now would only say EAGAIN (one syscall saved per
             * request). */
            return;
        }
        n = uc->recv(uc, p->rbuf + p->rb_last, RBUF_SIZE - p->rb_last);
        if (n == WEIR_AGAIN) {
            return;
        }
        if (n == WEIR_ERROR || n == 0) {
            if (p->rb_last == 0) {
                fail(p, F_RESET_BEFORE_HEADERS, n ? errno : 0, NULL);
            } else {
                fail(p, F_BAD_RESPONSE, n ? errno : 0,
                     "connection closed inside the response head");
            }
            return;
        }
        p->resp_started = 1;
        p->rb_last += (size_t) n;
    }
}

static int
resp_hop_by_hop(proxy_t *p, const weir_http_header_t *h)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-connection", "content-length", "date", "server"
    };
    size_t     i;
    char       tok[64];
    weir_str_t v;

    for (i = 0; i < weir_nelems(hop); i++) {
        if (strlen(hop[i]) == h->name_len
            && weir_strncaseeq(h->name, hop[i], h->name_len)) {
            return 1;
        }
    }
    if (h->name_len >= sizeof(tok)) {
        return 0;
    }
    memcpy(tok, h->name, h->name_len);
    tok[h->name_len] = '\0';
    for (i = 0; i < p->rh.num_headers; i++) {
        const weir_http_header_t *c = &p->rheaders[i];
        if (c->name_len == 10 && weir_strncaseeq(c->name, "connection", 10)) {
            v.data = c->value;
            v.len = c->value_len;
            if (weir_str_has_token(&v, tok)) {
                return 1;
            }
        }
    }
    return 0;
}

/* "Keep-Alive: timeout=5": expire the pooled connection before the peer
 * does, so that we do not reuse one it is about to close. */
static void
keepalive_hint(proxy_t *p)
{
    size_t i, k;

    for (i = 0; i < p->rh.num_headers; i++) {
        const weir_http_header_t *h = &p->rheaders[i];
        if (h->name_len != 10 || !weir_strncaseeq(h->name, "keep-alive", 10)) {
            continue;
        }
        for (k = 0; k + 8 <= h->value_len; k++) {
            if (weir_strncaseeq(h->value + k, "timeout=", 8)) {
                int64_t secs = 0;
                size_t  e = k + 8;
                while (e < h->value_len && h->value[e] >= '0'
                       && h->value[e] <= '9' && secs < 100000) {
                    secs = secs * 10 + (h->value[e++] - '0');
                }
                p->keepalive_hint = secs * 1000 - 1000;
                return;
            }
        }
    }
}

static void
process_head(proxy_t *p)
{
    weir_request_t *r = p->r;
    int             rc;

    weir_timer_del(&p->uc->read);
    r->upstream_status = p->rh.status;
    rc = weir_http_response_framing(&p->rh, r->method == WEIR_HTTP_HEAD,
                                    &p->rf);
    if (rc != WEIR_OK) {
        fail(p, F_BAD_RESPONSE, 0, weir_http_error_text(rc));
        return;
    }
    if (p->rh.status == 101 && !r->framing.upgrade) {
        fail(p, F_BAD_RESPONSE, 0, "101 to a request that did not upgrade");
        return;
    }
    if (!p->request_sent) {
        /* Answered before the body was all sent: the rest of the client's
         * body stays unread, so the client connection cannot be reused
         * and neither can the upstream one. */
        r->keepalive = 0;
        r->lingering = 1;
        weir_http_set_handlers(r, NULL, NULL, "proxying");
        weir_timer_del(&r->c->read);
    }
    keepalive_hint(p);
    p->rleft = p->rf.content_length;
    weir_upstream_peer_ok(p->peer);
    if (client_head(p) != WEIR_OK) {
        release_upstream(p, 0);
        weir_http_abort(r);
        return;
    }
    r->upstream_response_ms = weir_current_msec - p->t_start;
    if (p->rh.status == 101) {
        p->phase = P_TUNNEL;
        if (p->sbuf == NULL) {
            p->sbuf = weir_palloc(r->pool, SBUF_SIZE + 32);
        }
        if (p->sbuf == NULL) {
            release_upstream(p, 0);
            weir_http_abort(r);
            return;
        }
        p->s_pos = p->s_last = 0;
        r->keepalive = 0;
        weir_http_set_handlers(r, client_body_handler, client_write_handler,
                               "tunnelling");
        p->uc->log.action = "tunnelling";
        tunnel(p);
        return;
    }
    p->phase = P_BODY;
    p->uc->log.action = "reading response body from upstream";
    weir_http_set_handlers(r, NULL, client_write_handler,
                           "sending response to client");
    /* Whatever body came with the head goes out in the same writev. */
    if (p->rb_pos < p->rb_last || p->rf.body == WEIR_HTTP_BODY_NONE) {
        if (produce(p) == WEIR_OK) {
            terminate(p);
        }
    }
    pump(p);
}

static int
client_head(proxy_t *p)
{
    weir_request_t *r = p->r;
    size_t          i;

    r->status = p->rh.status;
    r->nresp = 0;
    for (i = 0; i < p->rh.num_headers; i++) {
        const weir_http_header_t *h = &p->rheaders[i];
        int pass_length = h->name_len == 14
                          && weir_strncaseeq(h->name, "content-length", 14)
                          && p->rf.body == WEIR_HTTP_BODY_NONE;
        int pass_upgrade = p->rh.status == 101 && h->name_len == 7
                           && weir_strncaseeq(h->name, "upgrade", 7);

        /* HEAD and 304 keep the length of the representation. */
        if (!pass_length && !pass_upgrade && resp_hop_by_hop(p, h)) {
            continue;
        }
        if (weir_http_add_header(r, h->name, h->name_len, h->value,
                                 h->value_len) != WEIR_OK) {
            weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                           "too many response headers from upstream");
            return WEIR_ERROR;
        }
    }
    r->content_length = -1;
    switch (p->rf.body) {
    case WEIR_HTTP_BODY_LENGTH:
        r->content_length = (off_t) p->rf.content_length;
        break;
    case WEIR_HTTP_BODY_CHUNKED:
    case WEIR_HTTP_BODY_CLOSE:
        if (r->head.version >= 11) {
            p->client_chunked = 1;
            weir_http_add_header(r, "Transfer-Encoding", 17, "chunked", 7);
        } else {
            r->keepalive = 0;   /* the end is the close */
        }
        break;
    default:
        break;
    }
    if (p->rh.status == 101) {
        r->upgraded = 1;
        r->keepalive = 0;
    }
    if (weir_http.quitting || r->c->close) {
        r->keepalive = 0;
    }
    if (weir_http_response_head(r) != WEIR_OK) {
        return WEIR_ERROR;
    }
    p->out[0].iov_base = r->out;
    p->out[0].iov_len = r->out_len;
    p->nout = 1;
    p->pend_consume = 0;
    p->client_head_sent = 1;   /* from here on, failures truncate */
    return WEIR_OK;
}

/* ---- the response body ----------------------------------------------------------- */

/* Write the pending iovecs to the client. WEIR_OK when all went out,
 * WEIR_AGAIN, WEIR_ERROR. */
static int
flush_out(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_conn_t    *c = r->c;
    ssize_t         n;
    size_t          k;
    int             i;

    while (p->nout > 0) {
        n = c->writev(c, p->out, p->nout);
        if (n == WEIR_AGAIN) {
            weir_timer_add(&c->write, weir_http.conf->send_timeout);
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            weir_log_error(WEIR_LOG_INFO, &c->log, errno,
                           "writev() to client failed");
            return WEIR_ERROR;
        }
        r->bytes_sent += (uint64_t) n;
        k = (size_t) n;
        for (i = 0; i < p->nout && k >= p->out[i].iov_len; i++) {
            k -= p->out[i].iov_len;
        }
        if (i == p->nout) {
            p->nout = 0;
            break;
        }
        memmove(p->out, p->out + i, sizeof(p->out[0]) * (size_t) (p->nout - i));
        p->nout -= i;
        p->out[0].iov_base = (char *) p->out[0].iov_base + k;
        p->out[0].iov_len -= k;
    }
    weir_timer_del(&c->write);
    p->rb_pos += p->pend_consume;
    p->pend_consume = 0;
    return WEIR_OK;
}

/* Queue one span of body data (inside rbuf) for the client, chunk-framed
 * when we re-chunk. */
static void
queue_data(proxy_t *p, const char *data, size_t len)
{
    int h;

    if (p->client_chunked) {
        h = snprintf(p->chunk_hdr, sizeof(p->chunk_hdr), "%zx\r\n", len);
        p->out[p->nout].iov_base = p->chunk_hdr;
        p->out[p->nout++].iov_len = (size_t) h;
    }
    p->out[p->nout].iov_base = (void *) data;
    p->out[p->nout++].iov_len = len;
    if (p->client_chunked) {
        p->out[p->nout].iov_base = (void *) "\r\n";
        p->out[p->nout++].iov_len = 2;
    }
    p->r->body_bytes_sent += len;
}

/* Produce output from what rbuf holds. WEIR_OK: something queued or the
 * body is complete; WEIR_AGAIN: rbuf needs more; WEIR_ERROR: bad chunk. */
static int
produce(proxy_t *p)
{
    size_t      avail = p->rb_last - p->rb_pos, n, used, dlen;
    const char *data;
    int         rc;

    switch (p->rf.body) {
    case WEIR_HTTP_BODY_NONE:
        p->body_done = 1;
        return WEIR_OK;
    case WEIR_HTTP_BODY_LENGTH:
        if (p->rleft == 0) {
            p->body_done = 1;
            return WEIR_OK;
        }
        if (avail == 0) {
            return WEIR_AGAIN;
        }
        n = (size_t) weir_min((uint64_t) avail, p->rleft);
        queue_data(p, p->rbuf + p->rb_pos, n);
        p->pend_consume = n;
        p->rleft -= n;
        return WEIR_OK;
    case WEIR_HTTP_BODY_CLOSE:
        if (avail == 0) {
            if (p->upstream_eof) {
                p->body_done = 1;
                return WEIR_OK;
            }
            return WEIR_AGAIN;
        }
        queue_data(p, p->rbuf + p->rb_pos, avail);
        p->pend_consume = avail;
        return WEIR_OK;
    default:
        while (p->rb_pos < p->rb_last) {
            rc = weir_http_chunked_step(&p->rch, p->rbuf + p->rb_pos, avail,
                                        &used, &data, &dlen);
            p->rb_pos += used;
            avail -= used;
            if (rc == WEIR_OK) {
                queue_data(p, data, dlen);
                return WEIR_OK;
            }
            if (rc == WEIR_DONE) {
                p->body_done = 1;
                return WEIR_OK;
            }
            if (rc > 0) {
                return WEIR_ERROR;
            }
            break;
        }
        return WEIR_AGAIN;
    }
}

/* Once the body is complete, queue the last chunk behind whatever is
 * pending (same writev). Returns 1 if it queued something. */
static int
terminate(proxy_t *p)
{
    if (!p->body_done || !p->client_chunked || p->terminator_sent) {
        return 0;
    }
    p->terminator_sent = 1;
    p->out[p->nout].iov_base = (void *) "0\r\n\r\n";
    p->out[p->nout++].iov_len = 5;
    return 1;
}

static void
client_write_handler(weir_event_t *ev)
{
    proxy_t *p = client_proxy(ev);

    if (p == NULL) {
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                       "client timed out reading the response");
        release_upstream(p, 0);
        weir_http_abort(p->r);
        return;
    }
    if (p->phase == P_BODY) {
        pump(p);
    } else if (p->phase == P_TUNNEL) {
        tunnel(p);
    }
}

/* Move the response body: write what is pending; only when the client
 * took it, parse/read more from the upstream (back-pressure). */
static void
pump(proxy_t *p)
{
    weir_conn_t *uc = p->uc;
    ssize_t      n;
    int          rc;

    for (;;) {
        rc = flush_out(p);
        if (rc == WEIR_AGAIN) {
            return;
        }
        if (rc == WEIR_ERROR) {
            release_upstream(p, 0);
            weir_http_abort(p->r);
            return;
        }
        if (p->body_done) {
            if (terminate(p)) {
                continue;
            }
            finish(p);
            return;
        }
        rc = produce(p);
        if (rc == WEIR_OK) {
            terminate(p);
            continue;
        }
        if (rc == WEIR_ERROR) {
            fail(p, F_BAD_RESPONSE, 0, "invalid chunked body");
            return;
        }
        /* rbuf is drained: read more from the upstream. */
        if (p->rb_pos == p->rb_last) {
            p->rb_pos = p->rb_last = 0;
        } else if (p->rb_pos > 0) {
            memmove(p->rbuf, p->rbuf + p->rb_pos, p->rb_last - p->rb_pos);
            p->rb_last -= p->rb_pos;
            p->rb_pos = 0;
        }
        n = uc->recv(uc, p->rbuf + p->rb_last, RBUF_SIZE - p->rb_last);
        if (n == WEIR_AGAIN) {
            weir_timer_add(&uc->read, p->uconf->read_timeout);
            return;
        }
        if (n == 0 && p->rf.body == WEIR_HTTP_BODY_CLOSE) {
            p->upstream_eof = 1;
            continue;
        }
        if (n <= 0) {
            fail(p, F_RESET_MID_BODY, n ? errno : 0, NULL);
            return;
        }
        p->rb_last += (size_t) n;
    }
}

static void
finish(proxy_t *p)
{
    weir_request_t *r = p->r;
    int reusable = p->rf.keepalive && p->request_sent && !p->upstream_eof
                   && p->rb_pos == p->rb_last && p->rf.body != WEIR_HTTP_BODY_CLOSE
                   && p->uconf->keepalive > 0 && !weir_proxy_quitting;

    p->phase = P_DONE;
    release_upstream(p, reusable);
    r->proxy = NULL;
    weir_http_finalize(r);
}

static void
release_upstream(proxy_t *p, int reusable)
{
    weir_conn_t *uc = p->uc;
    weir_msec_t  idle;

    if (uc == NULL) {
        return;
    }
    p->uc = NULL;
    weir_timer_del(&uc->read);
    weir_timer_del(&uc->write);
    uc->requests++;
    if (reusable && uc->requests < (uint64_t) p->uconf->keepalive_requests) {
        idle = p->uconf->keepalive_timeout;
        if (p->keepalive_hint >= 0) {
            idle = weir_min(idle, p->keepalive_hint);
        }
        uc->log = weir_errlog;
        weir_upstream_keepalive_put(p->peer, uc, idle);
        return;
    }
    weir_conn_close(uc);
}

/* ---- upgraded connections ------------------------------------------------------ */

/* Bytes both ways until both sides closed or the idle timeout. Each
 * direction reads only after the previous buffer was written out. */
static void
tunnel(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_conn_t    *c = r->c, *uc = p->uc;
    weir_buf_t     *cb = r->hc->buf;
    struct iovec    iov;
    ssize_t         n;
    int             progress;

    if (p->nout > 0) {
        /* The 101 head itself. */
        int rc = flush_out(p);
        if (rc == WEIR_AGAIN) {
            return;
        }
        if (rc == WEIR_ERROR) {
            release_upstream(p, 0);
            weir_http_abort(r);
            return;
        }
        /* Bytes the client sent right behind its request head. */
        if (cb && weir_buf_size(cb) > 0) {
            n = (ssize_t) weir_min(weir_buf_size(cb), SBUF_SIZE);
            memcpy(p->sbuf, cb->pos, (size_t) n);
            cb->pos += n;
            p->s_pos = 0;
            p->s_last = (size_t) n;
        }
    }
    do {
        progress = 0;
        /* upstream -> client */
        if (p->rb_pos < p->rb_last) {
            iov.iov_base = p->rbuf + p->rb_pos;
            iov.iov_len = p->rb_last - p->rb_pos;
            n = c->writev(c, &iov, 1);
            if (n == WEIR_ERROR) {
                goto closed;
            }
            if (n > 0) {
                p->rb_pos += (size_t) n;
                r->bytes_sent += (uint64_t) n;
                r->body_bytes_sent += (uint64_t) n;
                progress = 1;
            }
        } else if (!p->upstream_eof) {
            p->rb_pos = p->rb_last = 0;
            n = uc->recv(uc, p->rbuf, RBUF_SIZE);
            if (n > 0) {
                p->rb_last = (size_t) n;
                progress = 1;
            } else if (n == 0 || n == WEIR_ERROR) {
                p->upstream_eof = 1;
                shutdown(c->fd, SHUT_WR);
                progress = 1;
            }
        }
        /* client -> upstream */
        if (p->s_pos < p->s_last) {
            iov.iov_base = p->sbuf + p->s_pos;
            iov.iov_len = p->s_last - p->s_pos;
            n = uc->writev(uc, &iov, 1);
            if (n == WEIR_ERROR) {
                goto closed;
            }
            if (n > 0) {
                p->s_pos += (size_t) n;
                progress = 1;
            }
        } else if (!p->client_eof) {
            p->s_pos = p->s_last = 0;
            n = c->recv(c, p->sbuf, SBUF_SIZE);
            if (n > 0) {
                p->s_last = (size_t) n;
                progress = 1;
            } else if (n == 0 || n == WEIR_ERROR) {
                p->client_eof = 1;
                shutdown(uc->fd, SHUT_WR);
                progress = 1;
            }
        }
    } while (progress);

    if (p->upstream_eof && p->client_eof && p->rb_pos == p->rb_last
        && p->s_pos == p->s_last) {
        goto closed;
    }
    weir_timer_add(&uc->read, p->uconf->read_timeout);
    return;

closed:
    release_upstream(p, 0);
    r->proxy = NULL;
    weir_http_abort(r);
}

/* ---- failures ----------------------------------------------------------------------- */

static int
may_retry(proxy_t *p, int kind)
{
    int nothing_sent = kind == F_CONNECT_REFUSED || kind == F_CONNECT_TIMEOUT;
    int replayable = p->body_mode != 2;

    if (p->client_head_sent || kind == F_NO_PEER) {
        return 0;
    }
    /* A pooled connection the peer had closed: it never processed the
     * request, so try again on a fresh connection to the same peer. Not
     * counted as a retry. Non-idempotent only when nothing was written. */
    if (p->reused && !p->resp_started
        && (kind == F_SEND_ERROR || kind == F_RESET_BEFORE_HEADERS)
        && replayable && (p->idempotent || p->sent == 0)) {
        p->fresh_only = 1;
        if (p->ntried) {
            p->ntried--;     /* the same peer may be picked again */
        }
        p->tries--;
        return 1;
    }
    if (p->tries >= 1 + (int) p->uconf->retries) {
        return 0;
    }
    if (!nothing_sent && (!p->idempotent || !replayable)) {
        return 0;
    }
    if (!nothing_sent && kind == F_SEND_ERROR && !replayable) {
        return 0;
    }
    if (kind == F_CONNECT_TIMEOUT && !(p->uconf->retry_on & WEIR_RETRY_TIMEOUT)
        && !(p->uconf->retry_on & WEIR_RETRY_ERROR)) {
        return 0;
    }
    /* Another peer must exist. */
    return weir_upstream_pick_possible(p->u, p->tried, p->ntried);
}

static void
fail(proxy_t *p, int kind, int err, const char *detail)
{
    weir_request_t *r = p->r;
    const char     *addr = p->peer ? p->peer->conf->text : "-";
    int             retry;

    weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                   "upstream %s (%s)%s%s%s%s, upstream: %s",
                   kind == F_CONNECT_REFUSED ? "connect failed"
                   : kind == F_CONNECT_TIMEOUT ? "connect timed out"
                   : kind == F_SEND_ERROR ? "send failed"
                   : kind == F_HEADER_TIMEOUT ? "timed out before the response head"
                   : kind == F_RESET_BEFORE_HEADERS ? "closed connection before the response head"
                   : kind == F_BAD_RESPONSE ? "sent an invalid response"
                   : kind == F_READ_TIMEOUT ? "timed out reading the body"
                   : kind == F_RESET_MID_BODY ? "closed connection in the body"
                   : "has no usable peer",
                   fails[kind].name, err ? ": " : "", err ? strerror(err) : "",
                   detail ? ": " : "", detail ? detail : "", addr);

    if (p->uc) {
        weir_conn_close(p->uc);
        p->uc = NULL;
    }
    if (p->peer && !(p->reused && !p->resp_started
                     && (kind == F_SEND_ERROR
                         || kind == F_RESET_BEFORE_HEADERS))
        && kind != F_NO_PEER) {
        weir_upstream_peer_failed(p->peer);
    }
    if (p->client_head_sent) {
        /* The head went out: the only honest thing left is to cut the
         * body so the client sees a truncated response. */
        weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                       "response to client truncated (%s)", fails[kind].name);
        r->proxy = NULL;
        weir_http_abort(r);
        return;
    }
    retry = may_retry(p, kind);
    if (retry) {
        if (!p->fresh_only) {
            r->retries++;
        }
        connect_peer(p);
        return;
    }
    r->proxy = NULL;
    weir_http_set_handlers(r, NULL, NULL, "sending error response");
    weir_timer_del(&r->c->read);
    if (!p->client_body_done) {
        r->lingering = 1;
    }
    weir_http_finalize_error(r, fails[kind].status, fails[kind].code);
}
