#include "weir_config.h"
#include "upstream/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/log.h"
#include "core/wtime.h"
#include "upstream/proxy-t.h"
#include "upstream/upstream.h"

/* Indexed by enum fail_kind (proxy-t.h): log name, status, error code. */
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

int weir_proxy_quitting;

/* Response buffers are recycled: a 64 KiB malloc/free per request costs
 * more than the whole parse. A few are kept, never more. */
#define RBUF_FREE_MAX 32
static char  *rbuf_free[RBUF_FREE_MAX];
static size_t nrbuf_free;

static void cleanup(void *data);
static void note_addr(proxy_t *p);
static void upstream_write_handler(weir_event_t *ev);
static void upstream_read_handler(weir_event_t *ev);
static void connected(proxy_t *p);
static int may_retry(proxy_t *p, int kind);


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
    p->client_halfclosed = r->c->read.eof;
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
        weir_http_set_handlers(r, weir_proxy_client_body_handler, NULL,
                               "reading client request body");
        weir_proxy_buffer_body(p);
        return;
    }
    p->client_body_done = p->body_mode == 0;
    if (weir_proxy_build_head(p) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    weir_http_set_handlers(r, weir_proxy_client_watch, NULL, "proxying");
    weir_proxy_connect_peer(p);
}

/* A client that closes while weir waits for the upstream's answer would
 * otherwise hold the upstream connection until read_timeout, and that
 * timeout would count against a healthy peer: clients that give up could
 * mark it down for everyone. So a read event in these phases is looked
 * at without consuming anything: bytes mean a pipelined request (served
 * later), EOF or an error means the client is gone and the upstream
 * request is abandoned, logged as 499 like nginx.
 * A FIN cannot tell "gone" from "done sending, still reading" (nc -N,
 * pipelining clients). One that came with or before this request's bytes
 * is a client that sent everything and waits for the answers: it is
 * served (and so are requests still buffered behind this one). Only a
 * FIN that comes while we wait, or a reset, abandons the request. */
void
weir_proxy_client_watch(weir_event_t *ev)
{
    weir_conn_t *c = ev->data;
    proxy_t     *p = weir_proxy_from_client(ev);
    char         byte;
    ssize_t      n;

    if (p == NULL
        || (p->phase != P_CONNECT && p->phase != P_SEND && p->phase != P_HEAD)
        || (p->r->hc->buf && weir_buf_size(p->r->hc->buf) > 0)) {
        return;
    }
    n = recv(c->fd, &byte, 1, MSG_PEEK);
    if (n > 0 || (n == 0 && p->client_halfclosed)
        || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK
                      || errno == EINTR))) {
        return;
    }
    weir_log_error(WEIR_LOG_INFO, &c->log, n < 0 ? errno : 0,
                   "client closed connection while waiting for the "
                   "upstream response");
    weir_proxy_release_upstream(p, 0);
    p->r->proxy = NULL;
    p->r->status = 499;
    p->r->error_code = "CLIENT_CLOSED";
    weir_http_abort(p->r);
}

/* The proxy state is reached from the client connection through the
 * request: r->hc->r; from the upstream connection through uc->data. */
proxy_t *
weir_proxy_from_client(weir_event_t *ev)
{
    weir_conn_t      *c = ev->data;
    weir_http_conn_t *hc = c->data;

    return hc && hc->r ? hc->r->proxy : NULL;
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

void
weir_proxy_connect_peer(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_conn_t    *uc;

    if (!p->fresh_only || p->peer == NULL) {
        p->peer = weir_upstream_pick(p->u, p->tried, p->ntried);
    }
    if (p->peer == NULL) {
        weir_proxy_fail(p, F_NO_PEER, 0, NULL);
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

    uc = p->fresh_only ? NULL
         : p->uconf->proxy_protocol
             ? weir_upstream_keepalive_get_private(p->peer, r->c->number)
             : weir_upstream_keepalive_get(p->peer);
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
        weir_proxy_send_request(p);
        return;
    }
    p->reused = 0;
    uc = weir_upstream_connect(p->peer);
    if (uc == NULL) {
        weir_proxy_fail(p, F_CONNECT_REFUSED, errno, NULL);
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
            weir_proxy_fail(p, F_CONNECT_TIMEOUT, ETIMEDOUT, NULL);
            return;
        }
        connected(p);
        return;
    case P_SEND:
        if (ev->timedout) {
            ev->timedout = 0;
            weir_proxy_fail(p, F_SEND_ERROR, ETIMEDOUT, NULL);
            return;
        }
        weir_proxy_send_request(p);
        return;
    case P_STREAM:
        if (ev->timedout) {
            ev->timedout = 0;
            weir_proxy_fail(p, F_SEND_ERROR, ETIMEDOUT, NULL);
            return;
        }
        weir_proxy_stream_body(p);
        return;
    case P_TUNNEL:
        weir_proxy_tunnel(p);
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
            weir_proxy_read_head(p);
        }
        return;
    case P_HEAD:
        if (ev->timedout) {
            ev->timedout = 0;
            weir_proxy_fail(p, F_HEADER_TIMEOUT, ETIMEDOUT, NULL);
            return;
        }
        weir_proxy_read_head(p);
        return;
    case P_BODY:
        if (ev->timedout) {
            ev->timedout = 0;
            weir_proxy_fail(p, F_READ_TIMEOUT, ETIMEDOUT, NULL);
            return;
        }
        weir_proxy_pump(p);
        return;
    case P_TUNNEL:
        if (ev->timedout) {
            ev->timedout = 0;
            weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                           "tunnel idle timeout");
            weir_proxy_release_upstream(p, 0);
            weir_http_abort(p->r);
            return;
        }
        weir_proxy_tunnel(p);
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
        weir_proxy_fail(p, err == ETIMEDOUT ? F_CONNECT_TIMEOUT
                                            : F_CONNECT_REFUSED,
                        err, NULL);
        return;
    }
    weir_timer_del(&p->uc->write);
    p->r->upstream_connect_ms = weir_current_msec - p->t_connect_start;
    p->phase = P_SEND;
    p->uc->log.action = "sending request to upstream";
    weir_proxy_send_request(p);
}

/* ---- failures ----------------------------------------------------------------------- */

void
weir_proxy_release_upstream(proxy_t *p, int reusable)
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

int
weir_proxy_connection_lists(const weir_http_header_t *hs, size_t n,
    const char *name, size_t len)
{
    char       tok[64];
    weir_str_t v;
    size_t     i;

    if (len >= sizeof(tok)) {
        return 0;
    }
    memcpy(tok, name, len);
    tok[len] = '\0';
    for (i = 0; i < n; i++) {
        if (hs[i].name_len == 10
            && weir_strncaseeq(hs[i].name, "connection", 10)) {
            v.data = hs[i].value;
            v.len = hs[i].value_len;
            if (weir_str_has_token(&v, tok)) {
                return 1;
            }
        }
    }
    return 0;
}

int
weir_proxy_retry_status(proxy_t *p)
{
    static const struct {
        int      status;
        unsigned bit;
    } codes[] = {
        { 500, WEIR_RETRY_HTTP_500 }, { 502, WEIR_RETRY_HTTP_502 },
        { 503, WEIR_RETRY_HTTP_503 }, { 504, WEIR_RETRY_HTTP_504 },
        { 429, WEIR_RETRY_HTTP_429 },
    };
    weir_request_t *r = p->r;
    size_t          i;

    for (i = 0; i < weir_nelems(codes); i++) {
        if (codes[i].status == p->rh.status) {
            break;
        }
    }
    /* Only what is safe to send twice (DESIGN §4: idempotent only). */
    if (i == weir_nelems(codes) || !(p->uconf->retry_on & codes[i].bit)
        || p->client_head_sent || !p->idempotent || p->body_mode == 2
        || !p->request_sent
        || p->tries >= 1 + (int) p->uconf->retries
        || !weir_upstream_pick_possible(p->u, p->tried, p->ntried)) {
        return 0;
    }
    weir_log_error(WEIR_LOG_WARN, &r->c->log, 0,
                   "upstream answered %d, retrying on another peer, "
                   "upstream: %s", p->rh.status, p->peer->conf->text);
    weir_upstream_peer_failed(p->peer);
    weir_proxy_release_upstream(p, 0);
    r->retries++;
    r->upstream_status = 0;
    memset(&p->rf, 0, sizeof(p->rf));
    weir_proxy_connect_peer(p);
    return 1;
}

static int
may_retry(proxy_t *p, int kind)
{
    int nothing_sent = kind == F_CONNECT_REFUSED || kind == F_CONNECT_TIMEOUT;
    /* A streamed body can be sent again as long as none of it was taken
     * from the client yet. */
    int replayable = p->body_mode != 2 || p->r->body_received == 0;

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
    /* retry_on: "timeout" covers the two timeouts, "error" the rest. */
    if (kind == F_CONNECT_TIMEOUT || kind == F_HEADER_TIMEOUT) {
        if (!(p->uconf->retry_on & WEIR_RETRY_TIMEOUT)) {
            return 0;
        }
    } else if (!(p->uconf->retry_on & WEIR_RETRY_ERROR)) {
        return 0;
    }
    /* Another peer must exist. */
    return weir_upstream_pick_possible(p->u, p->tried, p->ntried);
}

void
weir_proxy_fail(proxy_t *p, int kind, int err, const char *detail)
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
        weir_proxy_connect_peer(p);
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
