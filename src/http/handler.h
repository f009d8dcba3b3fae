/*
 * Content handlers: run the matched route's handler for a request whose
 * head has been read. A registry indexed by the route's kind (enum
 * weir_route_handler): static files and return register themselves here;
 * the layers above the HTTP one (the proxy, the admin pages, next the
 * cache) register theirs at worker start, so http depends on none of them.
 */
#ifndef WEIR_HTTP_HANDLER_H
#define WEIR_HTTP_HANDLER_H

#include "http/request.h"

typedef void (*weir_http_handler_pt)(weir_request_t *r);

/* Set the handler of a route kind (replacing any). */
void weir_http_handler_register(int kind, weir_http_handler_pt h);

/* Run r->route's handler: 404 without a route, 501 for a kind nothing
 * registered. */
void weir_http_handle(weir_request_t *r);

#endif /* WEIR_HTTP_HANDLER_H */
