#include "weir_config.h"
#include "upstream/upstream.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/shm.h"
#include "core/wtime.h"
#include "upstream/breaker.h"
#include "upstream/health.h"
#include "upstream/peer_state.h"

/*
 * The balancers, the tiers (backup, down, panic, max_conns), the
 * consistent-hash remapping bound and the circuit breaker, on records in
 * private memory; the breaker's compare-and-swap and the in-flight sums
 * also on a real segment shared by forked processes.
 */

#define NOW0 1000000

/* Configurations live as long as the process, as in weir (the runtime
 * keeps pointers to them): keep them reachable for LeakSanitizer. */
static weir_upstream_conf_t *kept[64];
static size_t                nkept;

static weir_upstream_conf_t *
mkconf(const char *name, int balance, size_t n, const int *weights)
{
    weir_upstream_conf_t *u = calloc(1, sizeof(*u));
    size_t                i;

    if (nkept < 64) {
        kept[nkept++] = u;
    }
    u->name = strdup(name);
    u->balance = balance;
    u->npeers = n;
    u->peers = calloc(n, sizeof(*u->peers));
    u->keepalive = 4;
    u->max_fails = 3;
    u->fail_timeout = 10000;
    u->max_cooldown = 300000;
    u->connect_timeout = 2000;
    u->send_timeout = 1000;
    u->read_timeout = 5000;
    u->panic_threshold = 0;
    for (i = 0; i < n; i++) {
        snprintf(u->peers[i].text, sizeof(u->peers[i].text), "10.0.0.%zu:80",
                 i + 1);
        u->peers[i].weight = weights ? weights[i] : 1;
        u->peers[i].max_fails = 3;
        u->peers[i].fail_timeout = 10000;
    }
    return u;
}

static weir_upstream_t *
mkup(weir_upstream_conf_t *c)
{
    weir_upstream_conf_t *arr[1] = { c };

    ck_assert_int_eq(weir_upstream_init(arr, 1), WEIR_OK);
    return weir_upstream_get(c);
}

static weir_peer_t *
pick(weir_upstream_t *u, uint64_t hash)
{
    weir_pick_t pk;

    weir_upstream_pick(u, hash, NULL, 0, &pk);
    return pk.peer;
}

static size_t
idx(weir_upstream_t *u, weir_peer_t *p)
{
    return (size_t) (p - u->peers);
}

START_TEST(test_round_robin_weights)
{
    int              w[3] = { 3, 1, 1 };
    weir_upstream_t *u = mkup(mkconf("rr", WEIR_BALANCE_ROUND_ROBIN, 3, w));
    int              count[3] = { 0, 0, 0 }, i, run = 0, longest = 0;
    size_t           last = 9, k;

    weir_current_msec = NOW0;
    for (i = 0; i < 500; i++) {
        k = idx(u, pick(u, 0));
        count[k]++;
        run = k == last ? run + 1 : 1;
        longest = weir_max(longest, run);
        last = k;
    }
    ck_assert_int_eq(count[0], 300);
    ck_assert_int_eq(count[1], 100);
    ck_assert_int_eq(count[2], 100);
    /* smooth: the heavy peer never gets more than 2 in a row at 3:1:1 */
    ck_assert_int_le(longest, 2);
}
END_TEST

START_TEST(test_tried_down_backup)
{
    weir_upstream_conf_t *c = mkconf("tb", WEIR_BALANCE_ROUND_ROBIN, 4, NULL);
    weir_upstream_t      *u;
    weir_peer_t          *tried[2];
    weir_pick_t           pk;
    int                   i;

    c->peers[1].down = 1;
    c->peers[2].backup = 1;
    c->peers[3].backup = 1;
    u = mkup(c);
    weir_current_msec = NOW0;
    for (i = 0; i < 20; i++) {
        /* down is never used, backups not while a primary is usable */
        ck_assert_uint_eq(idx(u, pick(u, 0)), 0);
    }
    /* the primary tried already: a retry goes to a backup */
    tried[0] = &u->peers[0];
    weir_upstream_pick(u, 0, tried, 1, &pk);
    ck_assert_ptr_nonnull(pk.peer);
    ck_assert(pk.peer->conf->backup);
    /* every peer tried: none */
    tried[1] = pk.peer;
    weir_upstream_pick(u, 0, tried, 2, &pk);
    ck_assert_ptr_nonnull(pk.peer);   /* the other backup */
    ck_assert(pk.peer != tried[1] && pk.peer->conf->backup);
    /* primary unhealthy: backups only, alternating */
    atomic_store(&u->peers[0].st->health, 0);
    for (i = 0; i < 10; i++) {
        ck_assert(pick(u, 0)->conf->backup);
    }
}
END_TEST

START_TEST(test_no_usable_and_panic)
{
    weir_upstream_conf_t *c = mkconf("pn", WEIR_BALANCE_ROUND_ROBIN, 4, NULL);
    weir_upstream_t      *u = mkup(c);
    weir_pick_t           pk;
    int                   i, seen[4] = { 0, 0, 0, 0 };

    weir_current_msec = NOW0;
    for (i = 1; i < 4; i++) {
        atomic_store(&u->peers[i].st->health, 0);
    }
    /* panic_threshold 0: the one usable peer, never the others */
    for (i = 0; i < 20; i++) {
        weir_upstream_pick(u, 0, NULL, 0, &pk);
        ck_assert_uint_eq(idx(u, pk.peer), 0);
        ck_assert_int_eq(pk.panic, 0);
    }
    /* 1 of 4 usable < 50%: spread over all four */
    c->panic_threshold = 50;
    for (i = 0; i < 40; i++) {
        weir_upstream_pick(u, 0, NULL, 0, &pk);
        ck_assert_int_eq(pk.panic, 1);
        seen[idx(u, pk.peer)]++;
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(seen[i], 10);
    }
    /* none usable, no panic: no peer (503 NO_HEALTHY_UPSTREAM) */
    c->panic_threshold = 0;
    atomic_store(&u->peers[0].st->health, 0);
    weir_upstream_pick(u, 0, NULL, 0, &pk);
    ck_assert_ptr_null(pk.peer);
    ck_assert_int_eq(pk.full, 0);
}
END_TEST

START_TEST(test_least_conn)
{
    weir_upstream_t *u = mkup(mkconf("lc", WEIR_BALANCE_LEAST_CONN, 3, NULL));
    int              i, count[3] = { 0, 0, 0 };

    weir_current_msec = NOW0;
    /* peer 0 is slow: 10 requests stuck on it (in other workers too) */
    atomic_store(&u->peers[0].st->inflight[7], 6);
    weir_proc_index = 0;
    for (i = 0; i < 4; i++) {
        weir_upstream_take(&u->peers[0]);
    }
    ck_assert_uint_eq(weir_peer_inflight(u->peers[0].st), 10);
    for (i = 0; i < 100; i++) {
        weir_peer_t *p = pick(u, 0);
        count[idx(u, p)]++;
        weir_upstream_take(p);       /* requests stay in flight */
        if (i < 20) {
            /* the slow peer gets nothing until the others have as many
             * requests in flight as it has */
            ck_assert_uint_ne(idx(u, p), 0);
        }
    }
    /* then the three share evenly: 10 + 80 / 3 in flight each */
    ck_assert_int_ge(count[0], 26);
    ck_assert_int_le(count[0], 27);
    ck_assert_int_le(abs(count[1] - count[2]), 1);
    ck_assert_uint_eq(weir_peer_inflight(u->peers[1].st),
                      (uint32_t) count[1]);
}
END_TEST

START_TEST(test_random_two_choices)
{
    weir_upstream_t *u = mkup(mkconf("rnd", WEIR_BALANCE_RANDOM, 4, NULL));
    int              i, count[4] = { 0, 0, 0, 0 };

    weir_current_msec = NOW0;
    weir_proc_index = 0;
    atomic_store(&u->peers[2].st->inflight[0], 50);
    for (i = 0; i < 4000; i++) {
        count[idx(u, pick(u, 0))]++;
    }
    /* The loaded peer wins only when drawn twice, never against another:
     * with 8 re-draws that is practically never. The others share the
     * rest at random: each well above a quarter of 4000 / 3 would
     * deviate. */
    ck_assert_int_eq(count[2], 0);
    for (i = 0; i < 4; i++) {
        if (i != 2) {
            ck_assert_int_gt(count[i], 1000);
            ck_assert_int_lt(count[i], 1700);
        }
    }
}
END_TEST

START_TEST(test_hash_remap_bound)
{
    enum { N = 10, KEYS = 20000 };
    weir_upstream_conf_t *a = mkconf("ha", WEIR_BALANCE_HASH, N, NULL);
    weir_upstream_conf_t *b = mkconf("hb", WEIR_BALANCE_HASH, N - 1, NULL);
    weir_upstream_t      *ua, *ub;
    weir_upstream_conf_t *both[2] = { a, b };
    size_t                i, j, moved = 0, owned = 0, load[N];
    char                  key[32];
    uint64_t              h;

    /* b is a without its fourth peer (10.0.0.4) */
    for (i = 0, j = 0; i < N; i++) {
        if (i != 3) {
            b->peers[j++] = a->peers[i];
        }
    }
    ck_assert_int_eq(weir_upstream_init(both, 2), WEIR_OK);
    ua = weir_upstream_get(a);
    ub = weir_upstream_get(b);
    weir_current_msec = NOW0;
    memset(load, 0, sizeof(load));
    for (i = 0; i < KEYS; i++) {
        int n = snprintf(key, sizeof(key), "198.51.%zu.%zu", i / 256, i % 256);
        weir_peer_t *pa, *pb;

        h = weir_upstream_hash(key, (size_t) n);
        pa = pick(ua, h);
        pb = pick(ub, h);
        /* the same key always lands on the same peer */
        ck_assert_ptr_eq(pick(ua, h), pa);
        load[idx(ua, pa)]++;
        if (strcmp(pa->conf->text, "10.0.0.4:80") == 0) {
            owned++;
            continue;
        }
        /* a key the removed peer did not own never moves */
        if (strcmp(pa->conf->text, pb->conf->text) != 0) {
            moved++;
        }
    }
    ck_assert_uint_eq(moved, 0);
    /* the removed peer owned about 1/N of the keys, so 1/N moved */
    ck_assert_uint_gt(owned, KEYS / N / 2);
    ck_assert_uint_lt(owned, KEYS / N * 2);
    for (i = 0; i < N; i++) {
        ck_assert_uint_gt(load[i], KEYS / N / 2);
    }
    /* an unusable owner: its keys go to the next peer on the ring, the
     * others stay */
    atomic_store(&ua->peers[0].st->health, 0);
    for (i = 0; i < 2000; i++) {
        int n = snprintf(key, sizeof(key), "k%zu", i);
        h = weir_upstream_hash(key, (size_t) n);
        ck_assert_uint_ne(idx(ua, pick(ua, h)), 0);
    }
}
END_TEST

START_TEST(test_max_conns)
{
    weir_upstream_conf_t *c = mkconf("mc", WEIR_BALANCE_ROUND_ROBIN, 2, NULL);
    weir_upstream_t      *u;
    weir_pick_t           pk;

    c->peers[0].max_conns = 2;
    c->peers[1].max_conns = 1;
    u = mkup(c);
    weir_current_msec = NOW0;
    weir_proc_index = 0;
    weir_upstream_take(pick(u, 0));
    weir_upstream_take(pick(u, 0));
    weir_upstream_take(pick(u, 0));
    /* 2 + 1 in flight: full, and said so (the request queues) */
    weir_upstream_pick(u, 0, NULL, 0, &pk);
    ck_assert_ptr_null(pk.peer);
    ck_assert_int_eq(pk.full, 1);
    weir_upstream_done(&u->peers[1]);
    weir_upstream_pick(u, 0, NULL, 0, &pk);
    ck_assert_uint_eq(idx(u, pk.peer), 1);
}
END_TEST

START_TEST(test_slow_start)
{
    weir_upstream_conf_t *c = mkconf("ss", WEIR_BALANCE_ROUND_ROBIN, 2, NULL);
    weir_upstream_t      *u;
    int                   i, count[2] = { 0, 0 };

    c->slow_start = 10000;
    u = mkup(c);
    weir_current_msec = NOW0;
    atomic_store(&u->peers[1].st->usable_since, NOW0 - 2500);
    ck_assert_int_eq(weir_upstream_weight(&u->peers[0]), 100);
    ck_assert_int_eq(weir_upstream_weight(&u->peers[1]), 25);
    for (i = 0; i < 500; i++) {
        count[idx(u, pick(u, 0))]++;
    }
    ck_assert_int_eq(count[1], 100);      /* 25 / 125 of the picks */
    weir_current_msec = NOW0 + 7500;
    ck_assert_int_eq(weir_upstream_weight(&u->peers[1]), 100);
}
END_TEST

/* ---- breaker ---------------------------------------------------------------- */

START_TEST(test_breaker_cycle)
{
    weir_upstream_conf_t *c = mkconf("br", WEIR_BALANCE_ROUND_ROBIN, 2, NULL);
    weir_upstream_t      *u = mkup(c);
    weir_peer_conf_t     *pc = &c->peers[0];
    weir_msec_t           until, cool;
    unsigned              reopens;
    int                   i;

    weir_current_msec = NOW0;
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 1);
    /* two failures, then the window passes: still closed */
    weir_breaker_failure(c, pc, 0, "connect_refused");
    weir_breaker_failure(c, pc, 0, "connect_refused");
    weir_current_msec += 10001;
    weir_breaker_failure(c, pc, 0, "connect_refused");
    ck_assert_int_eq(weir_breaker_state(pc->state, NULL, NULL),
                     WEIR_BREAKER_CLOSED);
    /* three within fail_timeout: open for about fail_timeout */
    weir_breaker_failure(c, pc, 0, "connect_refused");
    weir_breaker_failure(c, pc, 0, "connect_refused");
    ck_assert_int_eq(weir_breaker_state(pc->state, &reopens, &until),
                     WEIR_BREAKER_OPEN);
    ck_assert_uint_eq(reopens, 0);
    cool = until - weir_current_msec;
    ck_assert_int_ge(cool, 9000);
    ck_assert_int_le(cool, 11000);
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 0);
    ck_assert(!weir_upstream_usable(&u->peers[0]));
    for (i = 0; i < 20; i++) {
        ck_assert_uint_eq(idx(u, pick(u, 0)), 1);
    }
    /* cooldown over: exactly one trial */
    weir_current_msec = until;
    ck_assert_int_eq(weir_breaker_admit(c, pc, 0), 2);
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 2);
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 0);
    ck_assert_int_eq(weir_breaker_state(pc->state, NULL, NULL),
                     WEIR_BREAKER_HALF_OPEN);
    /* the trial fails: open again, cooldown doubled */
    weir_breaker_failure(c, pc, 1, "connect_refused");
    ck_assert_int_eq(weir_breaker_state(pc->state, &reopens, &until),
                     WEIR_BREAKER_OPEN);
    ck_assert_uint_eq(reopens, 1);
    cool = until - weir_current_msec;
    ck_assert_int_ge(cool, 18000);
    ck_assert_int_le(cool, 22000);
    /* next trial abandoned (client left): the next request may try */
    weir_current_msec = until;
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 2);
    weir_breaker_abandon(c, pc);
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 2);
    /* a trial not finished in time is taken over */
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 0);
    weir_current_msec += 2000 + 1000 + 5000;
    ck_assert_int_eq(weir_breaker_admit(c, pc, 1), 2);
    /* success closes, and slow start begins now */
    weir_breaker_success(c, pc, 1);
    ck_assert_int_eq(weir_breaker_state(pc->state, &reopens, NULL),
                     WEIR_BREAKER_CLOSED);
    ck_assert_uint_eq(reopens, 0);
    ck_assert_int_eq(atomic_load(&pc->state->usable_since), weir_current_msec);
    ck_assert_uint_eq(atomic_load(&pc->state->breaker_opens_total), 2);
    /* max_fails = 0: never opens */
    c->peers[1].max_fails = 0;
    for (i = 0; i < 50; i++) {
        weir_breaker_failure(c, &c->peers[1], 0, "connect_refused");
    }
    ck_assert_int_eq(weir_breaker_admit(c, &c->peers[1], 1), 1);
}
END_TEST

START_TEST(test_breaker_cooldown_cap)
{
    weir_upstream_conf_t *c = mkconf("cap", WEIR_BALANCE_ROUND_ROBIN, 1, NULL);

    c->max_cooldown = 60000;
    ck_assert_int_eq(weir_breaker_cooldown(c, &c->peers[0], 0), 10000);
    ck_assert_int_eq(weir_breaker_cooldown(c, &c->peers[0], 1), 20000);
    ck_assert_int_eq(weir_breaker_cooldown(c, &c->peers[0], 2), 40000);
    ck_assert_int_eq(weir_breaker_cooldown(c, &c->peers[0], 3), 60000);
    ck_assert_int_eq(weir_breaker_cooldown(c, &c->peers[0], 40), 60000);
}
END_TEST

START_TEST(test_health_expect)
{
    weir_upstream_conf_t *u = mkconf("he", WEIR_BALANCE_ROUND_ROBIN, 1, NULL);
    char                  err[200];

    /* not set: 200-399 */
    ck_assert_int_eq(weir_health_expected(u, 200, "", 0), 1);
    ck_assert_int_eq(weir_health_expected(u, 399, "", 0), 1);
    ck_assert_int_eq(weir_health_expected(u, 404, "", 0), 0);
    ck_assert_int_eq(weir_health_expect_parse(u, "200 204 500-502", err,
                                              sizeof(err)), WEIR_OK);
    ck_assert_int_eq(weir_health_expected(u, 204, "", 0), 1);
    ck_assert_int_eq(weir_health_expected(u, 501, "", 0), 1);
    ck_assert_int_eq(weir_health_expected(u, 301, "", 0), 0);
    ck_assert_int_eq(weir_health_expect_parse(u, "200 ~ \"status\": *\"ok\"",
                                              err, sizeof(err)), WEIR_OK);
    ck_assert_int_eq(weir_health_expected(u, 200, "{\"status\": \"ok\"}", 16),
                     1);
    ck_assert_int_eq(weir_health_expected(u, 200, "{\"status\":\"down\"}",
                                          17), 0);
    ck_assert_int_eq(weir_health_expected(u, 200, NULL, 0), -1);
    ck_assert_int_eq(weir_health_expected(u, 500, "{\"status\": \"ok\"}", 16),
                     0);
    weir_health_expect_free(u);
    /* only a regex: statuses default to 200-399 */
    ck_assert_int_eq(weir_health_expect_parse(u, "~ ^ok", err, sizeof(err)),
                     WEIR_OK);
    ck_assert_int_eq(weir_health_expected(u, 302, "ok", 2), 1);
    weir_health_expect_free(u);
    /* errors */
    ck_assert_int_eq(weir_health_expect_parse(u, "20x", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_health_expect_parse(u, "99", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_health_expect_parse(u, "300-200", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_health_expect_parse(u, "200 ~ (", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert(strstr(err, "regex") != NULL);
    ck_assert_int_eq(weir_health_expect_parse(u, "200 ~", err, sizeof(err)),
                     WEIR_ERROR);
}
END_TEST

/* ---- across processes --------------------------------------------------------- */

static int
wait_all(pid_t *pids, int n)
{
    int i, status, sum = 0;

    for (i = 0; i < n; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status));
        sum += WEXITSTATUS(status);
    }
    return sum;
}

START_TEST(test_shared_breaker_across_workers)
{
    enum { NPROC = 8 };
    weir_shm_t           *shm = weir_shm_create(4 << 20, NULL, 0);
    weir_upstream_conf_t *c = mkconf("sh", WEIR_BALANCE_ROUND_ROBIN, 2, NULL);
    weir_upstream_conf_t *arr[1] = { c };
    weir_peer_conf_t     *pc = &c->peers[0];
    pid_t                 pids[NPROC];
    char                  err[128];
    int                   i, k;

    ck_assert_ptr_nonnull(shm);
    ck_assert_int_eq(weir_peer_state_attach(shm, arr, 1, 1, err, sizeof(err)),
                     WEIR_OK);
    weir_peer_state_procs_hi(shm, NPROC);
    weir_current_msec = NOW0;
    /* eight workers each see failures at once: one window, one open */
    for (i = 0; i < NPROC; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            weir_proc_index = i;
            for (k = 0; k < 1000; k++) {
                weir_breaker_failure(c, pc, 0, "connect_refused");
                weir_peer_inflight_add(pc->state, 1);
            }
            _exit(0);
        }
    }
    ck_assert_int_eq(wait_all(pids, NPROC), 0);
    ck_assert_int_eq(weir_breaker_state(pc->state, NULL, NULL),
                     WEIR_BREAKER_OPEN);
    ck_assert_uint_eq(atomic_load(&pc->state->breaker_opens_total), 1);
    ck_assert_uint_eq(weir_peer_inflight(pc->state), NPROC * 1000);
    /* a worker is gone: the master clears its share */
    weir_peer_state_proc_gone(shm, 3);
    ck_assert_uint_eq(weir_peer_inflight(pc->state), (NPROC - 1) * 1000);

    /* the cooldown is over: of eight racing workers exactly one gets the
     * trial (exit status 1) */
    weir_current_msec = NOW0 + 60000;
    for (i = 0; i < NPROC; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            _exit(weir_breaker_admit(c, pc, 1) == 2);
        }
    }
    ck_assert_int_eq(wait_all(pids, NPROC), 1);

    /* a reload keeps the record of a peer that stays, a new peer starts
     * healthy with slow start, a removed one is freed once the old
     * generation is gone */
    {
        weir_upstream_conf_t *n = mkconf("sh", WEIR_BALANCE_ROUND_ROBIN, 2,
                                         NULL);
        weir_upstream_conf_t *narr[1] = { n };
        weir_peer_state_t    *old1 = c->peers[1].state;

        snprintf(n->peers[1].text, sizeof(n->peers[1].text), "10.0.0.9:80");
        ck_assert_int_eq(weir_peer_state_attach(shm, narr, 1, 2, err,
                                                sizeof(err)), WEIR_OK);
        ck_assert_ptr_eq(n->peers[0].state, pc->state);
        ck_assert_int_eq(weir_breaker_state(n->peers[0].state, NULL, NULL),
                         WEIR_BREAKER_HALF_OPEN);
        ck_assert_ptr_ne(n->peers[1].state, old1);
        ck_assert_uint_eq(atomic_load(&n->peers[1].state->health), 1);
        ck_assert_int_eq(atomic_load(&n->peers[1].state->usable_since),
                         NOW0 + 60000);
        weir_peer_state_recycle(shm, 2);
        ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
        /* the removed peer's memory was given back: a third attach of
         * the old list creates it anew, with default state */
        ck_assert_int_eq(weir_peer_state_attach(shm, arr, 1, 3, err,
                                                sizeof(err)), WEIR_OK);
        ck_assert_uint_eq(atomic_load(&c->peers[1].state->breaker), 0);
    }
    weir_shm_destroy(shm);
}
END_TEST

static Suite *
upstream_suite(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = tcase_create("balance");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_robin_weights);
    tcase_add_test(tc, test_tried_down_backup);
    tcase_add_test(tc, test_no_usable_and_panic);
    tcase_add_test(tc, test_least_conn);
    tcase_add_test(tc, test_random_two_choices);
    tcase_add_test(tc, test_hash_remap_bound);
    tcase_add_test(tc, test_max_conns);
    tcase_add_test(tc, test_slow_start);
    tcase_add_test(tc, test_breaker_cycle);
    tcase_add_test(tc, test_breaker_cooldown_cap);
    tcase_add_test(tc, test_health_expect);
    tcase_add_test(tc, test_shared_breaker_across_workers);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(upstream_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
