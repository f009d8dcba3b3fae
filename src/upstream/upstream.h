/*
 * Upstream runtime of one worker. What a worker keeps to itself: the
 * balancer's cursor (smooth weighted round robin weights, the hash ring),
 * the keep-alive pool of idle connections and the queue of requests
 * waiting for a peer under max_conns. What every worker shares lives in
 * the peer's record in shm (upstream/peer_state.h): health, breaker,
 * failure window, in-flight counts and statistics.
 */
#ifndef WEIR_UPSTREAM_UPSTREAM_H
#define WEIR_UPSTREAM_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "event/conn.h"
#include "event/tls.h"
#include "upstream/peer_state.h"
#include "upstream/upstream_conf.h"

typedef struct weir_upstream_s weir_upstream_t;
typedef struct weir_upstream_idle_s weir_upstream_idle_t;
typedef struct weir_upstream_waiter_s weir_upstream_waiter_t;

typedef struct weir_peer_s {
    const weir_peer_conf_t *conf;
    weir_peer_state_t      *st;             /* conf->state, never NULL */
    weir_upstream_t        *up;
    int                     current_weight; /* smooth round robin */
    weir_upstream_idle_t   *idle;           /* pooled connections, LIFO */
    size_t                  nidle;
    /* the last TLS session with the peer (tls_session_reuse), this
     * worker's; it goes with the generation on a reload */
    weir_tls_session_t      tls_session;
} weir_peer_t;

struct weir_upstream_s {
    const weir_upstream_conf_t *conf;
    weir_upstream_state_t      *st;         /* conf->state, never NULL */
    weir_peer_t                *peers;
    size_t                      npeers;
    size_t                      nidle;      /* over all peers */
    weir_upstream_idle_t       *idle_free;  /* unused pool entries */
    uint32_t                   *ring_hash;  /* balance = hash: sorted */
    uint16_t                   *ring_peer;
    size_t                      nring;
    weir_upstream_waiter_t     *queue_head, *queue_tail;
    size_t                      queued;
    weir_event_t                queue_ev;   /* re-tries the queue */
};

/* A request waiting for a peer under max_conns (owned by the caller). */
struct weir_upstream_waiter_s {
    weir_upstream_waiter_t *next, *prev;
    weir_msec_t             deadline;
    /* Called, out of the queue, with ok = 1 when a peer may have room
     * (return 0 to wait on at the head of the queue, 1 when done), and
     * with ok = 0 on timeout (the return value is ignored). */
    int                   (*wake)(weir_upstream_waiter_t *w, int ok);
    void                   *data;
    unsigned                queued:1;
};

/* Build the runtime for every upstream configuration (worker start).
 * Records the configuration does not have in shm (unit tests) get
 * private ones. WEIR_OK or WEIR_ERROR (out of memory). */
int weir_upstream_init(weir_upstream_conf_t *const *confs, size_t n);

/* The runtime of a configured upstream, or NULL. */
weir_upstream_t *weir_upstream_get(const weir_upstream_conf_t *conf);

/* What weir_upstream_pick() found. */
typedef struct weir_pick_s {
    weir_peer_t *peer;      /* NULL when none */
    int          trial;     /* the peer's half-open breaker trial */
    int          panic;     /* chosen ignoring health (panic_threshold) */
    int          full;      /* none: every candidate is at max_conns */
} weir_pick_t;

/*
 * Choose a peer for a try, skipping the `ntried` peers already tried
 * (while an untried one exists). Primaries that are usable (not `down`,
 * healthy, breaker closed or a trial due) come first; backups when no
 * primary is usable; with fewer than panic_threshold % of the primaries
 * usable and no usable backup, all primaries regardless of health.
 * `hash` is the request's key hash for balance = hash. The caller adds
 * the peer's in-flight count (weir_upstream_take) when it uses it.
 */
void weir_upstream_pick(weir_upstream_t *u, uint64_t hash,
    weir_peer_t *const *tried, size_t ntried, weir_pick_t *out);

/* Count a request in flight to p / done with it. */
void weir_upstream_take(weir_peer_t *p);
void weir_upstream_done(weir_peer_t *p);

/* Is the peer usable now (not down, healthy, breaker admits; no trial
 * is taken)? admit: 0 no, 1 yes, 2 yes as the breaker's trial. */
int weir_upstream_admit(const weir_peer_t *p);
int weir_upstream_usable(const weir_peer_t *p);

/* Is there a peer (not `down`) outside tried[0..ntried)? Health aside:
 * the pick decides that. */
int weir_upstream_untried(const weir_upstream_t *u, weir_peer_t *const *tried,
    size_t ntried);

/* The weight the balancer gives p now (slow_start ramps it, x100). */
int weir_upstream_weight(const weir_peer_t *p);

/* 64-bit hash of a key (FNV-1a with a final mix), for balance = hash. */
uint64_t weir_upstream_hash(const char *key, size_t len);

/* Queue for max_conns: wait until a peer may have room or the
 * deadline passes. dequeue: stop waiting (request gone). */
void weir_upstream_enqueue(weir_upstream_t *u, weir_upstream_waiter_t *w);
void weir_upstream_dequeue(weir_upstream_t *u, weir_upstream_waiter_t *w);

/* Keep-alive pool. get: the most recently pooled live connection to p, or
 * NULL. put: pool c (idle for at most `idle_ms`), or close it when the
 * upstream's `keepalive` limit is reached or idle_ms <= 0. While pooled,
 * any input or EOF on c closes it. */
weir_conn_t *weir_upstream_keepalive_get(weir_peer_t *p);
void weir_upstream_keepalive_put(weir_peer_t *p, weir_conn_t *c,
    weir_msec_t idle_ms);
/* The same as get, among the pooled connections private to one client
 * connection (c->private_to == owner). */
weir_conn_t *weir_upstream_keepalive_get_private(weir_peer_t *p,
    uint64_t owner);

/* Close every pooled connection (graceful stop). */
void weir_upstream_keepalive_close_all(void);

/* Open a non-blocking connection to p and start connect(). Returns the
 * connection (connect in progress or done), or NULL with errno set. */
weir_conn_t *weir_upstream_connect(weir_peer_t *p);

/* A `tls = on` upstream: start TLS on c, connected to peer pc, with the
 * upstream's context, sending tls_name (else the host name of the server
 * line) as SNI and checking the certificate for it (else for the peer's
 * address). With tls_session_reuse, `slot` (the peer's, or NULL for
 * none) gives the session to offer and keeps the ones the peer issues;
 * the caller reports the handshake's end with weir_tls_session_done().
 * The handshake is then weir_tls_handshake()'s. WEIR_OK or WEIR_ERROR. */
int weir_upstream_tls_start(weir_conn_t *c, const weir_upstream_conf_t *u,
    const weir_peer_conf_t *pc, weir_tls_session_t *slot);

#endif /* WEIR_UPSTREAM_UPSTREAM_H */
