#include "weir_config.h"
#include "http/request.h"

/*
 * What a request is for, decided once its head is parsed: the one
 * normalised target that routes, static files and the proxy all act on,
 * and the server its Host names. Split from request.c, which keeps the
 * connection's states.
 */

#include <string.h>
#include "core/log.h"
#include "http/parse.h"
#include "http/request-t.h"
#include "http/response.h"
#include "http/vhost.h"

/* Servers sharing the address are chosen by the request's host
 * (http/vhost.h). The parser already made every Host field the authority
 * of an absolute-form target (RFC 9112 3.2.2); an HTTP/1.0 request may
 * have that authority and no Host. A host that names no server keeps the
 * connection's server: the address's default, or the one TLS chose by
 * SNI. */
void
weir_http_select_server(weir_request_t *r)
{
    const weir_server_conf_t *s = NULL;
    const weir_vhost_t       *vh = r->hc->listen ? r->hc->listen->vhost
                                                 : NULL;

    if (vh == NULL) {
        return;
    }
    if (r->head.authority) {
        s = weir_vhost_match(vh, r->head.authority, r->head.authority_len);
    } else if (r->h_host) {
        s = weir_vhost_match(vh, r->h_host->value, r->h_host->value_len);
    }
    if (s) {
        r->srv = s;
    }
}

/* One normalised path for everything after this point (parse_path.c):
 * r->path, decoded, routes and names static files; r->target, the same
 * path re-encoded canonically and the query byte for byte, is what a
 * proxied request line carries, so the origin acts on the path the route
 * was chosen for. A target with no single meaning is 400 here. Returns
 * WEIR_ERROR when the request was finalized. */
int
weir_http_normalize_request_target(weir_request_t *r)
{
    const char *q = r->uri.data, *a;
    size_t      plen = r->uri.len, fsz;
    char       *path, *fwd;
    unsigned    seen = 0;
    int         rc;

    if (q[0] == '*') {
        r->path.data = "*";
        r->path.len = 1;
        r->target = r->uri;
        return WEIR_OK;
    }
    a = memchr(q, '?', plen);
    if (a) {
        r->args.data = a + 1;
        r->args.len = (size_t) (q + plen - a - 1);
    }
    fsz = 3 * plen + 2;
    path = weir_palloc(r->pool, plen + 2);
    fwd = weir_palloc(r->pool, fsz);
    if (path == NULL || fwd == NULL) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return WEIR_ERROR;
    }
    /* "%2F" is kept here and judged once the route is known: only a
     * route with encoded_slash = pass takes it (weir_route_encoded_slash).
     * Kept, it is no separator, so the route is chosen on the segments
     * the origin will see. */
    rc = weir_http_normalize_target_flags(q, plen, WEIR_PATH_PASS_SLASH,
                                          path, plen + 2, &r->path.len,
                                          fwd, fsz, &r->target.len, &seen);
    if (rc != WEIR_OK) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "client sent invalid or ambiguous path");
        weir_http_finalize_error(r, 400, "BAD_REQUEST");
        return WEIR_ERROR;
    }
    r->path.data = path;
    r->target.data = fwd;
    r->encoded_slash = (seen & WEIR_PATH_PASS_SLASH) != 0;
    if (a) {
        /* The query is the origin's to read; it goes as it came, "?"
         * included even when empty. Room: 3 * plen + 2 covers it. */
        size_t qlen = (size_t) (q + plen - a);

        if (r->target.len + qlen + 1 > fsz) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return WEIR_ERROR;
        }
        memcpy(fwd + r->target.len, a, qlen);
        r->target.len += qlen;
        fwd[r->target.len] = '\0';
    }
    return WEIR_OK;
}
