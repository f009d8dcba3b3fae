#include "weir_config.h"
#include "upstream/breaker.h"

#include <stdio.h>
#include "core/log.h"
#include "core/random.h"
#include "core/wtime.h"

/*
 * The breaker word: state in bits 0-1, the re-open count in bits 2-7,
 * and in bits 8-63 a time in monotonic ms (the clock is system-wide, so
 * every process reads the same one): the cooldown's end while open, the
 * trial's deadline while half-open.
 *
 * The failure window is another word: its start (ms) << 16 | the count.
 */
#define ST_MASK      0x3u
#define REOPEN_MAX   63u

static uint64_t
pack(int state, unsigned reopens, weir_msec_t t)
{
    return (uint64_t) state | (uint64_t) (reopens & REOPEN_MAX) << 2
           | (uint64_t) (t < 0 ? 0 : t) << 8;
}

static int
st_of(uint64_t w)
{
    return (int) (w & ST_MASK);
}

static unsigned
reopens_of(uint64_t w)
{
    return (unsigned) (w >> 2) & REOPEN_MAX;
}

static weir_msec_t
time_of(uint64_t w)
{
    return (weir_msec_t) (w >> 8);
}

const char *
weir_breaker_state_name(int state)
{
    return state == WEIR_BREAKER_OPEN ? "open"
           : state == WEIR_BREAKER_HALF_OPEN ? "half_open" : "closed";
}

int
weir_breaker_state(const weir_peer_state_t *s, unsigned *reopens,
    weir_msec_t *until)
{
    uint64_t w = atomic_load_explicit(&s->breaker, memory_order_acquire);

    if (reopens) {
        *reopens = reopens_of(w);
    }
    if (until) {
        *until = time_of(w);
    }
    return st_of(w);
}

weir_msec_t
weir_breaker_cooldown(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, unsigned reopens)
{
    weir_msec_t t = pc->fail_timeout, cap = uc->max_cooldown;

    if (cap < t) {
        cap = t;
    }
    while (reopens-- > 0 && t < cap) {
        t *= 2;
    }
    return t < cap ? t : cap;
}

/* The cooldown with +-10% jitter. */
static weir_msec_t
jittered(weir_msec_t t)
{
    weir_msec_t span = t / 5;

    if (span <= 0) {
        return t;
    }
    return t - span / 2 + (weir_msec_t) weir_random_below((uint64_t) span + 1);
}

/* How long a trial may take before another worker may try instead: the
 * worker holding it may have died, or the request hung. */
static weir_msec_t
trial_budget(const weir_upstream_conf_t *uc)
{
    if (uc->proxy_timeout > 0) {
        return uc->proxy_timeout;
    }
    return uc->connect_timeout + uc->send_timeout + uc->read_timeout;
}

static void
log_change(const weir_upstream_conf_t *uc, const weir_peer_conf_t *pc,
    int from, int to, const char *why, weir_msec_t cooldown)
{
    char next[64] = "";

    if (to == WEIR_BREAKER_OPEN) {
        snprintf(next, sizeof(next), ", next trial in %lld ms",
                 (long long) cooldown);
    }
    weir_log_error(to == WEIR_BREAKER_OPEN ? WEIR_LOG_WARN : WEIR_LOG_NOTICE,
                   &weir_errlog, 0,
                   "upstream \"%s\" peer %s: breaker %s -> %s (%s)%s",
                   uc->name, pc->text, weir_breaker_state_name(from),
                   weir_breaker_state_name(to), why, next);
}

int
weir_breaker_admit(const weir_upstream_conf_t *uc, const weir_peer_conf_t *pc,
    int take)
{
    weir_peer_state_t *s = pc->state;
    uint64_t           w, nw;
    weir_msec_t        now = weir_current_msec;

    w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    for (;;) {
        switch (st_of(w)) {
        case WEIR_BREAKER_CLOSED:
            return 1;
        case WEIR_BREAKER_OPEN:
        case WEIR_BREAKER_HALF_OPEN:
            /* open: the cooldown is over; half-open: the trial's
             * holder is overdue. Either way one worker may try. */
            if (now < time_of(w)) {
                return 0;
            }
            if (!take) {
                return 2;
            }
            nw = pack(WEIR_BREAKER_HALF_OPEN, reopens_of(w),
                      now + trial_budget(uc));
            if (atomic_compare_exchange_weak_explicit(&s->breaker, &w, nw,
                    memory_order_acq_rel, memory_order_acquire))
            {
                if (st_of(w) == WEIR_BREAKER_OPEN) {
                    log_change(uc, pc, WEIR_BREAKER_OPEN,
                               WEIR_BREAKER_HALF_OPEN,
                               "cooldown over, sending one trial request", 0);
                } else {
                    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                                   "upstream \"%s\" peer %s: breaker "
                                   "half_open trial overdue, trying again",
                                   uc->name, pc->text);
                }
                return 2;
            }
            break;        /* w was reloaded: decide again */
        default:
            return 0;
        }
    }
}

/* Open the breaker from `w` (closed or half-open). 1 if this call did. */
static int
open_from(const weir_upstream_conf_t *uc, const weir_peer_conf_t *pc,
    uint64_t w, const char *why)
{
    weir_peer_state_t *s = pc->state;
    unsigned           reopens;
    weir_msec_t        cool;

    reopens = st_of(w) == WEIR_BREAKER_HALF_OPEN
              ? weir_min(reopens_of(w) + 1, REOPEN_MAX) : 0;
    cool = jittered(weir_breaker_cooldown(uc, pc, reopens));
    if (!atomic_compare_exchange_strong_explicit(&s->breaker, &w,
            pack(WEIR_BREAKER_OPEN, reopens, weir_current_msec + cool),
            memory_order_acq_rel, memory_order_acquire))
    {
        return 0;
    }
    atomic_fetch_add_explicit(&s->breaker_opens_total, 1,
                              memory_order_relaxed);
    log_change(uc, pc, st_of(w), WEIR_BREAKER_OPEN, why, cool);
    return 1;
}

void
weir_breaker_failure(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, int trial, const char *reason)
{
    weir_peer_state_t *s = pc->state;
    uint64_t           w, fw, nfw, count;
    weir_msec_t        now = weir_current_msec, start;
    char               why[160];

    w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    if (trial && st_of(w) == WEIR_BREAKER_HALF_OPEN) {
        snprintf(why, sizeof(why), "trial request failed: %s", reason);
        open_from(uc, pc, w, why);
        return;
    }
    if (pc->max_fails <= 0 || st_of(w) != WEIR_BREAKER_CLOSED) {
        return;     /* not counted, or already open: nothing to add */
    }
    fw = atomic_load_explicit(&s->fwindow, memory_order_relaxed);
    do {
        start = (weir_msec_t) (fw >> 16);
        count = fw & 0xffff;
        if (count == 0 || now - start > pc->fail_timeout) {
            start = now;
            count = 0;
        }
        count = weir_min(count + 1, (uint64_t) 0xffff);
        nfw = (uint64_t) start << 16 | count;
    } while (!atomic_compare_exchange_weak_explicit(&s->fwindow, &fw, nfw,
                 memory_order_relaxed, memory_order_relaxed));
    if (count < (uint64_t) pc->max_fails) {
        return;
    }
    snprintf(why, sizeof(why), "%llu failures within %lld ms, last: %s",
             (unsigned long long) count, (long long) pc->fail_timeout,
             reason);
    if (open_from(uc, pc, w, why)) {
        atomic_store_explicit(&s->fwindow, 0, memory_order_relaxed);
    }
}

void
weir_breaker_success(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc, int trial)
{
    weir_peer_state_t *s = pc->state;
    uint64_t           w;

    /* Outside a trial a success changes nothing: failures count within
     * the window whatever succeeded in between (a peer failing every
     * other request is not healthy), and the request path writes no
     * shared line it does not need to. */
    if (!trial) {
        return;
    }
    w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    if (st_of(w) != WEIR_BREAKER_HALF_OPEN) {
        return;
    }
    if (atomic_compare_exchange_strong_explicit(&s->breaker, &w,
            pack(WEIR_BREAKER_CLOSED, 0, 0), memory_order_acq_rel,
            memory_order_acquire))
    {
        atomic_store_explicit(&s->fwindow, 0, memory_order_relaxed);
        /* Back in rotation: slow_start ramps from now. */
        atomic_store_explicit(&s->usable_since, weir_current_msec,
                              memory_order_relaxed);
        log_change(uc, pc, WEIR_BREAKER_HALF_OPEN, WEIR_BREAKER_CLOSED,
                   "trial request succeeded", 0);
    }
}

void
weir_breaker_abandon(const weir_upstream_conf_t *uc,
    const weir_peer_conf_t *pc)
{
    weir_peer_state_t *s = pc->state;
    uint64_t           w;

    (void) uc;
    w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    if (st_of(w) == WEIR_BREAKER_HALF_OPEN) {
        /* Due now: the next request may take the trial. */
        atomic_compare_exchange_strong_explicit(&s->breaker, &w,
            pack(WEIR_BREAKER_HALF_OPEN, reopens_of(w), weir_current_msec),
            memory_order_acq_rel, memory_order_acquire);
    }
}
