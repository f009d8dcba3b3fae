#include "weir_config.h"
#include "http/response.h"

#include <check.h>
#include <string.h>

/*
 * The security headers in weir_http_response_head(): a request built by
 * hand (no server, no socket) whose route carries resolved headers, as
 * the loader leaves them. Strict-Transport-Security needs hc->tls, which
 * only the TLS layer sets: this is where that rule is tested.
 */

static weir_http_conf_t   conf;
static weir_http_conn_t   hc;
static weir_route_conf_t  route;
static weir_server_conf_t srv;
static weir_request_t    *r;
static weir_pool_t       *pool;

static void
setup(void)
{
    memset(&conf, 0, sizeof(conf));
    memset(&hc, 0, sizeof(hc));
    memset(&route, 0, sizeof(route));
    memset(&srv, 0, sizeof(srv));
    conf.server_tokens = "weir";
    weir_http.conf = &conf;
    pool = weir_pool_create(4096);
    ck_assert_ptr_nonnull(pool);
    r = weir_pcalloc(pool, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->pool = pool;
    r->hc = &hc;
    r->srv = &srv;
    r->route = &route;
    r->status = 200;
    r->content_length = 0;
    r->keepalive = 1;
    r->head.version = 11;
    r->body_fd = -1;
    route.sec_out[WEIR_SEC_OUT_HSTS] = (weir_header_edit_t) {
        "Strict-Transport-Security", "max-age=600" };
    route.sec_out[WEIR_SEC_OUT_FRAME] = (weir_header_edit_t) {
        "X-Frame-Options", "DENY" };
    route.sec_out[WEIR_SEC_OUT_CSP] = (weir_header_edit_t) {
        "Content-Security-Policy", "frame-ancestors 'none'" };
}

static void
teardown(void)
{
    weir_pool_destroy(pool);
}

static int
count(const char *head, const char *field)
{
    int         n = 0;
    const char *p = head;

    while ((p = strstr(p, field)) != NULL) {
        n++;
        p++;
    }
    return n;
}

static const char *
head(void)
{
    ck_assert_int_eq(weir_http_response_head(r), WEIR_OK);
    ck_assert_ptr_nonnull(r->out);
    return r->out;
}

START_TEST(hsts_only_over_tls)
{
    const char *h = head();

    ck_assert_int_eq(count(h, "Strict-Transport-Security"), 0);
    ck_assert_int_eq(count(h, "\r\nX-Frame-Options: DENY\r\n"), 1);
    hc.tls = 1;
    h = head();
    ck_assert_int_eq(count(h, "\r\nStrict-Transport-Security: "
                              "max-age=600\r\n"), 1);
    ck_assert_int_eq(count(h, "\r\nContent-Security-Policy: "
                              "frame-ancestors 'none'\r\n"), 1);
    ck_assert_msg(strstr(h, "\r\n\r\n") == h + strlen(h) - 4, "%s", h);
}
END_TEST

START_TEST(not_doubled)
{
    weir_str_t names[2] = { { 15, "x-frame-options" },
                            { 25, "STRICT-TRANSPORT-SECURITY" } };
    weir_str_t values[2] = { { 10, "SAMEORIGIN" }, { 9, "max-age=1" } };
    const char *h;

    r->resp_names = names;
    r->resp_values = values;
    r->nresp = 2;
    hc.tls = 1;
    h = head();
    ck_assert_int_eq(count(h, "X-Frame-Options"), 0);
    ck_assert_int_eq(count(h, "x-frame-options: SAMEORIGIN"), 1);
    ck_assert_int_eq(count(h, "Strict-Transport-Security"), 0);
    ck_assert_int_eq(count(h, "STRICT-TRANSPORT-SECURITY: max-age=1"), 1);
    /* the frame-ancestors default would override the origin's own
     * X-Frame-Options in browsers: left out with it */
    ck_assert_int_eq(count(h, "Content-Security-Policy"), 0);
}
END_TEST

START_TEST(server_without_route)
{
    const char *h;

    r->route = NULL;
    srv.sec_out[WEIR_SEC_OUT_NOSNIFF] = (weir_header_edit_t) {
        "X-Content-Type-Options", "nosniff" };
    h = head();
    ck_assert_int_eq(count(h, "X-Content-Type-Options: nosniff"), 1);
    ck_assert_int_eq(count(h, "X-Frame-Options"), 0);
}
END_TEST

START_TEST(none_on_interim)
{
    r->status = 101;
    r->upgraded = 1;
    ck_assert_int_eq(count(head(), "X-Frame-Options"), 0);
}
END_TEST

static Suite *
response_sec_suite(void)
{
    Suite *s = suite_create("response_sec");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, hsts_only_over_tls);
    tcase_add_test(tc, not_doubled);
    tcase_add_test(tc, server_without_route);
    tcase_add_test(tc, none_on_interim);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(response_sec_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
