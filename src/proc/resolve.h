/*
 * Host names of upstream peers, resolved when a configuration is loaded
 * (start, reload, weir -t): getaddrinfo() in a child process, so that the
 * caller can bound the time it waits however the system resolver is set
 * up (a blocking getaddrinfo() has no timeout of its own).
 */
#ifndef WEIR_PROC_RESOLVE_H
#define WEIR_PROC_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>
#include "core/core.h"

/* The most addresses one name gives (more are ignored, in the order
 * getaddrinfo returns them). */
#define WEIR_RESOLVE_MAX  16

/* The time one load may spend resolving upstream host names, all names
 * together: a start or a reload waits at most this long for DNS (and a
 * re-resolution in the background is given as long). */
#define WEIR_RESOLVE_TOTAL_MS  10000

/* The shortest `resolve` interval of an [upstream] (0 turns it off):
 * each round forks a child. */
#define WEIR_RESOLVE_MIN_MS  1000

/* Every TCP address of host (IPv4 and IPv6, duplicates dropped) with
 * port set, into out[0..*n). WEIR_OK; WEIR_ERROR with a reason in err
 * (the resolver's message, or "timed out after N ms"); the child is
 * killed and reaped after timeout_ms. Called by the master with its
 * signals blocked: the child is reaped here, never by its reap(). */
int weir_resolve(const char *host, unsigned port, int timeout_ms,
    struct sockaddr_storage *out, size_t *n, char *err, size_t errlen);

#endif /* WEIR_PROC_RESOLVE_H */
