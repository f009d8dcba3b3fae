/*
 * Upstream runtime of one worker: peers with smooth weighted round robin,
 * passive failure marking, and a keep-alive pool of idle connections.
 *
 * (Shared health, circuit breakers and the other balancers arrive with the
 * health issue; the state here is per worker until then.)
 */
#ifndef WEIR_UPSTREAM_UPSTREAM_H
#define WEIR_UPSTREAM_UPSTREAM_H

#include <stddef.h>
#include "core/core.h"
#include "event/conn.h"
#include "upstream/upstream_conf.h"

typedef struct weir_upstream_s weir_upstream_t;

typedef struct weir_peer_s {
    const weir_peer_conf_t *conf;
    weir_upstream_t        *up;
    int                     current_weight;
    int                     fails;          /* within fail_timeout */
    weir_msec_t             first_fail;
    weir_msec_t             down_until;     /* 0: usable */
    weir_conn_t            *idle;           /* pooled connections, LIFO */
    size_t                  nidle;
    uint64_t                requests;
} weir_peer_t;

struct weir_upstream_s {
    const weir_upstream_conf_t *conf;
    weir_peer_t                *peers;
    size_t                      npeers;
    size_t                      nidle;      /* over all peers */
};

/* Build the runtime for every upstream configuration (worker start).
 * WEIR_OK or WEIR_ERROR (out of memory). */
int weir_upstream_init(weir_upstream_conf_t *const *confs, size_t n);

/* The runtime of a configured upstream, or NULL. */
weir_upstream_t *weir_upstream_get(const weir_upstream_conf_t *conf);

/* Pick a peer by smooth weighted round robin among usable primaries (then
 * backups), skipping the `ntried` peers already tried for this request.
 * When every untried peer is marked down, balance across them anyway
 * rather than fail everyone (panic). NULL when all were tried. */
weir_peer_t *weir_upstream_pick(weir_upstream_t *u, weir_peer_t **tried,
    size_t ntried);

/* Would weir_upstream_pick() find a peer (without moving the balancer)? */
int weir_upstream_pick_possible(weir_upstream_t *u, weir_peer_t **tried,
    size_t ntried);

/* Passive health: count a failure (max_fails within fail_timeout marks the
 * peer down for fail_timeout) or a success (clears the count). */
void weir_upstream_peer_failed(weir_peer_t *p);
void weir_upstream_peer_ok(weir_peer_t *p);

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

#endif /* WEIR_UPSTREAM_UPSTREAM_H */
