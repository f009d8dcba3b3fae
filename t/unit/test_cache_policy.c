#include "weir_config.h"
#include "cache/cache_policy.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "http/request.h"

/*
 * The RFC 9111 / RFC 5861 rules of cache_policy.c, one rule per test:
 * Cache-Control syntax, dates, what is stored and why not, the freshness
 * order, the age arithmetic and what a stored response may do for a
 * request.
 */

#define MAXH 16

typedef struct hlist_s {
    weir_http_header_t h[MAXH];
    size_t             n;
} hlist_t;

#define T0 784111777    /* Sun, 06 Nov 1994 08:49:37 GMT */
#define D0 "Sun, 06 Nov 1994 08:49:37 GMT"
#define D0_PLUS_HOUR "Sun, 06 Nov 1994 09:49:37 GMT"
#define D0_MINUS_DAY "Sat, 05 Nov 1994 08:49:37 GMT"

#define USE_AT(rq, k)  weir_cache_use(&m, &(rq), T0 + (k))
#define USE(cc, k)     use_cc(&m, cc, k)
#define FRESH     WEIR_CACHE_USE_FRESH
#define STALE_SWR WEIR_CACHE_USE_STALE_SWR
#define VALIDATE  WEIR_CACHE_USE_VALIDATE

#define ABSENT  WEIR_CACHE_ABSENT
#define INVALID WEIR_CACHE_INVALID
#define DMAX    WEIR_CACHE_DELTA_MAX

/* HL(&list, "Name: value", ...): the strings into a header list, each
 * value trimmed the way the parser trims it. */
#define HL(l, ...)  hl_fill(l, (const char *const []) { __VA_ARGS__, NULL })

static void
hl_fill(hlist_t *l, const char *const *lines)
{
    const char *s, *colon;

    memset(l, 0, sizeof(*l));
    while ((s = *lines++) != NULL) {
        ck_assert_uint_lt(l->n, MAXH);
        colon = strchr(s, ':');
        ck_assert_ptr_nonnull(colon);
        l->h[l->n].name = s;
        l->h[l->n].name_len = (size_t) (colon - s);
        colon++;
        while (*colon == ' ') {
            colon++;
        }
        l->h[l->n].value = colon;
        l->h[l->n].value_len = strlen(colon);
        l->n++;
    }
}

static weir_cache_cc_t
cc1(const char *value)
{
    weir_http_header_t h = { "Cache-Control", 13, value, strlen(value) };
    weir_cache_cc_t    cc;

    weir_cache_cc_parse(&h, 1, &cc);
    return cc;
}

static void
no_rules(weir_cache_rules_t *r)
{
    size_t i;

    for (i = 0; i < sizeof(r->valid) / sizeof(r->valid[0]); i++) {
        r->valid[i] = -1;
    }
    r->stale_if_error = 0;
    r->stale_while_revalidate = 0;
}

/* A GET with no request fields, sent at `sent`, its head in at `got`. */
static const char *
store_at(const weir_cache_rules_t *rules, int status, const hlist_t *resp,
    int64_t sent, int64_t got, weir_cache_meta_t *m)
{
    weir_cache_verdict_t v;

    weir_cache_storable(rules, WEIR_HTTP_GET, status, NULL, 0, resp->h,
                        resp->n, sent, got, m, &v);
    return v.not_stored;
}

/* The same sent and answered at T0. */
static const char *
store(const weir_cache_rules_t *rules, int status, const hlist_t *resp,
    weir_cache_meta_t *m)
{
    return store_at(rules, status, resp, T0, T0, m);
}

/* The same with one Cache-Control line as the response's only field. */
static const char *
store_cc(const weir_cache_rules_t *rules, int status, const char *cc,
    weir_cache_meta_t *m)
{
    hlist_t resp = { { { "Cache-Control", 13, cc, strlen(cc) } }, 1 };

    return store(rules, status, &resp, m);
}

static const char *
store_req(int method, int status, const hlist_t *req, const hlist_t *resp,
    weir_cache_meta_t *m)
{
    weir_cache_rules_t   rules;
    weir_cache_verdict_t v;

    no_rules(&rules);
    weir_cache_storable(&rules, method, status, req->h, req->n, resp->h,
                        resp->n, T0, T0, m, &v);
    return v.not_stored;
}

#define CK_WINDOWS(swr, sie) do {                                        \
        ck_assert_int_eq(m.stale_while_revalidate, swr);                  \
        ck_assert_int_eq(m.stale_if_error, sie); } while (0)
#define STORE_GET(status)  store_req(WEIR_HTTP_GET, status, &req, &resp, &m)
#define ck_stored(x)        ck_assert_ptr_null(x)
#define ck_fresh_for(x, secs)  do { ck_stored(x);                     \
                                     ck_assert_int_eq(m.fresh_for, secs); \
                                 } while (0)
#define ck_refused(x, why)  do { const char *r_ = (x);                  \
                                 ck_assert_ptr_nonnull(r_);             \
                                 ck_assert_str_eq(r_, why); } while (0)

/* A stored response: fresh for `fresh` seconds, stored at T0 with no
 * delay and no Age, so its age at T0 + k is k. */
static weir_cache_meta_t
meta(int64_t fresh, int64_t swr, int64_t sie)
{
    weir_cache_meta_t m;

    memset(&m, 0, sizeof(m));
    m.request_time = T0;
    m.response_time = T0;
    m.date = T0;
    m.last_modified = ABSENT;
    m.fresh_for = fresh;
    m.stale_while_revalidate = swr;
    m.stale_if_error = sie;
    return m;
}


/* weir_cache_use() at T0 + k for a request with this Cache-Control. */
static int
use_cc(const weir_cache_meta_t *m, const char *cc, int64_t k)
{
    weir_cache_cc_t rq = cc1(cc);

    return weir_cache_use(m, &rq, T0 + k);
}

START_TEST(test_cc_directives)
{
    weir_cache_cc_t    cc;
    hlist_t            l;

    cc = cc1("no-store, NO-CACHE, Private, public, must-revalidate, "
             "proxy-revalidate, must-understand, no-transform, "
             "only-if-cached, immutable");
    ck_assert(cc.no_store && cc.no_cache && cc.private_ && cc.public_);
    ck_assert(cc.must_revalidate && cc.proxy_revalidate);
    ck_assert(cc.must_understand && cc.no_transform && cc.only_if_cached);
    ck_assert(cc.immutable);
    ck_assert_int_eq(cc.max_age, ABSENT);
    ck_assert_int_eq(cc.s_maxage, ABSENT);
    ck_assert_int_eq(cc.max_stale, ABSENT);
    ck_assert_int_eq(cc.min_fresh, ABSENT);
    ck_assert_int_eq(cc.stale_while_revalidate, ABSENT);
    ck_assert_int_eq(cc.stale_if_error, ABSENT);

    cc = cc1("Max-Age=60, S-MAXAGE=30, min-fresh=5, max-stale=7, "
             "stale-while-revalidate=11, Stale-If-Error=12, x-ext=\"a,b\"");
    ck_assert_int_eq(cc.max_age, 60);
    ck_assert_int_eq(cc.s_maxage, 30);
    ck_assert_int_eq(cc.min_fresh, 5);
    ck_assert_int_eq(cc.max_stale, 7);
    ck_assert_int_eq(cc.stale_while_revalidate, 11);
    ck_assert_int_eq(cc.stale_if_error, 12);
    ck_assert(!cc.no_store && !cc.no_cache && !cc.public_);

    /* quoted values are tolerated (RFC 9111 5.2) */
    cc = cc1("max-age=\"60\"");
    ck_assert_int_eq(cc.max_age, 60);
    /* empty members and odd spacing around commas */
    cc = cc1(" , ,max-age=5 ,,\tpublic , ");
    ck_assert_int_eq(cc.max_age, 5);
    ck_assert(cc.public_);

    /* every line merged, names matched case-insensitively */
    HL(&l, "cache-control: max-age=10", "Content-Type: text/plain",
       "CACHE-CONTROL: no-cache", "Cache-Control: s-maxage=3");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert_int_eq(cc.max_age, 10);
    ck_assert_int_eq(cc.s_maxage, 3);
    ck_assert(cc.no_cache);

    /* nothing at all */
    weir_cache_cc_parse(NULL, 0, &cc);
    ck_assert(!cc.no_cache && !cc.no_store);
    ck_assert_int_eq(cc.max_age, ABSENT);
}
END_TEST

START_TEST(test_cc_qualified_and_bare)
{
    weir_cache_cc_t cc;

    /* the qualified forms restrict the whole response; the comma inside
     * the quotes does not end the directive */
    cc = cc1("no-cache=\"Set-Cookie, X-Foo\", max-age=9");
    ck_assert(cc.no_cache);
    ck_assert_int_eq(cc.max_age, 9);
    cc = cc1("private=\"X-User\"");
    ck_assert(cc.private_);
    cc = cc1("private=X-User, no-cache=x");
    ck_assert(cc.private_ && cc.no_cache);
    /* an escaped quote stays inside the string */
    cc = cc1("no-cache=\"a\\\", max-age=1\", s-maxage=4");
    ck_assert(cc.no_cache);
    ck_assert_int_eq(cc.max_age, ABSENT);
    ck_assert_int_eq(cc.s_maxage, 4);

    /* bare max-stale: any staleness */
    cc = cc1("max-stale");
    ck_assert_int_eq(cc.max_stale, DMAX);

    /* a restricting directive counts however it is garbled ... */
    cc = cc1("no-store=1, must-revalidate=\"x\", proxy-revalidate junk");
    ck_assert(cc.no_store && cc.must_revalidate && cc.proxy_revalidate);
    /* ... a granting one only bare */
    cc = cc1("public=1, immutable=yes, must-understand=\"\"");
    ck_assert(!cc.public_ && !cc.immutable && !cc.must_understand);
}
END_TEST

START_TEST(test_cc_invalid_and_duplicates)
{
    weir_cache_cc_t cc;

    ck_assert_int_eq(cc1("max-age").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=\"\"").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=abc").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=-1").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=+1").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=1.5").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=10s").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age = 10").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=\"10").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=\"10\"x").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=\"1\\0\"").max_age, INVALID);
    ck_assert_int_eq(cc1("s-maxage=x").s_maxage, INVALID);
    ck_assert_int_eq(cc1("min-fresh=").min_fresh, INVALID);
    ck_assert_int_eq(cc1("max-stale=x").max_stale, INVALID);
    ck_assert_int_eq(cc1("stale-if-error").stale_if_error, INVALID);
    ck_assert_int_eq(cc1("stale-while-revalidate=1 2")
                     .stale_while_revalidate, INVALID);
    /* leading zeros are digits */
    ck_assert_int_eq(cc1("max-age=007").max_age, 7);

    /* overflow saturates at 2^31 (RFC 9111 1.2.2), however long */
    ck_assert_int_eq(cc1("max-age=2147483647").max_age, 2147483647);
    ck_assert_int_eq(cc1("max-age=2147483648").max_age, DMAX);
    ck_assert_int_eq(cc1("max-age=2147483649").max_age, DMAX);
    ck_assert_int_eq(cc1("max-age=99999999999999999999999999999999")
                     .max_age, DMAX);

    /* duplicates: the same value is fine, different ones are invalid */
    ck_assert_int_eq(cc1("max-age=5, max-age=5").max_age, 5);
    ck_assert_int_eq(cc1("max-age=5, max-age=6").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=5, max-age=x").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=x, max-age=5").max_age, INVALID);
    ck_assert_int_eq(cc1("max-age=5, max-age=\"5\"").max_age, 5);
    ck_assert_int_eq(cc1("max-stale, max-stale=3").max_stale, INVALID);
    cc = cc1("s-maxage=1, max-age=2, s-maxage=3");
    ck_assert_int_eq(cc.s_maxage, INVALID);
    ck_assert_int_eq(cc.max_age, 2);
}
END_TEST

START_TEST(test_cc_duplicate_lines)
{
    hlist_t         l;
    weir_cache_cc_t cc;

    HL(&l, "Cache-Control: max-age=5", "Cache-Control: max-age=6");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert_int_eq(cc.max_age, INVALID);
    HL(&l, "Cache-Control: max-age=5", "Cache-Control: max-age=5");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert_int_eq(cc.max_age, 5);
    /* an unterminated quote does not swallow the next line */
    HL(&l, "Cache-Control: no-cache=\"a", "Cache-Control: max-age=8");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert(cc.no_cache);
    ck_assert_int_eq(cc.max_age, 8);
}
END_TEST

START_TEST(test_pragma)
{
    hlist_t         l;
    weir_cache_cc_t cc;

    HL(&l, "Pragma: no-cache");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert(cc.no_cache);
    HL(&l, "pragma: x-foo, No-Cache");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert(cc.no_cache);
    HL(&l, "Pragma: x-no-cache");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert(!cc.no_cache);
    /* any Cache-Control line, even one saying nothing of no-cache, wins */
    HL(&l, "Pragma: no-cache", "Cache-Control: max-age=5");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert(!cc.no_cache);
    ck_assert_int_eq(cc.max_age, 5);
    HL(&l, "Cache-Control: x-ext", "Pragma: no-cache");
    weir_cache_cc_parse(l.h, l.n, &cc);
    ck_assert(!cc.no_cache);
}
END_TEST

START_TEST(test_dates)
{
#define PD(s) weir_cache_parse_date(s, strlen(s))
    ck_assert_int_eq(PD(D0), T0);
    ck_assert_int_eq(PD("Sunday, 06-Nov-94 08:49:37 GMT"), T0);
    ck_assert_int_eq(PD("Sun Nov  6 08:49:37 1994"), T0);
    ck_assert_int_eq(PD(D0_PLUS_HOUR), T0 + 3600);
    ck_assert_int_eq(PD("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    ck_assert_int_eq(PD("0"), ABSENT);
    ck_assert_int_eq(PD(""), ABSENT);
    ck_assert_int_eq(PD("-1"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 08:49:37"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 08:49:37 GMT junk"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Foo 1994 08:49:37 GMT"), ABSENT);
    ck_assert_int_eq(PD("Sun, 32 Nov 1994 08:49:37 GMT"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 24:49:37 GMT"), ABSENT);
    /* no field takes a sign */
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 -1:49:37 GMT"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 08:-9:37 GMT"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 08:49:-7 GMT"), ABSENT);
    ck_assert_int_eq(PD("Sun, 06 Nov 1994 +8:49:37 GMT"), ABSENT);
    ck_assert_int_eq(PD("Sun Nov -6 08:49:37 1994"), ABSENT);
    ck_assert_int_eq(weir_cache_parse_date(NULL, 0), ABSENT);
    /* only the given length is read */
    ck_assert_int_eq(weir_cache_parse_date(D0 "xyz", strlen(D0)), T0);
#undef PD
}
END_TEST

START_TEST(test_refusals)
{
    hlist_t           req, resp;
    weir_cache_meta_t m;

    memset(&req, 0, sizeof(req));
    HL(&resp, "Cache-Control: max-age=60");
    ck_stored(STORE_GET(200));
    ck_stored(store_req(WEIR_HTTP_HEAD, 200, &req, &resp, &m));
    ck_refused(store_req(WEIR_HTTP_POST, 200, &req, &resp, &m), "method");
    ck_refused(store_req(WEIR_HTTP_PUT, 200, &req, &resp, &m), "method");
    ck_refused(store_req(WEIR_HTTP_OTHER, 200, &req, &resp, &m), "method");
    /* the meta is filled for a refused response too */
    ck_assert_int_eq(m.fresh_for, 60);

    ck_refused(STORE_GET(100), "status");
    ck_refused(STORE_GET(101), "status");
    ck_refused(STORE_GET(103), "status");
    ck_refused(STORE_GET(206), "status");
    ck_refused(STORE_GET(304), "status");
    ck_refused(STORE_GET(99), "status");
    ck_refused(STORE_GET(600), "status");

    HL(&req, "Cache-Control: no-store");
    ck_refused(STORE_GET(200), "no-store");
    memset(&req, 0, sizeof(req));
    HL(&resp, "Cache-Control: max-age=60, no-store");
    ck_refused(STORE_GET(200), "no-store");
    HL(&resp, "Cache-Control: max-age=60", "Cache-Control: private");
    ck_refused(STORE_GET(200), "private");
    HL(&resp, "Cache-Control: max-age=60, private=\"X-A\"");
    ck_refused(STORE_GET(200), "private");
    HL(&resp, "Cache-Control: max-age=60", "Set-Cookie: a=b");
    ck_refused(STORE_GET(200), "set-cookie");
    HL(&resp, "Cache-Control: public, max-age=60", "set-cookie: a=b");
    ck_refused(STORE_GET(200), "set-cookie");
    HL(&resp, "Cache-Control: max-age=60", "Vary: Accept, *");
    ck_refused(STORE_GET(200), "vary-star");
    HL(&resp, "Cache-Control: max-age=60", "Vary: *");
    ck_refused(STORE_GET(200), "vary-star");
    HL(&resp, "Cache-Control: max-age=60", "Vary: Accept-Encoding");
    ck_stored(STORE_GET(200));
}
END_TEST

START_TEST(test_authorization)
{
    hlist_t           req, resp;
    weir_cache_meta_t m;

    HL(&req, "Authorization: Basic eDp5");
    HL(&resp, "Cache-Control: max-age=60");
    ck_refused(STORE_GET(200), "authorization");
    /* a heuristic or `valid` lifetime is no permission either */
    HL(&resp, "Last-Modified: " D0_MINUS_DAY, "Date: " D0);
    ck_refused(STORE_GET(200), "authorization");
    /* proxy-revalidate is not one of the three (RFC 9111 3.5) */
    HL(&resp, "Cache-Control: max-age=60, proxy-revalidate");
    ck_refused(STORE_GET(200), "authorization");
    /* nor is a garbled public */
    HL(&resp, "Cache-Control: max-age=60, public=yes");
    ck_refused(STORE_GET(200), "authorization");

    HL(&resp, "Cache-Control: max-age=60, public");
    ck_stored(STORE_GET(200));
    HL(&resp, "Cache-Control: s-maxage=60");
    ck_stored(STORE_GET(200));
    ck_assert(m.no_stale);
    HL(&resp, "Cache-Control: max-age=60, must-revalidate");
    ck_stored(STORE_GET(200));
    /* the exceptions lift only this rule */
    HL(&resp, "Cache-Control: max-age=60, public, private");
    ck_refused(STORE_GET(200), "private");
    /* the field name is case-insensitive */
    HL(&req, "authorization: Bearer x");
    HL(&resp, "Cache-Control: max-age=60");
    ck_refused(STORE_GET(200), "authorization");
}
END_TEST

START_TEST(test_must_understand)
{
    hlist_t           req, resp;
    weir_cache_meta_t m;

    memset(&req, 0, sizeof(req));
    /* understood status: no-store is ignored (RFC 9111 5.2.2.3) */
    HL(&resp, "Cache-Control: must-understand, no-store, max-age=60");
    ck_fresh_for(STORE_GET(200), 60);
    /* a status whose caching rules weir does not claim to know */
    ck_refused(STORE_GET(302), "must-understand");
    HL(&resp, "Cache-Control: must-understand, max-age=60");
    ck_refused(STORE_GET(418), "must-understand");
    /* the request's no-store is not the response's to lift */
    HL(&req, "Cache-Control: no-store");
    ck_refused(STORE_GET(200), "no-store");
    /* a garbled must-understand lifts nothing */
    memset(&req, 0, sizeof(req));
    HL(&resp, "Cache-Control: must-understand=1, no-store, max-age=9");
    ck_refused(STORE_GET(200), "no-store");
}
END_TEST

START_TEST(test_freshness_order)
{
    weir_cache_rules_t rules;
    weir_cache_meta_t  m;
    hlist_t            resp;

    no_rules(&rules);
    rules.valid[0] = 999;
    HL(&resp, "Date: " D0, "Expires: " D0_PLUS_HOUR,
       "Cache-Control: max-age=60, s-maxage=30");
    ck_fresh_for(store(&rules, 200, &resp, &m), 30);
    ck_assert(m.no_stale);
    ck_assert(!m.heuristic);
    HL(&resp, "Date: " D0, "Expires: " D0_PLUS_HOUR,
       "Cache-Control: max-age=60");
    ck_fresh_for(store(&rules, 200, &resp, &m), 60);
    ck_assert(!m.no_stale);
    HL(&resp, "Date: " D0, "Expires: " D0_PLUS_HOUR);
    ck_fresh_for(store(&rules, 200, &resp, &m), 3600);

    /* Expires - Date uses the origin's clock: response_time is later
     * here, and does not matter */
    ck_fresh_for(store_at(&rules, 200, &resp, T0 + 500, T0 + 500, &m), 3600);
    ck_assert_int_eq(m.date, T0);
    /* without Date, the response's arrival stands in */
    HL(&resp, "Expires: " D0_PLUS_HOUR);
    ck_fresh_for(store_at(&rules, 200, &resp, T0 + 500, T0 + 600, &m), 3000);
    ck_assert_int_eq(m.date, T0 + 600);

    /* Expires in the past, invalid ("0"), or two that disagree: stored,
     * already stale */
    HL(&resp, "Date: " D0_PLUS_HOUR, "Expires: " D0);
    ck_fresh_for(store(&rules, 200, &resp, &m), 0);
    HL(&resp, "Date: " D0, "Expires: 0");
    ck_fresh_for(store(&rules, 200, &resp, &m), 0);
    HL(&resp, "Date: " D0, "Expires: " D0_PLUS_HOUR,
       "Expires: Sun, 06 Nov 1994 10:49:37 GMT");
    ck_fresh_for(store(&rules, 200, &resp, &m), 0);
    HL(&resp, "Date: " D0, "Expires: " D0_PLUS_HOUR,
       "expires: " D0_PLUS_HOUR);
    ck_fresh_for(store(&rules, 200, &resp, &m), 3600);
    /* an invalid Expires is still explicit: `valid` does not apply */
    HL(&resp, "Expires: never");
    ck_fresh_for(store(&rules, 200, &resp, &m), 0);

    /* invalid max-age: stale at once but stored, and Expires is ignored
     * even then (max-age is present) */
    HL(&resp, "Date: " D0, "Expires: " D0_PLUS_HOUR,
       "Cache-Control: max-age=soon");
    ck_fresh_for(store(&rules, 200, &resp, &m), 0);
    ck_fresh_for(store_cc(&rules, 200, "max-age=5, max-age=6", &m), 0);
    /* invalid s-maxage: stale, and never served stale */
    ck_fresh_for(store_cc(&rules, 200, "s-maxage=x, max-age=60", &m), 0);
    ck_assert(m.no_stale);
    ck_fresh_for(store_cc(&rules, 200, "max-age=99999999999", &m), DMAX);
}
END_TEST

START_TEST(test_status_rules)
{
    static const int   dflt[] = { 200, 203, 204, 300, 301, 308, 404, 405,
                                  410, 414, 501 };
    static const int   other[] = { 201, 202, 302, 303, 307, 400, 403, 418,
                                   500, 502, 503, 504, 599 };
    weir_cache_rules_t rules;
    weir_cache_meta_t  m;
    hlist_t            lm, ma, ex, pub;
    size_t             i;

    no_rules(&rules);
    HL(&lm, "Date: " D0, "Last-Modified: " D0_MINUS_DAY);
    HL(&ma, "Cache-Control: max-age=60");
    HL(&ex, "Date: " D0, "Expires: " D0_PLUS_HOUR);
    HL(&pub, "Date: " D0, "Last-Modified: " D0_MINUS_DAY,
       "Cache-Control: public");

    for (i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
        ck_stored(store(&rules, dflt[i], &lm, &m));
        ck_assert(m.heuristic);
        ck_stored(store(&rules, dflt[i], &ma, &m));
    }
    for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        /* no heuristic, no `valid`, not even with public */
        ck_refused(store(&rules, other[i], &lm, &m), "status");
        ck_refused(store(&rules, other[i], &pub, &m), "status");
        /* explicit freshness makes any final status storable */
        ck_fresh_for(store(&rules, other[i], &ma, &m), 60);
        ck_fresh_for(store(&rules, other[i], &ex, &m), 3600);
    }
}
END_TEST

START_TEST(test_valid_table)
{
    weir_cache_rules_t rules;
    weir_cache_meta_t  m;
    hlist_t            none, lm, ma;

    no_rules(&rules);
    HL(&none, "Date: " D0);
    HL(&lm, "Date: " D0, "Last-Modified: " D0_MINUS_DAY);
    HL(&ma, "Cache-Control: max-age=60");

    ck_refused(store(&rules, 200, &none, &m), "no-freshness");
    ck_refused(store(NULL, 200, &none, &m), "no-freshness");

    rules.valid[200 - 100 + 1] = 600;
    ck_fresh_for(store(&rules, 200, &none, &m), 600);
    ck_assert(!m.heuristic);
    /* `valid` comes before the heuristic, after explicit freshness */
    ck_fresh_for(store(&rules, 200, &lm, &m), 600);
    ck_assert(!m.heuristic);
    ck_fresh_for(store(&rules, 200, &ma, &m), 60);
    /* other statuses fall back to "any", then to the heuristic */
    ck_refused(store(&rules, 404, &none, &m), "no-freshness");
    ck_stored(store(&rules, 404, &lm, &m));
    ck_assert(m.heuristic);
    rules.valid[0] = 30;
    ck_fresh_for(store(&rules, 404, &none, &m), 30);
    ck_fresh_for(store(&rules, 200, &none, &m), 600);
    /* the edges of the table */
    rules.valid[599 - 100 + 1] = 7;
    rules.valid[0] = -1;
    ck_refused(store(&rules, 599, &none, &m), "status");
    ck_refused(store(&rules, 501, &none, &m), "no-freshness");
    rules.valid[501 - 100 + 1] = 5;
    ck_fresh_for(store(&rules, 501, &none, &m), 5);
    /* a status not cacheable by default: `valid` does not apply */
    rules.valid[302 - 100 + 1] = 600;
    ck_refused(store(&rules, 302, &none, &m), "status");
    /* 0 is a value: stored, stale at once */
    rules.valid[410 - 100 + 1] = 0;
    ck_fresh_for(store(&rules, 410, &none, &m), 0);
}
END_TEST

START_TEST(test_heuristic)
{
    weir_cache_meta_t m;
    hlist_t           resp;

    /* 10% of Date - Last-Modified: a day old, fresh for 8640 s */
    HL(&resp, "Date: " D0, "Last-Modified: " D0_MINUS_DAY);
    ck_fresh_for(store(NULL, 200, &resp, &m), 8640);
    ck_assert(m.heuristic);
    ck_assert_int_eq(m.last_modified, T0 - 86400);
    /* capped at a day: changed a year ago */
    HL(&resp, "Date: " D0, "Last-Modified: Sat, 06 Nov 1993 08:49:37 GMT");
    ck_fresh_for(store(NULL, 200, &resp, &m), 86400);
    /* just under the cap, and the cap exactly */
    HL(&resp, "Date: " D0, "Last-Modified: Thu, 27 Oct 1994 08:49:47 GMT");
    ck_fresh_for(store(NULL, 200, &resp, &m), 86399);
    HL(&resp, "Date: " D0, "Last-Modified: Thu, 27 Oct 1994 08:49:37 GMT");
    ck_fresh_for(store(NULL, 200, &resp, &m), 86400);
    /* changed this very second: stored, stale at once */
    HL(&resp, "Date: " D0, "Last-Modified: " D0);
    ck_fresh_for(store(NULL, 200, &resp, &m), 0);
    ck_assert(m.heuristic);
    /* Last-Modified after Date: a broken clock, no lifetime */
    HL(&resp, "Date: " D0, "Last-Modified: " D0_PLUS_HOUR);
    ck_refused(store(NULL, 200, &resp, &m), "no-freshness");
    ck_assert(!m.heuristic);
    /* an invalid Last-Modified is none */
    HL(&resp, "Date: " D0, "Last-Modified: yesterday");
    ck_refused(store(NULL, 200, &resp, &m), "no-freshness");
    ck_assert_int_eq(m.last_modified, ABSENT);
    /* without Date, the arrival time (T0) is the reference */
    HL(&resp, "Last-Modified: " D0_MINUS_DAY);
    ck_fresh_for(store(NULL, 200, &resp, &m), 8640);
    /* explicit expiration turns the heuristic off, even max-age=0 */
    HL(&resp, "Date: " D0, "Last-Modified: " D0_MINUS_DAY,
       "Cache-Control: max-age=0");
    ck_fresh_for(store(NULL, 200, &resp, &m), 0);
    ck_assert(!m.heuristic);
    HL(&resp, "Date: " D0, "Last-Modified: " D0_MINUS_DAY, "Expires: 0");
    ck_fresh_for(store(NULL, 200, &resp, &m), 0);
    ck_assert(!m.heuristic);
}
END_TEST

START_TEST(test_meta_fields)
{
    weir_cache_meta_t m;
    hlist_t           resp;

    HL(&resp, "Cache-Control: max-age=60", "Date: " D0, "Age: 30",
       "Last-Modified: " D0_MINUS_DAY);
    ck_stored(store_at(NULL, 200, &resp, T0 + 1, T0 + 3, &m));
    ck_assert_int_eq(m.request_time, T0 + 1);
    ck_assert_int_eq(m.response_time, T0 + 3);
    ck_assert_int_eq(m.date, T0);
    ck_assert_int_eq(m.age_value, 30);
    ck_assert_int_eq(m.last_modified, T0 - 86400);
    ck_assert_int_eq(m.fresh_for, 60);
    ck_assert(!m.no_stale && !m.no_cache && !m.heuristic);

    /* invalid Date: our clock; Age: first member, invalid ignored,
     * huge saturated */
    HL(&resp, "Date: soon", "Age: 10, 20");
    store_at(NULL, 200, &resp, T0, T0 + 3, &m);
    ck_assert_int_eq(m.date, T0 + 3);
    ck_assert_int_eq(m.age_value, 10);
    ck_assert_int_eq(m.last_modified, ABSENT);
    HL(&resp, "Age: 5", "Age: 50");
    ck_refused(store(NULL, 200, &resp, &m), "no-freshness");
    ck_assert_int_eq(m.age_value, 5);
    HL(&resp, "Age: -5");
    store(NULL, 200, &resp, &m);
    ck_assert_int_eq(m.age_value, 0);
    HL(&resp, "Age: ten");
    store(NULL, 200, &resp, &m);
    ck_assert_int_eq(m.age_value, 0);
    HL(&resp, "Age: 99999999999999");
    store(NULL, 200, &resp, &m);
    ck_assert_int_eq(m.age_value, DMAX);

    /* the flags */
    ck_stored(store_cc(NULL, 200, "max-age=5, no-cache", &m));
    ck_assert(m.no_cache && !m.no_stale);
    HL(&resp, "Cache-Control: max-age=5, no-cache=\"X-A\"");
    ck_stored(store(NULL, 200, &resp, &m));
    ck_assert(m.no_cache);
    ck_stored(store_cc(NULL, 200, "max-age=5, must-revalidate", &m));
    ck_assert(m.no_stale && !m.no_cache);
    ck_stored(store_cc(NULL, 200, "max-age=5, proxy-revalidate", &m));
    ck_assert(m.no_stale);
    ck_stored(store_cc(NULL, 200, "max-age=5, s-maxage=5", &m));
    ck_assert(m.no_stale);
    /* Pragma in a response without Cache-Control counts as no-cache */
    HL(&resp, "Pragma: no-cache", "Date: " D0, "Expires: " D0_PLUS_HOUR);
    ck_stored(store(NULL, 200, &resp, &m));
    ck_assert(m.no_cache);
}
END_TEST

START_TEST(test_windows)
{
    weir_cache_rules_t rules;
    weir_cache_meta_t  m;
    hlist_t            resp;

    no_rules(&rules);
    rules.stale_while_revalidate = 100;
    rules.stale_if_error = 200;

    /* the defaults when the response says nothing */
    ck_stored(store_cc(&rules, 200, "max-age=60", &m));
    CK_WINDOWS(100, 200);
    ck_stored(store_cc(NULL, 200, "max-age=60", &m));
    CK_WINDOWS(0, 0);
    /* the response's own windows win, smaller or larger, 0 included */
    HL(&resp, "Cache-Control: max-age=60, stale-while-revalidate=5, "
              "stale-if-error=86400");
    ck_stored(store(&rules, 200, &resp, &m));
    CK_WINDOWS(5, 86400);
    HL(&resp, "Cache-Control: max-age=60, stale-while-revalidate=0");
    ck_stored(store(&rules, 200, &resp, &m));
    CK_WINDOWS(0, 200);
    /* an invalid window is none, not the default */
    ck_stored(store_cc(&rules, 200, "max-age=60, stale-if-error=x", &m));
    CK_WINDOWS(100, 0);

    /* forbidden by must-revalidate, proxy-revalidate, s-maxage, no-cache:
     * neither the defaults nor the response's own */
    ck_stored(store_cc(&rules, 200, "max-age=60, must-revalidate", &m));
    CK_WINDOWS(0, 0);
    HL(&resp, "Cache-Control: max-age=60, must-revalidate, "
              "stale-while-revalidate=30, stale-if-error=30");
    ck_stored(store(&rules, 200, &resp, &m));
    CK_WINDOWS(0, 0);
    ck_stored(store_cc(&rules, 200, "max-age=60, proxy-revalidate", &m));
    CK_WINDOWS(0, 0);
    ck_stored(store_cc(&rules, 200, "s-maxage=60, stale-if-error=30", &m));
    CK_WINDOWS(0, 0);
    HL(&resp, "Cache-Control: max-age=60, no-cache, stale-if-error=30");
    ck_stored(store(&rules, 200, &resp, &m));
    CK_WINDOWS(0, 0);
}
END_TEST

START_TEST(test_age)
{
    weir_cache_meta_t m = meta(60, 0, 0);

    /* no delay, no Age, Date = arrival: the age is the time stored */
    ck_assert_int_eq(weir_cache_age(&m, T0), 0);
    ck_assert_int_eq(weir_cache_age(&m, T0 + 42), 42);

    /* sent at T0, head at T0 + 5, Date T0 + 1, Age 10:
     *   apparent_age = 4, response_delay = 5,
     *   corrected_age_value = 15, corrected_initial_age = 15 */
    m.request_time = T0;
    m.response_time = T0 + 5;
    m.date = T0 + 1;
    m.age_value = 10;
    ck_assert_int_eq(weir_cache_age(&m, T0 + 5), 15);
    ck_assert_int_eq(weir_cache_age(&m, T0 + 105), 115);

    /* the origin's clock far behind: apparent_age wins */
    m.date = T0 - 100;
    ck_assert_int_eq(weir_cache_age(&m, T0 + 5), 105);
    /* the origin's clock ahead: apparent_age is 0, not negative */
    m.date = T0 + 1000;
    m.age_value = 0;
    ck_assert_int_eq(weir_cache_age(&m, T0 + 5), 5);
    ck_assert_int_eq(weir_cache_age(&m, T0 + 6), 6);

    /* our clock stepping back: neither delay nor residence goes negative */
    m = meta(60, 0, 0);
    m.request_time = T0 + 10;
    ck_assert_int_eq(weir_cache_age(&m, T0), 0);
    ck_assert_int_eq(weir_cache_age(&m, T0 - 50), 0);

    /* an Age of DELTA_MAX is simply old */
    m = meta(60, 0, 0);
    m.age_value = DMAX;
    ck_assert_int_eq(weir_cache_age(&m, T0 + 1), DMAX + 1);
    ck_assert_int_eq(weir_cache_ttl(&m, T0 + 1), 60 - DMAX - 1);
}
END_TEST

START_TEST(test_use_fresh_and_request)
{
    weir_cache_meta_t m = meta(100, 0, 0);
    weir_cache_cc_t   none = cc1("");

    ck_assert_int_eq(USE_AT(none, 0), FRESH);
    ck_assert_int_eq(USE_AT(none, 99), FRESH);
    /* fresh only while the lifetime exceeds the age */
    ck_assert_int_eq(USE_AT(none, 100), VALIDATE);

    /* no-cache, request or response */
    ck_assert_int_eq(USE("no-cache", 0), VALIDATE);
    m.no_cache = 1;
    ck_assert_int_eq(USE_AT(none, 0), VALIDATE);
    m.no_cache = 0;

    /* request max-age bounds the age */
    ck_assert_int_eq(USE("max-age=10", 10), FRESH);
    ck_assert_int_eq(USE("max-age=10", 11), VALIDATE);
    ck_assert_int_eq(USE("max-age=0", 0), FRESH);
    ck_assert_int_eq(USE("max-age=0", 1), VALIDATE);
    /* an invalid one is read as 0 */
    ck_assert_int_eq(USE("max-age=x", 1), VALIDATE);
    /* max-stale does not lift max-age */
    ck_assert_int_eq(USE("max-age=10, max-stale", 11), VALIDATE);

    /* min-fresh: at least that much freshness left */
    ck_assert_int_eq(USE("min-fresh=30", 70), FRESH);
    ck_assert_int_eq(USE("min-fresh=30", 71), VALIDATE);
    ck_assert_int_eq(USE("min-fresh=junk", 0), VALIDATE);
    ck_assert_int_eq(USE("min-fresh=0", 99), FRESH);

    /* a response stale at once (invalid max-age) is validated */
    m = meta(0, 0, 0);
    ck_assert_int_eq(USE_AT(none, 0), VALIDATE);
}
END_TEST

START_TEST(test_use_stale)
{
    weir_cache_meta_t m = meta(100, 50, 0);
    weir_cache_cc_t   none = cc1("");

    /* stale-while-revalidate: N seconds of staleness, 0..N-1 */
    ck_assert_int_eq(USE_AT(none, 100), STALE_SWR);
    ck_assert_int_eq(USE_AT(none, 149), STALE_SWR);
    ck_assert_int_eq(USE_AT(none, 150), VALIDATE);
    /* not for a request that asked for a check or bounded the age */
    ck_assert_int_eq(USE("no-cache", 110), VALIDATE);
    ck_assert_int_eq(USE("max-age=0", 110), VALIDATE);
    ck_assert_int_eq(USE("max-age=1000", 110), VALIDATE);
    /* nor past what the request's max-stale accepts */
    ck_assert_int_eq(USE("max-stale=5", 110), VALIDATE);
    /* nor for a response that forbids stale */
    m.no_stale = 1;
    ck_assert_int_eq(USE_AT(none, 110), VALIDATE);
    m.no_stale = 0;
    m.no_cache = 1;
    ck_assert_int_eq(USE_AT(none, 110), VALIDATE);
    m.no_cache = 0;

    /* max-stale: served as fresh within it (staleness <= max-stale) */
    m = meta(100, 0, 0);
    ck_assert_int_eq(USE("max-stale=20", 120), FRESH);
    ck_assert_int_eq(USE("max-stale=20", 121), VALIDATE);
    ck_assert_int_eq(USE("max-stale", 1000000), FRESH);
    ck_assert_int_eq(USE("max-stale=bad", 100), VALIDATE);
    /* max-stale and min-fresh together: min-fresh wins */
    ck_assert_int_eq(USE("max-stale, min-fresh=1", 120), VALIDATE);
    /* must-revalidate and friends override max-stale */
    m.no_stale = 1;
    ck_assert_int_eq(USE("max-stale", 100), VALIDATE);
    ck_assert_int_eq(USE("max-stale", 99), FRESH);
}
END_TEST

/* The whole path: a response through weir_cache_storable, then used. */
START_TEST(test_use_end_to_end)
{
    weir_cache_rules_t rules;
    weir_cache_meta_t  m;
    weir_cache_cc_t    none = cc1("");
    hlist_t            resp;

    no_rules(&rules);
    rules.stale_while_revalidate = 30;
    /* sent at T0, head at T0 + 2, Date T0 + 1, Age 8: age 10 at arrival */
    HL(&resp, "Date: Sun, 06 Nov 1994 08:49:38 GMT", "Age: 8",
       "Cache-Control: max-age=60");
    ck_stored(store_at(&rules, 200, &resp, T0, T0 + 2, &m));
    ck_assert_int_eq(weir_cache_age(&m, T0 + 2), 10);
    ck_assert_int_eq(weir_cache_ttl(&m, T0 + 2), 50);
    ck_assert_int_eq(USE_AT(none, 51), FRESH);
    ck_assert_int_eq(USE_AT(none, 52), STALE_SWR);
    ck_assert_int_eq(USE_AT(none, 82), VALIDATE);

    /* the same with must-revalidate: the default window is gone */
    HL(&resp, "Date: Sun, 06 Nov 1994 08:49:38 GMT", "Age: 8",
       "Cache-Control: max-age=60, must-revalidate");
    ck_stored(store_at(&rules, 200, &resp, T0, T0 + 2, &m));
    ck_assert_int_eq(USE_AT(none, 52), VALIDATE);
}
END_TEST

START_TEST(test_stale_on_error)
{
    weir_cache_meta_t m = meta(100, 0, 60);
    weir_cache_cc_t   none = cc1(""), rq;

    /* fresh: always, stale: within the window past expiry */
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 50), 1);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 100), 1);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 159), 1);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 160), 0);
    /* the request's stale-if-error narrows, never widens */
    rq = cc1("stale-if-error=10");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 109), 1);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 110), 0);
    rq = cc1("stale-if-error=1000");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 160), 0);
    rq = cc1("stale-if-error=0");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 100), 0);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 99), 1);
    rq = cc1("stale-if-error=x");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 100), 0);
    /* request no-cache: no, unless it carries its own stale-if-error */
    rq = cc1("no-cache");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 110), 0);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 10), 0);
    rq = cc1("no-cache, stale-if-error=30");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 110), 1);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 130), 0);
    /* request max-age does not stand in the way */
    rq = cc1("max-age=0");
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &rq, T0 + 110), 1);

    /* no window */
    m = meta(100, 0, 0);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 100), 0);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 99), 1);
    /* must-revalidate: a 504, never the stale copy (RFC 9111 5.2.2.2) */
    m = meta(100, 0, 60);
    m.no_stale = 1;
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 110), 0);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 50), 1);
    /* response no-cache: nothing unvalidated, fresh or not */
    m.no_stale = 0;
    m.no_cache = 1;
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 110), 0);
    ck_assert_int_eq(weir_cache_stale_on_error(&m, &none, T0 + 50), 0);
}
END_TEST

START_TEST(test_ttl)
{
    weir_cache_meta_t m = meta(100, 0, 0);

    ck_assert_int_eq(weir_cache_ttl(&m, T0), 100);
    ck_assert_int_eq(weir_cache_ttl(&m, T0 + 40), 60);
    ck_assert_int_eq(weir_cache_ttl(&m, T0 + 130), -30);
    m.age_value = 20;
    ck_assert_int_eq(weir_cache_ttl(&m, T0), 80);
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("cache_policy");
    TCase   *tc = tcase_create("cache_policy");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, test_cc_directives);
    tcase_add_test(tc, test_cc_qualified_and_bare);
    tcase_add_test(tc, test_cc_invalid_and_duplicates);
    tcase_add_test(tc, test_cc_duplicate_lines);
    tcase_add_test(tc, test_pragma);
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_authorization);
    tcase_add_test(tc, test_must_understand);
    tcase_add_test(tc, test_freshness_order);
    tcase_add_test(tc, test_status_rules);
    tcase_add_test(tc, test_valid_table);
    tcase_add_test(tc, test_heuristic);
    tcase_add_test(tc, test_meta_fields);
    tcase_add_test(tc, test_windows);
    tcase_add_test(tc, test_age);
    tcase_add_test(tc, test_use_fresh_and_request);
    tcase_add_test(tc, test_use_stale);
    tcase_add_test(tc, test_use_end_to_end);
    tcase_add_test(tc, test_stale_on_error);
    tcase_add_test(tc, test_ttl);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
