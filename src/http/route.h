/*
 * Route matching: the first [route] of a server whose `match` fits the
 * normalised request path wins, in file order.
 */
#ifndef WEIR_HTTP_ROUTE_H
#define WEIR_HTTP_ROUTE_H

#include <stddef.h>
#include "http/http_conf.h"

/* Parse a `match =` value ("/prefix", "= /exact", "~ regex") into r and,
 * for a regex, compile it with PCRE2 (JIT when available). On error
 * returns WEIR_ERROR with a message in err ("regex error at offset 3:
 * missing )"). Used by the config loader. */
int weir_route_match_parse(weir_route_conf_t *r, const char *value,
    char *err, size_t errlen);

/* Release the compiled regex of r (config teardown). */
void weir_route_free(weir_route_conf_t *r);

/* The first route of srv matching path[0..len), or NULL. */
weir_route_conf_t *weir_route_find(const weir_server_conf_t *srv,
    const char *path, size_t len);

/* Does this route match? 1 or 0. */
int weir_route_matches(const weir_route_conf_t *r, const char *path,
    size_t len);

#endif /* WEIR_HTTP_ROUTE_H */
