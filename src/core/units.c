#include "weir_config.h"
#include "core/units.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int parse_digits(const char **pp, int64_t *out);
static int scaled(int64_t n, int64_t mult, int64_t *out);
static int parse_port(const char *s, in_port_t *port);
static int looks_like_hostname(const char *s, size_t len);
static void addr_text(const struct sockaddr_storage *ss, char *text,
    size_t len);

/* Leading decimal digits of *pp into out; advances *pp. */
static int
parse_digits(const char **pp, int64_t *out)
{
    const char *p = *pp;
    int64_t     n = 0;

    if (!isdigit((unsigned char) *p)) {
        return WEIR_ERROR;
    }
    while (isdigit((unsigned char) *p)) {
        if (n > (INT64_MAX - (*p - '0')) / 10) {
            return WEIR_ERROR;
        }
        n = n * 10 + (*p - '0');
        p++;
    }
    *pp = p;
    *out = n;
    return WEIR_OK;
}

static int
scaled(int64_t n, int64_t mult, int64_t *out)
{
    if (n > INT64_MAX / mult) {
        return WEIR_ERROR;
    }
    *out = n * mult;
    return WEIR_OK;
}

int
weir_units_parse_size(const char *s, int64_t *out)
{
    int64_t n, mult = 1;

    if (parse_digits(&s, &n) != WEIR_OK) {
        return WEIR_ERROR;
    }
    switch (*s) {
    case '\0':           break;
    case 'k': case 'K':  mult = 1024; s++; break;
    case 'm': case 'M':  mult = 1024 * 1024; s++; break;
    case 'g': case 'G':  mult = 1024 * 1024 * 1024; s++; break;
    default:             return WEIR_ERROR;
    }
    if (*s != '\0') {
        return WEIR_ERROR;
    }
    return scaled(n, mult, out);
}

int
weir_units_parse_msec(const char *s, weir_msec_t *out)
{
    int64_t n, mult;

    if (parse_digits(&s, &n) != WEIR_OK) {
        return WEIR_ERROR;
    }
    if (strcmp(s, "ms") == 0) {
        mult = 1;
    } else if (*s == '\0' || strcmp(s, "s") == 0) {
        mult = 1000;
    } else if (strcmp(s, "m") == 0) {
        mult = 60 * 1000;
    } else if (strcmp(s, "h") == 0) {
        mult = 3600 * 1000;
    } else if (strcmp(s, "d") == 0) {
        mult = 86400 * 1000;
    } else {
        return WEIR_ERROR;
    }
    return scaled(n, mult, out);
}

void
weir_units_format_size(int64_t v, char *buf, size_t len)
{
    static const struct { int64_t mult; char suffix; } units[] = {
        { 1024 * 1024 * 1024, 'g' }, { 1024 * 1024, 'm' }, { 1024, 'k' }
    };
    size_t i;

    for (i = 0; v > 0 && i < weir_nelems(units); i++) {
        if (v % units[i].mult == 0) {
            snprintf(buf, len, "%lld%c", (long long) (v / units[i].mult),
                     units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long) v);
}

void
weir_units_format_msec(weir_msec_t v, char *buf, size_t len)
{
    static const struct { int64_t mult; const char *suffix; } units[] = {
        { 86400 * 1000, "d" }, { 3600 * 1000, "h" }, { 60 * 1000, "m" },
        { 1000, "s" }
    };
    size_t i;

    for (i = 0; v > 0 && i < weir_nelems(units); i++) {
        if (v % units[i].mult == 0) {
            snprintf(buf, len, "%lld%s", (long long) (v / units[i].mult),
                     units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, v ? "%lldms" : "%lld", (long long) v);
}

static int
parse_port(const char *s, in_port_t *port)
{
    int64_t n;

    if (parse_digits(&s, &n) != WEIR_OK || *s != '\0' || n < 1
        || n > 65535)
    {
        return WEIR_ERROR;
    }
    *port = htons((in_port_t) n);
    return WEIR_OK;
}

/* A name made of letters, digits, dots and dashes with at least one
 * letter: the user meant a DNS name, which deserves its own message. */
static int
looks_like_hostname(const char *s, size_t len)
{
    size_t i;
    int    alpha = 0;

    for (i = 0; i < len; i++) {
        if (isalpha((unsigned char) s[i])) {
            alpha = 1;
        } else if (!isdigit((unsigned char) s[i]) && s[i] != '.'
                   && s[i] != '-')
        {
            return 0;
        }
    }
    return alpha;
}

static void
addr_text(const struct sockaddr_storage *ss, char *text, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *) ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(text, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    } else {
        const struct sockaddr_in *sin = (const void *) ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(text, len, "%s:%u", ip, ntohs(sin->sin_port));
    }
}

void
weir_units_format_addr(const struct sockaddr_storage *ss, char *text,
    size_t len)
{
    addr_text(ss, text, len);
}

int
weir_units_parse_hostport(const char *s, char *host, size_t hostlen,
    unsigned *port)
{
    const char *colon = strrchr(s, ':');
    size_t      hlen;
    in_port_t   nport;

    if (colon == NULL || colon == s) {
        return WEIR_DECLINED;
    }
    hlen = (size_t) (colon - s);
    if (hlen > 253 || hlen >= hostlen || !looks_like_hostname(s, hlen)
        || s[0] == '.' || s[0] == '-' || parse_port(colon + 1, &nport)
        != WEIR_OK) {
        return WEIR_DECLINED;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    *port = ntohs(nport);
    return WEIR_OK;
}

int
weir_units_parse_addr(const char *s, unsigned flags,
    struct sockaddr_storage *ss, socklen_t *len, char *text, size_t textlen,
    char *err, size_t errlen)
{
    char        host[INET6_ADDRSTRLEN + 2];
    const char *colon, *port;
    size_t      hlen;
    in_port_t   nport;
    int         v6 = (s[0] == '[');

    memset(ss, 0, sizeof(*ss));
    if (v6) {
        colon = strstr(s, "]:");
        if (colon == NULL) {
            snprintf(err, errlen, "invalid address \"%s\", expected "
                     "[IPv6]:port", s);
            return WEIR_ERROR;
        }
        hlen = (size_t) (colon - s - 1);
        port = colon + 2;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL && (flags & WEIR_ADDR_LISTEN)) {
            colon = s - 1;     /* a bare port: "8080" */
        } else if (colon == NULL) {
            snprintf(err, errlen, "invalid address \"%s\", expected "
                     "IP:port", s);
            return WEIR_ERROR;
        }
        hlen = colon < s ? 0 : (size_t) (colon - s);
        port = colon + 1;
    }
    if (parse_port(port, &nport) != WEIR_OK) {
        snprintf(err, errlen, "invalid port \"%s\" (expected 1..65535)",
                 port);
        return WEIR_ERROR;
    }
    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "invalid address \"%.*s\"", (int) hlen, s);
        return WEIR_ERROR;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';

    if (!v6 && (flags & WEIR_ADDR_LISTEN)
        && (hlen == 0 || strcmp(host, "*") == 0))
    {
        strcpy(host, "0.0.0.0");
    }
    if (v6) {
        struct sockaddr_in6 *sin6 = (void *) ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(err, errlen, "invalid IPv6 address \"%s\"", host);
            return WEIR_ERROR;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = nport;
        *len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (void *) ss;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            if (looks_like_hostname(host, hlen)) {
                snprintf(err, errlen, "\"%s\": hostname resolution is not "
                         "supported yet, use an IP address", host);
            } else {
                snprintf(err, errlen, "invalid address \"%s\"", host);
            }
            return WEIR_ERROR;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = nport;
        *len = sizeof(*sin);
    }
    addr_text(ss, text, textlen);
    return WEIR_OK;
}

int
weir_units_addr_eq(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) {
        return 0;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *) a, *y = (const void *) b;
        return x->sin6_port == y->sin6_port
               && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    {
        const struct sockaddr_in *x = (const void *) a, *y = (const void *) b;
        return x->sin_port == y->sin_port
               && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
}

int
weir_units_addr_conflict(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) {
        return 0;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *) a, *y = (const void *) b;
        return x->sin6_port == y->sin6_port
               && (memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0
                   || IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr)
                   || IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
    }
    {
        const struct sockaddr_in *x = (const void *) a, *y = (const void *) b;
        return x->sin_port == y->sin_port
               && (x->sin_addr.s_addr == y->sin_addr.s_addr
                   || x->sin_addr.s_addr == htonl(INADDR_ANY)
                   || y->sin_addr.s_addr == htonl(INADDR_ANY));
    }
}
