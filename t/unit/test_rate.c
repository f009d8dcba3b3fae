#include "weir_config.h"
#include "http/rate.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

/* The minimum-rate rule (http/rate.c): only time spent waiting for the
 * client counts, a window is judged once the waits add up to it, and a
 * window that passes starts the next from zero. */

START_TEST(test_trickle_is_cut)
{
    weir_http_rate_t rt;
    weir_msec_t      now = 1000000;
    uint64_t         rate = 99;
    int              i, cut = 0;

    memset(&rt, 0, sizeof(rt));
    /* one byte a second: waiting all the time */
    for (i = 0; i < 30 && !cut; i++) {
        weir_http_rate_wait(&rt, now);
        now += 1000;
        cut = weir_http_rate_moved(&rt, 1, now, 256, 20000, &rate);
    }
    ck_assert_int_eq(cut, 1);
    ck_assert_int_eq(i, 20);            /* judged after 20 s of waiting */
    ck_assert_uint_eq(rate, 1);
}
END_TEST

START_TEST(test_slow_but_fair_passes)
{
    weir_http_rate_t rt;
    weir_msec_t      now = 5;
    int              i;

    memset(&rt, 0, sizeof(rt));
    /* 1 KiB every 2 s: 512 B/s, above 256, for ten minutes */
    for (i = 0; i < 300; i++) {
        weir_http_rate_wait(&rt, now);
        now += 2000;
        ck_assert_int_eq(weir_http_rate_moved(&rt, 1024, now, 256, 20000,
                                              NULL), 0);
    }
}
END_TEST

START_TEST(test_time_not_waiting_is_free)
{
    weir_http_rate_t rt;
    weir_msec_t      now = 100;
    int              i;

    memset(&rt, 0, sizeof(rt));
    /* 100 bytes per 100 ms of waiting (1000 B/s), with a minute between
     * the waits in which weir had nothing to ask of the client */
    for (i = 0; i < 500; i++) {
        weir_http_rate_wait(&rt, now);
        now += 100;
        ck_assert_int_eq(weir_http_rate_moved(&rt, 100, now, 256, 20000,
                                              NULL), 0);
        now += 60000;
    }
    /* a wait that is already running is not restarted */
    weir_http_rate_wait(&rt, now);
    weir_http_rate_wait(&rt, now + 15000);
    ck_assert_int_eq(weir_http_rate_moved(&rt, 1, now + 30000, 256, 20000,
                                          NULL), 1);
}
END_TEST

START_TEST(test_off)
{
    weir_http_rate_t rt;

    memset(&rt, 0, sizeof(rt));
    weir_http_rate_wait(&rt, 0);
    ck_assert_int_eq(weir_http_rate_moved(&rt, 0, 3600000, 0, 20000, NULL),
                     0);
    weir_http_rate_wait(&rt, 0);
    ck_assert_int_eq(weir_http_rate_moved(&rt, 0, 3600000, 256, 0, NULL), 0);
}
END_TEST

START_TEST(test_window_restarts)
{
    weir_http_rate_t rt;
    uint64_t         rate = 0;

    memset(&rt, 0, sizeof(rt));
    /* a fast first window, then a slow one: the fast one does not pay
     * for the slow one */
    weir_http_rate_wait(&rt, 0);
    ck_assert_int_eq(weir_http_rate_moved(&rt, 1 << 20, 20000, 256, 20000,
                                          &rate), 0);
    ck_assert_uint_eq(rate, (1 << 20) / 20);
    weir_http_rate_wait(&rt, 20000);
    ck_assert_int_eq(weir_http_rate_moved(&rt, 10, 40000, 256, 20000,
                                          &rate), 1);
    ck_assert_uint_eq(rate, 0);
}
END_TEST

static Suite *
rate_suite(void)
{
    Suite *s = suite_create("rate");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_trickle_is_cut);
    tcase_add_test(tc, test_slow_but_fair_passes);
    tcase_add_test(tc, test_time_not_waiting_is_free);
    tcase_add_test(tc, test_off);
    tcase_add_test(tc, test_window_restarts);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(rate_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
