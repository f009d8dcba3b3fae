/*
 * tls_halfclose - a TLS client that ends its sending the way scripts and
 * `nc -N` do: the request, then a TCP half-close, with or without a
 * close_notify first. Perl's core modules have no TLS and openssl
 * s_client cannot half-close, so the tests that need this run it.
 *
 *   tls_halfclose PORT FILE [notify] [together]
 *
 * Connects to 127.0.0.1:PORT, completes a handshake (no verification:
 * the tests use throw-away certificates), writes FILE's bytes as one
 * SSL_write, then (with "notify") a close_notify, then shutdown(SHUT_WR).
 * "together" holds the bytes back (TCP_CORK) until the FIN, so that
 * request, close_notify and FIN leave in one segment. Then it reads
 * until the server closes or 10 s pass, and copies what it read to
 * standard output. Exit 0 when the server closed the connection, 2 when
 * the 10 s ran out (the server held a half-closed client), 1 on error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define WAIT_MS 10000

static int
die(const char *what)
{
    fprintf(stderr, "tls_halfclose: %s: %s\n", what,
            errno ? strerror(errno) : "failed");
    ERR_print_errors_fp(stderr);
    return 1;
}

static int
read_file(const char *path, char **out, size_t *len)
{
    FILE  *fp = fopen(path, "rb");
    char  *buf = NULL;
    size_t cap = 0, n = 0, got;

    if (fp == NULL) {
        return -1;
    }
    do {
        if (n == cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

            if (nb == NULL) {
                free(buf);
                fclose(fp);
                return -1;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
    } while (got > 0);
    fclose(fp);
    *out = buf;
    *len = n;
    return 0;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct pollfd      pfd;
    SSL_CTX           *ctx = NULL;
    SSL               *ssl = NULL;
    char              *req = NULL, buf[16384];
    size_t             len, n;
    int                fd = -1, on = 1, notify = 0, together = 0, i, rc,
                       err, status = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: tls_halfclose PORT FILE [notify] "
                "[together]\n");
        return 1;
    }
    for (i = 3; i < argc; i++) {
        notify |= strcmp(argv[i], "notify") == 0;
        together |= strcmp(argv[i], "together") == 0;
    }
    if (read_file(argv[2], &req, &len) != 0) {
        return die(argv[2]);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        die("connect");
        goto done;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL
        || SSL_set_fd(ssl, fd) != 1
        || SSL_set_tlsext_host_name(ssl, "localhost") != 1
        || SSL_connect(ssl) != 1)
    {
        die("handshake");
        goto done;
    }
    if (together) {
        setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
    }
    if (SSL_write_ex(ssl, req, len, &n) != 1 || n != len) {
        die("write");
        goto done;
    }
    if (notify) {
        (void) SSL_shutdown(ssl);
    }
    if (shutdown(fd, SHUT_WR) != 0) {
        die("shutdown");
        goto done;
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    for (;;) {
        rc = poll(&pfd, 1, WAIT_MS);
        if (rc == 0) {
            status = 2;
            break;
        }
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("poll");
            break;
        }
        rc = SSL_read(ssl, buf, sizeof(buf));
        if (rc > 0) {
            fwrite(buf, 1, (size_t) rc, stdout);
            continue;
        }
        err = SSL_get_error(ssl, rc);
        if (err == SSL_ERROR_WANT_READ) {
            continue;
        }
        /* close_notify, a FIN or a reset: the server is done. */
        status = 0;
        break;
    }

done:
    fflush(stdout);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0) {
        close(fd);
    }
    free(req);
    return status;
}
