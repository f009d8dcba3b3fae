#include "weir_config.h"
#include "upstream/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/log.h"
#include "core/random.h"
#include "core/wtime.h"
#include "http/vars.h"
#include "upstream/breaker.h"
#include "upstream/proxy-t.h"
#include "upstream/upstream.h"

/* Indexed by enum weir_fail_kind: what the client gets, what the log
 * says. (http_5xx, breaker_open and budget_exhausted never end a request
 * by themselves.) */
static const struct {
    int         status;
    const char *code;
    const char *text;
} fails[WEIR_FAIL_KINDS] = {
    { 502, "UPSTREAM_CONNECT_FAILED", "connect failed" },
    { 504, "UPSTREAM_TIMEOUT", "connect timed out" },
    { 502, "UPSTREAM_SEND_FAILED", "send failed" },
    { 504, "UPSTREAM_TIMEOUT", "timed out before the response head" },
    { 502, "UPSTREAM_RESET", "closed connection before the response head" },
    { 502, "UPSTREAM_BAD_RESPONSE", "sent an invalid response" },
    { 504, "UPSTREAM_TIMEOUT", "timed out reading the body" },
    { 502, "UPSTREAM_RESET", "closed connection in the body" },
    { 503, "NO_HEALTHY_UPSTREAM", "has no usable peer" },
    { 502, "UPSTREAM_ERROR", "answered 5xx" },
    { 503, "NO_HEALTHY_UPSTREAM", "breaker open" },
    { 502, "UPSTREAM_ERROR", "retry budget exhausted" },
    { 503, "UPSTREAM_QUEUE_TIMEOUT", "no peer under max_conns in time" },
    { 502, "UPSTREAM_TLS_ERROR", "TLS handshake failed" },
    { 504, "UPSTREAM_TIMEOUT", "ran out of proxy_timeout before a try" },
};

int weir_proxy_quitting;

/* Response buffers are recycled: a 64 KiB malloc/free per request costs
 * more than the whole parse. A few are kept, never more. */
#define RBUF_FREE_MAX 32
static char  *rbuf_free[RBUF_FREE_MAX];
static size_t nrbuf_free;

static void cleanup(void *data);
static void note_addr(proxy_t *p);
static void connect_picked(proxy_t *p);
static int start_try(proxy_t *p);
static int may_retry(proxy_t *p, int kind);
static void settle(proxy_t *p);
static int counts_as_failure(const proxy_t *p, int kind, int status);
static int budget_allows(proxy_t *p);
static void retry(proxy_t *p);
static void retry_handler(weir_event_t *ev);
static int queue_wake(weir_upstream_waiter_t *w, int ok);
static int deadline_passed(const proxy_t *p);
static uint64_t hash_of(weir_request_t *r, const char *key);


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
    settle(p);
    if (p->retrying) {
        p->retrying = 0;
        atomic_fetch_sub_explicit(&p->u->st->retrying[weir_proc_index], 1,
                                  memory_order_relaxed);
    }
    weir_proxy_obs_end(p, 0);
    weir_upstream_dequeue(p->u, &p->waiter);
    weir_timer_del(&p->retry_ev);
    weir_event_unpost(&p->retry_ev);
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
    weir_proxy_handle_observed(r, NULL);
}

void
weir_proxy_obs_end(proxy_t *p, int complete)
{
    if (p->obs_open) {
        p->obs_open = 0;
        if (p->obs->end) {
            p->obs->end(p->obs->ctx, complete);
        }
    }
}

/* The observer answers for the response whose head just came: the
 * upstream connection is pooled when nothing of it is left to read. */
void
weir_proxy_detach(weir_request_t *r)
{
    proxy_t *p = r->proxy;
    int      reusable;

    if (p == NULL) {
        return;
    }
    reusable = p->uc && p->rf.body == WEIR_HTTP_BODY_NONE && p->rf.keepalive
               && p->request_sent && p->rb_pos == p->rb_last
               && p->uconf->keepalive > 0 && !weir_proxy_quitting;
    weir_proxy_phase(p, P_DONE);
    weir_proxy_release_upstream(p, reusable);
    r->proxy = NULL;
    weir_timer_del(&r->c->read);
    weir_http_set_handlers(r, NULL, NULL, "answering from cache");
}

void
weir_proxy_handle_observed(weir_request_t *r, const weir_proxy_observer_t *obs)
{
    proxy_t *p;

    p = weir_pcalloc(r->pool, sizeof(*p));
    if (p == NULL || weir_pool_cleanup_add(r->pool, cleanup, p) != 0) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    p->r = r;
    p->obs = obs;
    r->proxy = p;
    p->uconf = r->route->upstream;
    p->u = weir_upstream_get(p->uconf);
    p->t_start = weir_current_msec;
    p->keepalive_hint = -1;
    p->retry_ev.data = p;
    p->retry_ev.handler = retry_handler;
    p->waiter.data = p;
    p->waiter.wake = queue_wake;
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
    if (p->uconf->proxy_timeout > 0) {
        p->deadline = weir_current_msec + p->uconf->proxy_timeout;
    }
    if (p->uconf->balance == WEIR_BALANCE_HASH) {
        p->hash = hash_of(r, p->uconf->hash_key);
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
        weir_proxy_phase(p, P_BUFFER);
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
 * served (and so are requests still buffered behind this one), and so
 * is one that follows the request's last bytes within
 * WEIR_FIN_WITH_DATA_MS (event/conn.h). Only a FIN that comes while we
 * wait, or a reset, abandons the request. */
void
weir_proxy_client_watch(weir_event_t *ev)
{
    weir_conn_t *c = ev->data;
    proxy_t     *p = weir_proxy_from_client(ev);
    int          rc;

    if (p == NULL
        || (p->phase != P_CONNECT && p->phase != P_TLS && p->phase != P_SEND
            && p->phase != P_HEAD)
        || (p->r->hc->buf && weir_buf_size(p->r->hc->buf) > 0)) {
        return;
    }
    rc = weir_conn_gone(c, p->client_halfclosed);
    if (rc == 0) {
        return;
    }
    weir_log_error(WEIR_LOG_INFO, &c->log, rc < 0 ? errno : 0,
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

    if (deadline_passed(p)) {
        weir_proxy_fail(p, F_DEADLINE, 0, NULL);
        return;
    }

    if (p->fresh_only && p->peer) {
        connect_picked(p);      /* again on the same peer, fresh */
        return;
    }
    if (start_try(p) != WEIR_AGAIN) {
        return;
    }
    /* Every usable peer is at max_conns: wait for room, once per request
     * and no longer than queue_timeout or proxy_timeout. */
    if (p->uconf->queue > 0 && p->waiter.deadline == 0
        && p->u->queued < (size_t) p->uconf->queue)
    {
        p->waiter.deadline = weir_current_msec + p->uconf->queue_timeout;
        if (p->deadline && p->deadline < p->waiter.deadline) {
            p->waiter.deadline = p->deadline;
        }
        weir_upstream_enqueue(p->u, &p->waiter);
        weir_proxy_phase(p, P_CONNECT);   /* the client watch applies */
        r->c->log.action = "waiting for an upstream peer";
        return;
    }
    weir_proxy_fail(p, F_QUEUE_TIMEOUT, 0, "queue full");
}

/* Pick a peer and start a try on it; WEIR_AGAIN when every usable peer
 * is at max_conns (nothing done), else WEIR_OK (started, or failed with
 * no usable peer). */
static int
start_try(proxy_t *p)
{
    weir_pick_t pk;

    weir_upstream_pick(p->u, p->hash, p->tried, p->ntried, &pk);
    if (pk.peer == NULL && pk.full) {
        return WEIR_AGAIN;
    }
    if (pk.peer == NULL) {
        weir_proxy_fail(p, F_NO_PEER, 0, NULL);
        return WEIR_OK;
    }
    p->peer = pk.peer;
    p->trial = pk.trial != 0;
    connect_picked(p);
    return WEIR_OK;
}

/* Start the try on p->peer: a pooled connection unless fresh_only. */
static void
connect_picked(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_conn_t    *uc;

    weir_upstream_take(p->peer);
    p->held = p->peer;
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

    uc = p->fresh_only ? NULL
         : p->uconf->proxy_protocol
             ? weir_upstream_keepalive_get_private(p->peer, r->c->number)
             : weir_upstream_keepalive_get(p->peer);
    p->fresh_only = 0;
    p->t_connect_start = weir_current_msec;
    r->upstream_tls_resumed = NULL;     /* this try's, if it handshakes */
    if (uc) {
        p->uc = uc;
        p->reused = 1;
        uc->data = p;
        uc->log = r->c->log;
        r->upstream_connect_ms = 0;
        weir_proxy_phase(p, P_SEND);
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
    weir_proxy_phase(p, P_CONNECT);
    weir_timer_add(&uc->write,
                   weir_proxy_timeout(p, p->uconf->connect_timeout));
}

/* A request waiting under max_conns: a peer may have room (ok), or the
 * queue_timeout passed. */
static int
queue_wake(weir_upstream_waiter_t *w, int ok)
{
    proxy_t *p = w->data;

    if (!ok || deadline_passed(p)) {
        weir_proxy_fail(p, deadline_passed(p) ? F_DEADLINE : F_QUEUE_TIMEOUT,
                        0, NULL);
        return 1;
    }
    p->r->c->log.action = "proxying";
    return start_try(p) != WEIR_AGAIN;
}

/* proxy_timeout is over: no new try may start. */
static int
deadline_passed(const proxy_t *p)
{
    return p->deadline && weir_current_msec >= p->deadline;
}

weir_msec_t
weir_proxy_timeout(proxy_t *p, weir_msec_t t)
{
    weir_msec_t left;

    if (p->deadline == 0) {
        return t;
    }
    left = p->deadline - weir_current_msec;
    return weir_max(1, weir_min(t, left));
}

/* The key's hash for balance = hash. */
static uint64_t
hash_of(weir_request_t *r, const char *key)
{
    char   buf[1024];
    size_t n = weir_http_vars_eval(r, key, buf, sizeof(buf));

    return weir_upstream_hash(buf, n);
}

/* ---- failures ----------------------------------------------------------------------- */

void
weir_proxy_release_upstream(proxy_t *p, int reusable)
{
    weir_conn_t *uc = p->uc;
    weir_msec_t  idle;

    settle(p);
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
        || !weir_upstream_untried(p->u, p->tried, p->ntried) || !budget_allows(p)) {
        return 0;
    }
    weir_log_error(WEIR_LOG_WARN, &r->c->log, 0,
                   "upstream answered %d, retrying on another peer, "
                   "upstream: %s", p->rh.status, p->peer->conf->text);
    weir_proxy_release_upstream(p, 0);
    r->retries++;
    r->upstream_status = 0;
    memset(&p->rf, 0, sizeof(p->rf));
    retry(p);
    return 1;
}

static int
may_retry(proxy_t *p, int kind)
{
    int nothing_sent = kind == F_CONNECT_REFUSED || kind == F_CONNECT_TIMEOUT
                       || kind == F_TLS_ERROR;
    /* A streamed body can be sent again as long as none of it was taken
     * from the client yet. */
    int replayable = p->body_mode != 2 || p->r->body_received == 0;

    if (p->client_head_sent || kind == F_NO_PEER || kind == F_QUEUE_TIMEOUT
        || kind == F_DEADLINE || deadline_passed(p)) {
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
    /* Another peer must exist, and the budget allow one more retry. */
    return weir_upstream_untried(p->u, p->tried, p->ntried) && budget_allows(p);
}

void
weir_proxy_fail(proxy_t *p, int kind, int err, const char *detail)
{
    weir_request_t *r = p->r;
    /* proxy_timeout ran out between tries: no peer is concerned */
    const char     *addr = p->peer && kind != F_DEADLINE
                           ? p->peer->conf->text : "-";
    int             stale;

    if (kind == F_NO_PEER && p->tries > 0) {
        kind = p->last_fail;    /* a retry found no peer: the first error */
        detail = "no other peer to retry on";
    }
    weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                   "upstream %s (%s)%s%s%s%s, upstream: %s", fails[kind].text,
                   weir_fail_kind_name(kind), err ? ": " : "",
                   err ? strerror(err) : "", detail ? ": " : "",
                   detail ? detail : "", addr);
    p->last_fail = kind;
    if (p->uc) {
        weir_conn_close(p->uc);
        p->uc = NULL;
    }
    if (p->held) {
        /* A pooled connection the peer had closed says nothing about the
         * peer's health. */
        stale = p->reused && !p->resp_started
                && (kind == F_SEND_ERROR || kind == F_RESET_BEFORE_HEADERS);
        weir_stat_add(&weir_peer_stats(p->held->st)->fails[kind], 1);
        /* A timeout cut short by the request's own proxy_timeout says
         * nothing about the peer. */
        if (!stale && counts_as_failure(p, kind, 0)
            && !(deadline_passed(p)
                 && (kind == F_CONNECT_TIMEOUT || kind == F_HEADER_TIMEOUT
                     || kind == F_SEND_ERROR))) {
            weir_breaker_failure(p->uconf, p->held->conf, p->trial,
                                 weir_fail_kind_name(kind));
            p->trial = 0;
        }
    } else if (kind == F_NO_PEER) {
        weir_stat_add(&p->u->st->no_peer_total, 1);
    } else if (kind == F_QUEUE_TIMEOUT) {
        weir_stat_add(&p->u->st->queue_timeouts_total, 1);
    }
    settle(p);
    if (p->client_head_sent) {
        /* The head went out: the only honest thing left is to cut the
         * body so the client sees a truncated response. */
        weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                       "response to client truncated (%s)",
                       weir_fail_kind_name(kind));
        r->proxy = NULL;
        weir_http_abort(r);
        return;
    }
    if (may_retry(p, kind)) {
        if (!p->fresh_only) {
            r->retries++;
        }
        retry(p);
        return;
    }
    r->proxy = NULL;
    weir_http_set_handlers(r, NULL, NULL, "sending error response");
    weir_timer_del(&r->c->read);
    if (!p->client_body_done) {
        r->lingering = 1;
    }
    if (p->obs && p->obs->failed
        && p->obs->failed(p->obs->ctx, r, fails[kind].status)) {
        return;     /* answered from the cache (stale-if-error) */
    }
    weir_http_finalize_error(r, fails[kind].status, fails[kind].code);
}

/* The try is over for the peer: out of its in-flight count; a trial that
 * got no verdict lets the next request try. */
static void
settle(proxy_t *p)
{
    if (p->held == NULL) {
        return;
    }
    if (p->trial) {
        weir_breaker_abandon(p->uconf, p->held->conf);
        p->trial = 0;
    }
    weir_upstream_done(p->held);
    p->held = NULL;
}

/* Does this failure count against the peer (fail_on)? kind, or the
 * response status when status > 0. */
static int
counts_as_failure(const proxy_t *p, int kind, int status)
{
    unsigned on = p->uconf->fail_on;

    if (status > 0) {
        return (status >= 500 && status <= 599 && (on & WEIR_FAIL_ON_HTTP_5XX))
               || (status == 500 && (on & WEIR_FAIL_ON_HTTP_500))
               || (status == 502 && (on & WEIR_FAIL_ON_HTTP_502))
               || (status == 503 && (on & WEIR_FAIL_ON_HTTP_503))
               || (status == 504 && (on & WEIR_FAIL_ON_HTTP_504));
    }
    switch (kind) {
    case F_CONNECT_TIMEOUT:
    case F_HEADER_TIMEOUT:
    case F_READ_TIMEOUT:
        return (on & WEIR_FAIL_ON_TIMEOUT) != 0;
    case F_NO_PEER:
    case F_QUEUE_TIMEOUT:
    case F_DEADLINE:
        return 0;
    default:
        return (on & WEIR_FAIL_ON_ERROR) != 0;
    }
}

void
weir_proxy_head_verdict(proxy_t *p)
{
    weir_peer_stats_t *st;
    weir_msec_t        t;
    int                status = p->rh.status;

    if (p->held == NULL) {
        return;
    }
    st = weir_peer_stats(p->held->st);
    t = weir_current_msec - p->t_connect_start;
    weir_stat_add(&st->responses[status >= 100 && status < 600
                                 ? status / 100 : 0], 1);
    weir_stat_add(&st->hist[weir_hist_bucket(t)], 1);
    weir_stat_add(&st->time_ms_sum, (uint64_t) weir_max(t, 0));
    if (counts_as_failure(p, 0, status)) {
        weir_stat_add(&st->fails[WEIR_FAIL_HTTP_5XX], 1);
        weir_breaker_failure(p->uconf, p->held->conf, p->trial, "http_5xx");
    } else if (p->trial) {
        weir_breaker_success(p->uconf, p->held->conf, 1);
    }
    p->trial = 0;
}

/*
 * The retry budget (shared by all workers): retries in flight may be at
 * most retry_budget % of the requests in flight to the upstream, and
 * never fewer than retry_budget_min. A failing upstream thus sees at most
 * that much extra load from retries, instead of (1 + retries) times the
 * traffic. A request counts once however often it retries.
 */
static int
budget_allows(proxy_t *p)
{
    weir_upstream_state_t *us = p->u->st;
    uint64_t               active = 1, retrying = 0, allowed;
    uint32_t               hi, i;

    if (p->retrying) {
        return 1;
    }
    for (i = 0; i < p->u->npeers; i++) {
        active += weir_peer_inflight(p->u->peers[i].st);
    }
    hi = weir_min(atomic_load_explicit(weir_peer_procs_hi,
                                       memory_order_relaxed),
                  (uint32_t) WEIR_PROC_MAX);
    for (i = 0; i < hi; i++) {
        retrying += atomic_load_explicit(&us->retrying[i],
                                         memory_order_relaxed);
    }
    allowed = weir_max((uint64_t) p->uconf->retry_budget_min,
                       active * (uint64_t) p->uconf->retry_budget / 100);
    if (retrying >= allowed) {
        weir_stat_add(&us->budget_exhausted_total, 1);
        weir_log_error(WEIR_LOG_WARN, &p->r->c->log, 0,
                       "upstream \"%s\": retry budget exhausted (%llu "
                       "retries in flight, %llu allowed), not retrying",
                       p->uconf->name, (unsigned long long) retrying,
                       (unsigned long long) allowed);
        return 0;
    }
    p->retrying = 1;
    atomic_fetch_add_explicit(&us->retrying[weir_proc_index], 1,
                              memory_order_relaxed);
    weir_stat_add(&us->retries_total, 1);
    return 1;
}

/* The next try, after a jittered backoff: up to retry_backoff doubled per
 * retry ("full jitter"), so retries of many requests against a failing
 * upstream spread out instead of arriving together. A retry on a fresh
 * connection after a stale pooled one does not wait. */
static void
retry(proxy_t *p)
{
    weir_msec_t base = p->uconf->retry_backoff, cap, delay = 0;
    int         n = p->r->retries;

    if (!p->fresh_only && base > 0 && n > 0) {
        cap = base << weir_min(n - 1, 10);
        delay = (weir_msec_t) weir_random_below((uint64_t) cap + 1);
        /* A backoff that reaches the deadline ends at it: the timer then
         * finds proxy_timeout over and no try starts (one started a
         * millisecond before it could only time out, and would be logged
         * against the peer). */
        if (p->deadline) {
            delay = weir_min(delay, weir_max(p->deadline - weir_current_msec,
                                             0));
        }
    }
    if (delay > 0) {
        weir_proxy_phase(p, P_CONNECT);   /* the client watch applies */
        weir_timer_add(&p->retry_ev, delay);
        return;
    }
    weir_proxy_connect_peer(p);
}

static void
retry_handler(weir_event_t *ev)
{
    proxy_t *p = ev->data;

    ev->timedout = 0;
    weir_proxy_connect_peer(p);
}
