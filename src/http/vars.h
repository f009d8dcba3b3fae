/*
 * Request variables outside the access log: "$remote_addr$request_uri"
 * style templates evaluated against a request, for keys (balance = hash
 * today; cache keys and limits next). Known names: remote_addr, host
 * (lower-cased, without the port), request_uri, uri, args,
 * request_method, server_name, scheme ("http", "https" on a tls listener),
 * server_port (the port of the listener the request came on), the ssl_
 * ones (below), http_NAME
 * (a request header, '_' for '-'), cookie_NAME and arg_NAME. Text outside
 * variables is copied as is.
 */
#ifndef WEIR_HTTP_VARS_H
#define WEIR_HTTP_VARS_H

#include <stddef.h>
#include "http/request.h"

/* Write the value of `tmpl` for r into buf (cap bytes, NUL-terminated,
 * cut at cap - 1): the length written. An absent value is empty. */
size_t weir_http_vars_eval(weir_request_t *r, const char *tmpl, char *buf,
    size_t cap);

/* The request header a $http_NAME variable names (NAME with '_' for
 * '-', len bytes), or NULL. */
const weir_http_header_t *weir_http_vars_header(const weir_request_t *r,
    const char *name, size_t len);

/* $scheme and $server_port, which the access log prints too: one source
 * for both, so the two never disagree. Never NULL data. */
weir_str_t weir_http_vars_scheme(const weir_request_t *r);
weir_str_t weir_http_vars_server_port(const weir_request_t *r);

/* The TLS variables: ssl_protocol, ssl_cipher, ssl_server_name,
 * ssl_session_reused ("r" or "."), ssl_client_verify (SUCCESS, NONE,
 * FAILED:reason; plain FAILED without scratch) and ssl_client_s_dn
 * (needs scratch: cap bytes). data is NULL
 * when the connection has no TLS or the value does not apply. */
int weir_http_vars_is_tls(const char *name, size_t len);
weir_str_t weir_http_vars_tls(const weir_request_t *r, const char *name,
    size_t len, char *scratch, size_t cap);

/* Is "$name..." at `name` (without '$', `len` bytes) a known variable? */
int weir_http_vars_known(const char *name, size_t len);

#endif /* WEIR_HTTP_VARS_H */
