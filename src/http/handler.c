#include "weir_config.h"
#include "http/handler.h"

#include <stdio.h>
#include <string.h>
#include "core/log.h"
#include "core/sbuf.h"
#include "core/str.h"
#include "core/wtime.h"
#include "http/gzip.h"
#include "http/static.h"

static void handle_static(weir_request_t *r);
static void handle_return(weir_request_t *r);
static int header_value(weir_request_t *r, const char *name,
    const char **value, size_t *len);
static int location_slash(weir_request_t *r);
static int path_char(unsigned char ch);
static void static_headers(weir_request_t *r, const weir_static_res_t *res);
static int gz_mode(const weir_request_t *r);
static int gz_headers(weir_request_t *r, const weir_static_res_t *res);
static const char *error_code(int status);

static weir_http_handler_pt handlers[WEIR_ROUTE_KINDS] = {
    [WEIR_ROUTE_STATIC] = handle_static,
    [WEIR_ROUTE_RETURN] = handle_return,
};

void
weir_http_handler_register(int kind, weir_http_handler_pt h)
{
    if (kind >= 0 && kind < WEIR_ROUTE_KINDS) {
        handlers[kind] = h;
    }
}

void
weir_http_handle(weir_request_t *r)
{
    weir_http_handler_pt h;

    if (r->route == NULL) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0, "no route matches \"%.*s\"",
                       (int) weir_min(r->path.len, 512), r->path.data);
        weir_http_finalize_error(r, 404, "NOT_FOUND");
        return;
    }
    h = r->route->handler >= 0 && r->route->handler < WEIR_ROUTE_KINDS
        ? handlers[r->route->handler] : NULL;
    if (h == NULL) {
        weir_http_finalize_error(r, 501, "NOT_IMPLEMENTED");
        return;
    }
    h(r);
}

static const char *
error_code(int status)
{
    switch (status) {
    case 403: return "FORBIDDEN";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 412: return "PRECONDITION_FAILED";
    case 416: return "RANGE_NOT_SATISFIABLE";
    default:  return "INTERNAL_ERROR";
    }
}

#define SET(field, h)                                                        \
    do {                                                                     \
        if ((h) != NULL) {                                                   \
            cond->field = (h)->value;                                        \
            cond->field##_len = (h)->value_len;                              \
        }                                                                    \
    } while (0)

/* The request's conditional and Range fields, a repeated conditional
 * joined (header_value()). WEIR_OK or WEIR_ERROR (no memory). */
int
weir_http_request_cond(weir_request_t *r, weir_http_cond_t *cond)
{
    memset(cond, 0, sizeof(*cond));
    if (!r->cond_repeated) {
        SET(if_match, r->h_if_match);
        SET(if_unmodified_since, r->h_if_unmodified_since);
        SET(if_none_match, r->h_if_none_match);
        SET(if_modified_since, r->h_if_modified_since);
    } else if (header_value(r, "if-match", &cond->if_match,
                            &cond->if_match_len) != WEIR_OK
               || header_value(r, "if-unmodified-since",
                               &cond->if_unmodified_since,
                               &cond->if_unmodified_since_len) != WEIR_OK
               || header_value(r, "if-none-match", &cond->if_none_match,
                               &cond->if_none_match_len) != WEIR_OK
               || header_value(r, "if-modified-since",
                               &cond->if_modified_since,
                               &cond->if_modified_since_len) != WEIR_OK)
    {
        return WEIR_ERROR;
    }
    SET(range, r->h_range);
    SET(if_range, r->h_if_range);
    return WEIR_OK;
}

void
weir_http_send_rep(weir_request_t *r, int fd, off_t base, const char *mem,
    off_t size, const weir_http_cond_res_t *res)
{
    char *buf;
    int   n;

    r->rep_len = size;      /* a 304 is judged by it (http/gzip.h) */
    switch (res->status) {
    case 200:
    case 206:
        r->status = res->status;
        if (mem) {
            r->body_mem = mem + res->offset;
            r->body_mem_len = (size_t) res->length;
        } else {
            r->body_fd = fd;
            r->body_off = base + res->offset;
            r->body_end = base + res->offset + res->length;
        }
        r->content_length = res->length;
        weir_http_add_header(r, "Accept-Ranges", 13, "bytes", 5);
        if (res->status == 206) {
            buf = weir_palloc(r->pool, 96);
            if (buf) {
                n = snprintf(buf, 96, "bytes %lld-%lld/%lld",
                             (long long) res->offset,
                             (long long) (res->offset + res->length - 1),
                             (long long) size);
                weir_http_add_header(r, "Content-Range", 13, buf,
                                     (size_t) n);
            }
        }
        weir_http_send_response(r);
        return;
    case 304:
        r->status = 304;
        weir_http_send_response(r);
        return;
    case 416:
        buf = weir_palloc(r->pool, 48);
        if (buf) {
            n = snprintf(buf, 48, "bytes */%lld", (long long) size);
            weir_http_add_header(r, "Content-Range", 13, buf, (size_t) n);
        }
        weir_http_finalize_error(r, 416, "RANGE_NOT_SATISFIABLE");
        return;
    default:
        weir_http_finalize_error(r, res->status, error_code(res->status));
        return;
    }
}

static void
handle_static(weir_request_t *r)
{
    const weir_route_conf_t *rt = r->route;
    weir_static_req_t        sreq;
    weir_static_res_t        res;
    weir_http_cond_res_t     cres;

    memset(&sreq, 0, sizeof(sreq));
    sreq.root = rt->root;
    sreq.index = rt->index;
    sreq.nindex = rt->nindex;
    sreq.path = r->path.data;
    sreq.path_len = r->path.len;
    sreq.method_get_or_head = r->method == WEIR_HTTP_GET
                              || r->method == WEIR_HTTP_HEAD;
    sreq.mime = weir_http.mime;
    sreq.gz = gz_mode(r);
    if (weir_http_request_cond(r, &sreq.cond) != WEIR_OK
        || weir_static_open(&sreq, &res) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    if (res.gz_err != 0) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, res.gz_err,
                       "cannot open \"%s%.*s.gz\", serving the file itself",
                       rt->root, (int) r->path.len, r->path.data);
    }
    switch (res.status) {
    case 200:
    case 206:
    case 304:
    case 416:
        if (res.status != 416 && res.status != 304
            && weir_http_attach_file(r, res.fd) != WEIR_OK) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
        if (res.status != 416) {
            static_headers(r, &res);
        }
        if (gz_headers(r, &res) != WEIR_OK) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
        cres.status = res.status;
        cres.offset = res.offset;
        cres.length = res.length;
        weir_http_send_rep(r, res.status == 304 || res.status == 416
                              ? -1 : res.fd, 0, NULL, res.file_size, &cres);
        return;
    case 301:
        if (location_slash(r) != WEIR_OK) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
        weir_http_finalize_error(r, 301, "MOVED_PERMANENTLY");
        return;
    default:
        if (res.status == 500) {
            weir_log_error(WEIR_LOG_ERR, &r->c->log, res.err,
                           "cannot open \"%s%.*s\"", rt->root,
                           (int) r->path.len, r->path.data);
        }
        weir_http_finalize_error(r, res.status, error_code(res.status));
        return;
    }
}

/*
 * A conditional header as one value, when one came on several lines
 * (rare: the request index says so). RFC 9110 5.3 lets a client split a
 * list over several field lines: an If-Match whose matching tag is on the
 * second line must not fail because only the first was read, so the lines
 * are joined with ", ". A date joined that way no longer parses and is
 * ignored, which is what 13.1.3 and 13.1.4 ask for a list of dates.
 * WEIR_OK with *value NULL when absent; WEIR_ERROR without memory.
 */
static int
header_value(weir_request_t *r, const char *name, const char **value,
    size_t *len)
{
    const weir_http_header_t *h, *found = NULL;
    size_t                    i, n = strlen(name), total = 0, count = 0;
    weir_sbuf_t               sb;

    *value = NULL;
    *len = 0;

    for (i = 0; i < r->head.num_headers; i++) {
        h = &r->headers[i];
        if (h->name_len == n && weir_strncaseeq(h->name, name, n)) {
            found = h;
            total += h->value_len + 2;
            count++;
        }
    }

    if (count == 0) {
        return WEIR_OK;
    }

    if (count == 1) {
        *value = found->value;
        *len = found->value_len;
        return WEIR_OK;
    }

    weir_sbuf_init_pool(&sb, r->pool, total);     /* total is a hint */
    for (i = 0; i < r->head.num_headers; i++) {
        h = &r->headers[i];
        if (h->name_len == n && weir_strncaseeq(h->name, name, n)) {
            if (sb.len != 0) {
                weir_sbuf_lit(&sb, ", ");
            }
            weir_sbuf_append(&sb, h->value, h->value_len);
        }
    }
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }
    *value = sb.data;
    *len = sb.len;

    return WEIR_OK;
}

/*
 * "Location: <path>/[?<query>]" for a directory asked for without its
 * slash. The path is the decoded one and may hold any byte but NUL: a
 * directory named "x\r\nSet-Cookie: a=b" would otherwise add a header of
 * its own, and one named "q?x" or "a#b" would send the client elsewhere.
 * Every byte outside RFC 3986 pchar and '/' is percent-encoded, '%' too,
 * since the client decodes the path again. The query goes back as it came,
 * as nginx does: the request line admits only visible ASCII there
 * (parse.c, C_TARGET), nothing that can end the header.
 */
static int
location_slash(weir_request_t *r)
{
    static const char    hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) r->path.data;
    const unsigned char *last = p + r->path.len;
    weir_sbuf_t          sb;
    char                 esc[3] = { '%' };

    /* hint: every byte as %XX, the slash, '?' and the query */
    weir_sbuf_init_pool(&sb, r->pool, 3 * r->path.len + 2 + r->args.len);

    for ( /* void */ ; p < last; p++) {
        if (path_char(*p)) {
            weir_sbuf_append_char(&sb, (char) *p);
        } else {
            esc[1] = hex[*p >> 4];
            esc[2] = hex[*p & 0x0f];
            weir_sbuf_append(&sb, esc, 3);
        }
    }
    weir_sbuf_append_char(&sb, '/');

    if (r->args.len) {
        weir_sbuf_append_char(&sb, '?');
        weir_sbuf_append_str(&sb, &r->args);
    }
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }

    return weir_http_add_header(r, "Location", 8, sb.data, sb.len);
}

/* RFC 3986 pchar (unreserved, sub-delims, ':' and '@') and '/' */
static int
path_char(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
        || (ch >= '0' && ch <= '9'))
    {
        return 1;
    }

    return ch != '\0' && strchr("-._~!$&'()*+,;=:@/", ch) != NULL;
}

static void
static_headers(weir_request_t *r, const weir_static_res_t *res)
{
    char *lm = weir_palloc(r->pool, 32);

    if (res->status != 304) {
        weir_http_add_header(r, "Content-Type", 12, res->content_type,
                             strlen(res->content_type));
    } else {
        r->rep_type = res->content_type;    /* for the gzip filter */
    }
    if (lm) {
        size_t n = weir_time_http(lm, res->mtime);
        weir_http_add_header(r, "Last-Modified", 13, lm, n);
    }
    weir_http_add_header(r, "ETag", 4, res->etag, strlen(res->etag));
}

/* gzip_static: whether to look for FILE.gz, and whether to serve it. The
 * client's Accept-Encoding is read as the gzip filter reads it (q=0
 * refuses). A client that does not take gzip still has the .gz looked
 * for under `on`, so that its answer carries Vary like the gzip one. */
static int
gz_mode(const weir_request_t *r)
{
    switch (r->route->gzip_static) {
    case WEIR_GZIP_STATIC_ALWAYS:
        return WEIR_STATIC_GZ_SERVE;
    case WEIR_GZIP_STATIC_ON:
        return weir_gzip_accepted(r) ? WEIR_STATIC_GZ_SERVE
                                     : WEIR_STATIC_GZ_PROBE;
    default:
        return WEIR_STATIC_GZ_NONE;
    }
}

/*
 * The head of an answer from FILE.gz: Content-Encoding (not on a 304,
 * which carries no representation), and the validators are the .gz's
 * own, strong, as they describe its bytes (static_headers()). Under `on`
 * the answer depends on Accept-Encoding, so it says so whichever file was
 * chosen; under `always` it does not. The body is compressed already: the
 * gzip filter must neither compress it again nor weaken its ETag
 * (r->precompressed).
 */
static int
gz_headers(weir_request_t *r, const weir_static_res_t *res)
{
    if (res->gz == 2 && res->status != 416) {
        r->precompressed = 1;
        if (res->status != 304
            && weir_http_add_header(r, "Content-Encoding", 16, "gzip", 4)
               != WEIR_OK)
        {
            return WEIR_ERROR;
        }
    }
    if (res->gz != 0 && r->route->gzip_static == WEIR_GZIP_STATIC_ON) {
        return weir_http_add_header(r, "Vary", 4, "Accept-Encoding", 15);
    }
    return WEIR_OK;
}

static void
handle_return(weir_request_t *r)
{
    const weir_route_conf_t *rt = r->route;
    int                      code = rt->return_code;
    const char              *text = rt->return_text ? rt->return_text : "";
    size_t                   len = strlen(text);
    char                    *body;
    int                      n;

    r->status = code;
    if (code == 301 || code == 302 || code == 303 || code == 307
        || code == 308) {
        weir_http_add_header(r, "Location", 8, text, len);
        body = weir_palloc(r->pool, len + 128);
        if (body == NULL) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
        n = snprintf(body, len + 128,
                     "<html><body><a href=\"%s\">%d %s</a></body></html>\n",
                     text, code, weir_http_status_text(code));
        weir_http_add_header(r, "Content-Type", 12, "text/html", 9);
        r->body_mem = body;
        r->body_mem_len = (size_t) n;
    } else {
        weir_http_add_header(r, "Content-Type", 12, "text/plain", 10);
        r->body_mem = text;
        r->body_mem_len = len;
    }
    r->content_length = (off_t) r->body_mem_len;
    weir_http_send_response(r);
}
