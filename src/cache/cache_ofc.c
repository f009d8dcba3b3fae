#include "weir_config.h"
#include "cache/cache-t.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/wtime.h"

/*
 * The open-file cache of one [cache] in one worker (`open_files`): the
 * files of recent hits kept open, with the prefix read from them and its
 * decoded header, so that a hit on one of them costs no open(), pread()
 * or close(). Keyed by digest; an LRU of at most open_files entries.
 *
 * An entry is the file of one gen of the index slot (cache_index.c): it
 * is used only while the slot, looked up for this very request, still
 * has that gen. The gen changes after every rename that may have put
 * another file at the digest, and the slot goes on purge, invalidation
 * and eviction, so a purged, replaced or rewritten (304) object is never
 * served from a file kept open: the entry is dropped at the first hit
 * that finds it out of date, and the request opens the file again.
 * Each hit also fstat()s the file: a link count of 0 means it was
 * unlinked or renamed over, which is how a change made by the other
 * master of a binary upgrade (whose index is not this one) shows. One
 * system call, against the open, pread and close it saves.
 *
 * Requests borrow entries (refs): an entry dropped while a response is
 * still being sent from it leaves the table at once and is closed when
 * the last of them ends. A file kept open keeps its disk space after an
 * unlink, so entries not hit for open_files_inactive are closed by a
 * timer: the space of a purged or evicted object comes back within
 * about that time, or at the next hit of its digest.
 */

struct cache_ofe_s {
    cache_ofe_t      *hnext;          /* hash chain */
    cache_ofe_t      *prev, *next;    /* LRU: head = most recently hit */
    uint8_t           digest[WEIR_CACHE_DIGEST_LEN];
    uint32_t          gen;
    int               fd;
    int               refs;           /* requests using it */
    unsigned          dead:1;         /* out of the table: closed at 0 */
    weir_msec_t       used;
    size_t            len;
    uint64_t          file_size;
    weir_cache_obj_t  o;              /* points into buf */
    char              buf[];          /* the prefix read */
};

struct cache_ofc_s {
    cache_ofe_t     **hash;
    size_t            mask;
    cache_ofe_t      *head, *tail;
    size_t            count, max;
    weir_msec_t       inactive;
    weir_event_t      timer;
};

#define OFC_SWEEP 1000      /* ms between two looks for inactive entries */

static cache_ofe_t **slot_of(cache_ofc_t *c, const uint8_t *digest);
static void unlink_entry(cache_ofc_t *c, cache_ofe_t *e);
static void sweep(weir_event_t *ev);

int
weir_cache_ofc_init(cache_t *cache)
{
    cache_ofc_t *c;
    size_t       n = 16;

    if (cache->conf->open_files <= 0 || cache->idx == NULL) {
        return WEIR_OK;             /* no gens to check entries against */
    }
    c = calloc(1, sizeof(*c));
    while (n < (size_t) cache->conf->open_files * 2) {
        n <<= 1;
    }
    if (c == NULL || (c->hash = calloc(n, sizeof(*c->hash))) == NULL) {
        free(c);
        return WEIR_ERROR;
    }
    c->mask = n - 1;
    c->max = (size_t) cache->conf->open_files;
    c->inactive = cache->conf->open_files_inactive;
    c->timer.handler = sweep;
    c->timer.data = c;
    cache->ofc = c;
    return WEIR_OK;
}

static cache_ofe_t **
slot_of(cache_ofc_t *c, const uint8_t *digest)
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return &c->hash[h & c->mask];
}

/* Out of the hash and the LRU; closed now, or by the last borrower. */
static void
unlink_entry(cache_ofc_t *c, cache_ofe_t *e)
{
    cache_ofe_t **pp = slot_of(c, e->digest);

    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    if (e->prev) {
        e->prev->next = e->next;
    } else {
        c->head = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    } else {
        c->tail = e->prev;
    }
    c->count--;
    e->dead = 1;
    if (e->refs == 0) {
        close(e->fd);
        free(e);
    }
}

static void
to_head(cache_ofc_t *c, cache_ofe_t *e)
{
    if (c->head == e) {
        return;
    }
    e->prev->next = e->next;        /* not the head: it has a prev */
    if (e->next) {
        e->next->prev = e->prev;
    } else {
        c->tail = e->prev;
    }
    e->prev = NULL;
    e->next = c->head;
    c->head->prev = e;
    c->head = e;
}

static void
lend(cache_ofe_t *e, cache_obj_t *o)
{
    e->refs++;
    o->ofe = e;
    o->fd = e->fd;
    o->buf = e->buf;
    o->len = e->len;
    o->file_size = e->file_size;
    o->o = e->o;
}

int
weir_cache_ofc_get(cache_req_t *cr, const uint8_t *digest, uint32_t gen,
    cache_obj_t *o)
{
    cache_ofc_t *c = cr->cache->ofc;
    cache_ofe_t *e;
    struct stat  st;

    for (e = *slot_of(c, digest); e; e = e->hnext) {
        if (memcmp(e->digest, digest, WEIR_CACHE_DIGEST_LEN) == 0) {
            break;
        }
    }
    if (e == NULL) {
        return 0;
    }
    if (e->gen != gen || e->o.hdr.key_len != cr->key_len
        || memcmp(e->o.key, cr->key, cr->key_len) != 0
        || fstat(e->fd, &st) != 0 || st.st_nlink == 0) {
        unlink_entry(c, e);         /* another file is there now */
        return 0;
    }
    e->used = weir_current_msec;
    to_head(c, e);
    lend(e, o);
    return 1;
}

void
weir_cache_ofc_put(cache_req_t *cr, const uint8_t *digest, cache_obj_t *o)
{
    cache_ofc_t  *c = cr->cache->ofc;
    cache_ofe_t  *e, **pp;

    for (e = *slot_of(c, digest); e; e = e->hnext) {
        if (memcmp(e->digest, digest, WEIR_CACHE_DIGEST_LEN) == 0) {
            unlink_entry(c, e);
            break;
        }
    }
    if (c->count >= c->max) {
        for (e = c->tail; e && e->refs > 0; e = e->prev) {
            /* in use: kept */
        }
        if (e == NULL) {
            return;                 /* all busy: this one stays uncached */
        }
        unlink_entry(c, e);
    }
    e = malloc(sizeof(*e) + o->len);
    if (e == NULL) {
        return;
    }
    memcpy(e->buf, o->buf, o->len);
    e->o = o->o;
    /* the decoded parts, moved into the copy */
    e->o.key = e->buf + (o->o.key - o->buf);
    e->o.vary = e->buf + (o->o.vary - o->buf);
    e->o.head = e->buf + (o->o.head - o->buf);
    memcpy(e->digest, digest, WEIR_CACHE_DIGEST_LEN);
    e->gen = o->gen;
    e->fd = o->fd;
    e->refs = 0;
    e->dead = 0;
    e->used = weir_current_msec;
    e->len = o->len;
    e->file_size = o->file_size;
    pp = slot_of(c, digest);
    e->hnext = *pp;
    *pp = e;
    e->prev = NULL;
    e->next = c->head;
    if (c->head) {
        c->head->prev = e;
    } else {
        c->tail = e;
    }
    c->head = e;
    c->count++;
    lend(e, o);
    if (c->timer.heap_slot == 0) {
        weir_timer_add(&c->timer, OFC_SWEEP);
    }
}

void
weir_cache_ofc_release(cache_ofe_t *e)
{
    if (--e->refs == 0 && e->dead) {
        close(e->fd);
        free(e);
    }
}

/* Close what was not hit for `inactive`: the LRU's tail is the oldest. */
static void
sweep(weir_event_t *ev)
{
    cache_ofc_t *c = ev->data;
    cache_ofe_t *e, *prev;

    for (e = c->tail; e && weir_current_msec - e->used >= c->inactive;
         e = prev) {
        prev = e->prev;
        if (e->refs == 0) {
            unlink_entry(c, e);
        }
    }
    if (c->count > 0) {
        weir_timer_add(&c->timer, OFC_SWEEP);
    }
}

size_t
weir_cache_ofc_count(const cache_t *cache)
{
    return cache->ofc ? cache->ofc->count : 0;
}
