#include "weir_config.h"
#include "http/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The PROXY protocol wire format. Section numbers are those of HAProxy's
 * proxy-protocol.txt. A header that does not match the spec exactly is
 * refused: it is what an attacker would send to pose as someone else. */

/* 2.2: a binary signature no text protocol starts with. */
static const unsigned char v2_sig[12] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V2_CMD_LOCAL   0x0
#define V2_CMD_PROXY   0x1
#define V2_AF_UNSPEC   0x0
#define V2_AF_INET     0x1
#define V2_AF_INET6    0x2
#define V2_AF_UNIX     0x3
#define V2_STREAM      0x1

static int refuse(weir_proxy_protocol_t *pp, const char *why);
static int parse_v1(const char *buf, size_t len, weir_proxy_protocol_t *pp);
static int v1_fields(const char *line, size_t n, weir_proxy_protocol_t *pp);
static int v1_addr(const char *s, size_t n, int family, weir_sockaddr_t *sa,
    socklen_t *salen);
static int v1_port(const char *s, size_t n, uint16_t *port);
static int parse_v2(const unsigned char *b, size_t len,
    weir_proxy_protocol_t *pp);
static int v2_tlvs_valid(const unsigned char *p, size_t n);
static int ip_pair(const struct sockaddr *src, const struct sockaddr *dst,
    weir_sockaddr_t *s, weir_sockaddr_t *d);
static int ip_copy(const struct sockaddr *from, weir_sockaddr_t *to);
static void to_v4(weir_sockaddr_t *a);
static void to_v6(weir_sockaddr_t *a);
static int build_v1(int ip, const weir_sockaddr_t *s,
    const weir_sockaddr_t *d, char *buf, size_t size, size_t *len);
static int build_v2(int ip, const weir_sockaddr_t *s,
    const weir_sockaddr_t *d, char *buf, size_t size, size_t *len);

/* ---- parsing ------------------------------------------------------------ */

static int
refuse(weir_proxy_protocol_t *pp, const char *why)
{
    pp->error = why;
    return WEIR_ERROR;
}

int
weir_proxy_protocol_parse(const char *buf, size_t len,
    weir_proxy_protocol_t *pp)
{
    memset(pp, 0, sizeof(*pp));
    if (len == 0) {
        return WEIR_AGAIN;
    }
    /* 2.2: the first byte tells the versions apart ("P" or CR). */
    if (buf[0] == '\r') {
        return parse_v2((const unsigned char *) buf, len, pp);
    }
    return parse_v1(buf, len, pp);
}

/* 2.1: "PROXY" SP proto SP src SP dst SP sport SP dport CRLF, at most 107
 * bytes; a lone CR or LF does not end the line. */
static int
parse_v1(const char *buf, size_t len, weir_proxy_protocol_t *pp)
{
    static const char prefix[] = "PROXY ";
    size_t            plen = sizeof(prefix) - 1, lim, i;

    pp->version = 1;
    if (memcmp(buf, prefix, weir_min(len, plen)) != 0) {
        return refuse(pp, "no PROXY protocol header");
    }
    if (len < plen) {
        return WEIR_AGAIN;
    }
    lim = weir_min(len, (size_t) WEIR_PROXY_PROTOCOL_V1_MAX);
    for (i = plen; i < lim; i++) {
        if (buf[i] == '\n') {
            return refuse(pp, "PROXY v1 line ends with a bare LF");
        }
        if (buf[i] == '\r') {
            break;
        }
    }
    if (i == lim) {
        return len >= WEIR_PROXY_PROTOCOL_V1_MAX
                   ? refuse(pp, "PROXY v1 line longer than 107 bytes")
                   : WEIR_AGAIN;
    }
    if (i + 2 > WEIR_PROXY_PROTOCOL_V1_MAX) {
        return refuse(pp, "PROXY v1 line longer than 107 bytes");
    }
    if (i + 1 == len) {
        return WEIR_AGAIN;
    }
    if (buf[i + 1] != '\n') {
        return refuse(pp, "PROXY v1 line ends with a bare CR");
    }
    pp->len = i + 2;
    return v1_fields(buf + plen, i - plen, pp);
}

/* The fields after "PROXY ", separated by exactly one space. */
static int
v1_fields(const char *line, size_t n, weir_proxy_protocol_t *pp)
{
    const char *f[5];
    size_t      fl[5], nf = 0, start = 0, k;
    uint16_t    sport, dport;
    int         family;

    /* "the receiver must ignore anything presented before the CRLF" */
    if (n >= 7 && memcmp(line, "UNKNOWN", 7) == 0
        && (n == 7 || line[7] == ' ')) {
        pp->local = 1;
        return WEIR_OK;
    }
    for (k = 0; k <= n; k++) {
        if (k < n && line[k] != ' ') {
            continue;
        }
        if (nf == 5 || k == start) {
            return refuse(pp, "PROXY v1 line does not have 5 "
                              "single-spaced fields");
        }
        f[nf] = line + start;
        fl[nf++] = k - start;
        start = k + 1;
    }
    if (nf != 5) {
        return refuse(pp, "PROXY v1 line does not have 5 single-spaced "
                          "fields");
    }
    if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0) {
        family = AF_INET;
    } else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0) {
        family = AF_INET6;
    } else {
        return refuse(pp, "PROXY v1 protocol is not TCP4, TCP6 or "
                          "UNKNOWN");
    }
    if (v1_addr(f[1], fl[1], family, &pp->src, &pp->srclen) != WEIR_OK) {
        return refuse(pp, "PROXY v1 source address is invalid");
    }
    if (v1_addr(f[2], fl[2], family, &pp->dst, &pp->dstlen) != WEIR_OK) {
        return refuse(pp, "PROXY v1 destination address is invalid");
    }
    if (v1_port(f[3], fl[3], &sport) != WEIR_OK
        || v1_port(f[4], fl[4], &dport) != WEIR_OK) {
        return refuse(pp, "PROXY v1 port is invalid");
    }
    if (family == AF_INET) {
        pp->src.in.sin_port = htons(sport);
        pp->dst.in.sin_port = htons(dport);
    } else {
        pp->src.in6.sin6_port = htons(sport);
        pp->dst.in6.sin6_port = htons(dport);
    }
    return WEIR_OK;
}

/* inet_pton() is as strict as the spec for IPv4: exactly four decimal
 * numbers, no leading zeros (glibc refuses "010", an octal trap). */
static int
v1_addr(const char *s, size_t n, int family, weir_sockaddr_t *sa,
    socklen_t *salen)
{
    char text[INET6_ADDRSTRLEN];
    int  rc;

    if (n >= sizeof(text)) {
        return WEIR_ERROR;
    }
    memcpy(text, s, n);
    text[n] = '\0';
    memset(sa, 0, sizeof(*sa));
    if (family == AF_INET) {
        sa->in.sin_family = AF_INET;
        rc = inet_pton(AF_INET, text, &sa->in.sin_addr);
        *salen = sizeof(sa->in);
    } else {
        sa->in6.sin6_family = AF_INET6;
        rc = inet_pton(AF_INET6, text, &sa->in6.sin6_addr);
        *salen = sizeof(sa->in6);
    }
    return rc == 1 ? WEIR_OK : WEIR_ERROR;
}

/* 0..65535 in decimal, no leading zeros. */
static int
v1_port(const char *s, size_t n, uint16_t *port)
{
    uint32_t v = 0;
    size_t   i;

    if (n == 0 || n > 5 || (s[0] == '0' && n > 1)) {
        return WEIR_ERROR;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return WEIR_ERROR;
        }
        v = v * 10 + (uint32_t) (s[i] - '0');
    }
    if (v > 65535) {
        return WEIR_ERROR;
    }
    *port = (uint16_t) v;
    return WEIR_OK;
}

/* 2.2: signature, version 2 and a command, family and protocol, the
 * length of the rest; then the addresses and optional TLVs. Each byte is
 * judged as soon as it is here, so garbage is refused early. */
static int
parse_v2(const unsigned char *b, size_t len, weir_proxy_protocol_t *pp)
{
    size_t   alen, need = 0;
    unsigned cmd = 0, fam = 0, proto = 0;

    pp->version = 2;
    if (memcmp(b, v2_sig, weir_min(len, sizeof(v2_sig))) != 0) {
        return refuse(pp, "no PROXY protocol header (bad v2 signature)");
    }
    if (len > 12) {
        cmd = b[12] & 0x0f;
        if ((b[12] >> 4) != 2) {
            return refuse(pp, "PROXY v2 header with a version other than "
                              "2");
        }
        if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
            return refuse(pp, "PROXY v2 header with an unknown command");
        }
    }
    if (len > 13) {
        fam = b[13] >> 4;
        proto = b[13] & 0x0f;
        if (fam > V2_AF_UNIX || proto > 2) {
            return refuse(pp, "PROXY v2 header with an unknown address "
                              "family or protocol");
        }
    }
    if (len < WEIR_PROXY_PROTOCOL_V2_HEAD) {
        return WEIR_AGAIN;
    }
    alen = (size_t) b[14] << 8 | b[15];
    pp->len = WEIR_PROXY_PROTOCOL_V2_HEAD + alen;
    if (len < pp->len) {
        return WEIR_AGAIN;
    }
    /* LOCAL: the balancer's own connection (a health check); the block,
     * family included, is ignored whatever it holds. */
    if (cmd == V2_CMD_LOCAL) {
        pp->local = 1;
        return WEIR_OK;
    }
    if (proto != 0) {
        need = fam == V2_AF_INET ? 12 : fam == V2_AF_INET6 ? 36
               : fam == V2_AF_UNIX ? 216 : 0;
    }
    if (alen < need) {
        return refuse(pp, "PROXY v2 address block shorter than its "
                          "family needs");
    }
    if ((fam != V2_AF_INET && fam != V2_AF_INET6) || proto != V2_STREAM) {
        /* Unspecified, UDP or AF_UNIX: the spec lets a receiver fall back
         * to the real endpoints; an HTTP server has no use for them. */
        pp->local = 1;
        return WEIR_OK;
    }
    b += WEIR_PROXY_PROTOCOL_V2_HEAD;
    if (!v2_tlvs_valid(b + need, alen - need)) {
        return refuse(pp, "PROXY v2 header with a malformed TLV");
    }
    if (fam == V2_AF_INET) {
        pp->src.in.sin_family = pp->dst.in.sin_family = AF_INET;
        memcpy(&pp->src.in.sin_addr, b, 4);
        memcpy(&pp->dst.in.sin_addr, b + 4, 4);
        memcpy(&pp->src.in.sin_port, b + 8, 2);
        memcpy(&pp->dst.in.sin_port, b + 10, 2);
        pp->srclen = pp->dstlen = sizeof(pp->src.in);
    } else {
        pp->src.in6.sin6_family = pp->dst.in6.sin6_family = AF_INET6;
        memcpy(&pp->src.in6.sin6_addr, b, 16);
        memcpy(&pp->dst.in6.sin6_addr, b + 16, 16);
        memcpy(&pp->src.in6.sin6_port, b + 32, 2);
        memcpy(&pp->dst.in6.sin6_port, b + 34, 2);
        pp->srclen = pp->dstlen = sizeof(pp->src.in6);
    }
    return WEIR_OK;
}

/* TLVs are skipped, but they must tile the rest of the block exactly:
 * a length that runs past it means a broken or forged header. */
static int
v2_tlvs_valid(const unsigned char *p, size_t n)
{
    size_t l;

    while (n > 0) {
        if (n < 3) {
            return 0;
        }
        l = (size_t) p[1] << 8 | p[2];
        if (l > n - 3) {
            return 0;
        }
        p += 3 + l;
        n -= 3 + l;
    }
    return 1;
}

/* ---- building ----------------------------------------------------------- */

int
weir_proxy_protocol_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, char *buf, size_t size, size_t *len)
{
    weir_sockaddr_t s, d;
    int             ip = ip_pair(src, dst, &s, &d);

    if (version == 1) {
        return build_v1(ip, &s, &d, buf, size, len);
    }
    if (version == 2) {
        return build_v2(ip, &s, &d, buf, size, len);
    }
    return WEIR_ERROR;
}

/* Copy both addresses into one family: the header has a single one. A
 * client that came over IPv6 to an IPv4 listener (or the other way, via
 * a PROXY header) goes as IPv6, unless the IPv6 side is v4-mapped. 1 when
 * both are IP addresses. */
static int
ip_pair(const struct sockaddr *src, const struct sockaddr *dst,
    weir_sockaddr_t *s, weir_sockaddr_t *d)
{
    if (!ip_copy(src, s) || !ip_copy(dst, d)) {
        return 0;
    }
    if (s->sa.sa_family != d->sa.sa_family) {
        to_v4(s);
        to_v4(d);
    }
    if (s->sa.sa_family != d->sa.sa_family) {
        to_v6(s);
        to_v6(d);
    }
    return 1;
}

static int
ip_copy(const struct sockaddr *from, weir_sockaddr_t *to)
{
    memset(to, 0, sizeof(*to));
    if (from->sa_family == AF_INET) {
        memcpy(&to->in, from, sizeof(to->in));
        return 1;
    }
    if (from->sa_family == AF_INET6) {
        memcpy(&to->in6, from, sizeof(to->in6));
        return 1;
    }
    return 0;
}

static void
to_v4(weir_sockaddr_t *a)
{
    struct sockaddr_in v4;

    if (a->sa.sa_family != AF_INET6
        || !IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
        return;
    }
    memset(&v4, 0, sizeof(v4));
    v4.sin_family = AF_INET;
    v4.sin_port = a->in6.sin6_port;
    memcpy(&v4.sin_addr, a->in6.sin6_addr.s6_addr + 12, 4);
    a->in = v4;
}

static void
to_v6(weir_sockaddr_t *a)
{
    struct sockaddr_in6 v6;

    if (a->sa.sa_family != AF_INET) {
        return;
    }
    memset(&v6, 0, sizeof(v6));
    v6.sin6_family = AF_INET6;
    v6.sin6_port = a->in.sin_port;
    v6.sin6_addr.s6_addr[10] = 0xff;
    v6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(v6.sin6_addr.s6_addr + 12, &a->in.sin_addr, 4);
    a->in6 = v6;
}

static int
build_v1(int ip, const weir_sockaddr_t *s, const weir_sockaddr_t *d,
    char *buf, size_t size, size_t *len)
{
    char        sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
    int         n, v4 = ip && s->sa.sa_family == AF_INET;
    int         fam = v4 ? AF_INET : AF_INET6;
    const void *sp = v4 ? (const void *) &s->in.sin_addr
                        : (const void *) &s->in6.sin6_addr;
    const void *dp = v4 ? (const void *) &d->in.sin_addr
                        : (const void *) &d->in6.sin6_addr;

    if (!ip) {
        n = snprintf(buf, size, "PROXY UNKNOWN\r\n");
    } else {
        if (inet_ntop(fam, sp, sa, sizeof(sa)) == NULL
            || inet_ntop(fam, dp, da, sizeof(da)) == NULL) {
            return WEIR_ERROR;
        }
        n = snprintf(buf, size, "PROXY %s %s %s %u %u\r\n",
                     v4 ? "TCP4" : "TCP6", sa, da,
                     ntohs(v4 ? s->in.sin_port : s->in6.sin6_port),
                     ntohs(v4 ? d->in.sin_port : d->in6.sin6_port));
    }
    if (n < 0 || (size_t) n >= size) {
        return WEIR_ERROR;
    }
    *len = (size_t) n;
    return WEIR_OK;
}

static int
build_v2(int ip, const weir_sockaddr_t *s, const weir_sockaddr_t *d,
    char *buf, size_t size, size_t *len)
{
    int            v4 = ip && s->sa.sa_family == AF_INET;
    size_t         alen = !ip ? 0 : v4 ? 12 : 36;
    unsigned char *b = (unsigned char *) buf, *a;

    if (size < WEIR_PROXY_PROTOCOL_V2_HEAD + alen) {
        return WEIR_ERROR;
    }
    memcpy(b, v2_sig, sizeof(v2_sig));
    /* Not a relayed IP connection: LOCAL tells the receiver to use the
     * real endpoints (v1's UNKNOWN). */
    b[12] = (unsigned char) (0x20 | (ip ? V2_CMD_PROXY : V2_CMD_LOCAL));
    b[13] = !ip ? 0x00 : v4 ? (V2_AF_INET << 4 | V2_STREAM)
                            : (V2_AF_INET6 << 4 | V2_STREAM);
    b[14] = 0;
    b[15] = (unsigned char) alen;
    a = b + WEIR_PROXY_PROTOCOL_V2_HEAD;
    if (ip && v4) {
        memcpy(a, &s->in.sin_addr, 4);
        memcpy(a + 4, &d->in.sin_addr, 4);
        memcpy(a + 8, &s->in.sin_port, 2);
        memcpy(a + 10, &d->in.sin_port, 2);
    } else if (ip) {
        memcpy(a, &s->in6.sin6_addr, 16);
        memcpy(a + 16, &d->in6.sin6_addr, 16);
        memcpy(a + 32, &s->in6.sin6_port, 2);
        memcpy(a + 34, &d->in6.sin6_port, 2);
    }
    *len = WEIR_PROXY_PROTOCOL_V2_HEAD + alen;
    return WEIR_OK;
}
