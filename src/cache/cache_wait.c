#include "weir_config.h"
#include "cache/cache-t.h"

#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/log.h"
#include "core/sbuf.h"
#include "core/str.h"
#include "core/wtime.h"

/*
 * Requests that wait for a fill another request holds, in this worker or
 * any other. The filler writes a temp file named by the fill; a waiter
 * watches that file with inotify (one inotify descriptor per worker, in
 * its event loop, open only while someone waits), so the kernel wakes it
 * when the file grows, is renamed into place or is unlinked: no polling,
 * and nothing for the filler to know about its waiters. On a wake-up the
 * waiter reads the fill's state in the shared index; once the fill is
 * over it looks the key up again (a hit, or its own fill if the other
 * one failed). Past lock_timeout it goes to the origin uncached.
 *
 * And background refreshes: an internal request on a socketpair, made of
 * the client's request, goes through the ordinary path (lookup, fill
 * lock, proxy, fill) while the client is answered from the stale copy;
 * a sink reads and drops the internal response.
 */

#define RETRY_MS   10       /* the temp file is not there yet: look again */
#define SINK_MS    300000   /* an internal request never outlives this */

static int          ino_fd = -1;
static weir_conn_t *ino_conn;
static cache_req_t *waiters;

static void wait_timer(weir_event_t *ev);
static void inotify_handler(weir_event_t *ev);
static void unwait(cache_req_t *cr);
static void wake(cache_req_t *cr, uint32_t mask);
static int watch(cache_req_t *cr, const weir_cache_entry_t *e);
static void sink_handler(weir_event_t *ev);
static int refresh_skipped(const weir_http_header_t *h);
static int refresh_recent(const uint8_t *key);
static void noop_handler(weir_event_t *ev);

static void
noop_handler(weir_event_t *ev)
{
    (void) ev;
}

static int
watch(cache_req_t *cr, const weir_cache_entry_t *e)
{
    char path[WEIR_CACHE_PATH_MAX];

    if (ino_fd < 0) {
        ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (ino_fd < 0) {
            return WEIR_ERROR;
        }
        ino_conn = weir_conn_get(ino_fd);
        if (ino_conn == NULL) {
            close(ino_fd);
            ino_fd = -1;
            return WEIR_ERROR;
        }
        ino_conn->read.handler = inotify_handler;
        ino_conn->write.handler = noop_handler;
        ino_conn->internal = 1;
    }
    if (weir_cache_file_tmp_path(cr->cache->conf, e->digest, e->fill_id,
                                 path, sizeof(path)) == 0) {
        return WEIR_ERROR;
    }
    cr->wd = inotify_add_watch(ino_fd, path, IN_MODIFY | IN_ATTRIB
                               | IN_MOVE_SELF | IN_DELETE_SELF
                               | IN_CLOSE_WRITE);
    return cr->wd >= 0 ? WEIR_OK : WEIR_DECLINED;
}

void
weir_cache_wait(cache_req_t *cr, const weir_cache_entry_t *e)
{
    weir_request_t *r = cr->r;
    int             rc;

    if (!cr->collapsed) {
        cr->collapsed = 1;
        weir_stat_add(&CSLOT(cr->cache)->collapsed, 1);
    }
    cr->fill_id = e->fill_id;
    cr->wait_ev.data = cr;
    cr->wait_ev.handler = wait_timer;
    rc = watch(cr, e);
    if (rc == WEIR_ERROR) {
        weir_cache_forward(cr, 0);
        return;
    }
    cr->wnext = waiters;
    waiters = cr;
    if (!cr->counted) {
        cr->counted = 1;
        atomic_fetch_add_explicit(weir_cache_waiting(cr), 1,
                                  memory_order_relaxed);
    }
    weir_http_set_handlers(r, NULL, NULL, "waiting for a cache fill");
    /* No file yet (the fill is about to create it, or just ended): look
     * again shortly; otherwise the kernel wakes us, lock_timeout at most. */
    weir_timer_add(&cr->wait_ev, rc == WEIR_DECLINED
                                 ? RETRY_MS : cr->cache->conf->lock_timeout);
    cr->done = 0;
    if (rc == WEIR_OK) {
        weir_cache_stream_start(cr);    /* the head may be there already */
    }
}

/* Out of the list; the watch goes when no other waiter shares it (the
 * kernel gives one watch per inode). */
static void
unwait(cache_req_t *cr)
{
    cache_req_t **pp, *w;
    int           shared = 0;

    for (pp = &waiters; *pp; pp = &(*pp)->wnext) {
        if (*pp == cr) {
            *pp = cr->wnext;
            break;
        }
    }
    cr->wnext = NULL;
    weir_timer_del(&cr->wait_ev);
    if (cr->counted) {
        cr->counted = 0;
        atomic_fetch_sub_explicit(weir_cache_waiting(cr), 1,
                                  memory_order_relaxed);
    }
    if (cr->wd >= 0) {
        for (w = waiters; w; w = w->wnext) {
            shared |= w->wd == cr->wd;
        }
        if (!shared && ino_fd >= 0) {
            inotify_rm_watch(ino_fd, cr->wd);
        }
        cr->wd = -1;
    }
    if (waiters == NULL && ino_conn) {
        /* Not held open while idle: a worker that stops counts it. */
        weir_conn_close(ino_conn);
        ino_conn = NULL;
        ino_fd = -1;
    }
}

void
weir_cache_wait_cancel(cache_req_t *cr)
{
    cache_req_t *w;

    for (w = waiters; w; w = w->wnext) {
        if (w == cr) {
            unwait(cr);
            return;
        }
    }
}

/* The fill we wait for may be over: look again, or keep waiting. A
 * filler's last act on its file comes after the index says the fill is
 * over, so a file closed for writing while the index still shows the
 * fill means the filler died (the kernel closed it): go on without it
 * rather than wait for lock_timeout. */
static void
wake(cache_req_t *cr, uint32_t mask)
{
    weir_cache_entry_t e = { .state = 0 };
    int                st = 0, died;

    if (cr->cache->idx) {
        st = weir_cache_index_lookup(cr->cache->idx, cr->lock,
                                     weir_current_wall_msec, 0, &e);
    }
    died = (st & WEIR_CACHE_FILLING) && e.fill_id == cr->fill_id
           && (mask & IN_CLOSE_WRITE);
    if (cr->stream_fd >= 0) {
        if (died) {
            weir_cache_stream_end(cr, 0);
        } else {
            weir_cache_stream_progress(cr);
        }
        return;
    }
    if (died) {
        unwait(cr);
        cr->detail = "fill-died";
        cr->status = CS_MISS;
        weir_cache_forward(cr, 0);
        return;
    }
    if ((st & WEIR_CACHE_FILLING) && e.fill_id == cr->fill_id
        && e.fill_pid != 0) {
        /* It grew: once its head is there, answer from it as it fills. */
        weir_cache_stream_start(cr);
        return;
    }
    unwait(cr);
    cr->restarts++;
    weir_cache_lookup(cr);
}

/* Each waiter on the watch of an event is woken once per event (round):
 * one that goes on waiting, or waits again on the same file, is not
 * looked at twice. */
static void
inotify_handler(weir_event_t *ev)
{
    static unsigned             round;
    char                        buf[4096]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    const struct inotify_event *ie;
    cache_req_t                *w;
    ssize_t                     n;
    char                       *p;

    (void) ev;
    for (;;) {
        n = read(ino_fd, buf, sizeof(buf));
        if (n <= 0) {
            return;
        }
        for (p = buf; p < buf + n; p += sizeof(*ie) + ie->len) {
            ie = (const struct inotify_event *) p;
            round++;
            for (;;) {
                for (w = waiters; w; w = w->wnext) {
                    if (w->wd == ie->wd && w->round != round) {
                        break;
                    }
                }
                if (w == NULL) {
                    break;
                }
                w->round = round;
                wake(w, ie->mask);
                if (ino_fd < 0) {
                    return;         /* the last waiter left */
                }
            }
        }
    }
}

static void
wait_timer(weir_event_t *ev)
{
    cache_req_t        *cr = ev->data;
    weir_cache_entry_t  e = { .state = 0 };
    int                 st = 0;

    ev->timedout = 0;
    if (cr->stream_fd >= 0) {
        /* The fill we stream stopped growing for lock_timeout. */
        weir_cache_stream_end(cr, 0);
        return;
    }
    if (cr->wd < 0) {
        /* The temp file was not there: is the fill still on? */
        if (cr->cache->idx) {
            st = weir_cache_index_lookup(cr->cache->idx, cr->lock,
                                         weir_current_wall_msec, 0, &e);
        }
        if ((st & WEIR_CACHE_FILLING) && e.fill_id == cr->fill_id
            && weir_current_wall_msec - e.fill_start
               < cr->cache->conf->lock_timeout
            && watch(cr, &e) != WEIR_ERROR) {
            weir_timer_add(ev, cr->wd >= 0 ? cr->cache->conf->lock_timeout
                                           : RETRY_MS);
            return;
        }
        unwait(cr);
        cr->restarts++;
        weir_cache_lookup(cr);
        return;
    }
    unwait(cr);
    cr->detail = "lock-timeout";
    cr->status = CS_MISS;
    weir_cache_forward(cr, 0);
}

/* Fields the internal request does not copy: framing, conditionals (the
 * cache adds its own validators) and what would make it skip the cache. */
static int
refresh_skipped(const weir_http_header_t *h)
{
    static const char *const names[] = {
        "connection", "keep-alive", "te", "upgrade", "expect",
        "content-length", "transfer-encoding", "range", "if-range",
        "if-match", "if-none-match", "if-modified-since",
        "if-unmodified-since", "cache-control", "pragma",
        "proxy-connection"
    };

    return weir_str_one_of(h->name, h->name_len, names, weir_nelems(names));
}

static void
sink_handler(weir_event_t *ev)
{
    weir_conn_t *c = ev->data;
    char         buf[16384];
    ssize_t      n;

    if (ev->timedout) {
        weir_conn_close(c);
        return;
    }
    for (;;) {
        n = read(c->fd, buf, sizeof(buf));
        if (n > 0) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        weir_conn_close(c);     /* the internal request is over */
        return;
    }
}

/* Internal requests this worker started in the last REFRESH_DEDUP_MS:
 * until one takes the fill lock, the index cannot tell that it is
 * coming, and a burst of stale hits or Range misses would start one
 * each. */
#define REFRESH_DEDUP_MS  1000
#define REFRESH_RECENT    32

static int
refresh_recent(const uint8_t *key)
{
    static struct {
        uint8_t     d[8];
        weir_msec_t at;
    }               recent[REFRESH_RECENT];
    static size_t   next;
    size_t          i;

    for (i = 0; i < REFRESH_RECENT; i++) {
        if (recent[i].at != 0
            && weir_current_msec - recent[i].at < REFRESH_DEDUP_MS
            && memcmp(recent[i].d, key, sizeof(recent[i].d)) == 0) {
            return 1;
        }
    }
    memcpy(recent[next].d, key, sizeof(recent[next].d));
    recent[next].at = weir_current_msec;
    next = (next + 1) % REFRESH_RECENT;
    return 0;
}

void
weir_cache_refresh(cache_req_t *cr)
{
    weir_request_t     *r = cr->r;
    weir_cache_entry_t  e = { .state = 0 };
    weir_sbuf_t         sb;
    weir_conn_t        *c, *sink;
    size_t              i;
    ssize_t             n;
    int                 sv[2];
    uint8_t             key[WEIR_CACHE_DIGEST_LEN];

    weir_cache_lock_of(cr, key);
    if (refresh_recent(key)) {
        return;     /* one from this worker is on its way to the lock */
    }
    if (cr->cache->idx
        && (weir_cache_index_lookup(cr->cache->idx, key,
                                    weir_current_wall_msec, 0, &e)
            & WEIR_CACHE_FILLING)) {
        return;         /* one refresh per key across workers */
    }
    weir_sbuf_init_pool(&sb, r->pool, 1024);
    weir_sbuf_lit(&sb, "GET ");
    weir_sbuf_append_str(&sb, &r->uri);
    weir_sbuf_lit(&sb, " HTTP/1.1\r\n");
    for (i = 0; i < r->head.num_headers; i++) {
        const weir_http_header_t *h = &r->headers[i];
        if (!refresh_skipped(h)) {
            weir_sbuf_append(&sb, h->name, h->name_len);
            weir_sbuf_lit(&sb, ": ");
            weir_sbuf_append(&sb, h->value, h->value_len);
            weir_sbuf_lit(&sb, "\r\n");
        }
    }
    weir_sbuf_lit(&sb, "Connection: close\r\n\r\n");
    if (weir_sbuf_failed(&sb)
        || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                      sv) != 0) {
        return;
    }
    n = write(sv[1], sb.data, sb.len);
    if (n != (ssize_t) sb.len) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    c = weir_conn_get(sv[0]);
    if (c == NULL) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    sink = weir_conn_get(sv[1]);
    if (sink == NULL) {
        close(sv[1]);
        weir_conn_close(c);
        return;
    }
    sink->read.handler = sink_handler;
    sink->write.handler = noop_handler;
    sink->internal = 1;
    weir_timer_add(&sink->read, SINK_MS);
    c->internal = 1;
    c->listener = r->c->listener;
    c->sockaddr = r->c->sockaddr;
    c->socklen = r->c->socklen;
    memcpy(c->addr_text, r->c->addr_text, sizeof(c->addr_text));
    weir_stat_add(&CSLOT(cr->cache)->refreshes, 1);
    weir_http_init_connection(c, r->srv, r->hc->listen);
}
