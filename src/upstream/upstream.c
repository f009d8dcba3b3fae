#include "weir_config.h"
#include "upstream/upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"
#include "event/tls.h"
#include "upstream/breaker.h"

/* A pooled connection: the idle handler's context (c->data). */
struct weir_upstream_idle_s {
    weir_conn_t          *c;
    weir_peer_t          *peer;
    weir_upstream_idle_t *next;
};

#define RING_POINTS   100      /* per unit of weight */
#define QUEUE_POLL_MS 10       /* other workers free peers too: look again */

static weir_upstream_t *upstreams;
static size_t           nupstreams;

static int init_one(weir_upstream_t *u, weir_upstream_conf_t *conf);
static int build_ring(weir_upstream_t *u);
static void queue_handler(weir_event_t *ev);
static void queue_arm(weir_upstream_t *u);
static void idle_handler(weir_event_t *ev);
static void idle_remove(weir_upstream_idle_t *e);
static weir_conn_t *take_idle(weir_upstream_idle_t *e);

int
weir_upstream_init(weir_upstream_conf_t *const *confs, size_t n)
{
    size_t i;

    upstreams = calloc(n ? n : 1, sizeof(*upstreams));
    if (upstreams == NULL) {
        return WEIR_ERROR;
    }
    for (i = 0; i < n; i++) {
        if (init_one(&upstreams[i], confs[i]) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    nupstreams = n;
    return WEIR_OK;
}

static int
init_one(weir_upstream_t *u, weir_upstream_conf_t *conf)
{
    size_t j, nkeep = (size_t) conf->keepalive;

    u->conf = conf;
    if (conf->state == NULL) {
        conf->state = weir_upstream_state_private();
    }
    u->st = conf->state;
    u->npeers = conf->npeers;
    u->peers = calloc(u->npeers ? u->npeers : 1, sizeof(*u->peers));
    if (u->st == NULL || u->peers == NULL) {
        return WEIR_ERROR;
    }
    for (j = 0; j < u->npeers; j++) {
        weir_peer_conf_t *pc = &conf->peers[j];

        if (pc->state == NULL) {
            pc->state = weir_peer_state_private();
            if (pc->state == NULL) {
                return WEIR_ERROR;
            }
        }
        u->peers[j].conf = pc;
        u->peers[j].st = pc->state;
        u->peers[j].up = u;
    }
    /* Pool entries for the whole keepalive limit, made once. */
    for (j = 0; j < nkeep; j++) {
        weir_upstream_idle_t *e = calloc(1, sizeof(*e));
        if (e == NULL) {
            return WEIR_ERROR;
        }
        e->next = u->idle_free;
        u->idle_free = e;
    }
    u->queue_ev.data = u;
    u->queue_ev.handler = queue_handler;
    return conf->balance == WEIR_BALANCE_HASH ? build_ring(u) : WEIR_OK;
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

/* ---- state ------------------------------------------------------------------ */

int
weir_upstream_admit(const weir_peer_t *p)
{
    if (p->conf->down
        || !atomic_load_explicit(&p->st->health, memory_order_relaxed)) {
        return 0;
    }
    return weir_breaker_admit(p->up->conf, p->conf, 0);
}

int
weir_upstream_usable(const weir_peer_t *p)
{
    return weir_upstream_admit(p) != 0;
}

int
weir_upstream_weight(const weir_peer_t *p)
{
    weir_msec_t ramp = p->up->conf->slow_start, since, t;
    int         w = p->conf->weight * 100;

    if (ramp <= 0) {
        return w;
    }
    since = atomic_load_explicit(&p->st->usable_since, memory_order_relaxed);
    t = weir_current_msec - since;
    if (since == 0 || t >= ramp) {
        return w;
    }
    /* A peer just back gets a share growing linearly over slow_start,
     * from a trickle: enough to see it works, not enough to bury it. */
    return weir_max(1, (int) ((int64_t) w * weir_max(t, 0) / ramp));
}

void
weir_upstream_take(weir_peer_t *p)
{
    weir_peer_inflight_add(p->st, 1);
    weir_stat_add(&weir_peer_stats(p->st)->requests, 1);
}

void
weir_upstream_done(weir_peer_t *p)
{
    weir_peer_inflight_add(p->st, -1);
    if (p->up->queued) {
        weir_event_post(&p->up->queue_ev);
    }
}

uint64_t
weir_upstream_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t   i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) key[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's high bits mix poorly for short keys: finish like splitmix. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static int
cmp_point(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

/* Points on the ring are placed by the peer's address and a point
 * number, so a peer keeps its points whatever else is in the list. */
static int
build_ring(weir_upstream_t *u)
{
    uint64_t *pts;
    size_t    n = 0, i, j, k;
    char      key[96];
    int       len;

    for (i = 0; i < u->npeers; i++) {
        n += (size_t) u->peers[i].conf->weight * RING_POINTS;
    }
    pts = malloc(n * sizeof(*pts));
    u->ring_hash = malloc(n * sizeof(*u->ring_hash));
    u->ring_peer = malloc(n * sizeof(*u->ring_peer));
    if (pts == NULL || u->ring_hash == NULL || u->ring_peer == NULL) {
        free(pts);
        return WEIR_ERROR;
    }
    k = 0;
    for (i = 0; i < u->npeers; i++) {
        for (j = 0; j < (size_t) u->peers[i].conf->weight * RING_POINTS; j++) {
            len = snprintf(key, sizeof(key), "%s#%zu", u->peers[i].conf->text,
                           j);
            if (len < 0 || (size_t) len >= sizeof(key)) {
                len = (int) sizeof(key) - 1;
            }
            /* the point's hash in the high 32 bits, the peer below */
            pts[k++] = (weir_upstream_hash(key, (size_t) len)
                        & 0xffffffff00000000ULL) | i;
        }
    }
    qsort(pts, n, sizeof(*pts), cmp_point);
    for (k = 0; k < n; k++) {
        u->ring_hash[k] = (uint32_t) (pts[k] >> 32);
        u->ring_peer[k] = (uint16_t) (pts[k] & 0xffff);
    }
    u->nring = n;
    free(pts);
    return WEIR_OK;
}

/* ---- queue for max_conns ------------------------------------------------------ */

void
weir_upstream_enqueue(weir_upstream_t *u, weir_upstream_waiter_t *w)
{
    w->next = NULL;
    w->prev = u->queue_tail;
    if (u->queue_tail) {
        u->queue_tail->next = w;
    } else {
        u->queue_head = w;
    }
    u->queue_tail = w;
    w->queued = 1;
    u->queued++;
    queue_arm(u);
}

void
weir_upstream_dequeue(weir_upstream_t *u, weir_upstream_waiter_t *w)
{
    if (!w->queued) {
        return;
    }
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        u->queue_head = w->next;
    }
    if (w->next) {
        w->next->prev = w->prev;
    } else {
        u->queue_tail = w->prev;
    }
    w->next = w->prev = NULL;
    w->queued = 0;
    u->queued--;
    if (u->queued == 0) {
        weir_timer_del(&u->queue_ev);
        weir_event_unpost(&u->queue_ev);
    }
}

/* Look again soon: a peer of this upstream may be freed by another
 * worker, which cannot wake this one. Sooner if a deadline is nearer. */
static void
queue_arm(weir_upstream_t *u)
{
    weir_msec_t t = QUEUE_POLL_MS;

    if (u->queue_head) {
        t = weir_min(t, weir_max(u->queue_head->deadline - weir_current_msec,
                                 0));
    }
    weir_timer_add(&u->queue_ev, t);
}

/* In order: time out the expired, then offer the others a peer, oldest
 * first, until one still finds none (the rest would find the same); it
 * goes back to the head. */
static void
queue_handler(weir_event_t *ev)
{
    weir_upstream_t        *u = ev->data;
    weir_upstream_waiter_t *w, *next;
    size_t                  n;

    ev->timedout = 0;
    for (w = u->queue_head; w; w = next) {
        next = w->next;
        if (w->deadline <= weir_current_msec) {
            weir_upstream_dequeue(u, w);
            w->wake(w, 0);
        }
    }
    for (n = u->queued; n > 0 && u->queue_head; n--) {
        w = u->queue_head;
        weir_upstream_dequeue(u, w);
        if (!w->wake(w, 1)) {
            w->prev = NULL;
            w->next = u->queue_head;
            if (u->queue_head) {
                u->queue_head->prev = w;
            } else {
                u->queue_tail = w;
            }
            u->queue_head = w;
            w->queued = 1;
            u->queued++;
            break;
        }
    }
    if (u->queued) {
        queue_arm(u);
    }
}

/* ---- keep-alive pool ------------------------------------------------------- */

static void
idle_remove(weir_upstream_idle_t *e)
{
    weir_peer_t           *p = e->peer;
    weir_upstream_idle_t **pp;

    for (pp = &p->idle; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            p->nidle--;
            p->up->nidle--;
            e->c->data = NULL;
            e->c = NULL;
            e->next = p->up->idle_free;
            p->up->idle_free = e;
            return;
        }
    }
}

/* Input on an idle pooled connection is the peer closing it (or garbage
 * we must not mistake for the next response): drop it either way. */
static void
idle_handler(weir_event_t *ev)
{
    weir_conn_t          *c = ev->data;
    weir_upstream_idle_t *e = c->data;

    if (ev->write && !ev->timedout) {
        return;
    }
    idle_remove(e);
    weir_conn_close(c);
}

static weir_conn_t *
take_idle(weir_upstream_idle_t *e)
{
    weir_conn_t *c = e->c;

    idle_remove(e);
    weir_timer_del(&c->read);
    c->idle = 0;
    return c;
}

weir_conn_t *
weir_upstream_keepalive_get(weir_peer_t *p)
{
    return p->idle ? take_idle(p->idle) : NULL;
}

weir_conn_t *
weir_upstream_keepalive_get_private(weir_peer_t *p, uint64_t owner)
{
    weir_upstream_idle_t *e;

    for (e = p->idle; e && e->c->private_to != owner; e = e->next) {
        /* the most recently pooled first, as in get */
    }
    return e ? take_idle(e) : NULL;
}

void
weir_upstream_keepalive_put(weir_peer_t *p, weir_conn_t *c,
    weir_msec_t idle_ms)
{
    weir_upstream_t      *u = p->up;
    weir_upstream_idle_t *e = u->idle_free;

    if (idle_ms <= 0 || e == NULL) {
        weir_conn_close(c);
        return;
    }
    u->idle_free = e->next;
    e->c = c;
    e->peer = p;
    e->next = p->idle;
    p->idle = e;
    p->nidle++;
    u->nidle++;
    c->idle = 1;
    c->data = e;
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

/* SNI and the name the certificate must carry: tls_name, else the host
 * name the server line gave ("app.internal:8443"), else the peer's
 * address (checked against the certificate's IP addresses, and no SNI is
 * sent for it). */
int
weir_upstream_tls_start(weir_conn_t *c, const weir_upstream_conf_t *u,
    const weir_peer_conf_t *pc, weir_tls_session_t *slot)
{
    const char *text = pc->host ? pc->host : pc->text, *end;
    char        host[256];
    size_t      len;
    int         rc;

    if (u->tls_name) {
        rc = weir_tls_connect(c, u->tls_ctx, u->tls_name, u->tls_name);
        goto started;
    }
    if (*text == '[') {
        text++;
        end = strchr(text, ']');
    } else {
        end = strrchr(text, ':');
    }
    len = end ? (size_t) (end - text) : strlen(text);
    if (len >= sizeof(host)) {
        return WEIR_ERROR;
    }
    memcpy(host, text, len);
    host[len] = '\0';
    rc = weir_tls_connect(c, u->tls_ctx, pc->host ? host : NULL, host);

started:
    /* the slot is per peer, and a peer has one address and one SNI name
     * under this upstream's context: what it holds fits this connection */
    if (rc == WEIR_OK && slot != NULL && u->tls_session_reuse) {
        weir_tls_session_offer(c, slot);
    }
    return rc;
}
