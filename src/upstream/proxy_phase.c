#include "weir_config.h"
#include "upstream/proxy-t.h"

#include <errno.h>
#include <sys/socket.h>
#include "core/log.h"
#include "core/wtime.h"
#include "event/tls.h"

/*
 * The upstream connection's states, the way the client side does it: the
 * state is the pair of handlers on the connection's events, set in one
 * place from this table (weir_proxy_phase), each handler doing one
 * state's work. The phase number stays for the checks that ask "where
 * are we" (the client watch, retries).
 */

static void connect_handler(weir_event_t *ev);
static void tls_handler(weir_event_t *ev);
static void connected(proxy_t *p);
static void send_handler(weir_event_t *ev);
static void stream_handler(weir_event_t *ev);
static void early_response_handler(weir_event_t *ev);
static void head_handler(weir_event_t *ev);
static void body_handler(weir_event_t *ev);
static void tunnel_read_handler(weir_event_t *ev);
static void tunnel_write_handler(weir_event_t *ev);
static void ignore_handler(weir_event_t *ev);

static const struct {
    weir_event_handler_pt read, write;
    const char           *action;
} phases[] = {
    [P_BUFFER]  = { NULL, NULL, NULL },
    [P_CONNECT] = { connect_handler, connect_handler,
                    "connecting to upstream" },
    [P_TLS]     = { tls_handler, tls_handler,
                    "TLS handshake with upstream" },
    [P_SEND]    = { early_response_handler, send_handler,
                    "sending request to upstream" },
    [P_STREAM]  = { early_response_handler, stream_handler,
                    "sending request body to upstream" },
    [P_HEAD]    = { head_handler, ignore_handler,
                    "reading response head from upstream" },
    [P_BODY]    = { body_handler, ignore_handler,
                    "reading response body from upstream" },
    [P_TUNNEL]  = { tunnel_read_handler, tunnel_write_handler,
                    "tunnelling" },
    [P_DONE]    = { ignore_handler, ignore_handler, NULL },
};

void
weir_proxy_phase(proxy_t *p, int phase)
{
    weir_conn_t *uc = p->uc;

    p->phase = phase;
    if (uc == NULL || phases[phase].read == NULL) {
        return;
    }
    uc->read.handler = phases[phase].read;
    uc->write.handler = phases[phase].write;
    if (phases[phase].action) {
        uc->log.action = phases[phase].action;
    }
}

static proxy_t *
of(weir_event_t *ev)
{
    weir_conn_t *uc = ev->data;

    return uc->data;
}

static void
ignore_handler(weir_event_t *ev)
{
    (void) ev;
}

/* Writable (or an error) while connecting: connected, or why not. */
static void
connect_handler(weir_event_t *ev)
{
    proxy_t  *p = of(ev);
    int       err = 0;
    socklen_t len = sizeof(err);

    if (ev->timedout) {
        ev->timedout = 0;
        weir_proxy_fail(p, F_CONNECT_TIMEOUT, ETIMEDOUT, NULL);
        return;
    }
    if (ev->write == 0 && !ev->eof && !ev->error) {
        return;     /* readable before writable: wait for the write edge */
    }
    if (getsockopt(p->uc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    if (err) {
        weir_proxy_fail(p, err == ETIMEDOUT ? F_CONNECT_TIMEOUT
                                            : F_CONNECT_REFUSED,
                        err, NULL);
        return;
    }
    if (ev->write == 0) {
        return;     /* no error yet: the write edge says connected */
    }
    if (p->uconf->tls) {
        /* connect_timeout, still armed, bounds the handshake too */
        if (weir_upstream_tls_start(p->uc, p->uconf, p->peer->conf,
                                    &p->peer->tls_session) != WEIR_OK) {
            weir_proxy_fail(p, F_TLS_ERROR, 0, "cannot start TLS");
            return;
        }
        weir_proxy_phase(p, P_TLS);
        tls_handler(&p->uc->write);
        return;
    }
    connected(p);
}

static void
connected(proxy_t *p)
{
    weir_timer_del(&p->uc->write);
    p->r->upstream_connect_ms = weir_current_msec - p->t_connect_start;
    weir_proxy_phase(p, P_SEND);
    weir_proxy_send_request(p);
}

/* The TLS handshake with a `tls = on` upstream (never blocking): its
 * failure, a refused certificate included, is tls_error; nothing was
 * sent, so another peer may be tried. */
static void
tls_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);
    char     why[256];
    int      rc, resumed;

    if (ev->timedout) {
        ev->timedout = 0;
        weir_tls_session_done(p->uc, &p->peer->tls_session, 0);
        weir_proxy_fail(p, F_TLS_ERROR, ETIMEDOUT, "handshake timed out");
        return;
    }
    rc = weir_tls_handshake(p->uc);
    if (rc == WEIR_AGAIN) {
        return;
    }
    /* a failed handshake drops the peer's session: the next one is full */
    resumed = weir_tls_session_done(p->uc, &p->peer->tls_session,
                                    rc == WEIR_OK);
    if (rc != WEIR_OK) {
        weir_proxy_fail(p, F_TLS_ERROR, 0,
                        weir_tls_error_text(why, sizeof(why), "closed"));
        return;
    }
    weir_stat_add(&p->u->st->tls_handshakes_total[resumed], 1);
    p->r->upstream_tls_resumed = resumed ? "r" : ".";
    connected(p);
}

static void
send_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);

    if (ev->timedout) {
        ev->timedout = 0;
        weir_proxy_fail(p, F_SEND_ERROR, ETIMEDOUT, NULL);
        return;
    }
    weir_proxy_send_request(p);
}

static void
stream_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);

    if (ev->timedout) {
        ev->timedout = 0;
        weir_proxy_fail(p, F_SEND_ERROR, ETIMEDOUT, NULL);
        return;
    }
    weir_proxy_stream_body(p);
}

/* Input while still sending: an early response (an error before the body
 * is all sent), or the peer closing. */
static void
early_response_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);

    if (p->resp_started || ev->eof || ev->error || ev->ready) {
        weir_proxy_read_head(p);
    }
}

static void
head_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);

    if (ev->timedout) {
        ev->timedout = 0;
        weir_proxy_fail(p, F_HEADER_TIMEOUT, ETIMEDOUT, NULL);
        return;
    }
    weir_proxy_read_head(p);
}

static void
body_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);

    if (ev->timedout) {
        ev->timedout = 0;
        weir_proxy_fail(p, F_READ_TIMEOUT, ETIMEDOUT, NULL);
        return;
    }
    weir_proxy_pump(p);
}

static void
tunnel_read_handler(weir_event_t *ev)
{
    proxy_t *p = of(ev);

    if (ev->timedout) {
        ev->timedout = 0;
        weir_log_error(WEIR_LOG_INFO, &p->r->c->log, 0,
                       "tunnel idle timeout");
        weir_proxy_release_upstream(p, 0);
        weir_http_abort(p->r);
        return;
    }
    weir_proxy_tunnel(p);
}

static void
tunnel_write_handler(weir_event_t *ev)
{
    weir_proxy_tunnel(of(ev));
}
