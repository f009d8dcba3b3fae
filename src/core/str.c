#include "weir_config.h"
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>

#include <ctype.h>
#include <string.h>
#include "core/core.h"

static int lower(int c);

static int
lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int
weir_str_eq(const weir_str_t *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}

int
weir_strncaseeq(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (lower((unsigned char) a[i]) != lower((unsigned char) b[i])) {
            return 0;
        }
    }
    return 1;
}

int
weir_str_caseeq(const weir_str_t *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && weir_strncaseeq(s->data, lit, n);
}

/* Tokens are separated by commas with optional whitespace around them. */
int
weir_str_has_token(const weir_str_t *value, const char *token)
{
    const char *p = value->data, *last = value->data + value->len, *start;
    size_t      n = strlen(token), len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        start = p;
        while (p < last && *p != ',') {
            p++;
        }
        len = (size_t) (p - start);
        while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t')) {
            len--;
        }
        if (len == n && weir_strncaseeq(start, token, n)) {
            return 1;
        }
    }
    return 0;
}

int
weir_str_atoi64(const char *p, size_t len, int64_t *out)
{
    int64_t v = 0;
    size_t  i;

    if (len == 0) {
        return WEIR_ERROR;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return WEIR_ERROR;
        }
        if (v > (INT64_MAX - (p[i] - '0')) / 10) {
            return WEIR_ERROR;
        }
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return WEIR_OK;
}

size_t
weir_cpystrn(char *dst, const char *src, size_t len, size_t dstsz)
{
    if (dstsz == 0) {
        return 0;
    }
    if (len > dstsz - 1) {
        len = dstsz - 1;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return len;
}

char *
weir_sprint_u64(char *p, uint64_t v)
{
    char   tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

/* The length of the well-formed UTF-8 character at p (Unicode table 3-7:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t
utf8_char_len(const unsigned char *p, const unsigned char *last)
{
    unsigned int lo = 0x80, hi = 0xbf;
    size_t       n, i;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = p[0] == 0xe0 ? 0xa0 : 0x80;
        hi = p[0] == 0xed ? 0x9f : 0xbf;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : 0x80;
        hi = p[0] == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }
    return n;
}

size_t
weir_json_escape_char(char *out, const unsigned char *s,
    const unsigned char *last, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t            n;

    *used = 1;
    if (*s == '"' || *s == '\\') {
        out[0] = '\\';
        out[1] = (char) *s;
        return 2;
    }
    if (*s >= 0x20 && *s < 0x7f) {
        out[0] = (char) *s;
        return 1;
    }
    n = *s >= 0x80 ? utf8_char_len(s, last) : 0;
    if (n > 0) {
        memcpy(out, s, n);
        *used = n;
        return n;
    }
    /* a control byte, or one that is not UTF-8: as Latin-1 */
    memcpy(out, "\\u00", 4);
    out[4] = hex[*s >> 4];
    out[5] = hex[*s & 0xf];
    return 6;
}

void
weir_str_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int
weir_str_one_of(const char *name, size_t len, const char *const *list,
    size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strlen(list[i]) == len && weir_strncaseeq(name, list[i], len)) {
            return 1;
        }
    }
    return 0;
}
