#include "weir_config.h"
#include "cache/cache-t.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/sbuf.h"
#include "core/str.h"
#include "core/wtime.h"
#include "http/cond.h"
#include "http/handler.h"

/* Answers from a cache file: the stored head, a fresh Age and
 * Cache-Status, conditionals and Range through the same code as a static
 * file (weir_http_send_rep()), the body with sendfile. */


int
weir_cache_head_next(const char **p, const char *end, weir_http_header_t *h)
{
    const char *eol, *colon, *v, *ve;

    while (*p < end && (eol = memchr(*p, '\n', (size_t) (end - *p)))) {
        colon = memchr(*p, ':', (size_t) (eol - *p));
        if (colon == NULL) {
            *p = eol + 1;
            continue;
        }
        v = colon + 1;
        ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t')) {
            v++;
        }
        while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
            ve--;
        }
        h->name = *p;
        h->name_len = (size_t) (colon - *p);
        h->value = v;
        h->value_len = (size_t) (ve - v);
        *p = eol + 1;
        return 1;
    }
    return 0;
}

const char *
weir_cache_head_field(const cache_obj_t *o, const char *name, size_t *len)
{
    const char         *p = o->o.head, *end = p + o->o.hdr.head_len;
    size_t              n = strlen(name);
    weir_http_header_t  h;

    while (weir_cache_head_next(&p, end, &h)) {
        if (h.name_len == n && weir_strncaseeq(h.name, name, n)) {
            *len = h.value_len;
            return h.value;
        }
    }
    return NULL;
}

/* The stored fields, but Age (made per answer). */
int
weir_cache_add_stored_head(cache_req_t *cr)
{
    const cache_obj_t  *o = &cr->obj;
    const char         *p = o->o.head, *end = p + o->o.hdr.head_len;
    weir_http_header_t  h;

    while (weir_cache_head_next(&p, end, &h)) {
        if (!(h.name_len == 3 && weir_strncaseeq(h.name, "age", 3))
            && weir_http_add_header(cr->r, h.name, h.name_len, h.value,
                                    h.value_len) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

void
weir_cache_status_header(cache_req_t *cr, int fwd_status, int stored)
{
    weir_request_t *r = cr->r;
    weir_sbuf_t     sb;
    int64_t         now = weir_cache_now();

    r->cache_status = weir_cache_status_name(cr->status);
    weir_sbuf_init_pool(&sb, r->pool, 128);
    weir_sbuf_lit(&sb, "weir");
    if (cr->fwd == NULL) {
        weir_sbuf_lit(&sb, "; hit");
    } else {
        weir_sbuf_lit(&sb, "; fwd=");
        weir_sbuf_append_cstr(&sb, cr->fwd);
        if (fwd_status > 0) {
            weir_sbuf_lit(&sb, "; fwd-status=");
            weir_sbuf_append_u64(&sb, (uint64_t) fwd_status);
        }
    }
    if (stored) {
        weir_sbuf_lit(&sb, "; stored");
    }
    if (cr->collapsed) {
        weir_sbuf_lit(&sb, "; collapsed");
    }
    if (cr->obj.fd >= 0 || stored) {
        int64_t ttl = cr->obj.fd >= 0
                      ? weir_cache_ttl(&cr->obj.o.meta, now) : 0;
        if (cr->obj.fd >= 0) {
            weir_sbuf_lit(&sb, "; ttl=");
            if (ttl < 0) {
                weir_sbuf_lit(&sb, "-");
                ttl = -ttl;
            }
            weir_sbuf_append_u64(&sb, (uint64_t) ttl);
        }
    }
    if (cr->detail) {
        weir_sbuf_lit(&sb, "; detail=");
        weir_sbuf_append_cstr(&sb, cr->detail);
    }
    if (!weir_sbuf_failed(&sb)) {
        weir_http_add_header(r, "Cache-Status", 12, sb.data, sb.len);
    }
}

void
weir_cache_serve(cache_req_t *cr, int status)
{
    weir_request_t       *r = cr->r;
    cache_obj_t          *o = &cr->obj;
    cache_slot_t         *s = CSLOT(cr->cache);
    weir_http_cond_t      cond;
    weir_http_rep_t       rep;
    weir_http_cond_res_t  res;
    const char           *etag, *lm;
    char                 *etag_z = NULL, agebuf[24];
    size_t                elen = 0, lmlen = 0;
    int64_t               age, lmt;
    int                   fd, n;

    cr->status = status;
    switch (status) {
    case CS_HIT:
        /* (a request that waited for a fill looked up again: what its
         * first lookup said does not describe this answer) */
        cr->fwd = NULL;
        cr->detail = NULL;
        weir_stat_add(&s->hits, 1);
        break;
    case CS_STALE:
        weir_stat_add(&s->stale, 1);
        break;
    case CS_UPDATING:
        cr->fwd = NULL;
        weir_stat_add(&s->updating, 1);
        cr->detail = "stale-while-revalidate";
        break;
    case CS_REVALIDATED:
        weir_stat_add(&s->revalidated, 1);
        break;
    default:
        break;
    }
    r->nresp = 0;
    if (weir_cache_add_stored_head(cr) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    age = weir_cache_age(&o->o.meta, weir_cache_now());
    n = (int) (weir_sprint_u64(agebuf, (uint64_t) weir_max(age, 0))
               - agebuf);
    weir_http_add_header(r, "Age", 3, weir_pstrndup(r->pool, agebuf,
                                                      (size_t) n),
                         (size_t) n);
    weir_cache_status_header(cr, status == CS_STALE ? r->upstream_status
                                 : status == CS_REVALIDATED ? 304 : 0, 0);

    fd = o->fd;
    if (o->ofe) {
        /* The open-file cache keeps it; the request's cleanup gives it
         * back (weir_cache_obj_close()). */
        r->body_fd = fd;
    } else if (weir_http_attach_file(r, fd) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    o->fd = -1;        /* the request has it now */
    if (o->o.hdr.status != 200) {
        /* Only a 200 has a representation that conditionals and Range
         * select from: any other stored answer goes out as it is. */
        r->status = (int) o->o.hdr.status;
        r->body_fd = fd;
        r->body_off = (off_t) o->o.body_off;
        r->body_end = (off_t) (o->o.body_off + o->o.hdr.body_len);
        r->content_length = (off_t) o->o.hdr.body_len;
        weir_stat_add(&s->bytes_served, o->o.hdr.body_len);
        weir_http_send_response(r);
        return;
    }
    etag = weir_cache_head_field(o, "etag", &elen);
    if (etag) {
        etag_z = weir_pstrndup(r->pool, etag, elen);
    }
    if (weir_http_request_cond(r, &cond) != WEIR_OK) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    rep.etag = etag_z;
    rep.mtime = (time_t) -1;
    rep.size = (off_t) o->o.hdr.body_len;
    if (cond.if_modified_since || cond.if_unmodified_since || cond.if_range) {
        /* Only these compare dates: parsing one costs more than the
         * rest of a hit's checks together. */
        lm = weir_cache_head_field(o, "last-modified", &lmlen);
        lmt = lm ? weir_cache_parse_date(lm, lmlen) : WEIR_CACHE_ABSENT;
        rep.mtime = lmt == WEIR_CACHE_ABSENT ? (time_t) -1 : (time_t) lmt;
    }
    weir_http_cond_eval(&cond, &rep, &res);
    if (r->method != WEIR_HTTP_HEAD) {
        weir_stat_add(&s->bytes_served, (uint64_t) res.length);
    }
    /* A small body came in with the header read: it goes out with the
     * head in one writev (a sendfile more would cost a syscall for a
     * few hundred bytes already in memory); larger ones with sendfile. */
    weir_http_send_rep(r, fd, (off_t) o->o.body_off,
                       o->o.body_off + o->o.hdr.body_len <= o->len
                           ? o->buf + o->o.body_off : NULL,
                       rep.size, &res);
}
