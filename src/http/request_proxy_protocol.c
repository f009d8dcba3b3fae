#include "weir_config.h"
#include "http/request-t.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/log.h"
#include "core/str.h"
#include "http/proxy_protocol.h"
#include "http/request.h"

/* A `proxy_protocol` listener: each connection starts with the PROXY
 * protocol header of the balancer in front (v1 or v2). The spec forbids
 * guessing whether one is there, so a connection without a valid header
 * is closed, and one that sends nothing is cut when client_header_timeout
 * (armed by weir_http_init_connection) expires. The header may arrive in
 * pieces; bytes behind it are the first request and stay in the buffer,
 * where wait_request finds them as it finds a pipelined request. */

static void read_header(weir_event_t *rev);
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
    weir_http_set_state(c, read_header, weir_http_empty_handler,
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
