#include "weir_config.h"
#include "http/request-t.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/log.h"
#include "core/str.h"
#include "http/proxy_protocol.h"
#include "http/request.h"

/* A `proxy_protocol` listener: each connection starts with the PROXY
 * protocol header of the balancer in front (v1 or v2); on a `tls` one,
 * before the TLS handshake (read_header_tls()). The spec forbids
 * guessing whether one is there, so a connection without a valid header
 * is closed, and one that sends nothing is cut when client_header_timeout
 * (armed by weir_http_init_connection) expires. The header may arrive in
 * pieces; bytes behind it are the first request and stay in the buffer,
 * where wait_request finds them as it finds a pipelined request. */

static void read_header(weir_event_t *rev);
static void read_header_tls(weir_event_t *rev);
static int peek_header(weir_http_conn_t *hc, weir_proxy_protocol_t *pp);
static void reject(weir_http_conn_t *hc, const char *why);
static int use_client_address(weir_http_conn_t *hc,
    const weir_proxy_protocol_t *pp);

void
weir_http_init_proxy_protocol(weir_conn_t *c, const weir_server_conf_t *srv,
    const weir_listen_conf_t *l)
{
    weir_http_init_connection(c, srv, l);
    if (c->fd < 0) {
        return;         /* out of memory: closed and logged */
    }
    weir_http_set_state(c, l && l->tls ? read_header_tls : read_header,
                        weir_http_empty_handler,
                        "reading PROXY protocol header");
}

static void
read_header(weir_event_t *rev)
{
    weir_conn_t          *c = rev->data;
    weir_http_conn_t     *hc = c->data;
    weir_proxy_protocol_t pp;
    weir_buf_t           *b;
    ssize_t               n;
    int                   rc;

    if (rev->timedout) {
        reject(hc, "no complete PROXY protocol header in time");
        return;
    }
    if (weir_http_buf_get(hc) != WEIR_OK) {
        weir_http_close_connection(hc);
        return;
    }
    for (;;) {
        b = hc->buf;
        rc = weir_proxy_protocol_parse(b->pos, weir_buf_size(b), &pp);
        if (rc == WEIR_OK) {
            break;
        }
        if (rc == WEIR_ERROR) {
            reject(hc, pp.error);
            return;
        }
        if (weir_buf_free(b) == 0) {
            /* Only a v2 header with large TLVs gets here: it may take the
             * room of a request head (max_header_size), not more. */
            if (!weir_http_buf_is_small(b)) {
                reject(hc, "PROXY v2 header too large");
                return;
            }
            if (weir_http_buf_grow(hc, NULL) != WEIR_OK) {
                weir_http_close_connection(hc);
                return;
            }
            continue;
        }
        n = c->recv(c, b->last, weir_buf_free(b));
        if (n == WEIR_AGAIN) {
            return;
        }
        if (n == 0 && weir_buf_size(b) == 0) {
            /* A balancer's TCP health check: nothing to say. */
            weir_http_close_connection(hc);
            return;
        }
        if (n == 0) {
            reject(hc, "connection closed in the PROXY protocol header");
            return;
        }
        if (n == WEIR_ERROR) {
            if (errno != ECONNRESET) {
                weir_log_error(WEIR_LOG_INFO, &c->log, errno,
                               "recv() failed");
            }
            weir_http_close_connection(hc);
            return;
        }
        b->last += n;
    }
    b->pos += pp.len;
    /* v1 UNKNOWN, v2 LOCAL and the like keep the socket's address. */
    if (!pp.local && use_client_address(hc, &pp) != WEIR_OK) {
        weir_http_close_connection(hc);
        return;
    }
    weir_http_set_state(c, weir_http_wait_request, weir_http_empty_handler,
                        "waiting for request");
    weir_http_wait_request(rev);
}

/* `listen = ADDR tls proxy_protocol`: the header comes before the TLS
 * handshake (as HAProxy sends it and nginx reads it), and the bytes
 * behind it are the ClientHello, which OpenSSL must read from the socket
 * itself. So the header is looked at with MSG_PEEK until it is whole,
 * then exactly its bytes are taken, and the handshake starts on the same
 * socket at once (the ClientHello may be there already; no edge will
 * say so). A bad or missing header closes the connection before any
 * TLS byte is written. */
static void
read_header_tls(weir_event_t *rev)
{
    weir_conn_t          *c = rev->data;
    weir_http_conn_t     *hc = c->data;
    weir_proxy_protocol_t pp;
    char                  drop[256];
    size_t                left;
    ssize_t               n;
    int                   rc;

    if (rev->timedout) {
        reject(hc, "no complete PROXY protocol header in time");
        return;
    }
    rc = peek_header(hc, &pp);
    if (rc != WEIR_OK) {
        return;         /* WEIR_AGAIN: wait; WEIR_ERROR: closed */
    }
    weir_http_buf_release(hc);
    for (left = pp.len; left > 0; left -= (size_t) n) {
        n = recv(c->fd, drop, weir_min(left, sizeof(drop)), 0);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n <= 0) {
            /* The kernel showed these bytes a moment ago. */
            weir_log_error(WEIR_LOG_INFO, &c->log, n < 0 ? errno : 0,
                           "recv() of the PROXY protocol header failed");
            weir_http_close_connection(hc);
            return;
        }
    }
    if (!pp.local && use_client_address(hc, &pp) != WEIR_OK) {
        weir_http_close_connection(hc);
        return;
    }
    weir_http_start_tls(c, 1);
}

/* Peek at the connection's first bytes into hc->buf until they hold a
 * whole PROXY header: WEIR_OK with *pp, WEIR_AGAIN (wait for more), or
 * WEIR_ERROR (the connection was closed, the reason logged). */
static int
peek_header(weir_http_conn_t *hc, weir_proxy_protocol_t *pp)
{
    weir_conn_t *c = hc->c;
    weir_buf_t  *b;
    ssize_t      n;
    int          rc;

    if (weir_http_buf_get(hc) != WEIR_OK) {
        weir_http_close_connection(hc);
        return WEIR_ERROR;
    }
    for (;;) {
        b = hc->buf;
        b->pos = b->last = b->start;    /* a peek sees it all again */
        n = recv(c->fd, b->last, weir_buf_free(b), MSG_PEEK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->read.ready = 0;
            return WEIR_AGAIN;
        }
        if (n < 0) {
            if (errno != ECONNRESET) {
                weir_log_error(WEIR_LOG_INFO, &c->log, errno,
                               "recv() failed");
            }
            weir_http_close_connection(hc);
            return WEIR_ERROR;
        }
        if (n == 0) {
            /* Nothing at all: a balancer's TCP health check. */
            weir_http_close_connection(hc);
            return WEIR_ERROR;
        }
        b->last += n;
        rc = weir_proxy_protocol_parse(b->pos, weir_buf_size(b), pp);
        if (rc == WEIR_OK) {
            return WEIR_OK;
        }
        if (rc == WEIR_ERROR) {
            reject(hc, pp->error);
            return WEIR_ERROR;
        }
        if (weir_buf_free(b) > 0) {
            /* Part of a header: the rest comes with a new edge, unless
             * the peer has closed (a peek never reports that). */
            if (c->read.eof) {
                reject(hc, "connection closed in the PROXY protocol "
                       "header");
                return WEIR_ERROR;
            }
            return WEIR_AGAIN;
        }
        if (!weir_http_buf_is_small(b)) {
            reject(hc, "PROXY v2 header too large");
            return WEIR_ERROR;
        }
        if (weir_http_buf_grow(hc, NULL) != WEIR_OK) {
            weir_http_close_connection(hc);
            return WEIR_ERROR;
        }
    }
}

static void
reject(weir_http_conn_t *hc, const char *why)
{
    weir_log_error(WEIR_LOG_INFO, &hc->c->log, 0,
                   "connection rejected: %s", why);
    weir_http_close_connection(hc);
}

/* The relayed client becomes the connection's address: c->addr_text is
 * $remote_addr, the error log's "client:" and X-Forwarded-For upstream,
 * and c->sockaddr is what an upstream PROXY header carries. The socket's
 * own peer (the balancer) stays available as $realip_remote_addr. */
static int
use_client_address(weir_http_conn_t *hc, const weir_proxy_protocol_t *pp)
{
    weir_conn_t *c = hc->c;

    hc->peer_addr = malloc(sizeof(c->addr_text));
    if (hc->peer_addr == NULL) {
        weir_log_error(WEIR_LOG_ERR, &c->log, errno, "malloc() failed");
        return WEIR_ERROR;
    }
    weir_cpystrn(hc->peer_addr, c->addr_text, strlen(c->addr_text),
                 sizeof(c->addr_text));
    memcpy(&c->sockaddr, &pp->src, pp->srclen);
    c->socklen = pp->srclen;
    weir_sockaddr_text(&c->sockaddr.sa, c->addr_text, sizeof(c->addr_text),
                       0);
    return WEIR_OK;
}
