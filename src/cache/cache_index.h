/*
 * The index of one [cache NAME], shared by every worker, the cache
 * manager and the loader through the shm segment (zone "cache:NAME"):
 * digest -> state, size on disk, last use, uses, and the fill in
 * progress. It is what makes collapsing (one fill per key across all
 * workers) and LRU eviction under max_size possible; the files are the
 * truth about content (a worker that finds no entry may still open the
 * file: the loader may not have reached it yet).
 *
 * An open-addressing table of fixed capacity (max_objects) behind one
 * robust process-shared mutex, held for a probe sequence only (no system
 * call inside). Every change is one slot written field by field with the
 * state word last, so a process killed at any instruction leaves at worst
 * a slot that is free, or whole: the next locker (WEIR_DONE from
 * weir_shm_lock()) recounts objects and bytes from the slots.
 *
 * Times are milliseconds of wall clock (weir_current_msec-style epoch ms).
 */
#ifndef WEIR_CACHE_INDEX_H
#define WEIR_CACHE_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cache/cache_conf.h"
#include "cache/cache_file.h"
#include "core/shm.h"

typedef struct weir_cache_index_s weir_cache_index_t;

/* Entry state bits. READY: a complete file is on disk. FILLING: a fill
 * (or a refresh of a READY entry) is in progress by fill_pid. */
#define WEIR_CACHE_READY    0x1
#define WEIR_CACHE_FILLING  0x2

typedef struct weir_cache_entry_s {
    uint8_t   digest[WEIR_CACHE_DIGEST_LEN];
    int       state;          /* 0: not in the index */
    uint64_t  size;           /* bytes on disk (READY) */
    int64_t   last_use;       /* ms */
    uint32_t  uses;
    pid_t     fill_pid;       /* FILLING: who */
    uint64_t  fill_id;        /* FILLING: names the temp file */
    int64_t   fill_start;     /* ms */
    uint32_t  gen;            /* the file's generation: changes whenever
                                 a file may have been put in place for
                                 the digest, after the rename; never 0 */
} weir_cache_entry_t;

typedef struct weir_cache_index_stats_s {
    uint64_t  capacity;       /* slots */
    uint64_t  objects;        /* READY entries */
    uint64_t  bytes;          /* their sizes */
    uint64_t  filling;        /* entries with FILLING */
    uint64_t  evictions;      /* removed by the manager */
    uint64_t  recoveries;     /* lock found abandoned by a dead process */
    int       loaded;         /* the loader finished */
} weir_cache_index_stats_t;

/* Master, at load and reload: find or create the index of k (capacity
 * k->max_objects). A reload keeps an existing index and its entries; a
 * changed capacity keeps the old one (restart to apply) and says so in
 * err with WEIR_DONE. WEIR_OK, WEIR_DONE, or WEIR_ERROR (no room in the
 * segment: err says so). shm NULL: private memory (unit tests). */
int weir_cache_index_attach(weir_shm_t *shm, const weir_cache_conf_t *k,
    weir_cache_index_t **out, char *err, size_t errlen);

/* Worker / manager: the index attached by the master, or NULL. */
weir_cache_index_t *weir_cache_index_find(weir_shm_t *shm, const char *name);

/* Look the digest up. Found (state != 0): *e is filled; when READY and
 * `touch`, last_use = now and uses + 1. Returns the state (0: absent). */
int weir_cache_index_lookup(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], int64_t now, int touch,
    weir_cache_entry_t *e);

/* Become the one filler of digest (collapsing).
 *   WEIR_OK    the caller fills: FILLING set with pid, a fresh fill_id
 *              and fill_start = now (*e filled). A FILLING entry whose
 *              filler is dead (kill(pid, 0) fails with ESRCH: checked
 *              outside the lock) or started more than lock_timeout ago
 *              is taken over.
 *   WEIR_BUSY  another live process fills it: *e says who and fill_id.
 *   WEIR_ERROR the table is full (the request goes uncached). */
int weir_cache_index_fill_begin(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], pid_t pid, int64_t now,
    int64_t lock_timeout, weir_cache_entry_t *e);

/* End the fill fill_id (a fill taken over by another is left alone):
 * ok: READY with `size` bytes, last_use = now; not ok: FILLING cleared,
 * the entry removed unless it was READY before (a failed refresh keeps
 * the old object). A key removed during its fill (weir_cache_index_remove)
 * ends as not ok whatever `ok` says. Returns WEIR_OK when an ok fill was
 * recorded, WEIR_DECLINED otherwise: the caller then deletes the file it
 * put in place (it was purged, or its fill taken over). */
int weir_cache_index_fill_end(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], uint64_t fill_id, int ok,
    uint64_t size, int64_t now);

/* Record a READY object found on disk (loader; a worker that opened a
 * file the index did not know; a fill that put a variant or a Vary stub
 * in place). An existing entry keeps its state and counters and gets a
 * new gen. WEIR_OK or WEIR_ERROR (full). */
int weir_cache_index_insert(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], uint64_t size,
    int64_t last_use);

/* Forget digest (purge, invalidation, a bad file). A fill in progress
 * keeps its FILLING bit, marked so that its end does not publish it.
 * Returns the state it had. */
int weir_cache_index_remove(weir_cache_index_t *idx,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN]);

/* For the manager: up to `max` READY, not FILLING entries to remove now:
 * first those unused since now - inactive, then the least recently used
 * while the bytes stored exceed max_size. They are removed from the index
 * here (counted as evictions); the caller unlinks the files. Returns how
 * many were written to out. */
size_t weir_cache_index_victims(weir_cache_index_t *idx, int64_t now,
    int64_t inactive, uint64_t max_size, weir_cache_entry_t *out,
    size_t max);

/* Call fn for every entry (a copy, outside the lock, in batches). fn
 * returns 0 to go on, non-zero to stop. */
void weir_cache_index_walk(weir_cache_index_t *idx,
    int (*fn)(void *ctx, const weir_cache_entry_t *e), void *ctx);

/* Clear the fills of a dead process (the master's reap()); fn (may be
 * NULL) is called, outside the lock, with each fill cleared, so that its
 * temporary file can go. */
void weir_cache_index_proc_gone(weir_cache_index_t *idx, pid_t pid,
    void (*fn)(void *ctx, const weir_cache_entry_t *e), void *ctx);

void weir_cache_index_stats(weir_cache_index_t *idx,
    weir_cache_index_stats_t *st);

/* The loader's progress: set when it finished a pass over the directory
 * (and cleared by the master when a new loader starts). */
void weir_cache_index_set_loaded(weir_cache_index_t *idx, int loaded);

#endif /* WEIR_CACHE_INDEX_H */
