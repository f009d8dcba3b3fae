#include "weir_config.h"
#include "upstream/proxy-t.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "core/log.h"
#include "core/sbuf.h"
#include "core/str.h"
#include "core/wtime.h"
#include "http/parse.h"
#include "http/response.h"
#include "upstream/upstream.h"

/* The response side of the proxy: the response head, the body streamed
 * to the client with back-pressure, and upgraded connections. */

static void interim(proxy_t *p);
static void process_head(proxy_t *p);
static void keepalive_hint(proxy_t *p);
static const char *other_codings(proxy_t *p);
static int codings_for_http10(proxy_t *p);
static int client_head(proxy_t *p);
static int gzip_start(proxy_t *p);
static void gzip_step(proxy_t *p);
static void queue_coded(proxy_t *p);
static int resp_hop_by_hop(proxy_t *p, const weir_http_header_t *h);
static void client_write_handler(weir_event_t *ev);
static int flush_out(proxy_t *p);
static int client_lost(proxy_t *p);
static int produce(proxy_t *p);
static void queue_data(proxy_t *p, const char *data, size_t len);
static int terminate(proxy_t *p);
static void finish(proxy_t *p);

/* ---- the response head -------------------------------------------------------- */

void
weir_proxy_read_head(proxy_t *p)
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
                    interim(p);
                    p->rb_pos += consumed;
                    continue;
                }
                p->rb_pos += consumed;
                process_head(p);
                return;
            }
            if (rc > 0) {
                weir_proxy_fail(p, F_BAD_RESPONSE, 0, weir_http_error_text(rc));
                return;
            }
            if (p->rb_pos == 0 && p->rb_last == RBUF_SIZE) {
                weir_proxy_fail(p, F_BAD_RESPONSE, 0,
                                "response head too large");
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
                weir_proxy_fail(p, F_RESET_BEFORE_HEADERS, n ? errno : 0, NULL);
            } else {
                weir_proxy_fail(p, F_BAD_RESPONSE, n ? errno : 0,
                                "connection closed inside the response head");
            }
            return;
        }
        p->resp_started = 1;
        p->rb_last += (size_t) n;
    }
}

/* An interim response (RFC 9110 15.2) goes on to an HTTP/1.1 client,
 * hop-by-hop fields removed: 103 Early Hints lets a browser fetch what
 * the page will need while the origin still works on it. Never to an
 * HTTP/1.0 client, which knows no 1xx (RFC 9110 15.2), and never 100
 * Continue: weir answers Expect itself and did not forward it. The heads
 * are queued in r->interim and written at once when the socket takes
 * them, else before the final response, whole and in order. The queue
 * is bounded, so an origin that sends 1xx without end cannot grow it. */
static void
interim(proxy_t *p)
{
    weir_request_t *r = p->r;
    weir_sbuf_t     sb;
    size_t          i, left = r->interim_len - r->interim_sent;

    if (r->head.version < 11 || p->rh.status == 100
        || left > INTERIM_MAX || p->interim_count >= INTERIM_COUNT_MAX) {
        return;
    }
    p->interim_count++;
    weir_sbuf_init_pool(&sb, r->pool, left + 256);
    if (left) {
        weir_sbuf_append(&sb, r->interim + r->interim_sent, left);
    }
    weir_sbuf_lit(&sb, "HTTP/1.1 ");
    weir_sbuf_append_u64(&sb, (uint64_t) p->rh.status);
    weir_sbuf_lit(&sb, " ");
    weir_sbuf_append(&sb, p->rh.reason, p->rh.reason_len);
    weir_sbuf_lit(&sb, "\r\n");
    for (i = 0; i < p->rh.num_headers; i++) {
        const weir_http_header_t *h = &p->rheaders[i];
        if (resp_hop_by_hop(p, h)) {
            continue;
        }
        weir_sbuf_append(&sb, h->name, h->name_len);
        weir_sbuf_lit(&sb, ": ");
        weir_sbuf_append(&sb, h->value, h->value_len);
        weir_sbuf_lit(&sb, "\r\n");
    }
    weir_sbuf_lit(&sb, "\r\n");
    if (weir_sbuf_failed(&sb) || sb.len > INTERIM_MAX) {
        return;     /* out of memory or too large: the hint is dropped */
    }
    r->interim = sb.data;
    r->interim_len = sb.len;
    r->interim_sent = 0;
    /* A failure shows again when the final response is written. */
    (void) weir_http_flush_interim(r);
}

static int
resp_hop_by_hop(proxy_t *p, const weir_http_header_t *h)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-connection", "content-length", "date", "server"
    };

    if (weir_str_one_of(h->name, h->name_len, hop, weir_nelems(hop))) {
        return 1;
    }
    return weir_proxy_connection_lists(p->rheaders, p->rh.num_headers,
                                       h->name, h->name_len);
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
        weir_proxy_fail(p, F_BAD_RESPONSE, 0, weir_http_error_text(rc));
        return;
    }
    if (p->rh.status == 101 && !r->framing.upgrade) {
        weir_proxy_fail(p, F_BAD_RESPONSE, 0,
                        "101 to a request that did not upgrade");
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
    weir_proxy_head_verdict(p);
    if (weir_proxy_retry_status(p)) {
        return;
    }
    if (!codings_for_http10(p)) {
        weir_proxy_fail(p, F_BAD_RESPONSE, 0,
                        "a transfer coding an HTTP/1.0 client cannot take");
        return;
    }
    keepalive_hint(p);
    p->rleft = p->rf.content_length;
    r->upstream_response_ms = weir_current_msec - p->t_start;
    rc = client_head(p);
    if (rc == WEIR_DECLINED) {
        return;     /* the observer answers */
    }
    if (rc != WEIR_OK) {
        weir_proxy_release_upstream(p, 0);
        weir_http_abort(r);
        return;
    }
    if (p->rh.status == 101) {
        weir_proxy_phase(p, P_TUNNEL);
        if (p->sbuf == NULL) {
            p->sbuf = weir_palloc(r->pool, SBUF_SIZE + 32);
        }
        if (p->sbuf == NULL) {
            weir_proxy_release_upstream(p, 0);
            weir_http_abort(r);
            return;
        }
        p->s_pos = p->s_last = 0;
        r->keepalive = 0;
        weir_http_set_handlers(r, weir_proxy_client_body_handler,
                               client_write_handler, "tunnelling");
        p->uc->log.action = "tunnelling";
        weir_proxy_tunnel(p);
        return;
    }
    weir_proxy_phase(p, P_BODY);
    p->uc->log.action = "reading response body from upstream";
    weir_http_set_handlers(r, NULL, client_write_handler,
                           "sending response to client");
    /* Whatever body came with the head goes out in the same writev. */
    if (p->rb_pos < p->rb_last || p->rf.body == WEIR_HTTP_BODY_NONE) {
        if (produce(p) == WEIR_OK) {
            terminate(p);
        }
    }
    weir_proxy_pump(p);
}

/* The Transfer-Encoding to send when we chunk for the client: the
 * peer's codings (gzip, ...) in their order, then chunked, so that a
 * coding is never silently dropped. The peer's own chunked is framing we
 * took off (the framing check refused it anywhere but last) and is not
 * repeated; neither is identity, which means no coding at all (RFC 9112
 * removed it) and made "identity, chunked" for clients. "chunked" alone
 * when nothing else is left, or when the pool has no room. */
static const char *
other_codings(proxy_t *p)
{
    weir_sbuf_t sb;
    size_t      i, n;
    const char *s, *el;
    int         kept = 0;

    for (i = 0; i < p->rh.num_headers; i++) {
        const weir_http_header_t *h = &p->rheaders[i];
        if (h->name_len != 17
            || !weir_strncaseeq(h->name, "transfer-encoding", 17)) {
            continue;
        }
        s = h->value;
        while (weir_http_list_next(&s, h->value + h->value_len, &el, &n)) {
            if (n == 0 || (n == 7 && weir_strncaseeq(el, "chunked", 7))
                || (n == 8 && weir_strncaseeq(el, "identity", 8))) {
                continue;
            }
            if (kept++ == 0) {
                /* The usual "gzip, chunked" fits; a peer's bare ","
                 * re-joined as ", " makes the builder grow (81104a0). */
                weir_sbuf_init_pool(&sb, p->r->pool,
                                    h->value_len + sizeof(", chunked"));
            } else {
                weir_sbuf_lit(&sb, ", ");
            }
            weir_sbuf_append(&sb, el, n);
        }
    }
    if (kept == 0) {
        return "chunked";
    }
    weir_sbuf_lit(&sb, ", chunked");
    return weir_sbuf_failed(&sb) ? "chunked" : sb.data;
}

/* A body with codings other than chunked cannot be delivered to an
 * HTTP/1.0 client, which has no Transfer-Encoding. */
static int
codings_for_http10(proxy_t *p)
{
    const char *te;

    if (p->r->head.version >= 11
        || (p->rf.body != WEIR_HTTP_BODY_CHUNKED
            && p->rf.body != WEIR_HTTP_BODY_CLOSE)) {
        return 1;
    }
    te = other_codings(p);
    return strcmp(te, "chunked") == 0;
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
    if (p->obs && p->obs->head && p->rh.status != 101) {
        off_t len = p->rf.body == WEIR_HTTP_BODY_LENGTH
                    ? (off_t) p->rf.content_length
                    : p->rf.body == WEIR_HTTP_BODY_NONE ? 0 : -1;
        if (p->obs->head(p->obs->ctx, r, p->rheaders, p->rh.num_headers, len)
            == WEIR_DECLINED) {
            return WEIR_DECLINED;   /* r may be gone: touch nothing */
        }
        p->obs_open = 1;
    }
    r->content_length = -1;
    if (r->route && r->route->gzip && p->rh.status != 101
        && gzip_start(p) != WEIR_OK) {
        return WEIR_ERROR;
    }
    if (p->gz) {
        /* The coded length is known only at the end. */
        if (r->head.version >= 11) {
            p->client_chunked = 1;
            weir_http_add_header(r, "Transfer-Encoding", 17, "chunked", 7);
        } else {
            r->keepalive = 0;   /* the end is the close */
        }
    } else switch (p->rf.body) {
    case WEIR_HTTP_BODY_LENGTH:
        r->content_length = (off_t) p->rf.content_length;
        break;
    case WEIR_HTTP_BODY_CHUNKED:
    case WEIR_HTTP_BODY_CLOSE:
        if (r->head.version >= 11) {
            const char *te = other_codings(p);
            p->client_chunked = 1;
            weir_http_add_header(r, "Transfer-Encoding", 17, te, strlen(te));
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
    if (weir_http.quitting || r->c->close
        || r->c->requests + 1
               >= (uint64_t) weir_http.conf->keepalive_requests) {
        r->keepalive = 0;
    }
    if (weir_http_response_head(r) != WEIR_OK) {
        return WEIR_ERROR;
    }
    p->nout = 0;
    if (r->interim_sent < r->interim_len) {
        /* 1xx heads the socket did not take yet go first */
        p->out[0].iov_base = r->interim + r->interim_sent;
        p->out[0].iov_len = r->interim_len - r->interim_sent;
        p->nout = 1;
        r->interim_sent = r->interim_len;
    }
    p->out[p->nout].iov_base = r->out;
    p->out[p->nout].iov_len = r->out_len;
    p->nout++;
    p->pend_consume = 0;
    p->client_head_sent = 1;   /* from here on, failures truncate */
    return WEIR_OK;
}

/* The gzip filter (http/gzip.h) on the head sent to the client: after
 * the observer's hook, so a cache fill stores the origin's identity
 * response and compresses again on each hit. A body in a transfer coding
 * other than chunked would need decoding first: only Vary is added.
 * WEIR_OK (p->gz set when the body is to be compressed), WEIR_ERROR. */
static int
gzip_start(proxy_t *p)
{
    weir_request_t *r = p->r;
    off_t           len = p->rf.body == WEIR_HTTP_BODY_LENGTH
                          ? (off_t) p->rf.content_length : -1;
    unsigned        flags = 0;
    int             rc, nobody;

    nobody = r->method == WEIR_HTTP_HEAD || p->rf.body == WEIR_HTTP_BODY_NONE;
    if ((p->rf.body == WEIR_HTTP_BODY_CHUNKED
         || p->rf.body == WEIR_HTTP_BODY_CLOSE)
        && strcmp(other_codings(p), "chunked") != 0) {
        flags |= WEIR_GZIP_VARY_ONLY;
    }
    rc = weir_gzip_head(r, len, flags);
    if (rc == WEIR_ERROR) {
        weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                       "out of memory in the gzip filter");
        return WEIR_ERROR;
    }
    if (rc == 1 && !nobody) {
        p->gz = weir_gzip_create(r, len);
        if (p->gz == NULL) {
            weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                           "cannot set up gzip compression");
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

/* Compress what is left of the span queue_data() was given, as far as
 * the output buffer takes it, and queue the output. */
static void
gzip_step(proxy_t *p)
{
    size_t k = weir_gzip_feed(p->gz, p->gz_in, p->gz_in_len);

    p->gz_in += k;
    p->gz_in_len -= k;
    p->gz_dirty |= k > 0;
    queue_coded(p);
}

/* Queue the compressor's output (if any) for the client, chunk-framed
 * when we chunk. It stays in the compressor's buffer until written:
 * the next feed or finish runs only after flush_out() emptied out[]. */
static void
queue_coded(proxy_t *p)
{
    size_t      len;
    const char *out = weir_gzip_out(p->gz, &len);
    int         h;

    if (len == 0) {
        return;
    }
    if (p->client_chunked) {
        h = snprintf(p->chunk_hdr, sizeof(p->chunk_hdr), "%zx\r\n", len);
        p->out[p->nout].iov_base = p->chunk_hdr;
        p->out[p->nout++].iov_len = (size_t) h;
    }
    p->out[p->nout].iov_base = (void *) out;
    p->out[p->nout++].iov_len = len;
    if (p->client_chunked) {
        p->out[p->nout].iov_base = (void *) "\r\n";
        p->out[p->nout++].iov_len = 2;
    }
    p->r->body_bytes_sent += len;
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

    if (p->client_gone) {
        /* Read on for the cache fill; nobody takes the bytes. */
        p->nout = 0;
    }
    while (p->nout > 0) {
        n = c->writev(c, p->out, p->nout);
        if (n == WEIR_AGAIN) {
            weir_http_send_blocked(r);
            weir_timer_add(&c->write, weir_http.conf->send_timeout);
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            weir_log_error(WEIR_LOG_INFO, &c->log, errno,
                           "writev() to client failed");
            return WEIR_ERROR;
        }
        r->bytes_sent += (uint64_t) n;
        weir_http_send_moved(r);
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
        if (!c->write.ready) {
            /* short write: the socket is full, EPOLLOUT says when */
            weir_http_send_blocked(r);
            weir_timer_add(&c->write, weir_http.conf->send_timeout);
            return WEIR_AGAIN;
        }
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

    if (p->obs_open && p->obs->body) {
        p->obs->body(p->obs->ctx, data, len);
    }
    if (p->gz) {
        /* The span stays in rbuf until the compressor took all of it:
         * weir_proxy_pump() feeds the rest before producing more. */
        p->gz_in = data;
        p->gz_in_len = len;
        gzip_step(p);
        return;
    }
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
        /* Complete now, not after the client took this last span: the
         * observer finishes before it (weir_proxy_pump()). */
        p->body_done = p->rleft == 0;
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
    if (!p->body_done || !p->client_chunked || p->terminator_sent
        || (p->gz && !p->gz_done)) {
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
    proxy_t *p = weir_proxy_from_client(ev);

    if (p == NULL) {
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                       "client timed out reading the response");
        if (p->phase == P_BODY && client_lost(p)) {
            weir_proxy_pump(p);
            return;
        }
        weir_proxy_release_upstream(p, 0);
        weir_http_abort(p->r);
        return;
    }
    if (p->phase == P_BODY) {
        weir_proxy_pump(p);
    } else if (p->phase == P_TUNNEL) {
        weir_proxy_tunnel(p);
    }
}

/* Move the response body: write what is pending; only when the client
 * took it, parse/read more from the upstream (back-pressure). */
void
weir_proxy_pump(proxy_t *p)
{
    weir_conn_t *uc = p->uc;
    ssize_t      n;
    int          rc;

    for (;;) {
        if (p->body_done) {
            /* The origin's body is whole: a cache fill is published
             * before the client gets the last bytes, so a client that
             * has read the whole response and asks again finds it
             * stored, whichever worker answers. */
            weir_proxy_obs_end(p, 1);
        }
        rc = flush_out(p);
        if (rc == WEIR_AGAIN) {
            /* Waiting on the client now, not on the upstream: its
             * read_timeout must not run out under a slow reader. */
            weir_timer_del(&uc->read);
            return;
        }
        if (rc == WEIR_ERROR && client_lost(p)) {
            continue;
        }
        if (rc == WEIR_ERROR) {
            weir_proxy_release_upstream(p, 0);
            weir_http_abort(p->r);
            return;
        }
        if (p->gz && p->gz_in_len > 0) {
            gzip_step(p);       /* the output buffer filled up first */
            continue;
        }
        if (p->gz && p->gz_syncing) {
            if (weir_gzip_flush(p->gz)) {
                p->gz_syncing = 0;
                p->gz_synced = 1;
            }
            queue_coded(p);
            continue;
        }
        if (p->body_done) {
            if (p->gz && !p->gz_done) {
                p->gz_done = (unsigned) weir_gzip_finish(p->gz);
                queue_coded(p);
                continue;
            }
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
            weir_proxy_fail(p, F_BAD_RESPONSE, 0, "invalid chunked body");
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
        if (p->gz_synced) {
            /* Flushed at the last EAGAIN: read again only if the upstream
             * said it has more since (a recv now would only say EAGAIN). */
            p->gz_synced = 0;
            if (!uc->read.ready) {
                weir_timer_add(&uc->read, p->uconf->read_timeout);
                return;
            }
        }
        n = uc->recv(uc, p->rbuf + p->rb_last, RBUF_SIZE - p->rb_last);
        if (n == WEIR_AGAIN) {
            if (p->gz && p->gz_dirty) {
                /* The origin paused: let the client decode what came so
                 * far rather than hold it until a deflate block fills
                 * (progressive pages, streamed JSON). */
                p->gz_dirty = 0;
                p->gz_syncing = 1;
                continue;
            }
            weir_timer_add(&uc->read, p->uconf->read_timeout);
            return;
        }
        if (n > 0) {
            weir_timer_del(&uc->read);
        }
        if (n == 0 && p->rf.body == WEIR_HTTP_BODY_CLOSE) {
            p->upstream_eof = 1;
            continue;
        }
        if (n <= 0) {
            weir_proxy_fail(p, F_RESET_MID_BODY, n ? errno : 0, NULL);
            return;
        }
        p->rb_last += (size_t) n;
    }
}

/* The client left during the body: go on reading for the observer (a
 * cache fill others wait for) when it asks to, with nothing sent. */
static int
client_lost(proxy_t *p)
{
    weir_request_t *r = p->r;

    if (!p->obs_open || p->obs->client_gone == NULL
        || !p->obs->client_gone(p->obs->ctx)) {
        return 0;
    }
    p->client_gone = 1;
    p->nout = 0;
    p->gz = NULL;           /* nobody to compress for */
    p->gz_in_len = 0;
    p->rb_pos += p->pend_consume;
    p->pend_consume = 0;
    r->keepalive = 0;
    weir_timer_del(&r->c->write);
    weir_http_set_handlers(r, NULL, NULL, "filling the cache for others");
    return 1;
}

static void
finish(proxy_t *p)
{
    weir_request_t *r = p->r;
    int reusable = p->rf.keepalive && p->request_sent && !p->upstream_eof
                   && p->rb_pos == p->rb_last && p->rf.body != WEIR_HTTP_BODY_CLOSE
                   && p->uconf->keepalive > 0 && !weir_proxy_quitting;

    weir_proxy_phase(p, P_DONE);
    weir_proxy_release_upstream(p, reusable);
    weir_proxy_obs_end(p, 1);
    r->proxy = NULL;
    if (p->client_gone) {
        weir_http_abort(r);
        return;
    }
    weir_http_finalize(r);
}

/* ---- upgraded connections ------------------------------------------------------ */

/* Bytes both ways until both sides closed or the idle timeout. Each
 * direction reads only after the previous buffer was written out. */
void
weir_proxy_tunnel(proxy_t *p)
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
            weir_proxy_release_upstream(p, 0);
            weir_http_abort(r);
            return;
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
        } else if (cb && weir_buf_size(cb) > 0) {
            /* Bytes the client sent behind its request head come first,
             * all of them, before anything newer from the socket. */
            n = (ssize_t) weir_min(weir_buf_size(cb), SBUF_SIZE);
            memcpy(p->sbuf, cb->pos, (size_t) n);
            cb->pos += n;
            p->s_pos = 0;
            p->s_last = (size_t) n;
            progress = 1;
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
    weir_proxy_release_upstream(p, 0);
    r->proxy = NULL;
    weir_http_abort(r);
}
