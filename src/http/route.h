/*
 * Route matching: the first [route] of a server whose `match` fits the
 * normalised request path wins, in file order.
 */
#ifndef WEIR_HTTP_ROUTE_H
#define WEIR_HTTP_ROUTE_H

#include <stddef.h>
#include <sys/socket.h>
#include "core/pool.h"
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

/* The route for a normalised path, as weir_route_find(), into *out;
 * WEIR_DECLINED when the path has ";parameters" and, read with them cut
 * from every segment (as Tomcat-style origins read it: "/admin;x/y" is
 * their "/admin/y"), would take another route: such a path has no single
 * meaning and the caller refuses it, or the deny of that other route
 * would be walked around. WEIR_ERROR: out of memory. */
int weir_route_select(const weir_server_conf_t *srv, const char *path,
    size_t len, weir_pool_t *pool, const weir_route_conf_t **out);

/* A path that keeps "%2F" (parse_path.c, WEIR_PATH_PASS_SLASH) was given
 * route (the first match, NULL for none). WEIR_OK when that route says
 * encoded_slash = pass and the path read with every "%2F" as a '/' (as
 * an origin that decodes it would) takes the same route; else
 * WEIR_DECLINED, and the caller answers 400: a route that rejects gets no
 * "%2F", and no "%2F" walks around a route (its deny, its origin) meant
 * for the path it spells. WEIR_ERROR: out of memory. */
int weir_route_encoded_slash(const weir_server_conf_t *srv,
    const weir_route_conf_t *route, const char *path, size_t len,
    weir_pool_t *pool);

/* Does this route match? 1 or 0. */
int weir_route_matches(const weir_route_conf_t *r, const char *path,
    size_t len);

/* Does route a, tried before b, match every path b matches, so that b
 * never matches? 1 or 0. A prefix covers a longer prefix or an exact path
 * it begins, and a regex whose pattern is "^literal..." with the literal
 * beginning with the prefix; a regex covers the exact paths it matches
 * and the same pattern; an exact path covers only the same exact path.
 * Anything else about regexes is not judged (0): a yes is always right,
 * a no may miss a case. Used by the config loader to warn about shadowed
 * routes. */
int weir_route_covers(const weir_route_conf_t *a, const weir_route_conf_t *b);

/* Do the route's access rules let the client at sa in? A client in a
 * `deny` range is refused whatever `allow` says; with an `allow` list,
 * only clients in it get in; a route with neither lets everyone in.
 * 1 or 0. */
int weir_route_allows(const weir_route_conf_t *r, const struct sockaddr *sa);

#endif /* WEIR_HTTP_ROUTE_H */
