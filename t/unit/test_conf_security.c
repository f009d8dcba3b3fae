#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"

/*
 * security_headers and its keys in the loader: values, the inheritance
 * [http] -> [server] -> [route] resolved into the headers a response
 * gets, errors by file:line and key, and the dump. test_response_sec.c
 * has the response side, t/security_headers.t the behaviour.
 */

#include "conf_harness.h"

#define BASE                                                                \
    "[http]\n"                         /* 1 */                              \
    "security_headers = on\n"          /* 2 */                              \
    "[server s]\n"                     /* 3 */                              \
    "listen = 127.0.0.1:8080\n"        /* 4 */                              \
    "x_frame_options = deny\n"         /* 5 */                              \
    "[route r]\n"                      /* 6 */                              \
    "match = /\n"                      /* 7 */                              \
    "return = 204\n"                   /* 8 */

static const char *
out_value(const weir_header_edit_t *out, int i)
{
    return out[i].name ? out[i].value : NULL;
}

START_TEST(resolved)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    weir_route_conf_t   *r;
    weir_server_conf_t  *s;

    cf = load(BASE "referrer_policy = no-referrer, same-origin\n"
              "strict_transport_security = off\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    s = cf->http.servers[0];
    r = cf->http.routes[0];
    ck_assert_int_eq(cf->http.sec.on, 1);
    ck_assert_int_eq(s->sec.on, -1);
    ck_assert_str_eq(s->sec.value[WEIR_SEC_FRAME], "DENY");
    /* the server: [http]'s on, its own frame option */
    ck_assert_str_eq(out_value(s->sec_out, WEIR_SEC_OUT_HSTS),
                     "max-age=31536000");
    ck_assert_str_eq(out_value(s->sec_out, WEIR_SEC_OUT_FRAME), "DENY");
    ck_assert_str_eq(out_value(s->sec_out, WEIR_SEC_OUT_CSP),
                     "frame-ancestors 'none'");
    ck_assert_str_eq(out_value(s->sec_out, WEIR_SEC_OUT_NOSNIFF), "nosniff");
    ck_assert_str_eq(out_value(s->sec_out, WEIR_SEC_OUT_REFERRER),
                     "strict-origin-when-cross-origin");
    ck_assert_str_eq(s->sec_out[WEIR_SEC_OUT_HSTS].name,
                     "Strict-Transport-Security");
    /* the route: its own two, the server's frame option */
    ck_assert_ptr_null(out_value(r->sec_out, WEIR_SEC_OUT_HSTS));
    ck_assert_str_eq(out_value(r->sec_out, WEIR_SEC_OUT_REFERRER),
                     "no-referrer, same-origin");
    ck_assert_str_eq(out_value(r->sec_out, WEIR_SEC_OUT_FRAME), "DENY");
    weir_config_free(cf);

    /* off by default: nothing */
    cf = load("[server s]\nlisten = 127.0.0.1:8080\n[route r]\nmatch = /\n"
              "return = 204\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    ck_assert_int_eq(cf->http.sec.on, 0);
    ck_assert_ptr_null(cf->http.routes[0]->sec_out[WEIR_SEC_OUT_FRAME].name);
    ck_assert_ptr_null(cf->http.servers[0]->sec_out[WEIR_SEC_OUT_HSTS].name);
    weir_config_free(cf);

    /* one key alone, and "off" for the rest in a route */
    cf = load("[server s]\nlisten = 127.0.0.1:8080\n"
              "x_frame_options = SameOrigin\n[route r]\nmatch = = /\n"
              "return = 204\n[route q]\nmatch = /q\nreturn = 204\n"
              "x_frame_options = off\nsecurity_headers = on\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    r = cf->http.routes[0];
    ck_assert_str_eq(out_value(r->sec_out, WEIR_SEC_OUT_FRAME),
                     "SAMEORIGIN");
    ck_assert_str_eq(out_value(r->sec_out, WEIR_SEC_OUT_CSP),
                     "frame-ancestors 'self'");
    ck_assert_ptr_null(r->sec_out[WEIR_SEC_OUT_NOSNIFF].name);
    r = cf->http.routes[1];
    ck_assert_ptr_null(r->sec_out[WEIR_SEC_OUT_FRAME].name);
    ck_assert_ptr_null(r->sec_out[WEIR_SEC_OUT_CSP].name);
    ck_assert_str_eq(out_value(r->sec_out, WEIR_SEC_OUT_NOSNIFF), "nosniff");
    weir_config_free(cf);
}
END_TEST

START_TEST(errors)
{
    ck_load_error(BASE "x_frame_options = ALLOW-FROM https://x\n",
                  "weir.ini:9: [route r] x_frame_options: \"ALLOW-FROM "
                  "https://x\": expected DENY, SAMEORIGIN or off");
    ck_load_error(BASE "strict_transport_security = max-age=abc\n",
                  "weir.ini:9: [route r] strict_transport_security: "
                  "\"max-age=abc\": expected max-age=SECONDS");
    ck_load_error(BASE "strict_transport_security = max-age=1; max-age=2\n",
                  "weir.ini:9: [route r] strict_transport_security: ");
    ck_load_error(BASE "referrer_policy = origin, nope\n", "weir.ini:9: "
                  "[route r] referrer_policy: \"origin, nope\": expected a "
                  "referrer policy");
    ck_load_error(BASE "referrer_policy = origin,\n", "weir.ini:9: "
                  "[route r] referrer_policy: ");
    ck_load_error(BASE "x_content_type_options = sniff\n", "weir.ini:9: "
                  "[route r] x_content_type_options: \"sniff\": expected "
                  "nosniff or off");
    ck_load_error(BASE "security_headers = 1\n", "weir.ini:9: [route r] "
                  "security_headers: invalid value \"1\", expected on or "
                  "off");
    ck_load_error(BASE "security_headers = on\nsecurity_headers = off\n",
                  "weir.ini:10: [route r] security_headers: ");
    ck_load_error("[admin]\nsecurity_headers = on\n", "weir.ini:2: [admin] "
                  "security_headers: unknown key");
}
END_TEST

START_TEST(dump_round_trip)
{
    weir_config_errors_t errs;
    weir_config_t       *cf, *again;
    char                *d1, *d2;

    cf = load("[http]\nserver_tokens = version\n"
              "security_headers = on\n[server s]\n"
              "listen = 127.0.0.1:8080\nx_frame_options = deny\n"
              "[route r]\nmatch = /\nreturn = 204\n"
              "strict_transport_security = max-age=60; preload\n", &errs);
    ck_assert_msg(cf != NULL, "%s", all_errors(&errs));
    d1 = dump_to(cf, "dump1.ini");
    ck_assert_msg(strstr(d1, "\nsecurity_headers = on\n") != NULL, "%s", d1);
    ck_assert_msg(strstr(d1, "\n; security_headers is not set\n") != NULL,
                  "%s", d1);
    ck_assert_msg(strstr(d1, "\nx_frame_options = DENY\n") != NULL, "%s",
                  d1);
    ck_assert_msg(strstr(d1, "\nstrict_transport_security = max-age=60; "
                         "preload\n") != NULL, "%s", d1);
    ck_assert_msg(strstr(d1, "\nserver_tokens = weir/" WEIR_VERSION "\n")
                  != NULL, "%s", d1);
    memset(&errs, 0, sizeof(errs));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s\n%s", all_errors(&errs), d1);
    d2 = dump_to(again, "dump2.ini");
    ck_assert_str_eq(d1, d2);
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

static Suite *
conf_security_suite(void)
{
    Suite *s = suite_create("conf_security");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, resolved);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, dump_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_security_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
