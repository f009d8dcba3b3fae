#include "weir_config.h"
#include "http/handler.h"

#include <stdio.h>
#include <string.h>
#include "core/log.h"
#include "core/wtime.h"
#include "http/static.h"

static void handle_static(weir_request_t *r);
static void handle_return(weir_request_t *r);
static void static_headers(weir_request_t *r, const weir_static_res_t *res);
static const char *error_code(int status);

void
weir_http_handle(weir_request_t *r)
{
    if (r->route == NULL) {
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0, "no route matches \"%.*s\"",
                       (int) weir_min(r->path.len, 512), r->path.data);
        weir_http_finalize_error(r, 404, "NOT_FOUND");
        return;
    }
    switch (r->route->handler) {
    case WEIR_ROUTE_STATIC:
        handle_static(r);
        return;
    case WEIR_ROUTE_RETURN:
        handle_return(r);
        return;
    default:
        if (weir_http.proxy) {
            weir_http.proxy(r);
            return;
        }
        weir_http_finalize_error(r, 501, "NOT_IMPLEMENTED");
        return;
    }
}

static const char *
error_code(int status)
{
    switch (status) {
    case 403: return "FORBIDDEN";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 416: return "RANGE_NOT_SATISFIABLE";
    default:  return "INTERNAL_ERROR";
    }
}

#define SET(field, h)                                                        \
    do {                                                                     \
        if ((h) != NULL) {                                                   \
            sreq.field = (h)->value;                                         \
            sreq.field##_len = (h)->value_len;                               \
        }                                                                    \
    } while (0)

static void
handle_static(weir_request_t *r)
{
    const weir_route_conf_t *rt = r->route;
    weir_static_req_t        sreq;
    weir_static_res_t        res;
    char                    *loc, *buf;
    int                      n;

    memset(&sreq, 0, sizeof(sreq));
    sreq.root = rt->root;
    sreq.index = rt->index;
    sreq.nindex = rt->nindex;
    sreq.path = r->path.data;
    sreq.path_len = r->path.len;
    sreq.method_get_or_head = r->method == WEIR_HTTP_GET
                              || r->method == WEIR_HTTP_HEAD;
    sreq.mime = weir_http.mime;
    SET(if_none_match, r->h_if_none_match);
    SET(if_modified_since, r->h_if_modified_since);
    SET(range, r->h_range);
    SET(if_range, r->h_if_range);

    if (weir_static_open(&sreq, &res) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    switch (res.status) {
    case 200:
    case 206:
        if (weir_http_attach_file(r, res.fd) != WEIR_OK) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
        r->status = res.status;
        r->body_off = res.offset;
        r->body_end = res.offset + res.length;
        r->content_length = res.length;
        static_headers(r, &res);
        if (res.status == 206) {
            buf = weir_palloc(r->pool, 96);
            if (buf) {
                n = snprintf(buf, 96, "bytes %lld-%lld/%lld",
                             (long long) res.offset,
                             (long long) (res.offset + res.length - 1),
                             (long long) res.file_size);
                weir_http_add_header(r, "Content-Range", 13, buf, (size_t) n);
            }
        }
        weir_http_send_response(r);
        return;
    case 304:
        r->status = 304;
        static_headers(r, &res);
        weir_http_send_response(r);
        return;
    case 301:
        loc = weir_palloc(r->pool, r->path.len + r->args.len + 3);
        if (loc == NULL) {
            weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
            return;
        }
        n = sprintf(loc, "%.*s/%s%.*s", (int) r->path.len, r->path.data,
                    r->args.len ? "?" : "", (int) r->args.len, r->args.data);
        weir_http_add_header(r, "Location", 8, loc, (size_t) n);
        weir_http_finalize_error(r, 301, "MOVED_PERMANENTLY");
        return;
    case 416:
        buf = weir_palloc(r->pool, 48);
        if (buf) {
            n = snprintf(buf, 48, "bytes */%lld", (long long) res.file_size);
            weir_http_add_header(r, "Content-Range", 13, buf, (size_t) n);
        }
        weir_http_finalize_error(r, 416, "RANGE_NOT_SATISFIABLE");
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

static void
static_headers(weir_request_t *r, const weir_static_res_t *res)
{
    char *lm = weir_palloc(r->pool, 32);

    if (res->status != 304) {
        weir_http_add_header(r, "Content-Type", 12, res->content_type,
                             strlen(res->content_type));
        weir_http_add_header(r, "Accept-Ranges", 13, "bytes", 5);
    }
    if (lm) {
        size_t n = weir_time_http(lm, res->mtime);
        weir_http_add_header(r, "Last-Modified", 13, lm, n);
    }
    weir_http_add_header(r, "ETag", 4, res->etag, strlen(res->etag));
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
