#include "weir_config.h"
#include "cache/cache-t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/log.h"
#include "core/random.h"
#include "core/sbuf.h"
#include "core/wtime.h"

/*
 * Filling: the proxy's observer (upstream/proxy.h) sees the final head
 * and every de-chunked span of the body on its one way to the client.
 * The fill writes them to <path>/tmp/<lock digest>.<fill id>, created as
 * soon as the fill lock is taken so that waiters have a file to watch,
 * and rename()s it into place only when the body is complete and its
 * length is right. Anything else unlinks it: nothing partial is served.
 *
 * Disk writes are plain write()s into the page cache, one per span the
 * proxy read (at most its 64 KiB buffer), so a loop pass writes no more
 * than it received; no fsync (a cache file lost in a crash is a miss).
 * A writer thread would only pay off on a disk slower than the network,
 * and would need the same bound; say so if that changes.
 */

/* The largest body a 304 rewrites behind the new head at once. */
#define REWRITE_MAX (1024 * 1024)

static int on_head(void *ctx, weir_request_t *r,
    const weir_http_header_t *resp, size_t nresp, off_t content_length);
static void on_body(void *ctx, const char *data, size_t len);
static void on_end(void *ctx, int complete);
static int on_failed(void *ctx, weir_request_t *r, int status);
static int on_client_gone(void *ctx);
static int open_tmp(cache_req_t *cr);
static void drop_tmp(cache_req_t *cr);
static void fail_fill(cache_req_t *cr, int op, int err, const char *what);
static void wbuf_drop(cache_req_t *cr);
static int wbuf_put(cache_req_t *cr, const char *data, size_t len);
static int wbuf_flush(cache_req_t *cr);
static void wbuf_linger(weir_event_t *ev);
static int write_all(int fd, const char *p, size_t len, off_t off);
static int build_head(cache_req_t *cr, char **head, size_t *len);
static int vary_names(const weir_http_header_t *resp, size_t n,
    weir_pool_t *pool, char **out, size_t *len);
static int put_in_place(cache_req_t *cr, const char *tmp,
    const uint8_t *digest);
static int write_stub(cache_req_t *cr, const char *names, size_t len,
    uint64_t stub_id);
static int revalidated(cache_req_t *cr);
static int serve_stale(cache_req_t *cr, int status);
static int copy_body(int from, uint64_t off, int to, uint64_t len);

void
weir_cache_observe(cache_req_t *cr, int fill)
{
    weir_sbuf_t sb;
    const char *v;
    size_t      n;

    cr->obs.ctx = cr;
    cr->obs.head = on_head;
    cr->obs.body = on_body;
    cr->obs.end = on_end;
    cr->obs.failed = on_failed;
    cr->obs.client_gone = on_client_gone;
    cr->request_time = weir_cache_now();
    cr->expect_len = -1;
    if (!cr->locked || !fill) {
        weir_cache_unlock(cr);
        return;
    }
    cr->obs.whole = 1;
    if (open_tmp(cr) != WEIR_OK) {
        weir_cache_unlock(cr);
        cr->obs.whole = 0;
        return;
    }
    if (cr->obj.fd < 0) {
        return;
    }
    /* Revalidate what we hold with its own validators. */
    weir_sbuf_init_pool(&sb, cr->r->pool, 160);
    v = weir_cache_head_field(&cr->obj, "etag", &n);
    if (v) {
        weir_sbuf_lit(&sb, "If-None-Match: ");
        weir_sbuf_append(&sb, v, n);
        weir_sbuf_lit(&sb, "\r\n");
    }
    v = weir_cache_head_field(&cr->obj, "last-modified", &n);
    if (v) {
        weir_sbuf_lit(&sb, "If-Modified-Since: ");
        weir_sbuf_append(&sb, v, n);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (!weir_sbuf_failed(&sb)) {
        cr->obs.extra = sb.data;
        cr->obs.extra_len = sb.len;
    }
}

/* The index first, then the file: unlinking it is what wakes the
 * waiters, and they must find the fill over when they look. */
void
weir_cache_unlock(cache_req_t *cr)
{
    wbuf_drop(cr);
    if (cr->locked) {
        cr->locked = 0;
        if (cr->cache->idx) {
            weir_cache_index_fill_end(cr->cache->idx, cr->lock, cr->fill_id,
                                      0, 0, weir_current_wall_msec);
        }
    }
    if (cr->fill_fd >= 0) {
        drop_tmp(cr);
    }
}

/*
 * The fill's writes. The page cache keeps a file in folios whose size
 * follows the writes that made them: 64 KiB writes at offsets that are
 * not multiples of 64 KiB (the header and key come first) leave a file
 * of small folios, which every sendfile() of every hit then walks page
 * by page (filemap_get_read_batch() was a fifth of a 10 MiB hit's CPU).
 * So the fill writes whole FILL_BLOCKs at block-aligned offsets from a
 * buffer, and what is left at the end. A small object is thus written
 * once, its final header included (on_end()). A partial block waits
 * FILL_LINGER ms at most (a slow origin: waiters stream what came).
 */
static void
wbuf_drop(cache_req_t *cr)
{
    cr->wbuf_len = 0;
    if (cr->wbuf_ev.heap_slot) {
        weir_timer_del(&cr->wbuf_ev);
    }
}

static int
wbuf_flush(cache_req_t *cr)
{
    size_t n = cr->wbuf_len;

    if (cr->wbuf_ev.heap_slot) {
        weir_timer_del(&cr->wbuf_ev);
    }
    if (n == 0) {
        return WEIR_OK;
    }
    cr->wbuf_len = 0;
    cr->wbuf_off += n;
    return write_all(cr->fill_fd, cr->wbuf, n, -1);
}

static int
wbuf_put(cache_req_t *cr, const char *data, size_t len)
{
    size_t   room;
    uint64_t end;

    if (cr->wbuf == NULL) {
        /* a buffer of at most a block: the object when its size is known */
        cr->wbuf_cap = cr->expect_len >= 0
                       ? (size_t) weir_min((uint64_t) FILL_BLOCK,
                                           cr->prefix_len
                                           + (uint64_t) cr->expect_len)
                       : FILL_BLOCK;
        cr->wbuf_cap = weir_max(cr->wbuf_cap, (size_t) 4096);
        cr->wbuf = weir_palloc(cr->r->pool, cr->wbuf_cap);
        cr->wbuf_ev.data = cr;
        cr->wbuf_ev.handler = wbuf_linger;
        if (cr->wbuf == NULL) {
            cr->wbuf_cap = 0;
        }
    }
    while (len > 0) {
        end = cr->wbuf_off + cr->wbuf_len;
        room = weir_min(FILL_BLOCK - (size_t) (end % FILL_BLOCK),
                        cr->wbuf_cap - cr->wbuf_len);
        if (room == 0) {
            if (cr->wbuf_len == 0) {        /* no buffer: as it comes */
                cr->wbuf_off += len;
                return write_all(cr->fill_fd, data, len, -1);
            }
            if (wbuf_flush(cr) != WEIR_OK) {
                return WEIR_ERROR;
            }
            continue;
        }
        room = weir_min(room, len);
        memcpy(cr->wbuf + cr->wbuf_len, data, room);
        cr->wbuf_len += room;
        data += room;
        len -= room;
        if ((end + room) % FILL_BLOCK == 0 && wbuf_flush(cr) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    if (cr->wbuf_len > 0 && cr->wbuf_ev.heap_slot == 0) {
        weir_timer_add(&cr->wbuf_ev, FILL_LINGER);
    }
    return WEIR_OK;
}

static void
wbuf_linger(weir_event_t *ev)
{
    cache_req_t *cr = ev->data;

    if (cr->fill_fd >= 0 && wbuf_flush(cr) != WEIR_OK) {
        fail_fill(cr, WEIR_CACHE_OP_WRITE, errno, "write() failed");
    }
}

/* The fill fails: say why (once per interval), then let go. */
static void
fail_fill(cache_req_t *cr, int op, int err, const char *what)
{
    if (op >= 0) {
        weir_cache_error(cr->cache, cr->r, op, err, what, cr->tmp_path);
    }
    weir_cache_unlock(cr);
}

static int
open_tmp(cache_req_t *cr)
{
    char path[WEIR_CACHE_PATH_MAX];

    if (weir_cache_file_tmp_path(cr->cache->conf, cr->lock, cr->fill_id,
                                 path, sizeof(path)) == 0) {
        return WEIR_ERROR;
    }
    cr->tmp_path = weir_pstrndup(cr->r->pool, path, strlen(path));
    if (cr->tmp_path == NULL) {
        return WEIR_ERROR;
    }
    cr->fill_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (cr->fill_fd < 0 && errno == ENOENT) {
        /* tmp/ went away (or the loader has not made it yet) */
        char dir[WEIR_CACHE_PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/tmp", cr->cache->conf->path);
        mkdir(dir, 0700);
        cr->fill_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                           0600);
    }
    if (cr->fill_fd < 0) {
        weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_OPEN, errno,
                         "cannot create a temporary file", path);
        return WEIR_ERROR;
    }
    weir_stat_add(&CSLOT(cr->cache)->fills, 1);
    weir_gauge_add(&CSLOT(cr->cache)->fills_in_flight, 1);
    return WEIR_OK;
}

/* Abandon the fill: the temp file goes (its waiters see it go). */
static void
drop_tmp(cache_req_t *cr)
{
    close(cr->fill_fd);
    cr->fill_fd = -1;
    if (unlink(cr->tmp_path) != 0 && errno != ENOENT) {
        weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_UNLINK, errno,
                         "unlink() failed", cr->tmp_path);
    }
    weir_stat_add(&CSLOT(cr->cache)->fills_aborted, 1);
    weir_gauge_add(&CSLOT(cr->cache)->fills_in_flight, -1);
}

static int
write_all(int fd, const char *p, size_t len, off_t off)
{
    ssize_t n;

    while (len > 0) {
        n = off >= 0 ? pwrite(fd, p, len, off) : write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return WEIR_ERROR;
        }
        p += n;
        len -= (size_t) n;
        if (off >= 0) {
            off += n;
        }
    }
    return WEIR_OK;
}

/* The end-to-end fields the client got from the proxy, as stored. */
static int
build_head(cache_req_t *cr, char **head, size_t *len)
{
    weir_request_t *r = cr->r;
    weir_sbuf_t     sb;
    size_t          i;

    weir_sbuf_init_pool(&sb, r->pool, 512);
    for (i = 0; i < r->nresp; i++) {
        weir_sbuf_append_str(&sb, &r->resp_names[i]);
        weir_sbuf_lit(&sb, ": ");
        weir_sbuf_append_str(&sb, &r->resp_values[i]);
        weir_sbuf_lit(&sb, "\r\n");
    }
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }
    *head = sb.data;
    *len = sb.len;
    return WEIR_OK;
}

/* The field names of every Vary line, lower-cased, one per line. */
static int
vary_names(const weir_http_header_t *resp, size_t n, weir_pool_t *pool,
    char **out, size_t *len)
{
    weir_sbuf_t sb;
    const char *s, *el;
    size_t      i, k, elen;

    weir_sbuf_init_pool(&sb, pool, 64);
    for (i = 0; i < n; i++) {
        if (resp[i].name_len != 4 || !weir_strncaseeq(resp[i].name, "vary",
                                                       4)) {
            continue;
        }
        s = resp[i].value;
        while (weir_http_list_next(&s, resp[i].value + resp[i].value_len,
                                   &el, &elen)) {
            for (k = 0; k < elen; k++) {
                char ch = el[k];
                weir_sbuf_append_char(&sb, ch >= 'A' && ch <= 'Z'
                                           ? (char) (ch + 32) : ch);
            }
            if (elen) {
                weir_sbuf_lit(&sb, "\n");
            }
        }
    }
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }
    *out = sb.data;
    *len = sb.len;
    return WEIR_OK;
}

static int
on_head(void *ctx, weir_request_t *r, const weir_http_header_t *resp,
    size_t nresp, off_t content_length)
{
    cache_req_t         *cr = ctx;
    weir_cache_meta_t    meta;
    weir_cache_verdict_t v;
    char                *head, *names = NULL, *sec = NULL;
    size_t               head_len, names_len = 0, sec_len = 0, cap;
    uint64_t             stub_id = 0;
    int                  st = r->status;

    if (cr->obj.fd >= 0 && st == 304 && cr->fill_fd >= 0) {
        return revalidated(cr);
    }
    if (cr->obj.fd >= 0 && (st == 500 || st == 502 || st == 503 || st == 504)
        && serve_stale(cr, st)) {
        return WEIR_DECLINED;
    }
    if (cr->fill_fd < 0) {
        weir_cache_status_header(cr, st, 0);
        return WEIR_OK;
    }
    weir_cache_storable(&cr->cache->conf->rules, r->method, st, r->headers,
                        r->head.num_headers, resp, nresp, cr->request_time,
                        weir_cache_now(), &meta, &v);
    if (v.not_stored == NULL && cr->cache->conf->max_object_size > 0
        && content_length > cr->cache->conf->max_object_size) {
        v.not_stored = "too-large";
    }
    if (v.not_stored == NULL
        && (vary_names(resp, nresp, r->pool, &names, &names_len) != WEIR_OK
            || build_head(cr, &head, &head_len) != WEIR_OK)) {
        v.not_stored = "no-memory";
    }
    if (v.not_stored) {
        cr->detail = v.not_stored;
        weir_cache_unlock(cr);
        weir_cache_status_header(cr, st, 0);
        return WEIR_OK;
    }
    if (names_len) {
        /* Vary: the object lives at the digest of key + the request's
         * values; the primary key holds a stub naming the fields. */
        if (weir_cache_secondary(r, names, names_len, &sec, &sec_len)
            != WEIR_OK) {
            weir_cache_unlock(cr);
            return WEIR_OK;
        }
        if (cr->stub.fd >= 0 && cr->stub.o.hdr.vary_len == names_len
            && memcmp(cr->stub.o.vary, names, names_len) == 0) {
            stub_id = cr->stub.o.hdr.stub_id;
        } else {
            /* The stub goes in after the variant (on_end): a request
             * that finds it then finds the variant, not a gap in which
             * it would fill the same variant again. */
            stub_id = weir_random() | 1;
            cr->stub_names = names;
            cr->stub_names_len = names_len;
        }
    }
    if (sec_len > 0) {
        weir_cache_digest(cr->key, cr->key_len, sec, sec_len, cr->final);
    } else {
        memcpy(cr->final, cr->primary, sizeof(cr->final));
    }
    cr->vary = sec;
    cr->vary_len = sec_len;
    cap = sizeof(weir_cache_hdr_t) + cr->key_len + sec_len + head_len;
    cr->prefix = weir_palloc(r->pool, cap);
    memset(&cr->hdr, 0, sizeof(cr->hdr));
    memcpy(cr->hdr.digest, cr->final, sizeof(cr->final));
    cr->hdr.status = (uint32_t) st;
    cr->hdr.stored = cr->request_time;
    cr->hdr.stub_id = stub_id;
    cr->prefix_len = cr->prefix
        ? weir_cache_file_encode(&cr->hdr, &meta, cr->key, cr->key_len, sec,
                                 sec_len, head, head_len,
                                 WEIR_CACHE_BODY_UNKNOWN, cr->prefix, cap)
        : 0;
    cr->expect_len = content_length;
    if (cr->prefix_len == 0
        || wbuf_put(cr, cr->prefix, cr->prefix_len) != WEIR_OK) {
        fail_fill(cr, WEIR_CACHE_OP_WRITE, errno, "write() failed");
        weir_cache_status_header(cr, st, 0);
        return WEIR_OK;
    }
    weir_cache_status_header(cr, st, 1);
    return WEIR_OK;
}

static void
on_body(void *ctx, const char *data, size_t len)
{
    cache_req_t *cr = ctx;
    int64_t      max = cr->cache->conf->max_object_size;

    if (cr->fill_fd < 0 || cr->prefix_len == 0) {
        return;
    }
    if (max > 0 && cr->body_len + len > (uint64_t) max) {
        weir_cache_unlock(cr);
        return;
    }
    if (wbuf_put(cr, data, len) != WEIR_OK) {
        fail_fill(cr, WEIR_CACHE_OP_WRITE, errno, "write() failed");
        return;
    }
    cr->body_len += len;
}

/* rename() into place, making the level directories when missing. */
static int
put_in_place(cache_req_t *cr, const char *tmp, const uint8_t *digest)
{
    char  path[WEIR_CACHE_PATH_MAX];
    char *slash;

    if (weir_cache_file_path(cr->cache->conf, digest, path, sizeof(path))
        == 0) {
        return WEIR_ERROR;
    }
    if (rename(tmp, path) == 0) {
        return WEIR_OK;
    }
    if (errno == ENOENT) {
        size_t base = strlen(cr->cache->conf->path);
        for (slash = path + base + 1; (slash = strchr(slash, '/')) != NULL;
             slash++) {
            *slash = '\0';
            mkdir(path, 0700);
            *slash = '/';
        }
        if (rename(tmp, path) == 0) {
            return WEIR_OK;
        }
    }
    weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_RENAME, errno,
                     "rename() failed", path);
    return WEIR_ERROR;
}

static void
on_end(void *ctx, int complete)
{
    cache_req_t *cr = ctx;
    uint64_t     size;

    if (cr->fill_fd < 0 || cr->prefix_len == 0) {
        weir_cache_unlock(cr);
        return;
    }
    if (!complete || (cr->expect_len >= 0
                      && cr->body_len != (uint64_t) cr->expect_len)) {
        weir_cache_unlock(cr);
        return;
    }
    cr->hdr.body_len = cr->body_len;
    weir_cache_file_reseal(&cr->hdr, cr->prefix + sizeof(cr->hdr),
                           cr->prefix_len - sizeof(cr->hdr));
    if (cr->wbuf_off == 0 && cr->wbuf_len >= sizeof(cr->hdr)) {
        /* the header is still in the buffer: one write for it all */
        memcpy(cr->wbuf, &cr->hdr, sizeof(cr->hdr));
        if (wbuf_flush(cr) != WEIR_OK) {
            fail_fill(cr, WEIR_CACHE_OP_WRITE, errno, "write() failed");
            return;
        }
    } else if (wbuf_flush(cr) != WEIR_OK
               || write_all(cr->fill_fd, (const char *) &cr->hdr,
                            sizeof(cr->hdr), 0) != WEIR_OK) {
        fail_fill(cr, WEIR_CACHE_OP_WRITE, errno, "write() failed");
        return;
    }
    /* what was written, in order: the file's size without an fstat() */
    size = cr->prefix_len + cr->body_len;
    if (put_in_place(cr, cr->tmp_path, cr->final) != WEIR_OK) {
        weir_cache_unlock(cr);
        return;
    }
    if (cr->stub_names
        && write_stub(cr, cr->stub_names, cr->stub_names_len,
                      cr->hdr.stub_id) != WEIR_OK) {
        /* the variant stays unreachable until the manager removes it */
        weir_cache_remove(cr->cache, cr->final);
    }
    weir_stat_add(&CSLOT(cr->cache)->fills_stored, 1);
    weir_gauge_add(&CSLOT(cr->cache)->fills_in_flight, -1);
    if (cr->locked && cr->cache->idx) {
        int same = memcmp(cr->lock, cr->final, sizeof(cr->lock)) == 0;
        cr->locked = 0;
        if (weir_cache_index_fill_end(cr->cache->idx, cr->lock, cr->fill_id,
                                      1, same ? size : 0,
                                      weir_current_wall_msec)
            != WEIR_OK) {
            /* Purged or invalidated while it filled: it must not be
             * served. */
            weir_cache_remove(cr->cache, cr->final);
        } else if (!same) {
            weir_cache_index_insert(cr->cache->idx, cr->final, size,
                                    weir_current_wall_msec);
        }
    }
    cr->locked = 0;
    /* Last: the close is the waiters' event, after the index says READY
     * and the file is in place. */
    close(cr->fill_fd);
    cr->fill_fd = -1;
}

/* The client left mid-body: finish the fill when someone waits for it
 * (in any worker), or when it is small enough (fill_after_abort), so the
 * next request finds it stored. */
static int
on_client_gone(void *ctx)
{
    cache_req_t *cr = ctx;
    int64_t      limit = cr->cache->conf->fill_after_abort;
    int64_t      size = cr->expect_len >= 0 ? cr->expect_len
                                            : (int64_t) cr->body_len;

    return cr->fill_fd >= 0 && cr->prefix_len > 0
           && (size <= limit
               || atomic_load_explicit(weir_cache_waiting(cr),
                                       memory_order_relaxed) > 0);
}

static int
serve_stale(cache_req_t *cr, int status)
{
    if (!weir_cache_stale_on_error(&cr->obj.o.meta, &cr->req_cc,
                                   weir_cache_now())) {
        return 0;
    }
    weir_cache_unlock(cr);
    weir_proxy_detach(cr->r);
    cr->r->upstream_status = status;
    cr->fwd = "stale";
    cr->detail = "stale-if-error";
    weir_cache_serve(cr, CS_STALE);
    return 1;
}

static int
on_failed(void *ctx, weir_request_t *r, int status)
{
    cache_req_t *cr = ctx;

    if (cr->obj.fd >= 0
        && weir_cache_stale_on_error(&cr->obj.o.meta, &cr->req_cc,
                                     weir_cache_now())) {
        weir_cache_unlock(cr);
        r->upstream_status = status;
        cr->fwd = "stale";
        cr->detail = "stale-if-error";
        weir_cache_serve(cr, CS_STALE);
        return 1;
    }
    weir_cache_unlock(cr);
    if (cr->fwd) {
        weir_cache_status_header(cr, 0, 0);     /* on the error page too */
    }
    return 0;
}

/* A stub: a body-less file at the primary key naming the Vary fields;
 * its id ties the variants written under it. */
static int
write_stub(cache_req_t *cr, const char *names, size_t len, uint64_t stub_id)
{
    weir_cache_hdr_t  hdr;
    weir_cache_meta_t meta;
    char              tmp[WEIR_CACHE_PATH_MAX], *buf;
    size_t            cap = sizeof(hdr) + cr->key_len + len, n;
    int               fd, rc;

    memset(&hdr, 0, sizeof(hdr));
    memset(&meta, 0, sizeof(meta));
    weir_cache_digest(cr->key, cr->key_len, NULL, 0, hdr.digest);
    hdr.flags = WEIR_CACHE_F_VARY_STUB;
    hdr.stub_id = stub_id;
    hdr.status = 200;
    hdr.stored = weir_cache_now();
    buf = weir_palloc(cr->r->pool, cap);
    n = buf ? weir_cache_file_encode(&hdr, &meta, cr->key, cr->key_len,
                                     names, len, "", 0, 0, buf, cap)
            : 0;
    if (n == 0 || snprintf(tmp, sizeof(tmp), "%s.stub", cr->tmp_path)
                  >= (int) sizeof(tmp)) {
        return WEIR_ERROR;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_OPEN, errno,
                         "cannot create a temporary file", tmp);
        return WEIR_ERROR;
    }
    rc = write_all(fd, buf, n, 0);
    close(fd);
    if (rc != WEIR_OK) {
        weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_WRITE, errno,
                         "write() failed", tmp);
        unlink(tmp);
        return WEIR_ERROR;
    }
    if (put_in_place(cr, tmp, hdr.digest) != WEIR_OK) {
        unlink(tmp);
        return WEIR_ERROR;
    }
    if (cr->cache->idx
        && memcmp(cr->lock, hdr.digest, sizeof(hdr.digest)) != 0) {
        weir_cache_index_insert(cr->cache->idx, hdr.digest, n,
                                weir_current_wall_msec);
    }
    return WEIR_OK;
}

/* Copy the stored body behind a new head (a 304 updated the fields). */
static int
copy_body(int from, uint64_t off, int to, uint64_t len)
{
    char    buf[16384];
    loff_t  in = (loff_t) off;
    ssize_t n;

    while (len > 0) {
        n = copy_file_range(from, &in, to, NULL, (size_t) len, 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL
                      || errno == EOPNOTSUPP)) {
            n = pread(from, buf, weir_min(sizeof(buf), (size_t) len),
                      (off_t) in);
            if (n > 0 && write_all(to, buf, (size_t) n, -1) != WEIR_OK) {
                return WEIR_ERROR;
            }
            if (n > 0) {
                in += n;
            }
        }
        if (n <= 0) {
            return WEIR_ERROR;
        }
        len -= (uint64_t) n;
    }
    return WEIR_OK;
}

/*
 * 304 to our validators: the stored fields are updated with the ones the
 * 304 carries (RFC 9111 4.3.4), the object is rewritten behind a new
 * head (the body copied in the kernel), and the client is answered from
 * it. If the rewrite fails the client still gets the stored object.
 */
static int
revalidated(cache_req_t *cr)
{
    weir_request_t      *r = cr->r;
    cache_obj_t          nobj, *o = &cr->obj;
    weir_http_header_t  *hs;
    weir_cache_meta_t    meta;
    weir_cache_verdict_t v;
    weir_sbuf_t          sb;
    weir_http_header_t   f;
    const char          *p, *end;
    size_t               i, n = 0, cap, len;
    int                  dup;

    hs = weir_palloc(r->pool, sizeof(*hs) * (r->nresp + 128));
    weir_sbuf_init_pool(&sb, r->pool, o->o.hdr.head_len + 256);
    for (i = 0; hs && i < r->nresp; i++) {
        if (r->resp_names[i].len == 10
            && weir_strncaseeq(r->resp_names[i].data, "set-cookie", 10)) {
            /* The 304 answered the cache's own validation: a cookie in it
             * is not for whoever gets the object next (and would make it
             * unstorable: every stale hit would go to the origin). */
            continue;
        }
        weir_sbuf_append_str(&sb, &r->resp_names[i]);
        weir_sbuf_lit(&sb, ": ");
        weir_sbuf_append_str(&sb, &r->resp_values[i]);
        weir_sbuf_lit(&sb, "\r\n");
    }
    p = o->o.head;
    end = p + o->o.hdr.head_len;
    while (hs && weir_cache_head_next(&p, end, &f)) {
        dup = 0;
        for (i = 0; i < r->nresp; i++) {
            dup |= r->resp_names[i].len == f.name_len
                   && weir_strncaseeq(r->resp_names[i].data, f.name,
                                      f.name_len);
        }
        if (!dup) {
            weir_sbuf_append(&sb, f.name, f.name_len);
            weir_sbuf_lit(&sb, ": ");
            weir_sbuf_append(&sb, f.value, f.value_len);
            weir_sbuf_lit(&sb, "\r\n");
        }
    }
    if (hs == NULL || weir_sbuf_failed(&sb)) {
        goto fallback;
    }
    /* the merged fields as a list, for the rules */
    p = sb.data;
    end = p + sb.len;
    while (n < r->nresp + 128 && weir_cache_head_next(&p, end, &hs[n])) {
        n++;
    }
    weir_cache_storable(&cr->cache->conf->rules, WEIR_HTTP_GET,
                        (int) o->o.hdr.status, r->headers,
                        r->head.num_headers, hs, n, cr->request_time,
                        weir_cache_now(), &meta, &v);
    cap = sizeof(weir_cache_hdr_t) + cr->key_len + o->o.hdr.vary_len
          + sb.len;
    cr->prefix = weir_palloc(r->pool, cap);
    cr->hdr = o->o.hdr;
    cr->hdr.stored = cr->request_time;
    len = cr->prefix
          ? weir_cache_file_encode(&cr->hdr, &meta, cr->key, cr->key_len,
                                   o->o.vary, o->o.hdr.vary_len, sb.data,
                                   sb.len, o->o.hdr.body_len, cr->prefix,
                                   cap)
          : 0;
    memcpy(cr->final, cr->digest, sizeof(cr->final));
    if (o->o.hdr.body_len > REWRITE_MAX) {
        /* Copying a large body would hold the loop: this object keeps
         * its old head and is validated again on its next use (a 304
         * costs the origin little). */
        goto fallback;
    }
    if (v.not_stored || len == 0
        || write_all(cr->fill_fd, cr->prefix, len, -1) != WEIR_OK
        || copy_body(o->fd, o->o.body_off, cr->fill_fd, o->o.hdr.body_len)
           != WEIR_OK) {
        if (v.not_stored == NULL) {
            weir_cache_error(cr->cache, r, WEIR_CACHE_OP_WRITE, errno,
                             "cannot rewrite a revalidated object",
                             cr->tmp_path);
        }
        goto fallback;
    }
    cr->prefix_len = len;
    cr->body_len = o->o.hdr.body_len;
    cr->expect_len = -1;
    weir_proxy_detach(r);
    on_end(cr, 1);
    memset(&nobj, 0, sizeof(nobj));
    nobj.fd = -1;
    if (weir_cache_open(cr, cr->digest, &nobj) == WEIR_OK) {
        weir_cache_obj_close(o);
        *o = nobj;
    }
    cr->fwd = "stale";
    weir_cache_serve(cr, CS_REVALIDATED);
    return WEIR_DECLINED;

fallback:
    weir_cache_unlock(cr);
    weir_proxy_detach(r);
    cr->fwd = "stale";
    weir_cache_serve(cr, CS_REVALIDATED);
    return WEIR_DECLINED;
}
