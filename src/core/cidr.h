/*
 * Address ranges ("10.0.0.0/8", "::1/128", "192.0.2.7") for access
 * lists: the admin listener's `allow`, and routes' allow and deny.
 */
#ifndef WEIR_CORE_CIDR_H
#define WEIR_CORE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct weir_cidr_s {
    int           family;      /* AF_INET or AF_INET6 */
    unsigned char addr[16];    /* network order, host bits cleared */
    int           bits;        /* prefix length */
} weir_cidr_t;

/* Parse "ADDR[/BITS]" (a bare address is one host). WEIR_OK or
 * WEIR_ERROR (not an address, or BITS out of range). */
int weir_cidr_parse(const char *s, weir_cidr_t *out);

/* Is the socket address in one of the ranges? An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) matches IPv4 ranges as a.b.c.d. */
int weir_cidr_match(const weir_cidr_t *list, size_t n,
    const struct sockaddr *sa);

#endif /* WEIR_CORE_CIDR_H */
