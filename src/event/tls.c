#include "weir_config.h"
#include "event/tls.h"
#include "core/wtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "event/tls-t.h"

/*
 * TLS connections: the handshake and the transport that replaces the
 * socket one once it is done.
 *
 * Reading. SSL_read returns at most one record, so a read shorter than
 * the buffer does not mean the socket is drained the way a short recv()
 * does: more records may wait in the socket (no new edge will come for
 * them) or inside OpenSSL (read ahead, SSL_has_pending). tls_recv()
 * therefore reads until the buffer is full or the socket is empty, and
 * only the latter clears read.ready. A request is never left stuck in a
 * buffer nobody looks at. The socket is known to be empty without the
 * read() that would say EAGAIN: a callback on the socket BIO notes when
 * OpenSSL's last read() returned less than it asked for (tls_drained),
 * which on a stream socket means it took everything there was, the
 * rule weir_conn_recv() follows for plain sockets. That saves one
 * system call per request on a keep-alive TLS connection and one per
 * handshake.
 *
 * Writing. An SSL_write that would block must be repeated with the same
 * length and bytes. Callers keep unwritten data queued and call again
 * with it, so the connection only remembers how many bytes the pending
 * record took (tls_pending) and hands OpenSSL that many again: gathered
 * from the caller's iovecs (or re-read from the file for sendfile) into
 * a per-worker staging buffer, which is why the context allows a moving
 * write buffer. Each SSL_write is one record (WEIR_TLS_CHUNK), so it is
 * all-or-nothing and a partial count never has to be reconciled.
 */

/* One TLS record's worth of plaintext. */
#define WEIR_TLS_CHUNK 16384

int             weir_tls_conn_index = -1;
int             weir_tls_ctx_index = -1;
weir_tls_sni_pt weir_tls_sni_select;

static char staging[WEIR_TLS_CHUNK];

static int start(weir_conn_t *c, weir_tls_ctx_t *t);
static ssize_t tls_recv(weir_conn_t *c, char *buf, size_t len);
static ssize_t tls_writev(weir_conn_t *c, struct iovec *iov, int iovcnt);
static ssize_t tls_sendfile(weir_conn_t *c, int fd, off_t *offset,
    size_t len);
static ssize_t write_chunk(weir_conn_t *c, const char *p, size_t n);
static int next_chunk(weir_conn_t *c, size_t left, size_t *n);
static const char *gather(struct iovec *iov, int iovcnt, size_t skip,
    size_t n);
static int is_ip(const char *name);
static int read_failed(weir_conn_t *c, int err);
static long bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed);

int
weir_tls_indexes(void)
{
    if (weir_tls_conn_index < 0) {
        weir_tls_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                   NULL);
    }
    if (weir_tls_ctx_index < 0) {
        weir_tls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                                      NULL);
    }
    return weir_tls_conn_index < 0 || weir_tls_ctx_index < 0 ? WEIR_ERROR
                                                             : WEIR_OK;
}

void
weir_tls_set_sni_handler(weir_tls_sni_pt select)
{
    weir_tls_sni_select = select;
}

static int
start(weir_conn_t *c, weir_tls_ctx_t *t)
{
    SSL *ssl;

    if (weir_tls_indexes() != WEIR_OK) {
        return WEIR_ERROR;
    }
    ERR_clear_error();
    ssl = SSL_new(t->ctx);
    if (ssl == NULL) {
        return WEIR_ERROR;
    }
    if (SSL_set_fd(ssl, c->fd) != 1
        || SSL_set_ex_data(ssl, weir_tls_conn_index, c) != 1)
    {
        SSL_free(ssl);
        return WEIR_ERROR;
    }
    BIO_set_callback_arg(SSL_get_rbio(ssl), (char *) c);
    BIO_set_callback_ex(SSL_get_rbio(ssl), bio_cb);
    c->ssl = ssl;
    c->tls_pending = 0;
    c->tls_drained = 0;
    return WEIR_OK;
}

/* After each read() of the socket BIO: a short read or EAGAIN leaves the
 * socket empty (until the next edge), a full one may have left more. */
static long
bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
    int ret, size_t *processed)
{
    weir_conn_t *c;

    (void) argp;
    (void) argi;
    (void) argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        c = (weir_conn_t *) BIO_get_callback_arg(b);
        c->tls_drained = ret <= 0 || processed == NULL || *processed < len;
    }
    return ret;
}

int
weir_tls_accept(weir_conn_t *c, weir_tls_ctx_t *t)
{
    if (start(c, t) != WEIR_OK) {
        return WEIR_ERROR;
    }
    SSL_set_accept_state(c->ssl);
    return WEIR_OK;
}

int
weir_tls_connect(weir_conn_t *c, weir_tls_ctx_t *t, const char *sni,
    const char *verify_name)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    X509_VERIFY_PARAM         *vp;
    int                        ok = 1;

    if (start(c, t) != WEIR_OK) {
        return WEIR_ERROR;
    }
    SSL_set_connect_state(c->ssl);
    /* RFC 6066 3: a literal address is never sent as a server name. */
    if (sni && *sni && !is_ip(sni)) {
        ok &= SSL_set_tlsext_host_name(c->ssl, sni) == 1;
    }
    if (verify_name && *verify_name
        && SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE)
    {
        vp = SSL_get0_param(c->ssl);
        X509_VERIFY_PARAM_set_hostflags(vp,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok &= is_ip(verify_name)
                  ? X509_VERIFY_PARAM_set1_ip_asc(vp, verify_name) == 1
                  : X509_VERIFY_PARAM_set1_host(vp, verify_name, 0) == 1;
    }
    ok &= SSL_set_alpn_protos(c->ssl, alpn, sizeof(alpn) - 1) == 0;
    if (!ok) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

static int
is_ip(const char *name)
{
    unsigned char a[16];

    return inet_pton(AF_INET, name, a) == 1
           || inet_pton(AF_INET6, name, a) == 1;
}

int
weir_tls_handshake(weir_conn_t *c)
{
    int rc, err;

    ERR_clear_error();
    rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->recv = tls_recv;
        c->writev = tls_writev;
        c->sendfile = tls_sendfile;
        c->tls_done = 1;
        return WEIR_OK;
    }
    err = SSL_get_error(c->ssl, rc);
    if (err == SSL_ERROR_WANT_READ) {
        c->read.ready = 0;
        return WEIR_AGAIN;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c->write.ready = 0;
        return WEIR_AGAIN;
    }
    /* No close_notify for a session that never was (or broke). */
    c->tls_failed = 1;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        ERR_raise_data(ERR_LIB_SYS, errno ? errno : ECONNRESET,
                       errno ? strerror(errno)
                             : "connection closed during the handshake");
    }
    return WEIR_ERROR;
}

void
weir_tls_close(weir_conn_t *c)
{
    if (c->ssl == NULL) {
        return;
    }
    /* One non-blocking attempt at close_notify; a peer that does not
     * read it loses nothing it was owed. */
    if (c->tls_done && !c->tls_failed && !c->read.error && !c->write.error)
    {
        ERR_clear_error();
        (void) SSL_shutdown(c->ssl);
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
}

const char *
weir_tls_error_text(char *buf, size_t len, const char *fallback)
{
    unsigned long e, first = 0, last = 0;
    char          a[160], b[160];
    const char   *data = NULL, *ldata = NULL;
    int           flags;

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (first == 0) {
            first = e;
            snprintf(a, sizeof(a), "%s%s%s", ERR_reason_error_string(e)
                     ? ERR_reason_error_string(e) : "error",
                     (flags & ERR_TXT_STRING) && data && *data ? ": " : "",
                     (flags & ERR_TXT_STRING) && data ? data : "");
        } else {
            last = e;
            ldata = (flags & ERR_TXT_STRING) ? data : NULL;
        }
    }
    if (first == 0) {
        snprintf(buf, len, "%s", fallback);
    } else if (last == 0 || last == first) {
        snprintf(buf, len, "%s", a);
    } else {
        snprintf(b, sizeof(b), "%s%s%s", ERR_reason_error_string(last)
                 ? ERR_reason_error_string(last) : "error",
                 ldata && *ldata ? ": " : "", ldata ? ldata : "");
        snprintf(buf, len, "%s (%s)", a, b);
    }
    return buf;
}

/* ---- transport ---------------------------------------------------------- */

/* A read that failed for good (SSL_get_error() said err): the session is
 * broken (no close_notify at close) and errno says why. */
static int
read_failed(weir_conn_t *c, int err)
{
    c->tls_failed = 1;
    c->read.error = 1;
    if (err != SSL_ERROR_SYSCALL || errno == 0) {
        errno = err == SSL_ERROR_SYSCALL ? ECONNRESET : EPROTO;
    }
    ERR_clear_error();
    return WEIR_ERROR;
}

static ssize_t
tls_recv(weir_conn_t *c, char *buf, size_t len)
{
    size_t got = 0, n;
    int    err;

    while (got < len) {
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, buf + got, len - got, &n) == 1) {
            got += n;
            c->last_read_msec = weir_current_msec;
            if (c->tls_drained && !c->read.eof && !SSL_has_pending(c->ssl))
            {
                /* Empty socket, nothing inside OpenSSL: the next edge
                 * says when to go on, as after WANT_READ. Not when the
                 * peer has closed (EPOLLRDHUP): its FIN raises no further
                 * edge, so read on to the end that reports it, as
                 * weir_conn_recv() does; a request that came with a FIN
                 * is then served and its connection closed after it. */
                c->read.ready = 0;
                return (ssize_t) got;
            }
            continue;
        }
        err = SSL_get_error(c->ssl, 0);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            /* Drained: the next edge says when to go on. (WANT_WRITE
             * comes only from a key update whose answer could not be
             * sent; the next read edge retries it.) */
            c->read.ready = 0;
            return got ? (ssize_t) got : WEIR_AGAIN;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            /* close_notify, or a plain FIN (SSL_OP_IGNORE_UNEXPECTED_EOF):
             * bytes first, the 0 on the next call. */
            c->read.eof = 1;
            return (ssize_t) got;
        }
        if (got) {
            return (ssize_t) got;   /* the error again on the next call */
        }
        return read_failed(c, err);
    }
    /* The buffer is full: OpenSSL may hold more (SSL_pending), which no
     * edge will announce, even to a caller that read without one. */
    c->read.ready = 1;
    return (ssize_t) got;
}

/* Write one record of n bytes at p: n, WEIR_AGAIN (remembered as
 * pending) or WEIR_ERROR. */
static ssize_t
write_chunk(weir_conn_t *c, const char *p, size_t n)
{
    size_t done;
    int    err;

    ERR_clear_error();
    if (SSL_write_ex(c->ssl, p, n, &done) == 1) {
        c->tls_pending = 0;
        return (ssize_t) done;
    }
    err = SSL_get_error(c->ssl, 0);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        c->tls_pending = n;
        c->write.ready = 0;
        return WEIR_AGAIN;
    }
    c->tls_failed = 1;
    c->write.error = 1;
    if (err != SSL_ERROR_SYSCALL || errno == 0) {
        errno = err == SSL_ERROR_SYSCALL ? EPIPE : EPROTO;
    }
    ERR_clear_error();
    return WEIR_ERROR;
}

/* The n bytes after `skip` in iov: a pointer into the caller's buffer
 * when they lie in one iovec, else a copy in `staging`. */
static const char *
gather(struct iovec *iov, int iovcnt, size_t skip, size_t n)
{
    size_t copied = 0, take;
    int    i;

    for (i = 0; i < iovcnt && skip >= iov[i].iov_len; i++) {
        skip -= iov[i].iov_len;
    }
    if (i < iovcnt && iov[i].iov_len - skip >= n) {
        return (const char *) iov[i].iov_base + skip;
    }
    for (; i < iovcnt && copied < n; i++) {
        take = weir_min(iov[i].iov_len - skip, n - copied);
        memcpy(staging + copied, (const char *) iov[i].iov_base + skip,
               take);
        copied += take;
        skip = 0;
    }
    return staging;
}

/* The size of the next record to write: after a WEIR_AGAIN OpenSSL
 * must be given the same bytes again (tls_pending), else at most a
 * chunk of what is left. A caller that dropped bytes OpenSSL already
 * took is a bug: WEIR_ERROR. */
static int
next_chunk(weir_conn_t *c, size_t left, size_t *n)
{
    *n = c->tls_pending ? c->tls_pending
                        : weir_min(left, (size_t) WEIR_TLS_CHUNK);
    if (*n > left) {
        errno = EINVAL;
        c->write.error = 1;
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

static ssize_t
tls_writev(weir_conn_t *c, struct iovec *iov, int iovcnt)
{
    size_t  total = 0, done = 0, n;
    ssize_t rc;
    int     i;

    for (i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    while (done < total) {
        if (next_chunk(c, total - done, &n) != WEIR_OK) {
            return WEIR_ERROR;
        }
        rc = write_chunk(c, gather(iov, iovcnt, done, n), n);
        if (rc == WEIR_AGAIN) {
            return done ? (ssize_t) done : WEIR_AGAIN;
        }
        if (rc == WEIR_ERROR) {
            return WEIR_ERROR;
        }
        done += (size_t) rc;
    }
    return (ssize_t) done;
}

/* sendfile over TLS: read the file into the staging buffer and write it
 * as records (kTLS would spare the copy; not used). */
static ssize_t
tls_sendfile(weir_conn_t *c, int fd, off_t *offset, size_t len)
{
    size_t  done = 0, n;
    ssize_t rc, got;

    while (done < len) {
        if (next_chunk(c, len - done, &n) != WEIR_OK) {
            return WEIR_ERROR;
        }
        got = pread(fd, staging, n, *offset);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0 || (size_t) got < n) {
            /* The file shrank under us: as sendfile() would, stop. */
            if (got < 0) {
                return done ? (ssize_t) done : WEIR_ERROR;
            }
            if (got == 0 || c->tls_pending) {
                errno = EIO;
                return done ? (ssize_t) done : WEIR_ERROR;
            }
            n = (size_t) got;
        }
        rc = write_chunk(c, staging, n);
        if (rc == WEIR_AGAIN) {
            return done ? (ssize_t) done : WEIR_AGAIN;
        }
        if (rc == WEIR_ERROR) {
            return WEIR_ERROR;
        }
        done += (size_t) rc;
        *offset += rc;
    }
    return (ssize_t) done;
}

int
weir_tls_peek(weir_conn_t *c)
{
    char   byte;
    size_t n;
    int    err;

    ERR_clear_error();
    if (SSL_peek_ex(c->ssl, &byte, 1, &n) == 1) {
        return 1;
    }
    err = SSL_get_error(c->ssl, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return WEIR_AGAIN;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
        c->read.eof = 1;
        return 0;
    }
    return read_failed(c, err);
}

/* ---- what the logs and variables show ---------------------------------- */

const char *
weir_tls_protocol(const weir_conn_t *c)
{
    return c->ssl && c->tls_done ? SSL_get_version(c->ssl) : NULL;
}

const char *
weir_tls_cipher(const weir_conn_t *c)
{
    return c->ssl && c->tls_done ? SSL_get_cipher_name(c->ssl) : NULL;
}

const char *
weir_tls_server_name(const weir_conn_t *c)
{
    return c->ssl ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name)
                  : NULL;
}

const char *
weir_tls_session_reused(const weir_conn_t *c)
{
    if (c->ssl == NULL || !c->tls_done) {
        return NULL;
    }
    return SSL_session_reused(c->ssl) ? "r" : ".";
}

int
weir_tls_client_cert(const weir_conn_t *c)
{
    if (c->ssl == NULL || !c->tls_done
        || SSL_get0_peer_certificate(c->ssl) == NULL) {
        return WEIR_TLS_CERT_NONE;
    }
    return SSL_get_verify_result(c->ssl) == X509_V_OK ? WEIR_TLS_CERT_OK
                                                      : WEIR_TLS_CERT_FAILED;
}

/* nginx's values, so log parsers and origins written for it read ours. */
const char *
weir_tls_client_verify(const weir_conn_t *c, char *buf, size_t len)
{
    if (c->ssl == NULL || !c->tls_done) {
        return NULL;
    }
    switch (weir_tls_client_cert(c)) {
    case WEIR_TLS_CERT_NONE:
        return "NONE";
    case WEIR_TLS_CERT_OK:
        return "SUCCESS";
    default:
        if (buf == NULL || len == 0) {
            return "FAILED";
        }
        snprintf(buf, len, "FAILED:%s", X509_verify_cert_error_string(
                     SSL_get_verify_result(c->ssl)));
        return buf;
    }
}

const char *
weir_tls_client_subject(const weir_conn_t *c, char *buf, size_t len)
{
    X509 *x;
    BIO  *bio;
    int   n;

    if (c->ssl == NULL || !c->tls_done || len == 0) {
        return NULL;
    }
    x = SSL_get0_peer_certificate(c->ssl);
    if (x == NULL || (bio = BIO_new(BIO_s_mem())) == NULL) {
        return NULL;
    }
    X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
    n = BIO_read(bio, buf, (int) (len - 1));
    BIO_free(bio);
    buf[n > 0 ? n : 0] = '\0';
    return n > 0 ? buf : NULL;
}
