/*
 * Content handlers: run the matched route's handler (static files,
 * return) for a request whose head (and body) has been read.
 */
#ifndef WEIR_HTTP_HANDLER_H
#define WEIR_HTTP_HANDLER_H

#include "http/request.h"

void weir_http_handle(weir_request_t *r);

#endif /* WEIR_HTTP_HANDLER_H */
