/*
 * The state of a [limit]: one table per limit in the shared-memory
 * segment, so every worker enforces the same rate and the same count of
 * requests in progress per key (DESIGN §2, §6).
 *
 * - The rate is a leaky bucket counted in milli-requests, as nginx's
 *   limit_req: a key's `excess` drains at `rate` and each request adds
 *   one; above `burst` the request is refused, within it it is delayed
 *   (or not, with nodelay). weir_limit_bucket_take() is that arithmetic
 *   alone, a pure function.
 * - Requests in progress per key: the entry counts them (bounded by
 *   `conn` alone, whatever the table's size), and a "hold" record per
 *   key and process counts how many of them that process index took, so
 *   the master can give back what a dead worker held
 *   (weir_limit_table_proc_gone()). The table has two hold records per
 *   entry: enough for every key to be busy in two workers at once.
 * - A fixed number of entries (`size`), hashed by a 64-bit seeded hash
 *   of the key and kept in least-recently-used order. A new key when all
 *   are in use evicts the least recently used entry that holds no
 *   request in progress (counted in `evictions`). Keys that are busy stay
 *   near the head, so a client churning fresh keys resets only the keys
 *   idle the longest, never the one hammering right now. When the 16
 *   least recently used entries all hold requests, the request cannot be
 *   accounted and is refused (`full`).
 * - One robust mutex per table, held for a hash-chain walk and at most 16
 *   LRU steps, never across a system call. A process that dies holding
 *   it may leave a chain or the LRU list half-linked: the next locker
 *   empties the table (every key starts afresh, `resets` counts it) and
 *   bumps the table's epoch, so releases and refunds that refer to the
 *   old contents become no-ops instead of corrupting the new ones.
 */
#ifndef WEIR_HTTP_LIMIT_TABLE_H
#define WEIR_HTTP_LIMIT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "core/shm.h"

/* Key bytes stored in an entry; longer keys keep their first bytes and
 * are told apart by length and the seeded hash of the whole key. */
#define WEIR_LIMIT_KEY_INLINE 64

/* A rate: n requests per period_ms (1000 for r/s, 60000 for r/m). */
typedef struct weir_limit_rate_s {
    int64_t n;
    int64_t period_ms;
    int64_t burst;        /* requests beyond the rate that may queue */
    int64_t delay;        /* of them, passed at once before pacing starts */
    int     nodelay;      /* pass the whole burst at once */
} weir_limit_rate_t;

/* A key's bucket: requests above the rate as of last_ms (monotonic
 * milliseconds: the clock is the same in every process), in units of
 * 1/period_ms of a request, so that it drains by exactly n units a
 * millisecond. */
typedef struct weir_limit_bucket_s {
    int64_t excess;
    int64_t last_ms;
} weir_limit_bucket_t;

/* Take one request from the bucket at time now. A fresh bucket (fresh
 * != 0) passes at once. WEIR_OK: passes, after *wait_ms (0 with nodelay
 * or when within the rate); the bucket is updated. WEIR_BUSY: over the
 * burst, the bucket is left as it was and *wait_ms says when a request
 * would pass again (rounded up to the millisecond). Paced requests wait
 * only for what exceeds the first `delay` requests beyond the rate. */
int weir_limit_bucket_take(weir_limit_bucket_t *b, int fresh,
    const weir_limit_rate_t *rt, int64_t now, int64_t *wait_ms);

typedef struct weir_limit_table_s weir_limit_table_t;

/* Counters of a limit, shared (relaxed atomics). */
typedef struct weir_limit_counters_s {
    weir_shm_counter_t passed;        /* within the rate, not delayed */
    weir_shm_counter_t delayed;       /* within the burst, paced */
    weir_shm_counter_t rejected;      /* over the burst */
    weir_shm_counter_t exempt;        /* exempt address or empty key */
    weir_shm_counter_t conn_rejected; /* over `conn` in progress */
    weir_shm_counter_t full;          /* could not be accounted */
    weir_shm_counter_t evictions;     /* an entry dropped for a new key */
    weir_shm_counter_t resets;        /* table emptied after a dead owner */
    /* dry_run: what would have been delayed or refused, and was not */
    weir_shm_counter_t dry_run_delayed;
    weir_shm_counter_t dry_run_rejected;
    weir_shm_counter_t dry_run_conn_rejected;
} weir_limit_counters_t;

/* What a passed request took, to give back later. */
typedef struct weir_limit_ref_s {
    uint32_t idx;        /* entry (rate) or hold (conn) index + 1 */
    uint32_t stamp;      /* the entry's reuse stamp (rate) */
    uint32_t version;    /* the bucket's version after the take (rate) */
    uint32_t epoch;      /* the table's epoch when taken */
    int64_t  prev_excess, prev_last, cost;   /* to undo the take (rate) */
    int      prev_fresh;
} weir_limit_ref_t;

/* Bytes a table of `entries` entries needs. */
size_t weir_limit_table_size(uint32_t entries);

/* Lay out a table in zeroed memory of weir_limit_table_size(entries)
 * bytes (shared or not). WEIR_OK, or WEIR_ERROR if the mutex cannot be
 * made. */
int weir_limit_table_init(weir_limit_table_t *t, uint32_t entries,
    uint64_t seed);

/* The table of limit `name` with `entries` entries in the segment: zone
 * "limit:NAME:ENTRIES", created and laid out on first use (a reload that
 * changes the size starts a new table). NULL with a message in err when
 * the segment has no room. Master, before forking. */
weir_limit_table_t *weir_limit_table_attach(weir_shm_t *shm,
    const char *name, uint32_t entries, char *err, size_t errlen);

weir_limit_counters_t *weir_limit_table_counters(weir_limit_table_t *t);

/* Entries in use and requests in progress (for /metrics; unlocked
 * reads). */
uint32_t weir_limit_table_used(weir_limit_table_t *t);
uint32_t weir_limit_table_conns(weir_limit_table_t *t);

/* Rate: take a request for key at now. WEIR_OK passes after *wait_ms
 * (ref says what to refund if a later limit refuses the request);
 * WEIR_BUSY refused, *wait_ms until one would pass; WEIR_ERROR could not
 * be accounted (the table is full of requests in progress, or its lock is
 * unusable). */
int weir_limit_table_rate(weir_limit_table_t *t, const char *key,
    size_t klen, const weir_limit_rate_t *rt, int64_t now, int64_t *wait_ms,
    weir_limit_ref_t *ref);

/* Give back a request weir_limit_table_rate() passed (a later limit
 * refused it): the bucket as it was when nothing drew on it since, else
 * one request less. A no-op if the entry was reused or the table
 * reset. */
void weir_limit_table_refund(weir_limit_table_t *t,
    const weir_limit_ref_t *ref);

/* Requests in progress: take one for key if fewer than max are, on
 * behalf of process index proc. WEIR_OK (release it with
 * weir_limit_table_release()), WEIR_BUSY (max reached), WEIR_ERROR (not
 * accountable, as above), WEIR_DECLINED (the key has its entry but
 * every hold record is in use: more keys busy in several processes at
 * once than the table has records for). */
int weir_limit_table_acquire(weir_limit_table_t *t, const char *key,
    size_t klen, uint32_t max, int proc, int64_t now, weir_limit_ref_t *ref);
void weir_limit_table_release(weir_limit_table_t *t,
    const weir_limit_ref_t *ref);

/* Master, when process index proc died: release everything it held. */
void weir_limit_table_proc_gone(weir_limit_table_t *t, int proc);

/* The table's mutex, for tests that kill its owner. */
weir_shm_mutex_t *weir_limit_table_mutex(weir_limit_table_t *t);

#endif /* WEIR_HTTP_LIMIT_TABLE_H */
