#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "http/http_conf.h"
#include "core/core.h"

/*
 * [limit NAME] and `limit =` in [http], [server], [route]: defaults,
 * values, every error (by file:line, section and key) and the dump.
 * Loaded from a fresh temporary directory, so error lines read
 * "weir.ini:LINE: ...".
 */

#include "conf_harness.h"

/* A route that may use limits; the error tests append to it, so a
 * [limit l] section starts on line 6. */
#define BASE                                                                \
    "[server s]\n"                     /* 1 */                              \
    "listen = 127.0.0.1:8080\n"        /* 2 */                              \
    "[route r]\n"                      /* 3 */                              \
    "match = /\n"                      /* 4 */                              \
    "return = 200 ok\n"                /* 5 */

START_TEST(limit_defaults_and_values)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_limit_conf_t   *l;

    cf = load(BASE "limit = a b\n"
              "[limit a]\nkey = $remote_addr\nrate = 10r/s\n"
              "[limit b]\nkey = $http_x_api_key$host\nrate = 30r/m\n"
              "burst = 20\nnodelay = on\nconn = 5\n"
              "exempt = 10.0.0.0/8 127.0.0.1\nexempt = ::1\n"
              "size = 100\nstatus = 503\ndry_run = on\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_uint_eq(cf->http.nlimits, 2);
    l = cf->http.limits[0];
    ck_assert_str_eq(l->name, "a");
    ck_assert_int_eq(l->rate, 10);
    ck_assert_int_eq(l->rate_period, 1000);
    ck_assert_int_eq(l->burst, 0);
    ck_assert_int_eq(l->nodelay, 0);
    ck_assert_int_eq(l->conn, 0);
    ck_assert_int_eq(l->size, 10000);
    ck_assert_int_eq(l->status, 429);
    ck_assert_uint_eq(l->nexempt, 0);
    ck_assert_int_eq(l->dry_run, 0);
    l = cf->http.limits[1];
    ck_assert_int_eq(l->rate, 30);
    ck_assert_int_eq(l->rate_period, 60000);
    ck_assert_int_eq(l->burst, 20);
    ck_assert_int_eq(l->delay, 0);
    ck_assert_int_eq(l->nodelay, 1);
    ck_assert_int_eq(l->conn, 5);
    ck_assert_uint_eq(l->nexempt, 3);
    ck_assert_ptr_nonnull(l->exempt_cidrs);
    ck_assert_int_eq(l->size, 100);
    ck_assert_int_eq(l->status, 503);
    ck_assert_int_eq(l->dry_run, 1);
    ck_assert_uint_eq(cf->http.routes[0]->nlimits, 2);
    ck_assert_ptr_eq(cf->http.routes[0]->limits[0], cf->http.limits[0]);
    ck_assert_ptr_eq(cf->http.routes[0]->limits[1], cf->http.limits[1]);
    weir_config_free(cf);

    /* conn alone is a limit */
    cf = load(BASE "limit = c\n[limit c]\nkey = $remote_addr\nconn = 1\n",
              &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_int_eq(cf->http.limits[0]->rate, 0);
    weir_config_free(cf);
}
END_TEST

START_TEST(limit_errors)
{
    ck_load_error(BASE "[limit l]\nrate = 1r/s\n",
                  "weir.ini:6: [limit l] key: missing");
    ck_load_error(BASE "[limit l]\nkey = $remote_adr\nrate = 1r/s\n",
                  "weir.ini:7: [limit l] key: unknown variable "
                  "\"$remote_adr\"");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\n",
                  "weir.ini:6: [limit l]: limits nothing");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nrate = 10\n",
                  "weir.ini:8: [limit l] rate: invalid rate \"10\"");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nrate = 10r/h\n",
                  "weir.ini:8: [limit l] rate: invalid rate");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nrate = 0r/s\n",
                  "weir.ini:8: [limit l] rate: invalid rate");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nrate = r/s\n",
                  "weir.ini:8: [limit l] rate: invalid rate");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "burst = 5\n",
                  "weir.ini:9: [limit l] burst: requires rate");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "nodelay = on\n",
                  "weir.ini:9: [limit l] nodelay: requires rate");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "delay = 1\n",
                  "weir.ini:9: [limit l] delay: requires rate");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nrate = 1r/s\n"
                  "burst = 4\ndelay = 2\nnodelay = on\n",
                  "weir.ini:10: [limit l] delay: excludes nodelay");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nrate = 1r/s\n"
                  "burst = 4\ndelay = 5\n",
                  "weir.ini:10: [limit l] delay: 5 is more than burst (4)");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = -1\n",
                  "weir.ini:8: [limit l] conn:");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "size = 8\n", "weir.ini:9: [limit l] size:");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "status = 200\n", "weir.ini:9: [limit l] status:");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "exempt = 10.0.0.0/33\n",
                  "weir.ini:9: [limit l] exempt: invalid address");
    ck_load_error(BASE "[limit l]\nkey = $remote_addr\nconn = 1\n"
                  "rate = 1r/s\nrate = 2r/s\n",
                  "weir.ini:10: [limit l] rate:");
    ck_load_error(BASE "limit = nope\n",
                  "weir.ini:6: [route r] limit: unknown limit \"nope\"");
    ck_load_error(BASE "limit = l l\n[limit l]\nkey = $remote_addr\n"
                  "conn = 1\n",
                  "weir.ini:6: [route r] limit: limit \"l\" named twice");
}
END_TEST

START_TEST(limit_dump_round_trip)
{
    weir_config_errors_t errs;
    weir_config_t       *cf, *again;
    char                *d1, *d2;

    cf = load(BASE "limit = a\n[limit a]\nkey = $remote_addr\n"
              "rate = 30r/m\nburst = 2\ndelay = 1\nconn = 3\n"
              "exempt = 10.0.0.0/8\ndry_run = on\n",
              &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    d1 = dump_to(cf, "dump1.ini");
    ck_assert_ptr_nonnull(strstr(d1, "\n[limit a]\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nrate = 30r/m\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\ndelay = 1\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\ndry_run = on\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nlimit = a\n"));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

/* `limit` in [http] and [server]: a level without its own list inherits
 * the one above; a level with one replaces it; "off" clears it. */
START_TEST(limit_levels)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_server_conf_t  *s, *t;

    cf = load("[http]\nlimit = a\n"
              "[server s]\nlisten = 127.0.0.1:8080\nlimit = b c\n"
              "[server t]\nlisten = 127.0.0.1:8081\n"
              "[server u]\nlisten = 127.0.0.1:8082\nlimit = off\n"
              "[route inherit]\nserver = s\nmatch = /i\nreturn = 200 ok\n"
              "[route own]\nserver = s\nmatch = /o\nreturn = 200 ok\n"
              "limit = a\n"
              "[route off]\nserver = s\nmatch = /x\nreturn = 200 ok\n"
              "limit = off\n"
              "[route fromhttp]\nserver = t\nmatch = /\nreturn = 200 ok\n"
              "[route none]\nserver = u\nmatch = /\nreturn = 200 ok\n"
              "[limit a]\nkey = $remote_addr\nrate = 1r/s\n"
              "[limit b]\nkey = $remote_addr\nconn = 1\n"
              "[limit c]\nkey = $host\nconn = 1\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_uint_eq(cf->http.ndefault_limits, 1);
    ck_assert_ptr_eq(cf->http.default_limits[0], cf->http.limits[0]);
    s = cf->http.servers[0];
    t = cf->http.servers[1];
    ck_assert_uint_eq(s->nlimits, 2);
    ck_assert_ptr_eq(s->limits[0], cf->http.limits[1]);
    ck_assert_ptr_eq(s->limits[1], cf->http.limits[2]);
    ck_assert_uint_eq(t->nlimits, 1);
    ck_assert_ptr_eq(t->limits[0], cf->http.limits[0]);
    ck_assert_uint_eq(cf->http.servers[2]->nlimits, 0);
    ck_assert_uint_eq(cf->http.routes[0]->nlimits, 2);
    ck_assert_ptr_eq(cf->http.routes[0]->limits[1], cf->http.limits[2]);
    ck_assert_uint_eq(cf->http.routes[1]->nlimits, 1);
    ck_assert_ptr_eq(cf->http.routes[1]->limits[0], cf->http.limits[0]);
    ck_assert_uint_eq(cf->http.routes[2]->nlimits, 0);
    ck_assert_uint_eq(cf->http.routes[3]->nlimits, 1);
    ck_assert_ptr_eq(cf->http.routes[3]->limits[0], cf->http.limits[0]);
    ck_assert_uint_eq(cf->http.routes[4]->nlimits, 0);
    weir_config_free(cf);

    ck_load_error("[http]\nlimit = nope\n" BASE,
                  "weir.ini:2: [http] limit: unknown limit \"nope\"");
    ck_load_error("[server s]\nlisten = 127.0.0.1:8080\nlimit = nope\n"
                  "[route r]\nmatch = /\nreturn = 200 ok\n",
                  "weir.ini:3: [server s] limit: unknown limit \"nope\"");
    ck_load_error(BASE "limit = off l\n[limit l]\nkey = $remote_addr\n"
                  "conn = 1\n",
                  "weir.ini:6: [route r] limit: \"off\" stands alone");
    ck_load_error(BASE "[limit off]\nkey = $remote_addr\nconn = 1\n",
                  "weir.ini:6: [limit off]: \"off\" is not a limit name");
    ck_load_error("[http]\nlimit = a\nlimit = a\n" BASE
                  "[limit a]\nkey = $remote_addr\nconn = 1\n",
                  "weir.ini:3: [http] limit:");
}
END_TEST

START_TEST(limit_levels_dump_round_trip)
{
    weir_config_errors_t errs;
    weir_config_t       *cf, *again;
    char                *d1, *d2;

    cf = load("[http]\nlimit = a\n"
              "[server s]\nlisten = 127.0.0.1:8080\nlimit = off\n"
              "[route r]\nmatch = /\nreturn = 200 ok\nlimit = a b\n"
              "[limit a]\nkey = $remote_addr\nconn = 1\n"
              "[limit b]\nkey = $host\nconn = 1\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    d1 = dump_to(cf, "dump1.ini");
    ck_assert_ptr_nonnull(strstr(d1, "\nlimit = a\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nlimit = off\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nlimit = a b\n"));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    ck_assert_uint_eq(again->http.servers[0]->nlimits, 0);
    ck_assert_uint_eq(again->http.routes[0]->nlimits, 2);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

/* [main] shed_connections: admission (0, the default, is 9/10 of
 * worker_connections, worked out by the worker). */
START_TEST(shed_connections)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    cf = load(BASE, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_int_eq(cf->main.shed_connections, 0);
    weir_config_free(cf);
    cf = load("[main]\nshed_connections = 500\n" BASE, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_int_eq(cf->main.shed_connections, 500);
    weir_config_free(cf);
    ck_load_error("[main]\nshed_connections = -1\n" BASE,
                  "weir.ini:2: [main] shed_connections:");
    ck_load_error("[main]\nshed_connections = many\n" BASE,
                  "weir.ini:2: [main] shed_connections:");
}
END_TEST

static Suite *
conf_limit_suite(void)
{
    Suite *s = suite_create("conf_limit");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, limit_defaults_and_values);
    tcase_add_test(tc, limit_errors);
    tcase_add_test(tc, limit_dump_round_trip);
    tcase_add_test(tc, limit_levels);
    tcase_add_test(tc, limit_levels_dump_round_trip);
    tcase_add_test(tc, shed_connections);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_limit_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
