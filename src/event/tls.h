/*
 * TLS (OpenSSL) as a connection transport. The event layer owns it
 * because both sides need it: a client connection accepted on a `tls`
 * listener and an upstream connection to a `tls = on` upstream are both
 * weir_conn_t, and after the handshake the connection's recv, writev and
 * sendfile are swapped for the TLS ones, so protocol code never calls
 * OpenSSL (STYLE 19).
 *
 * Contexts (tls_ctx.c) are built by the master at configuration load, so
 * a bad certificate fails `weir -t`, the start or the reload (which then
 * keeps the running configuration), and every worker inherits them with
 * the fork. Session ticket keys live in shared memory (tls_ticket.c), so
 * a session made by one worker resumes on any other.
 *
 * Library-like: nothing here logs. Failures return WEIR_ERROR and a
 * message in the caller's buffer (weir_tls_error_text() drains OpenSSL's
 * error queue into one).
 */
#ifndef WEIR_EVENT_TLS_H
#define WEIR_EVENT_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "core/shm.h"
#include "event/conn.h"

typedef struct weir_tls_ctx_s weir_tls_ctx_t;

/* Protocol bits for weir_tls_server_opts_t.protocols. */
#define WEIR_TLS_V1_2  0x01u
#define WEIR_TLS_V1_3  0x02u

/* tls_verify_client */
enum weir_tls_verify_client {
    WEIR_TLS_VERIFY_OFF = 0,
    WEIR_TLS_VERIFY_ON,        /* a valid client certificate is required */
    WEIR_TLS_VERIFY_OPTIONAL,  /* asked for; a bad one is refused by the
                                  HTTP layer (400), none passes */
    WEIR_TLS_VERIFY_OPTIONAL_NO_CA /* asked for, verified, only recorded */
};

/* A client certificate's verdict (weir_tls_client_cert()). */
enum weir_tls_client_cert {
    WEIR_TLS_CERT_NONE = 0,    /* none sent (or no TLS) */
    WEIR_TLS_CERT_OK,
    WEIR_TLS_CERT_FAILED
};

/* The TLS 1.2 cipher list used when none is configured: forward-secret
 * AEAD suites only (TLS 1.3 suites are all AEAD and stay OpenSSL's). */
#define WEIR_TLS_DEFAULT_CIPHERS                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"            \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"            \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

typedef struct weir_tls_server_opts_s {
    const char  *name;               /* the server's, for the session id
                                        context: a session made for one
                                        server never resumes on another */
    /* certificate chains (PEM, leaf first) and their keys, paired by
     * index: an RSA and an ECDSA certificate may sit side by side */
    char *const *certificates;
    char *const *keys;
    size_t       ncertificates;
    /* DER OCSP responses to staple, by the same index (NULL or "" for
     * none); nstapling may be shorter than ncertificates */
    char *const *stapling;
    size_t       nstapling;
    unsigned     protocols;          /* WEIR_TLS_V1_* bits; 0: 1.2 + 1.3 */
    const char  *ciphers;            /* NULL: WEIR_TLS_DEFAULT_CIPHERS */
    const char  *client_ca;          /* PEM bundle, or NULL */
    int          verify_client;      /* enum weir_tls_verify_client */
    int          verify_depth;       /* 0: 9 */
    int          tickets;            /* session tickets on */
    int64_t      session_cache;      /* per-worker cache entries, 0: off */
    weir_msec_t  session_timeout;
} weir_tls_server_opts_t;

typedef struct weir_tls_client_opts_s {
    int          verify;             /* check the peer's chain and name */
    const char  *ca;                 /* PEM bundle; NULL: system store */
    const char  *certificate;        /* client certificate, or NULL */
    const char  *key;
    const char  *ciphers;            /* NULL: OpenSSL's default */
    int          session_reuse;      /* keep sessions to resume (below) */
} weir_tls_client_opts_t;

/* ---- contexts (tls_ctx.c), built by the master ---------------------- */

/* A server context. NULL with a message naming the file that failed. */
weir_tls_ctx_t *weir_tls_server_ctx(const weir_tls_server_opts_t *o,
    char *err, size_t errlen);

/* A client context for an upstream. NULL with a message. */
weir_tls_ctx_t *weir_tls_client_ctx(const weir_tls_client_opts_t *o,
    char *err, size_t errlen);

void weir_tls_ctx_free(weir_tls_ctx_t *t);

/* The server name indication hook: `select` maps the name a client
 * asked for (NULL when it sent none) to the context of the server that
 * answers it, or NULL to keep the listener's. Set once per worker by the
 * HTTP layer, which knows the servers. */
typedef weir_tls_ctx_t *(*weir_tls_sni_pt)(weir_conn_t *c, const char *name);
void weir_tls_set_sni_handler(weir_tls_sni_pt select);

/* ---- session ticket keys in shm (tls_ticket.c) ---------------------- */

/* Master, at start, before the first fork: create (or find) the key
 * ring in shm. Without it no session tickets are issued. WEIR_OK or
 * WEIR_ERROR with a message (no room). */
int weir_tls_tickets_attach(weir_shm_t *shm, char *err, size_t errlen);

/* How long a key encrypts new tickets; it decrypts for one more period. */
#define WEIR_TLS_TICKET_ROTATE_SEC 3600

/* ---- connections (tls.c) -------------------------------------------- */

/* Start TLS on an accepted connection (server side). WEIR_OK or
 * WEIR_ERROR (out of memory). The handshake is then driven by
 * weir_tls_handshake(). */
int weir_tls_accept(weir_conn_t *c, weir_tls_ctx_t *t);

/* Start TLS on a connected upstream socket: `sni` is sent as the server
 * name (NULL: none; an IP address is never sent), `verify_name` is the
 * name the certificate must carry when the context verifies (a session
 * to resume: weir_tls_session_offer()). WEIR_OK or WEIR_ERROR. */
int weir_tls_connect(weir_conn_t *c, weir_tls_ctx_t *t, const char *sni,
    const char *verify_name);

/* ---- client session reuse (tls_session.c) ---------------------------- */

/* The most recent session with one upstream peer (one address and one
 * SNI name under one client context), kept by its owner in the worker's
 * memory, zeroed to start. At most one session per slot: a newer one
 * replaces it. */
typedef struct weir_tls_session_s {
    void     *session;      /* SSL_SESSION *, one reference held */
    uint64_t  gen;          /* bumped by every store */
} weir_tls_session_t;

/* After weir_tls_connect(), on a context built with session_reuse: offer
 * the slot's session, if any, and store the sessions the server issues
 * on c into the slot (TLS 1.3 tickets arrive after the handshake, so the
 * slot must outlive c; a peer's does). The slot must stay where it is. */
void weir_tls_session_offer(weir_conn_t *c, weir_tls_session_t *slot);

/* After weir_tls_handshake() on c: ok = 0 (failed, timed out, refused
 * certificate) drops the slot's session; ok = 1 with a full handshake
 * drops the offered session if nothing newer replaced it (the server
 * declined it). Returns 1 when c resumed a session, else 0. */
int weir_tls_session_done(weir_conn_t *c, weir_tls_session_t *slot, int ok);

/* Free the slot's session. */
void weir_tls_session_clear(weir_tls_session_t *slot);

/* Drive the handshake: WEIR_OK (done: c->recv/writev/sendfile are TLS
 * now), WEIR_AGAIN (the event it waits for cleared its `ready`), or
 * WEIR_ERROR (why: weir_tls_error_text()). Never blocks. */
int weir_tls_handshake(weir_conn_t *c);

/* weir_conn_gone()'s peek on a TLS connection: decrypts what came into
 * OpenSSL's buffer without handing it out (SSL_peek; the next tls_recv
 * gets it, and read.ready stays set so it is looked for). 1 data, 0
 * close_notify or EOF, WEIR_AGAIN, WEIR_ERROR (errno set). */
int weir_tls_peek(weir_conn_t *c);

/* Send close_notify when the session is healthy, free the TLS state.
 * Called by weir_conn_close(). */
void weir_tls_close(weir_conn_t *c);

/* Drain OpenSSL's error queue into buf (the first and last reasons), or
 * `fallback` when it is empty. Returns buf. */
const char *weir_tls_error_text(char *buf, size_t len, const char *fallback);

/* For $variables: NULL when the connection has no TLS. */
const char *weir_tls_protocol(const weir_conn_t *c);
const char *weir_tls_cipher(const weir_conn_t *c);
const char *weir_tls_server_name(const weir_conn_t *c);
/* "r" when the session was resumed, "." otherwise (as nginx logs it). */
const char *weir_tls_session_reused(const weir_conn_t *c);
/* SUCCESS, NONE or FAILED:reason (the verifier's reason, built in
 * buf); NULL without TLS. */
const char *weir_tls_client_verify(const weir_conn_t *c, char *buf,
    size_t len);
/* enum weir_tls_client_cert: what the handshake made of the client's
 * certificate (the optional modes complete the handshake whatever the
 * client sent and keep the verdict for this). */
int weir_tls_client_cert(const weir_conn_t *c);
/* The client certificate's subject ("CN=x,O=y") into buf, or NULL. */
const char *weir_tls_client_subject(const weir_conn_t *c, char *buf,
    size_t len);

#endif /* WEIR_EVENT_TLS_H */
