/*
 * The shared disk cache's runtime in a worker (DESIGN §5): the handler of
 * proxy routes with `cache =`, which answers from the cache, fills it
 * from the proxied response (upstream/proxy.h's observer), collapses
 * concurrent misses across workers, serves stale on failure and purges.
 * Storage: cache_file.h; the shared index: cache_index.h; the rules:
 * cache_policy.h.
 */
#ifndef WEIR_CACHE_H
#define WEIR_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "cache/cache_conf.h"
#include "core/shm.h"
#include "http/request.h"

/* Worker start: find each cache's index and statistics in shm. WEIR_OK or
 * WEIR_ERROR (logged). */
int weir_cache_init(weir_shm_t *shm, weir_cache_conf_t **caches, size_t n);

/* The handler of proxy routes: through the cache when the route has one,
 * else weir_proxy_handle(). */
void weir_cache_handle(weir_request_t *r);

/* Operations counted in weir_cache_errors_total{op}. */
enum weir_cache_op {
    WEIR_CACHE_OP_OPEN = 0, WEIR_CACHE_OP_READ, WEIR_CACHE_OP_WRITE,
    WEIR_CACHE_OP_RENAME, WEIR_CACHE_OP_CORRUPT, WEIR_CACHE_OP_INDEX,
    WEIR_CACHE_OP_UNLINK, WEIR_CACHE_OP_MAX
};
const char *weir_cache_op_name(int op);

/* Counters of one cache, summed over workers. */
typedef struct weir_cache_counters_s {
    uint64_t hits, misses, expired, stale, updating, revalidated, bypass;
    uint64_t bytes_served;       /* body bytes sent from cache files */
    uint64_t fills, fills_stored, fills_aborted;
    uint64_t collapsed;          /* requests that waited for a fill */
    uint64_t refreshes;          /* background refreshes started */
    uint64_t purged, invalidated;
    uint64_t errors[WEIR_CACHE_OP_MAX];
    int64_t  fills_in_flight;
} weir_cache_counters_t;

/* For /metrics and /status: the caches this worker knows, their counters
 * and index statistics (objects, bytes, evictions, capacity). */
size_t weir_cache_count(void);
const weir_cache_conf_t *weir_cache_conf(size_t i);
void weir_cache_counters(size_t i, weir_cache_counters_t *out);
struct weir_cache_index_stats_s;
void weir_cache_index_stats_of(size_t i, struct weir_cache_index_stats_s *st);

/* Purge (the admin listener): remove the object of `key` exactly
 * (WEIR_CACHE_PURGE_KEY), every object whose key starts with it (PREFIX)
 * or matches it as a PCRE2 regex (REGEX), in the cache named `cache`
 * (NULL: every cache). `each` is called with every key removed. A
 * prefix or regex purge stops after 2 s of work and sets *incomplete
 * (the rest can be purged by asking again); a regex match that
 * backtracks past a limit is no match. Returns the count, or -1 with err
 * set (a bad regex, an unknown cache). */
enum { WEIR_CACHE_PURGE_KEY = 0, WEIR_CACHE_PURGE_PREFIX,
       WEIR_CACHE_PURGE_REGEX };
long weir_cache_purge(const char *cache, int mode, const char *pattern,
    void (*each)(void *ctx, const char *cache, const char *key,
                 size_t len), void *ctx, int *incomplete, char *err,
    size_t errlen);

#endif /* WEIR_CACHE_H */
