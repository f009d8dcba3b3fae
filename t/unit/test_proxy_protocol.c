#include "weir_config.h"
#include "http/proxy_protocol.h"

#include <arpa/inet.h>
#include <check.h>
#include <string.h>
#include <sys/un.h>

/* The PROXY protocol parser and builder: every header is also fed in
 * pieces (a balancer's header may arrive split), and bytes behind it must
 * stay outside the header's length. */

static const char SIG[] = "\r\n\r\n\0\r\nQUIT\n";   /* 12 bytes + NUL */

static int
parse(const char *buf, size_t len, weir_proxy_protocol_t *pp)
{
    return weir_proxy_protocol_parse(buf, len, pp);
}

/* Every proper prefix of a valid header is "incomplete", never an error
 * nor a success. */
static void
prefixes_again(const char *buf, size_t len)
{
    weir_proxy_protocol_t pp;
    size_t                i;

    for (i = 0; i < len; i++) {
        ck_assert_msg(parse(buf, i, &pp) == WEIR_AGAIN,
                      "prefix of %zu bytes: %s", i,
                      pp.error ? pp.error : "not AGAIN");
    }
}

static void
expect_error(const char *buf, size_t len, const char *what)
{
    weir_proxy_protocol_t pp;

    ck_assert_msg(parse(buf, len, &pp) == WEIR_ERROR, "%s: accepted", what);
    ck_assert_ptr_nonnull(pp.error);
}

static void
text(const weir_sockaddr_t *sa, char *out, size_t len)
{
    weir_sockaddr_text(&sa->sa, out, len, 1);
}

/* A v2 header: 16 bytes of head (ver_cmd, fam, len) then the block. */
static size_t
v2(char *out, unsigned char ver_cmd, unsigned char fam, const void *block,
    size_t blen)
{
    memcpy(out, SIG, 12);
    out[12] = (char) ver_cmd;
    out[13] = (char) fam;
    out[14] = (char) (blen >> 8);
    out[15] = (char) (blen & 0xff);
    memcpy(out + 16, block, blen);
    return 16 + blen;
}

START_TEST(v1_tcp4)
{
    const char            h[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443"
                                "\r\nGET / HTTP/1.1\r\n";
    weir_proxy_protocol_t pp;
    char                  t[64];

    ck_assert_int_eq(parse(h, sizeof(h) - 1, &pp), WEIR_OK);
    ck_assert_int_eq(pp.version, 1);
    ck_assert(!pp.local);
    ck_assert_uint_eq(pp.len, strlen("PROXY TCP4 192.0.2.7 198.51.100.1 "
                                     "56324 443\r\n"));
    text(&pp.src, t, sizeof(t));
    ck_assert_str_eq(t, "192.0.2.7:56324");
    text(&pp.dst, t, sizeof(t));
    ck_assert_str_eq(t, "198.51.100.1:443");
    ck_assert_uint_eq(pp.srclen, sizeof(struct sockaddr_in));
    prefixes_again(h, pp.len);
}
END_TEST

START_TEST(v1_tcp6)
{
    const char            h[] = "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n";
    weir_proxy_protocol_t pp;
    char                  t[64];

    ck_assert_int_eq(parse(h, sizeof(h) - 1, &pp), WEIR_OK);
    ck_assert_uint_eq(pp.len, sizeof(h) - 1);
    text(&pp.src, t, sizeof(t));
    ck_assert_str_eq(t, "[2001:db8::1]:0");
    text(&pp.dst, t, sizeof(t));
    ck_assert_str_eq(t, "[::1]:65535");
    prefixes_again(h, pp.len);
}
END_TEST

START_TEST(v1_unknown)
{
    const char            s[] = "PROXY UNKNOWN\r\n";
    const char            l[] = "PROXY UNKNOWN ffff:f::f ffff:f::f 65535 "
                                "65535\r\nX";
    weir_proxy_protocol_t pp;

    ck_assert_int_eq(parse(s, sizeof(s) - 1, &pp), WEIR_OK);
    ck_assert(pp.local);
    ck_assert_uint_eq(pp.len, sizeof(s) - 1);
    ck_assert_int_eq(parse(l, sizeof(l) - 1, &pp), WEIR_OK);
    ck_assert(pp.local);
    ck_assert_uint_eq(pp.len, sizeof(l) - 2);
    expect_error("PROXY UNKNOWNX\r\n", 16, "UNKNOWN glued to a word");
}
END_TEST

/* 107 bytes with the CRLF is the most a receiver must take. */
START_TEST(v1_length_limit)
{
    char                  h[200];
    weir_proxy_protocol_t pp;

    memset(h, 'x', sizeof(h));
    memcpy(h, "PROXY UNKNOWN ", 14);
    h[105] = '\r';
    h[106] = '\n';
    ck_assert_int_eq(parse(h, sizeof(h), &pp), WEIR_OK);
    ck_assert_uint_eq(pp.len, 107);

    h[105] = 'x';
    h[106] = '\r';
    h[107] = '\n';
    expect_error(h, sizeof(h), "CRLF ending at byte 108");
    expect_error(h, 107, "CR at byte 107, LF not yet here");

    memset(h + 14, 'x', sizeof(h) - 14);
    expect_error(h, 107, "107 bytes without CRLF");
    ck_assert_int_eq(parse(h, 106, &pp), WEIR_AGAIN);
}
END_TEST

START_TEST(v1_invalid)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "G",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP6 ::1 ::g 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n",
        "PROXY\r\n",
        "PROXY \r\n",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_error(bad[i], strlen(bad[i]), bad[i]);
    }
}
END_TEST

START_TEST(v2_inet_with_tlvs)
{
    unsigned char block[12 + 3 + 5 + 3] = {
        192, 0, 2, 7,  198, 51, 100, 1,  0xdc, 0x04,  0x01, 0xbb,
        0x05, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e',     /* UNIQUE_ID */
        0x04, 0x00, 0x00,                              /* NOOP, empty */
    };
    char                  h[128], t[64];
    size_t                n = v2(h, 0x21, 0x11, block, sizeof(block));
    weir_proxy_protocol_t pp;

    memcpy(h + n, "GET /", 5);
    ck_assert_int_eq(parse(h, n + 5, &pp), WEIR_OK);
    ck_assert_int_eq(pp.version, 2);
    ck_assert(!pp.local);
    ck_assert_uint_eq(pp.len, n);
    text(&pp.src, t, sizeof(t));
    ck_assert_str_eq(t, "192.0.2.7:56324");
    text(&pp.dst, t, sizeof(t));
    ck_assert_str_eq(t, "198.51.100.1:443");
    prefixes_again(h, n);
    /* Once the fixed part is here, the whole length is known. */
    ck_assert_int_eq(parse(h, 16, &pp), WEIR_AGAIN);
    ck_assert_uint_eq(pp.len, n);
}
END_TEST

START_TEST(v2_inet6)
{
    unsigned char block[36] = { 0x20, 0x01, 0x0d, 0xb8 };
    char                  h[64], t[64];
    size_t                n;
    weir_proxy_protocol_t pp;

    block[15] = 1;          /* 2001:db8::1 */
    block[31] = 1;          /* ::1 */
    block[32] = 0x30;       /* 12345 */
    block[33] = 0x39;
    block[35] = 80;
    n = v2(h, 0x21, 0x21, block, sizeof(block));
    ck_assert_int_eq(parse(h, n, &pp), WEIR_OK);
    text(&pp.src, t, sizeof(t));
    ck_assert_str_eq(t, "[2001:db8::1]:12345");
    text(&pp.dst, t, sizeof(t));
    ck_assert_str_eq(t, "[::1]:80");
    ck_assert_uint_eq(pp.srclen, sizeof(struct sockaddr_in6));
    prefixes_again(h, n);
}
END_TEST

/* LOCAL (a health check), unspecified, UDP and AF_UNIX: keep the
 * socket's addresses. LOCAL skips whatever block it carries. */
START_TEST(v2_local_like)
{
    unsigned char         block[216] = { 1, 2, 3 };
    char                  h[256];
    size_t                n;
    weir_proxy_protocol_t pp;

    n = v2(h, 0x20, 0x00, block, 0);
    ck_assert_int_eq(parse(h, n, &pp), WEIR_OK);
    ck_assert(pp.local);
    ck_assert_uint_eq(pp.len, 16);

    n = v2(h, 0x20, 0x11, block, 5);   /* LOCAL: family ignored */
    ck_assert_int_eq(parse(h, n, &pp), WEIR_OK);
    ck_assert(pp.local);
    ck_assert_uint_eq(pp.len, 21);

    n = v2(h, 0x21, 0x00, block, 0);
    ck_assert_int_eq(parse(h, n, &pp), WEIR_OK);
    ck_assert(pp.local);

    n = v2(h, 0x21, 0x12, block, 12);  /* UDP over IPv4 */
    ck_assert_int_eq(parse(h, n, &pp), WEIR_OK);
    ck_assert(pp.local);

    n = v2(h, 0x21, 0x31, block, 216); /* AF_UNIX stream */
    ck_assert_int_eq(parse(h, n, &pp), WEIR_OK);
    ck_assert(pp.local);
    ck_assert_uint_eq(pp.len, 232);
}
END_TEST

START_TEST(v2_invalid)
{
    unsigned char block[40] = { 0 };
    char          h[128];
    size_t        n;

    /* bad signature: refused from the first wrong byte */
    n = v2(h, 0x21, 0x11, block, 12);
    h[3] = 'X';
    expect_error(h, n, "bad signature");
    expect_error(h, 4, "bad signature, 4 bytes");
    expect_error("\r\nGET", 5, "CRLF then text");

    n = v2(h, 0x11, 0x11, block, 12);
    expect_error(h, n, "version 1 in the binary header");
    expect_error(h, 13, "version 1, 13 bytes");
    n = v2(h, 0x22, 0x11, block, 12);
    expect_error(h, n, "command 2");
    n = v2(h, 0x21, 0x41, block, 12);
    expect_error(h, n, "family 4");
    n = v2(h, 0x21, 0x13, block, 12);
    expect_error(h, n, "protocol 3");
    n = v2(h, 0x21, 0x11, block, 11);
    expect_error(h, n, "IPv4 block of 11 bytes");
    n = v2(h, 0x21, 0x21, block, 12);
    expect_error(h, n, "IPv6 block of 12 bytes");

    /* a TLV whose length runs past the block */
    block[12] = 0x05;
    block[13] = 0x00;
    block[14] = 0x09;
    n = v2(h, 0x21, 0x11, block, 12 + 3 + 8);
    expect_error(h, n, "TLV overrun");
    n = v2(h, 0x21, 0x11, block, 12 + 2);
    expect_error(h, n, "TLV cut in its head");
}
END_TEST

START_TEST(v2_truncated)
{
    unsigned char         block[12] = { 127, 0, 0, 1, 127, 0, 0, 1 };
    char                  h[64];
    size_t                n = v2(h, 0x21, 0x11, block, sizeof(block));
    weir_proxy_protocol_t pp;

    prefixes_again(h, n);
    ck_assert_int_eq(parse(h, n - 1, &pp), WEIR_AGAIN);
    ck_assert_uint_eq(pp.len, n);
    /* A length near 64 KiB is a length to wait for, not an error: the
     * reader decides how much it is willing to buffer. */
    h[14] = (char) 0xff;
    h[15] = (char) 0xff;
    ck_assert_int_eq(parse(h, n, &pp), WEIR_AGAIN);
    ck_assert_uint_eq(pp.len, 16 + 65535);
}
END_TEST

static void
sin4(struct sockaddr_in *sa, const char *ip, unsigned port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t) port);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sa->sin_addr), 1);
}

static void
sin6(struct sockaddr_in6 *sa, const char *ip, unsigned port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons((uint16_t) port);
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &sa->sin6_addr), 1);
}

START_TEST(build_v1)
{
    struct sockaddr_in    a, b;
    struct sockaddr_in6   c, m;
    struct sockaddr_un    u;
    char                  out[WEIR_PROXY_PROTOCOL_OUT_MAX + 1];
    size_t                len;
    weir_proxy_protocol_t pp;

    sin4(&a, "127.0.0.2", 40000);
    sin4(&b, "127.0.0.1", 8080);
    ck_assert_int_eq(weir_proxy_protocol_build(1, (struct sockaddr *) &a,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_OK);
    out[len] = '\0';
    ck_assert_str_eq(out, "PROXY TCP4 127.0.0.2 127.0.0.1 40000 8080\r\n");
    ck_assert_int_eq(parse(out, len, &pp), WEIR_OK);
    ck_assert_uint_eq(pp.len, len);

    /* IPv6 client, IPv4 listener: both as IPv6 */
    sin6(&c, "2001:db8::5", 1);
    ck_assert_int_eq(weir_proxy_protocol_build(1, (struct sockaddr *) &c,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_OK);
    out[len] = '\0';
    ck_assert_str_eq(out,
                     "PROXY TCP6 2001:db8::5 ::ffff:127.0.0.1 1 8080\r\n");

    /* a v4-mapped client on a dual-stack socket: both as IPv4 */
    sin6(&m, "::ffff:10.0.0.9", 2);
    ck_assert_int_eq(weir_proxy_protocol_build(1, (struct sockaddr *) &m,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_OK);
    out[len] = '\0';
    ck_assert_str_eq(out, "PROXY TCP4 10.0.0.9 127.0.0.1 2 8080\r\n");

    memset(&u, 0, sizeof(u));
    u.sun_family = AF_UNIX;
    ck_assert_int_eq(weir_proxy_protocol_build(1, (struct sockaddr *) &u,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_OK);
    out[len] = '\0';
    ck_assert_str_eq(out, "PROXY UNKNOWN\r\n");

    /* the longest line fits the documented buffer; a short one fails */
    sin6(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    ck_assert_int_eq(weir_proxy_protocol_build(1, (struct sockaddr *) &c,
                         (struct sockaddr *) &c, out,
                         WEIR_PROXY_PROTOCOL_OUT_MAX, &len), WEIR_OK);
    ck_assert_uint_eq(len, 104);
    ck_assert_int_eq(weir_proxy_protocol_build(1, (struct sockaddr *) &c,
                         (struct sockaddr *) &c, out, 104, &len),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_proxy_protocol_build(3, (struct sockaddr *) &a,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_ERROR);
}
END_TEST

START_TEST(build_v2)
{
    struct sockaddr_in    a, b;
    struct sockaddr_in6   c, d;
    struct sockaddr_un    u;
    char                  out[WEIR_PROXY_PROTOCOL_OUT_MAX], t[64];
    size_t                len;
    weir_proxy_protocol_t pp;

    sin4(&a, "127.0.0.2", 40000);
    sin4(&b, "127.0.0.1", 8080);
    ck_assert_int_eq(weir_proxy_protocol_build(2, (struct sockaddr *) &a,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_OK);
    ck_assert_uint_eq(len, 28);
    ck_assert_int_eq(memcmp(out, SIG, 12), 0);
    ck_assert_int_eq((unsigned char) out[12], 0x21);
    ck_assert_int_eq((unsigned char) out[13], 0x11);
    ck_assert_int_eq(parse(out, len, &pp), WEIR_OK);
    text(&pp.src, t, sizeof(t));
    ck_assert_str_eq(t, "127.0.0.2:40000");
    text(&pp.dst, t, sizeof(t));
    ck_assert_str_eq(t, "127.0.0.1:8080");

    sin6(&c, "2001:db8::5", 1);
    sin6(&d, "2001:db8::6", 443);
    ck_assert_int_eq(weir_proxy_protocol_build(2, (struct sockaddr *) &c,
                         (struct sockaddr *) &d, out, sizeof(out), &len),
                     WEIR_OK);
    ck_assert_uint_eq(len, 52);
    ck_assert_int_eq(parse(out, len, &pp), WEIR_OK);
    text(&pp.src, t, sizeof(t));
    ck_assert_str_eq(t, "[2001:db8::5]:1");
    text(&pp.dst, t, sizeof(t));
    ck_assert_str_eq(t, "[2001:db8::6]:443");
    ck_assert_int_eq(weir_proxy_protocol_build(2, (struct sockaddr *) &c,
                         (struct sockaddr *) &d, out, 51, &len),
                     WEIR_ERROR);

    memset(&u, 0, sizeof(u));
    u.sun_family = AF_UNIX;
    ck_assert_int_eq(weir_proxy_protocol_build(2, (struct sockaddr *) &u,
                         (struct sockaddr *) &b, out, sizeof(out), &len),
                     WEIR_OK);
    ck_assert_uint_eq(len, 16);
    ck_assert_int_eq(parse(out, len, &pp), WEIR_OK);
    ck_assert(pp.local);
}
END_TEST

static Suite *
proxy_protocol_suite(void)
{
    Suite *s = suite_create("proxy_protocol");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, v1_tcp4);
    tcase_add_test(tc, v1_tcp6);
    tcase_add_test(tc, v1_unknown);
    tcase_add_test(tc, v1_length_limit);
    tcase_add_test(tc, v1_invalid);
    tcase_add_test(tc, v2_inet_with_tlvs);
    tcase_add_test(tc, v2_inet6);
    tcase_add_test(tc, v2_local_like);
    tcase_add_test(tc, v2_invalid);
    tcase_add_test(tc, v2_truncated);
    tcase_add_test(tc, build_v1);
    tcase_add_test(tc, build_v2);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(proxy_protocol_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
