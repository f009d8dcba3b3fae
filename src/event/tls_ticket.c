#include "weir_config.h"
#include "event/tls.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include "event/tls-t.h"

/*
 * Session ticket keys shared by every worker, so that a ticket one
 * worker issued resumes on another (SO_REUSEPORT spreads a client's
 * connections over all of them).
 *
 * Keys are per period: time / WEIR_TLS_TICKET_ROTATE_SEC, counted from
 * 1. The key of period E encrypts new tickets during E and still
 * decrypts during E + 1 (the ticket is then renewed under the new key);
 * after that it is forgotten, so a key that leaks later cannot open old
 * sessions. Each key is random, made by whichever worker first needs it.
 *
 * The ring lives in shm: RING slots indexed by period. A writer holds
 * the robust mutex, marks the slot's period 0 (being written), writes
 * the bytes, then publishes the period; a reader copies the slot and
 * keeps the copy only when the period was the same before and after.
 * A worker killed while writing leaves period 0: nobody uses the slot,
 * and the next writer (who sees the mutex's owner died) writes it whole.
 * No system call under the lock: the random bytes come first.
 */

#define RING 4

typedef struct ticket_key_s {
    _Atomic uint64_t      period;       /* 0: empty or being written */
    weir_tls_ticket_key_t k;
} ticket_key_t;

typedef struct ticket_ring_s {
    weir_shm_mutex_t mutex;
    ticket_key_t     key[RING];
} ticket_ring_t;

static ticket_ring_t *ring;

static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc);
static int key_read(uint64_t period, weir_tls_ticket_key_t *out);
static int mac_init(EVP_MAC_CTX *hctx, const weir_tls_ticket_key_t *k);

int
weir_tls_tickets_attach(weir_shm_t *shm, char *err, size_t errlen)
{
    int created = 0;

    ring = weir_shm_zone(shm, "tls:tickets", sizeof(*ring), &created);
    if (ring == NULL) {
        snprintf(err, errlen, "no room in shared memory for the TLS "
                 "session ticket keys (shm_size)");
        return WEIR_ERROR;
    }
    if (created && weir_shm_mutex_init(&ring->mutex) != WEIR_OK) {
        snprintf(err, errlen, "cannot make the TLS ticket key mutex");
        ring = NULL;
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* Installed whatever the ring: contexts are built before the master
 * attaches it (weir -t builds them and never does). */
void
weir_tls_tickets_use(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

/* A consistent copy of the key of `period`: WEIR_OK, or WEIR_DECLINED
 * when the slot holds another period (or is being written). */
static int
key_read(uint64_t period, weir_tls_ticket_key_t *out)
{
    ticket_key_t *k = &ring->key[period % RING];
    uint64_t      before, after;

    before = atomic_load_explicit(&k->period, memory_order_acquire);
    if (before != period) {
        return WEIR_DECLINED;
    }
    memcpy(out, &k->k, sizeof(*out));
    atomic_thread_fence(memory_order_acquire);
    after = atomic_load_explicit(&k->period, memory_order_relaxed);
    return after == period ? WEIR_OK : WEIR_DECLINED;
}

int
weir_tls_ticket_key(uint64_t period, int create, weir_tls_ticket_key_t *out)
{
    ticket_key_t          *k;
    weir_tls_ticket_key_t  fresh;
    int                    rc;

    if (ring == NULL || period == 0) {
        return WEIR_ERROR;
    }
    if (key_read(period, out) == WEIR_OK) {
        return WEIR_OK;
    }
    if (!create) {
        return WEIR_DECLINED;
    }
    if (RAND_bytes((unsigned char *) &fresh, sizeof(fresh)) != 1) {
        return WEIR_ERROR;
    }
    k = &ring->key[period % RING];
    rc = weir_shm_lock(&ring->mutex);
    if (rc == WEIR_ERROR) {
        return WEIR_ERROR;
    }
    /* WEIR_DONE: the last owner died, maybe mid-write; a slot it left
     * says period 0, which the check below rewrites. */
    if (atomic_load_explicit(&k->period, memory_order_acquire) != period) {
        atomic_store_explicit(&k->period, 0, memory_order_release);
        atomic_thread_fence(memory_order_release);
        memcpy(&k->k, &fresh, sizeof(fresh));
        atomic_store_explicit(&k->period, period, memory_order_release);
    }
    weir_shm_unlock(&ring->mutex);
    return key_read(period, out) == WEIR_OK ? WEIR_OK : WEIR_ERROR;
}

weir_shm_mutex_t *
weir_tls_ticket_mutex(void)
{
    return ring ? &ring->mutex : NULL;
}

uint64_t
weir_tls_ticket_period(time_t now)
{
    return (uint64_t) now / WEIR_TLS_TICKET_ROTATE_SEC + 1;
}

static int
mac_init(EVP_MAC_CTX *hctx, const weir_tls_ticket_key_t *k)
{
    OSSL_PARAM params[3];

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                  (void *) k->hmac,
                                                  sizeof(k->hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? WEIR_OK : WEIR_ERROR;
}

/* OpenSSL's ticket hook. Encrypting: the current key (1, or -1 on
 * error: no ticket). Decrypting: 1 with the current key, 2 with the
 * previous one or on TLS 1.3 (OpenSSL then issues a fresh ticket), 0 for
 * an unknown or expired key (a full handshake). */
static int
ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    uint64_t              now = weir_tls_ticket_period(time(NULL));
    weir_tls_ticket_key_t k;
    int                   i;

    if (ring == NULL) {
        return 0;       /* no shared keys: no tickets, no resumption */
    }
    if (enc) {
        if (weir_tls_ticket_key(now, 1, &k) != WEIR_OK
            || RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1
            || EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv)
                   != 1
            || mac_init(hctx, &k) != WEIR_OK)
        {
            return -1;
        }
        memcpy(key_name, k.name, sizeof(k.name));
        return 1;
    }
    for (i = 0; i < 2; i++) {
        if (now - (uint64_t) i == 0
            || key_read(now - (uint64_t) i, &k) != WEIR_OK
            || memcmp(key_name, k.name, sizeof(k.name)) != 0)
        {
            continue;
        }
        if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv)
                != 1
            || mac_init(hctx, &k) != WEIR_OK)
        {
            return -1;
        }
        /* TLS 1.3 clients use a ticket once (RFC 8446 C.4), so a
         * resumption that issues none leaves the client nothing to resume
         * with next time: every other connection would be a full
         * handshake. 2 has OpenSSL issue a fresh ticket. */
        return i == 0 && SSL_version(s) < TLS1_3_VERSION ? 1 : 2;
    }
    return 0;
}
