/*
 * gzip content coding of responses (route `gzip = on`): which responses
 * are compressed for which clients, the head edits that go with it, and a
 * streaming compressor with a bounded output buffer. The proxy
 * (upstream/proxy_response.c) and the send path of static files, cached
 * objects and generated bodies (http/gzip_send.c) both use it.
 */
#ifndef WEIR_HTTP_GZIP_H
#define WEIR_HTTP_GZIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "http/request.h"

/* Output buffer of a compressor: one chunk to the client at most. */
#define WEIR_GZIP_OUT_SIZE  32768

typedef struct weir_gzip_s weir_gzip_t;

/* Flag for weir_gzip_head(). */
#define WEIR_GZIP_VARY_ONLY 0x01  /* cannot compress this one: add Vary
                                     when eligible, touch nothing else */

/* Does the request's Accept-Encoding take gzip (RFC 9110 12.5.3)? An
 * explicit gzip / x-gzip with q > 0, or `*` with q > 0 when gzip is not
 * named; no field at all is taken as "no" (as browsers always send one
 * and other clients may not decode). 1 or 0. */
int weir_gzip_accepted(const weir_request_t *r);

/* Does the media type `type` (a Content-Type value, parameters allowed)
 * match one of the patterns ("text/html"; "text/" then "*" for any
 * subtype; "*")? types NULL:
 * the built-in list. 1 or 0. */
int weir_gzip_type_match(char *const *types, size_t ntypes,
    const char *type, size_t len);

/*
 * The gzip filter's decision for the response set up in r (r->status, the
 * fields in r->resp_names/values), whose representation is `len` bytes
 * (-1 unknown). Not for this route (gzip off), or not eligible (status
 * other than 200, 403, 404 or 304, a Content-Encoding already, a
 * Cache-Control no-transform, a type outside gzip_types, shorter than
 * gzip_min_length): 0, nothing changed. Eligible: `Vary:
 * Accept-Encoding` is added (merged into an existing Vary); then, if
 * the client takes gzip and flags allow it, the strong ETag is made weak,
 * and for 200/403/404 Content-Length and Accept-Ranges are removed,
 * `Content-Encoding: gzip` added and r->content_length set to -1: returns
 * 1, and the caller compresses the body (a HEAD has none: its head is a
 * GET's all the same). WEIR_ERROR
 * when the pool is out of memory (the head may be half-edited: fail the
 * request).
 */
int weir_gzip_head(weir_request_t *r, off_t len, unsigned flags);

/* A compressor for r at the route's level, allocated in r->pool (zlib's
 * state included: nothing to free), with a window no larger than a known
 * length `len` needs (-1 unknown). NULL without memory. */
weir_gzip_t *weir_gzip_create(weir_request_t *r, off_t len);

/* Compress from in[0..len) into the output buffer, which is emptied
 * first: the caller has sent what it held. Returns the input consumed;
 * less than len when the output buffer filled up. */
size_t weir_gzip_feed(weir_gzip_t *gz, const char *in, size_t len);

/* End the stream: flush and write the trailer into the (emptied) output
 * buffer. 1 when the stream is complete, 0 when the buffer filled first
 * (send it, call again). */
int weir_gzip_finish(weir_gzip_t *gz);

/* Push out what the compressor holds back (Z_SYNC_FLUSH) without ending
 * the stream, so a client can decode everything fed so far: for a
 * response whose origin pauses. 1 when done, 0 when the output buffer
 * filled first (send it, call again). */
int weir_gzip_flush(weir_gzip_t *gz);

/* The output buffer's contents after feed/finish/flush (may be empty: deflate
 * holds data back until a block is worth writing). */
const char *weir_gzip_out(const weir_gzip_t *gz, size_t *len);

/* $gzip_ratio: bytes in over bytes out, "-" before the end. Writes at
 * most cap bytes into buf; returns the length. */
size_t weir_gzip_ratio(const weir_request_t *r, char *buf, size_t cap);

/* The send path of a response whose body is in memory or a file
 * (r->body_mem, r->body_fd) and is being compressed (r->gzip): the head,
 * then the body compressed in bounded steps, chunked to HTTP/1.1 clients
 * and close-delimited to HTTP/1.0. WEIR_OK when all went out, WEIR_AGAIN,
 * WEIR_ERROR (logged). (gzip_send.c) */
int weir_gzip_send(weir_request_t *r);

/* For a file that is still being written (a cache fill streamed to a
 * client that takes gzip, cache/cache_stream.c): its bytes up to `end`
 * may be sent (r->body_end = end), and more=1 says more will come. While
 * more is set, weir_gzip_send() returns WEIR_BUSY once everything up to
 * `end` went out flushed (Z_SYNC_FLUSH), so that the client can decode
 * all of it while it waits; with more=0 it ends the stream and returns
 * WEIR_OK as usual. (gzip_send.c) */
void weir_gzip_send_until(weir_request_t *r, off_t end, int more);

#endif /* WEIR_HTTP_GZIP_H */
