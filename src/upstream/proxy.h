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

/* Graceful stop: close pooled connections and pool no more. */
void weir_proxy_shutdown(void);

#endif /* WEIR_UPSTREAM_PROXY_H */
