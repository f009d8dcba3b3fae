/*
 * What the HTTP parser files share (parse.c: heads and error table;
 * parse_body.c: framing and the chunked decoder; parse_path.c: path
 * normalisation; parse_host.c: authorities): the character classes and
 * three tiny helpers. Private to src/http/parse*.c; the public face is
 * http/parse.h.
 */
#ifndef WEIR_HTTP_PARSE_T_H
#define WEIR_HTTP_PARSE_T_H

#include <stddef.h>

/* Character classes, one bit each, looked up in weir_http_cls[]. */
#define C_TCHAR   0x01   /* token (RFC 9110 5.6.2) */
#define C_TARGET  0x02   /* 0x21..0x7e: request-target bytes */
#define C_VALUE   0x04   /* field-value: HTAB SP VCHAR obs-text */
#define C_HEX     0x08
#define C_DIGIT   0x10
#define C_HOST    0x20   /* reg-name: unreserved sub-delims '%' */
#define C_QDTEXT  0x40   /* quoted-string text (RFC 9110 5.6.4) */

/* One byte of class bits per octet, defined in parse.c: a read-only
 * table, not state. */
extern const unsigned char weir_http_cls[256];

/* Is t[0..n) a valid authority (parse_host.c)? WEIR_OK or
 * WEIR_HTTP_E_BAD_TARGET with *bad the offending offset. */
#define WEIR_HOST_NEED_PORT  0x1    /* CONNECT: "host:port" required */
#define WEIR_HOST_FIELD      0x2    /* a Host field: "host:" allowed */
int weir_http_authority(const unsigned char *t, size_t n, unsigned flags,
    size_t *bad);

#define is_ws(ch)  ((ch) == ' ' || (ch) == '\t')

/* The value of a hex digit the caller has already checked with C_HEX. */
static inline int
hexval(unsigned ch)
{
    if (ch >= '0' && ch <= '9') {
        return (int) (ch - '0');
    }
    return (int) ((ch | 0x20) - 'a' + 10);
}

/* ASCII case-insensitive equality of s[0..n) with a lower-case literal. */
static inline int
lower_eq(const char *s, size_t n, const char *lower)
{
    size_t  k;

    for (k = 0; k < n; k++) {
        unsigned char  ch = (unsigned char) s[k];

        if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char) (ch + ('a' - 'A'));
        }
        if (lower[k] == '\0' || ch != (unsigned char) lower[k]) {
            return 0;
        }
    }
    return lower[n] == '\0';
}

#endif /* WEIR_HTTP_PARSE_T_H */
