/*
 * The minimum rate of a request body (client_body_min_rate): a client
 * that sends its body so slowly that it would hold a connection for
 * hours with a few bytes a second is cut. Only the time weir waits for
 * the client counts: while the proxy does not read the body because the
 * upstream is slow, the client is not to blame. Pure functions over a
 * small record, so that the rule is unit-tested without sockets. (The
 * response side, send_min_rate, needs the socket's queue: request_send.c.)
 */
#ifndef WEIR_HTTP_RATE_H
#define WEIR_HTTP_RATE_H

#include <stdint.h>
#include "core/core.h"

typedef struct weir_http_rate_s {
    weir_msec_t  wait_start;    /* when the current wait began */
    weir_msec_t  waited;        /* ms waited in this window */
    uint64_t     bytes;         /* bytes moved in this window */
    unsigned     waiting:1;
} weir_http_rate_t;

/* weir would block on the client (recv or write said EAGAIN, or a short
 * write filled the socket): the wait starts now, unless it already runs. */
void weir_http_rate_wait(weir_http_rate_t *rt, weir_msec_t now);

/* n bytes moved at `now`, which ends a wait. Once the waits of this
 * window add up to `window` ms, the window is judged: fewer than
 * min_rate bytes per second of waiting is too slow (returns 1, with the
 * rate measured in *measured when it is not NULL); otherwise a new
 * window starts and 0 is returned. min_rate 0 never judges. */
int weir_http_rate_moved(weir_http_rate_t *rt, uint64_t n, weir_msec_t now,
    uint64_t min_rate, weir_msec_t window, uint64_t *measured);

#endif /* WEIR_HTTP_RATE_H */
