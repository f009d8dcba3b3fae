#include "weir_config.h"
#include "http/gzip.h"

#include <stdio.h>
#include <string.h>
#include "core/sbuf.h"
#include "core/str.h"
#include "http/gzip-t.h"
#include "http/parse.h"

/*
 * Which responses are compressed, the head edits, and the compressor.
 *
 * The default types are a list rather than nginx's text/html alone or a
 * blanket "text/" + "*": the textual types a site serves, and not
 * text/event-stream, whose small events come one by one, each of which
 * would cost a flush of the compressor for little gain. Images, audio,
 * video and archives are already compressed.
 */

static int coding_q(const char *el, size_t n, const char **name,
    size_t *name_len);
static int resp_find(const weir_request_t *r, const char *name, size_t from);
static void resp_remove(weir_request_t *r, const char *name);
static int list_has(const char *v, size_t len, const char *tok, size_t n);
static int eligible(weir_request_t *r, off_t len);
static int add_vary(weir_request_t *r);
static int weaken_etag(weir_request_t *r);
static voidpf zalloc_pool(voidpf opaque, uInt items, uInt size);
static void zfree_pool(voidpf opaque, voidpf address);

static char *const default_types[] = {
    "text/html", "text/css", "text/plain", "text/xml", "text/javascript",
    "text/csv", "text/markdown", "application/javascript",
    "application/json", "application/ld+json", "application/manifest+json",
    "application/xml", "application/rss+xml", "application/atom+xml",
    "application/xhtml+xml", "application/wasm", "image/svg+xml",
    "image/x-icon", "font/ttf", "font/otf"
};

/* ---- Accept-Encoding ---------------------------------------------------- */

/* One element "coding;p=v;q=0.5": its name, and its weight in
 * thousandths (RFC 9110 12.4.2: up to three decimals), 1000 when no q;
 * -1 when the q is not a valid qvalue (the element is then ignored). */
static int
coding_q(const char *el, size_t n, const char **name, size_t *name_len)
{
    const char *p = el, *end = el + n, *semi;
    int         q = 1000, digits;

    semi = memchr(p, ';', n);
    *name = p;
    *name_len = (size_t) ((semi ? semi : end) - p);
    while (*name_len > 0 && ((*name)[*name_len - 1] == ' '
                             || (*name)[*name_len - 1] == '\t')) {
        (*name_len)--;
    }
    while (semi) {
        p = semi + 1;
        semi = memchr(p, ';', (size_t) (end - p));
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') {
            continue;          /* another parameter: not ours */
        }
        p += 2;
        if (p < end && (*p == '0' || *p == '1')) {
            q = (*p++ - '0') * 1000;
        } else {
            return -1;
        }
        if (p < end && *p == '.') {
            int scale = 100;
            p++;
            for (digits = 0; p < end && *p >= '0' && *p <= '9'; digits++) {
                if (digits == 3) {
                    return -1;
                }
                q += (*p++ - '0') * scale;
                scale /= 10;
            }
        }
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if ((p < end && *p != ';') || q > 1000) {
            return -1;
        }
    }
    return q;
}

int
weir_gzip_accepted(const weir_request_t *r)
{
    const char *s, *end, *el, *name;
    size_t      i, n, name_len;
    int         q, gzip_q = -1, star_q = -1, seen = 0;

    for (i = 0; i < r->head.num_headers; i++) {
        const weir_http_header_t *h = &r->headers[i];
        if (h->name_len != 15
            || !weir_strncaseeq(h->name, "accept-encoding", 15)) {
            continue;
        }
        seen = 1;
        s = h->value;
        end = h->value + h->value_len;
        while (weir_http_list_next(&s, end, &el, &n)) {
            if (n == 0 || (q = coding_q(el, n, &name, &name_len)) < 0) {
                continue;
            }
            if ((name_len == 4 && weir_strncaseeq(name, "gzip", 4))
                || (name_len == 6 && weir_strncaseeq(name, "x-gzip", 6))) {
                gzip_q = weir_max(gzip_q, q);
            } else if (name_len == 1 && name[0] == '*') {
                star_q = weir_max(star_q, q);
            }
        }
    }
    if (!seen) {
        return 0;
    }
    /* The named coding wins over `*` (12.5.3): "*, gzip;q=0" refuses. */
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

/* ---- eligibility -------------------------------------------------------- */

int
weir_gzip_type_match(char *const *types, size_t ntypes, const char *type,
    size_t len)
{
    size_t i, k, tl;

    if (types == NULL) {
        types = default_types;
        ntypes = weir_nelems(default_types);
    }
    for (k = 0; k < len && type[k] != ';' && type[k] != ' '
                && type[k] != '\t'; k++) {
        /* the media type ends at its parameters */
    }
    len = k;
    for (i = 0; i < ntypes; i++) {
        const char *t = types[i];
        tl = strlen(t);
        if (tl == 1 && t[0] == '*') {
            return 1;
        }
        if (tl >= 2 && t[tl - 1] == '*' && t[tl - 2] == '/') {
            if (len >= tl - 1 && weir_strncaseeq(type, t, tl - 1)) {
                return 1;
            }
        } else if (tl == len && weir_strncaseeq(type, t, tl)) {
            return 1;
        }
    }
    return 0;
}

/* Index of the first response field `name` at or after `from`; -1. */
static int
resp_find(const weir_request_t *r, const char *name, size_t from)
{
    size_t i, n = strlen(name);

    for (i = from; i < r->nresp; i++) {
        if (r->resp_names[i].len == n
            && weir_strncaseeq(r->resp_names[i].data, name, n)) {
            return (int) i;
        }
    }
    return -1;
}

static void
resp_remove(weir_request_t *r, const char *name)
{
    size_t i, k = 0, n = strlen(name);

    for (i = 0; i < r->nresp; i++) {
        if (r->resp_names[i].len == n
            && weir_strncaseeq(r->resp_names[i].data, name, n)) {
            continue;
        }
        r->resp_names[k] = r->resp_names[i];
        r->resp_values[k++] = r->resp_values[i];
    }
    r->nresp = k;
}

/* Does the list value v hold the token tok (case-insensitive, an
 * element's parameters or arguments aside)? */
static int
list_has(const char *v, size_t len, const char *tok, size_t n)
{
    const char *s = v, *el;
    size_t      elen, k;

    while (weir_http_list_next(&s, v + len, &el, &elen)) {
        for (k = 0; k < elen && el[k] != '=' && el[k] != ';'
                    && el[k] != ' '; k++) {
            /* the token ends at its argument */
        }
        if (k == n && weir_strncaseeq(el, tok, n)) {
            return 1;
        }
    }
    return 0;
}

/* Would a 200 for this representation be compressed for some client? */
static int
eligible(weir_request_t *r, off_t len)
{
    const weir_route_conf_t *rt = r->route;
    const weir_str_t        *v;
    int                      i;

    if (r->status != 200 && r->status != 403 && r->status != 404
        && r->status != 304) {
        return 0;
    }
    for (i = resp_find(r, "content-encoding", 0); i >= 0;
         i = resp_find(r, "content-encoding", (size_t) i + 1)) {
        v = &r->resp_values[i];
        if (!(v->len == 8 && weir_strncaseeq(v->data, "identity", 8))) {
            return 0;   /* coded already: passed through untouched */
        }
    }
    for (i = resp_find(r, "cache-control", 0); i >= 0;
         i = resp_find(r, "cache-control", (size_t) i + 1)) {
        v = &r->resp_values[i];
        if (list_has(v->data, v->len, "no-transform", 12)) {
            return 0;   /* RFC 9110 7.7: no intermediary may recode it */
        }
    }
    i = resp_find(r, "content-type", 0);
    if (i >= 0) {
        v = &r->resp_values[i];
        if (!weir_gzip_type_match(rt->gzip_types, rt->ngzip_types, v->data,
                                  v->len)) {
            return 0;
        }
    } else if (r->rep_type) {
        if (!weir_gzip_type_match(rt->gzip_types, rt->ngzip_types,
                                  r->rep_type, strlen(r->rep_type))) {
            return 0;
        }
    } else if (r->status != 304) {
        /* Untyped content: the client sniffs it; leave it alone. A 304
         * is judged without (the origin's rarely carry a type). */
        return 0;
    }
    if (len < 0 && (i = resp_find(r, "content-length", 0)) >= 0) {
        /* a HEAD or 304 from the origin: the length of the 200 */
        uint64_t n = 0;
        size_t   k;
        v = &r->resp_values[i];
        for (k = 0; k < v->len && v->data[k] >= '0' && v->data[k] <= '9'
                    && n < ((uint64_t) 1 << 62); k++) {
            n = n * 10 + (uint64_t) (v->data[k] - '0');
        }
        len = k == v->len && k > 0 ? (off_t) n : -1;
    }
    return len < 0 || len >= rt->gzip_min_length;
}

/* "Vary: Accept-Encoding", or that token added to the last Vary field
 * (one field, not two), unless it is there or Vary is "*". */
static int
add_vary(weir_request_t *r)
{
    const weir_str_t *v;
    weir_sbuf_t       sb;
    int               i, last = -1;

    for (i = resp_find(r, "vary", 0); i >= 0;
         i = resp_find(r, "vary", (size_t) i + 1)) {
        v = &r->resp_values[i];
        if (list_has(v->data, v->len, "accept-encoding", 15)
            || list_has(v->data, v->len, "*", 1)) {
            return WEIR_OK;
        }
        last = i;
    }
    if (last < 0) {
        return weir_http_add_header(r, "Vary", 4, "Accept-Encoding", 15);
    }
    v = &r->resp_values[last];
    weir_sbuf_init_pool(&sb, r->pool, v->len + sizeof(", Accept-Encoding"));
    weir_sbuf_append_str(&sb, v);
    if (v->len > 0) {
        weir_sbuf_lit(&sb, ", ");
    }
    weir_sbuf_lit(&sb, "Accept-Encoding");
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }
    r->resp_values[last].data = sb.data;
    r->resp_values[last].len = sb.len;
    return WEIR_OK;
}

/* The coded bytes differ from the identity ones: a strong validator
 * would promise byte equality across both (RFC 9110 8.8.1). */
static int
weaken_etag(weir_request_t *r)
{
    int         i = resp_find(r, "etag", 0);
    weir_str_t *v;
    char       *w;

    if (i < 0) {
        return WEIR_OK;
    }
    v = &r->resp_values[i];
    if (v->len == 0 || v->data[0] != '"') {
        return WEIR_OK;     /* weak already (or not a tag at all) */
    }
    w = weir_palloc(r->pool, v->len + 2);
    if (w == NULL) {
        return WEIR_ERROR;
    }
    w[0] = 'W';
    w[1] = '/';
    memcpy(w + 2, v->data, v->len);
    v->data = w;
    v->len += 2;
    return WEIR_OK;
}

int
weir_gzip_head(weir_request_t *r, off_t len, unsigned flags)
{
    if (r->route == NULL || !r->route->gzip || !eligible(r, len)
        || (r->c && r->c->internal)) {
        /* (an internal request's answer goes to a sink: a background
         * refresh or a whole-object fill, not worth compressing) */
        return 0;
    }
    if (add_vary(r) != WEIR_OK) {
        return WEIR_ERROR;
    }
    if ((flags & WEIR_GZIP_VARY_ONLY) || !weir_gzip_accepted(r)) {
        return 0;
    }
    if (weaken_etag(r) != WEIR_OK) {
        return WEIR_ERROR;
    }
    if (r->status == 304) {
        return 0;   /* no body, and no Content-Encoding on a 304 */
    }
    resp_remove(r, "content-length");
    resp_remove(r, "accept-ranges");
    resp_remove(r, "content-encoding");     /* an "identity" one */
    if (weir_http_add_header(r, "Content-Encoding", 16, "gzip", 4)
        != WEIR_OK) {
        return WEIR_ERROR;
    }
    r->content_length = -1;
    return 1;
}

/* ---- the compressor ----------------------------------------------------- */

static voidpf
zalloc_pool(voidpf opaque, uInt items, uInt size)
{
    if (size != 0 && items > (uInt) -1 / size) {
        return Z_NULL;
    }
    return weir_palloc(opaque, (size_t) items * size);
}

static void
zfree_pool(voidpf opaque, voidpf address)
{
    /* The request arena frees it all at once. */
    (void) opaque;
    (void) address;
}

weir_gzip_t *
weir_gzip_create(weir_request_t *r, off_t len)
{
    weir_gzip_t *gz = weir_pcalloc(r->pool, sizeof(*gz));
    int          wbits = 15;

    if (gz == NULL) {
        return NULL;
    }
    gz->out = weir_palloc(r->pool, WEIR_GZIP_OUT_SIZE);
    if (gz->out == NULL) {
        return NULL;
    }
    /* The window costs 4 << wbits bytes: a body known to be smaller
     * than it gains nothing from the rest. 9 is zlib's least. */
    while (len >= 0 && wbits > 9 && ((off_t) 1 << (wbits - 1)) >= len) {
        wbits--;
    }
    gz->zs.zalloc = zalloc_pool;
    gz->zs.zfree = zfree_pool;
    gz->zs.opaque = r->pool;
    /* memLevel 8 is zlib's default: 128 KiB of hash tables and buffers;
     * with the 128 KiB window and the 32 KiB output buffer a response
     * holds under 300 KiB, whatever the body's size. */
    if (deflateInit2(&gz->zs, (int) r->route->gzip_level, Z_DEFLATED,
                     wbits + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return NULL;
    }
    r->gzip = gz;
    return gz;
}

size_t
weir_gzip_feed(weir_gzip_t *gz, const char *in, size_t len)
{
    size_t before;
    uInt   step = (uInt) weir_min(len, (size_t) 1 << 30);

    gz->zs.next_in = (Bytef *) (uintptr_t) in;
    gz->zs.avail_in = step;
    gz->zs.next_out = (Bytef *) gz->out;
    gz->zs.avail_out = WEIR_GZIP_OUT_SIZE;
    before = gz->zs.avail_in;
    /* Z_NO_FLUSH with room left only returns once the input is taken;
     * Z_STREAM_ERROR cannot happen on a stream we initialised. */
    (void) deflate(&gz->zs, Z_NO_FLUSH);
    gz->out_len = WEIR_GZIP_OUT_SIZE - gz->zs.avail_out;
    gz->bytes_out += gz->out_len;
    gz->bytes_in += before - gz->zs.avail_in;
    return before - gz->zs.avail_in;
}

int
weir_gzip_finish(weir_gzip_t *gz)
{
    int rc;

    gz->zs.next_in = NULL;
    gz->zs.avail_in = 0;
    gz->zs.next_out = (Bytef *) gz->out;
    gz->zs.avail_out = WEIR_GZIP_OUT_SIZE;
    rc = deflate(&gz->zs, Z_FINISH);
    gz->out_len = WEIR_GZIP_OUT_SIZE - gz->zs.avail_out;
    gz->bytes_out += gz->out_len;
    if (rc == Z_STREAM_END) {
        gz->finished = 1;
    }
    return gz->finished;
}

int
weir_gzip_flush(weir_gzip_t *gz)
{
    gz->zs.next_in = NULL;
    gz->zs.avail_in = 0;
    gz->zs.next_out = (Bytef *) gz->out;
    gz->zs.avail_out = WEIR_GZIP_OUT_SIZE;
    /* Z_BUF_ERROR (nothing left to flush) is not an error here. */
    (void) deflate(&gz->zs, Z_SYNC_FLUSH);
    gz->out_len = WEIR_GZIP_OUT_SIZE - gz->zs.avail_out;
    gz->bytes_out += gz->out_len;
    /* zlib: avail_out 0 means call again with more room */
    return gz->zs.avail_out != 0;
}

const char *
weir_gzip_out(const weir_gzip_t *gz, size_t *len)
{
    *len = gz->out_len;
    return gz->out;
}

size_t
weir_gzip_ratio(const weir_request_t *r, char *buf, size_t cap)
{
    const weir_gzip_t *gz = r->gzip;
    int                n;

    if (gz == NULL || !gz->finished || gz->bytes_out == 0) {
        n = snprintf(buf, cap, "-");
    } else {
        n = snprintf(buf, cap, "%.2f",
                     (double) gz->bytes_in / (double) gz->bytes_out);
    }
    return n < 0 ? 0 : weir_min((size_t) n, cap > 0 ? cap - 1 : 0);
}
