/*
 * The configuration model of [upstream NAME] sections. Parsed and
 * validated now; the runtime arrives with the proxy issue.
 */
#ifndef WEIR_UPSTREAM_CONF_H
#define WEIR_UPSTREAM_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/core.h"

enum weir_balance {
    WEIR_BALANCE_ROUND_ROBIN = 0,
    WEIR_BALANCE_LEAST_CONN,
    WEIR_BALANCE_HASH,
    WEIR_BALANCE_RANDOM
};

/* retry_on bits */
#define WEIR_RETRY_ERROR     0x01
#define WEIR_RETRY_TIMEOUT   0x02
#define WEIR_RETRY_HTTP_502  0x04
#define WEIR_RETRY_HTTP_503  0x08
#define WEIR_RETRY_HTTP_504  0x10
#define WEIR_RETRY_HTTP_500  0x20
#define WEIR_RETRY_HTTP_429  0x40

/* fail_on bits: what counts against a peer (passive health). */
#define WEIR_FAIL_ON_ERROR     0x01   /* connect refused, reset, bad reply */
#define WEIR_FAIL_ON_TIMEOUT   0x02   /* connect, header and read timeouts */
#define WEIR_FAIL_ON_HTTP_500  0x04
#define WEIR_FAIL_ON_HTTP_502  0x08
#define WEIR_FAIL_ON_HTTP_503  0x10
#define WEIR_FAIL_ON_HTTP_504  0x20
#define WEIR_FAIL_ON_HTTP_5XX  0x40   /* any 5xx */

/* Shared records (upstream/peer_state.h), set by the master. */
struct weir_peer_state_s;
struct weir_upstream_state_s;
struct weir_tls_ctx_s;

typedef struct weir_peer_conf_s {
    char                    text[64];   /* "127.0.0.1:3000" */
    /* "app.internal:8080" when the server line named a host (every
     * address it resolved to is a peer sharing this string), else NULL:
     * the Host of requests and probes that need one, and the dump. */
    char                   *host;
    struct sockaddr_storage addr;
    socklen_t               addrlen;
    int                     weight;       /* weight=N, default 1 */
    int                     max_fails;    /* max_fails=N, default upstream's */
    weir_msec_t             fail_timeout; /* fail_timeout=T */
    int                     max_conns;    /* max_conns=N over all workers,
                                             0 unlimited */
    unsigned                backup:1;
    unsigned                down:1;
    struct weir_peer_state_s *state;    /* shared record (never NULL once
                                           the worker set it up) */
} weir_peer_conf_t;

typedef struct weir_upstream_conf_s {
    char              *name;
    weir_peer_conf_t  *peers;
    size_t             npeers;
    int                balance;           /* enum weir_balance */
    char              *hash_key;          /* for balance = hash: "$remote_addr" */
    int64_t            keepalive;         /* idle pooled conns per worker: 32 */
    weir_msec_t        keepalive_timeout; /* 60s */
    int64_t            keepalive_requests;/* 1000 */
    weir_msec_t        connect_timeout;   /* 2s */
    weir_msec_t        send_timeout;      /* 30s */
    weir_msec_t        read_timeout;      /* 30s */
    int64_t            retries;           /* 1 */
    unsigned           retry_on;          /* WEIR_RETRY_*: error timeout */
    int                retry_non_idempotent; /* off */
    int64_t            retry_budget;      /* percent of active requests: 20 */
    int64_t            retry_budget_min;  /* concurrent retries always
                                             allowed: 3 */
    weir_msec_t        retry_backoff;     /* base of the jittered backoff
                                             between tries: 0 (none) */
    weir_msec_t        proxy_timeout;     /* one deadline over all tries;
                                             0 none */
    int64_t            max_fails;         /* 3 */
    weir_msec_t        fail_timeout;      /* 10s */
    unsigned           fail_on;           /* WEIR_FAIL_ON_*: error timeout */
    weir_msec_t        max_cooldown;      /* cap of the breaker cooldown:
                                             300s */
    int64_t            queue;             /* requests waiting for a peer
                                             under max_conns, per worker */
    weir_msec_t        queue_timeout;     /* 10s */
    char              *health_check;      /* path, NULL = off */
    char              *health_expect;     /* as written; NULL: 200-399 */
    uint64_t           health_status[10]; /* bit per status 0..639 */
    void              *health_regex;      /* pcre2_code *, or NULL */
    char              *health_host;       /* Host of probes; NULL: peer */
    weir_msec_t        health_interval;   /* 5s */
    weir_msec_t        health_timeout;    /* 2s */
    int64_t            health_fall;       /* 3 */
    int64_t            health_rise;       /* 2 */
    weir_msec_t        slow_start;        /* 0 */
    weir_msec_t        resolve;           /* re-resolve host names every:
                                             30s; 0 at load only */
    int64_t            panic_threshold;   /* percent: 50 */
    int                proxy_protocol;    /* 0 off, 1 v1, 2 v2: PROXY
                                           * header on new connections */
    /* TLS to the peers (tls = on): verified against tls_ca (NULL: the
     * system store) unless tls_verify = off, for the name tls_name (NULL:
     * the peer's address), which is also sent as SNI; an optional client
     * certificate; the context the master builds (proc/config_tls.c) */
    int                tls;
    int                tls_verify;        /* on */
    char              *tls_ca;
    char              *tls_name;
    char              *tls_certificate;
    char              *tls_certificate_key;
    char              *tls_ciphers;
    int                tls_session_reuse; /* on: resume with each peer */
    struct weir_tls_ctx_s *tls_ctx;
    const char        *file;
    int                line;
    struct weir_upstream_state_s *state; /* shared record, or NULL */
} weir_upstream_conf_t;

#endif /* WEIR_UPSTREAM_CONF_H */
