#include "weir_config.h"
#include "http/request-t.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "core/log.h"
#include "core/wtime.h"
#include "http/http_stats.h"
#include "http/rate.h"
#include "http/request.h"

/* Writing to the client, apart from the response itself (request.c):
 * interim heads queued before it, and the minimum rate at which a client
 * must take what weir has for it (send_min_rate). */

static int64_t delivered(weir_request_t *r);
static void window_start(weir_request_t *r);
static void send_check(weir_event_t *ev);

int
weir_http_flush_interim(weir_request_t *r)
{
    weir_conn_t  *c = r->c;
    struct iovec  iov;
    ssize_t       n;

    while (r->interim_sent < r->interim_len) {
        iov.iov_base = r->interim + r->interim_sent;
        iov.iov_len = r->interim_len - r->interim_sent;
        n = c->writev(c, &iov, 1);
        if (n == WEIR_AGAIN) {
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            weir_log_error(WEIR_LOG_INFO, &c->log, errno, "writev() failed");
            return WEIR_ERROR;
        }
        r->interim_sent += (size_t) n;
        r->bytes_sent += (uint64_t) n;
        if (!c->write.ready && r->interim_sent < r->interim_len) {
            return WEIR_AGAIN;
        }
    }
    return WEIR_OK;
}

/* What the client has taken of this response so far: written to the
 * socket minus what the socket still holds (unsent or unacknowledged);
 * -1 when the kernel cannot say. */
static int64_t
delivered(weir_request_t *r)
{
    int n = 0;

    if (r->c->fd < 0 || ioctl(r->c->fd, SIOCOUTQ, &n) != 0) {
        return -1;
    }
    return (int64_t) r->bytes_sent - n;
}

/* A window of send_min_rate starts: the timer judges it when it ends. */
static void
window_start(weir_request_t *r)
{
    r->send_win_start = weir_current_msec;
    r->send_win_delivered = delivered(r);
    r->send_waited = 0;
    r->send_ev.data = r;
    r->send_ev.handler = send_check;
    weir_timer_add(&r->send_ev, weir_http.conf->min_rate_window);
}

void
weir_http_send_blocked(weir_request_t *r)
{
    if (r->send_waiting || weir_http.conf->send_min_rate == 0) {
        return;
    }
    r->send_waiting = 1;
    r->send_wait_start = weir_current_msec;
    if (r->send_ev.heap_slot == 0) {
        window_start(r);
    }
}

void
weir_http_send_moved(weir_request_t *r)
{
    if (r->send_waiting) {
        r->send_waiting = 0;
        r->send_waited += weir_current_msec - r->send_wait_start;
    }
}

/* The end of a window of send_min_rate. It is judged when weir waited on
 * the client (its socket full) for at least half of it: the client was
 * then what held the response back, and what it took from the socket in
 * the window, below send_min_rate bytes a second, ends the connection as
 * a send timeout would. A window in which weir mostly had nothing to
 * send (a slow upstream) is not the client's fault and is not judged. */
static void
send_check(weir_event_t *ev)
{
    weir_request_t         *r = ev->data;
    weir_conn_t            *c = r->c;
    const weir_http_conf_t *conf = weir_http.conf;
    weir_msec_t             now = weir_current_msec;
    weir_msec_t             elapsed = now - r->send_win_start;
    int64_t                 d = delivered(r), taken;
    uint64_t                rate;
    struct linger           lg = { 1, 0 };

    if (r->send_waiting) {
        r->send_waited += now - r->send_wait_start;
        r->send_wait_start = now;
    }
    if (elapsed <= 0 || r->send_waited * 2 < elapsed || d < 0
        || r->send_win_delivered < 0) {
        goto next;
    }
    taken = d - r->send_win_delivered;
    rate = taken > 0 ? (uint64_t) taken * 1000 / (uint64_t) elapsed : 0;
    if (rate >= (uint64_t) conf->send_min_rate) {
        goto next;
    }
    weir_log_error(WEIR_LOG_WARN, &c->log, 0,
                   "client reads the response too slowly: %llu bytes/s "
                   "over %lld ms, below send_min_rate %lld; closing",
                   (unsigned long long) rate, (long long) elapsed,
                   (long long) conf->send_min_rate);
    weir_http_stats_slow_client(r, 0);
    /* Close with a reset: a plain close leaves the socket's queue (up to
     * some MB) in the kernel, still being fed to this client at its
     * pace, for as long as it cares to read. */
    (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    /* The writer ends the request as on its own timeout: that frees r,
     * so this is the last thing done here. */
    c->write.timedout = 1;
    c->write.handler(&c->write);
    return;

next:
    if (r->send_waiting) {
        window_start(r);        /* else the next wait starts one */
    }
}
