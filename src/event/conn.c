#include "weir_config.h"
#include "event/conn.h"
#include "core/wtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include "event/tls.h"

/* Keep at most this many closed connection objects for reuse: enough to
 * absorb bursts without holding memory after a spike forever. */
#define WEIR_CONN_FREE_MAX 1024

/* Closed connections wait on `closed` until the loop pass ends: the
 * events epoll returned in this pass may still name them (a handler that
 * closes its own connection, or another one: a client and its upstream),
 * and dispatch() must find an object whose fd is -1, not freed or reused
 * memory. Only then do they join the free list or go back to malloc. */
static weir_conn_t *free_list;
static size_t       nfree;
static weir_conn_t *closed;
static weir_conn_t *all_head;
static size_t       nconns;
static uint64_t     conn_number;

static void dispatch(void *ptr, unsigned events);
static void release_closed(void);
static void list_remove(weir_conn_t *c);
static ssize_t write_result(weir_conn_t *c, ssize_t n, size_t want);



weir_conn_t *
weir_conn_get(int fd)
{
    weir_conn_t *c = free_list;
    unsigned     instance;

    if (c) {
        free_list = c->next;
        nfree--;
        instance = !c->instance;
    } else {
        c = malloc(sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
        instance = 0;
    }
    memset(c, 0, sizeof(*c));
    c->instance = instance;
    c->fd = fd;
    c->read.data = c;
    c->write.data = c;
    c->write.write = 1;
    c->log = weir_errlog;
    c->number = ++conn_number;
    c->log.connection = c->number;
    c->recv = weir_conn_recv;
    c->writev = weir_conn_writev;
    c->sendfile = weir_conn_sendfile;
    weir_loop_set_dispatch(dispatch, release_closed);
    if (weir_loop_add(fd, (void *) ((uintptr_t) c | c->instance))
        != WEIR_OK) {
        /* Never registered: no event can name it, reuse it at once. */
        c->fd = -1;
        c->next = free_list;
        free_list = c;
        nfree++;
        return NULL;
    }
    c->next = all_head;
    if (all_head) {
        all_head->prev = c;
    }
    all_head = c;
    nconns++;
    return c;
}

static void
list_remove(weir_conn_t *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        all_head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
    nconns--;
}

void
weir_conn_close(weir_conn_t *c)
{
    if (c->fd < 0) {
        return;
    }
    weir_timer_del(&c->read);
    weir_timer_del(&c->write);
    weir_event_unpost(&c->read);
    weir_event_unpost(&c->write);
    /* close() drops the epoll registration only with the last reference
     * to the open file: enough for an accepted or connected socket (one
     * syscall less per connection), not for a listening socket, which the
     * master and the other workers hold too. Its registration would
     * outlive it and name this object after it is freed. */
    if (c->is_listener) {
        weir_loop_del(c->fd);
    }
    weir_tls_close(c);
    close(c->fd);
    c->fd = -1;
    list_remove(c);
    c->next = closed;
    closed = c;
}

/* The end of a loop pass: no event of this pass can name a closed
 * connection any more. Keep WEIR_CONN_FREE_MAX for reuse, free the rest
 * (a burst's worth of objects goes back to the heap). */
static void
release_closed(void)
{
    weir_conn_t *c;

    while ((c = closed) != NULL) {
        closed = c->next;
        if (nfree < WEIR_CONN_FREE_MAX) {
            c->next = free_list;
            free_list = c;
            nfree++;
        } else {
            free(c);
        }
    }
}

size_t
weir_conn_count(void)
{
    return nconns;
}

weir_conn_t *
weir_conn_first(void)
{
    return all_head;
}

/* epoll hands back the tagged pointer. A connection closed in this pass
 * has fd -1 (its memory is kept until the pass ends: release_closed()).
 * One closed in an earlier pass and reused since has the other instance
 * bit; a registration outlives close() only while another process holds
 * the same socket (a fork), so that check is the second line of defence. */
static void
dispatch(void *ptr, unsigned events)
{
    weir_conn_t *c = (weir_conn_t *) ((uintptr_t) ptr & ~(uintptr_t) 1);
    unsigned     instance = (unsigned) ((uintptr_t) ptr & 1);

    if (c->fd < 0 || c->instance != instance) {
        return;
    }
    if (events & (EPOLLERR | EPOLLHUP)) {
        c->read.error = 1;
        c->write.error = 1;
    }
    if (events & EPOLLRDHUP) {
        c->read.eof = 1;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        c->read.ready = 1;
        c->read.handler(&c->read);
        if (c->fd < 0 || c->instance != instance) {
            return;
        }
    }
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        c->write.ready = 1;
        c->write.handler(&c->write);
    }
}

ssize_t
weir_conn_recv(weir_conn_t *c, char *buf, size_t len)
{
    ssize_t n;

    for (;;) {
        n = recv(c->fd, buf, len, 0);
        if (n >= 0) {
            if (n == 0) {
                c->read.eof = 1;
            } else {
                c->last_read_msec = weir_current_msec;
            }
            /* A short read means the socket is drained (edge-triggered),
             * unless the peer closed: a FIN that came with the data
             * raises no further edge, so stay ready and let the next
             * recv() return the 0 that reports it. */
            if ((size_t) n < len && !(n > 0 && c->read.eof)) {
                c->read.ready = 0;
            }
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->read.ready = 0;
            return WEIR_AGAIN;
        }
        c->read.error = 1;
        return WEIR_ERROR;
    }
}

static int peek(weir_conn_t *c);

int
weir_conn_gone(weir_conn_t *c, int fin_with_request)
{
    int rc = peek(c);

    if (rc == 0 && !c->fin_waits
        && (fin_with_request
            || weir_current_msec - c->last_read_msec
                   <= WEIR_FIN_WITH_DATA_MS))
    {
        c->fin_waits = 1;
    }
    if (rc == 1 || rc == WEIR_AGAIN || (rc == 0 && c->fin_waits)) {
        return 0;
    }
    return rc == 0 ? 1 : WEIR_ERROR;
}

/* What waits on the connection, looked at without taking it from
 * whoever reads next, through the transport: on a TLS
 * connection the peer's close_notify is record bytes, not EOF, so a raw
 * peek would call a closing client one that sent more. Returns 1 when
 * bytes (a body, a pipelined request) wait, 0 at EOF (FIN, or a
 * close_notify), WEIR_AGAIN when nothing came, WEIR_ERROR on a reset or
 * a broken TLS session (errno set). */
static int
peek(weir_conn_t *c)
{
    char    byte;
    ssize_t n;

    if (c->ssl && c->tls_done) {
        return weir_tls_peek(c);
    }
    do {
        n = recv(c->fd, &byte, 1, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? WEIR_AGAIN
                                                       : WEIR_ERROR;
    }
    return n > 0 ? 1 : 0;
}

/* The shared tail of writev/sendfile: n bytes of `want` written, or an
 * errno. Clears write.ready on a short write or EAGAIN (edge-triggered:
 * the next EPOLLOUT edge says when to go on). WEIR_DONE asks the caller
 * to retry at once (EINTR). */
static ssize_t
write_result(weir_conn_t *c, ssize_t n, size_t want)
{
    if (n >= 0) {
        if ((size_t) n < want) {
            c->write.ready = 0;
        }
        return n;
    }
    if (errno == EINTR) {
        return WEIR_DONE;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->write.ready = 0;
        return WEIR_AGAIN;
    }
    c->write.error = 1;
    return WEIR_ERROR;
}

ssize_t
weir_conn_writev(weir_conn_t *c, struct iovec *iov, int iovcnt)
{
    ssize_t n;
    size_t  want = 0;
    int     i;

    for (i = 0; i < iovcnt; i++) {
        want += iov[i].iov_len;
    }
    do {
        n = write_result(c, writev(c->fd, iov, iovcnt), want);
    } while (n == WEIR_DONE);
    return n;
}

ssize_t
weir_conn_sendfile(weir_conn_t *c, int fd, off_t *offset, size_t len)
{
    ssize_t n;

    do {
        n = write_result(c, sendfile(c->fd, fd, offset, len), len);
    } while (n == WEIR_DONE);
    return n;
}

size_t
weir_sockaddr_text(const struct sockaddr *sa, char *buf, size_t len,
    int with_port)
{
    char ip[INET6_ADDRSTRLEN];
    int  n;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        n = with_port ? snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port))
                      : snprintf(buf, len, "%s", ip);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        n = with_port
                ? snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port))
                : snprintf(buf, len, "%s", ip);
    } else if (sa->sa_family == AF_UNIX) {
        n = snprintf(buf, len, "unix:");
    } else {
        n = snprintf(buf, len, "?");
    }
    if (n < 0) {
        return 0;
    }
    return (size_t) n < len ? (size_t) n : len - 1;
}
