/*
 * The circuit breaker of a peer (DESIGN §4), shared by every worker
 * through the peer's record in shm. All transitions are compare-and-swap
 * on one 64-bit word, so no lock is taken on the request path and a
 * worker killed at any instruction leaves a valid state behind.
 *
 *   closed --max_fails failures within fail_timeout--> open
 *   open --cooldown over, one worker wins the CAS--> half-open (the trial)
 *   half-open --trial succeeds--> closed
 *   half-open --trial fails--> open, with the next cooldown doubled
 *   half-open --trial lost (worker died, client left)--> trial again
 *
 * The first cooldown is fail_timeout (as nginx keeps a peer down); each
 * re-open doubles it up to max_cooldown, with +-10% jitter so the workers
 * of several weir nodes do not probe a recovering peer in step.
 * Every transition is logged once, by the process whose CAS made it.
 */
#ifndef WEIR_UPSTREAM_BREAKER_H
#define WEIR_UPSTREAM_BREAKER_H

#include <stdint.h>
#include "core/core.h"
#include "upstream/peer_state.h"
#include "upstream/upstream_conf.h"

/* May a request go to this peer now, as far as the breaker says?
 * 0: no (open, or another worker holds the trial);
 * 1: yes (closed);
 * 2: yes, and this request is the half-open trial — the caller must end
 *    it with weir_breaker_success/failure/abandon.
 * Only when `take` is set does it take the trial; otherwise 2 means a
 * trial could be taken now. */
int weir_breaker_admit(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, int take);

/* A request to the peer failed in a way fail_on counts (reason: for the
 * log, e.g. "connect_refused"). */
void weir_breaker_failure(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, int trial, const char *reason);

/* A request to the peer succeeded. */
void weir_breaker_success(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, int trial);

/* The trial request ended without a verdict: let the next one try. */
void weir_breaker_abandon(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc);

/* The state now (enum weir_breaker_state), the re-open count and the
 * cooldown end (monotonic ms) for /metrics, /status and tests. */
int weir_breaker_state(const weir_peer_state_t *s, unsigned *reopens,
    weir_msec_t *until);
const char *weir_breaker_state_name(int state);

/* The cooldown after `reopens` re-opens, before jitter. */
weir_msec_t weir_breaker_cooldown(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, unsigned reopens);

#endif /* WEIR_UPSTREAM_BREAKER_H */
