#include "weir_config.h"
#include "http/cond.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>
#include "core/core.h"
#include "core/wtime.h"

/*
 * RFC 9110 13.2.2: If-Match, else If-Unmodified-Since (412 when false);
 * then If-None-Match, else If-Modified-Since (304); then Range, if
 * If-Range still describes the representation. Static files use it today;
 * anything else with validators (cached objects) uses the same code.
 */

#define WEIR_OFF_MAX  ((off_t) INT64_MAX)

static int precondition_failed(const weir_http_cond_t *req,
    const weir_http_rep_t *res);
static int not_modified(const weir_http_cond_t *req,
    const weir_http_rep_t *res);
static int etag_list_match(const char *p, size_t len, const char *etag,
    int strong);
static int if_range_ok(const weir_http_cond_t *req,
    const weir_http_rep_t *res);
static int parse_range(const char *p, size_t len, off_t size, off_t *start,
    off_t *count);
static const char *parse_pos(const char *p, const char *end, off_t *v);

void
weir_http_cond_eval(const weir_http_cond_t *c, const weir_http_rep_t *rep,
    weir_http_cond_res_t *out)
{
    off_t start, count;

    out->status = 200;
    out->offset = 0;
    out->length = rep->size;
    if (precondition_failed(c, rep)) {
        out->status = 412;
        out->length = 0;
        return;
    }
    if (not_modified(c, rep)) {
        out->status = 304;
        out->length = 0;
        return;
    }
    if (c->range == NULL || !if_range_ok(c, rep)) {
        return;
    }
    switch (parse_range(c->range, c->range_len, rep->size, &start, &count)) {
    case 206:
        out->status = 206;
        out->offset = start;
        out->length = count;
        return;
    case 416:
        out->status = 416;
        out->length = 0;
        return;
    default:
        return;     /* ignored: the whole representation */
    }
}


/* RFC 9110 13.2.2 steps 1 and 2: If-Match wins over If-Unmodified-Since;
 * either turns the answer into a 412 when the client's copy is no longer
 * the current one (a client resuming or assembling a file from pieces
 * must not mix two versions). */
static int
precondition_failed(const weir_http_cond_t *req, const weir_http_rep_t *res)
{
    time_t  t;

    if (req->if_match != NULL) {
        if (res->etag == NULL) {
            /* only "*" can match a representation without a tag */
            return !etag_list_match(req->if_match, req->if_match_len, "", 1);
        }
        /* strong comparison (13.1.1): a weak tag promises no byte-for-byte
         * equality; a malformed list fails too, as a 412 is safer than
         * sending what the client said it did not want */
        return !etag_list_match(req->if_match, req->if_match_len, res->etag,
                                1);
    }

    if (req->if_unmodified_since != NULL) {
        t = weir_time_parse_http(req->if_unmodified_since,
                                 req->if_unmodified_since_len);
        /* an invalid date (a list of dates too) is ignored, 13.1.4, and
         * so is the field for a representation without a date */
        return t != (time_t) -1 && res->mtime != (time_t) -1
               && res->mtime > t;
    }

    return 0;
}


/* If-None-Match wins over If-Modified-Since; either only ever turns a
 * 200 into a 304 (the methods here are GET and HEAD). */
static int
not_modified(const weir_http_cond_t *req, const weir_http_rep_t *res)
{
    time_t  t;

    if (req->if_none_match != NULL) {
        return etag_list_match(req->if_none_match, req->if_none_match_len,
                               res->etag ? res->etag : "", 0);
    }

    if (req->if_modified_since != NULL) {
        t = weir_time_parse_http(req->if_modified_since,
                                 req->if_modified_since_len);
        /* an invalid date is ignored, as RFC 9110 13.1.3 requires */
        return t != (time_t) -1 && res->mtime != (time_t) -1
               && res->mtime <= t;
    }

    return 0;
}


/* "*" or a list of entity tags. The weak comparison (If-None-Match)
 * ignores the W/ prefix; the strong one (If-Match) never matches a weak
 * member, but goes on to the next. A malformed member ends the scan
 * without a match so garbage never produces a 304 (nor passes an
 * If-Match). etag is the representation's ("" when it has none: only
 * "*" matches then). */
static int
etag_list_match(const char *p, size_t len, const char *etag, int strong)
{
    const char  *end = p + len, *q;
    size_t       elen;
    int          weak, own_weak = 0;

    /* Compare opaque tags: W/ is a flag, not part of the tag. A strong
     * comparison fails on a weak tag on either side. */
    if (etag[0] == 'W' && etag[1] == '/') {
        own_weak = 1;
        etag += 2;
    }
    elen = strlen(etag);

    for ( ;; ) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p == end) {
            return 0;
        }

        if (*p == '*') {
            return 1;
        }

        weak = 0;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
            weak = 1;
        }

        if (p == end || *p != '"') {
            return 0;
        }

        q = memchr(p + 1, '"', (size_t) (end - p - 1));
        if (q == NULL) {
            return 0;
        }

        if (!((weak || own_weak) && strong) && elen > 0
            && (size_t) (q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
        {
            return 1;
        }

        p = q + 1;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < end && *p != ',') {
            return 0;
        }
    }
}


/* No If-Range, or one that still describes this file: strong comparison
 * for an entity tag (a weak one never matches), exact equality for a
 * date. */
static int
if_range_ok(const weir_http_cond_t *req, const weir_http_rep_t *res)
{
    const char  *p = req->if_range, *end;
    size_t       elen;
    time_t       t;

    if (p == NULL) {
        return 1;
    }

    end = p + req->if_range_len;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (p == end) {
        return 0;
    }

    if (*p == '"' || (end - p >= 2 && p[0] == 'W' && p[1] == '/')) {
        /* strong comparison: a weak tag, ours or theirs, never matches */
        if (res->etag == NULL || *p != '"' || res->etag[0] != '"') {
            return 0;
        }
        elen = strlen(res->etag);
        return (size_t) (end - p) == elen && memcmp(p, res->etag, elen) == 0;
    }

    t = weir_time_parse_http(p, (size_t) (end - p));

    return t != (time_t) -1 && res->mtime != (time_t) -1 && t == res->mtime;
}


/* A single byte range: 206 with *start and *count, 416 when unsatisfiable,
 * 0 to serve the whole file (absent, invalid, several ranges: multipart/
 * byteranges is not supported, and a 200 is always a correct answer). */
static int
parse_range(const char *p, size_t len, off_t size, off_t *start,
    off_t *count)
{
    const char  *end = p + len;
    off_t        first, last;
    int          suffix, n;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0) {
        return 0;
    }
    p += 6;

    first = 0;
    last = -1;
    suffix = 0;
    n = 0;

    /* walk the whole set so that a syntax error anywhere ignores it */
    for ( ;; ) {
        off_t  f = 0, l = -1;
        int    s = 0;

        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p == end) {
            break;
        }

        if (*p == '-') {
            s = 1;
            p = parse_pos(p + 1, end, &l);
            if (p == NULL) {
                return 0;
            }

        } else {
            p = parse_pos(p, end, &f);
            if (p == NULL || p == end || *p != '-') {
                return 0;
            }
            p++;
            if (p < end && *p >= '0' && *p <= '9') {
                p = parse_pos(p, end, &l);
                if (p == NULL || l < f) {
                    return 0;
                }
            }
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < end && *p != ',') {
            return 0;
        }

        if (n++ == 0) {
            first = f;
            last = l;
            suffix = s;
        }
    }

    if (n != 1) {
        return 0;
    }

    if (suffix) {
        if (last == 0) {
            return 416;
        }
        if (size == 0) {
            /* RFC 9110 14.1.3 calls this satisfiable, but a 206 for zero
             * bytes has no valid Content-Range: send the empty 200 */
            return 0;
        }
        *count = weir_min(last, size);
        *start = size - *count;
        return 206;
    }

    if (first >= size) {
        return 416;
    }

    if (last == -1 || last >= size) {
        last = size - 1;
    }

    *start = first;
    *count = last - first + 1;

    return 206;
}


/* Decimal digits to an off_t that saturates instead of overflowing (a
 * huge position is then simply past the end). NULL when no digit. */
static const char *
parse_pos(const char *p, const char *end, off_t *v)
{
    off_t  n = 0;

    if (p == end || *p < '0' || *p > '9') {
        return NULL;
    }

    for ( ; p < end && *p >= '0' && *p <= '9'; p++) {
        int  d = *p - '0';

        n = (n > (WEIR_OFF_MAX - d) / 10) ? WEIR_OFF_MAX : n * 10 + d;
    }

    *v = n;

    return p;
}
