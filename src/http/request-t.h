/*
 * Internals of the HTTP server side shared by request.c (connection,
 * head, response), request_target.c (the target and the server),
 * request_buf.c (the connection's buffers),
 * request_body.c (the request body), request_proxy_protocol.c and
 * limit.c (which goes on with the body once a request passes its
 * limits). Not a public face: only those include this.
 */
#ifndef WEIR_HTTP_REQUEST_T_H
#define WEIR_HTTP_REQUEST_T_H

#include "core/buf.h"
#include "http/request.h"

#define WEIR_HTTP_BUF_EXTRA  8192   /* room for body framing past the head */

/* ---- request.c, request_buf.c ---- */

/* The one state transition: swap the connection's handlers and set the
 * log action. */
void weir_http_set_state(weir_conn_t *c, weir_event_handler_pt rh,
    weir_event_handler_pt wh, const char *action);
/* A handler for an event the state ignores. */
void weir_http_empty_handler(weir_event_t *ev);
/* The state of a connection between requests (and of a fresh one):
 * serves a request already buffered, else reads and starts one. */
void weir_http_wait_request(weir_event_t *rev);
/* Give the connection a (small) buffer unless it holds one. WEIR_OK or
 * WEIR_ERROR (out of memory, logged). */
int weir_http_buf_get(weir_http_conn_t *hc);
/* Give the connection's buffer back (idle connections hold none). */
void weir_http_buf_release(weir_http_conn_t *hc);
/* Whether b is a small (head-only) buffer. */
int weir_http_buf_is_small(const weir_buf_t *b);
/* Move the connection to a large buffer, shifting r's parsed slices (r
 * may be NULL). WEIR_OK or WEIR_ERROR (out of memory, logged). */
int weir_http_buf_grow(weir_http_conn_t *hc, weir_request_t *r);
/* Free the connection (and its request, if any) and close the socket. */
void weir_http_close_connection(weir_http_conn_t *hc);

/* ---- request_target.c ---- */

/* The server the request's authority (absolute-form) or Host names among
 * those sharing its address; no match keeps the connection's. */
void weir_http_select_server(weir_request_t *r);
/* r->path (decoded) and r->target (canonical, forwarded) from the raw
 * target; an ambiguous one is answered 400. WEIR_OK, or WEIR_ERROR when
 * the request was finalized. */
int weir_http_normalize_request_target(weir_request_t *r);

/* ---- request_body.c ---- */

/* The head is parsed and routed: read and discard the body for handlers
 * that need none, or leave it to the proxy; then weir_http_handle(). */
void weir_http_start_body(weir_request_t *r);

#endif /* WEIR_HTTP_REQUEST_T_H */
