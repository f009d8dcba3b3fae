/*
 * Internals of gzip shared by its files (only src/http/gzip*.c include
 * this): gzip.c decides and compresses, gzip_send.c sends a compressed
 * body from memory or a file.
 */
#ifndef WEIR_HTTP_GZIP_T_H
#define WEIR_HTTP_GZIP_T_H

#include <sys/uio.h>
#include <zlib.h>
#include "http/gzip.h"

/* Bytes read from a file per step of the send path. */
#define GZIP_IN_SIZE  32768

struct weir_gzip_s {
    z_stream        zs;
    char           *out;           /* WEIR_GZIP_OUT_SIZE */
    size_t          out_len;
    uint64_t        bytes_in, bytes_out;
    unsigned        finished:1;    /* trailer written */

    /* gzip_send.c */
    unsigned        started:1;     /* head queued */
    unsigned        chunked:1;     /* HTTP/1.1 client: chunk framing */
    unsigned        done:1;        /* everything queued */
    unsigned        growing:1;     /* the file may grow past body_end
                                      (weir_gzip_send_until()) */
    unsigned        synced:1;      /* growing: all input so far flushed
                                      out (Z_SYNC_FLUSH) and queued */
    char           *in;            /* GZIP_IN_SIZE, from a file */
    const char     *in_pos;        /* input not yet compressed */
    size_t          in_left;
    struct iovec    iov[4];        /* head, chunk size, data, CRLF+end */
    int             niov;
    char            chunk_hdr[24];
};

#endif /* WEIR_HTTP_GZIP_T_H */
