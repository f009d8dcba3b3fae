#include "weir_config.h"
#include "http/route.h"

#include <check.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "http/regex.h"

/* A server with routes built from match strings, in this order. */
typedef struct fixture_s {
    weir_server_conf_t  srv;
    weir_route_conf_t   routes[8];
    weir_route_conf_t  *ptrs[8];
} fixture_t;

static void
build(fixture_t *f, const char *const *matches, size_t n)
{
    char   err[256];
    size_t i;

    memset(f, 0, sizeof(*f));
    for (i = 0; i < n; i++) {
        f->routes[i].name = (char *) matches[i];
        ck_assert_msg(weir_route_match_parse(&f->routes[i], matches[i], err,
                                             sizeof(err)) == WEIR_OK,
                      "%s: %s", matches[i], err);
        f->ptrs[i] = &f->routes[i];
    }
    f->srv.routes = f->ptrs;
    f->srv.nroutes = n;
}

static void
teardown_routes(fixture_t *f)
{
    size_t i;

    for (i = 0; i < f->srv.nroutes; i++) {
        weir_route_free(&f->routes[i]);
    }
}

static const char *
find(fixture_t *f, const char *path)
{
    weir_route_conf_t *r = weir_route_find(&f->srv, path, strlen(path));

    return r ? r->name : NULL;
}

START_TEST(parse_kinds)
{
    weir_route_conf_t r;
    char              err[256];

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(weir_route_match_parse(&r, "/assets/", err,
                                            sizeof(err)), WEIR_OK);
    ck_assert_int_eq(r.match_type, WEIR_MATCH_PREFIX);
    ck_assert_str_eq(r.match, "/assets/");
    ck_assert_uint_eq(r.match_len, 8);

    ck_assert_int_eq(weir_route_match_parse(&r, "=  /exact", err,
                                            sizeof(err)), WEIR_OK);
    ck_assert_int_eq(r.match_type, WEIR_MATCH_EXACT);
    ck_assert_str_eq(r.match, "/exact");

    ck_assert_int_eq(weir_route_match_parse(&r, "~ ^/api/(v[0-9]+)/", err,
                                            sizeof(err)), WEIR_OK);
    ck_assert_int_eq(r.match_type, WEIR_MATCH_REGEX);
    ck_assert_str_eq(r.match, "^/api/(v[0-9]+)/");
    ck_assert_ptr_nonnull(r.regex);
    weir_route_free(&r);
    ck_assert_ptr_null(r.regex);
}
END_TEST

START_TEST(parse_errors)
{
    weir_route_conf_t r;
    char              err[256];

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(weir_route_match_parse(&r, "assets/", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "invalid match"));
    ck_assert_int_eq(weir_route_match_parse(&r, "= exact", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "must start with '/'"));
    ck_assert_int_eq(weir_route_match_parse(&r, "~^/x", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_route_match_parse(&r, "~ ", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_route_match_parse(&r, "~ ^/(a", err, sizeof(err)),
                     WEIR_ERROR);
    ck_assert_msg(strncmp(err, "regex error at offset 4: ", 25) == 0,
                  "got \"%s\"", err);
    ck_assert_ptr_nonnull(strstr(err, "missing closing parenthesis"));
    ck_assert_ptr_null(r.regex);
}
END_TEST

/* File order decides, not specificity: an early prefix shadows a later
 * exact match, as the design says. */
START_TEST(first_match_in_file_order)
{
    static const char *const m[] = {
        "= /", "~ ^/api/v[0-9]+/", "/api/", "= /api/health", "/"
    };
    fixture_t f;

    build(&f, m, weir_nelems(m));
    ck_assert_str_eq(find(&f, "/"), "= /");
    ck_assert_str_eq(find(&f, "/api/v2/users"), "~ ^/api/v[0-9]+/");
    ck_assert_str_eq(find(&f, "/api/vx/users"), "/api/");
    ck_assert_str_eq(find(&f, "/api/health"), "/api/");  /* shadowed */
    ck_assert_str_eq(find(&f, "/index.html"), "/");
    teardown_routes(&f);
}
END_TEST

/* A path that keeps "%2F" goes only to a route with encoded_slash =
 * pass, and only when reading each "%2F" as '/' keeps that route. */
START_TEST(encoded_slash_route)
{
    static const char *const m[] = {
        "/api/private/", "/api/", "/files/", "/"
    };
    fixture_t   f;
    weir_pool_t *pool = weir_pool_create(1024);

#define ES(path) weir_route_encoded_slash(&f.srv, \
        weir_route_find(&f.srv, path, strlen(path)), path, strlen(path), pool)

    ck_assert_ptr_nonnull(pool);
    build(&f, m, weir_nelems(m));
    f.routes[1].encoded_slash = WEIR_ENCODED_SLASH_PASS;    /* /api/ */
    ck_assert_int_eq(ES("/api/v4/projects/group%2Fproject"), WEIR_OK);
    ck_assert_int_eq(ES("/api/a%2Fb%2Fc"), WEIR_OK);
    /* read with '/', it would be /api/private/x: refused */
    ck_assert_int_eq(ES("/api/private%2Fx"), WEIR_DECLINED);
    ck_assert_int_eq(ES("/api/private%2fx"), WEIR_DECLINED);
    /* routes that reject (the default) */
    ck_assert_int_eq(ES("/files/a%2Fb"), WEIR_DECLINED);
    ck_assert_int_eq(ES("/a%2Fb"), WEIR_DECLINED);
    ck_assert_int_eq(weir_route_encoded_slash(&f.srv, NULL, "/x%2F", 5,
                                              pool), WEIR_DECLINED);
    teardown_routes(&f);
    weir_pool_destroy(pool);
#undef ES
}
END_TEST

START_TEST(exact_before_prefix)
{
    static const char *const m[] = { "= /api/health", "/api/" };
    fixture_t f;

    build(&f, m, weir_nelems(m));
    ck_assert_str_eq(find(&f, "/api/health"), "= /api/health");
    ck_assert_str_eq(find(&f, "/api/health/x"), "/api/");
    ck_assert_str_eq(find(&f, "/api/"), "/api/");
    ck_assert_ptr_null(find(&f, "/api"));         /* prefix is literal */
    teardown_routes(&f);
}
END_TEST

START_TEST(no_match)
{
    static const char *const m[] = { "/assets/", "= /x", "~ \\.php$" };
    fixture_t f;

    build(&f, m, weir_nelems(m));
    ck_assert_ptr_null(find(&f, "/"));
    ck_assert_ptr_null(find(&f, "/x/"));
    ck_assert_ptr_null(find(&f, "/assets"));
    ck_assert_ptr_null(find(&f, ""));
    ck_assert_str_eq(find(&f, "/a/b.php"), "~ \\.php$");
    teardown_routes(&f);

    memset(&f, 0, sizeof(f));
    ck_assert_ptr_null(find(&f, "/"));            /* a server without routes */
}
END_TEST

/* A catastrophic pattern hits the match limit: no match, counted, and
 * the next route takes the path; the same pattern still matches what it
 * should. */
START_TEST(regex_match_limit)
{
    static const char *const m[] = { "~ ^/(a+)+$", "/" };
    fixture_t     f;
    char          path[64];
    unsigned long before = weir_regex_limit_hits();

    build(&f, m, weir_nelems(m));
    memset(path, 'a', sizeof(path));
    path[0] = '/';
    path[sizeof(path) - 2] = 'b';
    path[sizeof(path) - 1] = '\0';
    ck_assert_str_eq(find(&f, path), "/");
    ck_assert_uint_eq(weir_regex_limit_hits(), before + 1);
    path[sizeof(path) - 2] = 'a';
    ck_assert_str_eq(find(&f, path), "~ ^/(a+)+$");
    ck_assert_str_eq(find(&f, "/ab"), "/");     /* a quick no is no hit */
    ck_assert_uint_eq(weir_regex_limit_hits(), before + 1);
    teardown_routes(&f);
}
END_TEST

START_TEST(regex_anchors)
{
    static const char *const m[] = { "~ ^/img/", "~ \\.css$", "~ /deep/" };
    fixture_t f;

    build(&f, m, weir_nelems(m));
    ck_assert_str_eq(find(&f, "/img/a.png"), "~ ^/img/");
    ck_assert_ptr_null(find(&f, "/x/img.png"));
    ck_assert_ptr_null(find(&f, "/x/img/a.png"));     /* ^ anchors */
    ck_assert_str_eq(find(&f, "/s/site.css"), "~ \\.css$");
    ck_assert_ptr_null(find(&f, "/s/site.css.map"));
    ck_assert_str_eq(find(&f, "/a/deep/b"), "~ /deep/");  /* unanchored */
    teardown_routes(&f);
}
END_TEST

/* The length given is honoured: the path is not NUL-terminated where the
 * request buffer continues. */
START_TEST(length_bounded)
{
    static const char *const m[] = { "= /a", "~ ^/b$" };
    fixture_t f;

    build(&f, m, weir_nelems(m));
    ck_assert_ptr_nonnull(weir_route_find(&f.srv, "/abc", 2));
    ck_assert_ptr_null(weir_route_find(&f.srv, "/abc", 3));
    ck_assert_ptr_nonnull(weir_route_find(&f.srv, "/b HTTP/1.1", 2));
    teardown_routes(&f);
}
END_TEST

START_TEST(caseless_regex)
{
    static const char *const m[] = { "~* \\.JPG$" };
    fixture_t f;

    build(&f, m, weir_nelems(m));
    ck_assert_ptr_nonnull(find(&f, "/a.jpg"));
    ck_assert_ptr_nonnull(find(&f, "/a.JpG"));
    teardown_routes(&f);
}
END_TEST

START_TEST(jit_compiled)
{
#ifdef WEIR_HAVE_PCRE2_JIT
    weir_route_conf_t r;
    char              err[256];
    size_t            jitsize = 0;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(weir_route_match_parse(&r, "~ ^/api/(v[0-9]+)/", err,
                                            sizeof(err)), WEIR_OK);
    ck_assert_int_eq(pcre2_pattern_info(r.regex, PCRE2_INFO_JITSIZE,
                                        &jitsize), 0);
    ck_assert_uint_gt(jitsize, 0);
    ck_assert_int_eq(weir_route_matches(&r, "/api/v1/x", 9), 1);
    weir_route_free(&r);
#endif
}
END_TEST

/* Does the route of match a, tried first, cover the route of match b? */
static int
covers(const char *a, const char *b)
{
    const char *const m[2] = { a, b };
    fixture_t         f;
    int               rc;

    build(&f, m, 2);
    rc = weir_route_covers(f.ptrs[0], f.ptrs[1]);
    teardown_routes(&f);
    return rc;
}

START_TEST(covers_prefix)
{
    /* the README trap: a catch-all before a narrower route */
    ck_assert_int_eq(covers("/", "/api/"), 1);
    ck_assert_int_eq(covers("/api/", "/api/v1/"), 1);
    ck_assert_int_eq(covers("/api/", "/api/"), 1);          /* duplicate */
    ck_assert_int_eq(covers("/api", "= /api"), 1);
    ck_assert_int_eq(covers("/api", "= /apix"), 1);
    ck_assert_int_eq(covers("/api/", "= /api"), 0);
    ck_assert_int_eq(covers("/api/v1/", "/api/"), 0);      /* narrower first */
    ck_assert_int_eq(covers("/a/", "/b/"), 0);
    ck_assert_int_eq(covers("/img", "/images"), 0);
}
END_TEST

START_TEST(covers_exact)
{
    ck_assert_int_eq(covers("= /x", "= /x"), 1);             /* duplicate */
    ck_assert_int_eq(covers("= /x", "= /y"), 0);
    ck_assert_int_eq(covers("= /x", "/x"), 0);               /* /x/y remains */
    ck_assert_int_eq(covers("= /", "/"), 0);
    ck_assert_int_eq(covers("= /x", "~ ^/x$"), 0);           /* not judged */
}
END_TEST

/* Regexes: a yes only when it is certain. */
START_TEST(covers_regex)
{
    ck_assert_int_eq(covers("/", "~ ^/api/(v[0-9]+)/"), 1);
    ck_assert_int_eq(covers("/api/", "~ ^/api/v[0-9]+"), 1);
    ck_assert_int_eq(covers("/api", "~ ^/api$"), 1);
    ck_assert_int_eq(covers("/", "~* ^/API/"), 1);            /* no letters */
    ck_assert_int_eq(covers("~ ^/a", "~ ^/a"), 1);            /* duplicate */

    /* unanchored, alternation, optional last character, case */
    ck_assert_int_eq(covers("/", "~ /api/"), 0);      /* also matches "*" */
    ck_assert_int_eq(covers("/", "~ ^/a|b"), 0);
    ck_assert_int_eq(covers("/api/", "~ ^/api/?"), 0);
    ck_assert_int_eq(covers("/api", "~ ^/apix*"), 1);
    ck_assert_int_eq(covers("/apix", "~ ^/apix*"), 0);
    ck_assert_int_eq(covers("/apix", "~ ^/apix{0,1}"), 0);
    ck_assert_int_eq(covers("/api/", "~ ^/api\\.v1/"), 0);
    ck_assert_int_eq(covers("/api/", "~ ^/ap(i)/"), 0);
    ck_assert_int_eq(covers("/api/", "~* ^/api/"), 0);        /* /API/ */
    ck_assert_int_eq(covers("/api/", "~ ^/(?i)api/"), 0);
    ck_assert_int_eq(covers("~ ^/a", "~* ^/a"), 0);
    ck_assert_int_eq(covers("~ ^/a", "~ ^/a/b"), 0);
    ck_assert_int_eq(covers("~ ^/", "/x"), 0);
    ck_assert_int_eq(covers("~ ^/", "= /x"), 1);     /* one path: asked */
    ck_assert_int_eq(covers("~ \\.php$", "= /index.php"), 1);
    ck_assert_int_eq(covers("~ \\.php$", "= /index.html"), 0);
    ck_assert_int_eq(covers("~* \\.PHP$", "= /a.php"), 1);
}
END_TEST

static Suite *
route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, parse_kinds);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, first_match_in_file_order);
    tcase_add_test(tc, exact_before_prefix);
    tcase_add_test(tc, regex_match_limit);
    tcase_add_test(tc, encoded_slash_route);
    tcase_add_test(tc, no_match);
    tcase_add_test(tc, regex_anchors);
    tcase_add_test(tc, length_bounded);
    tcase_add_test(tc, caseless_regex);
    tcase_add_test(tc, jit_compiled);
    tcase_add_test(tc, covers_prefix);
    tcase_add_test(tc, covers_exact);
    tcase_add_test(tc, covers_regex);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(route_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
