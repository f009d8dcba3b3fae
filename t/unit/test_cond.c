#include "weir_config.h"
#include "http/cond.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/*
 * Conditionals and Range against representations a static file never
 * has (weak entity tags, no tag, no date): the shapes a cached object
 * brings. The static-file cases run through test_static.c.
 */

static weir_http_cond_res_t
eval(const char *etag, time_t mtime, off_t size, const char *ifm,
    const char *inm, const char *ims, const char *range, const char *ifr)
{
    weir_http_cond_t     c;
    weir_http_rep_t      rep = { etag, mtime, size };
    weir_http_cond_res_t out;

    memset(&c, 0, sizeof(c));
#define F(field, v) if (v) { c.field = v; c.field##_len = strlen(v); }
    F(if_match, ifm);
    F(if_none_match, inm);
    F(if_modified_since, ims);
    F(range, range);
    F(if_range, ifr);
#undef F
    weir_http_cond_eval(&c, &rep, &out);
    return out;
}

#define T0 784111777    /* Sun, 06 Nov 1994 08:49:37 GMT */
#define D0 "Sun, 06 Nov 1994 08:49:37 GMT"

START_TEST(test_weak_tag)
{
    /* If-None-Match compares weakly: W/ on either side matches */
    ck_assert_int_eq(eval("W/\"v1\"", T0, 100, NULL, "W/\"v1\"", NULL, NULL,
                          NULL).status, 304);
    ck_assert_int_eq(eval("W/\"v1\"", T0, 100, NULL, "\"v1\"", NULL, NULL,
                          NULL).status, 304);
    ck_assert_int_eq(eval("\"v1\"", T0, 100, NULL, "W/\"v1\"", NULL, NULL,
                          NULL).status, 304);
    ck_assert_int_eq(eval("W/\"v1\"", T0, 100, NULL, "\"v2\"", NULL, NULL,
                          NULL).status, 200);
    /* If-Match and If-Range compare strongly: a weak tag never matches */
    ck_assert_int_eq(eval("W/\"v1\"", T0, 100, "\"v1\"", NULL, NULL, NULL,
                          NULL).status, 412);
    ck_assert_int_eq(eval("\"v1\"", T0, 100, "W/\"v1\"", NULL, NULL, NULL,
                          NULL).status, 412);
    ck_assert_int_eq(eval("\"v1\"", T0, 100, "\"v0\", \"v1\"", NULL, NULL,
                          NULL, NULL).status, 200);
    ck_assert_int_eq(eval("W/\"v1\"", T0, 100, NULL, NULL, NULL,
                          "bytes=0-9", "W/\"v1\"").status, 200);
    ck_assert_int_eq(eval("\"v1\"", T0, 100, NULL, NULL, NULL,
                          "bytes=0-9", "\"v1\"").status, 206);
}
END_TEST

START_TEST(test_no_validators)
{
    weir_http_cond_res_t r;

    /* no tag: only "*" passes If-Match; If-None-Match never matches */
    ck_assert_int_eq(eval(NULL, -1, 10, "*", NULL, NULL, NULL, NULL).status,
                     200);
    ck_assert_int_eq(eval(NULL, -1, 10, "\"x\"", NULL, NULL, NULL,
                          NULL).status, 412);
    ck_assert_int_eq(eval(NULL, -1, 10, NULL, "\"x\"", NULL, NULL,
                          NULL).status, 200);
    ck_assert_int_eq(eval(NULL, -1, 10, NULL, "*", NULL, NULL, NULL).status,
                     304);
    /* no date: date conditions are ignored, an If-Range date fails */
    ck_assert_int_eq(eval(NULL, -1, 10, NULL, NULL, D0, NULL, NULL).status,
                     200);
    r = eval(NULL, -1, 10, NULL, NULL, NULL, "bytes=0-4", D0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.length, 10);
    r = eval(NULL, T0, 10, NULL, NULL, NULL, "bytes=0-4", D0);
    ck_assert_int_eq(r.status, 206);
    ck_assert_int_eq(r.length, 5);
}
END_TEST

START_TEST(test_order_and_ranges)
{
    weir_http_cond_res_t r;

    /* If-None-Match wins over If-Modified-Since */
    ck_assert_int_eq(eval("\"a\"", T0, 10, NULL, "\"b\"", D0, NULL,
                          NULL).status, 200);
    ck_assert_int_eq(eval("\"a\"", T0, 10, NULL, NULL, D0, NULL,
                          NULL).status, 304);
    /* a 412 comes before a 304 */
    ck_assert_int_eq(eval("\"a\"", T0, 10, "\"b\"", "\"a\"", NULL, NULL,
                          NULL).status, 412);
    r = eval("\"a\"", T0, 1000, NULL, NULL, NULL, "bytes=-100", NULL);
    ck_assert_int_eq(r.status, 206);
    ck_assert_int_eq(r.offset, 900);
    ck_assert_int_eq(r.length, 100);
    r = eval("\"a\"", T0, 1000, NULL, NULL, NULL, "bytes=1000-", NULL);
    ck_assert_int_eq(r.status, 416);
    ck_assert_int_eq(r.length, 0);
    r = eval("\"a\"", T0, 1000, NULL, NULL, NULL, "bytes=0-1,5-6", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.length, 1000);
    r = eval("\"a\"", T0, 1000, NULL, NULL, NULL,
             "bytes=99999999999999999999999-", NULL);
    ck_assert_int_eq(r.status, 416);
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("cond");
    TCase   *tc = tcase_create("cond");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, test_weak_tag);
    tcase_add_test(tc, test_no_validators);
    tcase_add_test(tc, test_order_and_ranges);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
