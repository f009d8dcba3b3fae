/*
 * Active health checks (DESIGN §4), run by the health checker process
 * (proc/checker.c): every peer of an upstream with `health_check` gets a
 * GET of that path every health_interval (+-10% jitter, so checks of
 * many peers and many weir nodes spread out), answered within
 * health_timeout with a status and body health_expect accepts.
 * health_fall failures in a row take the peer out, health_rise passes
 * bring it back (slow_start ramps it from then). The verdict goes to the
 * peer's shared record; the workers read it when they pick a peer.
 * Checks run whether traffic flows or not. The state lives in shm, so a
 * restarted checker goes on from it.
 */
#ifndef WEIR_UPSTREAM_HEALTH_H
#define WEIR_UPSTREAM_HEALTH_H

#include <stddef.h>
#include "core/core.h"
#include "upstream/upstream_conf.h"

/* Any upstream with checks? */
int weir_health_wanted(weir_upstream_conf_t *const *ups, size_t n);

/* Start probing (in the checker's event loop). WEIR_OK or WEIR_ERROR. */
int weir_health_start(weir_upstream_conf_t *const *ups, size_t n);

/* Parse health_expect ("200 204 300-399 ~ regex"): statuses and ranges,
 * then optionally '~' and a PCRE2 pattern the body must match. WEIR_OK,
 * or WEIR_ERROR with a message. */
int weir_health_expect_parse(weir_upstream_conf_t *u, const char *value,
    char *err, size_t errlen);

/* Free the compiled regex (config teardown). */
void weir_health_expect_free(weir_upstream_conf_t *u);

/* Does a probe's answer pass? 1 or 0; with body NULL, -1 when the
 * status passes and a regex would judge the body. */
int weir_health_expected(const weir_upstream_conf_t *u, int status,
    const char *body, size_t len);

#endif /* WEIR_UPSTREAM_HEALTH_H */
