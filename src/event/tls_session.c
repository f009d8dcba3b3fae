#include "weir_config.h"
#include "event/tls.h"

#include <stdint.h>
#include <openssl/ssl.h>
#include "event/tls-t.h"

/*
 * Client-side session reuse: a connection to an upstream peer offers the
 * session of the peer's last handshake, so a server that still knows it
 * (its ticket key, its session cache) skips the certificate exchange and
 * the key agreement's signature.
 *
 * OpenSSL's own client cache is not used (NO_INTERNAL_STORE): its owner
 * keeps one slot per peer, and the new-session callback stores there
 * whatever the server issues. That is the only way that works for TLS
 * 1.3, whose tickets arrive after the handshake, while the response is
 * read. The slot is found through the connection's SSL (ex_data), and the
 * generation of the session offered is kept there too, so that a full
 * handshake drops the session the server declined, but never one that
 * another connection stored meanwhile.
 *
 * A server that declines a session answers with a full handshake, so
 * resumption never fails a request on its own; a handshake that fails
 * for any reason (its certificate refused included) empties the slot.
 */

static int slot_index = -1;     /* SSL ex_data: the weir_tls_session_t */
static int gen_index = -1;      /* SSL ex_data: the gen offered, or 0 */

static int new_session_cb(SSL *ssl, SSL_SESSION *sess);

int
weir_tls_sessions_use(SSL_CTX *ctx)
{
    if (slot_index < 0) {
        slot_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    if (gen_index < 0) {
        gen_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    if (slot_index < 0 || gen_index < 0) {
        return WEIR_ERROR;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                        | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    return WEIR_OK;
}

/* A session the server issued (at the end of a TLS 1.2 handshake, or a
 * TLS 1.3 ticket at any time after it): it replaces the slot's. 1 says
 * we keep the reference OpenSSL gave us. */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    weir_tls_session_t *slot;

    if (slot_index < 0) {
        return 0;
    }
    slot = SSL_get_ex_data(ssl, slot_index);
    if (slot == NULL || !SSL_SESSION_is_resumable(sess)) {
        return 0;
    }
    SSL_SESSION_free(slot->session);
    slot->session = sess;
    slot->gen++;
    return 1;
}

void
weir_tls_session_offer(weir_conn_t *c, weir_tls_session_t *slot)
{
    uint64_t gen = 0;

    if (c->ssl == NULL || slot == NULL || slot_index < 0
        || SSL_set_ex_data(c->ssl, slot_index, slot) != 1)
    {
        return;
    }
    /* A copy, fresh for each connection: OpenSSL's client changes a TLS
     * 1.3 session it has resumed, and offered again the server declined
     * it (against a server that issues no new ticket on resumption, as
     * weir's own does, every other connection was a full handshake). */
    if (slot->session != NULL && SSL_SESSION_is_resumable(slot->session)) {
        SSL_SESSION *copy = SSL_SESSION_dup(slot->session);

        if (copy != NULL && SSL_set_session(c->ssl, copy) == 1) {
            gen = slot->gen;
        }
        SSL_SESSION_free(copy);
    }
    /* 0 when nothing is offered: gen counts from 1 once stored */
    SSL_set_ex_data(c->ssl, gen_index, (void *) (uintptr_t) gen);
}

int
weir_tls_session_done(weir_conn_t *c, weir_tls_session_t *slot, int ok)
{
    uint64_t offered;
    int      resumed;

    if (c->ssl == NULL) {
        return 0;
    }
    resumed = ok && SSL_session_reused(c->ssl);
    if (slot == NULL || slot_index < 0
        || SSL_get_ex_data(c->ssl, slot_index) != slot)
    {
        return resumed;
    }
    if (!ok) {
        weir_tls_session_clear(slot);
        return 0;
    }
    offered = (uint64_t) (uintptr_t) SSL_get_ex_data(c->ssl, gen_index);
    if (!resumed && offered != 0 && offered == slot->gen) {
        weir_tls_session_clear(slot);
    }
    return resumed;
}

void
weir_tls_session_clear(weir_tls_session_t *slot)
{
    if (slot->session != NULL) {
        SSL_SESSION_free(slot->session);
        slot->session = NULL;
    }
}
