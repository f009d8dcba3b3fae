#include "weir_config.h"
#include "http/limit_table.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/core.h"
#include "core/shm.h"

/*
 * [limit] state: the leaky-bucket arithmetic alone, then the shared
 * table (keys, eviction, requests in progress, a dead process's holds,
 * a lock owner killed inside the table) in a real segment across fork.
 */

static weir_shm_t *new_shm(void);
static weir_limit_table_t *new_table(weir_shm_t *shm, uint32_t entries);
static int take(weir_limit_bucket_t *b, int *fresh, int64_t n,
    int64_t period, int64_t burst, int nodelay, int64_t now, int64_t *wait);

static weir_shm_t *
new_shm(void)
{
    char        err[256] = "";
    weir_shm_t *shm = weir_shm_create(4 * 1024 * 1024, err, sizeof(err));

    ck_assert_msg(shm != NULL, "create: %s", err);
    return shm;
}

static weir_limit_table_t *
new_table(weir_shm_t *shm, uint32_t entries)
{
    char                err[256] = "";
    weir_limit_table_t *t = weir_limit_table_attach(shm, "t", entries, err,
                                                    sizeof(err));

    ck_assert_msg(t != NULL, "attach: %s", err);
    return t;
}

static int
take(weir_limit_bucket_t *b, int *fresh, int64_t n, int64_t period,
    int64_t burst, int nodelay, int64_t now, int64_t *wait)
{
    weir_limit_rate_t rt = { n, period, burst, 0, nodelay };
    int               rc = weir_limit_bucket_take(b, *fresh, &rt, now, wait);

    if (rc == WEIR_OK) {
        *fresh = 0;
    }
    return rc;
}

START_TEST(test_bucket_no_burst)
{
    weir_limit_bucket_t b = { 0, 0 };
    int                 fresh = 1;
    int64_t             w;

    /* 2r/s, burst 0: one at once, the next after 500 ms. */
    ck_assert_int_eq(take(&b, &fresh, 2, 1000, 0, 0, 1000, &w), WEIR_OK);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(take(&b, &fresh, 2, 1000, 0, 0, 1000, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 500);
    ck_assert_int_eq(take(&b, &fresh, 2, 1000, 0, 0, 1300, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 200);
    ck_assert_int_eq(take(&b, &fresh, 2, 1000, 0, 0, 1500, &w), WEIR_OK);
    ck_assert_int_eq(w, 0);
    /* A refusal does not charge the bucket. */
    ck_assert_int_eq(take(&b, &fresh, 2, 1000, 0, 0, 1600, &w), WEIR_BUSY);
    ck_assert_int_eq(take(&b, &fresh, 2, 1000, 0, 0, 2000, &w), WEIR_OK);
}
END_TEST

START_TEST(test_bucket_per_minute)
{
    weir_limit_bucket_t b = { 0, 0 };
    int                 fresh = 1;
    int64_t             w;

    /* 1r/m: the wait is the rest of the minute, to the millisecond. */
    ck_assert_int_eq(take(&b, &fresh, 1, 60000, 0, 0, 5, &w), WEIR_OK);
    ck_assert_int_eq(take(&b, &fresh, 1, 60000, 0, 0, 10005, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 50000);
    ck_assert_int_eq(take(&b, &fresh, 1, 60000, 0, 0, 60004, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 1);
    ck_assert_int_eq(take(&b, &fresh, 1, 60000, 0, 0, 60005, &w), WEIR_OK);
    /* 3r/m: 20 s apart, the wait rounded up. */
    fresh = 1;
    ck_assert_int_eq(take(&b, &fresh, 3, 60000, 0, 0, 0, &w), WEIR_OK);
    ck_assert_int_eq(take(&b, &fresh, 3, 60000, 0, 0, 1, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 19999);
}
END_TEST

START_TEST(test_bucket_burst_delay)
{
    weir_limit_bucket_t b = { 0, 0 };
    int                 fresh = 1;
    int64_t             w;

    /* 1r/s, burst 2: paced one a second, the fourth refused. */
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 2, 0, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 2, 0, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 1000);
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 2, 0, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 2000);
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 2, 0, 0, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 1000);
    /* Half a second later the queue drained by half a request. */
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 2, 0, 500, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 500);
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 2, 0, 1000, &w), WEIR_OK);
    ck_assert_int_eq(w, 2000);
}
END_TEST

START_TEST(test_bucket_nodelay_and_idle)
{
    weir_limit_bucket_t b = { 0, 0 };
    int                 fresh = 1;
    int64_t             w;
    int                 i;

    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(take(&b, &fresh, 10, 1000, 3, 1, 0, &w), WEIR_OK);
        ck_assert_int_eq(w, 0);
    }
    ck_assert_int_eq(take(&b, &fresh, 10, 1000, 3, 1, 0, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 100);
    /* Idle for a very long time (and a clock that went back): empty, no
     * overflow, no negative excess. */
    ck_assert_int_eq(take(&b, &fresh, 1000000, 1000, 1000000, 1,
                          INT64_MAX / 4, &w), WEIR_OK);
    ck_assert_int_eq(b.excess, 0);
    ck_assert_int_eq(take(&b, &fresh, 1, 1000, 0, 1, 0, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 1000);
}
END_TEST

/* delay = 2 of burst = 4 (nginx's two-stage limiting): two beyond the
 * rate pass at once, the next two are paced. */
START_TEST(test_bucket_two_stage)
{
    weir_limit_rate_t   rt = { 1, 1000, 4, 2, 0 };
    weir_limit_bucket_t b = { 0, 0 };
    int64_t             w;

    ck_assert_int_eq(weir_limit_bucket_take(&b, 1, &rt, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(weir_limit_bucket_take(&b, 0, &rt, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(weir_limit_bucket_take(&b, 0, &rt, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(weir_limit_bucket_take(&b, 0, &rt, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 1000);
    ck_assert_int_eq(weir_limit_bucket_take(&b, 0, &rt, 0, &w), WEIR_OK);
    ck_assert_int_eq(w, 2000);
    ck_assert_int_eq(weir_limit_bucket_take(&b, 0, &rt, 0, &w), WEIR_BUSY);
    ck_assert_int_eq(w, 1000);
}
END_TEST

START_TEST(test_table_keys_and_refund)
{
    weir_shm_t         *shm = new_shm();
    weir_limit_table_t *t = new_table(shm, 64);
    weir_limit_rate_t   rt = { 1, 60000, 0, 0, 0 };
    weir_limit_ref_t    ref, ref2;
    int64_t             w;
    char                key[200];

    ck_assert_int_eq(weir_limit_table_rate(t, "a", 1, &rt, 0, &w, &ref),
                     WEIR_OK);
    ck_assert_int_eq(weir_limit_table_rate(t, "a", 1, &rt, 0, &w, &ref2),
                     WEIR_BUSY);
    ck_assert_int_eq(weir_limit_table_rate(t, "b", 1, &rt, 0, &w, &ref2),
                     WEIR_OK);
    /* Long keys that share their stored prefix stay apart. */
    memset(key, 'k', sizeof(key));
    ck_assert_int_eq(weir_limit_table_rate(t, key, 150, &rt, 0, &w, &ref2),
                     WEIR_OK);
    key[149] = 'x';
    ck_assert_int_eq(weir_limit_table_rate(t, key, 150, &rt, 0, &w, &ref2),
                     WEIR_OK);
    ck_assert_int_eq(weir_limit_table_rate(t, key, 150, &rt, 0, &w, &ref2),
                     WEIR_BUSY);
    ck_assert_uint_eq(weir_limit_table_used(t), 4);
    /* A refunded request leaves room for the next. */
    weir_limit_table_refund(t, &ref);
    ck_assert_int_eq(weir_limit_table_rate(t, "a", 1, &rt, 0, &w, &ref),
                     WEIR_OK);
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_table_eviction)
{
    weir_shm_t         *shm = new_shm();
    weir_limit_table_t *t = new_table(shm, 16);
    weir_limit_rate_t   rt = { 1, 60000, 0, 0, 0 };
    weir_limit_ref_t    ref, holds[16];
    int64_t             w;
    char                key[16];
    int                 i, n;

    for (i = 0; i < 16; i++) {
        n = snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(weir_limit_table_rate(t, key, (size_t) n, &rt, 0,
                                               &w, &ref), WEIR_OK);
    }
    /* k0 used again: k1 is now the least recently used. */
    ck_assert_int_eq(weir_limit_table_rate(t, "k0", 2, &rt, 0, &w, &ref),
                     WEIR_BUSY);
    ck_assert_int_eq(weir_limit_table_rate(t, "new", 3, &rt, 0, &w, &ref),
                     WEIR_OK);
    ck_assert_uint_eq(weir_shm_counter_get(
                          &weir_limit_table_counters(t)->evictions), 1);
    ck_assert_int_eq(weir_limit_table_rate(t, "k0", 2, &rt, 0, &w, &ref),
                     WEIR_BUSY);
    ck_assert_int_eq(weir_limit_table_rate(t, "k1", 2, &rt, 0, &w, &ref),
                     WEIR_OK);      /* evicted: starts afresh */
    /* Entries with requests in progress are never evicted: with all of
     * them held, a new key cannot be accounted. */
    for (i = 0; i < 16; i++) {
        n = snprintf(key, sizeof(key), "c%d", i);
        ck_assert_int_eq(weir_limit_table_acquire(t, key, (size_t) n, 1, 0,
                                                  0, &holds[i]), WEIR_OK);
    }
    ck_assert_int_eq(weir_limit_table_acquire(t, "x", 1, 1, 0, 0, &ref),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_limit_table_rate(t, "x", 1, &rt, 0, &w, &ref),
                     WEIR_ERROR);
    weir_limit_table_release(t, &holds[3]);
    ck_assert_int_eq(weir_limit_table_rate(t, "x", 1, &rt, 0, &w, &ref),
                     WEIR_OK);
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_table_conns_and_proc_gone)
{
    weir_shm_t         *shm = new_shm();
    weir_limit_table_t *t = new_table(shm, 64);
    weir_limit_ref_t    a, b, c, d;

    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 2, 1, 0, &a),
                     WEIR_OK);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 2, 2, 0, &b),
                     WEIR_OK);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 2, 1, 0, &c),
                     WEIR_BUSY);
    ck_assert_uint_eq(weir_limit_table_conns(t), 2);
    weir_limit_table_release(t, &a);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 2, 1, 0, &c),
                     WEIR_OK);
    /* Process 2 dies: its request goes back, process 1's stays. */
    weir_limit_table_proc_gone(t, 2);
    ck_assert_uint_eq(weir_limit_table_conns(t), 1);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 2, 3, 0, &d),
                     WEIR_OK);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 2, 3, 0, &a),
                     WEIR_BUSY);
    /* A release the master already did is not done twice. */
    weir_limit_table_release(t, &c);
    weir_limit_table_release(t, &d);
    ck_assert_uint_eq(weir_limit_table_conns(t), 0);
    weir_shm_destroy(shm);
}
END_TEST

/* Requests in progress are bounded by conn alone, not by the table's
 * size: a key of a 16-entry table may have 100 in progress, in two
 * processes, and other keys still get theirs. A dead process gives back
 * exactly its own. Hold records (two per entry, one per key and
 * process) run out only when more keys are busy in several processes
 * than that. */
START_TEST(test_table_conns_beyond_size)
{
    weir_shm_t         *shm = new_shm();
    weir_limit_table_t *t = new_table(shm, 16);
    weir_limit_ref_t    refs[100], ref, extra[64];
    char                key[16];
    int                 i, n, ok = 0, declined = 0;

    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(weir_limit_table_acquire(t, "k", 1, 100, i % 2, 0,
                                                  &refs[i]), WEIR_OK);
    }
    ck_assert_int_eq(weir_limit_table_acquire(t, "k", 1, 100, 0, 0, &ref),
                     WEIR_BUSY);
    ck_assert_uint_eq(weir_limit_table_conns(t), 100);
    ck_assert_int_eq(weir_limit_table_acquire(t, "other", 5, 100, 0, 0,
                                              &ref), WEIR_OK);
    weir_limit_table_release(t, &ref);
    /* Process 1 dies with its 50: they come back, process 0's stay. */
    weir_limit_table_proc_gone(t, 1);
    ck_assert_uint_eq(weir_limit_table_conns(t), 50);
    for (i = 0; i < 100; i += 2) {
        weir_limit_table_release(t, &refs[i]);
    }
    ck_assert_uint_eq(weir_limit_table_conns(t), 0);
    /* 16 keys busy in 3 processes need 48 records: 32 are there. */
    for (i = 0; i < 48; i++) {
        n = snprintf(key, sizeof(key), "c%d", i % 16);
        switch (weir_limit_table_acquire(t, key, (size_t) n, 100, i / 16, 0,
                                         &extra[i])) {
        case WEIR_OK:
            ok++;
            break;
        case WEIR_DECLINED:
            declined++;
            extra[i].idx = 0;
            break;
        default:
            ck_abort_msg("unexpected result");
        }
    }
    ck_assert_int_eq(ok, 32);
    ck_assert_int_eq(declined, 16);
    /* A process's further requests for a key it holds need no record. */
    ck_assert_int_eq(weir_limit_table_acquire(t, "c0", 2, 100, 1, 0, &ref),
                     WEIR_OK);
    weir_limit_table_release(t, &ref);
    for (i = 0; i < 48; i++) {
        weir_limit_table_release(t, &extra[i]);
    }
    ck_assert_uint_eq(weir_limit_table_conns(t), 0);
    weir_shm_destroy(shm);
}
END_TEST

/* A worker killed while it holds the table's lock: the next process to
 * lock it empties the table and carries on; releases that refer to the
 * old contents do nothing. */
START_TEST(test_table_owner_killed)
{
    weir_shm_t         *shm = new_shm();
    weir_limit_table_t *t = new_table(shm, 64);
    weir_limit_rate_t   rt = { 1, 60000, 0, 0, 0 };
    weir_limit_ref_t    held, ref;
    int64_t             w;
    pid_t               pid;
    int                 st;

    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 1, 0, 0, &held),
                     WEIR_OK);
    ck_assert_int_eq(weir_limit_table_rate(t, "ip", 2, &rt, 0, &w, &ref),
                     WEIR_OK);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        weir_shm_lock(weir_limit_table_mutex(t));
        _exit(0);           /* dies holding it */
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(weir_limit_table_rate(t, "ip", 2, &rt, 0, &w, &ref),
                     WEIR_OK);
    ck_assert_uint_eq(weir_shm_counter_get(
                          &weir_limit_table_counters(t)->resets), 1);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 1, 0, 0, &ref),
                     WEIR_OK);
    weir_limit_table_release(t, &held);     /* from before the reset */
    ck_assert_uint_eq(weir_limit_table_conns(t), 1);
    ck_assert_int_eq(weir_limit_table_acquire(t, "ip", 2, 1, 0, 0, &held),
                     WEIR_BUSY);
    weir_limit_table_release(t, &ref);
    ck_assert_uint_eq(weir_limit_table_conns(t), 0);
    weir_shm_destroy(shm);
}
END_TEST

/* Two processes drawing on one key at once never pass more than the
 * bucket allows. */
START_TEST(test_table_shared_across_fork)
{
    weir_shm_t         *shm = new_shm();
    weir_limit_table_t *t = new_table(shm, 64);
    weir_limit_rate_t   rt = { 1, 60000, 99, 0, 1 };
    weir_shm_counter_t *passed = &weir_limit_table_counters(t)->passed;
    pid_t               pid[4];
    int                 i, j, st;

    for (i = 0; i < 4; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            weir_limit_ref_t ref;
            int64_t          w;
            for (j = 0; j < 100; j++) {
                if (weir_limit_table_rate(t, "k", 1, &rt, 0, &w, &ref)
                    == WEIR_OK) {
                    weir_shm_counter_add(passed, 1);
                }
            }
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
    }
    ck_assert_uint_eq(weir_shm_counter_get(passed), 100);
    weir_shm_destroy(shm);
}
END_TEST

static Suite *
limit_suite(void)
{
    Suite *s = suite_create("limit");
    TCase *tc = tcase_create("bucket");
    TCase *tt = tcase_create("table");

    tcase_add_test(tc, test_bucket_no_burst);
    tcase_add_test(tc, test_bucket_per_minute);
    tcase_add_test(tc, test_bucket_burst_delay);
    tcase_add_test(tc, test_bucket_nodelay_and_idle);
    tcase_add_test(tc, test_bucket_two_stage);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tt, 60);
    tcase_add_test(tt, test_table_keys_and_refund);
    tcase_add_test(tt, test_table_eviction);
    tcase_add_test(tt, test_table_conns_and_proc_gone);
    tcase_add_test(tt, test_table_conns_beyond_size);
    tcase_add_test(tt, test_table_owner_killed);
    tcase_add_test(tt, test_table_shared_across_fork);
    suite_add_tcase(s, tt);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(limit_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
