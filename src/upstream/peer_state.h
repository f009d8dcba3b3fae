/*
 * Shared upstream state (DESIGN §2, §4): one record per peer and one per
 * upstream in the shared-memory segment, so that every worker sees the
 * same health, circuit breaker, failure window and in-flight counts, and
 * a reload keeps them.
 *
 * Who writes what:
 * - the master creates and recycles records (config load and reload,
 *   never on the request path): a peer is keyed by upstream name +
 *   address, so one that stays in the file keeps its record across a
 *   HUP; a record whose last generation has exited is freed;
 * - workers change the breaker, the failure window and the counters with
 *   atomics only (compare-and-swap for state transitions): no lock on
 *   the request path;
 * - the health checker writes the active-check verdict;
 * - the master zeroes the in-flight counts of a worker that died.
 *
 * In-flight counts are kept per process index (the master's worker
 * table) so a dead worker's share can be cleared exactly; the summed
 * value is read over the indexes in use (weir_peer_procs_hi). Statistics
 * are counted in a few slots (process index modulo WEIR_STAT_SLOTS) so
 * workers rarely write the same cache line; /metrics sums them. They are
 * never cleared: counters stay monotonic across worker deaths.
 */
#ifndef WEIR_UPSTREAM_PEER_STATE_H
#define WEIR_UPSTREAM_PEER_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "core/shm.h"
#include "core/stats.h"
#include "upstream/upstream_conf.h"

#define WEIR_PEER_KEY_MAX   192

/* The DESIGN §4 taxonomy, as metric labels and log names. */
enum weir_fail_kind {
    WEIR_FAIL_CONNECT_REFUSED = 0, WEIR_FAIL_CONNECT_TIMEOUT,
    WEIR_FAIL_SEND_ERROR, WEIR_FAIL_HEADER_TIMEOUT,
    WEIR_FAIL_RESET_BEFORE_HEADERS, WEIR_FAIL_BAD_RESPONSE,
    WEIR_FAIL_READ_TIMEOUT, WEIR_FAIL_RESET_MID_BODY, WEIR_FAIL_NO_PEER,
    WEIR_FAIL_HTTP_5XX, WEIR_FAIL_BREAKER_OPEN, WEIR_FAIL_BUDGET_EXHAUSTED,
    WEIR_FAIL_QUEUE_TIMEOUT, WEIR_FAIL_TLS_ERROR, WEIR_FAIL_DEADLINE,
    WEIR_FAIL_KINDS
};

/* The name of a kind ("connect_refused"). */
const char *weir_fail_kind_name(int kind);


enum weir_breaker_state {
    WEIR_BREAKER_CLOSED = 0, WEIR_BREAKER_OPEN = 1, WEIR_BREAKER_HALF_OPEN = 2
};

typedef struct weir_peer_stats_s {
    _Atomic uint64_t requests;
    _Atomic uint64_t responses[6];          /* by class: 0 other, 1xx..5xx */
    _Atomic uint64_t fails[WEIR_FAIL_KINDS];
    _Atomic uint64_t hist[WEIR_HIST_BUCKETS];
    _Atomic uint64_t time_ms_sum;
} __attribute__((aligned(64))) weir_peer_stats_t;

typedef struct weir_peer_state_s {
    char              key[WEIR_PEER_KEY_MAX];   /* "upstream address" */
    _Atomic uint64_t  gen_last;     /* newest generation that has it */
    /* circuit breaker: state | re-opens << 2 | until (ms) << 8 */
    _Atomic uint64_t  breaker;
    /* failure window: start (ms) << 16 | count */
    _Atomic uint64_t  fwindow;
    /* active checks (health checker only): 1 up, 0 down */
    _Atomic uint32_t  health;
    _Atomic uint32_t  check_passes;   /* consecutive */
    _Atomic uint32_t  check_fails;    /* consecutive */
    _Atomic int64_t   usable_since;   /* ms; slow start ramps from here */
    _Atomic uint64_t  checks_total, checks_failed_total;
    _Atomic uint64_t  breaker_opens_total;
    weir_peer_stats_t stats[WEIR_STAT_SLOTS];
    _Atomic uint32_t  inflight[WEIR_PROC_MAX];
} weir_peer_state_t;

typedef struct weir_upstream_state_s {
    char              key[WEIR_PEER_KEY_MAX];   /* the upstream name */
    _Atomic uint64_t  gen_last;
    _Atomic uint64_t  retries_total;
    _Atomic uint64_t  budget_exhausted_total;
    _Atomic uint64_t  queue_timeouts_total;
    _Atomic uint64_t  no_peer_total;
    /* new TLS connections to the peers: [0] full handshakes, [1]
     * resumed sessions (tls_session_reuse) */
    _Atomic uint64_t  tls_handshakes_total[2];
    _Atomic uint32_t  retrying[WEIR_PROC_MAX];   /* retries in flight */
} weir_upstream_state_t;

/* ---- master ---- */

/* Give every upstream and peer of the configuration its record (found by
 * key, or created) and mark it used by `generation`. WEIR_OK, or
 * WEIR_ERROR with a message when the segment is full (shm_size). */
int weir_peer_state_attach(weir_shm_t *shm, weir_upstream_conf_t *const *ups,
    size_t n, uint64_t generation, char *err, size_t errlen);

/* Free the records no live generation uses (gen_last < oldest_live). */
void weir_peer_state_recycle(weir_shm_t *shm, uint64_t oldest_live);

/* A worker with process index `proc` is gone: clear its in-flight and
 * retry counts everywhere, and set the highest index in use. */
void weir_peer_state_proc_gone(weir_shm_t *shm, int proc);
void weir_peer_state_procs_hi(weir_shm_t *shm, int hi);

/* ---- workers ---- */

/* The shared bound of process indexes in use (for sums; the index of
 * this process is weir_proc_index, core/stats.h). */
extern _Atomic uint32_t *weir_peer_procs_hi;

/* Records for configurations that were never attached (unit tests, or a
 * worker without a segment): private memory, same code paths. */
weir_peer_state_t *weir_peer_state_private(void);
weir_upstream_state_t *weir_upstream_state_private(void);

/* Sum of the in-flight counts of a peer over every process. */
uint32_t weir_peer_inflight(const weir_peer_state_t *s);

static inline void
weir_peer_inflight_add(weir_peer_state_t *s, int d)
{
    atomic_fetch_add_explicit(&s->inflight[weir_proc_index], (uint32_t) d,
                              memory_order_relaxed);
}

static inline weir_peer_stats_t *
weir_peer_stats(weir_peer_state_t *s)
{
    return &s->stats[weir_stat_slot()];
}


/* Sum a counter over the statistics slots: `offset` is the offsetof() a
 * member of weir_peer_stats_t (an element of an array member included). */
uint64_t weir_peer_stat_sum(const weir_peer_state_t *s, size_t offset);

#endif /* WEIR_UPSTREAM_PEER_STATE_H */
