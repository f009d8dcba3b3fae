#include "weir_config.h"
#include "http/gzip.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "core/pool.h"
#include "core/str.h"

/*
 * The gzip filter without a server: Accept-Encoding as RFC 9110 12.5.3
 * reads it, media-type patterns, the head edits (Vary merged, ETag
 * weakened, what makes a response ineligible), and the compressor fed
 * through its bounded output buffer, inflated back by zlib.
 */

static weir_route_conf_t   route;
static weir_http_header_t  hdrs[8];
static weir_request_t      req;

static weir_request_t *
request(const char *ae1, const char *ae2)
{
    memset(&req, 0, sizeof(req));
    memset(&route, 0, sizeof(route));
    route.gzip = 1;
    route.gzip_level = 1;
    route.gzip_min_length = 256;
    req.route = &route;
    req.headers = hdrs;
    req.status = 200;
    req.content_length = -1;
    req.rep_len = -1;
    req.pool = weir_pool_create(4096);
    ck_assert_ptr_nonnull(req.pool);
    if (ae1) {
        hdrs[req.head.num_headers].name = "Accept-Encoding";
        hdrs[req.head.num_headers].name_len = 15;
        hdrs[req.head.num_headers].value = ae1;
        hdrs[req.head.num_headers++].value_len = strlen(ae1);
    }
    if (ae2) {
        hdrs[req.head.num_headers].name = "accept-encoding";
        hdrs[req.head.num_headers].name_len = 15;
        hdrs[req.head.num_headers].value = ae2;
        hdrs[req.head.num_headers++].value_len = strlen(ae2);
    }
    return &req;
}

static int
accepts(const char *ae)
{
    int yes = weir_gzip_accepted(request(ae, NULL));

    weir_pool_destroy(req.pool);
    return yes;
}

static void
add(weir_request_t *r, const char *name, const char *value)
{
    ck_assert_int_eq(weir_http_add_header(r, name, strlen(name), value,
                                          strlen(value)), WEIR_OK);
}

/* The value of response field name, or NULL. */
static char *
field(weir_request_t *r, const char *name)
{
    static char buf[256];
    size_t      i;

    for (i = 0; i < r->nresp; i++) {
        if (r->resp_names[i].len == strlen(name)
            && weir_strncaseeq(r->resp_names[i].data, name, strlen(name))) {
            snprintf(buf, sizeof(buf), "%.*s", (int) r->resp_values[i].len,
                     r->resp_values[i].data);
            return buf;
        }
    }
    return NULL;
}

START_TEST(test_accept_encoding)
{
    ck_assert(accepts("gzip"));
    ck_assert(accepts("GZip"));
    ck_assert(accepts("x-gzip"));
    ck_assert(accepts("deflate, gzip;q=0.5"));
    ck_assert(accepts("gzip ; q=1.000"));
    ck_assert(accepts("gzip;level=5;q=0.001"));
    ck_assert(accepts("*"));
    ck_assert(accepts("br, *;q=0.1"));
    ck_assert(accepts("identity;q=0, gzip"));
    ck_assert(accepts(",, gzip ,"));

    ck_assert(!accepts(""));
    ck_assert(!accepts("identity"));
    ck_assert(!accepts("identity;q=0"));
    ck_assert(!accepts("deflate, br"));
    ck_assert(!accepts("gzip;q=0"));
    ck_assert(!accepts("gzip;Q=0.0"));
    ck_assert(!accepts("gzip;q=0.000"));
    ck_assert(!accepts("*;q=0"));
    ck_assert(!accepts("*, gzip;q=0"));       /* the named coding wins */
    ck_assert(!accepts("gzip;q=0, *"));
    ck_assert(!accepts("gzip;q=2"));          /* invalid: ignored */
    ck_assert(!accepts("gzip;q=0.0001"));
    ck_assert(!accepts("gzip;q=x"));
    ck_assert(!accepts("gzipx"));
    ck_assert(!accepts("xgzip"));

    /* no field at all: not taken as gzip */
    ck_assert_int_eq(weir_gzip_accepted(request(NULL, NULL)), 0);
    weir_pool_destroy(req.pool);
    /* a list over two lines */
    ck_assert_int_eq(weir_gzip_accepted(request("br", "gzip")), 1);
    weir_pool_destroy(req.pool);
    ck_assert_int_eq(weir_gzip_accepted(request("gzip", "gzip;q=0")), 1);
    weir_pool_destroy(req.pool);
}
END_TEST

START_TEST(test_types)
{
    char *types[] = { "text/*", "application/json", "*" };

    ck_assert(weir_gzip_type_match(NULL, 0, "text/html", 9));
    ck_assert(weir_gzip_type_match(NULL, 0, "TEXT/HTML; charset=utf-8",
                                   24));
    ck_assert(weir_gzip_type_match(NULL, 0, "image/svg+xml", 13));
    ck_assert(!weir_gzip_type_match(NULL, 0, "text/event-stream", 17));
    ck_assert(!weir_gzip_type_match(NULL, 0, "image/png", 9));
    ck_assert(!weir_gzip_type_match(NULL, 0, "text/htmlx", 10));
    ck_assert(!weir_gzip_type_match(NULL, 0, "text/htm", 8));
    ck_assert(weir_gzip_type_match(types, 2, "text/anything", 13));
    ck_assert(!weir_gzip_type_match(types, 2, "textual/x", 9));
    ck_assert(weir_gzip_type_match(types, 2, "application/json;x=y", 20));
    ck_assert(!weir_gzip_type_match(types, 2, "application/jsonx", 17));
    ck_assert(weir_gzip_type_match(types, 3, "video/mp4", 9));
}
END_TEST

START_TEST(test_head_edits)
{
    weir_request_t *r;

    /* compressed: Vary, weak ETag, no length, no ranges */
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "ETag", "\"v1\"");
    add(r, "Content-Length", "1000");
    add(r, "Accept-Ranges", "bytes");
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 1);
    ck_assert_str_eq(field(r, "vary"), "Accept-Encoding");
    ck_assert_str_eq(field(r, "etag"), "W/\"v1\"");
    ck_assert_str_eq(field(r, "content-encoding"), "gzip");
    ck_assert_ptr_null(field(r, "content-length"));
    ck_assert_ptr_null(field(r, "accept-ranges"));
    ck_assert_int_eq(r->content_length, -1);
    weir_pool_destroy(r->pool);

    /* eligible, client says no: Vary merged into the origin's, nothing
     * else touched */
    r = request("gzip;q=0", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "Vary", "Cookie");
    add(r, "ETag", "\"v1\"");
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 0);
    ck_assert_str_eq(field(r, "vary"), "Cookie, Accept-Encoding");
    ck_assert_str_eq(field(r, "etag"), "\"v1\"");
    ck_assert_ptr_null(field(r, "content-encoding"));
    weir_pool_destroy(r->pool);

    /* Vary that already names it, or "*": left alone */
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "Vary", "accept-encoding, Cookie");
    ck_assert_int_eq(weir_gzip_head(r, -1, 0), 1);
    ck_assert_str_eq(field(r, "vary"), "accept-encoding, Cookie");
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "Vary", "*");
    ck_assert_int_eq(weir_gzip_head(r, -1, 0), 1);
    ck_assert_str_eq(field(r, "vary"), "*");
    weir_pool_destroy(r->pool);

    /* not eligible: nothing changes, not even Vary */
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "Cache-Control", "public, No-Transform");
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 0);
    ck_assert_ptr_null(field(r, "vary"));
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "Content-Encoding", "br");
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 0);
    ck_assert_str_eq(field(r, "content-encoding"), "br");
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    ck_assert_int_eq(weir_gzip_head(r, 255, 0), 0);     /* min_length */
    ck_assert_int_eq(weir_gzip_head(r, 256, 0), 1);
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 0);    /* no type */
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    r->status = 206;
    add(r, "Content-Type", "text/html");
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 0);
    ck_assert_ptr_null(field(r, "vary"));
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    route.gzip = 0;
    add(r, "Content-Type", "text/html");
    ck_assert_int_eq(weir_gzip_head(r, 1000, 0), 0);
    weir_pool_destroy(r->pool);

    /* a 304: weak tag and Vary, no coding; its length from the field */
    r = request("gzip", NULL);
    r->status = 304;
    add(r, "ETag", "\"v1\"");
    add(r, "Content-Length", "100");
    ck_assert_int_eq(weir_gzip_head(r, -1, 0), 0);
    ck_assert_str_eq(field(r, "etag"), "\"v1\"");       /* 100 < 256 */
    weir_pool_destroy(r->pool);
    r = request("gzip", NULL);
    r->status = 304;
    r->rep_type = "text/css";
    add(r, "ETag", "\"v1\"");
    ck_assert_int_eq(weir_gzip_head(r, 5000, 0), 0);
    ck_assert_str_eq(field(r, "etag"), "W/\"v1\"");
    ck_assert_str_eq(field(r, "vary"), "Accept-Encoding");
    ck_assert_ptr_null(field(r, "content-encoding"));
    weir_pool_destroy(r->pool);

    /* VARY_ONLY: Vary, nothing else */
    r = request("gzip", NULL);
    add(r, "Content-Type", "text/html");
    add(r, "ETag", "\"v1\"");
    ck_assert_int_eq(weir_gzip_head(r, 1000, WEIR_GZIP_VARY_ONLY), 0);
    ck_assert_str_eq(field(r, "vary"), "Accept-Encoding");
    ck_assert_str_eq(field(r, "etag"), "\"v1\"");
    weir_pool_destroy(r->pool);
}
END_TEST

/* Feed `len` bytes through the bounded output buffer, as the send paths
 * do, and inflate the result back. */
static void
round_trip(const unsigned char *data, size_t len, int level)
{
    weir_request_t *r = request("gzip", NULL);
    weir_gzip_t    *gz;
    unsigned char  *coded, *back;
    size_t          cap = len + len / 10 + 1024, clen = 0, k, n, off = 0;
    const char     *out;
    z_stream        zs;
    char            ratio[16];

    route.gzip_level = level;
    gz = weir_gzip_create(r, (off_t) len);
    ck_assert_ptr_nonnull(gz);
    coded = malloc(cap);
    back = malloc(len + 1);
    while (off < len) {
        k = weir_gzip_feed(gz, (const char *) data + off,
                           weir_min(len - off, (size_t) 100000));
        off += k;
        out = weir_gzip_out(gz, &n);
        ck_assert_uint_le(n, WEIR_GZIP_OUT_SIZE);
        ck_assert(k > 0 || n > 0);      /* progress every step */
        ck_assert_uint_le(clen + n, cap);
        memcpy(coded + clen, out, n);
        clen += n;
    }
    ck_assert_str_eq((weir_gzip_ratio(r, ratio, sizeof(ratio)), ratio), "-");
    for (;;) {
        int fin = weir_gzip_finish(gz);
        out = weir_gzip_out(gz, &n);
        ck_assert_uint_le(clen + n, cap);
        memcpy(coded + clen, out, n);
        clen += n;
        if (fin) {
            break;
        }
    }
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 16 + 15), Z_OK);
    zs.next_in = coded;
    zs.avail_in = (uInt) clen;
    zs.next_out = back;
    zs.avail_out = (uInt) len + 1;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.total_out, len);
    ck_assert_uint_eq(zs.avail_in, 0);
    ck_assert(memcmp(back, data, len) == 0);
    inflateEnd(&zs);
    ck_assert_uint_gt(weir_gzip_ratio(r, ratio, sizeof(ratio)), 0);
    ck_assert_str_ne(ratio, "-");
    free(coded);
    free(back);
    weir_pool_destroy(r->pool);
}

START_TEST(test_compressor)
{
    size_t         len = 3 << 20, i;
    unsigned char *d = malloc(len);
    uint32_t       x = 12345;

    /* incompressible: the output buffer fills before the input is
     * taken, so feed returns short */
    for (i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (unsigned char) (x >> 16);
    }
    round_trip(d, len, 1);
    /* text-like at level 9 */
    for (i = 0; i < len; i++) {
        d[i] = (unsigned char) ("weir gzip stream "[i % 17] + (i % 1000 == 0));
    }
    round_trip(d, len, 9);
    round_trip(d, 0, 1);        /* empty: header and trailer only */
    round_trip(d, 10, 1);       /* smallest window */
    free(d);
}
END_TEST

/* A sync flush makes everything fed so far decodable, and the stream
 * goes on after it. */
START_TEST(test_flush)
{
    weir_request_t *r = request("gzip", NULL);
    weir_gzip_t    *gz;
    static char     coded[65536];
    unsigned char   back[4096];
    const char     *text = "a page in two parts, the first flushed; ";
    const char     *out;
    size_t          clen = 0, n;
    z_stream        zs;

    gz = weir_gzip_create(r, -1);
    ck_assert_ptr_nonnull(gz);
    ck_assert_uint_eq(weir_gzip_feed(gz, text, strlen(text)), strlen(text));
    out = weir_gzip_out(gz, &n);
    memcpy(coded + clen, out, n);
    clen += n;
    ck_assert_int_eq(weir_gzip_flush(gz), 1);
    out = weir_gzip_out(gz, &n);
    ck_assert_uint_gt(n, 0);
    memcpy(coded + clen, out, n);
    clen += n;
    ck_assert_int_eq(weir_gzip_flush(gz), 1);   /* nothing more: harmless */

    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 16 + 15), Z_OK);
    zs.next_in = (unsigned char *) coded;
    zs.avail_in = (uInt) clen;
    zs.next_out = back;
    zs.avail_out = sizeof(back);
    ck_assert_int_eq(inflate(&zs, Z_SYNC_FLUSH), Z_OK);
    ck_assert_uint_eq(zs.total_out, strlen(text));
    ck_assert(memcmp(back, text, strlen(text)) == 0);

    /* and the stream goes on to a proper end */
    ck_assert_uint_eq(weir_gzip_feed(gz, "second", 6), 6);
    out = weir_gzip_out(gz, &n);
    memcpy(coded + clen, out, n);
    clen += n;
    ck_assert_int_eq(weir_gzip_finish(gz), 1);
    out = weir_gzip_out(gz, &n);
    memcpy(coded + clen, out, n);
    clen += n;
    /* inflate took all of the first part: go on from where it stopped */
    zs.avail_in = (uInt) (clen - (size_t) (zs.next_in
                                           - (unsigned char *) coded));
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.total_out, strlen(text) + 6);
    ck_assert(memcmp(back + strlen(text), "second", 6) == 0);
    inflateEnd(&zs);
    weir_pool_destroy(r->pool);
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("gzip");
    TCase   *tc = tcase_create("gzip");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, test_accept_encoding);
    tcase_add_test(tc, test_types);
    tcase_add_test(tc, test_head_edits);
    tcase_add_test(tc, test_compressor);
    tcase_add_test(tc, test_flush);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
