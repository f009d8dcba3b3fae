/*
 * The value syntaxes of the configuration file: sizes ("512", "16k",
 * "10m", "1g"), times ("250ms", "5s", "10m", "1h", "1d"; a bare number is
 * seconds) and socket addresses ("127.0.0.1:80", "[::1]:8080", "*:8080").
 * Pure functions: no allocation, no logging; each parses a whole
 * NUL-terminated string and rejects anything left over.
 */
#ifndef WEIR_CORE_UNITS_H
#define WEIR_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/core.h"

/* Decimal digits with an optional k/m/g suffix (case-insensitive, powers of
 * 1024). WEIR_OK, or WEIR_ERROR on a sign, a fraction, a missing number,
 * an unknown suffix or overflow of int64_t. */
int weir_units_parse_size(const char *s, int64_t *out);

/* Decimal digits with an optional ms/s/m/h/d suffix; no suffix = seconds.
 * WEIR_OK, or WEIR_ERROR as for sizes. */
int weir_units_parse_msec(const char *s, weir_msec_t *out);

/* The shortest exact spelling of a value ("1g", "16k", "250ms", "90s"),
 * which the parsers above read back to the same number. */
void weir_units_format_size(int64_t v, char *buf, size_t len);
void weir_units_format_msec(weir_msec_t v, char *buf, size_t len);

/* Address flavours for weir_units_parse_addr. */
#define WEIR_ADDR_LISTEN  0x01  /* "*:80", ":80", "80" mean 0.0.0.0:80 */

/* Parse "IPv4:port" or "[IPv6]:port" (numeric hosts only; port 1..65535)
 * into ss/len and its canonical text ("[::1]:8080") into text. WEIR_OK, or
 * WEIR_ERROR with a reason in err ("invalid port \"0\""). */
int weir_units_parse_addr(const char *s, unsigned flags,
    struct sockaddr_storage *ss, socklen_t *len, char *text, size_t textlen,
    char *err, size_t errlen);

/* "name:port" where name is a DNS name (letters, digits, '.' and '-',
 * at least one letter, at most 253 characters) and port 1..65535: the
 * name into host (hostlen > 253) and the port into *port. WEIR_OK, or
 * WEIR_DECLINED when s is not of that form. */
int weir_units_parse_hostport(const char *s, char *host, size_t hostlen,
    unsigned *port);

/* The canonical text of an address as weir_units_parse_addr writes it
 * ("127.0.0.1:80", "[::1]:80"). */
void weir_units_format_addr(const struct sockaddr_storage *ss, char *text,
    size_t len);

/* Do a and b (as filled above) name the same address and port? 1 or 0. */
int weir_units_addr_eq(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b);

/* Would binding both a and b conflict: same family and port, and equal
 * addresses or one of them the wildcard? 1 or 0. */
int weir_units_addr_conflict(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b);

#endif /* WEIR_CORE_UNITS_H */
