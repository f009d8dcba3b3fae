#include "weir_config.h"
#include "upstream/upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"

static weir_upstream_t *upstreams;
static size_t           nupstreams;

static int usable(const weir_peer_t *p);
static weir_peer_t *pick_among(weir_upstream_t *u, weir_peer_t **tried,
    size_t ntried, int backup, int panic);
static void idle_handler(weir_event_t *ev);
static void idle_remove(weir_peer_t *p, weir_conn_t *c);

int
weir_upstream_init(weir_upstream_conf_t *const *confs, size_t n)
{
    size_t i, j;

    upstreams = calloc(n ? n : 1, sizeof(*upstreams));
    if (upstreams == NULL) {
        return WEIR_ERROR;
    }
    for (i = 0; i < n; i++) {
        weir_upstream_t *u = &upstreams[i];

        u->conf = confs[i];
        u->npeers = confs[i]->npeers;
        u->peers = calloc(u->npeers ? u->npeers : 1, sizeof(*u->peers));
        if (u->peers == NULL) {
            return WEIR_ERROR;
        }
        for (j = 0; j < u->npeers; j++) {
            u->peers[j].conf = &confs[i]->peers[j];
            u->peers[j].up = u;
        }
    }
    nupstreams = n;
    return WEIR_OK;
}

weir_upstream_t *
weir_upstream_get(const weir_upstream_conf_t *conf)
{
    size_t i;

    for (i = 0; i < nupstreams; i++) {
        if (upstreams[i].conf == conf) {
            return &upstreams[i];
        }
    }
    return NULL;
}

static int
usable(const weir_peer_t *p)
{
    return !p->conf->down
           && (p->down_until == 0 || p->down_until <= weir_current_msec);
}

/* Smooth weighted round robin: every candidate gains its weight, the
 * largest wins and pays the total. Spreads picks evenly in time. */
static weir_peer_t *
pick_among(weir_upstream_t *u, weir_peer_t **tried, size_t ntried, int backup,
    int panic)
{
    weir_peer_t *best = NULL, *p;
    int          total = 0;
    size_t       i, k;

    for (i = 0; i < u->npeers; i++) {
        p = &u->peers[i];
        if ((int) p->conf->backup != backup || p->conf->down) {
            continue;
        }
        if (!panic && !usable(p)) {
            continue;
        }
        for (k = 0; k < ntried; k++) {
            if (tried[k] == p) {
                break;
            }
        }
        if (k < ntried) {
            continue;
        }
        p->current_weight += p->conf->weight;
        total += p->conf->weight;
        if (best == NULL || p->current_weight > best->current_weight) {
            best = p;
        }
    }
    if (best) {
        best->current_weight -= total;
    }
    return best;
}

weir_peer_t *
weir_upstream_pick(weir_upstream_t *u, weir_peer_t **tried, size_t ntried)
{
    weir_peer_t *p;

    p = pick_among(u, tried, ntried, 0, 0);
    if (p == NULL) {
        p = pick_among(u, tried, ntried, 1, 0);
    }
    if (p == NULL) {
        /* Everything left is marked down: a chance beats a certain 503. */
        p = pick_among(u, tried, ntried, 0, 1);
    }
    if (p == NULL) {
        p = pick_among(u, tried, ntried, 1, 1);
    }
    return p;
}

int
weir_upstream_pick_possible(weir_upstream_t *u, weir_peer_t **tried,
    size_t ntried)
{
    size_t i, k;

    for (i = 0; i < u->npeers; i++) {
        if (u->peers[i].conf->down) {
            continue;
        }
        for (k = 0; k < ntried; k++) {
            if (tried[k] == &u->peers[i]) {
                break;
            }
        }
        if (k == ntried) {
            return 1;
        }
    }
    return 0;
}

void
weir_upstream_peer_failed(weir_peer_t *p)
{
    const weir_upstream_conf_t *uc = p->up->conf;
    /* The loader resolved the server line's values against the
     * upstream's: max_fails=0 means never mark this peer down. */
    int          max_fails = p->conf->max_fails;
    weir_msec_t  window = p->conf->fail_timeout;

    if (p->fails == 0 || weir_current_msec - p->first_fail > window) {
        p->fails = 0;
        p->first_fail = weir_current_msec;
    }
    p->fails++;
    if (max_fails > 0 && p->fails >= max_fails) {
        p->down_until = weir_current_msec + window;
        p->fails = 0;
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "upstream \"%s\" peer %s marked down for %lld ms after "
                       "%d failures", uc->name, p->conf->text,
                       (long long) window, max_fails);
    }
}

void
weir_upstream_peer_ok(weir_peer_t *p)
{
    p->fails = 0;
    p->down_until = 0;
}

/* ---- keep-alive pool ------------------------------------------------------- */

static void
idle_remove(weir_peer_t *p, weir_conn_t *c)
{
    weir_conn_t **pp;

    for (pp = &p->idle; *pp; pp = (weir_conn_t **) &(*pp)->data) {
        if (*pp == c) {
            *pp = c->data;
            p->nidle--;
            p->up->nidle--;
            return;
        }
    }
}

/* Input on an idle pooled connection is the peer closing it (or garbage
 * we must not mistake for the next response): drop it either way. */
static void
idle_handler(weir_event_t *ev)
{
    weir_conn_t *c = ev->data;
    weir_peer_t *p = c->listener;

    if (ev->write && !ev->timedout) {
        return;
    }
    idle_remove(p, c);
    weir_conn_close(c);
}

weir_conn_t *
weir_upstream_keepalive_get(weir_peer_t *p)
{
    weir_conn_t *c = p->idle;

    if (c == NULL) {
        return NULL;
    }
    p->idle = c->data;
    p->nidle--;
    p->up->nidle--;
    c->data = NULL;
    c->listener = NULL;
    weir_timer_del(&c->read);
    c->idle = 0;
    return c;
}

weir_conn_t *
weir_upstream_keepalive_get_private(weir_peer_t *p, uint64_t owner)
{
    weir_conn_t *c;

    for (c = p->idle; c && c->private_to != owner; c = c->data) {
        /* the most recently pooled first, as in get */
    }
    if (c == NULL) {
        return NULL;
    }
    /* Bring it to the head of the list, then take it the usual way. */
    idle_remove(p, c);
    c->data = p->idle;
    p->idle = c;
    p->nidle++;
    p->up->nidle++;
    return weir_upstream_keepalive_get(p);
}

void
weir_upstream_keepalive_put(weir_peer_t *p, weir_conn_t *c,
    weir_msec_t idle_ms)
{
    if (idle_ms <= 0 || p->up->nidle >= (size_t) p->up->conf->keepalive) {
        weir_conn_close(c);
        return;
    }
    c->idle = 1;
    c->listener = p;          /* the owner while pooled */
    c->data = p->idle;        /* the idle list link */
    p->idle = c;
    p->nidle++;
    p->up->nidle++;
    c->read.handler = idle_handler;
    c->write.handler = idle_handler;
    c->log.action = "keeping upstream connection alive";
    weir_timer_del(&c->write);
    weir_timer_add(&c->read, idle_ms);
    if (c->read.ready || c->read.eof) {
        weir_event_post(&c->read);
    }
}

void
weir_upstream_keepalive_close_all(void)
{
    size_t       i, j;
    weir_conn_t *c;

    for (i = 0; i < nupstreams; i++) {
        for (j = 0; j < upstreams[i].npeers; j++) {
            while ((c = weir_upstream_keepalive_get(&upstreams[i].peers[j]))) {
                weir_conn_close(c);
            }
        }
    }
}

weir_conn_t *
weir_upstream_connect(weir_peer_t *p)
{
    weir_conn_t *c;
    int          fd, on = 1, rc;

    fd = socket(p->conf->addr.ss_family,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    do {
        rc = connect(fd, (const struct sockaddr *) &p->conf->addr,
                     p->conf->addrlen);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    c = weir_conn_get(fd);
    if (c == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->log.connection = 0;
    c->start_msec = weir_current_msec;
    c->socklen = weir_min(p->conf->addrlen, (socklen_t) sizeof(c->sockaddr));
    memcpy(&c->sockaddr, &p->conf->addr, c->socklen);
    return c;
}
