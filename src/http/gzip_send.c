#include "weir_config.h"
#include "http/gzip.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/log.h"
#include "http/gzip-t.h"

/*
 * Sending a body that weir holds itself (a static file, a cached object,
 * a generated page) compressed. sendfile cannot be used: each step reads
 * at most GZIP_IN_SIZE bytes of the file with pread(), compresses them
 * into the compressor's bounded output buffer and writes that before
 * reading more, so memory stays bounded and a slow client holds the
 * reading back. Chunks to HTTP/1.1 clients; HTTP/1.0 ones read to the
 * close (the head said Connection: close). A file still being written
 * (weir_gzip_send_until()) is sent as far as it goes, and the compressor
 * is sync-flushed whenever the reader catches up with the writer, so the
 * client never waits on bytes deflate holds back.
 */

static int gz_flush(weir_request_t *r, weir_gzip_t *gz);
static int gz_queue_more(weir_request_t *r, weir_gzip_t *gz);
static int gz_read(weir_request_t *r, weir_gzip_t *gz);

int
weir_gzip_send(weir_request_t *r)
{
    weir_gzip_t *gz = r->gzip;
    int          rc;

    if (!gz->started) {
        gz->started = 1;
        gz->chunked = r->head.version >= 11;
        gz->iov[0].iov_base = r->out;
        gz->iov[0].iov_len = r->out_len;
        gz->niov = 1;
        if (r->body_mem_len > 0) {
            gz->in_pos = r->body_mem;
            gz->in_left = r->body_mem_len;
        }
    }
    for (;;) {
        rc = gz_flush(r, gz);
        if (rc != WEIR_OK || gz->done) {
            return rc;
        }
        if (gz->growing && gz->synced && gz->in_left == 0
            && r->body_off >= r->body_end) {
            return WEIR_BUSY;       /* all sent, decodable: wait for more */
        }
        if (gz_queue_more(r, gz) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
}

void
weir_gzip_send_until(weir_request_t *r, off_t end, int more)
{
    r->body_end = end;
    r->gzip->growing = more ? 1 : 0;
}

/* Write the queued iovecs. WEIR_OK when all went out. */
static int
gz_flush(weir_request_t *r, weir_gzip_t *gz)
{
    weir_conn_t *c = r->c;
    ssize_t      n;
    size_t       k;
    int          i;

    while (gz->niov > 0) {
        n = c->writev(c, gz->iov, gz->niov);
        if (n == WEIR_AGAIN) {
            weir_http_send_blocked(r);      /* send_min_rate */
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            weir_log_error(WEIR_LOG_INFO, &c->log, errno, "writev() failed");
            return WEIR_ERROR;
        }
        r->bytes_sent += (uint64_t) n;
        weir_http_send_moved(r);
        k = (size_t) n;
        for (i = 0; i < gz->niov && k >= gz->iov[i].iov_len; i++) {
            k -= gz->iov[i].iov_len;
        }
        if (i == gz->niov) {
            gz->niov = 0;
            break;
        }
        memmove(gz->iov, gz->iov + i, sizeof(gz->iov[0])
                                      * (size_t) (gz->niov - i));
        gz->niov -= i;
        gz->iov[0].iov_base = (char *) gz->iov[0].iov_base + k;
        gz->iov[0].iov_len -= k;
        if (!c->write.ready) {
            weir_http_send_blocked(r);
            return WEIR_AGAIN;      /* short write: wait for EPOLLOUT */
        }
    }
    return WEIR_OK;
}

/* Compress the next step into the output buffer and queue it, framed.
 * WEIR_OK, or WEIR_ERROR when the file cannot be read (logged). */
static int
gz_queue_more(weir_request_t *r, weir_gzip_t *gz)
{
    const char *out;
    size_t      len, k;
    int         fin = 0, h;

    if (gz->in_left == 0 && r->body_fd >= 0 && r->body_off < r->body_end
        && gz_read(r, gz) != WEIR_OK) {
        return WEIR_ERROR;
    }
    if (gz->in_left > 0) {
        k = weir_gzip_feed(gz, gz->in_pos, gz->in_left);
        gz->in_pos += k;
        gz->in_left -= k;
        gz->synced = 0;
    } else if (gz->growing) {
        /* the writer has not caught up: push out what deflate holds */
        gz->synced = (unsigned) weir_gzip_flush(gz);
    } else {
        fin = weir_gzip_finish(gz);
    }
    out = weir_gzip_out(gz, &len);
    gz->niov = 0;
    if (len > 0) {
        if (gz->chunked) {
            h = snprintf(gz->chunk_hdr, sizeof(gz->chunk_hdr), "%zx\r\n",
                         len);
            gz->iov[gz->niov].iov_base = gz->chunk_hdr;
            gz->iov[gz->niov++].iov_len = (size_t) h;
        }
        gz->iov[gz->niov].iov_base = (void *) out;
        gz->iov[gz->niov++].iov_len = len;
        r->body_bytes_sent += len;
    }
    if (gz->chunked && (len > 0 || fin)) {
        /* the chunk's CRLF and, at the end, the last chunk */
        static const char tail[] = "\r\n0\r\n\r\n";
        size_t from = len > 0 ? 0 : 2, to = fin ? 7 : 2;
        gz->iov[gz->niov].iov_base = (void *) (tail + from);
        gz->iov[gz->niov++].iov_len = to - from;
    }
    if (fin) {
        gz->done = 1;
    }
    return WEIR_OK;
}

static int
gz_read(weir_request_t *r, weir_gzip_t *gz)
{
    weir_conn_t *c = r->c;
    size_t       want;
    ssize_t      n;

    if (gz->in == NULL) {
        gz->in = weir_palloc(r->pool, GZIP_IN_SIZE);
        if (gz->in == NULL) {
            weir_log_error(WEIR_LOG_ERR, &c->log, 0, "out of memory");
            return WEIR_ERROR;
        }
    }
    want = (size_t) weir_min(r->body_end - r->body_off,
                             (off_t) GZIP_IN_SIZE);
    do {
        n = pread(r->body_fd, gz->in, want, r->body_off);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        weir_log_error(WEIR_LOG_ERR, &c->log, errno, "pread() failed");
        return WEIR_ERROR;
    }
    if (n == 0) {
        /* The file shrank under us: the response can only be cut. */
        weir_log_error(WEIR_LOG_ERR, &c->log, 0,
                       "file truncated while sending");
        return WEIR_ERROR;
    }
    r->body_off += n;
    gz->in_pos = gz->in;
    gz->in_left = (size_t) n;
    return WEIR_OK;
}
