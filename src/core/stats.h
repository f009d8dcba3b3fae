/*
 * Statistics shared by every process of a weir, in the shm segment, for
 * the admin listener (/metrics, /status). Counted without a lock on the
 * request path: each worker writes its own record (or one of a few
 * statistics slots, by process index), with relaxed atomics, and a reader
 * sums them.
 *
 * - weir_master_stats_t: what the master counts (reloads, restarts,
 *   generation, start time): zone "weir:process".
 * - weir_proc_stats_t: one record per process index (the master's worker
 *   table), zone "weir:procs": who runs there, its connections and
 *   requests. The master fills in pid/slot/generation at fork and clears
 *   the record when the worker is reaped; the worker counts the rest.
 *
 * Histograms share one set of bounds (WEIR_HIST_BUCKETS).
 */
#ifndef WEIR_CORE_STATS_H
#define WEIR_CORE_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include "core/core.h"
#include "core/shm.h"

#define WEIR_PROC_MAX       512   /* master.c: MAX_WORKERS * 2 */
#define WEIR_STAT_SLOTS     8

/* Duration histogram upper bounds in milliseconds (the last bucket is
 * +Inf). */
#define WEIR_HIST_BUCKETS 12
extern const weir_msec_t weir_hist_bounds_ms[WEIR_HIST_BUCKETS - 1];
int weir_hist_bucket(weir_msec_t ms);

typedef struct weir_master_stats_s {
    _Atomic uint64_t workers_restarts_total;
    _Atomic uint64_t reloads_total;
    _Atomic uint64_t reloads_failed_total;
    _Atomic uint64_t config_generation;
    _Atomic int64_t  started;         /* unix seconds */
    _Atomic int32_t  master_pid;
    _Atomic int32_t  stopping;        /* graceful or fast stop under way */
} weir_master_stats_t;

typedef struct weir_proc_stats_s {
    _Atomic int32_t  pid;             /* 0: free */
    _Atomic int32_t  slot;
    _Atomic uint64_t generation;
    _Atomic int64_t  started;         /* unix seconds */
    _Atomic int32_t  draining;
    _Atomic uint64_t accepted_total;
    _Atomic uint64_t requests_total;
    _Atomic int64_t  connections;     /* client connections open */
    _Atomic int64_t  requests_active; /* of them, with a request */
    _Atomic uint64_t shed_total;      /* requests refused by admission */
    _Atomic uint64_t accept_errors_total; /* accept() failures (EMFILE...) */
} __attribute__((aligned(64))) weir_proc_stats_t;

/* The zones (created on first use; NULL when the segment is too small). */
weir_master_stats_t *weir_master_stats(weir_shm_t *shm);
weir_proc_stats_t *weir_proc_stats(weir_shm_t *shm);

/* Master: record a new worker in its process record (pid > 0), or clear
 * the record of one that is gone (pid 0). */
void weir_proc_stats_set(weir_proc_stats_t *p, int pid, int slot,
    uint64_t generation);

/* This process's record: a private one until weir_stats_attach (so code
 * that counts never checks for NULL); and its process index (0 outside a
 * worker), which also picks its statistics slot. */
extern weir_proc_stats_t *weir_proc_self;
extern int                weir_proc_index;

static inline int
weir_stat_slot(void)
{
    return weir_proc_index % WEIR_STAT_SLOTS;
}
void weir_stats_attach(weir_shm_t *shm, int proc);

static inline void
weir_stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t
weir_stat_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void
weir_gauge_add(_Atomic int64_t *g, int64_t n)
{
    atomic_fetch_add_explicit(g, n, memory_order_relaxed);
}

#endif /* WEIR_CORE_STATS_H */
