#include "weir_config.h"
#include "http/response.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "core/log.h"
#include "core/sbuf.h"
#include "core/wtime.h"
#include "http/route.h"
#include "http/static.h"

static int has_field(const weir_request_t *r, const char *name);
static void security_headers(weir_request_t *r, weir_sbuf_t *sb);
static int error_page(weir_request_t *r, int status);
static void generated_page(weir_request_t *r, int status, const char *code);
static int wants_json(const weir_request_t *r);
static void json_page(weir_sbuf_t *sb, int status, const char *code,
    const char *reason, const char *id);
static void html_page(weir_sbuf_t *sb, int status, const char *code,
    const char *reason, const char *id);
static void json_escape(weir_sbuf_t *sb, const char *s);
static void html_escape(weir_sbuf_t *sb, const char *s);

const char *
weir_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:  return status < 300 ? "OK" : status < 400 ? "Redirect"
                     : status < 500 ? "Client Error" : "Server Error";
    }
}

int
weir_http_response_head(weir_request_t *r)
{
    const weir_route_conf_t *rt = r->route;
    const char  *tokens = weir_http.conf->server_tokens;
    weir_sbuf_t  sb;
    size_t       hint, i;

    /* Only a hint, so that the builder seldom has to grow: the fixed
     * lines fit in 256 bytes with the usual Server value. The appends
     * below are checked whatever it says. */
    hint = 256;
    for (i = 0; i < r->nresp; i++) {
        hint += r->resp_names[i].len + r->resp_values[i].len + 4;
    }
    for (i = 0; rt && i < rt->nadd_headers; i++) {
        hint += strlen(rt->add_headers[i].name)
                + strlen(rt->add_headers[i].value) + 4;
    }
    hint += 256;                /* the security headers, when on */
    weir_sbuf_init_pool(&sb, r->pool, hint);
    weir_sbuf_lit(&sb, "HTTP/1.1 ");
    weir_sbuf_append_u64(&sb, (uint64_t) (r->status % 1000));
    weir_sbuf_append_char(&sb, ' ');
    weir_sbuf_append_cstr(&sb, weir_http_status_text(r->status));
    weir_sbuf_lit(&sb, "\r\n");
    if (tokens) {
        weir_sbuf_lit(&sb, "Server: ");
        weir_sbuf_append_cstr(&sb, tokens);
        weir_sbuf_lit(&sb, "\r\n");
    }
    weir_sbuf_lit(&sb, "Date: ");
    weir_sbuf_append_cstr(&sb, weir_cached_http_time);
    weir_sbuf_lit(&sb, "\r\n");
    for (i = 0; i < r->nresp; i++) {
        weir_sbuf_append_str(&sb, &r->resp_names[i]);
        weir_sbuf_lit(&sb, ": ");
        weir_sbuf_append_str(&sb, &r->resp_values[i]);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (r->content_length >= 0 && r->status != 304 && r->status != 204
        && r->status >= 200) {
        weir_sbuf_lit(&sb, "Content-Length: ");
        weir_sbuf_append_u64(&sb, (uint64_t) r->content_length);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (r->upgraded) {
        weir_sbuf_lit(&sb, "Connection: upgrade\r\n");
    } else if (!r->keepalive) {
        weir_sbuf_lit(&sb, "Connection: close\r\n");
    } else if (r->head.version == 10) {
        weir_sbuf_lit(&sb, "Connection: keep-alive\r\n");
    }
    if (rt) {
        for (i = 0; i < rt->nadd_headers; i++) {
            const weir_header_edit_t *h = &rt->add_headers[i];
            weir_sbuf_append_cstr(&sb, h->name);
            weir_sbuf_lit(&sb, ": ");
            weir_sbuf_append_cstr(&sb, h->value);
            weir_sbuf_lit(&sb, "\r\n");
        }
    }
    security_headers(r, &sb);
    weir_sbuf_lit(&sb, "\r\n");
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;      /* out of memory: nothing else fails */
    }
    r->out = sb.data;
    r->out_len = sb.len;
    r->out_sent = 0;
    if (r->header_only || r->status == 304 || r->status == 204) {
        r->body_mem_len = 0;
        if (r->body_fd >= 0) {
            r->body_end = r->body_off;
        }
    }
    return WEIR_OK;
}

static int
wants_json(const weir_request_t *r)
{
    const weir_http_header_t *h = r->h_accept;
    size_t                    i;

    if (h == NULL) {
        return 0;
    }
    for (i = 0; i + 16 <= h->value_len; i++) {
        if (weir_strncaseeq(h->value + i, "application/json", 16)) {
            return 1;
        }
    }
    return 0;
}

/*
 * The generated pages carry the request id, which is the client's
 * X-Request-Id when it sent one (proxy_request.c): every variable text is
 * escaped, and a page that cannot be built whole is not sent at all, as
 * a cut one could end inside an escape or leave the JSON open.
 */
static void
generated_page(weir_request_t *r, int status, const char *code)
{
    const char  *reason = weir_http_status_text(status);
    weir_sbuf_t  sb;
    int          json = wants_json(r);

    /* Both pages fit the hint unless the id or the code needs escapes. */
    weir_sbuf_init_pool(&sb, r->pool, 320);
    if (json) {
        json_page(&sb, status, code, reason, r->request_id);
    } else {
        html_page(&sb, status, code, reason, r->request_id);
    }
    if (weir_sbuf_failed(&sb)) {
        r->body_mem = "";
        r->body_mem_len = 0;
        r->content_length = 0;
        return;
    }
    if (json) {
        weir_http_add_header(r, "Content-Type", 12, "application/json", 16);
    } else {
        weir_http_add_header(r, "Content-Type", 12, "text/html; charset=utf-8",
                             24);
    }
    r->body_mem = sb.data;
    r->body_mem_len = sb.len;
    r->content_length = (off_t) r->body_mem_len;
}

/* {"status":502,"error":"...","message":"...","request_id":"..."} */
static void
json_page(weir_sbuf_t *sb, int status, const char *code, const char *reason,
    const char *id)
{
    weir_sbuf_lit(sb, "{\"status\":");
    weir_sbuf_append_u64(sb, (uint64_t) (status % 1000));
    weir_sbuf_lit(sb, ",\"error\":\"");
    json_escape(sb, code);
    weir_sbuf_lit(sb, "\",\"message\":\"");
    json_escape(sb, reason);
    weir_sbuf_lit(sb, "\",\"request_id\":\"");
    json_escape(sb, id);
    weir_sbuf_lit(sb, "\"}\n");
}

static void
html_page(weir_sbuf_t *sb, int status, const char *code, const char *reason,
    const char *id)
{
    weir_sbuf_lit(sb, "<!DOCTYPE html>\n<html><head><title>");
    weir_sbuf_append_u64(sb, (uint64_t) (status % 1000));
    weir_sbuf_append_char(sb, ' ');
    html_escape(sb, reason);
    weir_sbuf_lit(sb, "</title></head>\n<body>\n<h1>");
    weir_sbuf_append_u64(sb, (uint64_t) (status % 1000));
    weir_sbuf_append_char(sb, ' ');
    html_escape(sb, reason);
    weir_sbuf_lit(sb, "</h1>\n<p>");
    html_escape(sb, code);
    weir_sbuf_lit(sb, "</p>\n<p>request id: ");
    html_escape(sb, id);
    weir_sbuf_lit(sb, "</p>\n<hr><p>weir</p>\n</body></html>\n");
}

/* Append s as the inside of a JSON string. The id is cut at 32 bytes,
 * maybe inside a UTF-8 character: the cut byte comes out as \u00XX
 * (weir_json_escape_char), the body stays valid. */
static void
json_escape(weir_sbuf_t *sb, const char *s)
{
    const unsigned char *q = (const unsigned char *) s;
    const unsigned char *last = q + strlen(s);
    char                 esc[6];    /* the most one character takes */
    size_t               used;

    while (q < last) {
        weir_sbuf_append(sb, esc, weir_json_escape_char(esc, q, last, &used));
        q += used;
    }
}

/* Append s as HTML text or attribute value. */
static void
html_escape(weir_sbuf_t *sb, const char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        switch (*s) {
        case '&':  weir_sbuf_lit(sb, "&amp;"); break;
        case '<':  weir_sbuf_lit(sb, "&lt;"); break;
        case '>':  weir_sbuf_lit(sb, "&gt;"); break;
        case '"':  weir_sbuf_lit(sb, "&quot;"); break;
        case '\'': weir_sbuf_lit(sb, "&#39;"); break;
        default:   weir_sbuf_append_char(sb, *s);
        }
    }
}

/* Is name among the fields the response already has (the origin's, a
 * static file's, the route's add_header)? */
static int
has_field(const weir_request_t *r, const char *name)
{
    size_t i, len = strlen(name);

    for (i = 0; i < r->nresp; i++) {
        if (r->resp_names[i].len == len
            && weir_strncaseeq(r->resp_names[i].data, name, len)) {
            return 1;
        }
    }
    for (i = 0; r->route && i < r->route->nadd_headers; i++) {
        if (strcasecmp(r->route->add_headers[i].name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * The headers of security_headers and its keys (resolved by the loader
 * for each route, and for each server's responses no route answers). A
 * field the response already has is not added again: unlike nginx's
 * add_header, which would send a second X-Frame-Options, an origin or an
 * add_header that set one knows better than the default. A
 * Content-Security-Policy of the origin's likewise stands alone: adding
 * ours would intersect the two policies. Our frame-ancestors is not
 * added to a response that has its own X-Frame-Options either: browsers
 * obey frame-ancestors over X-Frame-Options, so an origin's DENY would
 * become our 'self'. Strict-Transport-Security only over TLS (RFC 6797
 * 7.2); none on an interim response.
 */
static void
security_headers(weir_request_t *r, weir_sbuf_t *sb)
{
    const weir_header_edit_t *out;
    size_t                    i;

    out = r->route ? r->route->sec_out : r->srv ? r->srv->sec_out : NULL;
    if (out == NULL || r->status < 200) {
        return;
    }
    for (i = 0; i < WEIR_SEC_OUTS; i++) {
        if (out[i].name == NULL
            || (i == WEIR_SEC_OUT_HSTS && !(r->hc && r->hc->tls))
            || has_field(r, out[i].name)
            || (i == WEIR_SEC_OUT_CSP
                && has_field(r, "X-Frame-Options"))) {
            continue;
        }
        weir_sbuf_append_cstr(sb, out[i].name);
        weir_sbuf_lit(sb, ": ");
        weir_sbuf_append_cstr(sb, out[i].value);
        weir_sbuf_lit(sb, "\r\n");
    }
}

/* error_page = 404 /errors/404.html: served through the server's static
 * route for that path, with the original status. */
static int
error_page(weir_request_t *r, int status)
{
    const weir_http_conf_t *conf = weir_http.conf;
    const weir_error_page_t *pages[2] = { NULL, NULL };
    size_t                   counts[2] = { 0, 0 }, k, i;
    const char              *path = NULL;
    const weir_route_conf_t *rt;
    weir_static_req_t        sreq;
    weir_static_res_t        sres;

    if (r->route) {
        pages[0] = r->route->error_pages;
        counts[0] = r->route->nerror_pages;
    }
    pages[1] = conf->error_pages;
    counts[1] = conf->nerror_pages;
    for (k = 0; k < 2 && path == NULL; k++) {
        for (i = 0; i < counts[k]; i++) {
            if (pages[k][i].status == status) {
                path = pages[k][i].path;
                break;
            }
        }
    }
    if (path == NULL || r->hc == NULL) {
        return WEIR_DECLINED;
    }
    rt = weir_route_find(r->srv, path, strlen(path));
    if (rt == NULL || rt->handler != WEIR_ROUTE_STATIC) {
        return WEIR_DECLINED;
    }
    memset(&sreq, 0, sizeof(sreq));
    sreq.root = rt->root;
    sreq.index = rt->index;
    sreq.nindex = rt->nindex;
    sreq.path = path;
    sreq.path_len = strlen(path);
    sreq.method_get_or_head = 1;
    sreq.mime = weir_http.mime;
    if (weir_static_open(&sreq, &sres) != WEIR_OK || sres.status != 200) {
        if (sres.fd >= 0) {
            close(sres.fd);
        }
        return WEIR_DECLINED;
    }
    if (weir_http_attach_file(r, sres.fd) != WEIR_OK) {
        return WEIR_DECLINED;
    }
    r->body_off = 0;
    r->body_end = sres.file_size;
    r->content_length = sres.file_size;
    weir_http_add_header(r, "Content-Type", 12, sres.content_type,
                         strlen(sres.content_type));
    return WEIR_OK;
}

void
weir_http_finalize_error(weir_request_t *r, int status, const char *code)
{
    /* A body set up for a normal response is dropped; headers added so
     * far (Allow, Content-Range) stay. */
    r->body_mem = NULL;
    r->body_mem_len = 0;
    r->body_fd = -1;
    r->content_length = -1;
    r->status = status;
    r->error_code = code;
    if (r->lingering || status == 408 || status >= 500) {
        r->keepalive = 0;
    }
    if (status == 405) {
        weir_http_add_header(r, "Allow", 5, "GET, HEAD", 9);
    }
    if (error_page(r, status) != WEIR_OK) {
        generated_page(r, status, code);
    }
    weir_http_send_response(r);
}
