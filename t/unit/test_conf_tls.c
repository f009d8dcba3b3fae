#include "weir_config.h"
#include "proc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "event/tls.h"

/*
 * The TLS keys of [server]: values, defaults, the dump that loads back,
 * and the checks across keys. (That certificates load is the master's
 * step, weir_config_tls_build(), tested by t/tls.t with real ones.) Each
 * test runs in a fresh temporary prefix with certs/ holding files that
 * only need to be readable here.
 */

static char tmpdir[64];

static void
write_file(const char *name, const char *text)
{
    FILE *fp = fopen(name, "w");

    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
}

static void
setup(void)
{
    strcpy(tmpdir, "/tmp/weir-conftls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(mkdir("certs", 0755), 0);
    write_file("certs/rsa.pem", "x\n");
    write_file("certs/rsa.key", "x\n");
    write_file("certs/ec.pem", "x\n");
    write_file("certs/ec.key", "x\n");
    write_file("certs/ocsp.der", "x\n");
    write_file("certs/ca.pem", "x\n");
}

static void
teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) {
        /* a leftover temp dir is harmless */
    }
}

static weir_config_t *
load(const char *name, const char *text, weir_config_errors_t *errs)
{
    memset(errs, 0, sizeof(*errs));
    write_file(name, text);
    return weir_config_load(name, tmpdir, errs);
}

static int
has_error(const weir_config_errors_t *errs, const char *expect)
{
    size_t i;

    for (i = 0; i < errs->n; i++) {
        if (strstr(errs->lines[i], expect)) {
            return 1;
        }
    }
    return 0;
}

#define ck_load_error(text, expect)                                         \
    do {                                                                    \
        weir_config_errors_t e_;                                            \
        weir_config_t *cf_ = load("weir.ini", text, &e_);                   \
        ck_assert_msg(cf_ == NULL, "loaded although expecting: %s", expect);\
        ck_assert_msg(has_error(&e_, expect), "expected \"%s\", got %s",    \
                      expect, e_.n ? e_.lines[0] : "nothing");              \
        weir_config_errors_free(&e_);                                       \
    } while (0)

#define SERVER                                                              \
    "[server s]\n"                                     /* 1 */              \
    "listen = 127.0.0.1:8443 tls\n"                    /* 2 */

#define ROUTE                                                               \
    "[route r]\n"                                                           \
    "server = s\n"                                                          \
    "match = /\n"                                                           \
    "return = 200 x\n"

static const char full[] =
    SERVER
    "tls_certificate = certs/rsa.pem\n"                /* 3 */
    "tls_certificate_key = certs/rsa.key\n"
    "tls_certificate = certs/ec.pem\n"                 /* 5 */
    "tls_certificate_key = certs/ec.key\n"
    "tls_stapling_file = certs/ocsp.der\n"             /* 7 */
    "tls_protocols = TLSv1.3\n"
    "tls_ciphers = ECDHE-ECDSA-AES128-GCM-SHA256\n"    /* 9 */
    "tls_client_ca = certs/ca.pem\n"
    "tls_verify_client = optional\n"                   /* 11 */
    "tls_session_tickets = off\n"
    "tls_session_cache = 0\n"                          /* 13 */
    "tls_session_timeout = 5m\n"
    ROUTE;

START_TEST(values)
{
    weir_config_errors_t errs;
    weir_config_t       *cf = load("weir.ini", full, &errs);
    weir_server_conf_t  *s;
    char                 path[256];

    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "");
    s = cf->http.servers[0];
    ck_assert_uint_eq(s->ntls_certificate, 2);
    ck_assert_uint_eq(s->ntls_certificate_key, 2);
    snprintf(path, sizeof(path), "%s/certs/ec.pem", tmpdir);
    ck_assert_str_eq(s->tls_certificate[1], path);
    ck_assert_uint_eq(s->ntls_stapling_file, 1);
    ck_assert_uint_eq(s->tls_protocols, WEIR_TLS_V1_3);
    ck_assert_str_eq(s->tls_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
    ck_assert_int_eq(s->tls_verify_client, WEIR_TLS_VERIFY_OPTIONAL);
    ck_assert_int_eq(s->tls_session_tickets, 0);
    ck_assert_int_eq(s->tls_session_cache, 0);
    ck_assert_int_eq(s->tls_session_timeout, 300000);
    ck_assert_ptr_null(s->tls);     /* built by the master, not the loader */
    weir_config_free(cf);
}
END_TEST

START_TEST(defaults)
{
    weir_config_errors_t errs;
    weir_config_t       *cf = load("weir.ini", SERVER
                                   "tls_certificate = certs/rsa.pem\n"
                                   "tls_certificate_key = certs/rsa.key\n"
                                   ROUTE, &errs);
    weir_server_conf_t  *s;

    ck_assert_ptr_nonnull(cf);
    s = cf->http.servers[0];
    ck_assert_uint_eq(s->tls_protocols, WEIR_TLS_V1_2 | WEIR_TLS_V1_3);
    ck_assert_ptr_null(s->tls_ciphers);         /* the default list */
    ck_assert_int_eq(s->tls_verify_client, WEIR_TLS_VERIFY_OFF);
    ck_assert_int_eq(s->tls_session_tickets, 1);
    ck_assert_int_eq(s->tls_session_cache, 20480);
    ck_assert_int_eq(s->tls_session_timeout, 3600000);
    weir_config_free(cf);
}
END_TEST

START_TEST(dump_loads_back)
{
    weir_config_errors_t errs;
    weir_config_t       *cf = load("weir.ini", full, &errs), *again;
    FILE                *fp;
    char                 d1[16384], d2[16384];
    size_t               n;

    ck_assert_ptr_nonnull(cf);
    fp = fopen("dump1.ini", "w");
    weir_config_dump(cf, fp);
    fclose(fp);
    fp = fopen("dump1.ini", "r");
    n = fread(d1, 1, sizeof(d1) - 1, fp);
    d1[n] = '\0';
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(d1, "\ntls_protocols = TLSv1.3\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\ntls_verify_client = optional\n"));
    ck_assert_ptr_nonnull(strstr(d1, "/certs/ec.key\n"));
    memset(&errs, 0, sizeof(errs));
    again = weir_config_load("dump1.ini", tmpdir, &errs);
    ck_assert_msg(again != NULL, "%s", errs.n ? errs.lines[0] : "");
    fp = fopen("dump2.ini", "w");
    weir_config_dump(again, fp);
    fclose(fp);
    fp = fopen("dump2.ini", "r");
    n = fread(d2, 1, sizeof(d2) - 1, fp);
    d2[n] = '\0';
    fclose(fp);
    /* the same but for the first line, which names the file */
    ck_assert_str_eq(strchr(d1, '\n'), strchr(d2, '\n'));
    weir_config_free(again);
    weir_config_free(cf);
}
END_TEST

/* optional_no_ca leaves verification to the origin: no CA needed. */
START_TEST(optional_no_ca)
{
    weir_config_errors_t errs;
    weir_config_t       *cf = load("weir.ini", SERVER
                                   "tls_certificate = certs/rsa.pem\n"
                                   "tls_certificate_key = certs/rsa.key\n"
                                   "tls_verify_client = optional_no_ca\n"
                                   ROUTE, &errs);

    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "?");
    ck_assert_int_eq(cf->http.servers[0]->tls_verify_client,
                     WEIR_TLS_VERIFY_OPTIONAL_NO_CA);
    weir_config_free(cf);
    ck_load_error(SERVER "tls_certificate = certs/rsa.pem\n"
                  "tls_certificate_key = certs/rsa.key\n"
                  "tls_verify_client = optional\n" ROUTE,
                  "weir.ini:5: [server s] tls_verify_client: needs "
                  "tls_client_ca");
}
END_TEST

START_TEST(errors)
{
    ck_load_error(SERVER "tls_certificate = certs/rsa.pem\n"
                  "tls_certificate_key = certs/rsa.key\n"
                  "tls_certificate = certs/ec.pem\n" ROUTE,
                  "weir.ini:4: [server s] tls_certificate_key: 1 key(s) for "
                  "2 certificate(s)");
    ck_load_error(SERVER "tls_certificate = certs/rsa.pem\n"
                  "tls_certificate_key = certs/rsa.key\n"
                  "tls_stapling_file = certs/ocsp.der\n"
                  "tls_stapling_file = certs/ocsp.der\n" ROUTE,
                  "[server s] tls_stapling_file: more OCSP responses (2) "
                  "than certificates (1)");
    ck_load_error(SERVER "tls_certificate = certs/rsa.pem\n"
                  "tls_certificate_key = certs/rsa.key\n"
                  "tls_verify_client = on\n" ROUTE,
                  "weir.ini:5: [server s] tls_verify_client: needs "
                  "tls_client_ca");
    ck_load_error(SERVER "tls_certificate = certs/rsa.pem\n"
                  "tls_certificate_key = certs/rsa.key\n"
                  "tls_client_ca = certs/nope.pem\n" ROUTE,
                  "weir.ini:5: [server s] tls_client_ca: cannot read");
    ck_load_error(SERVER "tls_certificate = certs/nope.pem\n"
                  "tls_certificate_key = certs/rsa.key\n" ROUTE,
                  "weir.ini:3: [server s] tls_certificate: cannot read");
    ck_load_error(SERVER "tls_protocols = TLSv1.1\n" ROUTE,
                  "weir.ini:3: [server s] tls_protocols:");
    ck_load_error(SERVER "tls_certificate = certs/rsa.pem\n"
                  "tls_certificate_key = certs/rsa.key\n"
                  "tls_protocols = off\n" ROUTE,
                  "weir.ini:5: [server s] tls_protocols: off leaves no "
                  "protocol");
    ck_load_error(SERVER "tls_verify_client = maybe\n" ROUTE,
                  "weir.ini:3: [server s] tls_verify_client:");
    ck_load_error(SERVER "tls_session_timeout = 0\n" ROUTE,
                  "weir.ini:3: [server s] tls_session_timeout:");
    ck_load_error(SERVER "tls_certificate =\n" ROUTE,
                  "weir.ini:3: [server s] tls_certificate:");
}
END_TEST

/* [upstream] tls_session_reuse: on by default, off by choice, a boolean
 * like the others (an error names the file, the line and the key). */
#define UPSTREAM                                                            \
    "[upstream u]\n"                                   /* 1 */              \
    "server = 127.0.0.1:8443\n"                                             \
    "tls = on\n"                                       /* 3 */

#define UROUTE                                                              \
    "[server s]\n"                                                          \
    "listen = 127.0.0.1:8080\n"                                             \
    "[route r]\n"                                                           \
    "server = s\n"                                                          \
    "match = /\n"                                                           \
    "upstream = u\n"

START_TEST(upstream_session_reuse)
{
    weir_config_errors_t errs;
    weir_config_t       *cf;
    FILE                *fp;
    char                 d[16384];
    size_t               n;

    cf = load("weir.ini", UPSTREAM UROUTE, &errs);
    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "");
    ck_assert_int_eq(cf->upstreams[0]->tls_session_reuse, 1);
    weir_config_free(cf);

    cf = load("weir.ini", UPSTREAM "tls_session_reuse = off\n" UROUTE,
              &errs);
    ck_assert_msg(cf != NULL, "%s", errs.n ? errs.lines[0] : "");
    ck_assert_int_eq(cf->upstreams[0]->tls_session_reuse, 0);
    fp = fopen("dump.ini", "w");
    weir_config_dump(cf, fp);
    fclose(fp);
    fp = fopen("dump.ini", "r");
    n = fread(d, 1, sizeof(d) - 1, fp);
    d[n] = '\0';
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(d, "\ntls_session_reuse = off\n"));
    weir_config_free(cf);

    ck_load_error(UPSTREAM "tls_session_reuse = maybe\n" UROUTE,
                  "weir.ini:4: [upstream u] tls_session_reuse:");
}
END_TEST

static Suite *
conf_tls_suite(void)
{
    Suite *s = suite_create("conf_tls");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, values);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, dump_loads_back);
    tcase_add_test(tc, optional_no_ca);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, upstream_session_reuse);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_tls_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
