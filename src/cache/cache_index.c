#include "weir_config.h"
#include "cache/cache_index.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "core/str.h"

/*
 * Layout. One zone "cache:NAME" holds the header below and, after it,
 * nslots slots of 80 bytes. Linear probing from home = the digest's first
 * 8 bytes modulo nslots (SHA-256 is uniform, so no further mixing).
 *
 * Sizing. capacity is the most live entries (READY or FILLING) the table
 * takes; past it fill_begin() and insert() fail. nslots = 1.5 capacity,
 * so live entries fill at most 2/3 of the slots. A removed entry leaves a
 * tombstone (probes go on past it, an insert reuses the first one it
 * met); when an insert into an empty slot would bring live + tombstones
 * past max_used (halfway between capacity and nslots, about 0.83 nslots),
 * the table is rebuilt in place first. Unsuccessful probes at the load
 * that triggers a rebuild cost about 18 slots on average, about 5 right
 * after one; a rebuild is O(nslots) and comes after at least nslots/6
 * removals, so it adds a few slot visits per removal. The zone costs
 * 120 bytes per object of capacity (1,048,576 objects: 120 MiB).
 *
 * Crash safety (a process may be SIGKILLed at any instruction while it
 * holds the lock). Each change writes a slot's fields first and its state
 * word last (a release store, so the compiler keeps the order); the
 * counters come after. Whatever instruction a process died at, every slot
 * is then empty, a tombstone or a whole entry, with at worst two whole
 * copies of one entry (a rebuild died between writing the copy and
 * clearing the original), some entries unreachable (a rebuild died after
 * turning tombstones into empty slots), and wrong counters. The next
 * locker gets WEIR_DONE from weir_shm_lock() and runs the rebuild, which
 * repairs all three.
 */
#define INDEX_MAGIC     0x5844494345524957ull   /* "WEIRCIDX" */
#define INDEX_MIN       1024
#define INDEX_MAX       1048576
#define INDEX_BYTES_PER 32768                  /* max_size / this */
/* A capacity whose zone could not be addressed by a 32-bit offset. */
#define INDEX_CAP_LIMIT ((uint64_t) 1 << 25)

#define SLOT_EMPTY      0u
#define SLOT_TOMB       0x80u     /* no READY/FILLING combination */
/* with FILLING: the key was removed (purge, invalidation) during the
 * fill, whose result must not be published */
#define SLOT_REMOVED    0x4u
/* what the API shows of a slot's state */
#define STATE_MASK      (WEIR_CACHE_READY | WEIR_CACHE_FILLING)
#define SLOT_LIVE(st)   ((st) != SLOT_EMPTY && (st) != SLOT_TOMB)

/* Entries copied per lock hold in walk(): 10 KiB of stack, and a lock
 * hold of about a microsecond. */
#define WALK_BATCH      128
/* fill_begin() re-checks after finding a dead filler at most this many
 * times, so two processes cannot make each other loop. */
#define TAKEOVER_TRIES  3

/*
 * Crash points. The unit test compiles this file with
 * WEIR_CACHE_INDEX_FAULT defined to make a process die at point n inside
 * the lock, and checks that the next locker repairs the table; in weir
 * they are empty.
 */
#ifndef WEIR_CACHE_INDEX_FAULT
#define WEIR_CACHE_INDEX_FAULT(n)
#endif

typedef struct slot_s {
    uint8_t          digest[WEIR_CACHE_DIGEST_LEN];
    uint64_t         size;
    int64_t          last_use;
    uint64_t         fill_id;
    int64_t          fill_start;
    uint32_t         uses;
    int32_t          fill_pid;
    _Atomic uint32_t state;       /* written last */
    uint32_t         gen;         /* which file (see index_new_gen) */
} slot_t;

_Static_assert(sizeof(slot_t) == 80, "slot layout");

struct weir_cache_index_s {
    uint64_t          magic;      /* written last at creation */
    uint64_t          capacity;   /* most live entries */
    uint64_t          nslots;
    uint64_t          max_used;   /* live + tombstones before a rebuild */
    /* guarded by lock, recounted after a crash */
    uint64_t          live, tombs, objects, bytes, filling;
    uint64_t          evictions, recoveries, rebuilds, next_fill_id;
    _Atomic int       loaded;
    uint32_t          next_gen;   /* guarded by lock */
    weir_shm_mutex_t  lock;
    slot_t            slots[];
};

static uint64_t index_capacity(const weir_cache_conf_t *k);
static int index_init(weir_cache_index_t *idx, uint64_t capacity);
static int index_lock(weir_cache_index_t *idx);
static uint32_t slot_state(const slot_t *s);
static void slot_set_state(slot_t *s, uint32_t st);
static uint64_t index_home(const weir_cache_index_t *idx,
    const uint8_t *digest);
static slot_t *index_probe(weir_cache_index_t *idx, const uint8_t *digest,
    slot_t **hole);
static void index_account(weir_cache_index_t *idx, const slot_t *s,
    int64_t sign);
static slot_t *index_add(weir_cache_index_t *idx, const slot_t *tmpl,
    uint32_t st);
static void index_drop(weir_cache_index_t *idx, slot_t *s);
static void index_fill_fields(weir_cache_index_t *idx, slot_t *s, pid_t pid,
    int64_t now);
static uint32_t index_new_gen(weir_cache_index_t *idx);
static void index_fill_done(weir_cache_index_t *idx, slot_t *s, int ok,
    uint64_t size, int64_t now);
static void index_rebuild(weir_cache_index_t *idx);
static uint64_t rebuild_pass(weir_cache_index_t *idx, uint64_t start);
static void index_recount(weir_cache_index_t *idx);
static void slot_copy(const slot_t *s, weir_cache_entry_t *e);
static size_t victims_lru(weir_cache_index_t *idx, uint64_t max_size,
    weir_cache_entry_t *heap, size_t max);
static void heap_sift(weir_cache_entry_t *h, size_t n, size_t i);


static uint64_t
index_capacity(const weir_cache_conf_t *k)
{
    int64_t n = k->max_objects;

    if (n <= 0) {
        n = k->max_size / INDEX_BYTES_PER;
        n = weir_max(n, INDEX_MIN);
        n = weir_min(n, INDEX_MAX);
    }
    return (uint64_t) n;
}

static int
index_init(weir_cache_index_t *idx, uint64_t capacity)
{
    struct timespec ts;
    uint64_t        spare;

    idx->magic = 0;
    idx->capacity = capacity;
    idx->nslots = capacity + capacity / 2 + 1;
    /* at least one empty slot always ends a probe */
    spare = (idx->nslots - capacity) / 2;
    idx->max_used = idx->nslots - weir_max(spare, 1);
    idx->live = idx->tombs = idx->objects = idx->bytes = idx->filling = 0;
    idx->evictions = idx->recoveries = idx->rebuilds = 0;
    /* Fill ids name temp files; starting from the clock keeps them apart
     * from a previous run's leftovers (a new segment starts from 0). */
    clock_gettime(CLOCK_REALTIME, &ts);
    idx->next_fill_id = ((uint64_t) ts.tv_sec << 20) + 1;
    idx->next_gen = 1;
    atomic_store(&idx->loaded, 0);
    if (weir_shm_mutex_init(&idx->lock) != WEIR_OK) {
        return WEIR_ERROR;
    }
    idx->magic = INDEX_MAGIC;
    return WEIR_OK;
}

/* err never names the cache: the caller's message does. Private memory
 * (shm NULL) is one calloc()ed block: free(idx) releases it. */
int
weir_cache_index_attach(weir_shm_t *shm, const weir_cache_conf_t *k,
    weir_cache_index_t **out, char *err, size_t errlen)
{
    weir_cache_index_t *idx;
    uint64_t            cap = index_capacity(k);
    size_t              size;
    char                name[WEIR_SHM_NAME_MAX + 1];
    int                 len, created = 0;

    *out = NULL;
    if (cap > INDEX_CAP_LIMIT) {
        weir_str_errf(err, errlen, "max_objects %llu is too large for shared "
                  "memory", (unsigned long long) cap);
        return WEIR_ERROR;
    }
    size = sizeof(*idx) + (size_t) (cap + cap / 2 + 1) * sizeof(slot_t);
    if (shm == NULL) {
        idx = calloc(1, size);
        if (idx == NULL || index_init(idx, cap) != WEIR_OK) {
            free(idx);
            weir_str_errf(err, errlen, "no memory for the index");
            return WEIR_ERROR;
        }
        *out = idx;
        return WEIR_OK;
    }
    len = snprintf(name, sizeof(name), "cache:%s", k->name);
    if (len < 0 || (size_t) len >= sizeof(name)) {
        weir_str_errf(err, errlen, "cache name \"%.40s...\" too long", k->name);
        return WEIR_ERROR;
    }
    idx = weir_shm_zone(shm, name, size, &created);
    if (idx == NULL) {
        /* a smaller zone of that name: the capacity grew */
        idx = weir_shm_zone(shm, name, 0, NULL);
        if (idx == NULL || idx->magic != INDEX_MAGIC) {
            weir_str_errf(err, errlen, "no room in shared memory for an index "
                      "of %llu objects (%zu bytes; raise shm_size or lower "
                      "max_objects)", (unsigned long long) cap, size);
            return WEIR_ERROR;
        }
    } else if (created || idx->magic != INDEX_MAGIC) {
        if (index_init(idx, cap) != WEIR_OK) {
            weir_str_errf(err, errlen, "cannot initialise the index lock");
            return WEIR_ERROR;
        }
    }
    *out = idx;
    if (idx->capacity != cap) {
        weir_str_errf(err, errlen, "the index keeps room for %llu objects, not "
                  "%llu, until a restart", (unsigned long long) idx->capacity,
                  (unsigned long long) cap);
        return WEIR_DONE;
    }
    return WEIR_OK;
}

weir_cache_index_t *
weir_cache_index_find(weir_shm_t *shm, const char *name)
{
    weir_cache_index_t *idx;
    char                zname[WEIR_SHM_NAME_MAX + 1];
    int                 len;

    if (shm == NULL) {
        return NULL;
    }
    len = snprintf(zname, sizeof(zname), "cache:%s", name);
    if (len < 0 || (size_t) len >= sizeof(zname)) {
        return NULL;
    }
    idx = weir_shm_zone(shm, zname, 0, NULL);
    return idx != NULL && idx->magic == INDEX_MAGIC ? idx : NULL;
}

/* Take the lock; after an owner died, repair before use. */
static int
index_lock(weir_cache_index_t *idx)
{
    int rc = weir_shm_lock(&idx->lock);

    if (rc == WEIR_DONE) {
        index_rebuild(idx);
        idx->recoveries++;
        rc = WEIR_OK;
    }
    return rc;
}

static uint32_t
slot_state(const slot_t *s)
{
    return atomic_load_explicit(&s->state, memory_order_relaxed);
}

static void
slot_set_state(slot_t *s, uint32_t st)
{
    atomic_store_explicit(&s->state, st, memory_order_release);
}

static uint64_t
index_home(const weir_cache_index_t *idx, const uint8_t *digest)
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return h % idx->nslots;
}

/* The live slot holding digest, or NULL; then *hole (if hole is not NULL)
 * is where an insert goes: the first tombstone met, else the empty slot
 * that ended the probe (NULL only in a table with no empty slot). */
static slot_t *
index_probe(weir_cache_index_t *idx, const uint8_t *digest, slot_t **hole)
{
    uint64_t i = index_home(idx, digest), n;
    slot_t  *s, *tomb = NULL;
    uint32_t st;

    for (n = 0; n < idx->nslots; n++) {
        s = &idx->slots[i];
        st = slot_state(s);
        if (st == SLOT_EMPTY) {
            tomb = tomb ? tomb : s;
            break;
        }
        if (st == SLOT_TOMB) {
            tomb = tomb ? tomb : s;
        } else if (memcmp(s->digest, digest, WEIR_CACHE_DIGEST_LEN) == 0) {
            return s;
        }
        if (++i == idx->nslots) {
            i = 0;
        }
    }
    if (hole) {
        *hole = tomb;
    }
    return NULL;
}

/* Add (sign 1) or take away (sign -1) what a slot counts for. A change
 * of a live slot is: account(-1), fields, state, account(+1). */
static void
index_account(weir_cache_index_t *idx, const slot_t *s, int64_t sign)
{
    uint32_t st = slot_state(s);

    if (!SLOT_LIVE(st)) {
        return;
    }
    idx->live += (uint64_t) sign;
    if (st & WEIR_CACHE_READY) {
        idx->objects += (uint64_t) sign;
        idx->bytes += (uint64_t) sign * s->size;
    }
    if (st & WEIR_CACHE_FILLING) {
        idx->filling += (uint64_t) sign;
    }
}

/* A new entry from tmpl's fields with state st; the caller checked that
 * the digest is absent. NULL when the table is full. */
static slot_t *
index_add(weir_cache_index_t *idx, const slot_t *tmpl, uint32_t st)
{
    slot_t *s;

    if (idx->live >= idx->capacity) {
        return NULL;
    }
    index_probe(idx, tmpl->digest, &s);
    if (s == NULL
        || (slot_state(s) == SLOT_EMPTY
            && idx->live + idx->tombs + 1 > idx->max_used))
    {
        index_rebuild(idx);
        index_probe(idx, tmpl->digest, &s);
        if (s == NULL) {
            return NULL;
        }
    }
    memcpy(s->digest, tmpl->digest, WEIR_CACHE_DIGEST_LEN);
    s->size = tmpl->size;
    s->last_use = tmpl->last_use;
    s->uses = tmpl->uses;
    s->fill_pid = tmpl->fill_pid;
    s->fill_id = tmpl->fill_id;
    s->fill_start = tmpl->fill_start;
    s->gen = index_new_gen(idx);
    WEIR_CACHE_INDEX_FAULT(1);
    if (slot_state(s) == SLOT_TOMB) {
        idx->tombs--;
    }
    slot_set_state(s, st);
    WEIR_CACHE_INDEX_FAULT(2);
    index_account(idx, s, 1);
    return s;
}

/*
 * Free a live slot (already taken out of the counts). It becomes empty
 * when the next slot is empty, and so do the tombstones right before it:
 * no probe can need to pass them, since any probe that did would meet the
 * empty slot next. Otherwise it becomes a tombstone.
 */
static void
index_drop(weir_cache_index_t *idx, slot_t *s)
{
    uint64_t i = (uint64_t) (s - idx->slots), n;

    if (slot_state(&idx->slots[(i + 1) % idx->nslots]) != SLOT_EMPTY) {
        slot_set_state(s, SLOT_TOMB);
        WEIR_CACHE_INDEX_FAULT(3);
        idx->tombs++;
        return;
    }
    slot_set_state(s, SLOT_EMPTY);
    for (n = 1; n < idx->nslots; n++) {
        i = i == 0 ? idx->nslots - 1 : i - 1;
        if (slot_state(&idx->slots[i]) != SLOT_TOMB) {
            break;
        }
        slot_set_state(&idx->slots[i], SLOT_EMPTY);
        idx->tombs--;
    }
}

static void
index_fill_fields(weir_cache_index_t *idx, slot_t *s, pid_t pid,
    int64_t now)
{
    s->fill_pid = (int32_t) pid;
    s->fill_id = idx->next_fill_id++;
    s->fill_start = now;
}

/*
 * A slot's gen names the file behind it for the open-file caches of the
 * workers (cache_ofc.c): it changes whenever a file may have been put in
 * place for the digest (a new entry, a fill's end, an insert), always
 * after the rename, so a worker that read gen g and then opened the file
 * holds the file of g or a newer one, and the newer one's gen is not g.
 * 32 bits, never 0 (0: unknown): to be taken for another, a gen would
 * have to come round again, after 2^32 publications, while a worker
 * kept the old file without looking at the slot.
 */
static uint32_t
index_new_gen(weir_cache_index_t *idx)
{
    if (idx->next_gen == 0) {
        idx->next_gen = 1;
    }
    return idx->next_gen++;
}

/* End the fill of a FILLING slot: see weir_cache_index_fill_end(). */
static void
index_fill_done(weir_cache_index_t *idx, slot_t *s, int ok, uint64_t size,
    int64_t now)
{
    uint32_t st = slot_state(s);

    index_account(idx, s, -1);
    if (!ok && !(st & WEIR_CACHE_READY)) {
        index_drop(idx, s);
        return;
    }
    if (ok) {
        s->size = size;
        s->last_use = now;
    }
    /* Published, or a refresh that ended otherwise: either way the file
     * may have been renamed over (a filler can die between its rename
     * and this), so whoever keeps the old one open must look again. */
    s->gen = index_new_gen(idx);
    s->fill_pid = 0;
    WEIR_CACHE_INDEX_FAULT(4);
    slot_set_state(s, WEIR_CACHE_READY);
    index_account(idx, s, 1);
}

/*
 * Rebuild in place: tombstones become empty slots, then every entry that
 * an empty slot now separates from its home moves back to the first empty
 * slot of its probe, and a second copy of an entry (left by a crash in
 * the middle of a move) is dropped. Passes repeat until one changes
 * nothing; each move brings an entry strictly closer to its home and each
 * drop removes one, so this ends, and when a pass finds nothing to do,
 * every entry is reachable from its home with no empty slot on the way:
 * exactly what a probe needs. Starting a pass just after an empty slot
 * makes one or two passes the rule. O(nslots x cluster length), memory
 * only: this runs under the lock (insert, and recovery after a crash).
 */
static void
index_rebuild(weir_cache_index_t *idx)
{
    uint64_t i, start = 0;

    for (i = 0; i < idx->nslots; i++) {
        if (slot_state(&idx->slots[i]) == SLOT_TOMB) {
            slot_set_state(&idx->slots[i], SLOT_EMPTY);
            WEIR_CACHE_INDEX_FAULT(5);
        }
    }
    for (i = 0; i < idx->nslots; i++) {
        if (slot_state(&idx->slots[i]) == SLOT_EMPTY) {
            start = i;
            break;
        }
    }
    while (rebuild_pass(idx, start) != 0) {
        /* again until nothing moves */
    }
    index_recount(idx);
    idx->rebuilds++;
}

/* One pass of the rebuild; returns how many slots it changed. */
static uint64_t
rebuild_pass(weir_cache_index_t *idx, uint64_t start)
{
    uint64_t k, j, p, changed = 0;
    slot_t  *s, *t;

    for (k = 1; k <= idx->nslots; k++) {
        j = (start + k) % idx->nslots;
        s = &idx->slots[j];
        if (!SLOT_LIVE(slot_state(s))) {
            continue;
        }
        for (p = index_home(idx, s->digest); p != j;
             p = p + 1 == idx->nslots ? 0 : p + 1)
        {
            t = &idx->slots[p];
            if (slot_state(t) == SLOT_EMPTY) {
                memcpy(t->digest, s->digest, WEIR_CACHE_DIGEST_LEN);
                t->size = s->size;
                t->last_use = s->last_use;
                t->uses = s->uses;
                t->fill_pid = s->fill_pid;
                t->fill_id = s->fill_id;
                t->fill_start = s->fill_start;
                t->gen = s->gen;
                slot_set_state(t, slot_state(s));
                WEIR_CACHE_INDEX_FAULT(6);
                slot_set_state(s, SLOT_EMPTY);
                changed++;
                break;
            }
            if (SLOT_LIVE(slot_state(t))
                && memcmp(t->digest, s->digest, WEIR_CACHE_DIGEST_LEN) == 0)
            {
                slot_set_state(s, SLOT_EMPTY);
                changed++;
                break;
            }
        }
    }
    return changed;
}

static void
index_recount(weir_cache_index_t *idx)
{
    uint64_t i;
    uint32_t st;

    idx->live = idx->tombs = idx->objects = idx->bytes = idx->filling = 0;
    for (i = 0; i < idx->nslots; i++) {
        st = slot_state(&idx->slots[i]);
        if (st == SLOT_TOMB) {
            idx->tombs++;
        }
        index_account(idx, &idx->slots[i], 1);
    }
}

static void
slot_copy(const slot_t *s, weir_cache_entry_t *e)
{
    if (e == NULL) {
        return;
    }
    memcpy(e->digest, s->digest, WEIR_CACHE_DIGEST_LEN);
    e->state = (int) (slot_state(s) & STATE_MASK);
    e->size = s->size;
    e->last_use = s->last_use;
    e->uses = s->uses;
    e->fill_pid = (pid_t) s->fill_pid;
    e->fill_id = s->fill_id;
    e->fill_start = s->fill_start;
    e->gen = s->gen;
}

int
weir_cache_index_lookup(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], int64_t now, int touch,
    weir_cache_entry_t *e)
{
    slot_t *s;
    int     st;

    if (index_lock(idx) != WEIR_OK) {
        return 0;
    }
    s = index_probe(idx, digest, NULL);
    if (s == NULL) {
        weir_shm_unlock(&idx->lock);
        return 0;
    }
    st = (int) (slot_state(s) & STATE_MASK);
    if ((st & WEIR_CACHE_READY) && touch) {
        s->last_use = now;
        s->uses++;
    }
    slot_copy(s, e);
    weir_shm_unlock(&idx->lock);
    return st;
}

/*
 * Whether the filler lives is a kill(pid, 0), a system call, so it is
 * asked with the lock released; the entry is then looked up again, and
 * taken over only if the same fill (pid and fill_id) is still there.
 */
int
weir_cache_index_fill_begin(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], pid_t pid, int64_t now,
    int64_t lock_timeout, weir_cache_entry_t *e)
{
    slot_t   tmpl, *s;
    pid_t    other, dead_pid = 0;
    uint64_t other_id, dead_id = 0;
    uint32_t st;
    int      tries;

    for (tries = 0; ; tries++) {
        if (index_lock(idx) != WEIR_OK) {
            return WEIR_ERROR;
        }
        s = index_probe(idx, digest, NULL);
        if (s == NULL) {
            memset(&tmpl, 0, sizeof(tmpl));
            memcpy(tmpl.digest, digest, WEIR_CACHE_DIGEST_LEN);
            tmpl.last_use = now;
            index_fill_fields(idx, &tmpl, pid, now);
            s = index_add(idx, &tmpl, WEIR_CACHE_FILLING);
            if (s == NULL) {
                weir_shm_unlock(&idx->lock);
                return WEIR_ERROR;
            }
            break;
        }
        st = slot_state(s);
        if (!(st & WEIR_CACHE_FILLING)) {
            index_account(idx, s, -1);
            index_fill_fields(idx, s, pid, now);
            slot_set_state(s, st | WEIR_CACHE_FILLING);
            index_account(idx, s, 1);
            break;
        }
        if (now - s->fill_start > lock_timeout
            || (dead_pid != 0 && s->fill_pid == dead_pid
                && s->fill_id == dead_id))
        {
            /* a takeover starts clean: a purge of the old fill
             * concerned the old fill */
            index_account(idx, s, -1);
            index_fill_fields(idx, s, pid, now);
            slot_set_state(s, slot_state(s) & ~SLOT_REMOVED);
            index_account(idx, s, 1);
            break;
        }
        slot_copy(s, e);
        other = (pid_t) s->fill_pid;
        other_id = s->fill_id;
        weir_shm_unlock(&idx->lock);
        if (tries == TAKEOVER_TRIES
            || (other > 0 && (kill(other, 0) == 0 || errno != ESRCH)))
        {
            return WEIR_BUSY;
        }
        dead_pid = other;
        dead_id = other_id;
    }
    slot_copy(s, e);
    weir_shm_unlock(&idx->lock);
    return WEIR_OK;
}

int
weir_cache_index_fill_end(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], uint64_t fill_id, int ok,
    uint64_t size, int64_t now)
{
    slot_t *s;
    int     rc = WEIR_DECLINED;

    if (index_lock(idx) != WEIR_OK) {
        return WEIR_DECLINED;
    }
    s = index_probe(idx, digest, NULL);
    if (s != NULL && (slot_state(s) & WEIR_CACHE_FILLING)
        && s->fill_id == fill_id)
    {
        if (slot_state(s) & SLOT_REMOVED) {
            ok = 0;     /* purged meanwhile: what it stored must go */
        } else if (ok) {
            rc = WEIR_OK;
        }
        index_fill_done(idx, s, ok, size, now);
    }
    weir_shm_unlock(&idx->lock);
    return rc;
}

int
weir_cache_index_insert(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], uint64_t size,
    int64_t last_use)
{
    slot_t tmpl, *s;
    int    rc = WEIR_OK;

    if (index_lock(idx) != WEIR_OK) {
        return WEIR_ERROR;
    }
    s = index_probe(idx, digest, NULL);
    if (s == NULL) {
        memset(&tmpl, 0, sizeof(tmpl));
        memcpy(tmpl.digest, digest, WEIR_CACHE_DIGEST_LEN);
        tmpl.size = size;
        tmpl.last_use = last_use;
        if (index_add(idx, &tmpl, WEIR_CACHE_READY) == NULL) {
            rc = WEIR_ERROR;
        }
    } else {
        s->gen = index_new_gen(idx);    /* a file may have been put there */
    }
    weir_shm_unlock(&idx->lock);
    return rc;
}

int
weir_cache_index_remove(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN])
{
    slot_t  *s;
    uint32_t st;

    if (index_lock(idx) != WEIR_OK) {
        return 0;
    }
    s = index_probe(idx, digest, NULL);
    if (s == NULL) {
        weir_shm_unlock(&idx->lock);
        return 0;
    }
    st = slot_state(s);
    index_account(idx, s, -1);
    if (st & WEIR_CACHE_FILLING) {
        slot_set_state(s, WEIR_CACHE_FILLING | SLOT_REMOVED);
        index_account(idx, s, 1);
    } else {
        index_drop(idx, s);
    }
    weir_shm_unlock(&idx->lock);
    return (int) (st & STATE_MASK);
}

/*
 * Cost: one pass over every slot for the inactive entries, and when the
 * bytes still exceed max_size a second pass that keeps the `max` oldest
 * in a heap: O(nslots log max), all under the lock. With the largest
 * index (1.5 M slots, 120 MiB) that is some tens of milliseconds during
 * which lookups wait; the manager calls this at most once a second, and
 * only the second pass runs when nothing is inactive.
 */
size_t
weir_cache_index_victims(weir_cache_index_t *idx, int64_t now,
    int64_t inactive, uint64_t max_size, weir_cache_entry_t *out,
    size_t max)
{
    slot_t *s;
    size_t  n = 0;
    uint64_t i;

    if (max == 0 || index_lock(idx) != WEIR_OK) {
        return 0;
    }
    for (i = 0; inactive > 0 && i < idx->nslots && n < max; i++) {
        s = &idx->slots[i];
        if (slot_state(s) == WEIR_CACHE_READY
            && s->last_use < now - inactive)
        {
            slot_copy(s, &out[n++]);
            index_account(idx, s, -1);
            index_drop(idx, s);
            WEIR_CACHE_INDEX_FAULT(7);
            idx->evictions++;
        }
    }
    if (idx->bytes > max_size && n < max) {
        n += victims_lru(idx, max_size, out + n, max - n);
    }
    weir_shm_unlock(&idx->lock);
    return n;
}

/* The oldest READY entries, oldest first, removed while bytes exceed
 * max_size. heap[0..max) is the caller's output; it first holds a
 * max-heap (by last_use) of the `max` oldest seen, then sorted. */
static size_t
victims_lru(weir_cache_index_t *idx, uint64_t max_size,
    weir_cache_entry_t *heap, size_t max)
{
    weir_cache_entry_t tmp;
    slot_t            *s;
    size_t             hn = 0, i, n;
    uint64_t           j;

    for (j = 0; j < idx->nslots; j++) {
        s = &idx->slots[j];
        if (slot_state(s) != WEIR_CACHE_READY) {
            continue;
        }
        if (hn < max) {
            slot_copy(s, &heap[hn++]);
            for (i = hn - 1; i > 0; i = (i - 1) / 2) {   /* sift up */
                if (heap[(i - 1) / 2].last_use >= heap[i].last_use) {
                    break;
                }
                tmp = heap[i];
                heap[i] = heap[(i - 1) / 2];
                heap[(i - 1) / 2] = tmp;
            }
        } else if (s->last_use < heap[0].last_use) {
            slot_copy(s, &heap[0]);
            heap_sift(heap, hn, 0);
        }
    }
    for (i = hn; i > 1; i--) {        /* heap sort: oldest first */
        tmp = heap[0];
        heap[0] = heap[i - 1];
        heap[i - 1] = tmp;
        heap_sift(heap, i - 1, 0);
    }
    for (n = 0; n < hn && idx->bytes > max_size; n++) {
        s = index_probe(idx, heap[n].digest, NULL);
        if (s != NULL) {
            index_account(idx, s, -1);
            index_drop(idx, s);
            idx->evictions++;
        }
    }
    return n;
}

/* Restore the max-heap property below i in h[0..n). */
static void
heap_sift(weir_cache_entry_t *h, size_t n, size_t i)
{
    weir_cache_entry_t tmp;
    size_t             c;

    while ((c = 2 * i + 1) < n) {
        if (c + 1 < n && h[c + 1].last_use > h[c].last_use) {
            c++;
        }
        if (h[i].last_use >= h[c].last_use) {
            return;
        }
        tmp = h[i];
        h[i] = h[c];
        h[c] = tmp;
        i = c;
    }
}

/*
 * A batch is copied under the lock and handed to fn without it, so fn
 * may take as long as it likes (the loader stat()s files). An entry added
 * or removed meanwhile may or may not be seen, and a rebuild (which moves
 * entries) between two batches may show one twice or not at all: fine
 * for its users, which reconcile with the disk anyway.
 */
void
weir_cache_index_walk(weir_cache_index_t *idx,
    int (*fn)(void *ctx, const weir_cache_entry_t *e), void *ctx)
{
    weir_cache_entry_t batch[WALK_BATCH];
    uint64_t           pos = 0;
    size_t             i, n;

    while (pos < idx->nslots) {
        if (index_lock(idx) != WEIR_OK) {
            return;
        }
        for (n = 0; pos < idx->nslots && n < WALK_BATCH; pos++) {
            if (SLOT_LIVE(slot_state(&idx->slots[pos]))) {
                slot_copy(&idx->slots[pos], &batch[n++]);
            }
        }
        weir_shm_unlock(&idx->lock);
        for (i = 0; i < n; i++) {
            if (fn(ctx, &batch[i]) != 0) {
                return;
            }
        }
    }
}

/* The master's reap(): a full scan, memory only, once per dead process. */
/* In batches, so that fn (which unlinks files) runs outside the lock. */
void
weir_cache_index_proc_gone(weir_cache_index_t *idx, pid_t pid,
    void (*fn)(void *ctx, const weir_cache_entry_t *e), void *ctx)
{
    weir_cache_entry_t batch[64];
    slot_t            *s;
    uint64_t           i;
    size_t             n, k;

    if (pid <= 0) {
        return;
    }
    do {
        if (index_lock(idx) != WEIR_OK) {
            return;
        }
        n = 0;
        for (i = 0; i < idx->nslots && n < weir_nelems(batch); i++) {
            s = &idx->slots[i];
            if ((slot_state(s) & WEIR_CACHE_FILLING)
                && s->fill_pid == (int32_t) pid)
            {
                slot_copy(s, &batch[n++]);
                index_fill_done(idx, s, 0, 0, 0);
            }
        }
        weir_shm_unlock(&idx->lock);
        for (k = 0; fn && k < n; k++) {
            fn(ctx, &batch[k]);
        }
    } while (n == weir_nelems(batch));
}

void
weir_cache_index_stats(weir_cache_index_t *idx,
    weir_cache_index_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->capacity = idx->capacity;
    st->loaded = atomic_load(&idx->loaded);
    if (index_lock(idx) != WEIR_OK) {
        return;
    }
    st->objects = idx->objects;
    st->bytes = idx->bytes;
    st->filling = idx->filling;
    st->evictions = idx->evictions;
    st->recoveries = idx->recoveries;
    weir_shm_unlock(&idx->lock);
}

void
weir_cache_index_set_loaded(weir_cache_index_t *idx, int loaded)
{
    atomic_store(&idx->loaded, loaded);
}
