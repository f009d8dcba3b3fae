#include "weir_config.h"
#include "event/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "event/conn.h"

static int open_socket(const weir_listen_want_t *w, char *err, size_t errlen);
static weir_listen_sock_t *find(const weir_listen_group_t *g,
    const struct sockaddr *addr, socklen_t addrlen, int slot);

int
weir_sockaddr_equal(const struct sockaddr *a, socklen_t alen,
    const struct sockaddr *b, socklen_t blen)
{
    if (a->sa_family != b->sa_family) {
        return 0;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *) a, *y = (const void *) b;
        return x->sin_port == y->sin_port
               && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *) a, *y = (const void *) b;
        return x->sin6_port == y->sin6_port
               && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    return alen == blen && memcmp(a, b, alen) == 0;
}

static weir_listen_sock_t *
find(const weir_listen_group_t *g, const struct sockaddr *addr,
    socklen_t addrlen, int slot)
{
    size_t i;

    for (i = 0; i < g->n; i++) {
        if (g->socks[i].slot == slot
            && weir_sockaddr_equal((const struct sockaddr *) &g->socks[i].addr,
                                   g->socks[i].addrlen, addr, addrlen)) {
            return &g->socks[i];
        }
    }
    return NULL;
}

int
weir_listen_group_next(const weir_listen_group_t *g,
    const struct sockaddr *addr, socklen_t addrlen, int owner, size_t *pos)
{
    const weir_listen_sock_t *s;

    for (; *pos < g->n; (*pos)++) {
        s = &g->socks[*pos];
        if (s->owner == owner
            && weir_sockaddr_equal((const struct sockaddr *) &s->addr,
                                   s->addrlen, addr, addrlen)) {
            (*pos)++;
            return s->fd;
        }
    }
    return -1;
}

static int
open_socket(const weir_listen_want_t *w, char *err, size_t errlen)
{
    int fd, on = 1;

    fd = socket(w->addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        snprintf(err, errlen, "socket() for %s failed: %s", w->text,
                 strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) {
        snprintf(err, errlen, "setsockopt(SO_REUSEPORT) for %s failed: %s",
                 w->text, strerror(errno));
        close(fd);
        return -1;
    }
    if (w->addr->sa_family == AF_INET6) {
        /* "[::]:80" means IPv6 only, so that "0.0.0.0:80" can coexist. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    }
    if (bind(fd, w->addr, w->addrlen) < 0) {
        snprintf(err, errlen, "bind() to %s failed: %s", w->text,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, w->backlog > 0 ? w->backlog : 511) < 0) {
        snprintf(err, errlen, "listen() on %s failed: %s", w->text,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int
weir_listen_group_sync(weir_listen_group_t *g, const weir_listen_want_t *want,
    size_t nwant, int nslots, char *err, size_t errlen)
{
    if (weir_listen_group_prepare(g, want, nwant, nslots, err, errlen)
        != WEIR_OK) {
        return WEIR_ERROR;
    }
    weir_listen_group_commit(g);
    return WEIR_OK;
}

int
weir_listen_group_prepare(weir_listen_group_t *g,
    const weir_listen_want_t *want, size_t nwant, int nslots, char *err,
    size_t errlen)
{
    weir_listen_sock_t *socks, *old;
    size_t              i, j, n = 0, total = nwant * (size_t) nslots + g->n;
    int                 slot;

    if (g->prev) {
        snprintf(err, errlen, "listener change already pending");
        return WEIR_ERROR;
    }
    socks = calloc(total ? total : 1, sizeof(*socks));
    if (socks == NULL) {
        snprintf(err, errlen, "out of memory");
        return WEIR_ERROR;
    }
    for (i = 0; i < g->n; i++) {
        g->socks[i].keep = 0;
    }
    for (i = 0; i < nwant; i++) {
        for (slot = 0; slot < nslots; slot++) {
            weir_listen_sock_t *s = &socks[n++];

            memcpy(&s->addr, want[i].addr, want[i].addrlen);
            s->addrlen = want[i].addrlen;
            snprintf(s->text, sizeof(s->text), "%s", want[i].text);
            s->backlog = want[i].backlog;
            s->slot = slot;
            s->owner = slot;
            old = find(g, want[i].addr, want[i].addrlen, slot);
            if (old && !old->keep) {
                old->keep = 1;
                s->fd = old->fd;
                continue;
            }
            s->fd = open_socket(&want[i], err, errlen);
            if (s->fd < 0) {
                goto failed;
            }
            s->fresh = 1;
        }
    }
    /* Fewer slots than before: the surplus sockets of wanted addresses
     * may hold queued connections, so a remaining slot takes them over. */
    for (i = 0; i < g->n; i++) {
        old = &g->socks[i];
        if (old->keep || old->slot < nslots || nslots < 1) {
            continue;
        }
        for (j = 0; j < nwant; j++) {
            if (weir_sockaddr_equal((const struct sockaddr *) &old->addr,
                                    old->addrlen, want[j].addr,
                                    want[j].addrlen)) {
                socks[n] = *old;
                socks[n].owner = old->slot % nslots;
                old->keep = 1;
                n++;
                break;
            }
        }
    }
    g->prev = g->socks;
    g->nprev = g->n;
    g->socks = socks;
    g->n = n;
    return WEIR_OK;

failed:
    for (i = 0; i < n; i++) {
        if (socks[i].fresh) {
            close(socks[i].fd);
        }
    }
    for (i = 0; i < g->n; i++) {
        g->socks[i].keep = 0;
    }
    free(socks);
    return WEIR_ERROR;
}

void
weir_listen_group_commit(weir_listen_group_t *g)
{
    size_t i;

    if (g->prev == NULL) {
        return;
    }
    for (i = 0; i < g->nprev; i++) {
        if (!g->prev[i].keep) {
            close(g->prev[i].fd);
        }
    }
    for (i = 0; i < g->n; i++) {
        g->socks[i].keep = 0;
        g->socks[i].fresh = 0;
    }
    free(g->prev);
    g->prev = NULL;
    g->nprev = 0;
}

void
weir_listen_group_abort(weir_listen_group_t *g)
{
    size_t i;

    if (g->prev == NULL) {
        return;
    }
    for (i = 0; i < g->n; i++) {
        if (g->socks[i].fresh) {
            close(g->socks[i].fd);
        }
    }
    free(g->socks);
    g->socks = g->prev;
    g->n = g->nprev;
    for (i = 0; i < g->n; i++) {
        g->socks[i].keep = 0;
    }
    g->prev = NULL;
    g->nprev = 0;
}

void
weir_listen_group_close(weir_listen_group_t *g)
{
    size_t i;

    weir_listen_group_commit(g);
    for (i = 0; i < g->n; i++) {
        close(g->socks[i].fd);
    }
    free(g->socks);
    g->socks = NULL;
    g->n = 0;
}

void
weir_listen_group_close_owner(weir_listen_group_t *g, int owner)
{
    size_t i, kept = 0;

    for (i = 0; i < g->n; i++) {
        if (g->socks[i].owner == owner) {
            close(g->socks[i].fd);
            continue;
        }
        g->socks[kept++] = g->socks[i];
    }
    g->n = kept;
}

int
weir_listen_group_adopt(weir_listen_group_t *g, int fd, int slot, char *err,
    size_t errlen)
{
    weir_listen_sock_t *socks, *s;
    int                 on = 0, type = 0;
    socklen_t           olen = sizeof(on), tlen = sizeof(type);
    struct sockaddr_storage ss;
    socklen_t           sslen = sizeof(ss);

    if (g->prev) {
        snprintf(err, errlen, "listener change already pending");
        return WEIR_ERROR;
    }
    /* Anything else at that number (a stale variable, a typo) must not
     * be taken for a listener and closed or accepted on. */
    if (fd < 0 || slot < 0
        || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) < 0
        || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0
        || !on || type != SOCK_STREAM
        || getsockname(fd, (struct sockaddr *) &ss, &sslen) < 0
        || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
    {
        snprintf(err, errlen, "fd %d is not a listening TCP socket", fd);
        return WEIR_ERROR;
    }
    socks = realloc(g->socks, (g->n + 1) * sizeof(*socks));
    if (socks == NULL) {
        snprintf(err, errlen, "out of memory");
        return WEIR_ERROR;
    }
    g->socks = socks;
    s = &socks[g->n++];
    memset(s, 0, sizeof(*s));
    memcpy(&s->addr, &ss, sslen);
    s->addrlen = sslen;
    (void) weir_sockaddr_text((struct sockaddr *) &ss, s->text,
                              sizeof(s->text), 1);
    s->slot = slot;
    s->owner = slot;
    s->fd = fd;
    (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return WEIR_OK;
}
