/*
 * Internals of the proxy shared by its files (not a public face: only
 * src/upstream/proxy*.c include this). proxy.c owns the entry point,
 * connecting, and failures/retries; proxy_phase.c the upstream
 * connection's states; proxy_request.c the request head and body;
 * proxy_response.c the response head, body and tunnel.
 */
#ifndef WEIR_UPSTREAM_PROXY_T_H
#define WEIR_UPSTREAM_PROXY_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "core/core.h"
#include "http/gzip.h"
#include "http/proxy_protocol.h"
#include "http/request.h"
#include "upstream/peer_state.h"
#include "upstream/proxy.h"
#include "upstream/upstream.h"

/*
 * Phases of a proxied request. Each sets the upstream connection's
 * handlers (proxy_phase.c), as the client side's states set the client
 * connection's.
 *
 *   BUFFER   reading a small request body from the client (replayable)
 *   CONNECT  connect() in progress
 *   SEND     writing the request head (+ buffered body) upstream
 *   STREAM   streaming a large request body client -> upstream
 *   HEAD     waiting for and parsing the response head
 *   BODY     streaming the response body upstream -> client
 *   TUNNEL   upgraded connection: bytes both ways
 */
enum phase { P_BUFFER, P_CONNECT, P_TLS, P_SEND, P_STREAM, P_HEAD, P_BODY,
             P_TUNNEL, P_DONE };

/* One error taxonomy (DESIGN §4, upstream/peer_state.h): logs, access
 * log, metrics and retry decisions. */
enum fail_kind {
    F_CONNECT_REFUSED = WEIR_FAIL_CONNECT_REFUSED,
    F_CONNECT_TIMEOUT = WEIR_FAIL_CONNECT_TIMEOUT,
    F_SEND_ERROR = WEIR_FAIL_SEND_ERROR,
    F_HEADER_TIMEOUT = WEIR_FAIL_HEADER_TIMEOUT,
    F_RESET_BEFORE_HEADERS = WEIR_FAIL_RESET_BEFORE_HEADERS,
    F_BAD_RESPONSE = WEIR_FAIL_BAD_RESPONSE,
    F_READ_TIMEOUT = WEIR_FAIL_READ_TIMEOUT,
    F_RESET_MID_BODY = WEIR_FAIL_RESET_MID_BODY,
    F_NO_PEER = WEIR_FAIL_NO_PEER,
    F_QUEUE_TIMEOUT = WEIR_FAIL_QUEUE_TIMEOUT,
    F_TLS_ERROR = WEIR_FAIL_TLS_ERROR,  /* handshake or verification */
    F_DEADLINE = WEIR_FAIL_DEADLINE     /* proxy_timeout ran out between
                                           tries or in the queue */
};

#define REPLAY_MAX   65536     /* bodies up to this size are retryable */
#define RBUF_SIZE    65536     /* upstream -> client */
#define SBUF_SIZE    16384     /* client -> upstream (streaming) */
#define MAX_TRIED    16
#define MAX_RESP_HEADERS 100
/* Interim (1xx) heads forwarded to the client: how many per request, and
 * the bytes that may wait for the client's socket. A few Early Hints are
 * the use; more is an origin gone wrong. */
#define INTERIM_COUNT_MAX 16
#define INTERIM_MAX       16384

typedef struct proxy_s {
    weir_request_t            *r;
    weir_upstream_t           *u;
    const weir_upstream_conf_t *uconf;
    weir_peer_t               *peer;
    weir_peer_t               *held;          /* counted in its in-flight */
    weir_peer_t               *tried[MAX_TRIED];
    size_t                     ntried;
    int                        tries;
    uint64_t                   hash;          /* balance = hash: the key's */
    weir_msec_t                deadline;      /* proxy_timeout; 0: none */
    int                        last_fail;     /* kind of the last failure */
    weir_upstream_waiter_t     waiter;        /* max_conns queue */
    weir_event_t               retry_ev;      /* backoff before a retry */
    unsigned                   trial:1;       /* the breaker's trial */
    unsigned                   retrying:1;    /* counted in the budget */
    weir_conn_t               *uc;
    int                        phase;
    const weir_proxy_observer_t *obs;         /* NULL: none */
    unsigned                   obs_open:1;    /* head seen, end not yet */
    unsigned                   client_gone:1; /* body read on, unsent */

    /* request */
    char                      *head;
    size_t                     head_len;
    int                        body_mode;     /* 0 none, 1 buffered, 2 stream */
    int                        up_chunked;    /* body sent chunked upstream */
    char                      *replay;
    size_t                     replay_len;
    size_t                     sent;          /* of pp + head + replay */
    char                       pp[WEIR_PROXY_PROTOCOL_OUT_MAX];
    size_t                     pp_len;        /* PROXY header: new conns */
    char                      *sbuf;
    size_t                     s_pos, s_last;
    unsigned                   client_body_done:1;
    unsigned                   client_halfclosed:1; /* FIN before we began */
    unsigned                   request_sent:1;
    unsigned                   reused:1;
    unsigned                   fresh_only:1;  /* retry: no pooled conn */
    unsigned                   resp_started:1;
    unsigned                   client_head_sent:1;
    unsigned                   client_chunked:1;
    unsigned                   body_done:1;
    unsigned                   terminator_sent:1;
    unsigned                   upstream_eof:1;
    unsigned                   client_eof:1;
    unsigned                   idempotent:1;

    /* response */
    char                      *rbuf;
    size_t                     rb_pos, rb_last;
    weir_http_response_head_t  rh;
    weir_http_header_t        *rheaders;      /* MAX_RESP_HEADERS */
    weir_http_framing_t        rf;
    weir_http_chunked_t        rch;
    uint64_t                   rleft;
    weir_msec_t                keepalive_hint;  /* ms, -1 none */
    struct iovec               out[8];   /* 1xx, head, chunk, data, CRLF,
                                          * last chunk: 6 at most */
    unsigned                   interim_count;  /* 1xx heads forwarded */
    int                        nout;
    char                       chunk_hdr[24];
    size_t                     pend_consume;  /* rbuf bytes freed by out */
    weir_gzip_t               *gz;            /* compressing; NULL: no */
    const char                *gz_in;         /* body not yet compressed */
    size_t                     gz_in_len;
    unsigned                   gz_done:1;     /* gzip trailer queued */
    unsigned                   gz_dirty:1;    /* fed since the last flush */
    unsigned                   gz_syncing:1;  /* a sync flush under way */
    unsigned                   gz_synced:1;   /* flushed at an EAGAIN */

    weir_msec_t                t_start, t_connect_start;
    char                       addrs[256];
    size_t                     addrs_len;
} proxy_t;

/* Set by weir_proxy_shutdown(): finished connections are not pooled. */
extern int weir_proxy_quitting;

/* ---- proxy.c ---- */

/* The proxy state of the client connection whose event this is; NULL when
 * the request is gone. */
proxy_t *weir_proxy_from_client(weir_event_t *ev);
/* Pick a peer (or a pooled connection) and start sending to it; fails
 * with F_NO_PEER / F_CONNECT_REFUSED when it cannot. */
void weir_proxy_connect_peer(proxy_t *p);
/* The client connection's read handler while weir waits on the upstream
 * with nothing more to read from the client: notices the client going
 * away (499) and leaves a pipelined request for later. */
void weir_proxy_client_watch(weir_event_t *ev);
/* Detach the upstream connection: pooled when reusable, else closed;
 * the try is over for the peer's in-flight count. */
void weir_proxy_release_upstream(proxy_t *p, int reusable);
/* A response head arrived: count it for the peer (statistics, and a
 * failure or the breaker trial's success per fail_on). */
void weir_proxy_head_verdict(proxy_t *p);
/* t, shortened to what is left of proxy_timeout (at least 1 ms). */
weir_msec_t weir_proxy_timeout(proxy_t *p, weir_msec_t t);
/* Log the failure `kind` (enum fail_kind), then retry, answer with the
 * error status, or cut a response whose head already went out. */
void weir_proxy_fail(proxy_t *p, int kind, int err, const char *detail);

/* Does a Connection header among hs[0..n) list `name` (so that header is
 * hop-by-hop too, RFC 9110 7.6.1)? 1 or 0. */
int weir_proxy_connection_lists(const weir_http_header_t *hs, size_t n,
    const char *name, size_t len);

/* The peer answered with a status listed in retry_on (http_5xx, 429):
 * when the request may be retried elsewhere, drop this answer and start
 * the next attempt (returns 1); otherwise 0 and the answer goes to the
 * client as it is. */
int weir_proxy_retry_status(proxy_t *p);

/* End the observer's view of the response (complete or cut), once. */
void weir_proxy_obs_end(proxy_t *p, int complete);

/* ---- proxy_phase.c ---- */

/* Enter a phase: p->phase, and the upstream connection's read and write
 * handlers and log action (when there is a connection). */
void weir_proxy_phase(proxy_t *p, int phase);

/* ---- proxy_request.c ---- */

/* Build the rewritten request head into p->head. WEIR_OK or WEIR_ERROR
 * (out of memory). */
int weir_proxy_build_head(proxy_t *p);
/* The client connection's read handler while the request body is read
 * (buffered or streamed) or the connection is tunnelled. */
void weir_proxy_client_body_handler(weir_event_t *ev);
/* Read a small request body into the replay buffer, then connect. */
void weir_proxy_buffer_body(proxy_t *p);
/* Write the head and the buffered body upstream; then stream the body
 * or wait for the response head. */
void weir_proxy_send_request(proxy_t *p);
/* Stream a large request body client -> upstream with back-pressure. */
void weir_proxy_stream_body(proxy_t *p);

/* ---- proxy_response.c ---- */

/* Read and parse the response head; on success start the body or the
 * tunnel. */
void weir_proxy_read_head(proxy_t *p);
/* Move the response body upstream -> client with back-pressure; finish
 * the request when it is complete. */
void weir_proxy_pump(proxy_t *p);
/* Copy bytes both ways on an upgraded connection. */
void weir_proxy_tunnel(proxy_t *p);

#endif /* WEIR_UPSTREAM_PROXY_T_H */
