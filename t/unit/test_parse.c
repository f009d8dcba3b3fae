/*
 * Unit tests of src/http/parse*.c: table tests (valid, every split point,
 * invalid), framing rules, the chunked decoder fed in every way, path
 * normalisation, and guard-page tests that crash on any over-read.
 */
#include "weir_config.h"
#include "http/parse.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/core.h"

/* A string literal and its length, NULs included. */
#define S(x)  x, sizeof(x) - 1

#define MAX_HDRS  16

/* Parsed headers as "name=value|name=value" for table comparisons. */
static void
dump_headers(const weir_http_header_t *hd, size_t n, char *out, size_t sz)
{
    size_t  k, o = 0;

    out[0] = '\0';
    for (k = 0; k < n && o < sz; k++) {
        o += (size_t) snprintf(out + o, sz - o, "%s%.*s=%.*s",
                               k ? "|" : "", (int) hd[k].name_len,
                               hd[k].name, (int) hd[k].value_len,
                               hd[k].value);
    }
}

static int
parse_req(const char *s, size_t n, weir_http_request_head_t *h,
    weir_http_header_t *hdr, size_t *consumed)
{
    memset(h, 0, sizeof(*h));
    h->headers = hdr;
    h->max_headers = MAX_HDRS;
    return weir_http_parse_request(s, n, h, consumed);
}

static int
parse_resp(const char *s, size_t n, weir_http_response_head_t *h,
    weir_http_header_t *hdr, size_t *consumed)
{
    memset(h, 0, sizeof(*h));
    h->headers = hdr;
    h->max_headers = MAX_HDRS;
    return weir_http_parse_response(s, n, h, consumed);
}

/* Every prefix shorter than n gives WEIR_AGAIN or (for invalid input)
 * `want`, and once `want` appeared it stays; the whole input gives
 * `want`. */
static void
check_prefixes(const char *s, size_t n, int want, int response)
{
    weir_http_request_head_t   rh;
    weir_http_response_head_t  sh;
    weir_http_header_t         hdr[MAX_HDRS];
    size_t                     k, consumed;
    int                        rc, seen = 0;

    for (k = 0; k <= n; k++) {
        rc = response ? parse_resp(s, k, &sh, hdr, &consumed)
                      : parse_req(s, k, &rh, hdr, &consumed);
        if (k == n) {
            ck_assert_msg(rc == want, "input %.*s: got %d, want %d",
                          (int) n, s, rc, want);
        } else if (seen || (want != WEIR_OK && rc != WEIR_AGAIN)) {
            ck_assert_msg(rc == want, "prefix %zu of %.*s: got %d want %d",
                          k, (int) n, s, rc, want);
            seen = 1;
        } else {
            ck_assert_msg(rc == WEIR_AGAIN, "prefix %zu of %.*s: got %d",
                          k, (int) n, s, rc);
        }
    }
}

/*
 * Valid requests.
 */

static const struct {
    const char  *in;
    size_t       len;
    const char  *method;
    const char  *target;
    int          version;
    size_t       line_len;
    const char  *headers;
} valid_requests[] = {
    { S("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
      "GET", "/", 11, 16, "Host=example.com" },
    { S("GET /a?b=c HTTP/1.0\nHost: x\nAccept: */*\n\n"),
      "GET", "/a?b=c", 10, 20, "Host=x|Accept=*/*" },
    { S("\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"),
      "POST", "/x", 11, 18, "Host=a|Content-Length=3" },
    { S("\nGET / HTTP/1.1\nHost: a\n\n"), "GET", "/", 11, 15, "Host=a" },
    { S("GET / HTTP/1.1\r\nHost:   a b  \t\r\nX-Empty:\r\nX-E2: \t \r\n\r\n"),
      "GET", "/", 11, 16, "Host=a b|X-Empty=|X-E2=" },
    { S("GET / HTTP/1.1\r\nX: caf\xc3\xa9 \"q\"\r\n\r\n"),
      "GET", "/", 11, 16, "X=caf\xc3\xa9 \"q\"" },
    { S("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"),
      "GET", "/x", 11, 35, "Host=example.com" },
    { S("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
      "CONNECT", "example.com:443", 11, 34, "Host=example.com:443" },
    { S("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"),
      "CONNECT", "[::1]:443", 11, 28, "Host=[::1]:443" },
    { S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
      "OPTIONS", "*", 11, 20, "Host=a" },
    { S("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), "GET", "/", 11, 16, "Host=a" },
    { S("M-SEARCH * HTTP/1.1\r\nX!#$%&'*+-.^_`|~Y: v\r\n\r\n"),
      "M-SEARCH", "*", 11, 21, "X!#$%&'*+-.^_`|~Y=v" },
    { S("GET / HTTP/1.0\r\n\r\n"), "GET", "/", 10, 16, "" },
    { S("get /%7e{x}|y HTTP/1.1\r\nhost:a\r\n\r\n"),
      "get", "/%7e{x}|y", 11, 24, "host=a" },
};

START_TEST(test_request_valid)
{
    weir_http_request_head_t  h;
    weir_http_header_t        hdr[MAX_HDRS];
    char                      dump[512];
    size_t                    consumed;
    int                       rc;

    rc = parse_req(valid_requests[_i].in, valid_requests[_i].len, &h, hdr,
                   &consumed);
    ck_assert_int_eq(rc, WEIR_OK);
    ck_assert_uint_eq(consumed, valid_requests[_i].len);
    ck_assert_uint_eq(h.method_len, strlen(valid_requests[_i].method));
    ck_assert(memcmp(h.method, valid_requests[_i].method, h.method_len) == 0);
    ck_assert_uint_eq(h.target_len, strlen(valid_requests[_i].target));
    ck_assert(memcmp(h.target, valid_requests[_i].target, h.target_len) == 0);
    ck_assert_int_eq(h.version, valid_requests[_i].version);
    ck_assert_uint_eq(h.line_len, valid_requests[_i].line_len);
    dump_headers(hdr, h.num_headers, dump, sizeof(dump));
    ck_assert_str_eq(dump, valid_requests[_i].headers);

    check_prefixes(valid_requests[_i].in, valid_requests[_i].len, WEIR_OK, 0);
}
END_TEST

/*
 * Absolute-form targets (RFC 9112 3.2.2): the target becomes the
 * origin-form, the authority is kept and replaces every Host value.
 */

static const struct {
    const char  *in;
    size_t       len;
    const char  *target;
    const char  *authority;
    const char  *headers;
} absolute_requests[] = {
    { S("GET http://evil.com/x HTTP/1.1\r\nHost: good.com\r\n\r\n"),
      "/x", "evil.com", "Host=evil.com" },
    { S("GET HTTP://Evil.COM:8080/a/b?q=1&r=/s HTTP/1.1\r\n"
        "X: 1\r\nhost: good.com\r\n\r\n"),
      "/a/b?q=1&r=/s", "Evil.COM:8080", "X=1|host=Evil.COM:8080" },
    { S("GET http://evil.com HTTP/1.1\r\nHost: good.com\r\n\r\n"),
      "/", "evil.com", "Host=evil.com" },
    { S("GET hTtPs://evil.com/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "evil.com", "Host=evil.com" },
    { S("GET http://evil.com/?a HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/?a", "evil.com", "Host=evil.com" },
    { S("GET http://evil.com/x HTTP/1.0\r\n\r\n"), "/x", "evil.com", "" },
    { S("GET http://e/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
      "/x", "e", "Host=e|Host=e" },
    { S("GET http://1.2.3.4:65535/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "1.2.3.4:65535", "Host=1.2.3.4:65535" },
    { S("GET http://a:1/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "a:1", "Host=a:1" },
    { S("GET http://a:00080/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "a:00080", "Host=a:00080" },
    { S("GET http://a-b_c~d.e%41!$&'()*+,;=/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "a-b_c~d.e%41!$&'()*+,;=", "Host=a-b_c~d.e%41!$&'()*+,;=" },
    { S("GET http://[::1]:8080/v6 HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/v6", "[::1]:8080", "Host=[::1]:8080" },
    { S("GET http://[::]/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[::]", "Host=[::]" },
    { S("GET http://[1:2:3:4:5:6:7:8]/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[1:2:3:4:5:6:7:8]", "Host=[1:2:3:4:5:6:7:8]" },
    { S("GET http://[1::] HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[1::]", "Host=[1::]" },
    { S("GET http://[fe80::1:2:3:4:5:6] HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[fe80::1:2:3:4:5:6]", "Host=[fe80::1:2:3:4:5:6]" },
    { S("GET http://[::ffff:192.0.2.255]/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[::ffff:192.0.2.255]", "Host=[::ffff:192.0.2.255]" },
    { S("GET http://[1:2:3:4:5:6:1.2.3.4]/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[1:2:3:4:5:6:1.2.3.4]", "Host=[1:2:3:4:5:6:1.2.3.4]" },
    { S("GET http://[ABCD:ef01::]/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      "/", "[ABCD:ef01::]", "Host=[ABCD:ef01::]" },
};

START_TEST(test_request_absolute)
{
    weir_http_request_head_t  h;
    weir_http_header_t        hdr[MAX_HDRS];
    weir_http_framing_t       f;
    char                      dump[512];
    size_t                    consumed;
    const char               *in = absolute_requests[_i].in;
    size_t                    len = absolute_requests[_i].len;

    ck_assert_int_eq(parse_req(in, len, &h, hdr, &consumed), WEIR_OK);
    ck_assert_uint_eq(consumed, len);
    ck_assert_uint_eq(h.target_len, strlen(absolute_requests[_i].target));
    ck_assert(memcmp(h.target, absolute_requests[_i].target, h.target_len)
              == 0);
    ck_assert(h.target >= in && h.target + h.target_len <= in + len);
    ck_assert_ptr_nonnull(h.authority);
    ck_assert_uint_eq(h.authority_len,
                      strlen(absolute_requests[_i].authority));
    ck_assert(memcmp(h.authority, absolute_requests[_i].authority,
                     h.authority_len) == 0);
    dump_headers(hdr, h.num_headers, dump, sizeof(dump));
    ck_assert_str_eq(dump, absolute_requests[_i].headers);
    /* the rewritten Host is what the framing rules judge */
    ck_assert_int_eq(weir_http_request_framing(&h, &f),
                     h.num_headers == 2 && strstr(dump, "Host=e|") != NULL
                     ? WEIR_HTTP_E_BAD_HOST : WEIR_OK);
    check_prefixes(in, len, WEIR_OK, 0);
}
END_TEST

START_TEST(test_request_absolute_host_rules)
{
    weir_http_request_head_t  h;
    weir_http_header_t        hdr[MAX_HDRS];
    weir_http_framing_t       f;
    size_t                    consumed;

    /* an invalid Host is ignored: the authority replaced it */
    ck_assert_int_eq(parse_req(S("GET http://a/ HTTP/1.1\r\n"
                                 "Host: not valid\r\n\r\n"),
                               &h, hdr, &consumed), WEIR_OK);
    ck_assert_int_eq(weir_http_request_framing(&h, &f), WEIR_OK);
    ck_assert(f.has_host);
    /* HTTP/1.1 still needs a Host field (RFC 9112 3.2) */
    ck_assert_int_eq(parse_req(S("GET http://a/ HTTP/1.1\r\n\r\n"),
                               &h, hdr, &consumed), WEIR_OK);
    ck_assert_int_eq(weir_http_request_framing(&h, &f),
                     WEIR_HTTP_E_BAD_HOST);
    /* origin-form: no authority, Host untouched */
    ck_assert_int_eq(parse_req(S("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
                               &h, hdr, &consumed), WEIR_OK);
    ck_assert_ptr_null(h.authority);
    ck_assert_uint_eq(h.authority_len, 0);
    ck_assert_uint_eq(hdr[0].value_len, 1);
    ck_assert_int_eq(hdr[0].value[0], 'h');
    /* CONNECT's authority-form is not absolute-form: target kept */
    ck_assert_int_eq(parse_req(S("CONNECT a:443 HTTP/1.1\r\nHost: b\r\n"
                                 "\r\n"), &h, hdr, &consumed), WEIR_OK);
    ck_assert_ptr_null(h.authority);
    ck_assert_uint_eq(h.target_len, 5);
    ck_assert_int_eq(hdr[0].value[0], 'b');
}
END_TEST

START_TEST(test_request_body_not_consumed)
{
    static const char          in[] = "POST / HTTP/1.1\r\nHost: a\r\n"
                                      "Content-Length: 4\r\n\r\nbodyGET";
    weir_http_request_head_t   h;
    weir_http_header_t         hdr[MAX_HDRS];
    size_t                     consumed;

    ck_assert_int_eq(parse_req(S(in), &h, hdr, &consumed), WEIR_OK);
    ck_assert_uint_eq(consumed, sizeof(in) - 1 - 7);
}
END_TEST

/* The caller tells 414 from 431 by line_len: set as soon as the request
 * line is whole, 0 before. */
START_TEST(test_request_line_len)
{
    weir_http_request_head_t   h;
    weir_http_header_t         hdr[MAX_HDRS];
    size_t                     consumed;

    ck_assert_int_eq(parse_req(S("GET /abcdef HTTP/1.1"), &h, hdr,
                               &consumed), WEIR_AGAIN);
    ck_assert_uint_eq(h.line_len, 0);
    ck_assert_int_eq(parse_req(S("GET /abcdef HTTP/1.1\r\nHost: a"), &h, hdr,
                               &consumed), WEIR_AGAIN);
    ck_assert_uint_eq(h.line_len, 22);
    ck_assert_int_eq(parse_req(S("GET /abcdef HTTP/1.1\r\nX\x01: a"), &h,
                               hdr, &consumed), WEIR_HTTP_E_BAD_HEADER_NAME);
    ck_assert_uint_eq(h.line_len, 22);
    ck_assert_uint_eq(h.error_pos, 23);
}
END_TEST

START_TEST(test_request_too_many_headers)
{
    static const char          in[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n"
                                      "C: 3\r\n\r\n";
    weir_http_request_head_t   h;
    weir_http_header_t         hdr[3];
    size_t                     consumed;

    memset(&h, 0, sizeof(h));
    h.headers = hdr;
    h.max_headers = 2;
    ck_assert_int_eq(weir_http_parse_request(S(in), &h, &consumed),
                     WEIR_HTTP_E_TOO_MANY_HEADERS);
    ck_assert_uint_eq(h.error_pos, 28);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_TOO_MANY_HEADERS),
                     431);

    h.max_headers = 3;
    ck_assert_int_eq(weir_http_parse_request(S(in), &h, &consumed), WEIR_OK);
    ck_assert_uint_eq(h.num_headers, 3);

    /* no header array at all: any field is one too many */
    h.headers = NULL;
    h.max_headers = 0;
    ck_assert_int_eq(weir_http_parse_request(S(in), &h, &consumed),
                     WEIR_HTTP_E_TOO_MANY_HEADERS);
    ck_assert_int_eq(weir_http_parse_request(S("GET / HTTP/1.0\r\n\r\n"),
                                             &h, &consumed), WEIR_OK);
}
END_TEST

/*
 * Invalid requests: each maps to one error code, at every prefix too.
 */

static const struct {
    const char  *in;
    size_t       len;
    int          err;
} invalid_requests[] = {
    /* request line structure */
    { S("GET  / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_REQUEST_LINE },
    { S("GET /  HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_REQUEST_LINE },
    { S(" GET / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_REQUEST_LINE },
    { S("GET\r\n\r\n"), WEIR_HTTP_E_BAD_REQUEST_LINE },
    { S("GET /\r\n\r\n"), WEIR_HTTP_E_BAD_REQUEST_LINE },
    { S("GET / \r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    { S("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_REQUEST_LINE },
    { S("GET\t/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_METHOD },
    { S("G(T / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_METHOD },
    { S("G\xc3\x89T / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_METHOD },
    /* request-target */
    { S("GET /a\x7f HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET /\xff HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET /a\tb HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET /a\x01 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET *x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET ?x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET /a b HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    /* absolute-form: scheme, authority, path */
    { S("GET http:///x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http:// HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://?x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://:80/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[::1/x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[::1]x/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[zz]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[1:2:3:4:5:6:7:8:9]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[1:2:3:4:5:6:7]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[1:2:3:4::5:6:7:8]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[1::2::3]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[1:::2]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[:1::2]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[1::2:]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[12345::]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[::1.2.3]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[::1.2.3.256]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[::1.2.3.04]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[::1.2.3.4:5]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[fe80::1%25eth0]/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://[v1.x]/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://u@evil.com/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://u:p@evil.com/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://@evil.com/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com:0/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com:65536/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com:99999999999999999999/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com:/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://..wild.test/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://a..wild.test/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://.wild.test/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://./ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://a:99999999999/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("CONNECT a..b:443 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("CONNECT a: HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com:8a/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com:80:80/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil%zz.com/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com% HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://ev\"il/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com#f HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http://evil.com?q=1 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET ftp://evil.com/x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET httpx://evil.com/x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http2://evil.com/x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http:/evil.com/x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http:evil.com/x HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET http: HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET 1http://a/ HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("GET [::1]:80 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    /* authority-form is CONNECT's only, and needs a port */
    { S("GET example.com:80 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("CONNECT example.com HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("CONNECT example.com:0 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_TARGET },
    { S("CONNECT u@example.com:80 HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    { S("CONNECT http://example.com/ HTTP/1.1\r\n\r\n"),
      WEIR_HTTP_E_BAD_TARGET },
    /* version */
    { S("GET / HTTP/2.0\r\n\r\n"), WEIR_HTTP_E_VERSION_UNSUPPORTED },
    { S("GET / HTTP/0.9\r\n\r\n"), WEIR_HTTP_E_VERSION_UNSUPPORTED },
    { S("GET / HTTP/3.0\r\n\r\n"), WEIR_HTTP_E_VERSION_UNSUPPORTED },
    { S("GET / HTTP/1.1 \r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    { S("GET / HTTP/1.10\r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    { S("GET / http/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    { S("GET / HTTP/11\r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    { S("GET / HTTP/1.x\r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    { S("GET / HTTP/1\r\n\r\n"), WEIR_HTTP_E_BAD_VERSION },
    /* bare CR anywhere */
    { S("\rGET / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    { S("GET /\r HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    { S("GET / HTTP/1.1\rHost: a\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    { S("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    { S("GET / HTTP/1.1\r\nHost: a\r\n\r \r\n"), WEIR_HTTP_E_BARE_CR },
    { S("GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    /* NUL in line, name, value */
    { S("GE\0T / HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("GET /\0 HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("GET / HTTP/1.\0\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("GET / HTTP/1.1\r\nHost: a\r\n\0\r\n"), WEIR_HTTP_E_NUL },
    /* obs-fold and leading whitespace */
    { S("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n"), WEIR_HTTP_E_OBS_FOLD },
    { S("GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n"), WEIR_HTTP_E_OBS_FOLD },
    { S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), WEIR_HTTP_E_OBS_FOLD },
    /* header names */
    { S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
      WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\nHo st: a\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\n: a\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\nHost\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\nX(y): a\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\n[x]: a\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n"),
      WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("GET / HTTP/1.1\r\nX\"y\": a\r\n\r\n"),
      WEIR_HTTP_E_BAD_HEADER_NAME },
    /* header values */
    { S("GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n"),
      WEIR_HTTP_E_BAD_HEADER_VALUE },
    { S("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_VALUE },
    { S("GET / HTTP/1.1\r\nX: \x1b[31m\r\n\r\n"),
      WEIR_HTTP_E_BAD_HEADER_VALUE },
    { S("GET / HTTP/1.1\r\nX: a\x0b\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_VALUE },
};

START_TEST(test_request_invalid)
{
    weir_http_request_head_t  h;
    weir_http_header_t        hdr[MAX_HDRS];
    size_t                    consumed = 99;
    int                       rc;

    rc = parse_req(invalid_requests[_i].in, invalid_requests[_i].len, &h,
                   hdr, &consumed);
    ck_assert_msg(rc == invalid_requests[_i].err, "%s: got %d want %d",
                  invalid_requests[_i].in, rc, invalid_requests[_i].err);
    ck_assert_uint_lt(h.error_pos, invalid_requests[_i].len);
    ck_assert_uint_eq(consumed, 0);
    check_prefixes(invalid_requests[_i].in, invalid_requests[_i].len,
                   invalid_requests[_i].err, 0);
}
END_TEST

START_TEST(test_request_error_pos)
{
    weir_http_request_head_t  h;
    weir_http_header_t        hdr[MAX_HDRS];
    size_t                    consumed;

    ck_assert_int_eq(parse_req(S("GET /a\x7f HTTP/1.1\r\n\r\n"), &h, hdr,
                               &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 6);
    ck_assert_int_eq(parse_req(S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), &h,
                               hdr, &consumed), WEIR_HTTP_E_BAD_HEADER_NAME);
    ck_assert_uint_eq(h.error_pos, 20);
    ck_assert_int_eq(parse_req(S("GET / HTTP/1.1\r\nX: a\0\r\n\r\n"), &h,
                               hdr, &consumed), WEIR_HTTP_E_NUL);
    ck_assert_uint_eq(h.error_pos, 20);
    /* absolute-form: the byte that is wrong */
    ck_assert_int_eq(parse_req(S("GET ftp://a/ HTTP/1.1\r\n\r\n"), &h, hdr,
                               &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 4);
    ck_assert_int_eq(parse_req(S("GET http:/a/ HTTP/1.1\r\n\r\n"), &h, hdr,
                               &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 8);
    ck_assert_int_eq(parse_req(S("GET http://u@a/ HTTP/1.1\r\n\r\n"), &h,
                               hdr, &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 12);
    ck_assert_int_eq(parse_req(S("GET http://[::1/x HTTP/1.1\r\n\r\n"), &h,
                               hdr, &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 11);
    ck_assert_int_eq(parse_req(S("GET http://a:65536/ HTTP/1.1\r\n\r\n"),
                               &h, hdr, &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 17);
    ck_assert_int_eq(parse_req(S("GET http:///x HTTP/1.1\r\n\r\n"), &h,
                               hdr, &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 11);
    ck_assert_int_eq(parse_req(S("GET http://a?q HTTP/1.1\r\n\r\n"), &h,
                               hdr, &consumed), WEIR_HTTP_E_BAD_TARGET);
    ck_assert_uint_eq(h.error_pos, 12);
}
END_TEST

/*
 * Responses.
 */

static const struct {
    const char  *in;
    size_t       len;
    int          version;
    int          status;
    const char  *reason;
    const char  *headers;
} valid_responses[] = {
    { S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
      11, 200, "OK", "Content-Length=5" },
    { S("HTTP/1.0 404 Not Found\n\n"), 10, 404, "Not Found", "" },
    { S("HTTP/1.1 204 \r\nX: y\r\n\r\n"), 11, 204, "", "X=y" },
    { S("HTTP/1.1 200\r\n\r\n"), 11, 200, "", "" },
    { S("HTTP/1.1 200\n\n"), 11, 200, "", "" },
    { S("HTTP/1.1 999 What\tever \xe9\r\n\r\n"), 11, 999,
      "What\tever \xe9", "" },
    { S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n"), 11, 101, "Switching Protocols",
      "Upgrade=websocket|Connection=Upgrade" },
    { S("HTTP/1.2 100 Continue\r\n\r\n"), 11, 100, "Continue", "" },
};

START_TEST(test_response_valid)
{
    weir_http_response_head_t  h;
    weir_http_header_t         hdr[MAX_HDRS];
    char                       dump[512];
    size_t                     consumed;

    ck_assert_int_eq(parse_resp(valid_responses[_i].in,
                                valid_responses[_i].len, &h, hdr, &consumed),
                     WEIR_OK);
    ck_assert_uint_eq(consumed, valid_responses[_i].len);
    ck_assert_int_eq(h.version, valid_responses[_i].version);
    ck_assert_int_eq(h.status, valid_responses[_i].status);
    ck_assert_uint_eq(h.reason_len, strlen(valid_responses[_i].reason));
    ck_assert(memcmp(h.reason, valid_responses[_i].reason, h.reason_len)
              == 0);
    dump_headers(hdr, h.num_headers, dump, sizeof(dump));
    ck_assert_str_eq(dump, valid_responses[_i].headers);
    check_prefixes(valid_responses[_i].in, valid_responses[_i].len,
                   WEIR_OK, 1);
}
END_TEST

static const struct {
    const char  *in;
    size_t       len;
    int          err;
} invalid_responses[] = {
    { S("HTTP/1.1 20 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1 2000 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1 099 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1 2x0 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/2.0 200 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/0.9 200 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1  200 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("http/1.1 200 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("ICY 200 OK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1 200 O\x01K\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1 200 O\x7fK\r\n\r\n"), WEIR_HTTP_E_BAD_STATUS_LINE },
    { S("HTTP/1.1 200 O\0K\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("HTTP/1.1 200 OK\rX: y\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    { S("HTTP/1.1 200 OK\r\nX : y\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_NAME },
    { S("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n"), WEIR_HTTP_E_OBS_FOLD },
    { S("HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n"), WEIR_HTTP_E_BAD_HEADER_VALUE },
    { S("HTTP/1.1 200 OK\r\nX: y\r\n\r\r\n"), WEIR_HTTP_E_BARE_CR },
};

START_TEST(test_response_invalid)
{
    weir_http_response_head_t  h;
    weir_http_header_t         hdr[MAX_HDRS];
    size_t                     consumed;
    int                        rc;

    rc = parse_resp(invalid_responses[_i].in, invalid_responses[_i].len, &h,
                    hdr, &consumed);
    ck_assert_msg(rc == invalid_responses[_i].err, "%s: got %d want %d",
                  invalid_responses[_i].in, rc, invalid_responses[_i].err);
    check_prefixes(invalid_responses[_i].in, invalid_responses[_i].len,
                   invalid_responses[_i].err, 1);
}
END_TEST

/*
 * Request framing.
 */

#define RQ(hdrs)  "POST / HTTP/1.1\r\n" hdrs "\r\n"
#define RQ10(hdrs)  "POST / HTTP/1.0\r\n" hdrs "\r\n"

static const struct {
    const char  *in;
    int          rc;
    int          body;
    uint64_t     cl;
    int          keepalive;
    int          upgrade;
    int          expect;
} request_framing[] = {
    /* framing-security list: each of these is refused */
    { RQ("Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
      WEIR_HTTP_E_TE_AND_CL, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
      WEIR_HTTP_E_TE_AND_CL, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n"),
      WEIR_HTTP_E_DUP_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5, 6\r\n"),
      WEIR_HTTP_E_DUP_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: +5\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5 5\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: -1\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 0x5\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length:\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5,\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 18446744073709551616\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 99999999999999999999999\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    /* past INT64_MAX: off_t and the body limits could not hold it */
    { RQ("Host: a\r\nContent-Length: 18446744073709551615\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 9223372036854775808\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 09223372036854775808\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5, 9223372036854775813\r\n"),
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked, gzip\r\n"),
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: gzip\r\n"),
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked,\r\n"),
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked;x=1\r\n"),
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding:\r\n"),
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n"),
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: gzip, chunked\r\n"),
      WEIR_HTTP_E_TE_UNSUPPORTED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked, chunked\r\n"),
      WEIR_HTTP_E_TE_UNSUPPORTED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n"),
      WEIR_HTTP_E_TE_UNSUPPORTED, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: gzip\r\n"
         "Transfer-Encoding: chunked\r\n"),
      WEIR_HTTP_E_TE_UNSUPPORTED, 0, 0, 0, 0, 0 },
    { RQ10("Transfer-Encoding: chunked\r\n"),
      WEIR_HTTP_E_TE_HTTP10, 0, 0, 0, 0, 0 },
    /* Host */
    { RQ(""), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nHost: a\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ10("Host: a\r\nHost: b\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a b\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a/b\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: u@a\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a:b\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a:80:80\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: [zz]\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: [::1\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a%zz\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a\tb\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: caf\xc3\xa9\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    /* empty, and empty labels: "*.wild.test" must not take these */
    { RQ("Host: \r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ10("Host: \r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: ..wild.test\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a..wild.test\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: .wild.test\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a.test..\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: .\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: :80\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: a..b:80\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    /* ports: digits, 1-65535, no overflow */
    { RQ("Host: example.test:99999999999\r\n"), WEIR_HTTP_E_BAD_HOST,
      0, 0, 0, 0, 0 },
    { RQ("Host: example.test:4294967377\r\n"), WEIR_HTTP_E_BAD_HOST,
      0, 0, 0, 0, 0 },
    { RQ("Host: example.test:65536\r\n"), WEIR_HTTP_E_BAD_HOST,
      0, 0, 0, 0, 0 },
    { RQ("Host: example.test:0\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: example.test:8o\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: example.test:-1\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: example.test: 80\r\n"), WEIR_HTTP_E_BAD_HOST,
      0, 0, 0, 0, 0 },
    /* IPv6 literals as strictly as in a target */
    { RQ("Host: [1::2::3]\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: []:80\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: [::1]8080\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: [::1]:65536\r\n"), WEIR_HTTP_E_BAD_HOST, 0, 0, 0, 0, 0 },
    { RQ("Host: [fe80::1%25eth0]\r\n"), WEIR_HTTP_E_BAD_HOST,
      0, 0, 0, 0, 0 },
    /* accepted */
    { RQ("Host: a\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 0, 0 },
    { RQ("Host: [::1]:8080\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 0, 0 },
    { RQ("Host: [::1]\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 0, 0 },
    { RQ("Host: [::ffff:1.2.3.4]:1\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE,
      0, 1, 0, 0 },
    { RQ("Host: example.test.\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE,
      0, 1, 0, 0 },
    { RQ("Host: EXAMPLE.Test.:65535\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE,
      0, 1, 0, 0 },
    { RQ("Host: 127.0.0.1:00080\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE,
      0, 1, 0, 0 },
    { RQ("Host: example.com:\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 0,
      0 },
    { RQ("Host: a-b_c~d.e%41!$&'()*+,;=\r\n"), WEIR_OK, WEIR_HTTP_BODY_NONE,
      0, 1, 0, 0 },
    { RQ10(""), WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 0, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 0\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 0, 1, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 42\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 42, 1, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 007\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 7, 1, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 5, 1, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 5 ,5\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 5, 1, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 9223372036854775807\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, INT64_MAX, 1, 0, 0 },
    { RQ("Host: a\r\nContent-Length: 0009223372036854775807\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, INT64_MAX, 1, 0, 0 },
    { RQ("Host: a\r\nTransfer-Encoding: chunked\r\n"), WEIR_OK,
      WEIR_HTTP_BODY_CHUNKED, 0, 1, 0, 0 },
    { RQ("Host: a\r\ntransfer-encoding: CHUNKED \r\n"), WEIR_OK,
      WEIR_HTTP_BODY_CHUNKED, 0, 1, 0, 0 },
    /* keep-alive, upgrade, expect */
    { RQ("Host: a\r\nConnection: close\r\n"), WEIR_OK, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nConnection: Keep-Alive, CLOSE\r\n"), WEIR_OK,
      0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nConnection: keep-alive\r\nConnection: close\r\n"),
      WEIR_OK, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nConnection: closed\r\n"), WEIR_OK, 0, 0, 1, 0, 0 },
    { RQ10("Connection: keep-alive\r\n"), WEIR_OK, 0, 0, 1, 0, 0 },
    { RQ10("Connection: close, keep-alive\r\n"), WEIR_OK, 0, 0, 0, 0, 0 },
    { RQ("Host: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"),
      WEIR_OK, 0, 0, 1, 1, 0 },
    { RQ("Host: a\r\nConnection: keep-alive, upgrade\r\nUpgrade: h2c\r\n"),
      WEIR_OK, 0, 0, 1, 1, 0 },
    { RQ("Host: a\r\nUpgrade: websocket\r\n"), WEIR_OK, 0, 0, 1, 0, 0 },
    { RQ("Host: a\r\nConnection: upgrade\r\n"), WEIR_OK, 0, 0, 1, 0, 0 },
    { RQ("Host: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n"),
      WEIR_OK, WEIR_HTTP_BODY_LENGTH, 1, 1, 0, 1 },
    { RQ("Host: a\r\nExpect: 100-continue-x\r\n"), WEIR_OK, 0, 0, 1, 0, 0 },
    { RQ10("Expect: 100-continue\r\n"), WEIR_OK, 0, 0, 0, 0, 0 },
};

START_TEST(test_request_framing)
{
    weir_http_request_head_t  h;
    weir_http_header_t        hdr[MAX_HDRS];
    weir_http_framing_t       f;
    size_t                    consumed;
    const char               *in = request_framing[_i].in;
    int                       rc;

    ck_assert_int_eq(parse_req(in, strlen(in), &h, hdr, &consumed), WEIR_OK);
    rc = weir_http_request_framing(&h, &f);
    ck_assert_msg(rc == request_framing[_i].rc, "%s: got %d want %d", in, rc,
                  request_framing[_i].rc);
    if (rc != WEIR_OK) {
        return;
    }
    ck_assert_int_eq(f.body, request_framing[_i].body);
    ck_assert(f.content_length == request_framing[_i].cl);
    ck_assert_int_eq(f.keepalive, request_framing[_i].keepalive);
    ck_assert_int_eq(f.upgrade, request_framing[_i].upgrade);
    ck_assert_int_eq(f.expect_continue, request_framing[_i].expect);
    ck_assert_int_eq(f.has_host, strstr(in, "Host:") != NULL);
}
END_TEST

/*
 * Response framing.
 */

#define RS(line, hdrs)  "HTTP/1.1 " line "\r\n" hdrs "\r\n"

static const struct {
    const char  *in;
    int          head;
    int          rc;
    int          body;
    uint64_t     cl;
    int          keepalive;
    int          upgrade;
} response_framing[] = {
    { RS("200 OK", "Content-Length: 5\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 5, 1, 0 },
    { RS("200 OK", "Content-Length: 0\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 0, 1, 0 },
    { RS("200 OK", ""), 0, WEIR_OK, WEIR_HTTP_BODY_CLOSE, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: chunked\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CHUNKED, 0, 1, 0 },
    { RS("200 OK", "Transfer-Encoding: gzip, chunked\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CHUNKED, 0, 1, 0 },
    { RS("200 OK", "Transfer-Encoding: gzip\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CLOSE, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: identity\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CLOSE, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: identity, chunked\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CHUNKED, 0, 1, 0 },
    { RS("200 OK", "Transfer-Encoding: gzip\r\n"
         "Transfer-Encoding: chunked\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CHUNKED, 0, 1, 0 },
    { RS("200 OK", "Transfer-Encoding: chunkedx\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_CLOSE, 0, 0, 0 },
    { RS("200 OK", "Content-Length: 9223372036854775807\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, INT64_MAX, 1, 0 },
    { RS("204 No Content", ""), 0, WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 0 },
    { RS("304 Not Modified", "Content-Length: 100\r\n"), 0, WEIR_OK,
      WEIR_HTTP_BODY_NONE, 0, 1, 0 },
    { RS("100 Continue", ""), 0, WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 0 },
    { RS("200 OK", "Content-Length: 10\r\n"), 1, WEIR_OK,
      WEIR_HTTP_BODY_NONE, 0, 1, 0 },
    { RS("200 OK", "Transfer-Encoding: chunked\r\n"), 1, WEIR_OK,
      WEIR_HTTP_BODY_NONE, 0, 1, 0 },
    { RS("101 Switching", "Connection: Upgrade\r\nUpgrade: websocket\r\n"),
      0, WEIR_OK, WEIR_HTTP_BODY_NONE, 0, 1, 1 },
    { RS("200 OK", "Connection: close\r\nContent-Length: 1\r\n"), 0,
      WEIR_OK, WEIR_HTTP_BODY_LENGTH, 1, 0, 0 },
    { "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, WEIR_OK,
      WEIR_HTTP_BODY_LENGTH, 1, 0, 0 },
    { "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n"
      "\r\n", 0, WEIR_OK, WEIR_HTTP_BODY_LENGTH, 1, 1, 0 },
    /* refused */
    { RS("200 OK", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 0,
      WEIR_HTTP_E_TE_AND_CL, 0, 0, 0, 0 },
    { RS("200 OK", "Content-Length: 5\r\nContent-Length: 7\r\n"), 0,
      WEIR_HTTP_E_DUP_CONTENT_LENGTH, 0, 0, 0, 0 },
    { RS("200 OK", "Content-Length: 5a\r\n"), 0,
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: chunked, chunked\r\n"), 0,
      WEIR_HTTP_E_TE_UNSUPPORTED, 0, 0, 0, 0 },
    /* chunked must be last (RFC 9112 6.1): re-chunked it would go to
     * the client chunked twice */
    { RS("200 OK", "Transfer-Encoding: chunked, gzip\r\n"), 0,
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: chunked\r\n"
         "Transfer-Encoding: gzip\r\n"), 0,
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: chunked, identity\r\n"), 0,
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: chunked;x=1\r\n"), 0,
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0 },
    { RS("200 OK", "Transfer-Encoding: Chunked ;x=1, chunked\r\n"), 0,
      WEIR_HTTP_E_TE_UNSUPPORTED, 0, 0, 0, 0 },
    { RS("204 No Content", "Transfer-Encoding: chunked, gzip\r\n"), 0,
      WEIR_HTTP_E_TE_NOT_CHUNKED, 0, 0, 0, 0 },
    /* Content-Length past INT64_MAX would turn into "no length" */
    { RS("200 OK", "Content-Length: 9223372036854775808\r\n"), 0,
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0 },
    { RS("200 OK", "Content-Length: 18446744073709551615\r\n"), 0,
      WEIR_HTTP_E_BAD_CONTENT_LENGTH, 0, 0, 0, 0 },
    { "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
      WEIR_HTTP_E_TE_HTTP10, 0, 0, 0, 0 },
};

START_TEST(test_response_framing)
{
    weir_http_response_head_t  h;
    weir_http_header_t         hdr[MAX_HDRS];
    weir_http_framing_t        f;
    size_t                     consumed;
    const char                *in = response_framing[_i].in;
    int                        rc;

    ck_assert_int_eq(parse_resp(in, strlen(in), &h, hdr, &consumed),
                     WEIR_OK);
    rc = weir_http_response_framing(&h, response_framing[_i].head, &f);
    ck_assert_msg(rc == response_framing[_i].rc, "%s: got %d want %d", in,
                  rc, response_framing[_i].rc);
    if (rc != WEIR_OK) {
        return;
    }
    ck_assert_int_eq(f.body, response_framing[_i].body);
    ck_assert(f.content_length == response_framing[_i].cl);
    ck_assert_int_eq(f.keepalive, response_framing[_i].keepalive);
    ck_assert_int_eq(f.upgrade, response_framing[_i].upgrade);
}
END_TEST

/*
 * Chunked decoder.
 */

/* Feed `in` in pieces whose sizes come from next_piece(); collect the data.
 * Returns the final code; *used is where decoding stopped. */
static uint32_t  rng_state;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* mode 0: all at once; 1: byte by byte; 2: random pieces; 3: split at
 * `split` into two pieces. The data slices must lie inside the piece. */
static int
decode(const char *in, size_t n, int mode, size_t split, char *out,
    size_t *out_len, size_t *used)
{
    weir_http_chunked_t  c;
    size_t               off = 0, piece, consumed, dlen;
    const char          *data;
    int                  rc = WEIR_AGAIN;

    memset(&c, 0, sizeof(c));
    *out_len = 0;
    while (off < n) {
        switch (mode) {
        case 0: piece = n - off; break;
        case 1: piece = 1; break;
        case 2: piece = 1 + rng() % 7; break;
        default: piece = off < split ? split - off : n - off; break;
        }
        piece = weir_min(piece, n - off);
        for ( ;; ) {
            rc = weir_http_chunked_step(&c, in + off, piece, &consumed, &data,
                                        &dlen);
            ck_assert_uint_le(consumed, piece);
            if (rc == WEIR_OK) {
                ck_assert_uint_gt(dlen, 0);
                ck_assert(data >= in + off
                          && data + dlen <= in + off + consumed);
                memcpy(out + *out_len, data, dlen);
                *out_len += dlen;
            } else {
                ck_assert_ptr_null(data);
            }
            off += consumed;
            piece -= consumed;
            if (rc != WEIR_OK || piece == 0) {
                break;
            }
        }
        if (rc != WEIR_OK && rc != WEIR_AGAIN) {
            break;
        }
    }
    *used = off;
    return rc;
}

static const struct {
    const char  *in;
    size_t       len;
    const char  *data;
    size_t       used;        /* where the body ends (0: all of it) */
} valid_chunked[] = {
    { S("5\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
    { S("5;a=b;c\r\nhello\r\n6 ; x = \"q\\\"y\"\r\n world\r\n0\r\n"
        "X-T: v\r\nY:\r\n\r\n"), "hello world", 0 },
    { S("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"),
      "0123456789abcdefghij", 0 },
    { S("5\nhello\r\n0\n\n"), "hello", 0 },
    { S("0005\r\nhello\r\n000\r\n\r\n"), "hello", 0 },
    { S("0\r\n\r\n"), "", 0 },
    { S("0\r\n\r\nGET / HTTP/1.1\r\n"), "", 5 },
    { S("0000000000000003\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
    { S("3;n=\"\"\r\nabc\r\n0;last\r\nA: \xff\r\n\r\n"), "abc", 0 },
    { S("3;n=\"a b\tc\"\r\na\r\n\r\n0\r\n\r\n"), "a\r\n", 0 },
};

START_TEST(test_chunked_valid)
{
    const char  *in = valid_chunked[_i].in;
    size_t       n = valid_chunked[_i].len, want_used, out_len, used, k;
    char         out[256];
    int          mode;

    want_used = valid_chunked[_i].used ? valid_chunked[_i].used : n;
    rng_state = 12345 + (uint32_t) _i;
    for (mode = 0; mode < 3; mode++) {
        ck_assert_int_eq(decode(in, n, mode, 0, out, &out_len, &used),
                         WEIR_DONE);
        ck_assert_uint_eq(used, want_used);
        ck_assert_uint_eq(out_len, strlen(valid_chunked[_i].data));
        ck_assert(memcmp(out, valid_chunked[_i].data, out_len) == 0);
    }
    for (k = 0; k <= n; k++) {
        ck_assert_int_eq(decode(in, n, 3, k, out, &out_len, &used),
                         WEIR_DONE);
        ck_assert_uint_eq(used, want_used);
        ck_assert_uint_eq(out_len, strlen(valid_chunked[_i].data));
    }
}
END_TEST

START_TEST(test_chunked_done_and_again)
{
    weir_http_chunked_t  c;
    size_t               consumed, dlen;
    const char          *data;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(weir_http_chunked_step(&c, "", 0, &consumed, &data,
                                            &dlen), WEIR_AGAIN);
    ck_assert_int_eq(weir_http_chunked_step(&c, "4\r\nab", 5, &consumed,
                                            &data, &dlen), WEIR_OK);
    ck_assert_uint_eq(consumed, 5);
    ck_assert_uint_eq(dlen, 2);
    ck_assert(memcmp(data, "ab", 2) == 0);
    ck_assert_int_eq(weir_http_chunked_step(&c, "cd\r", 3, &consumed,
                                            &data, &dlen), WEIR_OK);
    ck_assert_uint_eq(consumed, 2);
    ck_assert_int_eq(weir_http_chunked_step(&c, "\r", 1, &consumed,
                                            &data, &dlen), WEIR_AGAIN);
    ck_assert_uint_eq(consumed, 1);
    ck_assert_int_eq(weir_http_chunked_step(&c, "\n0\r\n\r\nX", 7, &consumed,
                                            &data, &dlen), WEIR_DONE);
    ck_assert_uint_eq(consumed, 6);
    /* after the end, nothing more is consumed */
    ck_assert_int_eq(weir_http_chunked_step(&c, "X", 1, &consumed,
                                            &data, &dlen), WEIR_DONE);
    ck_assert_uint_eq(consumed, 0);
}
END_TEST

/* A chunk near 2^64 is decoded without overflow; the size is exact. */
START_TEST(test_chunked_huge_size)
{
    weir_http_chunked_t  c;
    size_t               consumed, dlen;
    const char          *data;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(weir_http_chunked_step(&c, S("ffffffffffffffff\r\nxy"),
                                            &consumed, &data, &dlen),
                     WEIR_OK);
    ck_assert_uint_eq(dlen, 2);
    ck_assert(c.size == UINT64_MAX - 2);
}
END_TEST

static const struct {
    const char  *in;
    size_t       len;
    int          err;
} invalid_chunked[] = {
    { S("0x5\r\nhello\r\n0\r\n\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("-1\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("+1\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("fffffffffffffffff\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("fffffffffffffffffff\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("00000000000000005\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S(" 5\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("5 \r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("5 5\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("g\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S(";a\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("5\r\nhello\r\nz\r\n"), WEIR_HTTP_E_BAD_CHUNK_SIZE },
    { S("5;\r\nhello\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;=a\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=\"x\r\nhello\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a b\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=b c\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=\"x\"y\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a \r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=b \r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=(\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=\"\x01\"\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a=\"\\\x01\"\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5;a@b\r\n"), WEIR_HTTP_E_BAD_CHUNK_EXT },
    { S("5\r\nhelloX\r\n"), WEIR_HTTP_E_BAD_CHUNK_DATA },
    { S("5\r\nhello\n0\r\n\r\n"), WEIR_HTTP_E_BAD_CHUNK_DATA },
    { S("5\r\nhello\rX"), WEIR_HTTP_E_BAD_CHUNK_DATA },
    { S("5\r\nhello0\r\n\r\n"), WEIR_HTTP_E_BAD_CHUNK_DATA },
    { S("5\rX"), WEIR_HTTP_E_BARE_CR },
    { S("5;a\rX"), WEIR_HTTP_E_BARE_CR },
    { S("5\0\r\n"), WEIR_HTTP_E_NUL },
    { S("5;a=\"\0\"\r\n"), WEIR_HTTP_E_NUL },
    { S("0\r\nX: a\rb\r\n\r\n"), WEIR_HTTP_E_BARE_CR },
    { S("0\r\n\rX"), WEIR_HTTP_E_BARE_CR },
    { S("0\r\nX: a\0\r\n\r\n"), WEIR_HTTP_E_NUL },
    { S("0\r\n x: y\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
    { S("0\r\nX y: z\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
    { S("0\r\nX : z\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
    { S("0\r\nnocolon\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
    { S("0\r\n: v\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
    { S("0\r\nX: a\x01\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
    { S("0\r\nX: a\r\n b\r\n\r\n"), WEIR_HTTP_E_BAD_TRAILER },
};

START_TEST(test_chunked_invalid)
{
    weir_http_chunked_t  c;
    const char          *in = invalid_chunked[_i].in, *data;
    size_t               n = invalid_chunked[_i].len, out_len, used, dlen, k;
    char                 out[256];
    int                  mode, rc;

    rng_state = 777 + (uint32_t) _i;
    for (mode = 0; mode < 3; mode++) {
        rc = decode(in, n, mode, 0, out, &out_len, &used);
        ck_assert_msg(rc == invalid_chunked[_i].err,
                      "%s mode %d: got %d want %d", in, mode, rc,
                      invalid_chunked[_i].err);
    }
    for (k = 0; k <= n; k++) {
        ck_assert_int_eq(decode(in, n, 3, k, out, &out_len, &used),
                         invalid_chunked[_i].err);
    }

    /* the error is sticky: the decoder does not resume after it */
    memset(&c, 0, sizeof(c));
    do {
        rc = weir_http_chunked_step(&c, in, n, &used, &data, &dlen);
        in += used;
        n -= used;
    } while (rc == WEIR_OK);
    ck_assert_int_eq(rc, invalid_chunked[_i].err);
    ck_assert_int_eq(weir_http_chunked_step(&c, S("0\r\n\r\n"), &used, &data,
                                            &dlen), invalid_chunked[_i].err);
    ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_chunked_limits)
{
    static char          buf[20000];
    weir_http_chunked_t  c;
    size_t               n, consumed, dlen;
    const char          *data;

    /* a chunk extension of 5000 bytes */
    n = 0;
    buf[n++] = '1';
    buf[n++] = ';';
    buf[n++] = 'a';
    buf[n++] = '=';
    memset(buf + n, 'x', 5000);
    n += 5000;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(weir_http_chunked_step(&c, buf, n, &consumed, &data,
                                            &dlen),
                     WEIR_HTTP_E_BAD_CHUNK_EXT);

    /* 4000 bytes of extension are fine */
    n = 4;
    memset(buf + n, 'x', 4000);
    n += 4000;
    memcpy(buf + n, "\r\nz\r\n0\r\n\r\n", 10);
    n += 10;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(weir_http_chunked_step(&c, buf, n, &consumed, &data,
                                            &dlen), WEIR_OK);
    ck_assert_uint_eq(dlen, 1);
    ck_assert_int_eq(weir_http_chunked_step(&c, buf + consumed, n - consumed,
                                            &consumed, &data, &dlen),
                     WEIR_DONE);

    /* a trailer section over the bound */
    memcpy(buf, "0\r\nX: ", 6);
    memset(buf + 6, 'v', 10000);
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(weir_http_chunked_step(&c, buf, 10006, &consumed,
                                            &data, &dlen),
                     WEIR_HTTP_E_BAD_TRAILER);
}
END_TEST

/*
 * Path normalisation.
 */

static const struct {
    const char  *in;
    const char  *out;           /* NULL: WEIR_HTTP_E_BAD_PATH */
} paths[] = {
    { "/", "/" },
    { "/a/b", "/a/b" },
    { "/a/b/", "/a/b/" },
    { "//a///b", "/a/b" },
    { "/a/./b", "/a/b" },
    { "/a/../b", "/b" },
    { "/a/b/..", "/a/" },
    { "/a/.", "/a/" },
    { "/./", "/" },
    { "/a/b/../../c", "/c" },
    { "/a%20b", "/a b" },
    { "/a?x=../../..", "/a" },
    { "/a#../..", NULL },
    { "/a?x#y", NULL },
    { "/a/%2e%2e/b", "/b" },
    { "/a/%2E%2E/b", "/b" },
    { "/a/.%2e/b", "/b" },
    { "/a%2fb", NULL },
    { "/a%2Fb", NULL },
    { "/a/b%2f..%2f", NULL },
    { "/a\\b", NULL },
    { "/a/..\\x", NULL },
    { "/a%5cb", NULL },
    { "/a%5Cb", NULL },
    { "/a/..;/b", NULL },
    { "/a/.;x/b", NULL },
    { "/a/..;", NULL },
    { "/a/b;c/..", "/a/" },
    { "/a/x..;/b", "/a/x..;/b" },
    { "/a/;../b", "/a/;../b" },
    { "/...", "/..." },
    { "/a/..b", "/a/..b" },
    { "/.a/b.", "/.a/b." },
    { "/%3f", "/?" },
    { "/%41%7e", "/A~" },
    { "/../etc/passwd", NULL },
    { "/..", NULL },
    { "/./..", NULL },
    { "/a/../..", NULL },
    { "/a/%2e%2e/%2e%2e/x", NULL },
    { "/a/..%2f..%2fx", NULL },
    { "/a/%2e%2e%2f", NULL },
    { "/%2e%2e/", NULL },
    { "/%2e%2e%2fetc", NULL },
    { "/a/b/../../../x", NULL },
    { "/%00", NULL },
    { "/a%00.html", NULL },
    { "/a%0", NULL },
    { "/a%", NULL },
    { "/a%zz", NULL },
    { "/a%g0", NULL },
    { "a/b", NULL },
    { "*", NULL },
    { "http://x/", NULL },
    { "", NULL },
};

START_TEST(test_normalize_path)
{
    char    out[256];
    size_t  out_len = 99, len = strlen(paths[_i].in);
    int     rc;

    rc = weir_http_normalize_path(paths[_i].in, len, out, len + 1, &out_len);
    if (paths[_i].out == NULL) {
        ck_assert_msg(rc == WEIR_HTTP_E_BAD_PATH, "%s: got %d", paths[_i].in,
                      rc);
        return;
    }
    ck_assert_msg(rc == WEIR_OK, "%s: got %d", paths[_i].in, rc);
    ck_assert_str_eq(out, paths[_i].out);
    ck_assert_uint_eq(out_len, strlen(paths[_i].out));
}
END_TEST

/* An output buffer smaller than the contract asks is refused, never
 * overrun. */
START_TEST(test_normalize_small_buffer)
{
    char    out[8];
    size_t  out_len;

    memset(out, 'Z', sizeof(out));
    ck_assert_int_eq(weir_http_normalize_path("/abcdef", 7, out, 4,
                                              &out_len),
                     WEIR_HTTP_E_BAD_PATH);
    ck_assert_int_eq(out[4], 'Z');
    ck_assert_int_eq(weir_http_normalize_path("/abc", 4, out, 1, &out_len),
                     WEIR_HTTP_E_BAD_PATH);
    ck_assert_int_eq(weir_http_normalize_path("/abc", 4, out, 5, &out_len),
                     WEIR_OK);
    ck_assert_str_eq(out, "/abc");

    /* a raw NUL would silently truncate the C string result */
    ck_assert_int_eq(weir_http_normalize_path(S("/a.php\0.jpg"), out,
                                              sizeof(out), &out_len),
                     WEIR_HTTP_E_BAD_PATH);
}
END_TEST

/* The canonical form the proxy forwards: unreserved bytes decoded,
 * reserved ones kept as they came, the rest escaped in upper case. */
static const struct {
    const char  *in;
    const char  *path;
    const char  *fwd;
} canon[] = {
    { "/", "/", "/" },
    { "/a/../b", "/b", "/b" },
    { "/%41%62%7e%2D%2e%5f", "/Ab~-._", "/Ab~-._" },
    { "/a/%2e%2E/b/./c", "/b/c", "/b/c" },
    { "/caf%c3%a9", "/caf\xc3\xa9", "/caf%C3%A9" },
    { "/a%3bb;c", "/a;b;c", "/a%3Bb;c" },
    { "/a%3Fb%23c%25d", "/a?b#c%d", "/a%3Fb%23c%25d" },
    { "/a%20b", "/a b", "/a%20b" },
    { "/a\"b{c}|d^e`f[g]<h>", "/a\"b{c}|d^e`f[g]<h>",
      "/a%22b%7Bc%7D%7Cd%5Ee%60f%5Bg%5D%3Ch%3E" },
    { "/!$&'()*+,;=:@", "/!$&'()*+,;=:@", "/!$&'()*+,;=:@" },
    { "/%21%24%40", "/!$@", "/%21%24%40" },
    { "//x///y/", "/x/y/", "/x/y/" },
    { "/%01%7f", "/\x01\x7f", "/%01%7F" },
    { "/x/%25/..", "/x/", "/x/" },
    { "/x?q=%2e%2e/../#", NULL, NULL },
    { "/x?q=%2e%2e/..&r=%zz", "/x", "/x" },
};

START_TEST(test_normalize_canonical)
{
    const char *in = canon[_i].in;
    size_t      len = strlen(in), plen, flen;
    char        path[256], fwd[768];
    int         rc;

    memset(fwd, 'Z', sizeof(fwd));
    rc = weir_http_normalize_target(in, len, path, len + 1, &plen, fwd,
                                    3 * len + 1, &flen);
    if (canon[_i].path == NULL) {
        ck_assert_msg(rc == WEIR_HTTP_E_BAD_PATH, "%s: got %d", in, rc);
        return;
    }
    ck_assert_msg(rc == WEIR_OK, "%s: got %d", in, rc);
    ck_assert_str_eq(path, canon[_i].path);
    ck_assert_uint_eq(plen, strlen(canon[_i].path));
    ck_assert_str_eq(fwd, canon[_i].fwd);
    ck_assert_uint_eq(flen, strlen(canon[_i].fwd));
    ck_assert_int_eq(fwd[3 * len + 1], 'Z');
}
END_TEST

/* The canonical form's buffer is checked like the path's: too small is
 * refused, never overrun; a '%' that becomes "%25" needs the 3x room. */
START_TEST(test_normalize_canonical_small)
{
    char    path[16], fwd[16];
    size_t  plen, flen;

    memset(fwd, 'Z', sizeof(fwd));
    ck_assert_int_eq(weir_http_normalize_target("/%25%25", 7, path,
                                                sizeof(path), &plen, fwd, 6,
                                                &flen),
                     WEIR_HTTP_E_BAD_PATH);
    ck_assert_int_eq(fwd[6], 'Z');
    ck_assert_int_eq(weir_http_normalize_target("/%25%25", 7, path,
                                                sizeof(path), &plen, fwd, 8,
                                                &flen),
                     WEIR_OK);
    ck_assert_str_eq(fwd, "/%25%25");
    ck_assert_int_eq(weir_http_normalize_target("/a\"", 3, path,
                                                sizeof(path), &plen, fwd, 4,
                                                &flen),
                     WEIR_HTTP_E_BAD_PATH);
}
END_TEST

/* WEIR_PATH_PASS_SLASH: "%2F" kept as "%2F" in both results, never a
 * separator; a piece beside it that is empty or a dot segment is still
 * refused. NULL path: refused. */
static const struct {
    const char  *in;
    const char  *path;
    const char  *fwd;
} pass_slash[] = {
    { "/api/v4/projects/group%2Fproject", "/api/v4/projects/group%2Fproject",
      "/api/v4/projects/group%2Fproject" },
    { "/a/b%2fc%2Fd/e", "/a/b%2Fc%2Fd/e", "/a/b%2Fc%2Fd/e" },
    { "/a/b%2Fc/../d", "/a/d", "/a/d" },
    { "/a/b%2Fc/./d", "/a/b%2Fc/d", "/a/b%2Fc/d" },
    { "/a/x%252Fy", "/a/x%2Fy", "/a/x%252Fy" },
    { "/a/%2e%2e.%2Fx", "/a/...%2Fx", "/a/...%2Fx" },
    { "/a/x%2F..", NULL, NULL },
    { "/a/x%2F../y", NULL, NULL },
    { "/a/..%2Fx", NULL, NULL },
    { "/a/%2e%2e%2Fx", NULL, NULL },
    { "/a/x%2F%2E%2E%2Fy", NULL, NULL },
    { "/a/x%2F.%2Fy", NULL, NULL },
    { "/a/x%2F..;p%2Fy", NULL, NULL },
    { "/a/%2Fx", NULL, NULL },
    { "/a/x%2F", NULL, NULL },
    { "/a/x%2F%2Fy", NULL, NULL },
    { "/%2F", NULL, NULL },
    { "/a/x%5Cy", NULL, NULL },
    /* after a dropped "..", ".", "" the next piece starts at the segment */
    { "/a/b/../%2Fx", NULL, NULL },
    { "/a/./%2Fx", NULL, NULL },
    { "/a//%2Fx", NULL, NULL },
    { "/a/b/../c%2Fx", "/a/c%2Fx", "/a/c%2Fx" },
    { "/a/bbbbbbbb/../..%2Fx", NULL, NULL },
};

START_TEST(test_normalize_pass_slash)
{
    const char *in = pass_slash[_i].in;
    size_t      len = strlen(in), plen, flen;
    char        path[256], fwd[768];
    unsigned    seen = 7;
    int         rc;

    rc = weir_http_normalize_target_flags(in, len, WEIR_PATH_PASS_SLASH,
                                          path, len + 1, &plen, fwd,
                                          3 * len + 1, &flen, &seen);
    if (pass_slash[_i].path == NULL) {
        ck_assert_msg(rc == WEIR_HTTP_E_BAD_PATH, "%s: got %d", in, rc);
    } else {
        ck_assert_msg(rc == WEIR_OK, "%s: got %d", in, rc);
        ck_assert_str_eq(path, pass_slash[_i].path);
        ck_assert_uint_eq(plen, strlen(pass_slash[_i].path));
        ck_assert_str_eq(fwd, pass_slash[_i].fwd);
        ck_assert_uint_eq(flen, strlen(pass_slash[_i].fwd));
        ck_assert_uint_eq(seen, strstr(in, "%2F") || strstr(in, "%2f")
                                ? WEIR_PATH_PASS_SLASH : 0);
    }
    /* without the flag every one of them is refused, or has no %2F */
    rc = weir_http_normalize_target(in, len, path, len + 1, &plen, fwd,
                                    3 * len + 1, &flen);
    if (strstr(in, "%2F") || strstr(in, "%2f")) {
        ck_assert_msg(rc == WEIR_HTTP_E_BAD_PATH, "%s: got %d", in, rc);
    }
}
END_TEST

/*
 * Error table.
 */

START_TEST(test_error_table)
{
    int  e, st;

    for (e = 1; e < WEIR_HTTP_E_MAX; e++) {
        st = weir_http_error_status(e);
        ck_assert_msg(st == 400 || st == 431 || st == 501 || st == 502
                      || st == 505, "code %d -> %d", e, st);
        ck_assert_ptr_nonnull(weir_http_error_text(e));
        ck_assert_uint_gt(strlen(weir_http_error_text(e)), 3);
    }
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_BAD_METHOD), 400);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_VERSION_UNSUPPORTED),
                     505);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_TE_UNSUPPORTED), 501);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_BAD_STATUS_LINE),
                     502);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_TE_AND_CL), 400);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_BAD_PATH), 400);
    ck_assert_int_eq(weir_http_error_status(-7), 400);
    ck_assert_int_eq(weir_http_error_status(WEIR_HTTP_E_MAX), 400);
    ck_assert_str_eq(weir_http_error_text(WEIR_HTTP_E_MAX),
                     "unknown parse error");
    ck_assert_str_eq(weir_http_error_text(WEIR_HTTP_E_BARE_CR), "bare CR");
}
END_TEST

/*
 * Guard-page tests: the input ends right before a PROT_NONE page, so a
 * read at or past len faults and the (forked) test fails.
 */

static char   *guard_mem;
static size_t  guard_page;

static void
guard_setup(void)
{
    guard_page = (size_t) sysconf(_SC_PAGESIZE);
    guard_mem = mmap(NULL, 2 * guard_page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(guard_mem != MAP_FAILED);
    ck_assert_int_eq(mprotect(guard_mem + guard_page, guard_page, PROT_NONE),
                     0);
}

static void
guard_teardown(void)
{
    munmap(guard_mem, 2 * guard_page);
}

/* Copy s[0..n) so that it ends at the guard page. */
static const char *
guard_place(const char *s, size_t n)
{
    char  *p = guard_mem + guard_page - n;

    ck_assert_uint_le(n, guard_page);
    memcpy(p, s, n);
    return p;
}

static void
guard_head(const char *s, size_t n, int response)
{
    weir_http_request_head_t   rh;
    weir_http_response_head_t  sh;
    weir_http_header_t         hdr[MAX_HDRS];
    weir_http_framing_t        f;
    size_t                     k, consumed;
    const char                *p;
    int                        rc;

    for (k = 0; k <= n; k++) {
        p = guard_place(s, k);
        if (response) {
            rc = parse_resp(p, k, &sh, hdr, &consumed);
            if (rc == WEIR_OK) {
                (void) weir_http_response_framing(&sh, 0, &f);
            }
        } else {
            rc = parse_req(p, k, &rh, hdr, &consumed);
            if (rc == WEIR_OK) {
                (void) weir_http_request_framing(&rh, &f);
            }
        }
    }
}

START_TEST(test_guard_requests)
{
    size_t  k;

    for (k = 0; k < weir_nelems(valid_requests); k++) {
        guard_head(valid_requests[k].in, valid_requests[k].len, 0);
    }
    for (k = 0; k < weir_nelems(invalid_requests); k++) {
        guard_head(invalid_requests[k].in, invalid_requests[k].len, 0);
    }
    for (k = 0; k < weir_nelems(absolute_requests); k++) {
        guard_head(absolute_requests[k].in, absolute_requests[k].len, 0);
    }
    for (k = 0; k < weir_nelems(request_framing); k++) {
        guard_head(request_framing[k].in, strlen(request_framing[k].in), 0);
    }
}
END_TEST

START_TEST(test_guard_responses)
{
    size_t  k;

    for (k = 0; k < weir_nelems(valid_responses); k++) {
        guard_head(valid_responses[k].in, valid_responses[k].len, 1);
    }
    for (k = 0; k < weir_nelems(invalid_responses); k++) {
        guard_head(invalid_responses[k].in, invalid_responses[k].len, 1);
    }
    for (k = 0; k < weir_nelems(response_framing); k++) {
        guard_head(response_framing[k].in, strlen(response_framing[k].in),
                   1);
    }
}
END_TEST

/* Each prefix of each chunked body, decoded at the page end. */
static void
guard_chunked(const char *s, size_t n)
{
    weir_http_chunked_t  c;
    size_t               k, off, consumed, dlen;
    const char          *p, *data;
    int                  rc;

    for (k = 0; k <= n; k++) {
        p = guard_place(s, k);
        memset(&c, 0, sizeof(c));
        off = 0;
        do {
            rc = weir_http_chunked_step(&c, p + off, k - off, &consumed,
                                        &data, &dlen);
            off += consumed;
        } while (rc == WEIR_OK && off < k);
    }
}

START_TEST(test_guard_chunked_and_paths)
{
    char    out[256];
    size_t  k, j, len, out_len;

    for (k = 0; k < weir_nelems(valid_chunked); k++) {
        guard_chunked(valid_chunked[k].in, valid_chunked[k].len);
    }
    for (k = 0; k < weir_nelems(invalid_chunked); k++) {
        guard_chunked(invalid_chunked[k].in, invalid_chunked[k].len);
    }
    for (k = 0; k < weir_nelems(paths); k++) {
        len = strlen(paths[k].in);
        for (j = 0; j <= len; j++) {
            (void) weir_http_normalize_path(guard_place(paths[k].in, j), j,
                                            out, j + 1, &out_len);
        }
    }
}
END_TEST

static Suite *
parse_suite(void)
{
    Suite  *s = suite_create("parse");
    TCase  *tc;

    tc = tcase_create("request");
    tcase_add_loop_test(tc, test_request_valid, 0,
                        weir_nelems(valid_requests));
    tcase_add_loop_test(tc, test_request_absolute, 0,
                        weir_nelems(absolute_requests));
    tcase_add_test(tc, test_request_absolute_host_rules);
    tcase_add_test(tc, test_request_body_not_consumed);
    tcase_add_test(tc, test_request_line_len);
    tcase_add_test(tc, test_request_too_many_headers);
    tcase_add_loop_test(tc, test_request_invalid, 0,
                        weir_nelems(invalid_requests));
    tcase_add_test(tc, test_request_error_pos);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_loop_test(tc, test_response_valid, 0,
                        weir_nelems(valid_responses));
    tcase_add_loop_test(tc, test_response_invalid, 0,
                        weir_nelems(invalid_responses));
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_add_loop_test(tc, test_request_framing, 0,
                        weir_nelems(request_framing));
    tcase_add_loop_test(tc, test_response_framing, 0,
                        weir_nelems(response_framing));
    suite_add_tcase(s, tc);

    tc = tcase_create("chunked");
    tcase_add_loop_test(tc, test_chunked_valid, 0,
                        weir_nelems(valid_chunked));
    tcase_add_test(tc, test_chunked_done_and_again);
    tcase_add_test(tc, test_chunked_huge_size);
    tcase_add_loop_test(tc, test_chunked_invalid, 0,
                        weir_nelems(invalid_chunked));
    tcase_add_test(tc, test_chunked_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("path");
    tcase_add_loop_test(tc, test_normalize_path, 0, weir_nelems(paths));
    tcase_add_loop_test(tc, test_normalize_canonical, 0, weir_nelems(canon));
    tcase_add_test(tc, test_normalize_canonical_small);
    tcase_add_loop_test(tc, test_normalize_pass_slash, 0,
                        (int) weir_nelems(pass_slash));
    tcase_add_test(tc, test_normalize_small_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_error_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("guard");
    tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
    tcase_add_test(tc, test_guard_requests);
    tcase_add_test(tc, test_guard_responses);
    tcase_add_test(tc, test_guard_chunked_and_paths);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner  *sr;
    int       failed;

    sr = srunner_create(parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
