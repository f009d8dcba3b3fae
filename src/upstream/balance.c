#include "weir_config.h"
#include "upstream/upstream.h"

#include <string.h>
#include "core/random.h"
#include "core/wtime.h"
#include "upstream/breaker.h"

/*
 * Choosing a peer. weir_upstream_pick() narrows the peers to the
 * candidates of one tier (usable primaries, else usable backups, else in
 * panic every primary), then the upstream's balancer chooses among them:
 *
 * - round_robin: smooth weighted round robin (each candidate gains its
 *   weight, the largest wins and pays the total): even in time, per
 *   worker.
 * - least_conn: the fewest requests in flight per unit of weight, counted
 *   over all workers from shm; ties go round robin.
 * - random: two candidates drawn at random (by weight), the less loaded
 *   wins ("power of two choices"): near least_conn without herding when
 *   many workers read the same counts at once.
 * - hash: a consistent-hash ring (100 points per unit of weight, placed
 *   by the peer's address, not its position), walked clockwise from the
 *   key's point to the first candidate: removing one of N peers moves
 *   only the keys it owned, about 1/N.
 */

#define MAX_CAND 1024

static int is_tried(const weir_peer_t *p, weir_peer_t *const *tried,
    size_t ntried);
static weir_peer_t *by_round_robin(weir_peer_t **cand, size_t n);
static weir_peer_t *by_least_conn(weir_peer_t **cand, size_t n);
static weir_peer_t *by_random(weir_peer_t **cand, size_t n);
static weir_peer_t *by_hash(weir_upstream_t *u, uint64_t hash,
    weir_peer_t **cand, size_t n);

static int
is_tried(const weir_peer_t *p, weir_peer_t *const *tried, size_t ntried)
{
    size_t k;

    for (k = 0; k < ntried; k++) {
        if (tried[k] == p) {
            return 1;
        }
    }
    return 0;
}

/* Candidates of one tier into cand[]; a due breaker trial is taken at
 * once and returned alone (recovery is probed as soon as it is due).
 * admit[i] is peer i's verdict read once per pick (0 unusable, 1 usable,
 * 2 a trial is due); panic ignores it. */
static size_t
gather(weir_upstream_t *u, int backup, int panic, const unsigned char *admit,
    weir_peer_t *const *tried, size_t ntried, weir_peer_t **cand,
    weir_pick_t *out)
{
    weir_peer_t *p;
    size_t       i, n = 0;

    for (i = 0; i < u->npeers && n < MAX_CAND; i++) {
        p = &u->peers[i];
        if ((int) p->conf->backup != backup || p->conf->down
            || (!panic && admit[i] == 0) || is_tried(p, tried, ntried))
        {
            continue;
        }
        if (p->conf->max_conns > 0
            && weir_peer_inflight(p->st) >= (uint32_t) p->conf->max_conns)
        {
            out->full = 1;
            continue;
        }
        if (!panic && admit[i] == 2) {
            if (weir_breaker_admit(u->conf, p->conf, 1) == 2) {
                out->trial = 1;
                cand[0] = p;
                return 1;
            }
            continue;               /* another worker took the trial */
        }
        cand[n++] = p;
    }
    return n;
}

int
weir_upstream_untried(const weir_upstream_t *u, weir_peer_t *const *tried,
    size_t ntried)
{
    size_t i;

    for (i = 0; i < u->npeers; i++) {
        if (!u->peers[i].conf->down
            && !is_tried(&u->peers[i], tried, ntried)) {
            return 1;
        }
    }
    return 0;
}

static weir_peer_t *
choose(weir_upstream_t *u, uint64_t hash, weir_peer_t **cand, size_t n)
{
    if (n == 1) {
        return cand[0];
    }
    switch (u->conf->balance) {
    case WEIR_BALANCE_LEAST_CONN:
        return by_least_conn(cand, n);
    case WEIR_BALANCE_RANDOM:
        return by_random(cand, n);
    case WEIR_BALANCE_HASH:
        return by_hash(u, hash, cand, n);
    default:
        return by_round_robin(cand, n);
    }
}

void
weir_upstream_pick(weir_upstream_t *u, uint64_t hash,
    weir_peer_t *const *tried, size_t ntried, weir_pick_t *out)
{
    weir_peer_t  *cand[MAX_CAND];
    unsigned char admit[MAX_CAND];
    size_t        i, n, nprim = 0, prim_ok = 0, back_ok = 0;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < u->npeers && i < MAX_CAND; i++) {
        const weir_peer_t *p = &u->peers[i];
        int                ok;

        if (p->conf->down) {
            admit[i] = 0;
            continue;
        }
        admit[i] = (unsigned char) weir_upstream_admit(p);
        ok = admit[i] != 0;
        if (p->conf->backup) {
            back_ok += ok;
        } else {
            nprim++;
            prim_ok += ok;
        }
    }
    /* Too few primaries left to carry the load and no backup to take
     * over: sharing it among all of them (the broken ones included)
     * beats failing everyone. */
    if (nprim && back_ok == 0
        && prim_ok * 100 < (size_t) u->conf->panic_threshold * nprim)
    {
        n = gather(u, 0, 1, admit, tried, ntried, cand, out);
        out->panic = 1;
    } else {
        n = gather(u, 0, 0, admit, tried, ntried, cand, out);
        if (n == 0 && !out->full) {
            n = gather(u, 1, 0, admit, tried, ntried, cand, out);
        }
    }
    if (n == 0) {
        return;
    }
    out->full = 0;
    out->peer = out->trial ? cand[0] : choose(u, hash, cand, n);
}

/* ---- balancers ------------------------------------------------------------- */

static weir_peer_t *
by_round_robin(weir_peer_t **cand, size_t n)
{
    weir_peer_t *best = NULL;
    int          total = 0, w;
    size_t       i;

    for (i = 0; i < n; i++) {
        w = weir_upstream_weight(cand[i]);
        cand[i]->current_weight += w;
        total += w;
        if (best == NULL || cand[i]->current_weight > best->current_weight) {
            best = cand[i];
        }
    }
    if (best) {
        best->current_weight -= total;
    }
    return best;
}

/* a/wa < b/wb without division. */
static int
less_loaded(uint32_t a, int wa, uint32_t b, int wb)
{
    return (uint64_t) a * (uint64_t) wb < (uint64_t) b * (uint64_t) wa;
}

static weir_peer_t *
by_least_conn(weir_peer_t **cand, size_t n)
{
    uint32_t load[MAX_CAND], best_load = 0;
    int      weight[MAX_CAND], best_w = 1;
    size_t   i, m = 0;

    for (i = 0; i < n; i++) {
        load[i] = weir_peer_inflight(cand[i]->st);
        weight[i] = weir_upstream_weight(cand[i]);
        if (i == 0 || less_loaded(load[i], weight[i], best_load, best_w)) {
            best_load = load[i];
            best_w = weight[i];
        }
    }
    /* The tied ones, round robin among them. */
    for (i = 0; i < n; i++) {
        if (!less_loaded(best_load, best_w, load[i], weight[i])) {
            cand[m++] = cand[i];
        }
    }
    return by_round_robin(cand, m);
}

static weir_peer_t *
draw(weir_peer_t **cand, size_t n, int total)
{
    int    x = total > 0 ? (int) weir_random_below((uint64_t) total) : 0;
    size_t i;

    for (i = 0; i < n; i++) {
        x -= weir_upstream_weight(cand[i]);
        if (x < 0) {
            return cand[i];
        }
    }
    return cand[n - 1];
}

static weir_peer_t *
by_random(weir_peer_t **cand, size_t n)
{
    weir_peer_t *a, *b;
    int          total = 0, tries;
    size_t       i;

    for (i = 0; i < n; i++) {
        total += weir_upstream_weight(cand[i]);
    }
    a = draw(cand, n, total);
    b = a;
    for (tries = 0; b == a && tries < 8; tries++) {
        b = draw(cand, n, total);
    }
    return less_loaded(weir_peer_inflight(b->st), weir_upstream_weight(b),
                       weir_peer_inflight(a->st), weir_upstream_weight(a))
           ? b : a;
}

static weir_peer_t *
by_hash(weir_upstream_t *u, uint64_t hash, weir_peer_t **cand, size_t n)
{
    uint32_t      h = (uint32_t) (hash >> 32);
    size_t        lo = 0, hi = u->nring, k, i;
    unsigned char mark[MAX_CAND];

    if (u->nring == 0 || u->npeers > MAX_CAND) {
        return cand[hash % n];
    }
    memset(mark, 0, u->npeers);
    for (k = 0; k < n; k++) {
        mark[cand[k] - u->peers] = 1;
    }
    while (lo < hi) {             /* the first point >= h */
        size_t mid = lo + (hi - lo) / 2;
        if (u->ring_hash[mid] < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (k = 0; k < u->nring; k++) {
        i = (lo + k) % u->nring;
        if (mark[u->ring_peer[i]]) {
            return &u->peers[u->ring_peer[i]];
        }
    }
    return cand[0];
}
