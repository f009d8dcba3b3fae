#include "weir_config.h"
#include "event/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "event/tls-t.h"

/*
 * TLS contexts, built by the master when it loads a configuration (so a
 * file that does not load fails -t, the start or the reload, naming the
 * file) and inherited by the workers through the fork.
 *
 * Server defaults: TLS 1.2 and 1.3 only, forward-secret AEAD suites for
 * 1.2 in the server's order, no renegotiation, ALPN http/1.1, session
 * tickets with keys shared in shm, a per-worker session cache.
 */

static SSL_CTX *server_new(const weir_tls_server_opts_t *o, char *err,
    size_t errlen);
static int load_pair(weir_tls_ctx_t *t, const char *cert, const char *key,
    const char *staple, char *err, size_t errlen);
static int load_staple(weir_tls_ctx_t *t, X509 *leaf, const char *path,
    char *err, size_t errlen);
static int set_protocols(SSL_CTX *ctx, unsigned protocols);
static int servername_cb(SSL *ssl, int *alert, void *arg);
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg);
static int status_cb(SSL *ssl, void *arg);
static int verify_keep_cb(int ok, X509_STORE_CTX *x);
static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "what \"file\": reason" with OpenSSL's reason appended. */
static void
fail(char *err, size_t errlen, const char *fmt, ...)
{
    char    what[512], why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    weir_tls_error_text(why, sizeof(why), "unknown error");
    snprintf(err, errlen, "%s: %s", what, why);
}

weir_tls_ctx_t *
weir_tls_server_ctx(const weir_tls_server_opts_t *o, char *err,
    size_t errlen)
{
    weir_tls_ctx_t *t;
    size_t          i;

    if (o->ncertificates == 0) {
        snprintf(err, errlen, "no certificate");
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL || weir_tls_indexes() != WEIR_OK) {
        snprintf(err, errlen, "out of memory");
        free(t);
        return NULL;
    }
    t->server = 1;
    ERR_clear_error();
    t->ctx = server_new(o, err, errlen);
    if (t->ctx == NULL) {
        goto failed;
    }
    SSL_CTX_set_ex_data(t->ctx, weir_tls_ctx_index, t);
    t->staples = calloc(o->ncertificates, sizeof(*t->staples));
    if (t->staples == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    for (i = 0; i < o->ncertificates; i++) {
        if (load_pair(t, o->certificates[i], o->keys[i],
                      i < o->nstapling ? o->stapling[i] : NULL, err,
                      errlen) != WEIR_OK) {
            goto failed;
        }
    }
    if (t->nstaples) {
        SSL_CTX_set_tlsext_status_cb(t->ctx, status_cb);
        SSL_CTX_set_tlsext_status_arg(t->ctx, t);
    }
    if (o->client_ca) {
        STACK_OF(X509_NAME) *names;

        if (SSL_CTX_load_verify_locations(t->ctx, o->client_ca, NULL) != 1
            || (names = SSL_load_client_CA_file(o->client_ca)) == NULL)
        {
            fail(err, errlen, "cannot load the client CA \"%s\"",
                 o->client_ca);
            goto failed;
        }
        SSL_CTX_set_client_CA_list(t->ctx, names);
    }
    if (o->verify_client == WEIR_TLS_VERIFY_ON) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER
                                   | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else if (o->verify_client != WEIR_TLS_VERIFY_OFF) {
        /* optional, optional_no_ca: the handshake completes whatever the
         * client sends; the verdict stays in the SSL for the HTTP layer
         * (400 or pass) and $ssl_client_verify. */
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_keep_cb);
    }
    if (o->verify_client != WEIR_TLS_VERIFY_OFF) {
        SSL_CTX_set_verify_depth(t->ctx, o->verify_depth ? o->verify_depth
                                                         : 9);
    }
    ERR_clear_error();
    return t;

failed:
    ERR_clear_error();
    weir_tls_ctx_free(t);
    return NULL;
}

static SSL_CTX *
server_new(const weir_tls_server_opts_t *o, char *err, size_t errlen)
{
    static const char   *sid_prefix = "weir:";
    unsigned char        sid[SSL_MAX_SID_CTX_LENGTH];
    unsigned int         sidlen = 0;
    SSL_CTX             *ctx;
    EVP_MD_CTX          *md;
    const char          *name = o->name ? o->name : "";

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        fail(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_CIPHER_SERVER_PREFERENCE
                             | SSL_OP_IGNORE_UNEXPECTED_EOF
                             | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read ahead: one read() takes every record the socket holds, where
     * OpenSSL would otherwise read each record's 5-byte header and then
     * its body, two system calls a record (a handshake sends four or
     * five). Bytes read ahead stay inside OpenSSL, where tls_recv()
     * drains them before it waits for an edge. */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (set_protocols(ctx, o->protocols) != WEIR_OK) {
        fail(err, errlen, "cannot set the protocols");
        goto failed;
    }
    if (SSL_CTX_set_cipher_list(ctx, o->ciphers ? o->ciphers
                                                : WEIR_TLS_DEFAULT_CIPHERS)
        != 1)
    {
        fail(err, errlen, "invalid cipher list \"%s\"",
             o->ciphers ? o->ciphers : WEIR_TLS_DEFAULT_CIPHERS);
        goto failed;
    }
    /* The session id context: a digest of the server's name, so that a
     * session never resumes under another server's certificate. */
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, sid_prefix, strlen(sid_prefix)) != 1
        || EVP_DigestUpdate(md, name, strlen(name)) != 1
        || EVP_DigestFinal_ex(md, sid, &sidlen) != 1)
    {
        EVP_MD_CTX_free(md);
        fail(err, errlen, "cannot digest the session context");
        goto failed;
    }
    EVP_MD_CTX_free(md);
    SSL_CTX_set_session_id_context(ctx, sid,
                                   weir_min(sidlen, SSL_MAX_SID_CTX_LENGTH));
    SSL_CTX_set_session_cache_mode(ctx, o->session_cache > 0
                                            ? SSL_SESS_CACHE_SERVER
                                            : SSL_SESS_CACHE_OFF);
    if (o->session_cache > 0) {
        SSL_CTX_sess_set_cache_size(ctx, (long) o->session_cache);
    }
    if (o->session_timeout > 0) {
        SSL_CTX_set_timeout(ctx, (long) (o->session_timeout / 1000));
    }
    if (o->tickets) {
        weir_tls_tickets_use(ctx);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, o->session_cache > 0 ? 1 : 0);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    return ctx;

failed:
    SSL_CTX_free(ctx);
    return NULL;
}

static int
set_protocols(SSL_CTX *ctx, unsigned protocols)
{
    int lo, hi;

    if (protocols == 0) {
        protocols = WEIR_TLS_V1_2 | WEIR_TLS_V1_3;
    }
    lo = protocols & WEIR_TLS_V1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;
    hi = protocols & WEIR_TLS_V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    return SSL_CTX_set_min_proto_version(ctx, lo) == 1
                   && SSL_CTX_set_max_proto_version(ctx, hi) == 1
               ? WEIR_OK
               : WEIR_ERROR;
}

/* One certificate chain and its key; OpenSSL keeps one per key type, so
 * an RSA and an ECDSA pair live side by side and the client's signature
 * algorithms pick. */
static int
load_pair(weir_tls_ctx_t *t, const char *cert, const char *key,
    const char *staple, char *err, size_t errlen)
{
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
        fail(err, errlen, "cannot load the certificate \"%s\"", cert);
        return WEIR_ERROR;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
        fail(err, errlen, "cannot load the key \"%s\"", key);
        return WEIR_ERROR;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        fail(err, errlen, "the key \"%s\" does not match the certificate "
             "\"%s\"", key, cert);
        return WEIR_ERROR;
    }
    if (staple && *staple) {
        return load_staple(t, SSL_CTX_get0_certificate(t->ctx), staple, err,
                           errlen);
    }
    return WEIR_OK;
}

/* A DER OCSP response for `leaf`, checked to parse and to say
 * "successful" (a stale response is the operator's to renew: it is
 * stapled as it is, and clients judge its dates). */
static int
load_staple(weir_tls_ctx_t *t, X509 *leaf, const char *path, char *err,
    size_t errlen)
{
    weir_tls_staple_t   *s = &t->staples[t->nstaples];
    const unsigned char *p;
    OCSP_RESPONSE       *resp;
    FILE                *fp;
    long                 size;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "cannot open the OCSP response \"%s\": %s",
                 path, strerror(errno));
        return WEIR_ERROR;
    }
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) <= 0
        || size > 1024 * 1024 || fseek(fp, 0, SEEK_SET) != 0
        || (s->der = malloc((size_t) size)) == NULL
        || fread(s->der, 1, (size_t) size, fp) != (size_t) size)
    {
        snprintf(err, errlen, "cannot read the OCSP response \"%s\"",
                 path);
        fclose(fp);
        free(s->der);
        s->der = NULL;
        return WEIR_ERROR;
    }
    fclose(fp);
    p = s->der;
    resp = d2i_OCSP_RESPONSE(NULL, &p, size);
    if (resp == NULL
        || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    {
        OCSP_RESPONSE_free(resp);
        fail(err, errlen, "\"%s\" is not a successful DER OCSP response",
             path);
        free(s->der);
        s->der = NULL;
        return WEIR_ERROR;
    }
    OCSP_RESPONSE_free(resp);
    s->len = (size_t) size;
    s->cert = leaf;
    t->nstaples++;
    return WEIR_OK;
}

void
weir_tls_ctx_free(weir_tls_ctx_t *t)
{
    size_t i;

    if (t == NULL) {
        return;
    }
    for (i = 0; i < t->nstaples; i++) {
        free(t->staples[i].der);
    }
    free(t->staples);
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- handshake callbacks --------------------------------------------- */

/* SNI: the HTTP layer names the server; its context gives the
 * certificate and the client-certificate settings. Protocols and
 * ciphers stay those of the listener's context (OpenSSL has chosen the
 * version by now). An unknown name keeps the listener's default server. */
static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
    weir_conn_t         *c = SSL_get_ex_data(ssl, weir_tls_conn_index);
    const char          *name;
    weir_tls_ctx_t      *t;
    STACK_OF(X509_NAME) *names;

    (void) alert;
    (void) arg;
    if (c == NULL || weir_tls_sni_select == NULL) {
        return SSL_TLSEXT_ERR_OK;
    }
    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    t = weir_tls_sni_select(c, name);
    if (t == NULL || t->ctx == SSL_get_SSL_CTX(ssl)) {
        return SSL_TLSEXT_ERR_OK;
    }
    if (SSL_set_SSL_CTX(ssl, t->ctx) == NULL) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    /* SSL_set_SSL_CTX() swaps certificates only. */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(t->ctx),
                   SSL_CTX_get_verify_callback(t->ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(t->ctx));
    names = SSL_CTX_get_client_CA_list(t->ctx);
    if (names) {
        names = SSL_dup_CA_list(names);
        if (names == NULL) {
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        SSL_set_client_CA_list(ssl, names);
    }
    SSL_set_options(ssl, SSL_CTX_get_options(t->ctx));
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 when the client offers it; a client that offers only
 * other protocols (h2) gets no ALPN answer and may still speak 1.1. */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char             *sel;

    (void) ssl;
    (void) arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* OCSP stapling: the response loaded for the certificate OpenSSL chose
 * (RSA or ECDSA), when there is one. */
static int
status_cb(SSL *ssl, void *arg)
{
    weir_tls_ctx_t *t = arg;
    X509           *leaf = SSL_get_certificate(ssl);
    unsigned char  *copy;
    size_t          i;

    for (i = 0; i < t->nstaples; i++) {
        if (t->staples[i].cert == leaf) {
            copy = OPENSSL_memdup(t->staples[i].der, t->staples[i].len);
            if (copy == NULL) {
                return SSL_TLSEXT_ERR_NOACK;
            }
            SSL_set_tlsext_status_ocsp_resp(ssl, copy,
                                            (long) t->staples[i].len);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Accept every chain and let the verifier's error stand: OpenSSL keeps
 * the last error it met as the SSL's verify result even when this says
 * go on, which is what weir_tls_client_cert() reads after the
 * handshake. */
static int
verify_keep_cb(int ok, X509_STORE_CTX *x)
{
    (void) ok;
    (void) x;
    return 1;
}

/* ---- client contexts (upstreams) -------------------------------------- */

weir_tls_ctx_t *
weir_tls_client_ctx(const weir_tls_client_opts_t *o, char *err,
    size_t errlen)
{
    weir_tls_ctx_t *t = calloc(1, sizeof(*t));

    if (t == NULL || weir_tls_indexes() != WEIR_OK) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        fail(err, errlen, "cannot create a TLS context");
        goto failed;
    }
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION
                                | SSL_OP_IGNORE_UNEXPECTED_EOF
                                | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS
                             | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(t->ctx, 1);      /* as for servers, above */
    if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
        fail(err, errlen, "cannot set the protocols");
        goto failed;
    }
    if (o->ciphers && SSL_CTX_set_cipher_list(t->ctx, o->ciphers) != 1) {
        fail(err, errlen, "invalid cipher list \"%s\"", o->ciphers);
        goto failed;
    }
    if (o->verify) {
        if (o->ca ? SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1
                  : SSL_CTX_set_default_verify_paths(t->ctx) != 1)
        {
            fail(err, errlen, "cannot load the CA \"%s\"",
                 o->ca ? o->ca : "(system store)");
            goto failed;
        }
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    }
    if (o->certificate) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->certificate) != 1)
        {
            fail(err, errlen, "cannot load the certificate \"%s\"",
                 o->certificate);
            goto failed;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key ? o->key
                                                       : o->certificate,
                                        SSL_FILETYPE_PEM) != 1
            || SSL_CTX_check_private_key(t->ctx) != 1)
        {
            fail(err, errlen, "cannot load the key \"%s\"",
                 o->key ? o->key : o->certificate);
            goto failed;
        }
    }
    if (o->session_reuse && weir_tls_sessions_use(t->ctx) != WEIR_OK) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    SSL_CTX_set_ex_data(t->ctx, weir_tls_ctx_index, t);
    ERR_clear_error();
    return t;

failed:
    ERR_clear_error();
    weir_tls_ctx_free(t);
    return NULL;
}
