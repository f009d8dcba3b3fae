/*
 * Building the response head and generated error pages.
 */
#ifndef WEIR_HTTP_RESPONSE_H
#define WEIR_HTTP_RESPONSE_H

#include "http/request.h"

/* Serialise the status line and headers of r into r->out (pool memory):
 * Date, Server, Content-Length (when known), Connection, r's headers, the
 * route's add_header list, then the security headers of r's route (or of
 * r->srv without one) that the response does not already have
 * (Strict-Transport-Security only when r->hc->tls). WEIR_OK or
 * WEIR_ERROR (out of memory). */
int weir_http_response_head(weir_request_t *r);

#endif /* WEIR_HTTP_RESPONSE_H */
