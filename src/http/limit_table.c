#include "weir_config.h"
#include "http/limit_table.h"

#include <stdio.h>
#include <string.h>
#include "core/random.h"
#include "core/str.h"

/*
 * Layout of a table (all indices are index + 1, 0 meaning none, so a
 * zeroed table is empty):
 *
 *   header | buckets[nbuckets] (uint32 heads) | entries[cap]
 *          | holds[nholds]
 *
 * Everything but the counters is changed under the table's mutex only.
 * The counters and `used`/`conns` are atomics so /metrics reads them
 * without the lock.
 */

/* Hold records per entry. A record counts the requests in progress of
 * one key in one process, so a key needs one per worker serving it,
 * however many requests it has in progress (those are bounded by `conn`
 * alone). Two per entry: every key busy in two workers at once. */
#define HOLDS_PER_ENTRY 2

/* How far from the LRU tail a new key looks for an entry it may evict
 * (one that holds no request in progress). Bounds the time under the
 * lock; past it the table counts as full. */
#define EVICT_SCAN 16

typedef struct limit_entry_s {
    uint64_t hash;
    uint32_t next;          /* hash chain */
    uint32_t lru_prev;      /* towards the most recently used */
    uint32_t lru_next;      /* towards the least recently used */
    uint32_t stamp;         /* bumped each time the entry is reused */
    int64_t  excess;
    int64_t  last_ms;
    uint32_t version;       /* bumped by every change of the bucket */
    uint32_t conns;         /* requests in progress */
    uint32_t holds;         /* its hold records, chained through next */
    uint32_t klen;          /* the whole key's length */
    uint8_t  fresh;         /* no request has touched the bucket yet */
    char     key[WEIR_LIMIT_KEY_INLINE];
} limit_entry_t;

/* The requests in progress one process has for one entry, so that the
 * master can give back a dead worker's (weir_limit_table_proc_gone()). */
typedef struct limit_hold_s {
    uint32_t entry;         /* 0: free */
    int32_t  proc;
    uint32_t count;
    uint32_t next;          /* the entry's next record, or the next free */
} limit_hold_t;

struct weir_limit_table_s {
    weir_shm_mutex_t      lock;
    uint32_t              cap;
    uint32_t              nbuckets;    /* a power of two >= cap */
    uint32_t              nholds;      /* cap * HOLDS_PER_ENTRY */
    uint32_t              epoch;
    uint32_t              lru_head, lru_tail;
    uint32_t              free_entry;  /* chained through lru_next */
    uint32_t              free_hold;
    uint64_t              seed;
    _Atomic uint32_t      used;
    _Atomic uint32_t      conns;
    weir_limit_counters_t counters;
} __attribute__((aligned(64)));

static uint32_t buckets_for(uint32_t entries);
static uint32_t *table_buckets(weir_limit_table_t *t);
static limit_entry_t *table_entries(weir_limit_table_t *t);
static limit_hold_t *table_holds(weir_limit_table_t *t);
static void table_empty(weir_limit_table_t *t);
static int table_lock(weir_limit_table_t *t);
static uint64_t key_hash(uint64_t seed, const char *key, size_t len);
static uint32_t entry_find(weir_limit_table_t *t, uint64_t h,
    const char *key, size_t klen);
static void lru_unlink(weir_limit_table_t *t, uint32_t i);
static void lru_push(weir_limit_table_t *t, uint32_t i);
static void chain_unlink(weir_limit_table_t *t, uint32_t i);
static uint32_t entry_take(weir_limit_table_t *t, uint64_t h,
    const char *key, size_t klen);
static uint32_t entry_get(weir_limit_table_t *t, const char *key,
    size_t klen);
static void hold_drop(weir_limit_table_t *t, uint32_t hi, uint32_t n);

int
weir_limit_bucket_take(weir_limit_bucket_t *b, int fresh,
    const weir_limit_rate_t *rt, int64_t now, int64_t *wait_ms)
{
    /* Units: one request is period_ms units and the bucket drains n
     * units a millisecond, so every step is exact in integers (1r/m and
     * 7r/s included) and a wait is units / n milliseconds. */
    int64_t cost = rt->period_ms, elapsed, e, over;

    *wait_ms = 0;
    if (fresh) {
        b->excess = 0;
        b->last_ms = now;
        return WEIR_OK;
    }
    elapsed = now - b->last_ms;
    if (elapsed < 0) {
        elapsed = 0;
    }
    /* A bucket idle for (burst + 2) periods is empty whatever its past:
     * cap elapsed there so the product below cannot overflow. */
    if (elapsed > rt->period_ms * (rt->burst + 2)) {
        elapsed = rt->period_ms * (rt->burst + 2);
    }
    e = b->excess - elapsed * rt->n + cost;
    if (e < 0) {
        e = 0;
    }
    over = e - rt->burst * cost;
    if (over > 0) {
        *wait_ms = (over + rt->n - 1) / rt->n;
        return WEIR_BUSY;
    }
    b->excess = e;
    b->last_ms = now;
    if (!rt->nodelay && e > rt->delay * cost) {
        *wait_ms = (e - rt->delay * cost + rt->n - 1) / rt->n;
    }
    return WEIR_OK;
}

static uint32_t
buckets_for(uint32_t entries)
{
    uint32_t n = 16;

    while (n < entries && n < (1u << 30)) {
        n <<= 1;
    }
    return n;
}

size_t
weir_limit_table_size(uint32_t entries)
{
    return sizeof(weir_limit_table_t)
           + (size_t) buckets_for(entries) * sizeof(uint32_t)
           + (size_t) entries * (sizeof(limit_entry_t)
                                 + HOLDS_PER_ENTRY * sizeof(limit_hold_t));
}

static uint32_t *
table_buckets(weir_limit_table_t *t)
{
    return (uint32_t *) (void *) (t + 1);
}

static limit_entry_t *
table_entries(weir_limit_table_t *t)
{
    return (limit_entry_t *) (void *) (table_buckets(t) + t->nbuckets);
}

static limit_hold_t *
table_holds(weir_limit_table_t *t)
{
    return (limit_hold_t *) (void *) (table_entries(t) + t->cap);
}

/* Everything free, counters kept. Under the lock (or before sharing). */
static void
table_empty(weir_limit_table_t *t)
{
    limit_entry_t *e = table_entries(t);
    limit_hold_t  *h = table_holds(t);
    uint32_t       i;

    memset(table_buckets(t), 0, (size_t) t->nbuckets * sizeof(uint32_t));
    memset(e, 0, (size_t) t->cap * sizeof(*e));
    memset(h, 0, (size_t) t->nholds * sizeof(*h));
    for (i = 0; i < t->cap; i++) {
        e[i].lru_next = i + 2 <= t->cap ? i + 2 : 0;
    }
    for (i = 0; i < t->nholds; i++) {
        h[i].next = i + 2 <= t->nholds ? i + 2 : 0;
    }
    t->free_entry = t->cap ? 1 : 0;
    t->free_hold = t->nholds ? 1 : 0;
    t->lru_head = t->lru_tail = 0;
    t->epoch++;
    atomic_store_explicit(&t->used, 0, memory_order_relaxed);
    atomic_store_explicit(&t->conns, 0, memory_order_relaxed);
}

int
weir_limit_table_init(weir_limit_table_t *t, uint32_t entries, uint64_t seed)
{
    if (weir_shm_mutex_init(&t->lock) != WEIR_OK) {
        return WEIR_ERROR;
    }
    t->cap = entries;
    t->nbuckets = buckets_for(entries);
    t->nholds = entries * HOLDS_PER_ENTRY;
    t->seed = seed;
    table_empty(t);
    return WEIR_OK;
}

weir_limit_table_t *
weir_limit_table_attach(weir_shm_t *shm, const char *name, uint32_t entries,
    char *err, size_t errlen)
{
    char                zone[WEIR_SHM_NAME_MAX + 1];
    weir_limit_table_t *t;
    int                 created = 0, n;

    n = snprintf(zone, sizeof(zone), "limit:%s:%u", name, entries);
    if (n < 0 || (size_t) n >= sizeof(zone)) {
        weir_str_errf(err, errlen, "limit \"%s\": name too long", name);
        return NULL;
    }
    t = weir_shm_zone(shm, zone, weir_limit_table_size(entries), &created);
    if (t == NULL) {
        weir_str_errf(err, errlen, "no room in shared memory for limit "
                      "\"%s\" (%zu bytes for size = %u; raise shm_size)",
                      name, weir_limit_table_size(entries), entries);
        return NULL;
    }
    if (created && weir_limit_table_init(t, entries, weir_random()) != WEIR_OK)
    {
        weir_str_errf(err, errlen, "limit \"%s\": cannot create its mutex",
                      name);
        return NULL;
    }
    return t;
}

weir_limit_counters_t *
weir_limit_table_counters(weir_limit_table_t *t)
{
    return &t->counters;
}

uint32_t
weir_limit_table_used(weir_limit_table_t *t)
{
    return atomic_load_explicit(&t->used, memory_order_relaxed);
}

uint32_t
weir_limit_table_conns(weir_limit_table_t *t)
{
    return atomic_load_explicit(&t->conns, memory_order_relaxed);
}

weir_shm_mutex_t *
weir_limit_table_mutex(weir_limit_table_t *t)
{
    return &t->lock;
}

/* WEIR_OK held; WEIR_ERROR not held. A dead owner may have left a chain
 * or the LRU list half-linked: start the table afresh rather than walk
 * it. */
static int
table_lock(weir_limit_table_t *t)
{
    int rc = weir_shm_lock(&t->lock);

    if (rc == WEIR_DONE) {
        table_empty(t);
        weir_shm_counter_add(&t->counters.resets, 1);
        return WEIR_OK;
    }
    return rc == WEIR_OK ? WEIR_OK : WEIR_ERROR;
}

/* A 64-bit hash mixed with the table's random seed, so that a client
 * cannot choose keys that pile into one chain. Eight bytes at a time,
 * each multiplied and folded in, then a final avalanche. */
static uint64_t
key_hash(uint64_t seed, const char *key, size_t len)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    uint64_t       h = seed ^ (len * m), k;
    size_t         i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&k, key + i, 8);
        k *= m;
        k ^= k >> 47;
        k *= m;
        h ^= k;
        h *= m;
    }
    if (i < len) {
        k = 0;
        memcpy(&k, key + i, len - i);
        h ^= k;
        h *= m;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t
entry_find(weir_limit_table_t *t, uint64_t h, const char *key, size_t klen)
{
    limit_entry_t *e = table_entries(t);
    uint32_t       i = table_buckets(t)[h & (t->nbuckets - 1)];
    size_t         cmp = klen < WEIR_LIMIT_KEY_INLINE ? klen
                                                     : WEIR_LIMIT_KEY_INLINE;

    while (i) {
        limit_entry_t *x = &e[i - 1];
        if (x->hash == h && x->klen == klen && memcmp(x->key, key, cmp) == 0) {
            return i;
        }
        i = x->next;
    }
    return 0;
}

static void
lru_unlink(weir_limit_table_t *t, uint32_t i)
{
    limit_entry_t *e = table_entries(t), *x = &e[i - 1];

    if (x->lru_prev) {
        e[x->lru_prev - 1].lru_next = x->lru_next;
    } else {
        t->lru_head = x->lru_next;
    }
    if (x->lru_next) {
        e[x->lru_next - 1].lru_prev = x->lru_prev;
    } else {
        t->lru_tail = x->lru_prev;
    }
    x->lru_prev = x->lru_next = 0;
}

static void
lru_push(weir_limit_table_t *t, uint32_t i)
{
    limit_entry_t *e = table_entries(t), *x = &e[i - 1];

    x->lru_prev = 0;
    x->lru_next = t->lru_head;
    if (t->lru_head) {
        e[t->lru_head - 1].lru_prev = i;
    } else {
        t->lru_tail = i;
    }
    t->lru_head = i;
}

static void
chain_unlink(weir_limit_table_t *t, uint32_t i)
{
    limit_entry_t *e = table_entries(t);
    uint32_t      *p = &table_buckets(t)[e[i - 1].hash & (t->nbuckets - 1)];

    while (*p && *p != i) {
        p = &e[*p - 1].next;
    }
    if (*p == i) {
        *p = e[i - 1].next;
    }
    e[i - 1].next = 0;
}

/* A new entry for key: a free one, else the least recently used one that
 * holds no request (looking at most EVICT_SCAN from the tail). 0 when
 * there is none. */
static uint32_t
entry_take(weir_limit_table_t *t, uint64_t h, const char *key, size_t klen)
{
    limit_entry_t *e = table_entries(t), *x;
    uint32_t       i = t->free_entry, n;

    if (i) {
        t->free_entry = e[i - 1].lru_next;
        atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed);
    } else {
        for (i = t->lru_tail, n = 0; i && n < EVICT_SCAN;
             i = e[i - 1].lru_prev, n++) {
            if (e[i - 1].conns == 0) {
                break;
            }
        }
        if (i == 0 || n == EVICT_SCAN) {
            return 0;
        }
        chain_unlink(t, i);
        lru_unlink(t, i);
        weir_shm_counter_add(&t->counters.evictions, 1);
    }
    x = &e[i - 1];
    x->hash = h;
    x->klen = (uint32_t) klen;
    memcpy(x->key, key, klen < sizeof(x->key) ? klen : sizeof(x->key));
    x->excess = 0;
    x->last_ms = 0;
    x->conns = 0;
    x->holds = 0;
    x->fresh = 1;
    x->version = 0;
    x->stamp++;
    x->next = table_buckets(t)[h & (t->nbuckets - 1)];
    table_buckets(t)[h & (t->nbuckets - 1)] = i;
    lru_push(t, i);
    return i;
}

/* The entry for key, made most recently used, or a new one. */
static uint32_t
entry_get(weir_limit_table_t *t, const char *key, size_t klen)
{
    uint64_t h = key_hash(t->seed, key, klen);
    uint32_t i = entry_find(t, h, key, klen);

    if (i) {
        lru_unlink(t, i);
        lru_push(t, i);
        return i;
    }
    return entry_take(t, h, key, klen);
}

/* Lock the table and get key's entry (1-based index in *idx). Returns
 * the entry with the lock held, or NULL with it released (a lock that
 * failed, or no entry free). */
static limit_entry_t *
entry_locked(weir_limit_table_t *t, const char *key, size_t klen,
    uint32_t *idx)
{
    if (table_lock(t) != WEIR_OK) {
        return NULL;
    }
    *idx = entry_get(t, key, klen);
    if (*idx == 0) {
        weir_shm_unlock(&t->lock);
        return NULL;
    }
    return &table_entries(t)[*idx - 1];
}

int
weir_limit_table_rate(weir_limit_table_t *t, const char *key, size_t klen,
    const weir_limit_rate_t *rt, int64_t now, int64_t *wait_ms,
    weir_limit_ref_t *ref)
{
    weir_limit_bucket_t b;
    limit_entry_t      *x;
    uint32_t            i;
    int                 rc;

    *wait_ms = 0;
    x = entry_locked(t, key, klen, &i);
    if (x == NULL) {
        return WEIR_ERROR;
    }
    b.excess = x->excess;
    b.last_ms = x->last_ms;
    rc = weir_limit_bucket_take(&b, x->fresh, rt, now, wait_ms);
    if (rc == WEIR_OK) {
        ref->prev_excess = x->excess;
        ref->prev_last = x->last_ms;
        ref->prev_fresh = x->fresh;
        ref->cost = rt->period_ms;
        x->excess = b.excess;
        x->last_ms = b.last_ms;
        x->fresh = 0;
        x->version++;
        ref->idx = i;
        ref->stamp = x->stamp;
        ref->version = x->version;
        ref->epoch = t->epoch;
    }
    weir_shm_unlock(&t->lock);
    return rc;
}

void
weir_limit_table_refund(weir_limit_table_t *t, const weir_limit_ref_t *ref)
{
    limit_entry_t *x;

    if (ref->idx == 0 || table_lock(t) != WEIR_OK) {
        return;
    }
    if (ref->epoch == t->epoch && ref->idx <= t->cap) {
        x = &table_entries(t)[ref->idx - 1];
        if (x->stamp == ref->stamp && x->version == ref->version) {
            /* Nothing drew on the key since: as if it never came. */
            x->excess = ref->prev_excess;
            x->last_ms = ref->prev_last;
            x->fresh = ref->prev_fresh;
            x->version++;
        } else if (x->stamp == ref->stamp) {
            x->excess = x->excess > ref->cost ? x->excess - ref->cost : 0;
            x->version++;
        }
    }
    weir_shm_unlock(&t->lock);
}

int
weir_limit_table_acquire(weir_limit_table_t *t, const char *key,
    size_t klen, uint32_t max, int proc, int64_t now, weir_limit_ref_t *ref)
{
    limit_hold_t  *holds = table_holds(t);
    limit_entry_t *x;
    uint32_t       i, hi;

    (void) now;
    x = entry_locked(t, key, klen, &i);
    if (x == NULL) {
        return WEIR_ERROR;
    }
    if (x->conns >= max) {
        weir_shm_unlock(&t->lock);
        return WEIR_BUSY;
    }
    /* This process's record for the key, else a new one. */
    for (hi = x->holds; hi && holds[hi - 1].proc != proc;
         hi = holds[hi - 1].next) {
        /* a record of another process */
    }
    if (hi == 0) {
        hi = t->free_hold;
        if (hi == 0) {
            weir_shm_unlock(&t->lock);
            return WEIR_DECLINED;
        }
        t->free_hold = holds[hi - 1].next;
        holds[hi - 1].entry = i;
        holds[hi - 1].proc = proc;
        holds[hi - 1].count = 0;
        holds[hi - 1].next = x->holds;
        x->holds = hi;
    }
    /* The record's count first, then the key's: a death between the two
     * (it holds the lock) empties the table anyway. */
    holds[hi - 1].count++;
    x->conns++;
    atomic_fetch_add_explicit(&t->conns, 1, memory_order_relaxed);
    ref->idx = hi;
    ref->stamp = 0;
    ref->epoch = t->epoch;
    weir_shm_unlock(&t->lock);
    return WEIR_OK;
}

/* Under the lock: give back n requests of hold record hi (all of them
 * when n is 0); a record left with none goes back to the free list. */
static void
hold_drop(weir_limit_table_t *t, uint32_t hi, uint32_t n)
{
    limit_hold_t  *holds = table_holds(t), *h = &holds[hi - 1];
    limit_entry_t *x;
    uint32_t      *p;

    if (h->entry == 0 || h->entry > t->cap) {
        return;
    }
    x = &table_entries(t)[h->entry - 1];
    if (n == 0 || n > h->count) {
        n = h->count;
    }
    h->count -= n;
    n = n < x->conns ? n : x->conns;
    x->conns -= n;
    atomic_fetch_sub_explicit(&t->conns, n, memory_order_relaxed);
    if (h->count > 0) {
        return;
    }
    for (p = &x->holds; *p && *p != hi; p = &holds[*p - 1].next) {
        /* walk to the link that names hi */
    }
    if (*p == hi) {
        *p = h->next;
    }
    h->entry = 0;
    h->proc = 0;
    h->next = t->free_hold;
    t->free_hold = hi;
}

void
weir_limit_table_release(weir_limit_table_t *t, const weir_limit_ref_t *ref)
{
    if (ref->idx == 0 || table_lock(t) != WEIR_OK) {
        return;
    }
    if (ref->epoch == t->epoch && ref->idx <= t->nholds) {
        hold_drop(t, ref->idx, 1);
    }
    weir_shm_unlock(&t->lock);
}

void
weir_limit_table_proc_gone(weir_limit_table_t *t, int proc)
{
    limit_hold_t *h = table_holds(t);
    uint32_t      i;

    if (table_lock(t) != WEIR_OK) {
        return;
    }
    for (i = 0; i < t->nholds; i++) {
        if (h[i].entry && h[i].proc == proc) {
            hold_drop(t, i + 1, 0);
        }
    }
    weir_shm_unlock(&t->lock);
}
