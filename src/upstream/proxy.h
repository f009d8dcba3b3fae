/*
 * The HTTP/1.1 reverse proxy handler (DESIGN §3, §4): connects to a peer
 * (or reuses a pooled connection), sends the rewritten request head and the
 * body, parses the response head, streams the body back with back-pressure
 * both ways, maps failures to retries or generated errors, and tunnels
 * upgraded connections.
 */
#ifndef WEIR_UPSTREAM_PROXY_H
#define WEIR_UPSTREAM_PROXY_H

#include "http/request.h"

/* Take over r (its route has `upstream`). Always finishes the request
 * itself: response, error page, or abort. */
void weir_proxy_handle(weir_request_t *r);

/*
 * An observer of one proxied response: the cache fills from it, and
 * answers for it when the origin fails (stale-if-error) or says 304. The
 * body reaches the client through one path (proxy_response.c); the
 * observer sees each de-chunked span of it before it is written, without
 * a copy. Every hook may be NULL.
 */
typedef struct weir_proxy_observer_s {
    /* Request: the client's conditional and Range fields are not sent
     * (the cache fetches whole representations, with its own validators
     * in `extra`), and `extra` ("Name: value\r\n"...) is added. */
    unsigned     whole:1;
    const char  *extra;
    size_t       extra_len;

    /* The final response head, after retries. r->status and the
     * end-to-end fields in r->resp_names/values are set (no framing
     * fields); headers the observer adds go to the client. WEIR_OK: send
     * it on. WEIR_DECLINED: the observer answers the client itself,
     * later or now (weir_proxy_detach() has been called for it). */
    int        (*head)(void *ctx, weir_request_t *r,
                       const weir_http_header_t *resp, size_t nresp,
                       off_t content_length);
    /* A span of the body, de-chunked, in order. */
    void       (*body)(void *ctx, const char *data, size_t len);
    /* The response ended, complete (1) or cut (0). Called once after
     * head returned WEIR_OK, whatever ends the request. */
    void       (*end)(void *ctx, int complete);
    /* The proxy is about to answer `status` (502, 503, 504) because no
     * response came. Returning 1 means the observer answered the client
     * (stale content) instead. */
    int        (*failed)(void *ctx, weir_request_t *r, int status);
    /* The client went away during the body: 1 to go on reading the
     * upstream to the end (the body still reaches `body`), 0 to stop. */
    int        (*client_gone)(void *ctx);
    void        *ctx;
} weir_proxy_observer_t;

/* From the head hook: let go of the upstream side (pooled when nothing
 * of the response is left to read) so the observer can answer r. */
void weir_proxy_detach(weir_request_t *r);

/* weir_proxy_handle() with an observer (which must outlive the request:
 * allocate it in r->pool). */
void weir_proxy_handle_observed(weir_request_t *r,
    const weir_proxy_observer_t *obs);

/* Adopt the client's X-Request-Id as the request's id (unless the route
 * sets or removes that field), so logs on both sides correlate; also for
 * a request the cache answers without the upstream. */
void weir_proxy_request_id(weir_request_t *r);

/* Graceful stop: close pooled connections and pool no more. */
void weir_proxy_shutdown(void);

#endif /* WEIR_UPSTREAM_PROXY_H */
