#include "weir_config.h"
#include "core/units.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include "core/core.h"

/* Sizes and times as the configuration writes them, both ways. */

START_TEST(units)
{
    int64_t v;
    char    buf[32];

    ck_assert_int_eq(weir_units_parse_size("512", &v), WEIR_OK);
    ck_assert_int_eq(v, 512);
    ck_assert_int_eq(weir_units_parse_size("16k", &v), WEIR_OK);
    ck_assert_int_eq(v, 16384);
    ck_assert_int_eq(weir_units_parse_size("1G", &v), WEIR_OK);
    ck_assert_int_eq(v, (int64_t) 1 << 30);
    ck_assert_int_eq(weir_units_parse_size("", &v), WEIR_ERROR);
    ck_assert_int_eq(weir_units_parse_size("1 k", &v), WEIR_ERROR);
    ck_assert_int_eq(weir_units_parse_size("1kb", &v), WEIR_ERROR);
    ck_assert_int_eq(weir_units_parse_size("9223372036854775808", &v),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_units_parse_msec("250ms", &v), WEIR_OK);
    ck_assert_int_eq(v, 250);
    ck_assert_int_eq(weir_units_parse_msec("7", &v), WEIR_OK);
    ck_assert_int_eq(v, 7000);
    ck_assert_int_eq(weir_units_parse_msec("10m", &v), WEIR_OK);
    ck_assert_int_eq(v, 600000);
    ck_assert_int_eq(weir_units_parse_msec("1d", &v), WEIR_OK);
    ck_assert_int_eq(v, 86400000);
    ck_assert_int_eq(weir_units_parse_msec("1.5s", &v), WEIR_ERROR);
    ck_assert_int_eq(weir_units_parse_msec("5x", &v), WEIR_ERROR);
    ck_assert_int_eq(weir_units_parse_msec("s", &v), WEIR_ERROR);
    weir_units_format_msec(90000, buf, sizeof(buf));
    ck_assert_str_eq(buf, "90s");
    weir_units_format_msec(0, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
    weir_units_format_msec(1500, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1500ms");
    weir_units_format_size(1536, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1536");
    weir_units_format_size(3 << 20, buf, sizeof(buf));
    ck_assert_str_eq(buf, "3m");
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("units");
    TCase   *tc = tcase_create("units");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, units);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
