/*
 * The shared-memory segment (DESIGN §2): one MAP_SHARED|MAP_ANONYMOUS
 * mapping created by the master before the first fork, carved by a small
 * slab allocator whose whole state lives inside the segment, so any
 * process of the family may allocate and free.
 *
 * - Allocations are carved from 4 KiB allocator pages: requests up to a
 *   page use power-of-two size classes (16, 32, ... 4096 bytes), each
 *   object aligned to its class size; larger requests get runs of whole
 *   pages (page aligned).
 * - Shared structures store offsets (weir_shm_off_t), never pointers: the
 *   segment is mapped before fork so addresses are equal in all children
 *   today, but offsets keep the layout valid if a binary upgrade maps the
 *   same memory at another address. Offset 0 is the segment header, so it
 *   doubles as the NULL offset.
 * - Named zones give state keyed by name ("upstream:app") that survives a
 *   reload: the master keeps the segment across reloads.
 * - The allocator is guarded by a robust process-shared mutex. If a process
 *   dies holding it, the next locker rebuilds the allocator's lists from
 *   the page descriptors (which every step leaves walkable) and counts a
 *   recovery; memory the dead process was allocating may leak, nothing
 *   else is lost.
 *
 * weir_shm_t is the mapped segment itself: the handle's address is the
 * segment base, which is why weir_shm_ptr()/weir_shm_off() are inline.
 */
#ifndef WEIR_SHM_H
#define WEIR_SHM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct weir_shm_s weir_shm_t;

/* Byte offset from the segment base; 0 means "none". 32 bits keep shared
 * structures compact, so a segment is at most WEIR_SHM_MAX_SIZE bytes. */
typedef uint32_t weir_shm_off_t;

#define WEIR_SHM_OFF_NULL  ((weir_shm_off_t) 0)
#define WEIR_SHM_PAGE      4096u
#define WEIR_SHM_MIN_SIZE  ((size_t) 64 * 1024)
#define WEIR_SHM_MAX_SIZE  ((size_t) UINT32_MAX + 1 - WEIR_SHM_PAGE)
/* Longest zone name, not counting the NUL. */
#define WEIR_SHM_NAME_MAX  111

/* Map a segment of `size` bytes (WEIR_SHM_MIN_SIZE .. WEIR_SHM_MAX_SIZE,
 * rounded up to a page; the header and the page descriptors take about
 * 1.5% of it) and initialise the allocator.
 * Call in the master before forking. Returns NULL and writes a message
 * into err (errlen bytes, always NUL-terminated when errlen > 0) when the
 * size is too small or too large, or mmap fails. */
weir_shm_t *weir_shm_create(size_t size, char *err, size_t errlen);

/* Unmap the segment in the calling process. Pointers into it become
 * invalid here; other processes keep their mapping. NULL is accepted. */
void weir_shm_destroy(weir_shm_t *shm);

/* Allocate `size` bytes (1 .. the free space) from any process. Returns
 * NULL when size is 0, when no room is left or when the allocator lock is
 * unrecoverable; never aborts. The memory is not zeroed (weir_shm_calloc
 * zeroes it). */
void *weir_shm_alloc(weir_shm_t *shm, size_t size);
void *weir_shm_calloc(weir_shm_t *shm, size_t size);

/* Give back memory from weir_shm_alloc/calloc (any process may free what
 * another allocated). NULL is accepted and returns WEIR_OK. A pointer that
 * is not a live allocation (double free, interior or foreign pointer) is
 * left alone and returns WEIR_ERROR, so a bug cannot corrupt the lists. */
int weir_shm_free(weir_shm_t *shm, void *p);

/* Find the zone called `name`, or create it with `size` zeroed bytes.
 * *created (may be NULL) is set to 1 when this call created the zone and
 * 0 when it already existed. Returns NULL when the name is empty or longer
 * than WEIR_SHM_NAME_MAX, when an existing zone is smaller than `size`
 * (its layout changed: the caller should say a restart is needed), or
 * when there is no room. Size 0 only finds (NULL if the zone does not
 * exist). Zones are never freed; the returned memory is aligned to 64
 * bytes. */
void *weir_shm_zone(weir_shm_t *shm, const char *name, size_t size,
    int *created);

/* Allocator usage, in bytes, at page granularity: `used` counts every
 * allocator page holding at least one live object or run (what a new run
 * cannot have), `total` the pages the segment can hand out. Either pointer
 * may be NULL. */
void weir_shm_stats(weir_shm_t *shm, size_t *used, size_t *total);

/* How many times a process found the allocator lock abandoned by a dead
 * owner and rebuilt the allocator (for a metric and for tests). */
uint64_t weir_shm_recoveries(weir_shm_t *shm);

/* Walk the page descriptors and compare them with the free lists, the
 * per-class lists, the object bitmaps and the used count. WEIR_OK when all
 * agree, WEIR_ERROR otherwise (tests and debug builds). Takes the lock. */
int weir_shm_check(weir_shm_t *shm);

static inline void *
weir_shm_ptr(weir_shm_t *shm, weir_shm_off_t off)
{
    return off == WEIR_SHM_OFF_NULL ? NULL : (char *) shm + off;
}

static inline weir_shm_off_t
weir_shm_off(weir_shm_t *shm, const void *p)
{
    return p == NULL ? WEIR_SHM_OFF_NULL
                     : (weir_shm_off_t) ((const char *) p - (char *) shm);
}

/*
 * Robust process-shared mutex for structures in the segment. Keep critical
 * sections short and never hold one across a system call (STYLE 21).
 *
 * Owner death: when a process dies holding the mutex, the next
 * weir_shm_lock()/weir_shm_trylock() still ACQUIRES it, marks it
 * consistent again and returns WEIR_DONE instead of WEIR_OK. WEIR_DONE
 * therefore means "you hold the lock, but the data it guards may be half
 * updated: validate or reset it before use"; the caller must unlock as
 * usual. Callers that cannot repair anything may treat WEIR_DONE like
 * WEIR_OK, never like a failure (that would leave the lock held forever).
 */
typedef struct weir_shm_mutex_s {
    pthread_mutex_t mutex;
} weir_shm_mutex_t;

/* Initialise a mutex (normally inside the segment, before other processes
 * use it). WEIR_OK, or WEIR_ERROR when pthread refuses the attributes. */
int weir_shm_mutex_init(weir_shm_mutex_t *mx);

/* Release resources; only when no process may use the mutex any more. */
void weir_shm_mutex_destroy(weir_shm_mutex_t *mx);

/* Block until held. WEIR_OK: held. WEIR_DONE: held, the previous owner
 * died (see above). WEIR_ERROR: not held (the mutex is unrecoverable). */
int weir_shm_lock(weir_shm_mutex_t *mx);

/* As weir_shm_lock, but WEIR_BUSY (not held) when another owner holds it. */
int weir_shm_trylock(weir_shm_mutex_t *mx);

/* Release a mutex held by this process (after WEIR_OK or WEIR_DONE). */
void weir_shm_unlock(weir_shm_mutex_t *mx);

/*
 * Counters: plain C11 atomics embedded in callers' shared structs. They
 * must be lock-free to work across processes. Relaxed ordering: a counter
 * is a statistic, not a synchronisation point (use a mutex for that).
 */
#if defined(ATOMIC_LLONG_LOCK_FREE) && ATOMIC_LLONG_LOCK_FREE != 2
#error "weir needs lock-free 64-bit atomics for shared-memory counters"
#endif

typedef _Atomic uint64_t weir_shm_counter_t;

/* Add n; returns the new value. */
static inline uint64_t
weir_shm_counter_add(weir_shm_counter_t *c, uint64_t n)
{
    return atomic_fetch_add_explicit(c, n, memory_order_relaxed) + n;
}

/* Subtract n (gauges such as active connections); returns the new value. */
static inline uint64_t
weir_shm_counter_sub(weir_shm_counter_t *c, uint64_t n)
{
    return atomic_fetch_sub_explicit(c, n, memory_order_relaxed) - n;
}

static inline uint64_t
weir_shm_counter_get(weir_shm_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void
weir_shm_counter_set(weir_shm_counter_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

#endif /* WEIR_SHM_H */
