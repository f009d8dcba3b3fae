/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2):
 * the header a load balancer puts in front of a connection to say whose
 * connection it relays. Pure functions over bytes, like the HTTP parsers:
 * parsing what a trusted balancer sends to a `proxy_protocol` listener,
 * and building what weir sends in front of a new upstream connection
 * (`proxy_protocol = v1|v2`). The connection handling lives with its
 * callers (request_proxy_protocol.c, the proxy).
 */
#ifndef WEIR_HTTP_PROXY_PROTOCOL_H
#define WEIR_HTTP_PROXY_PROTOCOL_H

#include <stddef.h>
#include <sys/socket.h>
#include "core/core.h"
#include "event/conn.h"

/* The longest v1 line a receiver must take, CRLF included (spec 2.1). */
#define WEIR_PROXY_PROTOCOL_V1_MAX   107
/* The v2 header before the address block: signature, version and
 * command, family and protocol, length. */
#define WEIR_PROXY_PROTOCOL_V2_HEAD  16
/* Room for any header weir_proxy_protocol_build() writes (a v1 TCP6
 * line is the longest: 104 bytes; v2 over IPv6: 52). */
#define WEIR_PROXY_PROTOCOL_OUT_MAX  108

typedef struct weir_proxy_protocol_s {
    int             version;    /* 1 or 2 */
    /* Keep the socket's own addresses: v1 UNKNOWN, v2 LOCAL, and v2
     * PROXY with an unspecified family or protocol, UDP or AF_UNIX (the
     * spec lets a receiver fall back to the real endpoints there). */
    unsigned        local:1;
    weir_sockaddr_t src, dst;   /* the relayed connection, when !local */
    socklen_t       srclen, dstlen;
    /* WEIR_OK: the header's length (the bytes to skip). WEIR_AGAIN: the
     * length it will have when already known (v2), else 0. */
    size_t          len;
    const char     *error;      /* WEIR_ERROR: why the header is refused */
} weir_proxy_protocol_t;

/* Parse the header at the start of buf[0..len). WEIR_OK (pp filled,
 * pp->len bytes form the header; what follows is the application's),
 * WEIR_AGAIN (a valid beginning: call again with more bytes from the same
 * start) or WEIR_ERROR (pp->error says why). Bytes that cannot begin a
 * header are refused at once, not waited on: the spec forbids guessing. */
int weir_proxy_protocol_parse(const char *buf, size_t len,
    weir_proxy_protocol_t *pp);

/* Write a version 1 or 2 header for a connection from src to dst into
 * buf (size bytes, WEIR_PROXY_PROTOCOL_OUT_MAX is enough) and set *len.
 * IPv4 against IPv6 goes as IPv6 (v4-mapped); other families as v1
 * UNKNOWN / v2 LOCAL. WEIR_OK, or WEIR_ERROR (bad version, no room). */
int weir_proxy_protocol_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, char *buf, size_t size, size_t *len);

#endif /* WEIR_HTTP_PROXY_PROTOCOL_H */
