/*
 * The HTTP/1.1 server side of a connection: the request's way from the
 * first byte to the access-log line (DESIGN §3). Each state is a handler on
 * the connection's read or write event; transitions go through one function
 * that also sets the log action.
 */
#ifndef WEIR_HTTP_REQUEST_H
#define WEIR_HTTP_REQUEST_H

#include <stddef.h>
#include <sys/types.h>
#include "core/buf.h"
#include "core/pool.h"
#include "core/str.h"
#include "event/conn.h"
#include "http/http_conf.h"
#include "http/mime.h"
#include "http/parse.h"
#include "http/rate.h"

#define WEIR_HTTP_MAX_HEADERS      100
#define WEIR_HTTP_MAX_RESP_HEADERS 128

enum weir_http_method {
    WEIR_HTTP_GET = 0, WEIR_HTTP_HEAD, WEIR_HTTP_POST, WEIR_HTTP_PUT,
    WEIR_HTTP_DELETE, WEIR_HTTP_OPTIONS, WEIR_HTTP_PATCH, WEIR_HTTP_TRACE,
    WEIR_HTTP_CONNECT, WEIR_HTTP_OTHER
};

struct weir_request_s;

/* What every worker's HTTP side shares: set once per worker. */
typedef struct weir_http_ctx_s {
    const weir_http_conf_t *conf;
    const weir_mime_t      *mime;
    const char             *prefix;
    int                     quitting;   /* graceful stop in progress */
    /* Admission: with shed_at connections open besides the worker's
     * shed_base listeners (upstream connections included), the first
     * request of a new client connection is refused with 503
     * (http/limit.c); 0: never. */
    size_t                  shed_at;
    size_t                  shed_base;
} weir_http_ctx_t;

extern weir_http_ctx_t weir_http;

typedef struct weir_http_conn_s weir_http_conn_t;

typedef struct weir_request_s {
    weir_conn_t               *c;
    weir_http_conn_t          *hc;
    weir_pool_t               *pool;
    weir_http_request_head_t   head;
    weir_http_header_t        *headers;        /* WEIR_HTTP_MAX_HEADERS */
    weir_http_framing_t        framing;
    int                        method;         /* enum weir_http_method */
    weir_str_t                 method_name;
    weir_str_t                 request_line;   /* without CRLF */
    weir_str_t                 uri;            /* the request target */
    weir_str_t                 path;           /* normalised, decoded */
    weir_str_t                 args;           /* after '?' */
    weir_str_t                 target;         /* what the proxy forwards:
                                                * path normalised and
                                                * re-encoded canonically,
                                                * the query as received */
    const weir_http_header_t  *h_host, *h_accept, *h_user_agent, *h_referer,
                              *h_if_match, *h_if_unmodified_since,
                              *h_if_none_match, *h_if_modified_since,
                              *h_range, *h_if_range;
    /* one of the four conditional headers came on several lines (the
     * h_ pointers hold the last one; handler.c joins them) */
    unsigned                   cond_repeated:1;
    /* path and target keep a "%2F" (parse_path.c): only a route with
     * encoded_slash = pass takes the request (weir_route_encoded_slash) */
    unsigned                   encoded_slash:1;
    /* The server the request is for: chosen by its host among those
     * sharing the address (http/vhost.h), else the connection's. Its
     * routes, statistics and $server_name are the request's. */
    const weir_server_conf_t  *srv;
    const weir_route_conf_t   *route;
    weir_msec_t                start_msec;
    char                       request_id[33];

    /* request body (read and discarded by the static/return handlers) */
    uint64_t                   body_left;
    uint64_t                   body_received;
    weir_http_chunked_t        chunked;
    char                      *body_base;      /* buffer after the head */

    /* response */
    int                        status;
    const char                *error_code;     /* "NOT_FOUND", ... */
    weir_str_t                *resp_names;     /* grown on demand */
    weir_str_t                *resp_values;
    size_t                     nresp, resp_cap;
    char                      *out;            /* response head + mem body */
    size_t                     out_len, out_sent;
    char                      *interim;        /* 1xx heads to forward */
    size_t                     interim_len, interim_sent;
    weir_http_rate_t           body_rate;      /* client_body_min_rate */
    weir_event_t               send_ev;        /* send_min_rate window */
    weir_msec_t                send_win_start;
    int64_t                    send_win_delivered; /* taken by then */
    weir_msec_t                send_wait_start;
    weir_msec_t                send_waited;    /* in this window */
    unsigned                   send_waiting:1;
    const char                *body_mem;       /* body in memory */
    size_t                     body_mem_len;
    int                        body_fd;        /* body from a file */
    off_t                      body_off, body_end;
    off_t                      content_length; /* -1: none */
    /* The selected representation, for a 304 that the gzip filter must
     * judge as it would the 200 (http/gzip.h): its length (-1 unknown)
     * and media type (NULL: the Content-Type field, if any). */
    off_t                      rep_len;
    const char                *rep_type;
    struct weir_gzip_s        *gzip;           /* compressing; NULL: no */
    uint64_t                   bytes_sent;     /* whole response */
    uint64_t                   body_bytes_sent;
    unsigned                   keepalive:1;
    unsigned                   header_only:1;  /* HEAD, 304, 204 */
    unsigned                   discard_body:1;
    unsigned                   lingering:1;    /* unread input may remain */
    unsigned                   logged:1;
    unsigned                   sent_continue:1;
    unsigned                   body_complete:1;
    unsigned                   upgraded:1;      /* 101: Connection: upgrade */
    unsigned                   precompressed:1; /* body is a FILE.gz
                                                   (gzip_static): no gzip
                                                   filter */

    /* filled by the proxy, for the access log */
    char                      *upstream_addr;   /* "a:1, b:2" when retried */
    int                        upstream_status; /* 0: none */
    weir_msec_t                upstream_connect_ms;  /* -1: none */
    weir_msec_t                upstream_response_ms; /* -1: none */
    int                        retries;
    int                        body_error;      /* status for a bad body */
    const char                *cache_status;    /* $cache_status; NULL: - */
    const char                *upstream_tls_resumed; /* "r", "."; NULL: - */
    const char                *limit_status;    /* $limit_status; NULL: - */
    struct limit_req_s        *limit;           /* http/limit.c's state */
    void                      *proxy;           /* the proxy's state */
    void                      *cache;           /* the cache's state */
} weir_request_t;

struct weir_http_conn_s {
    weir_conn_t              *c;
    /* The address's default server, or the one the TLS layer chose by
     * SNI: a request whose host names no server gets it. */
    const weir_server_conf_t *srv;
    /* The listen line the connection was accepted on: $server_port is its
     * port, and its `tls` flag makes $scheme "https" (the scheme belongs
     * to the listener, not to what the client claims). NULL: unknown. */
    const weir_listen_conf_t *listen;
    weir_buf_t               *buf;      /* NULL while idle (no memory held) */
    weir_request_t           *r;        /* the request in progress */
    weir_msec_t               linger_deadline;
    /* The socket's peer ("10.0.0.2") once a PROXY protocol header put
     * another client address in c->addr_text; NULL otherwise. */
    char                     *peer_addr;
    /* The connection is TLS: set by the TLS layer once its handshake is
     * done, 0 until then and on plain connections. Responses send HSTS
     * only when it is set (RFC 6797 7.2: never over plain HTTP). */
    unsigned                  tls:1;
};

/* Take over a freshly accepted connection for the server srv, accepted
 * on srv's listen entry l (NULL when unknown). */
void weir_http_init_connection(weir_conn_t *c, const weir_server_conf_t *srv,
    const weir_listen_conf_t *l);

/* The same for a `proxy_protocol` listener: the connection must start
 * with a valid PROXY protocol header (request_proxy_protocol.c), whose
 * client address then stands for the peer's in logs and upstream. On a
 * `tls` one too the header comes first, then the TLS handshake. */
void weir_http_init_proxy_protocol(weir_conn_t *c,
    const weir_server_conf_t *srv, const weir_listen_conf_t *l);

/* The same for a `tls` listener: the TLS handshake first
 * (request_tls.c), with the context srv->tls built by the master. */
void weir_http_init_tls(weir_conn_t *c, const weir_server_conf_t *srv,
    const weir_listen_conf_t *l);

/* The client certificate rule of the request's server (r->srv, once
 * the Host chose it), request_tls.c: WEIR_OK to go on, WEIR_ERROR when
 * the request was refused (400 for a certificate tls_verify_client does
 * not accept, 421 for a server with client verification reached through
 * another server's handshake) and finalized. */
int weir_http_tls_client_check(weir_request_t *r);

/* The TLS handshake on a connection set up by
 * weir_http_init_connection() (request_tls.c): after a PROXY protocol
 * header on a `tls proxy_protocol` listener. now: drive it at once
 * (the ClientHello may be in the socket already, and no edge will
 * announce it). */
void weir_http_start_tls(weir_conn_t *c, int now);

/* Graceful stop: idle keep-alive connections get a short grace and are
 * closed; requests in flight finish with "Connection: close". */
void weir_http_shutdown(weir_msec_t grace);

/* Response helpers used by the handlers. */
int weir_http_add_header(weir_request_t *r, const char *name, size_t nlen,
    const char *value, size_t vlen);
/* Send a response for status from a generated page (HTML, or JSON when the
 * client accepts it) or the configured error_page, then finish. `code` is
 * the stable error code ("NOT_FOUND"). */
void weir_http_finalize_error(weir_request_t *r, int status,
    const char *code);
/* Start sending the response set up in r (status, headers, body source). */
void weir_http_send_response(weir_request_t *r);

/* Write what is left of r->interim (interim 1xx heads a handler queued,
 * which must reach the client whole and before the final response): a
 * final response's writer calls it first. WEIR_OK when nothing is left,
 * WEIR_AGAIN (socket full), WEIR_ERROR (logged at info). */
int weir_http_flush_interim(weir_request_t *r);

/* send_min_rate: a writer to the client calls weir_http_send_blocked()
 * when the socket is full (EAGAIN or a short write) and
 * weir_http_send_moved() when a write went through. A timer judges a
 * wait as long as min_rate_window by what the client took from the
 * socket's queue meanwhile; below send_min_rate bytes a second it logs
 * (warn), counts, and ends the request through the writer's write
 * handler with timedout set, as send_timeout would. */
void weir_http_send_blocked(weir_request_t *r);
void weir_http_send_moved(weir_request_t *r);

/* Read up to cap bytes of the decoded request body into dst (the proxy
 * streams it; chunk framing is removed). Sends "100 Continue" first when
 * the client asked for it. Returns the count, 0 when the body is complete,
 * WEIR_AGAIN when the client has to send more (wait for the read event),
 * or WEIR_ERROR: r->body_error is then the status to answer (400 invalid
 * chunking, 413 too large) or 0 when the client closed. */
ssize_t weir_http_read_body(weir_request_t *r, char *dst, size_t cap);

/* Swap the client connection's handlers (the proxy takes it over). */
void weir_http_set_handlers(weir_request_t *r, weir_event_handler_pt rh,
    weir_event_handler_pt wh, const char *action);

/* The response is complete: log it, then keep-alive or close. */
void weir_http_finalize(weir_request_t *r);

/* Close the client connection at once (after an upstream failure once the
 * head went out: the body is visibly truncated). Logs the request. */
void weir_http_abort(weir_request_t *r);

/* Make fd the response body source; it is closed with the request. */
int weir_http_attach_file(weir_request_t *r, int fd);

/* Find a request header (case-insensitive); NULL if absent. */
const weir_http_header_t *weir_http_header_find(const weir_request_t *r,
    const char *name);

/* Standard reason phrase of a status code. */
const char *weir_http_status_text(int status);

#endif /* WEIR_HTTP_REQUEST_H */
