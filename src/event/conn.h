/*
 * Connections: an fd with its read and write events, owner data, log
 * context and a small transport interface (recv/send/writev/sendfile) so
 * that protocol code never calls the socket or TLS layer directly.
 *
 * A closed connection object is neither freed nor reused before the loop
 * pass that closed it ends: events of that pass may still name it, and
 * find fd -1. Then it is recycled through a free list (or freed past
 * WEIR_CONN_FREE_MAX); each reuse flips the instance bit so that a stale
 * epoll event for a closed-and-reused slot is recognised and dropped
 * (STYLE 17).
 */
#ifndef WEIR_EVENT_CONN_H
#define WEIR_EVENT_CONN_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "core/core.h"
#include "core/log.h"
#include "event/loop.h"

typedef struct weir_conn_s weir_conn_t;
struct weir_listener_s;
struct ssl_st;

/* The peer address of an IP connection: a sockaddr_storage would be 128
 * bytes in every connection, most of them never used. */
typedef union weir_sockaddr_u {
    struct sockaddr     sa;
    struct sockaddr_in  in;
    struct sockaddr_in6 in6;
} weir_sockaddr_t;

typedef ssize_t (*weir_recv_pt)(weir_conn_t *c, char *buf, size_t len);
typedef ssize_t (*weir_writev_pt)(weir_conn_t *c, struct iovec *iov,
    int iovcnt);
typedef ssize_t (*weir_sendfile_pt)(weir_conn_t *c, int fd, off_t *offset,
    size_t len);

struct weir_conn_s {
    int                      fd;
    weir_event_t             read;
    weir_event_t             write;
    void                    *data;         /* protocol state */
    /* the worker's listener it was accepted on (proc/worker.c), or NULL */
    struct weir_listener_s  *listener;
    weir_log_t               log;
    weir_sockaddr_t          sockaddr;
    socklen_t                socklen;
    char                     addr_text[48];
    uint64_t                 number;       /* "*N" in the error log */
    uint64_t                 requests;     /* served on this connection */
    weir_msec_t              start_msec;
    weir_msec_t              last_read_msec; /* bytes last came in */
    /* An upstream connection that began with a PROXY protocol header
     * speaks for one client connection: its number, and only that
     * client's requests may reuse it. 0: shared. */
    uint64_t                 private_to;
    weir_recv_pt             recv;
    weir_writev_pt           writev;
    weir_sendfile_pt         sendfile;
    /* TLS (event/tls.h): the session, and the length of a record
     * OpenSSL took but could not send yet (the next write repeats it) */
    struct ssl_st           *ssl;
    size_t                   tls_pending;
    weir_conn_t             *prev, *next;  /* all-connections list */
    unsigned                 instance:1;
    unsigned                 is_listener:1;
    unsigned                 idle:1;       /* between keep-alive requests */
    unsigned                 close:1;      /* close after this response */
    unsigned                 denied:1;     /* not in the listener's allow */
    unsigned                 internal:1;   /* made by weir itself (a cache
                                              refresh), not a client */
    unsigned                 tls_done:1;   /* handshake finished */
    unsigned                 tls_failed:1; /* no close_notify: broken */
    unsigned                 fin_waits:1;  /* its FIN came with the request:
                                              waiting, not gone */
    unsigned                 tls_drained:1; /* the last socket read was
                                              short: the socket is empty */
};

/* A connection for an accepted or connected fd (non-blocking already).
 * Registers it with the loop. NULL on ENOMEM (fd left open). */
weir_conn_t *weir_conn_get(int fd);

/* Unregister, cancel timers and posted events, close the fd; the object
 * stays readable (fd -1) until the end of the loop pass, then is
 * recycled. */
void weir_conn_close(weir_conn_t *c);

/* Number of open (non-listener) connections and the list of them. */
size_t weir_conn_count(void);
weir_conn_t *weir_conn_first(void);

/* Plain socket transport. recv: >0 bytes, 0 EOF, WEIR_AGAIN, WEIR_ERROR
 * (errno set). writev/sendfile: bytes written, WEIR_AGAIN, WEIR_ERROR. */
ssize_t weir_conn_recv(weir_conn_t *c, char *buf, size_t len);

/* Did the peer's FIN (seen now) come with the bytes it last sent? A
 * client's FIN cannot say "gone" from "done sending, still reading"
 * (nc -N, pipelining clients, fire-and-forget senders); one that follows
 * its request's last bytes within WEIR_FIN_WITH_DATA_MS is taken as sent
 * with them, whether or not the same epoll edge reported both: a read
 * that stops at a short count (plain, or TLS read ahead) may take the
 * bytes while the FIN's edge is still queued. A client that gives up
 * does so after seconds, not milliseconds. */
#define WEIR_FIN_WITH_DATA_MS 20

/* Has a client that waits for its answer gone? Looks without consuming
 * (a peek through the transport): 0 while it is there (bytes, nothing
 * yet, or a FIN that came with the request: fin_with_request, or within
 * WEIR_FIN_WITH_DATA_MS, judged once for the connection), 1 for a FIN
 * that came later, WEIR_ERROR (errno set) for a reset or error. */
int weir_conn_gone(weir_conn_t *c, int fin_with_request);

ssize_t weir_conn_writev(weir_conn_t *c, struct iovec *iov, int iovcnt);
ssize_t weir_conn_sendfile(weir_conn_t *c, int fd, off_t *offset,
    size_t len);

/* Format a socket address as "1.2.3.4:80" / "[::1]:80" (or without the
 * port when with_port is 0). Returns the length. */
size_t weir_sockaddr_text(const struct sockaddr *sa, char *buf, size_t len,
    int with_port);

#endif /* WEIR_EVENT_CONN_H */
