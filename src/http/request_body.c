#include "weir_config.h"
#include "http/request-t.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "core/log.h"
#include "core/wtime.h"
#include "http/handler.h"
#include "http/http_stats.h"
#include "http/request.h"

/* The request body: read for the proxy (weir_http_read_body), or read
 * and discarded for the handlers that need none (static, return). */

static void send_continue(weir_request_t *r);
static void read_body(weir_event_t *rev);
static int consume_body(weir_request_t *r);
static int body_too_slow(weir_request_t *r, size_t n);

void
weir_http_start_body(weir_request_t *r)
{
    weir_conn_t *c = r->c;

    if (r->framing.body != WEIR_HTTP_BODY_NONE
        && weir_http_buf_is_small(r->hc->buf)
        && (size_t) (r->hc->buf->end - r->hc->buf->pos) < WEIR_HTTP_BUF_EXTRA
        && !(r->framing.body == WEIR_HTTP_BODY_LENGTH
             && r->framing.content_length == 0)) {
        /* Bodies are read through the buffer behind the head: make sure
         * a chunk-size line always fits. */
        if (weir_http_buf_grow(r->hc, r) != WEIR_OK) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
    }
    if (r->framing.body == WEIR_HTTP_BODY_NONE
        || (r->framing.body == WEIR_HTTP_BODY_LENGTH
            && r->framing.content_length == 0)) {
        weir_timer_del(&c->read);
        weir_http_set_state(c, weir_http_empty_handler, weir_http_empty_handler,
                            "processing request");
        weir_http_handle(r);
        return;
    }
    r->body_left = r->framing.content_length;
    r->body_base = r->hc->buf->pos;
    if (r->route && r->route->handler == WEIR_ROUTE_PROXY) {
        /* The proxy streams the body itself (weir_http_read_body). */
        weir_timer_del(&c->read);
        weir_http_set_state(c, weir_http_empty_handler, weir_http_empty_handler,
                            "processing request");
        weir_http_handle(r);
        return;
    }
    send_continue(r);
    weir_timer_add(&c->read, weir_http.conf->client_body_timeout);
    weir_http_set_state(c, read_body, weir_http_empty_handler,
                        "reading client request body");
    read_body(&c->read);
}

/* "100 Continue" when the client waits for it before sending the body.
 * Tiny, and the socket buffer is empty at this point: a plain send()
 * either fits or the client sends the body anyway after its timeout. */
static void
send_continue(weir_request_t *r)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t           n;

    if (r->sent_continue || !r->framing.expect_continue
        || r->head.version < 11) {
        return;
    }
    r->sent_continue = 1;
    n = send(r->c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL);
    (void) n;
}

ssize_t
weir_http_read_body(weir_request_t *r, char *dst, size_t cap)
{
    weir_buf_t  *b = r->hc->buf;
    const char  *data;
    size_t       size, used, dlen, n;
    int64_t      limit = weir_http.conf->client_max_body_size;
    ssize_t      got;
    int          rc;

    if (r->route && r->route->client_max_body_size >= 0) {
        limit = r->route->client_max_body_size;
    }
    for (;;) {
        if (r->body_complete || r->framing.body == WEIR_HTTP_BODY_NONE
            || (r->framing.body == WEIR_HTTP_BODY_LENGTH
                && r->body_left == 0)) {
            r->body_complete = 1;
            return 0;
        }
        size = weir_buf_size(b);
        if (size && r->framing.body == WEIR_HTTP_BODY_LENGTH) {
            n = (size_t) weir_min((uint64_t) weir_min(size, cap),
                                  r->body_left);
            memcpy(dst, b->pos, n);
            b->pos += n;
            r->body_left -= n;
            r->body_received += n;
            return (ssize_t) n;
        }
        if (size) {
            /* Feed at most cap bytes so a data span always fits dst. */
            rc = weir_http_chunked_step(&r->chunked, b->pos,
                                        weir_min(size, cap), &used, &data,
                                        &dlen);
            b->pos += used;
            if (rc == WEIR_OK) {
                r->body_received += dlen;
                if (limit > 0 && r->body_received > (uint64_t) limit) {
                    weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                                   "client sent too large chunked body");
                    r->body_error = 413;
                    return WEIR_ERROR;
                }
                memmove(dst, data, dlen);
                return (ssize_t) dlen;
            }
            if (rc == WEIR_DONE) {
                r->body_complete = 1;
                return 0;
            }
            if (rc > 0) {
                weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                               "client sent invalid chunked body: %s",
                               weir_http_error_text(rc));
                r->body_error = 400;
                return WEIR_ERROR;
            }
            if (used) {
                continue;
            }
        }
        /* Need input: keep an incomplete chunk line, reuse the rest. */
        size = weir_buf_size(b);
        if (b->pos != r->body_base) {
            memmove(r->body_base, b->pos, size);
            b->pos = r->body_base;
            b->last = r->body_base + size;
        }
        if (b->last == b->end) {
            r->body_error = 400;
            return WEIR_ERROR;
        }
        send_continue(r);
        got = r->c->recv(r->c, b->last, (size_t) (b->end - b->last));
        if (got == WEIR_AGAIN) {
            weir_http_rate_wait(&r->body_rate, weir_current_msec);
            return WEIR_AGAIN;
        }
        if (got <= 0) {
            weir_log_error(WEIR_LOG_INFO, &r->c->log, got ? errno : 0,
                           "client closed connection while sending body");
            r->body_error = 0;
            return WEIR_ERROR;
        }
        b->last += got;
        if (body_too_slow(r, (size_t) got)) {
            r->body_error = 408;
            return WEIR_ERROR;
        }
    }
}

static void
read_body(weir_event_t *rev)
{
    weir_conn_t      *c = rev->data;
    weir_http_conn_t *hc = c->data;
    weir_request_t   *r = hc->r;
    weir_buf_t       *b = hc->buf;
    int               rc;
    ssize_t           n;

    if (rev->timedout) {
        weir_log_error(WEIR_LOG_INFO, &c->log, 0,
                       "client timed out sending the request body");
        r->keepalive = 0;
        r->lingering = 1;
        weir_http_finalize_error(r, 408, "REQUEST_TIMEOUT");
        return;
    }
    for (;;) {
        rc = consume_body(r);
        if (rc == WEIR_DONE) {
            weir_timer_del(&c->read);
            weir_http_set_state(c, weir_http_empty_handler,
                                weir_http_empty_handler, "processing request");
            weir_http_handle(r);
            return;
        }
        if (rc != WEIR_AGAIN) {
            return;   /* consume_body finalized the request */
        }
        n = c->recv(c, b->last, (size_t) (b->end - b->last));
        if (n == WEIR_AGAIN) {
            weir_http_rate_wait(&r->body_rate, weir_current_msec);
            weir_timer_add(&c->read, weir_http.conf->client_body_timeout);
            return;
        }
        if (n == WEIR_ERROR || n == 0) {
            weir_log_error(WEIR_LOG_INFO, &c->log, n ? errno : 0,
                           "client closed connection while sending body");
            weir_http_close_connection(hc);
            return;
        }
        b->last += n;
        if (body_too_slow(r, (size_t) n)) {
            r->keepalive = 0;
            r->lingering = 1;
            weir_http_finalize_error(r, 408, "REQUEST_TIMEOUT");
            return;
        }
    }
}

/* Eat body bytes from the buffer. WEIR_DONE when the body is complete
 * (what follows in the buffer is the next pipelined request), WEIR_AGAIN
 * for more input, WEIR_ERROR after finalizing an error response. */
static int
consume_body(weir_request_t *r)
{
    weir_buf_t  *b = r->hc->buf;
    const char  *data;
    size_t       size, used, dlen;
    int64_t      limit = weir_http.conf->client_max_body_size;
    int          rc;

    if (r->route && r->route->client_max_body_size >= 0) {
        limit = r->route->client_max_body_size;
    }
    while (b->pos < b->last) {
        size = weir_buf_size(b);
        if (r->framing.body == WEIR_HTTP_BODY_LENGTH) {
            used = (size_t) weir_min((uint64_t) size, r->body_left);
            b->pos += used;
            r->body_left -= used;
            r->body_received += used;
            if (r->body_left == 0) {
                return WEIR_DONE;
            }
            continue;
        }
        rc = weir_http_chunked_step(&r->chunked, b->pos, size, &used, &data,
                                    &dlen);
        b->pos += used;
        if (rc == WEIR_OK) {
            r->body_received += dlen;
            if (limit > 0 && r->body_received > (uint64_t) limit) {
                weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                               "client sent too large chunked body");
                r->keepalive = 0;
                r->lingering = 1;
                weir_http_finalize_error(r, 413, "BODY_TOO_LARGE");
                return WEIR_ERROR;
            }
            continue;
        }
        if (rc == WEIR_DONE) {
            return WEIR_DONE;
        }
        if (rc == WEIR_AGAIN) {
            break;
        }
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent invalid chunked body: %s",
                       weir_http_error_text(rc));
        r->keepalive = 0;
        r->lingering = 1;
        weir_http_finalize_error(r, 400, "BAD_REQUEST");
        return WEIR_ERROR;
    }
    if (r->framing.body == WEIR_HTTP_BODY_LENGTH && r->body_left == 0) {
        return WEIR_DONE;
    }
    /* Keep an incomplete chunk line; reuse the rest of the buffer. */
    size = weir_buf_size(b);
    if (b->pos != r->body_base) {
        memmove(r->body_base, b->pos, size);
        b->pos = r->body_base;
        b->last = r->body_base + size;
    }
    return WEIR_AGAIN;
}

/* client_body_min_rate: n body bytes arrived; is the client, judged over
 * min_rate_window of waiting for it, below the rate? Logged at warn and
 * counted when it is: the caller answers 408. */
static int
body_too_slow(weir_request_t *r, size_t n)
{
    const weir_http_conf_t *conf = weir_http.conf;
    uint64_t                rate = 0;

    if (!weir_http_rate_moved(&r->body_rate, n, weir_current_msec,
                              (uint64_t) conf->client_body_min_rate,
                              conf->min_rate_window, &rate)) {
        return 0;
    }
    weir_log_error(WEIR_LOG_WARN, &r->c->log, 0,
                   "client sends the request body too slowly: %llu bytes/s "
                   "while weir waited, below client_body_min_rate %lld",
                   (unsigned long long) rate,
                   (long long) conf->client_body_min_rate);
    weir_http_stats_slow_client(r, 1);
    return 1;
}
