/*
 * Virtual hosts: the [server] sections that share one listen address, and
 * the choice among them by name: the request's Host (or the authority of
 * an absolute-form target), or the TLS SNI name.
 *
 * The loader builds one weir_vhost_t per distinct listen address
 * (weir_vhost_build()) and points each of those servers' listen lines at
 * it (weir_listen_conf_t.vhost). Its tables are sorted arrays in the
 * config arena, searched by bisection: a lookup allocates nothing.
 *
 * The order of choice is nginx's:
 *   1. an exact name ("www.example.com");
 *   2. the longest leading wildcard ("*.example.com" matches
 *      "a.example.com" and "a.b.example.com", not "example.com";
 *      ".example.com" matches all three);
 *   3. the longest trailing wildcard ("www.example.*");
 *   4. the first regex ("~^api[0-9]+\.example\.com$") that matches, in
 *      file order (servers, then names within a server);
 *   5. no match: the address's default server, the one whose listen line
 *      says `default_server`, else the first server in the file with that
 *      address.
 * Names compare without regard to case, with the port and one trailing
 * dot removed from the name looked up ("Example.COM.:8080" is
 * "example.com"); regexes are compiled caseless and see that same
 * normalised name.
 */
#ifndef WEIR_HTTP_VHOST_H
#define WEIR_HTTP_VHOST_H

#include <stddef.h>
#include "core/core.h"
#include "core/pool.h"
#include "http/http_conf.h"

/* The longest name looked up (a DNS name is at most 253 characters);
 * anything longer matches nothing and gets the default server. */
#define WEIR_VHOST_NAME_MAX 255

typedef struct weir_vhost_s weir_vhost_t;

/* The server for `name` (len bytes, not NUL-terminated: a Host value, an
 * SNI name) among those sharing the address of vh: the best match in the
 * order above, else the default. Never NULL. This is the call for a TLS
 * SNI callback: the listen line it accepted on carries vh
 * (weir_listen_conf_t.vhost). name may be NULL (len 0): the default. */
const weir_server_conf_t *weir_vhost_find(const weir_vhost_t *vh,
    const char *name, size_t len);

/* The same without the fallback: NULL when no name of any server on the
 * address matches. The request path uses it so that a Host matching
 * nothing keeps the server the connection already had (the default, or
 * the one SNI chose), as nginx does. */
const weir_server_conf_t *weir_vhost_match(const weir_vhost_t *vh,
    const char *name, size_t len);

/* The default server of the address. */
const weir_server_conf_t *weir_vhost_default(const weir_vhost_t *vh);

/* The servers sharing the address, in file order: i < weir_vhost_count()
 * (for whoever needs each server of an address, such as a TLS context
 * holding every server's certificate). */
size_t weir_vhost_count(const weir_vhost_t *vh);
const weir_server_conf_t *weir_vhost_server(const weir_vhost_t *vh,
    size_t i);

/* The listen line of the address's default server: the one its sockets
 * were opened for (its tls, proxy_protocol and backlog are every
 * server's, see weir_vhost_build()). */
const weir_listen_conf_t *weir_vhost_listen(const weir_vhost_t *vh);

/* Parse one word of `server_name` into sn (sn->line is the caller's):
 * checks the name's shape (host characters, '*' only as a whole first or
 * last label, ".name", "~regex") and compiles a regex (PCRE2, caseless),
 * which is freed with pool. word must live as long as pool; sn->name
 * points into it. WEIR_OK, or WEIR_ERROR with a message in err. */
int weir_vhost_name_parse(weir_pool_t *pool, weir_server_name_t *sn,
    char *word, char *err, size_t errlen);

/* A problem found while building: in server s, at line (of its
 * server_name or listen key), key "server_name", "listen" or
 * "default_server"; msg says what and names the other party. */
typedef void (*weir_vhost_report_pt)(void *data,
    const weir_server_conf_t *s, int line, const char *key,
    const char *msg);

/* Group conf's servers by listen address: allocate the weir_vhost_t's in
 * pool (conf->vhosts), set every listen line's `vhost` and mark, in each
 * group, the default server's line `is_default` (the one line per
 * address the sockets are opened and accepted for). Reports through
 * report, and then returns WEIR_ERROR: a name claimed twice on one
 * address, two default_server lines for one address, and servers whose
 * lines for one address disagree on what belongs to the socket (tls,
 * proxy_protocol, backlog). WEIR_ERROR without a report: out of memory. */
int weir_vhost_build(weir_http_conf_t *conf, weir_pool_t *pool,
    weir_vhost_report_pt report, void *data);

#endif /* WEIR_HTTP_VHOST_H */
