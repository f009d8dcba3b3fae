#include "weir_config.h"
#include "http/request.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "core/log.h"
#include "http/request-t.h"

/*
 * Two sizes: small for the common head, large (max_header_size plus room
 * for body framing) when a head or a body needs it. A few of each are
 * kept for reuse.
 */
#define WEIR_HTTP_BUF_SMALL    2048   /* most request heads fit */
#define WEIR_HTTP_BUF_FREE_MAX 64

static weir_buf_t *small_free[WEIR_HTTP_BUF_FREE_MAX];
static weir_buf_t *large_free[WEIR_HTTP_BUF_FREE_MAX];
static size_t      nsmall_free, nlarge_free;

static size_t large_size(void);
static weir_buf_t *buf_alloc(int large);
static void buf_put(weir_buf_t *b);

/* ---- buffers: idle connections hold none ----------------------------------- */

static size_t
large_size(void)
{
    return (size_t) weir_http.conf->max_header_size + WEIR_HTTP_BUF_EXTRA;
}

int
weir_http_buf_is_small(const weir_buf_t *b)
{
    return (size_t) (b->end - b->start) < large_size();
}

static weir_buf_t *
buf_alloc(int large)
{
    weir_buf_t *b;
    size_t      size = large ? large_size()
                             : weir_min(WEIR_HTTP_BUF_SMALL, large_size() - 1);

    if (large ? nlarge_free : nsmall_free) {
        b = large ? large_free[--nlarge_free] : small_free[--nsmall_free];
    } else {
        b = malloc(sizeof(*b) + size);
        if (b == NULL) {
            return NULL;
        }
        b->start = (char *) (b + 1);
        b->end = b->start + size;
    }
    b->pos = b->last = b->start;
    return b;
}

static void
buf_put(weir_buf_t *b)
{
    if (weir_http_buf_is_small(b) && nsmall_free < WEIR_HTTP_BUF_FREE_MAX) {
        small_free[nsmall_free++] = b;
    } else if (!weir_http_buf_is_small(b)
               && nlarge_free < WEIR_HTTP_BUF_FREE_MAX) {
        large_free[nlarge_free++] = b;
    } else {
        free(b);
    }
}

int
weir_http_buf_get(weir_http_conn_t *hc)
{
    if (hc->buf) {
        return WEIR_OK;
    }
    hc->buf = buf_alloc(0);
    if (hc->buf == NULL) {
        weir_log_error(WEIR_LOG_ERR, &hc->c->log, errno, "malloc() failed");
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

void
weir_http_buf_release(weir_http_conn_t *hc)
{
    if (hc->buf) {
        buf_put(hc->buf);
        hc->buf = NULL;
    }
}

/* Move the connection to a large buffer. Slices of a parsed head point
 * into the old one: shift them by the distance moved. */
int
weir_http_buf_grow(weir_http_conn_t *hc, weir_request_t *r)
{
    weir_buf_t *old = hc->buf, *b = buf_alloc(1);
    ptrdiff_t   d;
    size_t      i;

#define MOVE(ptr) if ((ptr) != NULL) (ptr) += d
    if (b == NULL) {
        weir_log_error(WEIR_LOG_ERR, &hc->c->log, errno, "malloc() failed");
        return WEIR_ERROR;
    }
    memcpy(b->start, old->start, (size_t) (old->last - old->start));
    d = b->start - old->start;
    b->pos = old->pos + d;
    b->last = old->last + d;
    if (r && r->head.line_len) {
        MOVE(r->head.method);
        MOVE(r->head.target);
        MOVE(r->head.authority);
        MOVE(r->method_name.data);
        MOVE(r->request_line.data);
        MOVE(r->uri.data);
        if (r->args.len) {
            MOVE(r->args.data);
        }
        for (i = 0; i < r->head.num_headers; i++) {
            MOVE(r->headers[i].name);
            MOVE(r->headers[i].value);
        }
    }
#undef MOVE
    buf_put(old);
    hc->buf = b;
    return WEIR_OK;
}
