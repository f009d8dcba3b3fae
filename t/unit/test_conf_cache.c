#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cache/cache_conf.h"
#include "core/core.h"

/*
 * [cache NAME] and the route keys that use a cache (cache, cache_bypass,
 * no_cache): defaults, values,
 * every error (by file:line, section and key) and the dump. The file
 * loads from a fresh temporary directory, so error lines read
 * "weir.ini:LINE: ...". test_conf.c has the rest of the loader.
 */

#include "conf_harness.h"

/* A route that may use a cache; the error tests append to it, so a [cache
 * c] section starts on line 9. */
#define BASE                                                                \
    "[upstream app]\n"                 /* 1 */                              \
    "server = 127.0.0.1:3000\n"        /* 2 */                              \
    "[server s]\n"                     /* 3 */                              \
    "listen = 127.0.0.1:8080\n"        /* 4 */                              \
    "[route r]\n"                      /* 5 */                              \
    "match = /\n"                      /* 6 */                              \
    "upstream = app\n"                 /* 7 */

#define CACHED BASE "cache = c\n" /* 8 */ "[cache c]\n" /* 9 */

static int64_t
valid_of(const weir_cache_conf_t *k, int status)
{
    return k->rules.valid[status - 100 + 1];
}

START_TEST(cache_defaults)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_cache_conf_t   *k;
    size_t               i;

    cf = load(CACHED, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    k = cf->caches[0];
    ck_assert_str_eq(k->key, "$scheme://$host:$server_port$normalized_request_uri");
    ck_assert_int_eq(k->min_uses, 1);
    ck_assert_int_eq(k->fill_after_abort, 1024 * 1024);
    /* 1g / 32k */
    ck_assert_int_eq(k->max_objects, 32768);
    for (i = 0; i < weir_nelems(k->rules.valid); i++) {
        ck_assert_int_eq(k->rules.valid[i], -1);
    }
    ck_assert_int_eq(k->rules.stale_if_error, 0);
    ck_assert_int_eq(k->rules.stale_while_revalidate, 0);
    ck_assert_ptr_eq(cf->http.routes[0]->cache, k);
    ck_assert_ptr_null(cf->http.routes[0]->cache_bypass);
    ck_assert_ptr_null(cf->http.routes[0]->no_cache);
    weir_config_free(cf);
}
END_TEST

START_TEST(cache_values)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_cache_conf_t   *k;

    cf = load(CACHED
              "min_uses = 3\n"
              "max_objects = 64\n"
              "fill_after_abort = 0\n"
              "valid = 200 301 302 10m\n"
              "valid = 404 1m\n"
              "valid = any 30s\n"
              "valid = 599 100 0\n"
              "stale_if_error = 1d\n"
              "stale_while_revalidate = 1500ms\n"
              "key = $scheme$http_host$request_uri$cookie_lang\n"
              "[cache small]\nmax_size = 1m\n"
              "[cache huge]\nmax_size = 100g\n"
              "[upstream h]\nserver = 10.0.0.1:80\nbalance = hash\n"
              "hash_key = $scheme$server_port$host\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    k = cf->caches[0];
    ck_assert_int_eq(k->min_uses, 3);
    ck_assert_int_eq(k->max_objects, 64);
    ck_assert_int_eq(k->fill_after_abort, 0);
    ck_assert_int_eq(valid_of(k, 200), 600);
    ck_assert_int_eq(valid_of(k, 301), 600);
    ck_assert_int_eq(valid_of(k, 302), 600);
    ck_assert_int_eq(valid_of(k, 404), 60);
    ck_assert_int_eq(valid_of(k, 100), 0);
    ck_assert_int_eq(valid_of(k, 599), 0);
    ck_assert_int_eq(valid_of(k, 203), -1);
    ck_assert_int_eq(k->rules.valid[0], 30);
    ck_assert_int_eq(k->rules.stale_if_error, 86400);
    /* rounded up: a window that was set never becomes "none" */
    ck_assert_int_eq(k->rules.stale_while_revalidate, 2);
    /* the index size follows max_size, within 1024..1048576 */
    ck_assert_int_eq(cf->caches[1]->max_objects, 1024);
    ck_assert_int_eq(cf->caches[2]->max_objects, 1048576);
    weir_config_free(cf);
}
END_TEST

START_TEST(cache_errors)
{
    ck_load_error(CACHED "min_uses = 0\n",
                  "weir.ini:10: [cache c] min_uses: \"0\" is out of range");
    ck_load_error(CACHED "min_uses = often\n",
                  "weir.ini:10: [cache c] min_uses: invalid number");
    ck_load_error(CACHED "max_objects = 63\n",
                  "weir.ini:10: [cache c] max_objects: \"63\" is out of "
                  "range (64..16777216)");
    ck_load_error(CACHED "max_objects = 16777217\n",
                  "weir.ini:10: [cache c] max_objects: \"16777217\" is out");
    ck_load_error(CACHED "fill_after_abort = 1q\n",
                  "weir.ini:10: [cache c] fill_after_abort: invalid size");
    ck_load_error(CACHED "valid = 10m\n",
                  "weir.ini:10: [cache c] valid: expected \"STATUS... TIME\"");
    ck_load_error(CACHED "valid = 99 10m\n",
                  "weir.ini:10: [cache c] valid: invalid status \"99\" "
                  "(expected 100..599 or any)");
    ck_load_error(CACHED "valid = 200 600 10m\n",
                  "weir.ini:10: [cache c] valid: invalid status \"600\"");
    ck_load_error(CACHED "valid = all 10m\n",
                  "weir.ini:10: [cache c] valid: invalid status \"all\"");
    ck_load_error(CACHED "valid = 200 10 m\n",
                  "weir.ini:10: [cache c] valid: invalid time \"m\"");
    ck_load_error(CACHED "valid = 200 1500ms\n",
                  "weir.ini:10: [cache c] valid: invalid time \"1500ms\": "
                  "freshness is counted in whole seconds");
    ck_load_error(CACHED "valid = 200 100000d\n",
                  "weir.ini:10: [cache c] valid: \"100000d\" is out of range");
    ck_load_error(CACHED "valid = 200 404 200 1m\n",
                  "weir.ini:10: [cache c] valid: status 200 already has a "
                  "time");
    /* the second line is the one named */
    ck_load_error(CACHED "valid = any 1m\nvalid = 404 any 5m\n",
                  "weir.ini:11: [cache c] valid: status any already has a "
                  "time");
    ck_load_error(CACHED "key = $host$uri$nope\n",
                  "weir.ini:10: [cache c] key: unknown variable \"$nope\" in "
                  "\"$host$uri$nope\"");
    ck_load_error(CACHED "key = $host$\n",
                  "weir.ini:10: [cache c] key: unknown variable \"$\"");
    ck_load_error(BASE "[upstream h]\nserver = 10.0.0.1:80\n"
                  "hash_key = $scheme$port\n",
                  "weir.ini:10: [upstream h] hash_key: unknown variable "
                  "\"$port\"");
}
END_TEST

START_TEST(cache_dump_round_trip)
{
    weir_config_errors_t errs;
    weir_config_t       *cf, *again;
    char                *d1, *d2;

    cf = load(CACHED
              "valid = 404 1m\n"
              "valid = 200 10m\n"
              "valid = any 301 302 10m\n"
              "valid = 500 0\n"
              "min_uses = 2\n"
              "[cache d]\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    d1 = dump_to(cf, "dump1.ini");
    /* one line per time, statuses in order, "any" first */
    ck_assert_ptr_nonnull(strstr(d1, "\nvalid = any 200 301 302 10m\n"
                                     "valid = 404 1m\nvalid = 500 0\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nmin_uses = 2\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nmax_objects = 32768\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nfill_after_abort = 1m\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nkey = $scheme://$host:"
                                     "$server_port$normalized_request_uri\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\n; valid is not set\n"));

    memset(&errs, 0, sizeof(errs));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    ck_assert_int_eq(again->caches[0]->rules.valid[0], 600);
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

START_TEST(route_cache_keys)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_route_conf_t   *r;
    char                *d;

    cf = load(BASE "cache = c\n"
              "cache_bypass = $http_pragma$arg_nocache\n"
              "no_cache = $cookie_session\n"
              "[cache c]\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    r = cf->http.routes[0];
    ck_assert_str_eq(r->cache_bypass, "$http_pragma$arg_nocache");
    ck_assert_str_eq(r->no_cache, "$cookie_session");
    d = dump_to(cf, "dump.ini");
    ck_assert_ptr_nonnull(strstr(d, "\ncache_bypass = $http_pragma"
                                    "$arg_nocache\nno_cache = "
                                    "$cookie_session\n"));
    weir_config_free(cf);

    ck_load_error(BASE "cache_bypass = $arg_nocache\n",
                  "weir.ini:8: [route r] cache_bypass: requires cache");
    ck_load_error(BASE "no_cache = $arg_nocache\n",
                  "weir.ini:8: [route r] no_cache: requires cache");
    ck_load_error(CACHED "[route r2]\nmatch = /x\nupstream = app\n"
                  "cache = c\ncache_bypass = $nocache\n",
                  "weir.ini:14: [route r2] cache_bypass: unknown variable "
                  "\"$nocache\"");
    ck_load_error(BASE "cache = c\nno_cache = $cookie_a$foo_bar\n"
                  "[cache c]\n",
                  "weir.ini:9: [route r] no_cache: unknown variable "
                  "\"$foo_bar\"");
}
END_TEST

static Suite *
conf_cache_suite(void)
{
    Suite *s = suite_create("conf_cache");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cache_defaults);
    tcase_add_test(tc, cache_values);
    tcase_add_test(tc, cache_errors);
    tcase_add_test(tc, cache_dump_round_trip);
    tcase_add_test(tc, route_cache_keys);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_cache_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
