#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "http/vhost.h"

/*
 * Virtual hosts in the loader: server_name, `listen ... default_server`,
 * servers sharing a listen address, and their errors (by file:line,
 * section and key) and dump. The file loads from a fresh temporary
 * directory, so error lines read "weir.ini:LINE: ...". test_conf.c has
 * the rest of the loader; test_vhost.c the matching itself.
 */

#include "conf_harness.h"

/* Two sites on one port; the error tests append to it from line 16. */
#define BASE                                                                \
    "[server a]\n"                     /* 1 */                              \
    "listen = 127.0.0.1:8080\n"        /* 2 */                              \
    "server_name = a.test *.a.test\n"  /* 3 */                              \
    "[server b]\n"                     /* 4 */                              \
    "listen = 127.0.0.1:8080\n"        /* 5 */                              \
    "server_name = b.test\n"           /* 6 */                              \
    "server_name = ~^b[0-9]+\\.test$\n" /* 7 */                           \
    "[route ra]\n"                     /* 8 */                              \
    "server = a\nmatch = /\n"          /* 9, 10 */                          \
    "return = 200 a\n"                 /* 11 */                             \
    "[route rb]\n"                     /* 12 */                             \
    "server = b\nmatch = /\n"          /* 13, 14 */                         \
    "return = 200 b\n"                 /* 15 */

START_TEST(shared_address_loads)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_server_conf_t  *a, *b;
    const weir_vhost_t  *vh;

    cf = load(BASE, &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    a = cf->http.servers[0];
    b = cf->http.servers[1];
    ck_assert_uint_eq(cf->http.nvhosts, 1);
    vh = a->listens[0].vhost;
    ck_assert_ptr_nonnull(vh);
    ck_assert_ptr_eq(vh, b->listens[0].vhost);
    ck_assert_int_eq(a->listens[0].is_default, 1);
    ck_assert_int_eq(b->listens[0].is_default, 0);
    ck_assert_uint_eq(b->nserver_names, 2);
    ck_assert_int_eq(b->server_names[1].line, 7);
    ck_assert_ptr_nonnull(b->server_names[1].regex);
    ck_assert_ptr_eq(weir_vhost_find(vh, "b.test", 6), b);
    ck_assert_ptr_eq(weir_vhost_find(vh, "B42.TEST:8080", 13), b);
    ck_assert_ptr_eq(weir_vhost_find(vh, "x.a.test", 8), a);
    ck_assert_ptr_eq(weir_vhost_find(vh, "other", 5), a);
    /* each server has its own routes */
    ck_assert_uint_eq(a->nroutes, 1);
    ck_assert_str_eq(a->routes[0]->name, "ra");
    ck_assert_uint_eq(b->nroutes, 1);
    ck_assert_str_eq(b->routes[0]->name, "rb");
    weir_config_free(cf);
}
END_TEST

START_TEST(default_server_flag)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    char                *d1, *d2;
    weir_config_t       *again;

    cf = load("[server a]\nlisten = 127.0.0.1:8080\nserver_name = a.test\n"
              "[server b]\nlisten = 127.0.0.1:8080 default_server\n"
              "[route r]\nserver = a\nmatch = /\nreturn = 204\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_int_eq(cf->http.servers[1]->listens[0].default_server, 1);
    ck_assert_int_eq(cf->http.servers[1]->listens[0].is_default, 1);
    ck_assert_int_eq(cf->http.servers[0]->listens[0].is_default, 0);
    ck_assert_str_eq(weir_vhost_find(cf->http.servers[0]->listens[0].vhost,
                                     "x", 1)->name, "b");
    d1 = dump_to(cf, "dump1.ini");
    ck_assert_msg(strstr(d1, "\nlisten = 127.0.0.1:8080 default_server "
                         "backlog=511\n") != NULL, "%s", d1);
    ck_assert_msg(strstr(d1, "\nserver_name = a.test\n") != NULL, "%s", d1);
    memset(&errs, 0, sizeof(errs));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

START_TEST(errors_names)
{
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8080\n"
                  "server_name = B.test.\n", "weir.ini:18: [server c] "
                  "server_name: \"B.test.\" is also claimed by [server b] "
                  "at line 6 on 127.0.0.1:8080");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8080\n"
                  "server_name = .a.test\n", "weir.ini:18: [server c] "
                  "server_name: \".a.test\" is also claimed by [server a] "
                  "at line 3 on 127.0.0.1:8080");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8080\n"
                  "server_name = ~^b[0-9]+\\.test$\n", "weir.ini:18: "
                  "[server c] server_name: \"~^b[0-9]+\\.test$\" is also "
                  "claimed by [server b] at line 7");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8081\n"
                  "server_name = c.test c.test\n", "weir.ini:18: [server c] "
                  "server_name: \"c.test\" is listed twice (also at line "
                  "18)");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8081\n"
                  "server_name = w*.test\n", "weir.ini:18: [server c] "
                  "server_name: \"w*.test\": '*' may only be a whole first "
                  "or last label");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8081\n"
                  "server_name = ~(\n", "weir.ini:18: [server c] "
                  "server_name: regex \"(\": error at offset 1");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8081\n"
                  "server_name = a:80\n", "weir.ini:18: [server c] "
                  "server_name: invalid host name \"a:80\"");
}
END_TEST

START_TEST(errors_listen_agree)
{
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8080 default_server\n"
                  "[server d]\nlisten = 127.0.0.1:8080 default_server\n",
                  "weir.ini:19: [server d] listen: 127.0.0.1:8080: [server "
                  "c] at line 17 is already the default server for this "
                  "address");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8080 proxy_protocol\n",
                  "weir.ini:17: [server c] listen: 127.0.0.1:8080 "
                  "proxy_protocol backlog=511 differs from \"127.0.0.1:8080 "
                  "backlog=511\" of [server a] at line 2: servers sharing "
                  "an address share its socket");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8080 backlog=10\n",
                  "weir.ini:17: [server c] listen: 127.0.0.1:8080 "
                  "backlog=10 differs from");
    /* a wildcard and an address on one port: still refused */
    ck_load_error(BASE "[server c]\nlisten = 0.0.0.0:8080\n",
                  "weir.ini:17: [server c] listen: 0.0.0.0:8080 conflicts "
                  "with 127.0.0.1:8080 of [server a] at line 2");
    /* [admin] shares its address with nobody */
    ck_load_error(BASE "[admin]\nlisten = 127.0.0.1:8080\n",
                  "weir.ini:17: [admin] listen: 127.0.0.1:8080 conflicts "
                  "with 127.0.0.1:8080 of [server a] at line 2");
    ck_load_error(BASE "[server c]\nlisten = 127.0.0.1:8081 default_thing\n",
                  "weir.ini:17: [server c] listen: invalid listen option "
                  "\"default_thing\" (expected tls, proxy_protocol, "
                  "default_server or backlog=1..65535)");
    ck_load_error("[admin]\nlisten = 127.0.0.1:9 default_server\n",
                  "weir.ini:2: [admin] listen: invalid listen option "
                  "\"default_server\"");
}
END_TEST

static Suite *
conf_vhost_suite(void)
{
    Suite *s = suite_create("conf_vhost");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, shared_address_loads);
    tcase_add_test(tc, default_server_flag);
    tcase_add_test(tc, errors_names);
    tcase_add_test(tc, errors_listen_agree);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_vhost_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
