#include "weir_config.h"
#include "core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"

int
weir_cidr_parse(const char *s, weir_cidr_t *out)
{
    char        ip[INET6_ADDRSTRLEN], *end;
    const char *slash = strchr(s, '/');
    size_t      len = slash ? (size_t) (slash - s) : strlen(s);
    long        bits;
    int         max, i;

    if (len == 0 || len >= sizeof(ip)) {
        return WEIR_ERROR;
    }
    memcpy(ip, s, len);
    ip[len] = '\0';
    memset(out, 0, sizeof(*out));
    out->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(out->family, ip, out->addr) != 1) {
        return WEIR_ERROR;
    }
    max = out->family == AF_INET6 ? 128 : 32;
    bits = max;
    if (slash) {
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || bits < 0 || bits > max) {
            return WEIR_ERROR;
        }
    }
    out->bits = (int) bits;
    /* Clear the host bits so that matching is a plain compare. */
    for (i = 0; i < max / 8; i++) {
        int keep = (int) bits - i * 8;
        if (keep <= 0) {
            out->addr[i] = 0;
        } else if (keep < 8) {
            out->addr[i] &= (unsigned char) (0xff << (8 - keep));
        }
    }
    return WEIR_OK;
}

static int
prefix_eq(const unsigned char *a, const unsigned char *net, int bits)
{
    int full = bits / 8, rest = bits % 8;

    if (memcmp(a, net, (size_t) full) != 0) {
        return 0;
    }
    return rest == 0
           || ((a[full] ^ net[full]) & (unsigned char) (0xff << (8 - rest)))
              == 0;
}

int
weir_cidr_match(const weir_cidr_t *list, size_t n, const struct sockaddr *sa)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                              0xff, 0xff };
    const unsigned char *a4 = NULL, *a6 = NULL;
    size_t               i;

    if (sa->sa_family == AF_INET) {
        a4 = (const unsigned char *)
             &((const struct sockaddr_in *) (const void *) sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        a6 = ((const struct sockaddr_in6 *) (const void *) sa)
                 ->sin6_addr.s6_addr;
        if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
            a4 = a6 + 12;
        }
    } else {
        return 0;
    }
    for (i = 0; i < n; i++) {
        const unsigned char *a = list[i].family == AF_INET ? a4 : a6;
        if (a && prefix_eq(a, list[i].addr, list[i].bits)) {
            return 1;
        }
    }
    return 0;
}
