/*
 * The host rules of the parser: one judgement for every authority a
 * request can carry (an absolute-form or CONNECT target, a Host field),
 * so that the name servers are chosen by (http/vhost.c) and the Host an
 * origin is sent have passed the same test.
 *
 * Stricter than nginx in two ways, both on purpose: a reg-name with an
 * empty label anywhere (".a", "a..b", "." alone) is refused where nginx
 * only refuses "..", since a wildcard "*.a" must not match ".a" or
 * "x..a"; and a port must be digits and 1-65535, where nginx ignores
 * whatever follows the ':' ("a:99999999999", "a:x"), since that Host goes
 * upstream as it came and a port the client could not have connected to
 * is not one to vouch for. One trailing dot is the DNS root and stays
 * valid ("example.test." is example.test), as in nginx.
 */
#include "weir_config.h"
#include "http/parse.h"
#include "http/parse-t.h"

#include <string.h>

#include "core/core.h"

static int reg_name_labels(const unsigned char *t, size_t n);
static int ipv6_literal(const unsigned char *t, size_t n);
static int ipv4_tail(const unsigned char *t, size_t n);

/* authority = host [ ":" port ] (RFC 3986 3.2), with no userinfo: what
 * goes upstream as Host must be one host, not "user@host". host is an
 * IP literal or a reg-name of non-empty labels (which covers IPv4); a
 * port is 1-65535 and, with WEIR_HOST_NEED_PORT (CONNECT's
 * authority-form), required. WEIR_HOST_FIELD: the value of a Host field,
 * where an empty port ("a:") is allowed as RFC 9110 7.2's grammar has
 * it. WEIR_OK or WEIR_HTTP_E_BAD_TARGET with *bad the offending offset. */
int
weir_http_authority(const unsigned char *t, size_t n, unsigned flags,
    size_t *bad)
{
    const unsigned char  *rb;
    size_t                i = 0, k;
    unsigned              port = 0;

    if (n > 0 && t[0] == '[') {
        rb = memchr(t, ']', n);
        if (rb == NULL || !ipv6_literal(t + 1, (size_t) (rb - t) - 1)) {
            *bad = 0;
            return WEIR_HTTP_E_BAD_TARGET;
        }
        i = (size_t) (rb - t) + 1;
    } else {
        for ( ; i < n && t[i] != ':'; i++) {
            if (!(weir_http_cls[t[i]] & C_HOST)
                || (t[i] == '%'
                    && (n - i < 3 || !(weir_http_cls[t[i + 1]] & C_HEX)
                        || !(weir_http_cls[t[i + 2]] & C_HEX))))
            {
                *bad = i;
                return WEIR_HTTP_E_BAD_TARGET;
            }
        }
        if (!reg_name_labels(t, i)) {
            *bad = 0;                   /* "http:///x", ".a", "a..b" */
            return WEIR_HTTP_E_BAD_TARGET;
        }
    }

    if (i == n && !(flags & WEIR_HOST_NEED_PORT)) {
        return WEIR_OK;
    }
    if (i == n || t[i] != ':') {
        *bad = i;
        return WEIR_HTTP_E_BAD_TARGET;
    }
    if (i + 1 == n) {
        *bad = i;
        return (flags & WEIR_HOST_FIELD) && !(flags & WEIR_HOST_NEED_PORT)
               ? WEIR_OK : WEIR_HTTP_E_BAD_TARGET;
    }
    for (k = i + 1; k < n; k++) {
        if (weir_http_cls[t[k]] & C_DIGIT) {
            port = port * 10 + (unsigned) (t[k] - '0');
        }
        if (!(weir_http_cls[t[k]] & C_DIGIT) || port > 65535) {
            *bad = k;
            return WEIR_HTTP_E_BAD_TARGET;
        }
    }
    if (port == 0) {
        *bad = i + 1;
        return WEIR_HTTP_E_BAD_TARGET;
    }
    return WEIR_OK;
}

/* A reg-name is labels joined by single dots, with at most one dot after
 * the last (the root). Empty ("") is no name at all. 1 if so. */
static int
reg_name_labels(const unsigned char *t, size_t n)
{
    size_t  k;

    if (n == 0 || t[0] == '.') {
        return 0;
    }
    for (k = 1; k < n; k++) {
        if (t[k] == '.' && t[k - 1] == '.') {
            return 0;
        }
    }
    return 1;
}

/* The inside of an IP literal: an IPv6 address (RFC 3986 3.2.2) of eight
 * 16-bit groups, "::" standing for one or more zero groups, the last two
 * possibly written as dotted IPv4. Zone ids and IPvFuture are refused:
 * no origin needs them in a Host. 1 if valid. */
static int
ipv6_literal(const unsigned char *t, size_t n)
{
    size_t  i = 0, start, groups = 0;
    int     gap = 0;

    if (n >= 2 && t[0] == ':' && t[1] == ':') {
        gap = 1;
        i = 2;
    }
    while (i < n) {
        start = i;
        while (i < n && (weir_http_cls[t[i]] & C_HEX) && i - start < 5) {
            i++;
        }
        if (i < n && t[i] == '.') {
            /* dotted IPv4 for the last 32 bits */
            if (!ipv4_tail(t + start, n - start)) {
                return 0;
            }
            groups += 2;
            break;
        }
        if (i == start || i - start > 4) {
            return 0;
        }
        groups++;
        if (i == n) {
            break;
        }
        if (t[i] != ':' || ++i == n) {
            return 0;                   /* a stray byte or a final ':' */
        }
        if (t[i] == ':') {
            if (gap) {
                return 0;               /* "::" twice */
            }
            gap = 1;
            i++;
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

/* Exactly four dec-octets 0-255 (no leading zero), dot-separated. */
static int
ipv4_tail(const unsigned char *t, size_t n)
{
    size_t    i = 0, part, start;
    unsigned  v;

    for (part = 0; part < 4; part++) {
        if (part > 0) {
            if (i == n || t[i] != '.') {
                return 0;
            }
            i++;
        }
        start = i;
        v = 0;
        while (i < n && (weir_http_cls[t[i]] & C_DIGIT) && i - start < 3) {
            v = v * 10 + (t[i++] - '0');
        }
        if (i == start || v > 255 || (t[start] == '0' && i - start > 1)) {
            return 0;
        }
    }
    return i == n;
}
