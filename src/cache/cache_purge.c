#include "weir_config.h"
#include "cache/cache-t.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/log.h"
#include "core/pool.h"
#include "core/wtime.h"
#include "http/parse.h"
#include "http/vars.h"

/* Removing objects: purge through the admin listener, and invalidation
 * after a successful unsafe request (RFC 9111 4.4). */

static int inval_head(void *ctx, weir_request_t *r,
    const weir_http_header_t *resp, size_t nresp, off_t content_length);
static void invalidate_target(cache_req_t *cr, const char *v, size_t len);
static int same_host(const weir_request_t *r, const char *v, size_t len,
    const char **path, size_t *path_len);
static int purge_one(void *ctx, const weir_cache_entry_t *e);

int
weir_cache_remove(cache_t *cache, const uint8_t *digest)
{
    char path[WEIR_CACHE_PATH_MAX];
    int  st = 0, gone = 0;

    if (cache->idx) {
        /* also marks a fill in progress, so its result is not published */
        st = weir_cache_index_remove(cache->idx, digest);
    }
    if (weir_cache_file_path(cache->conf, digest, path, sizeof(path)) != 0) {
        if (unlink(path) == 0) {
            gone = 1;
        } else if (errno != ENOENT) {
            weir_cache_error(cache, NULL, WEIR_CACHE_OP_UNLINK, errno,
                             "unlink() failed", path);
        }
    }
    return gone || st != 0;
}

void
weir_cache_invalidate(cache_req_t *cr)
{
    cr->obs.ctx = cr;
    cr->obs.head = inval_head;
    weir_proxy_handle_observed(cr->r, &cr->obs);
}

/* "/path" or "scheme://host/path" naming the request's own host: the
 * path (with its query). Other hosts are not ours to invalidate (a
 * response could otherwise purge any site the cache holds). */
static int
same_host(const weir_request_t *r, const char *v, size_t len,
    const char **path, size_t *path_len)
{
    const char *p, *end = v + len, *host;
    size_t      hlen;

    if (len > 0 && v[0] == '/' && !(len > 1 && v[1] == '/')) {
        *path = v;
        *path_len = len;
        return 1;
    }
    p = memchr(v, ':', len);
    if (p == NULL || end - p < 3 || p[1] != '/' || p[2] != '/'
        || r->h_host == NULL) {
        return 0;
    }
    host = p + 3;
    for (p = host; p < end && *p != '/'; p++) {
        /* void */
    }
    hlen = (size_t) (p - host);
    if (hlen != r->h_host->value_len
        || !weir_strncaseeq(host, r->h_host->value, hlen)) {
        return 0;
    }
    /* "http://host" alone is its "/" (a literal: v holds no slash) */
    *path = p < end ? p : "/";
    *path_len = p < end ? (size_t) (end - p) : 1;
    return 1;
}

/* Forget the object whose key is the request's with this target. The
 * target is normalised as a request's would be, so that a key built
 * from $normalized_request_uri or $uri matches the object's; a target no
 * request could have (refused as ambiguous) names no object. */
static void
invalidate_target(cache_req_t *cr, const char *v, size_t len)
{
    weir_request_t  other = *cr->r;
    const char     *path, *q;
    char           *dec, *fwd;
    uint8_t         digest[WEIR_CACHE_DIGEST_LEN];
    char            buf[WEIR_CACHE_KEY_MAX];
    size_t          n, plen, fsz;

    if (!same_host(cr->r, v, len, &path, &len)) {
        return;
    }
    q = memchr(path, '?', len);
    plen = q ? (size_t) (q - path) : len;
    fsz = 3 * len + 2;
    dec = weir_palloc(cr->r->pool, plen + 2);
    fwd = weir_palloc(cr->r->pool, fsz);
    if (dec == NULL || fwd == NULL
        || weir_http_normalize_target(path, plen, dec, plen + 2,
                                      &other.path.len, fwd, fsz,
                                      &other.target.len) != WEIR_OK) {
        return;
    }
    other.uri.data = (char *) path;
    other.uri.len = len;
    other.path.data = dec;
    other.args.data = q ? (char *) q + 1 : NULL;
    other.args.len = q ? len - plen - 1 : 0;
    if (q) {
        memcpy(fwd + other.target.len, q, len - plen);
        other.target.len += len - plen;
    }
    other.target.data = fwd;
    other.method = WEIR_HTTP_GET;
    n = weir_http_vars_eval(&other, cr->cache->conf->key, buf, sizeof(buf));
    if (n + 1 >= sizeof(buf)) {
        return;
    }
    weir_cache_digest(buf, n, NULL, 0, digest);
    weir_cache_remove(cr->cache, digest);
    weir_stat_add(&CSLOT(cr->cache)->invalidated, 1);
}

static int
inval_head(void *ctx, weir_request_t *r, const weir_http_header_t *resp,
    size_t nresp, off_t content_length)
{
    cache_req_t *cr = ctx;
    size_t       i;

    (void) content_length;
    weir_cache_status_header(cr, r->status, 0);
    if (r->status < 200 || r->status >= 400) {
        return WEIR_OK;
    }
    weir_cache_remove(cr->cache, cr->digest);
    weir_stat_add(&CSLOT(cr->cache)->invalidated, 1);
    for (i = 0; i < nresp; i++) {
        const weir_http_header_t *h = &resp[i];
        if ((h->name_len == 8 && weir_strncaseeq(h->name, "location", 8))
            || (h->name_len == 16
                && weir_strncaseeq(h->name, "content-location", 16))) {
            invalidate_target(cr, h->value, h->value_len);
        }
    }
    return WEIR_OK;
}

/* ---- purge ------------------------------------------------------------ */

/* A purge runs in a worker's loop: a regex that backtracks without end,
 * or a walk over a million keys, must not stop the worker serving. */
#define PURGE_MATCH_LIMIT  100000
#define PURGE_DEPTH_LIMIT  1000
#define PURGE_BUDGET_MS    2000

typedef struct purge_s {
    cache_t          *cache;
    pcre2_match_context *mctx;
    int64_t           deadline;     /* wall ms */
    unsigned          incomplete:1;
    int               mode;
    const char       *pattern;
    size_t            plen;
    pcre2_code       *re;
    pcre2_match_data *md;
    long              count;
    void            (*each)(void *ctx, const char *cache, const char *key,
                            size_t len);
    void             *ctx;
} purge_t;

/* Read the key of one indexed object and remove it when it matches. */
static int
purge_one(void *ctx, const weir_cache_entry_t *e)
{
    purge_t          *pg = ctx;
    char              path[WEIR_CACHE_PATH_MAX], buf[PREFIX_READ], err[64];
    weir_cache_obj_t  o;
    size_t            need;
    ssize_t           n;
    int               fd, match;

    if (pg->deadline && weir_cache_now_ms() > pg->deadline) {
        pg->incomplete = 1;
        return 1;       /* the rest is left: say so, let it be asked again */
    }
    if (!(e->state & WEIR_CACHE_READY)
        || weir_cache_file_path(pg->cache->conf, e->digest, path,
                                sizeof(path)) == 0) {
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    if (n <= 0 || weir_cache_file_decode(buf, (size_t) n, NULL, 0, 0, &o,
                                         &need, err, sizeof(err))
                  != WEIR_OK) {
        return 0;
    }
    if (pg->mode == WEIR_CACHE_PURGE_PREFIX) {
        match = o.hdr.key_len >= pg->plen
                && memcmp(o.key, pg->pattern, pg->plen) == 0;
    } else {
        match = pcre2_match(pg->re, (PCRE2_SPTR) o.key, o.hdr.key_len, 0, 0,
                            pg->md, pg->mctx) >= 0;
    }
    if (match) {
        weir_cache_remove(pg->cache, e->digest);
        weir_stat_add(&CSLOT(pg->cache)->purged, 1);
        pg->count++;
        if (pg->each && !(o.hdr.flags & WEIR_CACHE_F_VARY_STUB)) {
            pg->each(pg->ctx, pg->cache->conf->name, o.key, o.hdr.key_len);
        }
    }
    return 0;
}

long
weir_cache_purge(const char *name, int mode, const char *pattern,
    void (*each)(void *ctx, const char *cache, const char *key, size_t len),
    void *ctx, int *incomplete, char *err, size_t errlen)
{
    purge_t     pg;
    size_t      i, found = 0;
    uint8_t     digest[WEIR_CACHE_DIGEST_LEN];
    int         ecode;
    PCRE2_SIZE  eoff;

    memset(&pg, 0, sizeof(pg));
    pg.mode = mode;
    pg.pattern = pattern;
    pg.plen = strlen(pattern);
    pg.each = each;
    pg.ctx = ctx;
    if (mode == WEIR_CACHE_PURGE_REGEX) {
        pg.re = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED, 0,
                              &ecode, &eoff, NULL);
        if (pg.re == NULL) {
            char msg[128];
            pcre2_get_error_message(ecode, (PCRE2_UCHAR *) msg, sizeof(msg));
            snprintf(err, errlen, "bad regex at offset %zu: %s",
                     (size_t) eoff, msg);
            return -1;
        }
        pg.md = pcre2_match_data_create_from_pattern(pg.re, NULL);
        pg.mctx = pcre2_match_context_create(NULL);
        if (pg.md == NULL || pg.mctx == NULL) {
            snprintf(err, errlen, "out of memory");
            pcre2_match_data_free(pg.md);
            pcre2_code_free(pg.re);
            return -1;
        }
        pcre2_set_match_limit(pg.mctx, PURGE_MATCH_LIMIT);
        pcre2_set_depth_limit(pg.mctx, PURGE_DEPTH_LIMIT);
    }
    pg.deadline = weir_cache_now_ms() + PURGE_BUDGET_MS;
    for (i = 0; i < ncaches_of(); i++) {
        pg.cache = weir_cache_at(i);
        if (name && strcmp(name, pg.cache->conf->name) != 0) {
            continue;
        }
        found++;
        if (mode != WEIR_CACHE_PURGE_KEY) {
            if (pg.cache->idx) {
                weir_cache_index_walk(pg.cache->idx, purge_one, &pg);
            }
            continue;
        }
        weir_cache_digest(pattern, pg.plen, NULL, 0, digest);
        /* the object, or the Vary stub its variants hang on (they become
         * unreachable with it, and age out); a fill in progress is
         * not published */
        if (weir_cache_remove(pg.cache, digest)) {
            weir_stat_add(&CSLOT(pg.cache)->purged, 1);
            pg.count++;
            if (each) {
                each(ctx, pg.cache->conf->name, pattern, pg.plen);
            }
        }
    }
    if (pg.mctx) {
        pcre2_match_context_free(pg.mctx);
    }
    if (pg.md) {
        pcre2_match_data_free(pg.md);
    }
    if (pg.re) {
        pcre2_code_free(pg.re);
    }
    if (found == 0) {
        snprintf(err, errlen, "no cache called \"%s\"", name ? name : "");
        return -1;
    }
    if (incomplete) {
        *incomplete = pg.incomplete;
    }
    return pg.count;
}
