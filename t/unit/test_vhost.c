#include "weir_config.h"
#include "http/vhost.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "http/regex.h"
#include <netinet/in.h>

/*
 * The server choice of http/vhost.h without a loader: servers built by
 * hand, each listening on one or more ports of 127.0.0.1, names parsed
 * with weir_vhost_name_parse() as the loader does.
 */

#define MAXS 8

typedef struct fixture_s {
    weir_pool_t        *pool;
    weir_http_conf_t    conf;
    weir_server_conf_t  srv[MAXS];
    weir_server_conf_t *ptrs[MAXS];
    weir_listen_conf_t  listens[MAXS][2];
    weir_server_name_t  names[MAXS][8];
    char                words[MAXS][8][128];
    char                reports[2048];
    int                 nreports;
} fixture_t;

static fixture_t fx;

static void
report(void *data, const weir_server_conf_t *s, int line, const char *key,
    const char *msg)
{
    fixture_t *f = data;
    size_t     used = strlen(f->reports);

    snprintf(f->reports + used, sizeof(f->reports) - used,
             "%d: [server %s] %s: %s\n", line, s->name, key, msg);
    f->nreports++;
}

static void
setup(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.pool = weir_pool_create(4096);
    ck_assert_ptr_nonnull(fx.pool);
}

static void
teardown(void)
{
    weir_pool_destroy(fx.pool);
}

/* Add server `name` listening on 127.0.0.1:port with the names in
 * `names` (blank-separated); flags: "default" for default_server. The
 * line of name j of server i is 100 * (i + 1) + j. */
static weir_server_conf_t *
add_server(const char *name, int port, const char *names, int dflt)
{
    size_t              i = fx.conf.nservers, j = 0;
    weir_server_conf_t *s = &fx.srv[i];
    weir_listen_conf_t *l = &fx.listens[i][0];
    struct sockaddr_in *sin = (struct sockaddr_in *) &l->addr;
    char                copy[512], *p, *w, err[256];

    ck_assert_uint_lt(i, MAXS);
    s->name = (char *) name;
    s->line = (int) (i + 1) * 100 - 1;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l->addrlen = sizeof(*sin);
    snprintf(l->text, sizeof(l->text), "127.0.0.1:%d", port);
    l->backlog = 511;
    l->default_server = dflt;
    l->line = s->line;
    s->listens = l;
    s->nlistens = 1;
    snprintf(copy, sizeof(copy), "%s", names);
    for (p = strtok_r(copy, " ", &w); p; p = strtok_r(NULL, " ", &w)) {
        snprintf(fx.words[i][j], sizeof(fx.words[i][j]), "%s", p);
        ck_assert_msg(weir_vhost_name_parse(fx.pool, &fx.names[i][j],
                                            fx.words[i][j], err,
                                            sizeof(err)) == WEIR_OK,
                      "%s: %s", p, err);
        fx.names[i][j].line = (int) (i + 1) * 100 + (int) j;
        j++;
    }
    s->server_names = fx.names[i];
    s->nserver_names = j;
    fx.ptrs[i] = s;
    fx.conf.servers = fx.ptrs;
    fx.conf.nservers = i + 1;
    return s;
}

static int
build(void)
{
    return weir_vhost_build(&fx.conf, fx.pool, report, &fx);
}

/* The name of the server chosen for host on server 0's address. */
static const char *
pick(const char *host)
{
    const weir_vhost_t *vh = fx.srv[0].listens[0].vhost;

    ck_assert_ptr_nonnull(vh);
    return weir_vhost_find(vh, host, strlen(host))->name;
}

START_TEST(exact_names)
{
    add_server("a", 80, "a.example.com www.a.example.com", 0);
    add_server("b", 80, "b.example.com", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("a.example.com"), "a");
    ck_assert_str_eq(pick("www.a.example.com"), "a");
    ck_assert_str_eq(pick("b.example.com"), "b");
    ck_assert_str_eq(pick("c.example.com"), "a");   /* the first: default */
    ck_assert_uint_eq(fx.conf.nvhosts, 1);
    ck_assert_ptr_eq(fx.srv[0].listens[0].vhost, fx.srv[1].listens[0].vhost);
    ck_assert_int_eq(fx.srv[0].listens[0].is_default, 1);
    ck_assert_int_eq(fx.srv[1].listens[0].is_default, 0);
}
END_TEST

START_TEST(normalised_lookup)
{
    add_server("a", 80, "dflt", 0);
    add_server("b", 80, "Example.COM [::1]", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("example.com"), "b");
    ck_assert_str_eq(pick("EXAMPLE.com"), "b");
    ck_assert_str_eq(pick("example.com."), "b");
    ck_assert_str_eq(pick("example.com:8080"), "b");
    ck_assert_str_eq(pick("Example.Com.:80"), "b");
    ck_assert_str_eq(pick("[::1]:8080"), "b");
    ck_assert_str_eq(pick("[::1]"), "b");
    ck_assert_str_eq(pick("example.com.."), "a");
    ck_assert_str_eq(pick("xexample.com"), "a");
    ck_assert_str_eq(pick("example.co"), "a");
    ck_assert_str_eq(pick(""), "a");
    ck_assert_str_eq(pick(":80"), "a");
    ck_assert_str_eq(weir_vhost_find(fx.srv[0].listens[0].vhost, NULL,
                                     0)->name, "a");
    ck_assert_ptr_null(weir_vhost_match(fx.srv[0].listens[0].vhost,
                                        "nothing", 7));
    ck_assert_ptr_null(weir_vhost_match(NULL, "example.com", 11));
}
END_TEST

START_TEST(too_long_is_default)
{
    char host[600];

    add_server("a", 80, "dflt", 0);
    add_server("b", 80, "~.", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    memset(host, 'x', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    ck_assert_str_eq(pick(host), "a");
    host[WEIR_VHOST_NAME_MAX] = '\0';
    ck_assert_str_eq(pick(host), "b");
}
END_TEST

START_TEST(precedence)
{
    add_server("dflt", 80, "_", 0);
    add_server("re", 80, "~^www\\..*$ ~^api[0-9]+\\.example\\.com$", 0);
    add_server("tail", 80, "www.example.*", 0);
    add_server("head", 80, "*.example.com", 0);
    add_server("deep", 80, "*.b.example.com", 0);
    add_server("exact", 80, "www.example.com", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    /* exact beats everything */
    ck_assert_str_eq(pick("www.example.com"), "exact");
    /* leading wildcard beats trailing and regex; longest wins */
    ck_assert_str_eq(pick("x.example.com"), "head");
    ck_assert_str_eq(pick("a.b.example.com"), "deep");
    ck_assert_str_eq(pick("x.y.b.example.com"), "deep");
    ck_assert_str_eq(pick("b.example.com"), "head");
    ck_assert_str_eq(pick("example.com"), "dflt");  /* "*." needs a label */
    /* trailing wildcard beats regex */
    ck_assert_str_eq(pick("www.example.org"), "tail");
    ck_assert_str_eq(pick("www.example.co.uk"), "tail");
    /* regex last, caseless, on the name without port */
    ck_assert_str_eq(pick("www.other.net"), "re");
    ck_assert_str_eq(pick("API7.example.com:443"), "head");
    ck_assert_str_eq(pick("api7.example.org"), "dflt");
}
END_TEST

START_TEST(longest_trailing)
{
    add_server("dflt", 80, "_", 0);
    add_server("short", 80, "www.*", 0);
    add_server("long", 80, "www.example.*", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("www.example.net"), "long");
    ck_assert_str_eq(pick("www.other.net"), "short");
    ck_assert_str_eq(pick("www"), "dflt");
    ck_assert_str_eq(pick("www."), "dflt");      /* "www" after the dot */
}
END_TEST

START_TEST(regex_file_order)
{
    add_server("dflt", 80, "_", 0);
    add_server("first", 80, "~example", 0);
    add_server("second", 80, "~^www\\.example\\.com$", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("www.example.com"), "first");
    ck_assert_str_eq(pick("WWW.EXAMPLE.COM"), "first");
}
END_TEST

START_TEST(dot_form)
{
    add_server("dflt", 80, "_", 0);
    add_server("dot", 80, ".example.com", 0);
    add_server("exact", 80, "exact.example.com", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("example.com"), "dot");
    ck_assert_str_eq(pick("a.example.com"), "dot");
    ck_assert_str_eq(pick("a.b.example.com"), "dot");
    ck_assert_str_eq(pick("exact.example.com"), "exact");
    ck_assert_str_eq(pick("xexample.com"), "dflt");
}
END_TEST

/* A catastrophic server_name regex hits the match limit: no match, and
 * the address's default takes the host. */
START_TEST(regex_match_limit)
{
    char          host[64];
    unsigned long before = weir_regex_limit_hits();

    add_server("dflt", 80, "_", 0);
    add_server("re", 80, "~^(a+)+$", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    memset(host, 'a', sizeof(host));
    host[sizeof(host) - 2] = 'b';
    host[sizeof(host) - 1] = '\0';
    ck_assert_str_eq(pick(host), "dflt");
    ck_assert_uint_eq(weir_regex_limit_hits(), before + 1);
    host[sizeof(host) - 2] = 'a';
    ck_assert_str_eq(pick(host), "re");
}
END_TEST

/* A name with an empty label matches no wildcard (nor anything else):
 * the SNI path reaches weir_vhost_find() without the parser's check. */
START_TEST(empty_labels_match_nothing)
{
    add_server("dflt", 80, "_", 0);
    add_server("wild", 80, "*.wild.test www.tail.* ~^x", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("a.wild.test"), "wild");
    ck_assert_str_eq(pick("a.wild.test."), "wild");
    ck_assert_str_eq(pick("..wild.test"), "dflt");
    ck_assert_str_eq(pick("a..wild.test"), "dflt");
    ck_assert_str_eq(pick(".wild.test"), "dflt");
    ck_assert_str_eq(pick("www..tail.org"), "dflt");
    ck_assert_str_eq(pick("x..y"), "dflt");
    ck_assert_str_eq(pick("."), "dflt");
}
END_TEST

START_TEST(default_server_flag)
{
    add_server("a", 80, "a.test", 0);
    add_server("b", 80, "b.test", 1);
    add_server("c", 81, "c.test", 0);
    ck_assert_int_eq(build(), WEIR_OK);
    ck_assert_str_eq(pick("nothing.test"), "b");
    ck_assert_str_eq(pick("a.test"), "a");
    ck_assert_int_eq(fx.srv[0].listens[0].is_default, 0);
    ck_assert_int_eq(fx.srv[1].listens[0].is_default, 1);
    /* another port is another group, and its only server its default;
     * names of one port are unknown on the other */
    ck_assert_uint_eq(fx.conf.nvhosts, 2);
    ck_assert_int_eq(fx.srv[2].listens[0].is_default, 1);
    ck_assert_str_eq(weir_vhost_find(fx.srv[2].listens[0].vhost, "a.test",
                                     6)->name, "c");
    ck_assert_str_eq(weir_vhost_default(fx.srv[0].listens[0].vhost)->name,
                     "b");
    ck_assert_uint_eq(weir_vhost_count(fx.srv[0].listens[0].vhost), 2);
    ck_assert_str_eq(weir_vhost_server(fx.srv[0].listens[0].vhost,
                                       0)->name, "a");
    ck_assert_str_eq(weir_vhost_server(fx.srv[0].listens[0].vhost,
                                       1)->name, "b");
    ck_assert_ptr_null(weir_vhost_server(fx.srv[0].listens[0].vhost, 2));
    ck_assert_ptr_eq(weir_vhost_listen(fx.srv[0].listens[0].vhost),
                     &fx.srv[1].listens[0]);
}
END_TEST

START_TEST(duplicates_reported)
{
    add_server("a", 80, "x.test *.w.test ~^r$ dup.test", 0);
    add_server("b", 80, "X.TEST. .w.test ~^r$", 0);
    add_server("c", 81, "x.test", 0);             /* another address: ok */
    add_server("d", 82, "same.test same.test", 0);
    ck_assert_int_eq(build(), WEIR_ERROR);
    ck_assert_int_eq(fx.nreports, 4);
    ck_assert_msg(strstr(fx.reports, "200: [server b] server_name: "
                         "\"X.TEST.\" is also claimed by [server a] at line "
                         "100 on 127.0.0.1:80\n") != NULL, "%s", fx.reports);
    ck_assert_msg(strstr(fx.reports, "201: [server b] server_name: "
                         "\".w.test\" is also claimed by [server a] at line "
                         "101 on 127.0.0.1:80\n") != NULL, "%s", fx.reports);
    ck_assert_msg(strstr(fx.reports, "202: [server b] server_name: "
                         "\"~^r$\" is also claimed by [server a] at line "
                         "102 on 127.0.0.1:80\n") != NULL, "%s", fx.reports);
    ck_assert_msg(strstr(fx.reports, "401: [server d] server_name: "
                         "\"same.test\" is listed twice (also at line 400)")
                  != NULL, "%s", fx.reports);
}
END_TEST

START_TEST(socket_settings_agree)
{
    add_server("a", 80, "a.test", 0);
    add_server("b", 80, "b.test", 1);
    add_server("c", 80, "c.test", 1);
    fx.listens[0][0].proxy_protocol = 1;
    ck_assert_int_eq(build(), WEIR_ERROR);
    ck_assert_msg(strstr(fx.reports, "99: [server a] listen: 127.0.0.1:80 "
                         "proxy_protocol backlog=511 differs from "
                         "\"127.0.0.1:80 backlog=511\" of [server b] at line "
                         "199") != NULL, "%s", fx.reports);
    ck_assert_msg(strstr(fx.reports, "299: [server c] listen: 127.0.0.1:80: "
                         "[server b] at line 199 is already the default")
                  != NULL, "%s", fx.reports);
    ck_assert_int_eq(fx.nreports, 2);
}
END_TEST

START_TEST(name_shapes)
{
    static const char *good[] = {
        "example.com", "*.example.com", ".example.com", "www.example.*",
        "example.com.", "_", "a-b_c.d", "[::1]", "[2001:db8::1]", "~^x$",
        "localhost", "1.2.3.4"
    };
    static const char *bad[] = {
        "*", "*.", ".", "ww*.example.com", "www.*.com", "*.*.com",
        "a..b", "a:80", "a/b", "[::1", "[zz]", "~", "~(", "**.a", "..a",
        "a.*.", "*example.com"
    };
    weir_server_name_t sn;
    char               w[300], err[256];
    size_t             i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(w, sizeof(w), "%s", good[i]);
        ck_assert_msg(weir_vhost_name_parse(fx.pool, &sn, w, err,
                                            sizeof(err)) == WEIR_OK,
                      "%s: %s", good[i], err);
        ck_assert_int_eq(sn.regex != NULL, good[i][0] == '~');
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(w, sizeof(w), "%s", bad[i]);
        ck_assert_msg(weir_vhost_name_parse(fx.pool, &sn, w, err,
                                            sizeof(err)) == WEIR_ERROR,
                      "%s accepted", bad[i]);
    }
    memset(w, 'a', 256);
    w[256] = '\0';
    ck_assert_int_eq(weir_vhost_name_parse(fx.pool, &sn, w, err,
                                           sizeof(err)), WEIR_ERROR);
    ck_assert_msg(strstr(err, "longer than 255") != NULL, "%s", err);
}
END_TEST

START_TEST(many_names_bisect)
{
    size_t k;
    char   host[64];

    /* 300 exact names over two servers: the sorted table must find every
     * one, whatever its place. */
    add_server("dflt", 80, "_", 0);
    /* add_server keeps 8 names: feed the rest straight into the model */
    {
        static weir_server_name_t names[2][150];
        static char               buf[2][150][32];
        size_t                    s, n;
        char                      err[128];
        for (s = 0; s < 2; s++) {
            weir_server_conf_t *srv = add_server(s ? "odd" : "even", 80,
                                                 "_x", 0);
            for (n = 0; n < 150; n++) {
                snprintf(buf[s][n], sizeof(buf[s][n]), "h%zu.test",
                         n * 2 + s);
                ck_assert_int_eq(weir_vhost_name_parse(fx.pool,
                                 &names[s][n], buf[s][n], err, sizeof(err)),
                                 WEIR_OK);
            }
            srv->server_names = names[s];
            srv->nserver_names = 150;
        }
    }
    ck_assert_int_eq(build(), WEIR_OK);
    for (k = 0; k < 300; k++) {
        snprintf(host, sizeof(host), "H%zu.test", k);
        ck_assert_str_eq(pick(host), k % 2 ? "odd" : "even");
    }
    ck_assert_str_eq(pick("h300.test"), "dflt");
}
END_TEST

static Suite *
vhost_suite(void)
{
    Suite *s = suite_create("vhost");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, exact_names);
    tcase_add_test(tc, normalised_lookup);
    tcase_add_test(tc, empty_labels_match_nothing);
    tcase_add_test(tc, regex_match_limit);
    tcase_add_test(tc, too_long_is_default);
    tcase_add_test(tc, precedence);
    tcase_add_test(tc, longest_trailing);
    tcase_add_test(tc, regex_file_order);
    tcase_add_test(tc, dot_form);
    tcase_add_test(tc, default_server_flag);
    tcase_add_test(tc, duplicates_reported);
    tcase_add_test(tc, socket_settings_agree);
    tcase_add_test(tc, name_shapes);
    tcase_add_test(tc, many_names_bisect);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(vhost_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
