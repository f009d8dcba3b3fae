/*
 * Internals of the cache runtime shared by src/cache/cache*.c (not a
 * public face). cache.c: entry, lookup, decisions; cache_hit.c: answers
 * from a file; cache_fill.c: the observer that writes a fill;
 * cache_wait.c: requests waiting for another's fill, and background
 * refreshes; cache_purge.c: purge and invalidation.
 */
#ifndef WEIR_CACHE_T_H
#define WEIR_CACHE_T_H

#include <stddef.h>
#include <stdint.h>
#include "cache/cache.h"
#include "cache/cache_file.h"
#include "cache/cache_index.h"
#include "cache/cache_policy.h"
#include "core/stats.h"
#include "event/loop.h"
#include "upstream/proxy.h"

/* Counters in shm ("cachestat:NAME"), one slot per WEIR_STAT_SLOTS. */
typedef struct cache_slot_s {
    _Atomic uint64_t hits, misses, expired, stale, updating, revalidated,
                     bypass, bytes_served, fills, fills_stored,
                     fills_aborted, collapsed, refreshes, purged,
                     invalidated;
    _Atomic uint64_t errors[WEIR_CACHE_OP_MAX];
    _Atomic int64_t  fills_in_flight;
    char             pad[64];
} cache_slot_t;

typedef struct cache_stats_s {
    cache_slot_t slot[WEIR_STAT_SLOTS];
} cache_stats_t;

/* min_uses: how often a key was asked for before it is stored, in shm
 * ("cacheseen:NAME") as counters indexed by the digest. Lock-free: two
 * keys that share a counter are stored a little sooner, never later; a
 * counter older than `inactive` starts again. */
#define SEEN_BUCKETS 65536
typedef struct cache_seen_s {
    _Atomic uint32_t count;
    _Atomic uint32_t stamp;          /* seconds, low 32 bits */
} cache_seen_t;

/* Requests waiting for a fill, counted per digest bucket in shm
 * ("cachewait:NAME"), so a filler whose client left knows to go on when
 * someone, in any worker, waits. A bucket shared by two keys, or left
 * counted by a worker that died, only lets a fill go on that could have
 * stopped. */
#define WAIT_BUCKETS 4096

typedef struct cache_ofe_s cache_ofe_t;     /* cache_ofc.c */
typedef struct cache_ofc_s cache_ofc_t;

/* One [cache] in this worker. */
typedef struct cache_s {
    const weir_cache_conf_t *conf;
    weir_cache_index_t      *idx;     /* NULL: index unavailable */
    cache_stats_t           *st;
    cache_seen_t            *seen;    /* min_uses > 1 */
    _Atomic int32_t         *waiting; /* WAIT_BUCKETS */
    cache_ofc_t             *ofc;     /* NULL: open_files = 0 */
    weir_msec_t              err_logged[WEIR_CACHE_OP_MAX];
} cache_t;

#define CSLOT(cache) (&(cache)->st->slot[weir_stat_slot()])

/* $cache_status values */
enum cache_status {
    CS_NONE = 0, CS_HIT, CS_MISS, CS_EXPIRED, CS_STALE, CS_UPDATING,
    CS_REVALIDATED, CS_BYPASS
};

#define PREFIX_READ 4096    /* first read of a file: header, key, head */
#define PREFIX_MAX  (WEIR_CACHE_KEY_MAX + 65536 + 8192)
/* A fill writes whole blocks at block-aligned offsets (see cache_fill.c) */
#define FILL_BLOCK  (256 * 1024)
#define FILL_LINGER 20      /* ms a partial block waits at most */

/* A stored object opened for a request. */
typedef struct cache_obj_s {
    int              fd;              /* -1: none */
    char            *buf;             /* the prefix read (r->pool, or the
                                         open-file cache's) */
    size_t           len;
    uint64_t         file_size;
    weir_cache_obj_t o;
    cache_ofe_t     *ofe;             /* borrowed from the open-file
                                         cache, which owns fd and buf */
    uint32_t         gen;             /* the index's gen, read before the
                                         open (0: unknown) */
    unsigned         indexed:1;       /* the index had the digest */
} cache_obj_t;

/* The cache's state for one request (r->pool). */
typedef struct cache_req_s {
    weir_request_t        *r;
    cache_t               *cache;
    char                  *key;
    size_t                 key_len;
    uint8_t                primary[WEIR_CACHE_DIGEST_LEN]; /* the key's */
    uint8_t                digest[WEIR_CACHE_DIGEST_LEN]; /* looked up:
                                              the key's or a variant's */
    uint8_t                lock[WEIR_CACHE_DIGEST_LEN];   /* fill lock:
                                              the variant's when a Vary
                                              stub named it, else the
                                              key's (weir_cache_lock_of) */
    cache_obj_t            obj;            /* the object found (fresh or
                                              stale), fd -1 when none */
    cache_obj_t            stub;           /* the Vary stub that led there */
    weir_cache_cc_t        req_cc;
    int                    status;         /* enum cache_status */
    int                    restarts;       /* lookups after a wait */
    const char            *fwd;            /* Cache-Status fwd= */
    const char            *detail;         /* Cache-Status detail= */
    unsigned               no_store:1;     /* no_cache condition */
    unsigned               locked:1;       /* we hold the fill lock */
    unsigned               internal:1;     /* a background refresh */
    unsigned               done:1;
    unsigned               collapsed:1;    /* waited for another's fill */
    unsigned               counted:1;      /* in cache->waiting */

    /* fill */
    weir_proxy_observer_t  obs;
    uint64_t               fill_id;
    int                    fill_fd;        /* -1: not filling */
    char                  *tmp_path;
    char                  *vary;           /* secondary key text */
    size_t                 vary_len;
    char                  *stub_names;     /* a new Vary stub to write */
    size_t                 stub_names_len; /* once the variant is in place */
    uint8_t                final[WEIR_CACHE_DIGEST_LEN]; /* file name */
    weir_cache_hdr_t       hdr;
    char                  *prefix;         /* encoded hdr + key + vary +
                                              head, for the reseal */
    size_t                 prefix_len;
    char                  *wbuf;           /* what the fill has not yet
                                              written (cache_fill.c) */
    size_t                 wbuf_len, wbuf_cap;
    uint64_t               wbuf_off;       /* its file offset */
    weir_event_t           wbuf_ev;        /* writes it out if it waits */
    uint64_t               body_len;
    int64_t                expect_len;     /* Content-Length, -1 */
    int64_t                request_time;

    /* waiting for another's fill */
    weir_event_t           wait_ev;        /* lock_timeout, retries */
    struct cache_req_s    *wnext;
    int                    wd;             /* inotify watch, -1 */

    /* streaming another's fill (cache_stream.c) */
    int                    stream_fd;      /* -1: not streaming */
    off_t                  s_off;          /* next file byte to send */
    const char            *s_head;         /* framing to write first */
    size_t                 s_head_len, s_sent;
    size_t                 s_chunk_left;   /* file bytes of this chunk */
    char                   s_chunk[24];
    unsigned               s_done:1;
    unsigned               round;          /* last inotify event seen */
} cache_req_t;

/* ---- cache.c ---- */
/* The digest whose fill lock a request takes (cr->lock): the variant's
 * once a Vary stub named it, else the key's. */
void weir_cache_lock_of(cache_req_t *cr, uint8_t *out);
/* The waiting counter of cr's key. */
_Atomic int32_t *weir_cache_waiting(cache_req_t *cr);
cache_t *weir_cache_of(const weir_cache_conf_t *k);
size_t ncaches_of(void);
cache_t *weir_cache_at(size_t i);
void weir_cache_error(cache_t *cache, weir_request_t *r, int op, int err,
    const char *what, const char *path);
int64_t weir_cache_now(void);                /* seconds */
int64_t weir_cache_now_ms(void);             /* wall ms, not cached */
int weir_cache_key(cache_req_t *cr, const weir_request_t *r);
/* Look up cr->key: fill cr->obj (fresh or stale) and cr->digest; then
 * decide. Also the restart after a wait. */
void weir_cache_lookup(cache_req_t *cr);
void weir_cache_obj_close(cache_obj_t *o);
/* Go to the origin, filling when we hold the lock. */
void weir_cache_forward(cache_req_t *cr, int fill);
/* Read and check the object at digest: WEIR_OK (o filled), WEIR_DECLINED
 * (no file), WEIR_ERROR (bad file: removed, counted). */
int weir_cache_open(cache_req_t *cr, const uint8_t *digest, cache_obj_t *o);
/* The Vary secondary key of r for the names listed in `names` ("name\n"
 * lines): "name: value\n" lines (r->pool). */
int weir_cache_secondary(weir_request_t *r, const char *names, size_t len,
    char **out, size_t *outlen);
const char *weir_cache_status_name(int status);
/* The same, for the names of a stored secondary key ("name:value\n"
 * lines): what this request's values make of them. */
int weir_cache_secondary_of(weir_request_t *r, const char *vary,
    size_t len, char **out, size_t *outlen);

/* ---- cache_ofc.c ---- */
/* Set up cache->ofc (none when open_files = 0 or without an index). */
int weir_cache_ofc_init(cache_t *cache);
/* Lend o the kept file of digest if it is still the one of gen and cr's
 * key: 1; 0 otherwise (an out-of-date entry is dropped). */
int weir_cache_ofc_get(cache_req_t *cr, const uint8_t *digest, uint32_t gen,
    cache_obj_t *o);
/* Keep o (just opened and read, o->gen known): the cache takes its fd
 * and a copy of its prefix and lends them back to o. */
void weir_cache_ofc_put(cache_req_t *cr, const uint8_t *digest,
    cache_obj_t *o);
/* A borrower is done (weir_cache_obj_close()). */
void weir_cache_ofc_release(cache_ofe_t *e);
/* Files kept open (tests, metrics). */
size_t weir_cache_ofc_count(const cache_t *cache);

/* ---- cache_hit.c ---- */
/* r's response fields from the stored head of cr->obj (but Age). */
int weir_cache_add_stored_head(cache_req_t *cr);
/* Answer from cr->obj (status: CS_HIT, CS_STALE, CS_UPDATING, ...). */
void weir_cache_serve(cache_req_t *cr, int status);
/* The Cache-Status field for what happened. */
void weir_cache_status_header(cache_req_t *cr, int fwd_status,
    int stored);
/* The next field of a stored head ("Name: value\r\n" lines) in
 * [*p, end), trimmed, into h; 0 at the end. */
int weir_cache_head_next(const char **p, const char *end,
    weir_http_header_t *h);
/* The stored head's value of field `name` (NULL: none). */
const char *weir_cache_head_field(const cache_obj_t *o, const char *name,
    size_t *len);

/* ---- cache_fill.c ---- */
/* Set cr->obs for a fetch; fill: write what the origin says to disk. */
void weir_cache_observe(cache_req_t *cr, int fill);
/* Give up the fill lock (not filled). */
void weir_cache_unlock(cache_req_t *cr);

/* ---- cache_wait.c ---- */
/* Wait for the fill described by e (another request's). */
void weir_cache_wait(cache_req_t *cr, const weir_cache_entry_t *e);
/* The request ends while it waits. */
void weir_cache_wait_cancel(cache_req_t *cr);
/* Refresh cr->key in the background through an internal request. */
void weir_cache_refresh(cache_req_t *cr);

/* ---- cache_stream.c ---- */
/* Answer a waiter from the fill's growing file, if its head is there and
 * the request can take a chunked stream: 1 when streaming began. */
int weir_cache_stream_start(cache_req_t *cr);
/* The file grew, the fill ended, or the client can take more. */
void weir_cache_stream_progress(cache_req_t *cr);
/* Finish (ok) or cut the stream. */
void weir_cache_stream_end(cache_req_t *cr, int ok);
/* The cache state of r (NULL: none). */
#define weir_cache_stream_of(r) ((cache_req_t *) (r)->cache)

/* ---- cache_purge.c ---- */
/* A successful unsafe request: forget its URI and Location /
 * Content-Location of the same host. */
void weir_cache_invalidate(cache_req_t *cr);
/* Remove the object file and index entry of digest (a fill in progress
 * is marked not to be published). 1 if there was something. */
int weir_cache_remove(cache_t *cache, const uint8_t *digest);

#endif /* WEIR_CACHE_T_H */
