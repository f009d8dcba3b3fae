#include "weir_config.h"
#include "http/request.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/log.h"
#include "core/random.h"
#include "core/stats.h"
#include "core/wtime.h"
#include "http/access_log.h"
#include "http/gzip.h"
#include "http/limit.h"
#include "http/handler.h"
#include "http/http_stats.h"
#include "http/request-t.h"
#include "http/response.h"
#include "http/route.h"
#include "http/vhost.h"

/*
 * States of a client connection (handler on the read / write event):
 *
 *   proxy_protocol a `proxy_protocol` listener's fresh connection: reading
 *                  the PROXY header (request_proxy_protocol.c)
 *   wait_request   idle keep-alive or fresh: no buffer held
 *   read_head      reading and parsing the request head
 *   read_body      reading (and discarding) the request body
 *   (handler)      static / return: sets the response up
 *   send           writing the response head and body
 *   linger         half-closed, draining input before close()
 */

#define WEIR_HTTP_POOL_SIZE  8192

weir_http_ctx_t weir_http;

/* Requests in progress, and the event that gives memory back once the
 * worker has had none for a second: a burst (thousands of connections
 * opening at once) leaves freed buffers in the heap that would otherwise
 * stay resident under the idle keep-alive connections that remain. */
static size_t       active_requests;
static weir_event_t trim_ev;

static void trim_handler(weir_event_t *ev);
static void request_done(void *data);
static weir_request_t *request_create(weir_http_conn_t *hc);
static void read_head(weir_event_t *rev);
static int recv_into_buf(weir_http_conn_t *hc);
static void process_head(weir_request_t *r, size_t consumed);
static void request_id(char *out);
static void index_headers(weir_request_t *r);
static int head_too_large(weir_request_t *r, size_t size, int complete);
static void send_handler(weir_event_t *wev);
static int send_some(weir_request_t *r);
static int gzip_filter(weir_request_t *r);
static void finalize(weir_request_t *r);
static void keepalive(weir_http_conn_t *hc);
static void lingering_close(weir_http_conn_t *hc);
static void linger_handler(weir_event_t *rev);
static void close_fd(void *data);
static size_t log_context(weir_log_t *log, char *buf, size_t len);

/* ---- connection setup ---------------------------------------------------- */

void
weir_http_init_connection(weir_conn_t *c, const weir_server_conf_t *srv,
    const weir_listen_conf_t *l)
{
    weir_http_conn_t *hc = calloc(1, sizeof(*hc));

    if (hc == NULL) {
        weir_log_error(WEIR_LOG_ERR, &c->log, errno, "calloc() failed");
        weir_conn_close(c);
        return;
    }
    hc->c = c;
    hc->srv = srv;
    hc->listen = l;
    c->data = hc;
    weir_gauge_add(&weir_proc_self->connections, 1);
    c->log.handler = log_context;
    c->log.data = hc;
    c->idle = 1;
    weir_http_set_state(c, weir_http_wait_request, weir_http_empty_handler,
                        "waiting for request");
    /* The first request gets client_header_timeout to arrive. */
    weir_timer_add(&c->read, weir_http.conf->client_header_timeout);
    if (weir_http.quitting) {
        c->close = 1;
    }
}

void
weir_http_set_state(weir_conn_t *c, weir_event_handler_pt rh,
    weir_event_handler_pt wh, const char *action)
{
    c->read.handler = rh;
    c->write.handler = wh;
    c->log.action = action;
}

void
weir_http_empty_handler(weir_event_t *ev)
{
    (void) ev;
}

static size_t
log_context(weir_log_t *log, char *buf, size_t len)
{
    weir_http_conn_t *hc = log->data;
    weir_request_t   *r = hc->r;
    int               n;

    if (r && r->request_line.len) {
        n = snprintf(buf, len, ", client: %s, server: %s, request: \"%.*s\""
                     ", id: %s", hc->c->addr_text, r->srv->name,
                     (int) weir_min(r->request_line.len, 1024),
                     r->request_line.data, r->request_id);
    } else {
        n = snprintf(buf, len, ", client: %s, server: %s", hc->c->addr_text,
                     hc->srv->name);
    }
    if (n < 0) {
        return 0;
    }
    return (size_t) n < len ? (size_t) n : len - 1;
}

/* ---- waiting for a request --------------------------------------------------- */

void
weir_http_wait_request(weir_event_t *rev)
{
    weir_conn_t      *c = rev->data;
    weir_http_conn_t *hc = c->data;
    int               rc;

    if (rev->timedout) {
        /* Idle keep-alive or a client that never sent a byte: close
         * silently, there is no request to answer. */
        weir_http_close_connection(hc);
        return;
    }
    if (weir_http_buf_get(hc) != WEIR_OK) {
        weir_http_close_connection(hc);
        return;
    }
    /* A pipelined request already buffered is served before we look at
     * the socket: a client that sent its requests and half-closed gets
     * every answer, not a close at the EOF behind them. */
    rc = weir_buf_size(hc->buf) > 0 ? WEIR_OK : recv_into_buf(hc);
    if (rc == WEIR_AGAIN && weir_buf_size(hc->buf) == 0) {
        weir_http_buf_release(hc);
        return;
    }
    if (rc == WEIR_ERROR || rc == WEIR_DONE) {
        weir_http_close_connection(hc);
        return;
    }
    if (request_create(hc) == NULL) {
        weir_http_close_connection(hc);
        return;
    }
    weir_gauge_add(&weir_proc_self->requests_active, 1);
    c->idle = 0;
    weir_timer_add(&c->read, weir_http.conf->client_header_timeout);
    weir_http_set_state(c, read_head, weir_http_empty_handler,
                        "reading client request head");
    read_head(rev);
}

/* Read what the socket has into the free tail of the buffer. WEIR_OK
 * (got bytes), WEIR_AGAIN (nothing now), WEIR_DONE (EOF), WEIR_ERROR. */
static int
recv_into_buf(weir_http_conn_t *hc)
{
    weir_buf_t *b = hc->buf;
    ssize_t     n;

    if (weir_buf_free(b) == 0) {
        return WEIR_OK;
    }
    n = hc->c->recv(hc->c, b->last, weir_buf_free(b));
    if (n == WEIR_AGAIN) {
        return WEIR_AGAIN;
    }
    if (n == WEIR_ERROR) {
        if (errno != ECONNRESET) {
            weir_log_error(WEIR_LOG_INFO, &hc->c->log, errno,
                           "recv() failed");
        }
        return WEIR_ERROR;
    }
    if (n == 0) {
        return WEIR_DONE;
    }
    b->last += n;
    return WEIR_OK;
}

static void
trim_handler(weir_event_t *ev)
{
    (void) ev;
    if (active_requests == 0) {
        malloc_trim(64 * 1024);
    }
}

/* Runs when a request's arena goes, however the request ended. */
static void
request_done(void *data)
{
    weir_request_t *r = data;

    weir_timer_del(&r->send_ev);
    active_requests--;
    if (active_requests == 0) {
        trim_ev.handler = trim_handler;
        weir_timer_add(&trim_ev, 1000);
    }
}

static weir_request_t *
request_create(weir_http_conn_t *hc)
{
    weir_pool_t    *pool;
    weir_request_t *r;

    pool = weir_pool_create(WEIR_HTTP_POOL_SIZE);
    if (pool == NULL) {
        weir_log_error(WEIR_LOG_ERR, &hc->c->log, errno, "out of memory");
        return NULL;
    }
    r = weir_pcalloc(pool, sizeof(*r));
    if (r == NULL) {
        weir_pool_destroy(pool);
        return NULL;
    }
    r->c = hc->c;
    r->hc = hc;
    r->srv = hc->srv;   /* until the Host chooses (weir_http_select_server()) */
    r->pool = pool;
    active_requests++;
    if (weir_pool_cleanup_add(pool, request_done, r) != 0) {
        active_requests--;
        weir_pool_destroy(pool);
        return NULL;
    }
    r->body_fd = -1;
    r->content_length = -1;
    r->rep_len = -1;
    r->start_msec = weir_current_msec;
    r->upstream_connect_ms = -1;
    r->upstream_response_ms = -1;
    /* Not zeroed: the parser fills what it uses (a memset of the whole
     * array per request showed up in profiles). */
    r->headers = weir_palloc(pool, sizeof(weir_http_header_t)
                                   * WEIR_HTTP_MAX_HEADERS);
    if (r->headers == NULL) {
        weir_pool_destroy(pool);
        return NULL;
    }
    r->head.headers = r->headers;
    r->head.max_headers = WEIR_HTTP_MAX_HEADERS;
    request_id(r->request_id);
    hc->r = r;
    /* Pipelined input starts the buffer: move it to the front so the
     * whole buffer is available to this request's head. */
    weir_buf_compact(hc->buf);
    return r;
}

/* A 128-bit id from a per-worker xorshift generator seeded from the
 * kernel: unique enough for correlating logs, no syscall per request. */
static void
request_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t          v[2];
    int               i, k;

    for (k = 0; k < 2; k++) {
        v[k] = weir_random();
    }
    for (k = 0; k < 2; k++) {
        for (i = 0; i < 16; i++) {
            out[k * 16 + i] = hex[(v[k] >> (60 - 4 * i)) & 0xf];
        }
    }
    out[32] = '\0';
}

/* ---- the request head ------------------------------------------------------ */

static void
read_head(weir_event_t *rev)
{
    weir_conn_t      *c = rev->data;
    weir_http_conn_t *hc = c->data;
    weir_request_t   *r = hc->r;
    size_t            consumed = 0;
    int               rc;

    if (rev->timedout) {
        weir_log_error(WEIR_LOG_INFO, &c->log, 0, "client timed out");
        r->keepalive = 0;
        weir_http_finalize_error(r, 408, "REQUEST_TIMEOUT");
        return;
    }
    for (;;) {
        r->head.num_headers = 0;
        r->head.line_len = 0;
        rc = weir_http_parse_request(hc->buf->pos, weir_buf_size(hc->buf),
                                     &r->head, &consumed);
        if (rc > 0) {
            weir_log_error(WEIR_LOG_INFO, &c->log, 0,
                           "client sent invalid request: %s at byte %zu",
                           weir_http_error_text(rc), r->head.error_pos);
            r->lingering = 1;
            weir_http_finalize_error(r, weir_http_error_status(rc),
                                     "BAD_REQUEST");
            return;
        }
        if (head_too_large(r, rc == WEIR_OK ? consumed
                                            : weir_buf_size(hc->buf),
                           rc == WEIR_OK)) {
            return;
        }
        if (rc == WEIR_OK) {
            process_head(r, consumed);
            return;
        }
        if (hc->buf->last == hc->buf->end && weir_http_buf_is_small(hc->buf)) {
            /* The head goes on past the small buffer. Nothing points into
             * it yet (the parse restarts from the beginning). */
            r->head.line_len = 0;
            if (weir_http_buf_grow(hc, NULL) != WEIR_OK) {
                weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
                return;
            }
        }
        {
            weir_buf_t *b = hc->buf;
            ssize_t     n = c->recv(c, b->last, (size_t) (b->end - b->last));

            if (n == WEIR_AGAIN) {
                return;
            }
            if (n == WEIR_ERROR || n == 0) {
                if (n == 0 && weir_buf_size(b) > 0) {
                    weir_log_error(WEIR_LOG_INFO, &c->log, 0,
                                   "client closed connection while sending "
                                   "request head");
                }
                weir_http_close_connection(hc);
                return;
            }
            b->last += n;
        }
    }
}

/* max_header_size bounds the head: a request line alone over it is 414,
 * otherwise 431. `size` is the whole head when `complete`, else what we
 * have of it (which already reaches the limit when size >= limit). */
static int
head_too_large(weir_request_t *r, size_t size, int complete)
{
    size_t limit = (size_t) weir_http.conf->max_header_size;

    if (complete ? size <= limit : size < limit) {
        return 0;
    }
    r->lingering = 1;
    if (r->head.line_len == 0 || r->head.line_len > limit) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent too long request line");
        weir_http_finalize_error(r, 414, "URI_TOO_LONG");
    } else {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent too large request header");
        weir_http_finalize_error(r, 431, "HEADERS_TOO_LARGE");
    }
    return 1;
}

static void
index_headers(weir_request_t *r)
{
    size_t                    i;
    const weir_http_header_t *h;

    for (i = 0; i < r->head.num_headers; i++) {
        h = &r->headers[i];
#define HDR(field, lit)                                                      \
        if (h->name_len == sizeof(lit) - 1                                   \
            && weir_strncaseeq(h->name, lit, sizeof(lit) - 1)) {             \
            r->field = h;                                                    \
            continue;                                                        \
        }
        HDR(h_host, "host")
        HDR(h_accept, "accept")
        HDR(h_user_agent, "user-agent")
        HDR(h_referer, "referer")
#define COND(field, lit)                                                     \
        if (h->name_len == sizeof(lit) - 1                                   \
            && weir_strncaseeq(h->name, lit, sizeof(lit) - 1)) {             \
            r->cond_repeated |= r->field != NULL;                            \
            r->field = h;                                                    \
            continue;                                                        \
        }
        COND(h_if_match, "if-match")
        COND(h_if_unmodified_since, "if-unmodified-since")
        COND(h_if_none_match, "if-none-match")
        COND(h_if_modified_since, "if-modified-since")
#undef COND
        HDR(h_range, "range")
        HDR(h_if_range, "if-range")
#undef HDR
    }
}

static const struct {
    const char *name;
    size_t      len;
    int         id;
} methods[] = {
    { "GET", 3, WEIR_HTTP_GET },       { "HEAD", 4, WEIR_HTTP_HEAD },
    { "POST", 4, WEIR_HTTP_POST },     { "PUT", 3, WEIR_HTTP_PUT },
    { "DELETE", 6, WEIR_HTTP_DELETE }, { "OPTIONS", 7, WEIR_HTTP_OPTIONS },
    { "PATCH", 5, WEIR_HTTP_PATCH },   { "TRACE", 5, WEIR_HTTP_TRACE },
    { "CONNECT", 7, WEIR_HTTP_CONNECT },
};

static void
process_head(weir_request_t *r, size_t consumed)
{
    weir_http_conn_t *hc = r->hc;
    const weir_http_conf_t *conf = weir_http.conf;
    size_t            i;
    int               rc;
    int64_t           limit;

    r->method = WEIR_HTTP_OTHER;
    r->method_name.data = r->head.method;
    r->method_name.len = r->head.method_len;
    for (i = 0; i < weir_nelems(methods); i++) {
        if (r->head.method_len == methods[i].len
            && memcmp(r->head.method, methods[i].name, methods[i].len) == 0) {
            r->method = methods[i].id;
            break;
        }
    }
    r->request_line.data = r->head.method;
    r->request_line.len = r->head.line_len;
    while (r->request_line.len
           && (r->request_line.data[r->request_line.len - 1] == '\n'
               || r->request_line.data[r->request_line.len - 1] == '\r')) {
        r->request_line.len--;
    }
    r->uri.data = r->head.target;
    r->uri.len = r->head.target_len;
    hc->buf->pos += consumed;
    index_headers(r);
    r->header_only = r->method == WEIR_HTTP_HEAD;

    rc = weir_http_request_framing(&r->head, &r->framing);
    if (rc != WEIR_OK) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent invalid request: %s",
                       weir_http_error_text(rc));
        r->lingering = 1;
        weir_http_finalize_error(r, weir_http_error_status(rc),
                                 "BAD_REQUEST");
        return;
    }
    r->keepalive = r->framing.keepalive;

    if (r->method == WEIR_HTTP_CONNECT || r->uri.data[0] != '/') {
        /* The parser reduced an absolute-form target to its origin-form
         * (and its authority to Host); authority-form is for proxies we
         * are not; an asterisk only fits OPTIONS. */
        if (!(r->uri.len == 1 && r->uri.data[0] == '*'
              && r->method == WEIR_HTTP_OPTIONS)) {
            r->lingering = 1;
            weir_http_finalize_error(r, 400, "BAD_REQUEST");
            return;
        }
    }

    if (weir_http_normalize_request_target(r) != WEIR_OK) {
        return;
    }

    weir_http_select_server(r);
    if (weir_http_tls_client_check(r) != WEIR_OK) {
        return;
    }
    if (weir_http_admission(r) != WEIR_OK) {
        return;
    }
    rc = weir_route_select(r->srv, r->path.data, r->path.len, r->pool,
                           &r->route);
    if (rc == WEIR_OK && r->encoded_slash) {
        rc = weir_route_encoded_slash(r->srv, r->route, r->path.data,
                                      r->path.len, r->pool);
    }
    if (rc != WEIR_OK) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent invalid or ambiguous path");
        weir_http_finalize_error(r, rc == WEIR_DECLINED ? 400 : 500,
                                 rc == WEIR_DECLINED ? "BAD_REQUEST"
                                                     : "INTERNAL_ERROR");
        return;
    }
    if (r->route && !weir_route_allows(r->route, &r->c->sockaddr.sa)) {
        weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                       "access forbidden by rule of [route %s]",
                       r->route->name);
        /* a body the client may still send is drained, not read */
        r->lingering = r->framing.body != WEIR_HTTP_BODY_NONE;
        weir_http_finalize_error(r, 403, "FORBIDDEN");
        return;
    }

    limit = conf->client_max_body_size;
    if (r->route && r->route->client_max_body_size >= 0) {
        limit = r->route->client_max_body_size;
    }
    if (r->framing.body == WEIR_HTTP_BODY_LENGTH && limit > 0
        && r->framing.content_length > (uint64_t) limit) {
        weir_log_error(WEIR_LOG_ERR, &r->c->log, 0,
                       "client intended to send too large body: %llu bytes",
                       (unsigned long long) r->framing.content_length);
        r->lingering = 1;
        r->keepalive = 0;
        weir_http_finalize_error(r, 413, "BODY_TOO_LARGE");
        return;
    }
    weir_http_limit_run(r);
}

void
weir_http_set_handlers(weir_request_t *r, weir_event_handler_pt rh,
    weir_event_handler_pt wh, const char *action)
{
    weir_http_set_state(r->c, rh ? rh : weir_http_empty_handler,
                        wh ? wh : weir_http_empty_handler, action);
}

void
weir_http_finalize(weir_request_t *r)
{
    finalize(r);
}

void
weir_http_abort(weir_request_t *r)
{
    r->keepalive = 0;
    r->lingering = 0;
    if (!r->logged) {
        r->logged = 1;
        weir_access_log_write(r);
        weir_http_stats_request(r);
    }
    weir_http_close_connection(r->hc);
}

/* ---- response headers ---------------------------------------------------- */

int
weir_http_add_header(weir_request_t *r, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
    if (r->nresp == r->resp_cap) {
        size_t      cap = r->resp_cap ? r->resp_cap * 2 : 16;
        weir_str_t *n, *v;

        if (cap > WEIR_HTTP_MAX_RESP_HEADERS) {
            return WEIR_ERROR;
        }
        n = weir_palloc(r->pool, cap * sizeof(*n));
        v = weir_palloc(r->pool, cap * sizeof(*v));
        if (n == NULL || v == NULL) {
            return WEIR_ERROR;
        }
        if (r->nresp) {
            memcpy(n, r->resp_names, r->nresp * sizeof(*n));
            memcpy(v, r->resp_values, r->nresp * sizeof(*v));
        }
        r->resp_names = n;
        r->resp_values = v;
        r->resp_cap = cap;
    }
    r->resp_names[r->nresp].data = name;
    r->resp_names[r->nresp].len = nlen;
    r->resp_values[r->nresp].data = value;
    r->resp_values[r->nresp].len = vlen;
    r->nresp++;
    return WEIR_OK;
}

static void
close_fd(void *data)
{
    close((int) (intptr_t) data);
}

int
weir_http_attach_file(weir_request_t *r, int fd)
{
    if (weir_pool_cleanup_add(r->pool, close_fd, (void *) (intptr_t) fd)
        != 0) {
        close(fd);
        return WEIR_ERROR;
    }
    r->body_fd = fd;
    return WEIR_OK;
}

const weir_http_header_t *
weir_http_header_find(const weir_request_t *r, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < r->head.num_headers; i++) {
        if (r->headers[i].name_len == n
            && weir_strncaseeq(r->headers[i].name, name, n)) {
            return &r->headers[i];
        }
    }
    return NULL;
}

/* ---- sending ----------------------------------------------------------------- */

void
weir_http_send_response(weir_request_t *r)
{
    weir_conn_t *c = r->c;

    if (weir_http.quitting || c->close
        || c->requests + 1 >= (uint64_t) weir_http.conf->keepalive_requests) {
        r->keepalive = 0;
    }
    if ((r->route && r->route->gzip && !r->precompressed
         && gzip_filter(r) != WEIR_OK)
        || weir_http_response_head(r) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &c->log, 0,
                       "cannot build the response head");
        weir_http_close_connection(r->hc);
        return;
    }
    weir_http_set_state(c, weir_http_empty_handler, send_handler,
                        "sending response to client");
    send_handler(&c->write);
}

static void
send_handler(weir_event_t *wev)
{
    weir_conn_t    *c = wev->data;
    weir_request_t *r = ((weir_http_conn_t *) c->data)->r;
    int             rc;

    if (wev->timedout) {
        weir_log_error(WEIR_LOG_INFO, &c->log, 0,
                       "client timed out reading the response");
        r->keepalive = 0;
        r->lingering = 0;
        finalize(r);
        return;
    }
    rc = send_some(r);
    if (rc == WEIR_AGAIN) {
        weir_timer_add(&c->write, weir_http.conf->send_timeout);
        return;
    }
    weir_timer_del(&c->write);
    if (rc == WEIR_ERROR) {
        r->keepalive = 0;
        r->lingering = 0;
    }
    finalize(r);
}

/* The gzip filter on a body weir holds (file, cached object, generated
 * page): the head edits, and a compressor when the client takes gzip,
 * chunked to HTTP/1.1 clients and ended by the close for HTTP/1.0 ones.
 * WEIR_OK or WEIR_ERROR (out of memory). */
static int
gzip_filter(weir_request_t *r)
{
    off_t len = r->status == 304 ? r->rep_len : r->content_length;
    int   rc = weir_gzip_head(r, len, 0);

    if (rc != 1 || r->header_only) {
        return rc == WEIR_ERROR ? WEIR_ERROR : WEIR_OK;
    }
    if (weir_gzip_create(r, len) == NULL) {
        return WEIR_ERROR;
    }
    if (r->head.version >= 11) {
        return weir_http_add_header(r, "Transfer-Encoding", 17, "chunked", 7);
    }
    r->keepalive = 0;
    return WEIR_OK;
}

/* Write the head (and a memory body) with writev, then the file body with
 * sendfile (compressed: weir_gzip_send()). WEIR_OK when all is sent,
 * WEIR_AGAIN, WEIR_ERROR. */
static int
send_some(weir_request_t *r)
{
    weir_conn_t  *c = r->c;
    struct iovec  iov[2];
    ssize_t       n;
    size_t        want;
    int           cnt, rc;

    rc = weir_http_flush_interim(r);
    if (rc != WEIR_OK) {
        return rc;
    }
    if (r->gzip) {
        return weir_gzip_send(r);
    }
    while (r->out_sent < r->out_len + r->body_mem_len) {
        cnt = 0;
        if (r->out_sent < r->out_len) {
            iov[cnt].iov_base = r->out + r->out_sent;
            iov[cnt++].iov_len = r->out_len - r->out_sent;
            if (r->body_mem_len) {
                iov[cnt].iov_base = (void *) r->body_mem;
                iov[cnt++].iov_len = r->body_mem_len;
            }
        } else {
            size_t off = r->out_sent - r->out_len;
            iov[cnt].iov_base = (void *) (r->body_mem + off);
            iov[cnt++].iov_len = r->body_mem_len - off;
        }
        n = c->writev(c, iov, cnt);
        if (n == WEIR_AGAIN) {
            weir_http_send_blocked(r);
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            weir_log_error(WEIR_LOG_INFO, &c->log, errno, "writev() failed");
            return WEIR_ERROR;
        }
        if (!r->header_only && r->out_sent + (size_t) n > r->out_len) {
            /* the part of this write past the head */
            r->body_bytes_sent += r->out_sent + (size_t) n
                                  - weir_max(r->out_sent, r->out_len);
        }
        r->out_sent += (size_t) n;
        r->bytes_sent += (uint64_t) n;
        weir_http_send_moved(r);
        if (!c->write.ready && r->out_sent < r->out_len + r->body_mem_len) {
            weir_http_send_blocked(r);
            return WEIR_AGAIN;      /* short write: wait for EPOLLOUT */
        }
    }
    while (r->body_fd >= 0 && r->body_off < r->body_end) {
        want = (size_t) weir_min(r->body_end - r->body_off, (off_t) 1 << 30);
        off_t before = r->body_off;
        n = c->sendfile(c, r->body_fd, &r->body_off, want);
        if (n == WEIR_AGAIN) {
            weir_http_send_blocked(r);
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            weir_log_error(WEIR_LOG_INFO, &c->log, errno,
                           "sendfile() failed");
            return WEIR_ERROR;
        }
        if (n == 0) {
            /* The file shrank under us: the response can only be cut. */
            weir_log_error(WEIR_LOG_ERR, &c->log, 0,
                           "file truncated while sending");
            return WEIR_ERROR;
        }
        r->bytes_sent += (uint64_t) (r->body_off - before);
        r->body_bytes_sent += (uint64_t) (r->body_off - before);
        weir_http_send_moved(r);
        if (!c->write.ready && r->body_off < r->body_end) {
            weir_http_send_blocked(r);
            /* A short write filled the socket: the next call would only
             * say EAGAIN (a syscall per round on large bodies); wait for
             * the EPOLLOUT edge instead. */
            return WEIR_AGAIN;
        }
    }
    return WEIR_OK;
}

/* ---- the end of a request -------------------------------------------------- */

static void
finalize(weir_request_t *r)
{
    weir_http_conn_t *hc = r->hc;
    weir_conn_t      *c = r->c;
    int               ka = r->keepalive, linger = r->lingering;

    if (!r->logged) {
        r->logged = 1;
        weir_access_log_write(r);
        weir_http_stats_request(r);
    }
    c->requests++;
    hc->r = NULL;
    weir_gauge_add(&weir_proc_self->requests_active, -1);
    weir_pool_destroy(r->pool);     /* closes the body file too */
    if (ka) {
        keepalive(hc);
    } else if (linger) {
        lingering_close(hc);
    } else {
        weir_http_close_connection(hc);
    }
}

static void
keepalive(weir_http_conn_t *hc)
{
    weir_conn_t *c = hc->c;

    c->idle = 1;
    weir_http_set_state(c, weir_http_wait_request, weir_http_empty_handler,
                        "keep-alive");
    if (hc->buf && weir_buf_size(hc->buf) > 0) {
        /* A pipelined request is already here: serve it next, after the
         * current dispatch round, so deep pipelines do not recurse. */
        weir_timer_add(&c->read, weir_http.conf->client_header_timeout);
        c->read.ready = 1;
        weir_event_post(&c->read);
        return;
    }
    weir_http_buf_release(hc);
    weir_timer_add(&c->read, weir_http.quitting
                                 ? weir_min(1000, weir_http.conf->keepalive_timeout)
                                 : weir_http.conf->keepalive_timeout);
    /* Data may have arrived while we were writing: edge-triggered epoll
     * already reported it, so look now rather than wait for a new edge. */
    if (c->read.ready) {
        weir_event_post(&c->read);
    }
}

/* Closing a socket that still has unread input makes the kernel send a
 * RST, which can destroy the error response before the client reads it.
 * Half-close and drain for a while first. */
static void
lingering_close(weir_http_conn_t *hc)
{
    weir_conn_t *c = hc->c;

    weir_http_buf_release(hc);
    if (shutdown(c->fd, SHUT_WR) < 0) {
        weir_http_close_connection(hc);
        return;
    }
    hc->linger_deadline = weir_current_msec
                          + weir_http.conf->lingering_timeout * 6;
    weir_http_set_state(c, linger_handler, weir_http_empty_handler,
                        "lingering close");
    weir_timer_add(&c->read, weir_http.conf->lingering_timeout);
    c->read.ready = 1;
    weir_event_post(&c->read);
}

static void
linger_handler(weir_event_t *rev)
{
    weir_conn_t      *c = rev->data;
    weir_http_conn_t *hc = c->data;
    char              drain[4096];
    ssize_t           n;

    if (rev->timedout || weir_current_msec >= hc->linger_deadline) {
        weir_http_close_connection(hc);
        return;
    }
    do {
        n = c->recv(c, drain, sizeof(drain));
        if (n == 0 || n == WEIR_ERROR) {
            weir_http_close_connection(hc);
            return;
        }
    } while (n > 0);
    weir_timer_add(&c->read, weir_http.conf->lingering_timeout);
}

void
weir_http_close_connection(weir_http_conn_t *hc)
{
    weir_conn_t *c = hc->c;

    if (hc->r) {
        weir_request_t *r = hc->r;
        hc->r = NULL;
        weir_gauge_add(&weir_proc_self->requests_active, -1);
        weir_pool_destroy(r->pool);
    }
    weir_gauge_add(&weir_proc_self->connections, -1);
    weir_http_buf_release(hc);
    free(hc->peer_addr);
    c->data = NULL;
    free(hc);
    weir_conn_close(c);
}

/* ---- graceful stop ------------------------------------------------------------ */

void
weir_http_shutdown(weir_msec_t grace)
{
    weir_conn_t *c, *next;

    weir_http.quitting = 1;
    for (c = weir_conn_first(); c; c = next) {
        next = c->next;
        c->close = 1;
        if (c->idle && !c->is_listener && c->data) {
            /* Not cut at once: a request may be on its way. One that
             * arrives during the grace is answered with close. */
            weir_timer_add(&c->read, grace);
        }
    }
}
