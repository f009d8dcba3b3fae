/*
 * Content handlers: run the matched route's handler for a request whose
 * head has been read. A registry indexed by the route's kind (enum
 * weir_route_handler): static files and return register themselves here;
 * the layers above the HTTP one (the proxy, the admin pages, next the
 * cache) register theirs at worker start, so http depends on none of them.
 */
#ifndef WEIR_HTTP_HANDLER_H
#define WEIR_HTTP_HANDLER_H

#include "http/cond.h"
#include "http/request.h"

typedef void (*weir_http_handler_pt)(weir_request_t *r);

/* Set the handler of a route kind (replacing any). */
void weir_http_handler_register(int kind, weir_http_handler_pt h);

/* Run r->route's handler: 404 without a route, 501 for a kind nothing
 * registered. */
void weir_http_handle(weir_request_t *r);

/* The request's conditional and Range fields for weir_http_cond_eval()
 * (a conditional repeated on several lines is joined). WEIR_OK, or
 * WEIR_ERROR without memory. */
int weir_http_request_cond(weir_request_t *r, weir_http_cond_t *cond);

/* Answer r with a representation of `size` bytes found at offset `base`
 * of fd, as weir_http_cond_eval() decided in res: 200 and 206 (with
 * Content-Range) send the body with sendfile, or from `mem` (the same
 * bytes already in memory, or NULL) with the head in one writev; 304 the
 * head only, 412 and 416 an error page. Static files and cached objects
 * both answer here; the fields already added to r go out with it. fd
 * must be attached to r (weir_http_attach_file()) by the caller. */
void weir_http_send_rep(weir_request_t *r, int fd, off_t base,
    const char *mem, off_t size, const weir_http_cond_res_t *res);

#endif /* WEIR_HTTP_HANDLER_H */
