/*
 * Length-delimited strings: slices into buffers owned elsewhere.
 */
#ifndef WEIR_STR_H
#define WEIR_STR_H

#include <stddef.h>
#include <stdint.h>

typedef struct weir_str_s {
    size_t      len;
    const char *data;
} weir_str_t;

#define weir_string(s) { sizeof(s) - 1, (s) }
#define weir_null_string { 0, NULL }
#define weir_str_set(str, text) \
    do { (str)->len = sizeof(text) - 1; (str)->data = (text); } while (0)

/* Case-sensitive and ASCII case-insensitive comparison of a slice with a
 * NUL-terminated literal; return 1 on equality. */
int weir_str_eq(const weir_str_t *s, const char *lit);
int weir_str_caseeq(const weir_str_t *s, const char *lit);
int weir_strncaseeq(const char *a, const char *b, size_t n);

/* Find a token in a comma-separated header value (case-insensitive),
 * e.g. "keep-alive, Upgrade" contains "upgrade". Returns 1 if present. */
int weir_str_has_token(const weir_str_t *value, const char *token);

/* Parse a non-negative decimal without sign or spaces; WEIR_ERROR on
 * overflow, empty input or a non-digit. */
int weir_str_atoi64(const char *p, size_t len, int64_t *out);

/* Is name (len bytes) one of the n lower-case names of list, ignoring
 * case? 1 or 0 (the field-name sets of the proxy and the cache). */
int weir_str_one_of(const char *name, size_t len, const char *const *list,
    size_t n);

/* printf into a caller's error buffer (err may be NULL or errlen 0: then
 * nothing), always NUL-terminated: how library-like code says why. */
void weir_str_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write v in decimal at p (at most 20 bytes); returns the end. */
char *weir_sprint_u64(char *p, uint64_t v);

/* Copy at most dstsz-1 bytes and NUL-terminate; returns bytes copied. */
size_t weir_cpystrn(char *dst, const char *src, size_t len, size_t dstsz);

/* Write the character at s (before last) as the inside of a JSON string
 * into out, which has room for 6 bytes: '"' and '\\' backslashed, a
 * well-formed UTF-8 character as it is, a control byte or any byte that
 * is not UTF-8 as \u00XX (JSON text must be UTF-8, RFC 8259 8.1, and
 * header values may hold any obs-text). Returns the bytes written and
 * sets *used to the bytes of s taken (1 to 4). */
size_t weir_json_escape_char(char *out, const unsigned char *s,
    const unsigned char *last, size_t *used);

#endif /* WEIR_STR_H */
