#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/units.h"
#include "proc/resolve.h"
#include "upstream/upstream_conf.h"

/*
 * Upstream servers by host name (proc/config_upstream.c, proc/resolve.c):
 * `localhost` is whatever the system resolver says (the tests compare
 * with getaddrinfo() itself), `nonexistent.invalid` never resolves (RFC
 * 6761 6.4).
 */

#include "conf_harness.h"

/* Distinct TCP addresses of localhost per the system resolver. */
static size_t
localhost_addrs(void)
{
    struct addrinfo hints, *res, *ai;
    struct sockaddr_storage seen[WEIR_RESOLVE_MAX];
    size_t n = 0, i;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    ck_assert_int_eq(getaddrinfo("localhost", "3000", &hints, &res), 0);
    for (ai = res; ai && n < WEIR_RESOLVE_MAX; ai = ai->ai_next) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        for (i = 0; i < n && !weir_units_addr_eq(&seen[i], &ss); i++) {
            /* void */
        }
        if (i == n) {
            seen[n++] = ss;
        }
    }
    freeaddrinfo(res);
    return n;
}

#define CONF(servers)                                                       \
    "[upstream app]\n"                                     /* 1 */          \
    servers                                                /* 2.. */        \
    "[server s]\n"                                                          \
    "listen = 127.0.0.1:8080\n"                                             \
    "[route r]\n"                                                           \
    "match = /\n"                                                           \
    "upstream = app\n"

START_TEST(hostport_syntax)
{
    char     host[256];
    unsigned port = 0;

    ck_assert_int_eq(weir_units_parse_hostport("app.internal:8080", host,
                                               sizeof(host), &port), WEIR_OK);
    ck_assert_str_eq(host, "app.internal");
    ck_assert_uint_eq(port, 8080);
    ck_assert_int_eq(weir_units_parse_hostport("a-1.b:1", host, sizeof(host),
                                               &port), WEIR_OK);
    /* not names: numeric, no port, bad port, odd characters */
    ck_assert_int_eq(weir_units_parse_hostport("127.0.0.1:80", host,
                                               sizeof(host), &port),
                     WEIR_DECLINED);
    ck_assert_int_eq(weir_units_parse_hostport("app", host, sizeof(host),
                                               &port), WEIR_DECLINED);
    ck_assert_int_eq(weir_units_parse_hostport("app:0", host, sizeof(host),
                                               &port), WEIR_DECLINED);
    ck_assert_int_eq(weir_units_parse_hostport("app:65536", host,
                                               sizeof(host), &port),
                     WEIR_DECLINED);
    ck_assert_int_eq(weir_units_parse_hostport("a_b:80", host, sizeof(host),
                                               &port), WEIR_DECLINED);
    ck_assert_int_eq(weir_units_parse_hostport(":80", host, sizeof(host),
                                               &port), WEIR_DECLINED);
    ck_assert_int_eq(weir_units_parse_hostport("-a:80", host, sizeof(host),
                                               &port), WEIR_DECLINED);
}
END_TEST

START_TEST(every_address_is_a_peer)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    size_t               n = localhost_addrs(), i;

    cf = load(CONF("server = localhost:3000 weight=3 backup\n"
                   "server = 127.0.0.9:3000\n"), &errs);
    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "?");
    ck_assert_uint_eq(cf->upstreams[0]->npeers, n + 1);
    for (i = 0; i < n; i++) {
        const weir_peer_conf_t *p = &cf->upstreams[0]->peers[i];
        ck_assert_str_eq(p->host, "localhost:3000");
        ck_assert_int_eq(p->weight, 3);
        ck_assert(p->backup);
        ck_assert_msg(strstr(p->text, ":3000") != NULL, "%s", p->text);
    }
    ck_assert_ptr_null(cf->upstreams[0]->peers[n].host);
    ck_assert_str_eq(cf->upstreams[0]->peers[n].text, "127.0.0.9:3000");
    weir_config_free(cf);
    weir_config_errors_free(&errs);
}
END_TEST

START_TEST(errors_name_the_line)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    cf = load(CONF("server = 127.0.0.9:3000\n"
                   "server = nonexistent.invalid:3000\n"), &errs);
    ck_assert_ptr_null(cf);
    ck_assert_uint_ge(errs.n, 1);
    ck_assert_msg(strncmp(errs.lines[0], "weir.ini:3: [upstream app] server: "
                          "cannot resolve \"nonexistent.invalid\": ", 71)
                  == 0, "%s", errs.lines[0]);
    weir_config_errors_free(&errs);

    /* An address given twice, once by name. */
    cf = load(CONF("server = 127.0.0.1:3000\n"
                   "server = localhost:3000\n"), &errs);
    ck_assert_ptr_null(cf);
    ck_assert_str_eq(errs.lines[0], "weir.ini:3: [upstream app] server: "
                     "duplicate server 127.0.0.1:3000 (localhost:3000)");
    weir_config_errors_free(&errs);

    /* Not a name, not an address: the address error as before. */
    cf = load(CONF("server = local_host:3000\n"), &errs);
    ck_assert_ptr_null(cf);
    ck_assert_str_eq(errs.lines[0], "weir.ini:2: [upstream app] server: "
                     "invalid address \"local_host\"");
    weir_config_errors_free(&errs);
}
END_TEST

/* resolve = TIME: the default, 0 (at load only), a bad value, one below
 * the 1s minimum (it would fork a resolver child every few ms). */
START_TEST(resolve_key)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;

    cf = load(CONF("server = 127.0.0.9:3000\n"), &errs);
    ck_assert_ptr_nonnull(cf);
    ck_assert_int_eq(cf->upstreams[0]->resolve, 30000);
    weir_config_free(cf);
    weir_config_errors_free(&errs);
    cf = load(CONF("server = localhost:3000\nresolve = 0\n"), &errs);
    ck_assert_ptr_nonnull(cf);
    ck_assert_int_eq(cf->upstreams[0]->resolve, 0);
    weir_config_free(cf);
    weir_config_errors_free(&errs);
    cf = load(CONF("server = localhost:3000\nresolve = soon\n"), &errs);
    ck_assert_ptr_null(cf);
    ck_assert_msg(strncmp(errs.lines[0], "weir.ini:3: [upstream app] "
                          "resolve: ", 35) == 0, "%s", errs.lines[0]);
    weir_config_errors_free(&errs);
    cf = load(CONF("server = localhost:3000\nresolve = 1ms\n"), &errs);
    ck_assert_ptr_null(cf);
    ck_assert_uint_eq(errs.n, 1);
    ck_assert_str_eq(errs.lines[0], "weir.ini:3: [upstream app] resolve: "
                     "1ms is too often: 0 (at load only) or at least 1s");
    weir_config_errors_free(&errs);
    cf = load(CONF("server = localhost:3000\nresolve = 999ms\n"), &errs);
    ck_assert_ptr_null(cf);
    weir_config_errors_free(&errs);
    cf = load(CONF("server = localhost:3000\nresolve = 1s\n"), &errs);
    ck_assert_ptr_nonnull(cf);
    ck_assert_int_eq(cf->upstreams[0]->resolve, 1000);
    weir_config_free(cf);
    weir_config_errors_free(&errs);
}
END_TEST

/* The resolver itself: a bounded wait, and its message. */
START_TEST(resolver)
{
    struct sockaddr_storage out[WEIR_RESOLVE_MAX];
    char                    err[256];
    size_t                  n = 0;

    ck_assert_int_eq(weir_resolve("localhost", 80, 10000, out, &n, err,
                                  sizeof(err)), WEIR_OK);
    ck_assert_uint_eq(n, localhost_addrs());
    ck_assert_int_eq(weir_resolve("nonexistent.invalid", 80, 10000, out, &n,
                                  err, sizeof(err)), WEIR_ERROR);
    ck_assert_msg(strncmp(err, "cannot resolve \"nonexistent.invalid\": ",
                          38) == 0, "%s", err);
    ck_assert_int_eq(weir_resolve("localhost", 80, 0, out, &n, err,
                                  sizeof(err)), WEIR_ERROR);
    ck_assert_str_eq(err, "cannot resolve \"localhost\": the time for "
                     "resolving names is used up");
}
END_TEST

static Suite *
dns_suite(void)
{
    Suite *s = suite_create("conf_dns");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hostport_syntax);
    tcase_add_test(tc, every_address_is_a_peer);
    tcase_add_test(tc, errors_name_the_line);
    tcase_add_test(tc, resolve_key);
    tcase_add_test(tc, resolver);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(dns_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
