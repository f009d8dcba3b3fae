#include "weir_config.h"
#include "cache/cache-t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/log.h"
#include "core/sbuf.h"
#include "core/wtime.h"
#include "http/vars.h"

/* The cache's entry point in a worker: the key, the lookup, and the
 * decision between a hit, a wait, a fill and a plain forward. */

#define ERR_LOG_INTERVAL 10000     /* ms between two lines per op */

static cache_t *caches;
static size_t   ncaches;
static pid_t    self;           /* the filler named in the index */

static int condition(weir_request_t *r, const char *tmpl);
static int read_prefix(cache_req_t *cr, cache_obj_t *o, const char *path);
static int open_variant(cache_req_t *cr);
static void decide(cache_req_t *cr);
static void cleanup(void *data);
static int seen_enough(cache_req_t *cr);

static const char *const op_names[WEIR_CACHE_OP_MAX] = {
    "open", "read", "write", "rename", "corrupt", "index", "unlink"
};

const char *
weir_cache_op_name(int op)
{
    return op >= 0 && op < WEIR_CACHE_OP_MAX ? op_names[op] : "other";
}

int
weir_cache_init(weir_shm_t *shm, weir_cache_conf_t **confs, size_t n)
{
    char   name[WEIR_SHM_NAME_MAX + 1];
    size_t i;

    self = getpid();
    caches = n ? calloc(n, sizeof(*caches)) : NULL;
    if (n && caches == NULL) {
        return WEIR_ERROR;
    }
    ncaches = n;
    for (i = 0; i < n; i++) {
        caches[i].conf = confs[i];
        caches[i].idx = shm ? weir_cache_index_find(shm, confs[i]->name)
                            : NULL;
        snprintf(name, sizeof(name), "cachestat:%s", confs[i]->name);
        caches[i].st = shm ? weir_shm_zone(shm, name, sizeof(cache_stats_t),
                                           NULL)
                           : NULL;
        if (caches[i].st == NULL) {
            caches[i].st = calloc(1, sizeof(cache_stats_t));
            if (caches[i].st == NULL) {
                return WEIR_ERROR;
            }
        }
        snprintf(name, sizeof(name), "cachewait:%s", confs[i]->name);
        caches[i].waiting = shm ? weir_shm_zone(shm, name, WAIT_BUCKETS
                                                * sizeof(int32_t), NULL)
                                : NULL;
        if (caches[i].waiting == NULL) {
            caches[i].waiting = calloc(WAIT_BUCKETS, sizeof(int32_t));
            if (caches[i].waiting == NULL) {
                return WEIR_ERROR;
            }
        }
        if (confs[i]->min_uses > 1) {
            snprintf(name, sizeof(name), "cacheseen:%s", confs[i]->name);
            caches[i].seen = shm ? weir_shm_zone(shm, name,
                                                 SEEN_BUCKETS
                                                 * sizeof(cache_seen_t), NULL)
                                 : NULL;
            if (caches[i].seen == NULL) {
                caches[i].seen = calloc(SEEN_BUCKETS, sizeof(cache_seen_t));
            }
        }
        if (weir_cache_ofc_init(&caches[i]) != WEIR_OK) {
            return WEIR_ERROR;
        }
        if (caches[i].idx == NULL) {
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "[cache %s]: no shared index, requests collapse "
                           "only within this worker's view", confs[i]->name);
        }
    }
    return WEIR_OK;
}

size_t
weir_cache_count(void)
{
    return ncaches;
}

const weir_cache_conf_t *
weir_cache_conf(size_t i)
{
    return i < ncaches ? caches[i].conf : NULL;
}

void
weir_cache_counters(size_t i, weir_cache_counters_t *out)
{
    const cache_slot_t *s;
    int                 k, op;

    memset(out, 0, sizeof(*out));
    if (i >= ncaches) {
        return;
    }
    for (k = 0; k < WEIR_STAT_SLOTS; k++) {
        s = &caches[i].st->slot[k];
        out->hits += weir_stat_get(&s->hits);
        out->misses += weir_stat_get(&s->misses);
        out->expired += weir_stat_get(&s->expired);
        out->stale += weir_stat_get(&s->stale);
        out->updating += weir_stat_get(&s->updating);
        out->revalidated += weir_stat_get(&s->revalidated);
        out->bypass += weir_stat_get(&s->bypass);
        out->bytes_served += weir_stat_get(&s->bytes_served);
        out->fills += weir_stat_get(&s->fills);
        out->fills_stored += weir_stat_get(&s->fills_stored);
        out->fills_aborted += weir_stat_get(&s->fills_aborted);
        out->collapsed += weir_stat_get(&s->collapsed);
        out->refreshes += weir_stat_get(&s->refreshes);
        out->purged += weir_stat_get(&s->purged);
        out->invalidated += weir_stat_get(&s->invalidated);
        out->fills_in_flight += atomic_load_explicit(&s->fills_in_flight,
                                                     memory_order_relaxed);
        for (op = 0; op < WEIR_CACHE_OP_MAX; op++) {
            out->errors[op] += weir_stat_get(&s->errors[op]);
        }
    }
}

void
weir_cache_index_stats_of(size_t i, weir_cache_index_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (i < ncaches && caches[i].idx) {
        weir_cache_index_stats(caches[i].idx, st);
    }
}

size_t
ncaches_of(void)
{
    return ncaches;
}

cache_t *
weir_cache_at(size_t i)
{
    return &caches[i];
}

cache_t *
weir_cache_of(const weir_cache_conf_t *k)
{
    size_t i;

    for (i = 0; i < ncaches; i++) {
        if (caches[i].conf == k) {
            return &caches[i];
        }
    }
    return NULL;
}

/* Counted always, logged once per interval and op: a full disk must not
 * turn into a line per request. */
void
weir_cache_error(cache_t *cache, weir_request_t *r, int op, int err,
    const char *what, const char *path)
{
    weir_stat_add(&CSLOT(cache)->errors[op], 1);
    if (cache->err_logged[op]
        && weir_current_msec - cache->err_logged[op] < ERR_LOG_INTERVAL) {
        return;
    }
    cache->err_logged[op] = weir_current_msec;
    weir_log_error(WEIR_LOG_ERR, r ? &r->c->log : &weir_errlog, err,
                   "[cache %s] %s (%s) \"%s\": serving uncached",
                   cache->conf->name, what, op_names[op], path ? path : "");
}

int64_t
weir_cache_now(void)
{
    return (int64_t) time(NULL);
}

int64_t
weir_cache_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
weir_cache_status_name(int status)
{
    static const char *const names[] = {
        "-", "HIT", "MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED",
        "BYPASS"
    };
    return status >= 0 && status <= CS_BYPASS ? names[status] : "-";
}

/* A cache_bypass / no_cache template: true when its value is neither
 * empty nor "0" (nginx's rule, so configurations read the same). */
static int
condition(weir_request_t *r, const char *tmpl)
{
    char   buf[256];
    size_t n;

    if (tmpl == NULL) {
        return 0;
    }
    n = weir_http_vars_eval(r, tmpl, buf, sizeof(buf));
    return n > 0 && !(n == 1 && buf[0] == '0');
}

int
weir_cache_key(cache_req_t *cr, const weir_request_t *r)
{
    char   *buf = weir_palloc(r->pool, WEIR_CACHE_KEY_MAX);
    size_t  n;

    if (buf == NULL) {
        return WEIR_ERROR;
    }
    n = weir_http_vars_eval((weir_request_t *) r, cr->cache->conf->key, buf,
                            WEIR_CACHE_KEY_MAX);
    if (n + 1 >= WEIR_CACHE_KEY_MAX) {
        return WEIR_ERROR;      /* a cut key could name another object */
    }
    cr->key = buf;
    cr->key_len = n;
    return WEIR_OK;
}

static void
cleanup(void *data)
{
    cache_req_t *cr = data;

    weir_cache_wait_cancel(cr);
    weir_cache_unlock(cr);
    weir_cache_obj_close(&cr->obj);
    weir_cache_obj_close(&cr->stub);
}

void
weir_cache_obj_close(cache_obj_t *o)
{
    if (o->ofe) {
        weir_cache_ofc_release(o->ofe);     /* the cache closes it */
        o->ofe = NULL;
    } else if (o->fd >= 0) {
        close(o->fd);
    }
    o->fd = -1;
}

void
weir_cache_handle(weir_request_t *r)
{
    const weir_route_conf_t *rt = r->route;
    cache_req_t             *cr;
    cache_t                 *cache = rt->cache ? weir_cache_of(rt->cache)
                                               : NULL;

    if (cache == NULL) {
        weir_proxy_handle(r);
        return;
    }
    cr = weir_pcalloc(r->pool, sizeof(*cr));
    if (cr == NULL || weir_pool_cleanup_add(r->pool, cleanup, cr) != 0) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    cr->r = r;
    cr->cache = cache;
    cr->obj.fd = cr->stub.fd = cr->fill_fd = cr->stream_fd = -1;
    cr->wd = -1;
    r->cache = cr;
    cr->internal = r->c->internal;
    weir_proxy_request_id(r);
    if (weir_cache_key(cr, r) != WEIR_OK) {
        cr->status = CS_BYPASS;
        cr->fwd = "bypass";
        cr->detail = "key-too-long";
        weir_cache_forward(cr, 0);
        return;
    }
    weir_cache_digest(cr->key, cr->key_len, NULL, 0, cr->primary);
    memcpy(cr->digest, cr->primary, sizeof(cr->digest));
    if (r->method == WEIR_HTTP_POST || r->method == WEIR_HTTP_PUT
        || r->method == WEIR_HTTP_DELETE || r->method == WEIR_HTTP_PATCH) {
        cr->status = CS_BYPASS;
        cr->fwd = "method";
        weir_cache_invalidate(cr);
        return;
    }
    if (r->method != WEIR_HTTP_GET && r->method != WEIR_HTTP_HEAD) {
        cr->status = CS_BYPASS;
        cr->fwd = "method";
        weir_cache_forward(cr, 0);
        return;
    }
    cr->no_store = condition(r, rt->no_cache);
    weir_cache_cc_parse(r->headers, r->head.num_headers, &cr->req_cc);
    if (cr->req_cc.max_age == 0) {
        /* What a browser's reload sends: it means "check with the
         * origin", though an object of age 0 would satisfy it. */
        cr->req_cc.no_cache = 1;
    }
    if (condition(r, rt->cache_bypass)) {
        cr->status = CS_BYPASS;
        cr->fwd = "bypass";
        weir_stat_add(&CSLOT(cache)->bypass, 1);
        /* Neither read nor written: a debugging request must not
         * replace what everyone else gets. */
        weir_cache_forward(cr, 0);
        return;
    }
    weir_cache_lookup(cr);
}

/* Read a file's prefix and check it against the key. */
static int
read_prefix(cache_req_t *cr, cache_obj_t *o, const char *path)
{
    struct stat st;
    size_t      need = PREFIX_READ;
    ssize_t     n;
    char        err[128];
    int         rc;

    o->file_size = 0;
    for (;;) {
        o->buf = weir_palloc(cr->r->pool, need);
        if (o->buf == NULL) {
            return WEIR_ERROR;
        }
        n = pread(o->fd, o->buf, need, 0);
        if (n < 0) {
            weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_READ, errno,
                             "pread() failed", path);
            return WEIR_ERROR;
        }
        o->len = (size_t) n;
        if (o->len < need) {
            /* A short read from the start of a regular file ends at its
             * end: a small object needs no fstat(). */
            o->file_size = o->len;
        } else if (o->file_size == 0) {
            if (fstat(o->fd, &st) != 0) {
                weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_READ, errno,
                                 "fstat() failed", path);
                return WEIR_ERROR;
            }
            o->file_size = (uint64_t) st.st_size;
        }
        rc = weir_cache_file_decode(o->buf, o->len, cr->key, cr->key_len,
                                    o->file_size, &o->o, &need, err,
                                    sizeof(err));
        if (rc == WEIR_OK) {
            return WEIR_OK;
        }
        if (rc == WEIR_AGAIN && need > o->len && need <= PREFIX_MAX
            && need <= o->file_size) {
            continue;
        }
        weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_CORRUPT, 0,
                         rc == WEIR_AGAIN ? "truncated cache file" : err,
                         path);
        return WEIR_DONE;
    }
}

/*
 * The index first: its gen, read before the open, names the file the
 * open-file cache may answer with (see cache_ofc.c). The lookup also
 * counts the use for the LRU. A digest the index does not know is still
 * looked for on disk: during a binary upgrade two masters, each with an
 * index of its own, store into one directory.
 */
int
weir_cache_open(cache_req_t *cr, const uint8_t *digest, cache_obj_t *o)
{
    cache_t            *cache = cr->cache;
    weir_cache_entry_t  e;
    char                path[WEIR_CACHE_PATH_MAX];
    int                 rc, st;

    o->ofe = NULL;
    o->gen = 0;
    o->indexed = 0;
    if (cache->idx) {
        e.gen = 0;
        st = weir_cache_index_lookup(cache->idx, digest,
                                     weir_current_wall_msec, 1, &e);
        o->indexed = st != 0;
        if ((st & WEIR_CACHE_READY) && cache->ofc) {
            o->gen = e.gen;
            if (weir_cache_ofc_get(cr, digest, e.gen, o)) {
                return WEIR_OK;
            }
        }
    }
    if (weir_cache_file_path(cr->cache->conf, digest, path, sizeof(path))
        == 0) {
        return WEIR_DECLINED;
    }
    o->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (o->fd < 0 && errno == EPERM) {
        o->fd = open(path, O_RDONLY | O_CLOEXEC);   /* not the owner */
    }
    if (o->fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            weir_cache_error(cr->cache, cr->r, WEIR_CACHE_OP_OPEN, errno,
                             "open() failed", path);
        }
        return WEIR_DECLINED;
    }
    rc = read_prefix(cr, o, path);
    if (rc == WEIR_OK) {
        if (o->gen != 0) {
            weir_cache_ofc_put(cr, digest, o);
        }
        return WEIR_OK;
    }
    weir_cache_obj_close(o);
    if (rc == WEIR_DONE) {
        /* A bad file is a miss, and goes: the next fill replaces it. */
        weir_cache_remove(cr->cache, digest);
    }
    return WEIR_ERROR;
}

int
weir_cache_secondary(weir_request_t *r, const char *names, size_t len,
    char **out, size_t *outlen)
{
    weir_sbuf_t  sb;
    const char  *p = names, *end = names + len, *nl;
    size_t       i, n;
    int          first;

    weir_sbuf_init_pool(&sb, r->pool, 128);
    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        n = nl ? (size_t) (nl - p) : (size_t) (end - p);
        weir_sbuf_append(&sb, p, n);
        weir_sbuf_lit(&sb, ":");
        first = 1;
        for (i = 0; i < r->head.num_headers; i++) {
            const weir_http_header_t *h = &r->headers[i];
            if (h->name_len == n && weir_strncaseeq(h->name, p, n)) {
                if (!first) {
                    weir_sbuf_lit(&sb, ",");
                }
                weir_sbuf_append(&sb, h->value, h->value_len);
                first = 0;
            }
        }
        weir_sbuf_lit(&sb, "\n");
        p += n + 1;
    }
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }
    *out = sb.data;
    *outlen = sb.len;
    return WEIR_OK;
}

int
weir_cache_secondary_of(weir_request_t *r, const char *vary, size_t len,
    char **out, size_t *outlen)
{
    weir_sbuf_t  sb;
    const char  *p = vary, *end = vary + len, *nl, *colon;

    weir_sbuf_init_pool(&sb, r->pool, len);
    while (p < end && (nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        colon = memchr(p, ':', (size_t) (nl - p));
        weir_sbuf_append(&sb, p, (size_t) ((colon ? colon : nl) - p));
        weir_sbuf_lit(&sb, "\n");
        p = nl + 1;
    }
    if (weir_sbuf_failed(&sb)) {
        return WEIR_ERROR;
    }
    return weir_cache_secondary(r, sb.data, sb.len, out, outlen);
}

/* The primary key led to a Vary stub: the variant for this request's
 * values of the fields it names. */
static int
open_variant(cache_req_t *cr)
{
    const weir_cache_obj_t *s = &cr->stub.o;
    char                   *sec;
    size_t                  slen;

    if (weir_cache_secondary(cr->r, s->vary, s->hdr.vary_len, &sec, &slen)
        != WEIR_OK) {
        return WEIR_ERROR;
    }
    weir_cache_digest(cr->key, cr->key_len, sec, slen, cr->digest);
    if (weir_cache_open(cr, cr->digest, &cr->obj) != WEIR_OK) {
        return WEIR_DECLINED;
    }
    if (cr->obj.o.hdr.stub_id != s->hdr.stub_id
        || cr->obj.o.hdr.vary_len != slen
        || memcmp(cr->obj.o.vary, sec, slen) != 0) {
        weir_cache_obj_close(&cr->obj);     /* an older generation */
        return WEIR_DECLINED;
    }
    return WEIR_OK;
}

void
weir_cache_lookup(cache_req_t *cr)
{
    memcpy(cr->digest, cr->primary, sizeof(cr->digest));
    weir_cache_obj_close(&cr->obj);
    weir_cache_obj_close(&cr->stub);
    if (weir_cache_open(cr, cr->digest, &cr->stub) == WEIR_OK) {
        if (cr->stub.o.hdr.flags & WEIR_CACHE_F_VARY_STUB) {
            open_variant(cr);
        } else {
            cr->obj = cr->stub;
            cr->stub.fd = -1;
            cr->stub.ofe = NULL;
        }
    }
    decide(cr);
}

static void
decide(cache_req_t *cr)
{
    weir_request_t     *r = cr->r;
    cache_t            *cache = cr->cache;
    weir_cache_entry_t  e = { .state = 0 };
    int                 use, rc;

    if (cr->obj.fd >= 0 && !cr->internal) {
        use = weir_cache_use(&cr->obj.o.meta, &cr->req_cc, weir_cache_now());
        if (use == WEIR_CACHE_USE_FRESH) {
            if (cache->idx && !cr->obj.indexed) {
                /* On disk, not yet indexed (the loader is not done): the
                 * manager must know it to keep max_size. (The lookup
                 * that counted the use was weir_cache_open()'s.) */
                weir_cache_index_insert(cache->idx, cr->digest,
                                        cr->obj.file_size,
                                        weir_current_wall_msec);
            }
            weir_cache_serve(cr, CS_HIT);
            return;
        }
        if (use == WEIR_CACHE_USE_STALE_SWR) {
            weir_cache_refresh(cr);
            weir_cache_serve(cr, CS_UPDATING);
            return;
        }
    }
    if (cr->obj.fd < 0 && cr->req_cc.only_if_cached) {
        weir_http_finalize_error(r, 504, "NOT_CACHED");
        return;
    }
    if ((r->method == WEIR_HTTP_HEAD || (r->h_range && cr->obj.fd < 0))
        && !cr->internal && cache->idx && cr->restarts < 2) {
        /* A fill under way answers these too, once it is whole: wait
         * for it rather than ask the origin again. */
        weir_cache_lock_of(cr, cr->lock);
        if ((weir_cache_index_lookup(cache->idx, cr->lock,
                                     weir_current_wall_msec, 0, &e)
             & WEIR_CACHE_FILLING)) {
            weir_cache_wait(cr, &e);
            return;
        }
    }
    if (r->method == WEIR_HTTP_HEAD) {
        /* A HEAD has no body to fill from (a stale copy still answers
         * for it if the origin fails). */
        cr->status = cr->obj.fd >= 0 ? CS_EXPIRED : CS_MISS;
        cr->fwd = cr->obj.fd >= 0 ? "stale" : "uri-miss";
        weir_cache_forward(cr, 0);
        return;
    }
    if (cr->obj.fd < 0 && r->h_range && !cr->internal && !cr->no_store) {
        /* The client's range at once from the origin; the whole object
         * fills once, in the background. */
        cr->status = CS_MISS;
        cr->fwd = "uri-miss";
        cr->detail = "range-fill-in-background";
        weir_cache_refresh(cr);
        weir_cache_forward(cr, 0);
        return;
    }
    cr->status = cr->obj.fd >= 0 ? CS_EXPIRED : CS_MISS;
    cr->fwd = cr->obj.fd < 0 ? "uri-miss"
              : cr->req_cc.no_cache ? "request" : "stale";
    if (cache->idx == NULL) {
        weir_cache_forward(cr, 0);      /* no fill without the lock */
        return;
    }
    weir_cache_lock_of(cr, cr->lock);
    if (cr->obj.fd < 0 && !cr->internal && !seen_enough(cr)) {
        cr->detail = "min-uses";
        weir_cache_forward(cr, 0);
        return;
    }
    rc = weir_cache_index_fill_begin(cache->idx, cr->lock, self,
                                     weir_current_wall_msec,
                                     (int64_t) cache->conf->lock_timeout, &e);
    if (rc == WEIR_OK) {
        cr->locked = 1;
        cr->fill_id = e.fill_id;
        weir_cache_forward(cr, !cr->no_store);
        return;
    }
    if (rc == WEIR_BUSY && cr->internal) {
        /* Another refresh of this key is under way: nothing to do. */
        r->status = 204;
        r->content_length = 0;
        weir_http_send_response(r);
        return;
    }
    if (rc == WEIR_BUSY && cr->restarts < 2) {
        weir_cache_wait(cr, &e);
        return;
    }
    if (rc == WEIR_ERROR) {
        weir_cache_error(cache, r, WEIR_CACHE_OP_INDEX, 0,
                         "index full (max_objects)", cache->conf->name);
    }
    weir_cache_forward(cr, 0);
}

void
weir_cache_lock_of(cache_req_t *cr, uint8_t *out)
{
    memcpy(out, cr->stub.fd >= 0 ? cr->digest : cr->primary,
           WEIR_CACHE_DIGEST_LEN);
}

_Atomic int32_t *
weir_cache_waiting(cache_req_t *cr)
{
    uint64_t h;

    memcpy(&h, cr->lock, sizeof(h));
    return &cr->cache->waiting[h % WAIT_BUCKETS];
}

/* min_uses: count this request for its key; 1 once it was asked for
 * often enough to be stored. */
static int
seen_enough(cache_req_t *cr)
{
    cache_seen_t *b;
    uint32_t      now = (uint32_t) weir_cache_now(), stamp, n;
    uint64_t      h;

    if (cr->cache->seen == NULL || cr->cache->conf->min_uses <= 1) {
        return 1;
    }
    memcpy(&h, cr->lock, sizeof(h));
    b = &cr->cache->seen[h % SEEN_BUCKETS];
    stamp = atomic_exchange_explicit(&b->stamp, now, memory_order_relaxed);
    if (now - stamp > (uint32_t) (cr->cache->conf->inactive / 1000)) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
    }
    n = atomic_fetch_add_explicit(&b->count, 1, memory_order_relaxed) + 1;
    return n >= (uint32_t) cr->cache->conf->min_uses;
}

void
weir_cache_forward(cache_req_t *cr, int fill)
{
    if (cr->status == CS_MISS) {
        weir_stat_add(&CSLOT(cr->cache)->misses, 1);
    } else if (cr->status == CS_EXPIRED) {
        weir_stat_add(&CSLOT(cr->cache)->expired, 1);
    }
    weir_cache_observe(cr, fill);
    weir_proxy_handle_observed(cr->r, &cr->obs);
}
