#include "weir_config.h"
#include "cache/cache-t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"
#include "http/gzip.h"
#include "http/response.h"

/*
 * A waiter that does not wait: once the fill it waits for has written its
 * head, the waiter answers from the growing temp file, chunked, sending
 * with sendfile whatever the filler has appended each time inotify says
 * the file grew, and ends when the fill lands (the final header says the
 * length) or is cut when the fill fails (as the filler's own client is).
 * Only plain GETs over HTTP/1.1: a Range, a conditional or an HTTP/1.0
 * client waits for the whole object, which answers them exactly. A client
 * that takes gzip (route gzip = on, an eligible object) gets the same
 * stream compressed on its way out: gzip_send.c reads the temp file
 * instead of sendfile, and flushes the compressor whenever it has caught
 * up with the fill.
 */

static int stream_open(cache_req_t *cr);
static void stream_write_handler(weir_event_t *ev);
static int stream_flush(cache_req_t *cr);

int
weir_cache_stream_start(cache_req_t *cr)
{
    weir_request_t *r = cr->r;
    int             gz;

    if (r->head.version < 11 || r->method != WEIR_HTTP_GET || r->h_range
        || r->h_if_none_match || r->h_if_modified_since || r->h_if_match
        || r->h_if_unmodified_since || cr->stream_fd >= 0
        || stream_open(cr) != WEIR_OK) {
        return 0;
    }
    cr->status = CS_HIT;
    cr->fwd = NULL;
    cr->detail = "streamed-from-fill";
    r->status = (int) cr->obj.o.hdr.status;
    r->nresp = 0;
    if (weir_cache_add_stored_head(cr) != WEIR_OK) {
        weir_cache_obj_close(&cr->obj);
        cr->stream_fd = -1;
        return 0;
    }
    weir_http_add_header(r, "Age", 3, "0", 1);
    weir_cache_status_header(cr, 0, 0);
    /* The filter decides as for a whole hit: a client that takes gzip
     * gets the fill compressed as it grows (stream_progress_gz()). */
    gz = weir_gzip_head(r, -1, 0);
    if (gz == WEIR_ERROR
        || (gz == 1 && weir_gzip_create(r, -1) == NULL)) {
        weir_cache_obj_close(&cr->obj);
        cr->stream_fd = -1;
        return 0;
    }
    weir_http_add_header(r, "Transfer-Encoding", 17, "chunked", 7);
    r->content_length = -1;
    if (weir_http.quitting || r->c->close) {
        r->keepalive = 0;
    }
    if (weir_http_response_head(r) != WEIR_OK) {
        weir_cache_obj_close(&cr->obj);
        cr->stream_fd = -1;
        return 0;
    }
    if (r->gzip) {
        /* gzip_send.c sends the head and the compressed file; the file
         * is offered to it as far as the fill has written it */
        r->body_fd = cr->stream_fd;
        r->body_off = cr->s_off;
        weir_gzip_send_until(r, cr->s_off, 1);
    } else {
        cr->s_head = r->out;
        cr->s_head_len = r->out_len;
        cr->s_sent = 0;
    }
    weir_http_set_handlers(r, NULL, stream_write_handler,
                           "streaming a cache fill");
    weir_cache_stream_progress(cr);
    return 1;
}

/* The fill's temp file, once its head is written, decoded for this key
 * (and this request's Vary values). */
static int
stream_open(cache_req_t *cr)
{
    char         path[WEIR_CACHE_PATH_MAX], err[64], *sec;
    size_t       need = PREFIX_READ, slen;
    ssize_t      n;
    int          fd, rc;
    cache_obj_t  fo = { .fd = -1 }, *o = &fo;

    if (weir_cache_file_tmp_path(cr->cache->conf, cr->lock, cr->fill_id,
                                 path, sizeof(path)) == 0) {
        return WEIR_ERROR;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return WEIR_ERROR;
    }
    for (;;) {
        o->buf = weir_palloc(cr->r->pool, need);
        n = o->buf ? pread(fd, o->buf, need, 0) : -1;
        if (n <= 0) {
            break;
        }
        o->len = (size_t) n;
        rc = weir_cache_file_decode(o->buf, o->len, cr->key, cr->key_len, 0,
                                    &o->o, &need, err, sizeof(err));
        if (rc == WEIR_AGAIN && need > o->len && (size_t) n == o->len
            && need <= PREFIX_MAX) {
            continue;
        }
        if (rc != WEIR_OK || o->o.hdr.body_len != WEIR_CACHE_BODY_UNKNOWN
            || (o->o.hdr.flags & WEIR_CACHE_F_VARY_STUB)) {
            break;      /* not yet, or already whole: the lookup serves */
        }
        if (o->o.hdr.vary_len > 0
            && (weir_cache_secondary_of(cr->r, o->o.vary, o->o.hdr.vary_len,
                                        &sec, &slen) != WEIR_OK
                || slen != o->o.hdr.vary_len
                || memcmp(sec, o->o.vary, slen) != 0)) {
            break;      /* another variant fills: wait, then look up */
        }
        weir_cache_obj_close(&cr->obj);     /* a stale copy we held */
        fo.fd = fd;
        cr->obj = fo;
        cr->stream_fd = fd;
        cr->s_off = (off_t) fo.o.body_off;
        return WEIR_OK;
    }
    close(fd);
    return WEIR_ERROR;
}

static void
stream_write_handler(weir_event_t *ev)
{
    weir_conn_t      *c = ev->data;
    weir_http_conn_t *hc = c->data;
    cache_req_t      *cr = hc->r ? weir_cache_stream_of(hc->r) : NULL;

    if (cr == NULL) {
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        weir_cache_stream_end(cr, 0);
        return;
    }
    weir_cache_stream_progress(cr);
}

/* Write what is queued (head, chunk framing) and then file data.
 * WEIR_OK: all written; WEIR_AGAIN; WEIR_ERROR. */
static int
stream_flush(cache_req_t *cr)
{
    weir_request_t *r = cr->r;
    weir_conn_t    *c = r->c;
    struct iovec    iov[2];
    ssize_t         n;
    int             cnt;

    for (;;) {
        cnt = 0;
        if (cr->s_sent < cr->s_head_len) {
            iov[cnt].iov_base = (char *) cr->s_head + cr->s_sent;
            iov[cnt++].iov_len = cr->s_head_len - cr->s_sent;
        }
        if (cnt == 0 && cr->s_chunk_left > 0) {
            n = c->sendfile(c, cr->stream_fd, &cr->s_off, cr->s_chunk_left);
            if (n == WEIR_AGAIN) {
                weir_http_send_blocked(r);
                return WEIR_AGAIN;
            }
            if (n <= 0) {
                return WEIR_ERROR;
            }
            cr->s_chunk_left -= (size_t) n;
            r->bytes_sent += (uint64_t) n;
            r->body_bytes_sent += (uint64_t) n;
            weir_stat_add(&CSLOT(cr->cache)->bytes_served, (uint64_t) n);
            weir_http_send_moved(r);
            if (!c->write.ready && cr->s_chunk_left > 0) {
                weir_http_send_blocked(r);
                return WEIR_AGAIN;      /* short write: wait for EPOLLOUT */
            }
            if (cr->s_chunk_left == 0) {
                cr->s_head = "\r\n";
                cr->s_head_len = 2;
                cr->s_sent = 0;
            }
            continue;
        }
        if (cnt == 0) {
            return WEIR_OK;
        }
        n = c->writev(c, iov, cnt);
        if (n == WEIR_AGAIN) {
            weir_http_send_blocked(r);
            return WEIR_AGAIN;
        }
        if (n == WEIR_ERROR) {
            return WEIR_ERROR;
        }
        cr->s_sent += (size_t) n;
        r->bytes_sent += (uint64_t) n;
        weir_http_send_moved(r);
    }
}

/* How far the fill has written (*end, a file offset) and whether it is
 * still at it. WEIR_ERROR when the fill failed: it never wrote the final
 * header, which says how long the body is. */
static int
stream_fill_end(cache_req_t *cr, off_t *end, int *filling)
{
    weir_cache_hdr_t   hdr;
    weir_cache_entry_t e = { .state = 0 };
    struct stat        st;

    if (fstat(cr->stream_fd, &st) != 0) {
        return WEIR_ERROR;
    }
    *end = st.st_size;
    *filling = cr->cache->idx
               && (weir_cache_index_lookup(cr->cache->idx, cr->lock,
                                           weir_current_wall_msec, 0, &e)
                   & WEIR_CACHE_FILLING)
               && e.fill_id == cr->fill_id;
    if (!*filling) {
        if (pread(cr->stream_fd, &hdr, sizeof(hdr), 0)
                != (ssize_t) sizeof(hdr)
            || hdr.body_len == WEIR_CACHE_BODY_UNKNOWN
            || (off_t) (cr->obj.o.body_off + hdr.body_len) > *end) {
            return WEIR_ERROR;
        }
        *end = (off_t) (cr->obj.o.body_off + hdr.body_len);
    }
    return WEIR_OK;
}

/* The compressed stream: gzip_send.c reads the temp file up to what the
 * fill has written, compresses and writes with back-pressure, and
 * sync-flushes whenever it catches up, so the client can decode all that
 * the fill has written while the origin pauses. */
static void
stream_progress_gz(cache_req_t *cr)
{
    weir_request_t *r = cr->r;
    off_t           end;
    int             rc, filling;

    for (;;) {
        rc = weir_gzip_send(r);
        if (rc == WEIR_AGAIN) {
            weir_timer_add(&r->c->write, weir_http.conf->send_timeout);
            return;
        }
        weir_timer_del(&r->c->write);
        if (rc == WEIR_ERROR) {
            weir_cache_stream_end(cr, 0);
            return;
        }
        if (rc == WEIR_OK) {
            weir_cache_stream_end(cr, 1);   /* the trailer went out */
            return;
        }
        /* WEIR_BUSY: everything offered so far went out */
        if (stream_fill_end(cr, &end, &filling) != WEIR_OK) {
            weir_cache_stream_end(cr, 0);
            return;
        }
        if (end > r->body_end || !filling) {
            if (end > r->body_end) {
                weir_stat_add(&CSLOT(cr->cache)->bytes_served,
                              (uint64_t) (end - r->body_end));
            }
            weir_gzip_send_until(r, end, filling);
            continue;
        }
        weir_timer_add(&cr->wait_ev, cr->cache->conf->lock_timeout);
        return;
    }
}

/* The file grew, the fill ended, or the client can take more. */
void
weir_cache_stream_progress(cache_req_t *cr)
{
    weir_request_t    *r = cr->r;
    off_t              end;
    int                rc, filling;

    if (r->gzip) {
        stream_progress_gz(cr);
        return;
    }
    for (;;) {
        rc = stream_flush(cr);
        if (rc == WEIR_AGAIN) {
            weir_timer_add(&r->c->write, weir_http.conf->send_timeout);
            return;
        }
        weir_timer_del(&r->c->write);
        if (rc == WEIR_ERROR) {
            weir_cache_stream_end(cr, 0);
            return;
        }
        if (cr->s_done) {
            weir_cache_stream_end(cr, 1);
            return;
        }
        if (stream_fill_end(cr, &end, &filling) != WEIR_OK) {
            weir_cache_stream_end(cr, 0);
            return;
        }
        if (end > cr->s_off) {
            int h = snprintf(cr->s_chunk, sizeof(cr->s_chunk), "%llx\r\n",
                             (unsigned long long) (end - cr->s_off));
            cr->s_chunk_left = (size_t) (end - cr->s_off);
            cr->s_head = cr->s_chunk;
            cr->s_head_len = (size_t) h;
            cr->s_sent = 0;
            continue;
        }
        if (!filling) {
            cr->s_head = "0\r\n\r\n";
            cr->s_head_len = 5;
            cr->s_sent = 0;
            cr->s_done = 1;
            continue;
        }
        /* Wait for the filler: inotify wakes us when it writes. */
        weir_timer_add(&cr->wait_ev, cr->cache->conf->lock_timeout);
        return;
    }
}

void
weir_cache_stream_end(cache_req_t *cr, int ok)
{
    weir_request_t *r = cr->r;

    weir_cache_wait_cancel(cr);
    weir_timer_del(&r->c->write);
    weir_cache_obj_close(&cr->obj);
    cr->stream_fd = -1;
    if (ok) {
        weir_http_finalize(r);
    } else {
        /* The fill failed under us: cut, so the client sees a truncated
         * response rather than a short one that looks whole. */
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       "cache fill streamed to this client failed");
        weir_http_abort(r);
    }
}
