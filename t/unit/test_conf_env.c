#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/conf.h"
#include "http/route.h"
#include "upstream/upstream_conf.h"

/*
 * ${NAME} in weir.ini values (core/conf.c, expand_env()): each test runs
 * (forked by Check) in a fresh temporary directory and loads "weir.ini"
 * from there, so error lines read "weir.ini:LINE: ...".
 */

#include "conf_harness.h"

/* The first error line, which must be `expect` (an upstream whose only
 * server was refused also has no server: a second line). */
static void
expect_error(const char *text, const char *expect)
{
    weir_config_errors_t errs;
    weir_config_t       *cf = load(text, &errs);

    ck_assert_ptr_null(cf);
    ck_assert_uint_ge(errs.n, 1);
    ck_assert_str_eq(errs.lines[0], expect);
    weir_config_errors_free(&errs);
}

#define CONF(server, ret)                                                   \
    "[upstream app]\n"                                     /* 1 */          \
    "server = " server "\n"                                /* 2 */          \
    "[server s]\n"                                         /* 3 */          \
    "listen = 127.0.0.1:8080\n"                            /* 4 */          \
    "[route t]\n"                                          /* 5 */          \
    "server = s\n"                                         /* 6 */          \
    "match = = /t\n"                                       /* 7 */          \
    "return = " ret "\n"                                   /* 8 */          \
    "[route r]\n"                                          /* 9 */          \
    "match = /\n"                                          /* 10 */         \
    "upstream = app\n"                                     /* 11 */

START_TEST(expands_set_variables)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    setenv("WEIR_T_HOST", "127.0.0.1", 1);
    setenv("WEIR_T_PORT", "3001", 1);
    setenv("WEIR_T_WORD", "hello", 1);
    cf = load(CONF("${WEIR_T_HOST}:${WEIR_T_PORT} weight=2",
                   "200 ${WEIR_T_WORD}-${WEIR_T_WORD}"), &errs);
    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "?");
    ck_assert_uint_eq(cf->upstreams[0]->npeers, 1);
    ck_assert_str_eq(cf->upstreams[0]->peers[0].text, "127.0.0.1:3001");
    ck_assert_int_eq(cf->upstreams[0]->peers[0].weight, 2);
    ck_assert_str_eq(cf->http.routes[0]->return_text, "hello-hello");
    weir_config_free(cf);
    weir_config_errors_free(&errs);
}
END_TEST

/* "$${" is a literal "${"; other dollars pass; the expansion is not
 * scanned again. */
START_TEST(literals_and_no_rescan)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    setenv("WEIR_T_NEST", "${WEIR_T_UNSET_X}", 1);
    unsetenv("WEIR_T_UNSET_X");
    cf = load(CONF("127.0.0.1:3000", "200 a$${b}c $x $ $$ ${WEIR_T_NEST}$"),
              &errs);
    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "?");
    ck_assert_str_eq(cf->http.routes[0]->return_text,
                     "a${b}c $x $ $$ ${WEIR_T_UNSET_X}$");
    weir_config_free(cf);
    weir_config_errors_free(&errs);
}
END_TEST

START_TEST(unset_variable)
{
    unsetenv("WEIR_T_NOPE");
    expect_error(CONF("${WEIR_T_NOPE}:3000", "200 x"),
                 "weir.ini:2: [upstream app] server: environment variable "
                 "WEIR_T_NOPE is not set");
    expect_error(CONF("127.0.0.1:3000", "200 ${WEIR_T_NOPE}"),
                 "weir.ini:8: [route t] return: environment variable "
                 "WEIR_T_NOPE is not set");
}
END_TEST

START_TEST(empty_and_malformed)
{
    setenv("WEIR_T_EMPTY", "", 1);
    expect_error(CONF("${WEIR_T_EMPTY}", "200 x"),
                 "weir.ini:2: [upstream app] server: empty value after "
                 "expanding environment variables");
    expect_error(CONF("127.0.0.1:3000", "200 ${WEIR_T"),
                 "weir.ini:8: [route t] return: invalid \"${\" at "
                 "\"${WEIR_T\": expected ${NAME} (letters, digits, '_'), "
                 "or \"$${\" for a literal \"${\"");
    expect_error(CONF("127.0.0.1:3000", "200 ${1X}"),
                 "weir.ini:8: [route t] return: invalid \"${\" at "
                 "\"${1X}\": expected ${NAME} (letters, digits, '_'), "
                 "or \"$${\" for a literal \"${\"");
    expect_error(CONF("127.0.0.1:3000", "200 ${}"),
                 "weir.ini:8: [route t] return: invalid \"${\" at "
                 "\"${}\": expected ${NAME} (letters, digits, '_'), "
                 "or \"$${\" for a literal \"${\"");
}
END_TEST

/* The expanded value is checked as if it had been written there. */
START_TEST(expanded_value_is_validated)
{
    setenv("WEIR_T_BAD", "not-an-address", 1);
    {
        weir_config_errors_t errs;
        weir_config_t       *cf = load(CONF("${WEIR_T_BAD}", "200 x"), &errs);

        ck_assert_ptr_null(cf);
        ck_assert_uint_ge(errs.n, 1);
        ck_assert_msg(strstr(errs.lines[0], "weir.ini:2: [upstream app] "
                             "server: ") == errs.lines[0], "%s",
                      errs.lines[0]);
        ck_assert_ptr_nonnull(strstr(errs.lines[0], "not-an-address"));
        weir_config_errors_free(&errs);
    }
}
END_TEST

static Suite *
env_suite(void)
{
    Suite *s = suite_create("conf_env");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, expands_set_variables);
    tcase_add_test(tc, literals_and_no_rescan);
    tcase_add_test(tc, unset_variable);
    tcase_add_test(tc, empty_and_malformed);
    tcase_add_test(tc, expanded_value_is_validated);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(env_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
