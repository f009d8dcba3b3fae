/*
 * What the files of the TLS module share: tls.c (connections),
 * tls_ctx.c (contexts) and tls_ticket.c (session ticket keys in shm).
 * Private to src/event/tls*.c; the public face is event/tls.h.
 */
#ifndef WEIR_EVENT_TLS_T_H
#define WEIR_EVENT_TLS_T_H

#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include "event/tls.h"

/* A certificate's stapled OCSP response (DER), read at load. */
typedef struct weir_tls_staple_s {
    X509          *cert;        /* the leaf it is for (owned by the ctx) */
    unsigned char *der;
    size_t         len;
} weir_tls_staple_t;

struct weir_tls_ctx_s {
    SSL_CTX           *ctx;
    weir_tls_staple_t *staples;
    size_t             nstaples;
    unsigned           server:1;
};

/* SSL ex_data slot holding the weir_conn_t, and SSL_CTX ex_data slot
 * holding the weir_tls_ctx_t; -1 until weir_tls_indexes() made them. */
extern int weir_tls_conn_index;
extern int weir_tls_ctx_index;

/* Make the ex_data indexes (once per process). WEIR_OK or WEIR_ERROR. */
int weir_tls_indexes(void);

/* The SNI hook set by the HTTP layer (tls.c), used by tls_ctx.c. */
extern weir_tls_sni_pt weir_tls_sni_select;

/* Install the shm ticket key callback on a server context
 * (tls_ticket.c); without a ring attached it issues no tickets. */
void weir_tls_tickets_use(SSL_CTX *ctx);

/* Keep the sessions a client context's connections get, for
 * weir_tls_session_offer() (tls_session.c). WEIR_OK or WEIR_ERROR. */
int weir_tls_sessions_use(SSL_CTX *ctx);

/* The session ticket key ring (tls_ticket.c), here rather than static
 * for its unit test (t/unit/test_tls_ticket.c). */
typedef struct weir_tls_ticket_key_s {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
} weir_tls_ticket_key_t;

/* The period a time falls in (counted from 1). */
uint64_t weir_tls_ticket_period(time_t now);

/* The key of `period` into out: WEIR_OK; WEIR_DECLINED when nobody made
 * it and create is 0 (or its slot has been reused by a later period);
 * WEIR_ERROR without a ring or on failure. create: make it when missing
 * (random bytes, then written under the ring's robust mutex). */
int weir_tls_ticket_key(uint64_t period, int create,
    weir_tls_ticket_key_t *out);

/* The ring's mutex (a test kills a process holding it), or NULL. */
weir_shm_mutex_t *weir_tls_ticket_mutex(void);

#endif /* WEIR_EVENT_TLS_T_H */
