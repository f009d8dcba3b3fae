#include "weir_config.h"
#include "core/shm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "core/core.h"
#include "core/str.h"

/*
 * Segment layout:
 *
 *   [ header | page descriptors (one per allocator page) | pad | pages ]
 *
 * The page descriptors are the allocator's source of truth. Every block
 * (a free run, an allocated run, or a slab page of one size class) has a
 * head descriptor holding its type and length, so the blocks can be
 * walked from page 0; the tail descriptor of each block is kept right too
 * (type, and for free runs the head index) so that freeing a run can find
 * and merge its neighbours in O(1). The free-run list and the per-class
 * lists of slab pages with room are doubly linked through the
 * descriptors; they are derived state and can be rebuilt by a walk.
 *
 * Each mutation is ordered so that the walk stays valid after any single
 * store: that is what lets a process that inherits the lock from a dead
 * owner rebuild everything (shm_rebuild) instead of trusting half-updated
 * lists.
 */

#define SHM_MAGIC       0x776569722d73686dULL   /* "weir-shm" */
#define SHM_NONE        UINT32_MAX               /* no page (list end) */
#define SHM_PAGE_SHIFT  12
#define SHM_MIN_SHIFT   4                        /* 16-byte class */
#define SHM_NCLASSES    (SHM_PAGE_SHIFT - SHM_MIN_SHIFT + 1)
#define SHM_MAP_WORDS   ((WEIR_SHM_PAGE >> SHM_MIN_SHIFT) / 64)

/* Descriptor types; a slab page of class c has type SHM_SLAB + c. Fresh
 * (zeroed) memory reads as SHM_FREE. */
enum {
    SHM_FREE = 0,
    SHM_RUN,         /* head of an allocated run */
    SHM_TAIL,        /* last page of an allocated run of 2+ pages */
    SHM_SLAB
};

typedef struct {
    uint32_t next;       /* list links (page indices) */
    uint32_t prev;
    uint32_t npages;     /* block head: pages in the block */
    uint32_t head;       /* free-run tail: index of the run's head */
    uint16_t type;
    uint16_t nfree;      /* slab page: free objects */
    uint32_t pad;
    uint64_t map[SHM_MAP_WORDS];   /* slab page: 1 bit per live object */
} shm_page_t;

typedef struct {
    weir_shm_off_t next;
    uint32_t       pad;
    uint64_t       size;
    char           name[WEIR_SHM_NAME_MAX + 1];
} shm_zone_t;

struct weir_shm_s {
    uint64_t          magic;
    uint64_t          size;              /* bytes mapped */
    uint32_t          npages;            /* allocator pages */
    uint32_t          desc_off;
    uint32_t          data_off;          /* page 0, page aligned */
    uint32_t          free_runs;         /* list of free-run heads */
    uint32_t          partial[SHM_NCLASSES];  /* slab pages with room */
    uint32_t          used_pages;
    weir_shm_off_t    zones;             /* newest zone first */
    uint64_t          recoveries;
    weir_shm_mutex_t  lock;              /* guards everything above */
};

_Static_assert(sizeof(shm_zone_t) == 128, "zone record keeps data aligned");

/*
 * Crash points. The unit test compiles this file with WEIR_SHM_FAULT
 * defined to make a process die at point n inside the allocator lock, and
 * checks that the next locker recovers; in weir itself they are empty.
 */
#ifndef WEIR_SHM_FAULT
#define WEIR_SHM_FAULT(n)
#endif

static shm_page_t *shm_pages(weir_shm_t *shm);
static int shm_lock(weir_shm_t *shm);
static void *shm_alloc_locked(weir_shm_t *shm, size_t size);
static void *slab_alloc(weir_shm_t *shm, unsigned cls);
static int slab_free(weir_shm_t *shm, uint32_t i, size_t in);
static unsigned slab_count(unsigned cls);
static unsigned slab_live(const shm_page_t *pg, unsigned cls);
static uint32_t run_alloc(weir_shm_t *shm, uint32_t n, uint16_t type);
static void run_free(weir_shm_t *shm, uint32_t i);
static void list_push(weir_shm_t *shm, uint32_t *head, uint32_t i);
static void list_remove(weir_shm_t *shm, uint32_t *head, uint32_t i);
static void shm_rebuild(weir_shm_t *shm);
static void rebuild_close_free(weir_shm_t *shm, uint32_t h);
static int check_lists(weir_shm_t *shm, const unsigned char *kind);


weir_shm_t *
weir_shm_create(size_t size, char *err, size_t errlen)
{
    weir_shm_t *shm;
    shm_page_t *pg;
    size_t      hdr, data_off, npages;
    void       *base;

    if (size < WEIR_SHM_MIN_SIZE) {
        weir_str_errf(err, errlen, "shared memory size %zu is too small "
            "(at least %zu bytes)", size, WEIR_SHM_MIN_SIZE);
        return NULL;
    }
    if (size > WEIR_SHM_MAX_SIZE) {
        weir_str_errf(err, errlen, "shared memory size %zu is too large "
            "(at most %zu bytes)", size, WEIR_SHM_MAX_SIZE);
        return NULL;
    }
    size = weir_align(size, WEIR_SHM_PAGE);

    /* Each page costs its own bytes plus a descriptor; trim until the
     * page-aligned data area fits. */
    hdr = weir_align(sizeof(struct weir_shm_s), 64);
    npages = (size - hdr) / (WEIR_SHM_PAGE + sizeof(shm_page_t));
    for (;;) {
        data_off = weir_align(hdr + npages * sizeof(shm_page_t),
            WEIR_SHM_PAGE);
        if (data_off + npages * WEIR_SHM_PAGE <= size) {
            break;
        }
        npages--;
    }

    base = mmap(NULL, size, PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        weir_str_errf(err, errlen, "mmap(%zu) of the shared memory segment "
            "failed: %s", size, strerror(errno));
        return NULL;
    }

    /* Anonymous memory is zeroed: every descriptor already reads as
     * SHM_FREE and every list field not set below is unused. */
    shm = base;
    shm->magic = SHM_MAGIC;
    shm->size = size;
    shm->npages = (uint32_t) npages;
    shm->desc_off = (uint32_t) hdr;
    shm->data_off = (uint32_t) data_off;
    shm->free_runs = SHM_NONE;
    for (unsigned c = 0; c < SHM_NCLASSES; c++) {
        shm->partial[c] = SHM_NONE;
    }
    shm->zones = WEIR_SHM_OFF_NULL;

    if (weir_shm_mutex_init(&shm->lock) != WEIR_OK) {
        weir_str_errf(err, errlen, "cannot initialise the shared memory lock");
        munmap(base, size);
        return NULL;
    }

    pg = shm_pages(shm);
    pg[0].npages = (uint32_t) npages;
    pg[npages - 1].head = 0;
    list_push(shm, &shm->free_runs, 0);
    return shm;
}

void
weir_shm_destroy(weir_shm_t *shm)
{
    if (shm == NULL) {
        return;
    }
    /* The mutex is not destroyed: other processes may still use it. */
    munmap(shm, shm->size);
}

static shm_page_t *
shm_pages(weir_shm_t *shm)
{
    return (shm_page_t *) ((char *) shm + shm->desc_off);
}

/* Take the allocator lock; after an owner died, rebuild before use. */
static int
shm_lock(weir_shm_t *shm)
{
    int rc = weir_shm_lock(&shm->lock);

    if (rc == WEIR_DONE) {
        shm_rebuild(shm);
        shm->recoveries++;
        rc = WEIR_OK;
    }
    return rc;
}

void *
weir_shm_alloc(weir_shm_t *shm, size_t size)
{
    void *p;

    if (size == 0 || shm_lock(shm) != WEIR_OK) {
        return NULL;
    }
    p = shm_alloc_locked(shm, size);
    weir_shm_unlock(&shm->lock);
    return p;
}

void *
weir_shm_calloc(weir_shm_t *shm, size_t size)
{
    void *p;

    if (size > PTRDIFF_MAX) {    /* never fits; tells the compiler too */
        return NULL;
    }
    p = weir_shm_alloc(shm, size);
    /* Zeroed outside the lock: the memory is already ours. */
    if (p != NULL) {
        memset(p, 0, size);
    }
    return p;
}

static void *
shm_alloc_locked(weir_shm_t *shm, size_t size)
{
    unsigned shift = SHM_MIN_SHIFT;
    uint32_t i;

    if (size == 0) {
        return NULL;
    }
    if (size <= WEIR_SHM_PAGE) {
        while (((size_t) 1 << shift) < size) {
            shift++;
        }
        return slab_alloc(shm, shift - SHM_MIN_SHIFT);
    }
    if (size > (size_t) shm->npages * WEIR_SHM_PAGE) {
        return NULL;
    }
    i = run_alloc(shm, (uint32_t) ((size + WEIR_SHM_PAGE - 1)
        >> SHM_PAGE_SHIFT), SHM_RUN);
    if (i == SHM_NONE) {
        return NULL;
    }
    return (char *) shm + shm->data_off + ((size_t) i << SHM_PAGE_SHIFT);
}

int
weir_shm_free(weir_shm_t *shm, void *p)
{
    shm_page_t *pg;
    size_t      off, rel;
    uint32_t    i;
    int         rc = WEIR_ERROR;

    if (p == NULL) {
        return WEIR_OK;
    }
    /* Compared as integers: p may not point into the segment at all. */
    if ((uintptr_t) p < (uintptr_t) shm + shm->data_off
        || (uintptr_t) p >= (uintptr_t) shm + shm->size)
    {
        return WEIR_ERROR;
    }
    off = (size_t) ((uintptr_t) p - (uintptr_t) shm);
    rel = off - shm->data_off;
    i = (uint32_t) (rel >> SHM_PAGE_SHIFT);
    if (i >= shm->npages || shm_lock(shm) != WEIR_OK) {
        return WEIR_ERROR;
    }
    pg = &shm_pages(shm)[i];
    if (pg->type >= SHM_SLAB && pg->type < SHM_SLAB + SHM_NCLASSES) {
        rc = slab_free(shm, i, rel & (WEIR_SHM_PAGE - 1));
    } else if (pg->type == SHM_RUN && (rel & (WEIR_SHM_PAGE - 1)) == 0) {
        run_free(shm, i);
        rc = WEIR_OK;
    }
    weir_shm_unlock(&shm->lock);
    return rc;
}

static unsigned
slab_count(unsigned cls)
{
    return WEIR_SHM_PAGE >> (cls + SHM_MIN_SHIFT);
}

static unsigned
slab_live(const shm_page_t *pg, unsigned cls)
{
    unsigned count = slab_count(cls), live = 0;

    for (unsigned w = 0; w < SHM_MAP_WORDS && w * 64 < count; w++) {
        live += (unsigned) __builtin_popcountll(pg->map[w]);
    }
    return live;
}

static void *
slab_alloc(weir_shm_t *shm, unsigned cls)
{
    shm_page_t *pg;
    uint32_t    i = shm->partial[cls];
    unsigned    count = slab_count(cls);
    uint64_t    avail;

    if (i == SHM_NONE) {
        i = run_alloc(shm, 1, (uint16_t) (SHM_SLAB + cls));
        if (i == SHM_NONE) {
            return NULL;
        }
        list_push(shm, &shm->partial[cls], i);
        WEIR_SHM_FAULT(11);
    }
    pg = &shm_pages(shm)[i];
    for (unsigned w = 0; w < SHM_MAP_WORDS && w * 64 < count; w++) {
        avail = ~pg->map[w];
        if (count < 64) {
            avail &= ((uint64_t) 1 << count) - 1;
        }
        if (avail == 0) {
            continue;
        }
        unsigned b = (unsigned) __builtin_ctzll(avail);
        pg->map[w] |= (uint64_t) 1 << b;
        WEIR_SHM_FAULT(12);
        if (--pg->nfree == 0) {
            WEIR_SHM_FAULT(13);
            list_remove(shm, &shm->partial[cls], i);
        }
        return (char *) shm + shm->data_off
            + ((size_t) i << SHM_PAGE_SHIFT)
            + ((size_t) (w * 64 + b) << (cls + SHM_MIN_SHIFT));
    }
    /* A listed page without room: the lists disagree with the bitmap.
     * Unreachable unless memory was scribbled on; fail the allocation. */
    return NULL;
}

static int
slab_free(weir_shm_t *shm, uint32_t i, size_t in)
{
    shm_page_t *pg = &shm_pages(shm)[i];
    unsigned    cls = pg->type - SHM_SLAB;
    unsigned    count = slab_count(cls);
    size_t      b;
    uint64_t    bit;

    if ((in & (((size_t) 1 << (cls + SHM_MIN_SHIFT)) - 1)) != 0) {
        return WEIR_ERROR;
    }
    b = in >> (cls + SHM_MIN_SHIFT);
    bit = (uint64_t) 1 << (b & 63);
    if ((pg->map[b >> 6] & bit) == 0) {
        return WEIR_ERROR;       /* double free */
    }
    pg->map[b >> 6] &= ~bit;
    WEIR_SHM_FAULT(14);
    pg->nfree++;
    WEIR_SHM_FAULT(15);
    if (pg->nfree == count) {
        if (count > 1) {
            list_remove(shm, &shm->partial[cls], i);
            WEIR_SHM_FAULT(16);
        }
        run_free(shm, i);
    } else if (pg->nfree == 1) {
        list_push(shm, &shm->partial[cls], i);
    }
    return WEIR_OK;
}

/* First fit over the free runs; the front of the run is taken. */
static uint32_t
run_alloc(weir_shm_t *shm, uint32_t n, uint16_t type)
{
    shm_page_t *pg = shm_pages(shm);
    uint32_t    i, m, r;

    for (i = shm->free_runs; i != SHM_NONE; i = pg[i].next) {
        if (pg[i].npages >= n) {
            break;
        }
    }
    if (i == SHM_NONE) {
        return SHM_NONE;
    }
    m = pg[i].npages;
    list_remove(shm, &shm->free_runs, i);
    WEIR_SHM_FAULT(1);
    if (m > n) {
        /* Describe the remainder before shrinking the head, so a walk
         * never meets an undescribed page. */
        r = i + n;
        pg[r].type = SHM_FREE;
        pg[r].npages = m - n;
        pg[i + m - 1].type = SHM_FREE;
        pg[i + m - 1].head = r;
        WEIR_SHM_FAULT(2);
        list_push(shm, &shm->free_runs, r);
        WEIR_SHM_FAULT(3);
    }
    if (type >= SHM_SLAB) {
        memset(pg[i].map, 0, sizeof(pg[i].map));
        pg[i].nfree = (uint16_t) slab_count(type - SHM_SLAB);
    }
    pg[i].npages = n;
    WEIR_SHM_FAULT(4);
    if (n > 1) {
        pg[i + n - 1].type = SHM_TAIL;
        pg[i + n - 1].head = i;
    }
    pg[i].type = type;
    WEIR_SHM_FAULT(5);
    shm->used_pages += n;
    return i;
}

/* Return the block at i to the free runs, merging with free neighbours. */
static void
run_free(weir_shm_t *shm, uint32_t i)
{
    shm_page_t *pg = shm_pages(shm);
    uint32_t    n = pg[i].npages, start = i, len = n, h;

    shm->used_pages -= n;
    WEIR_SHM_FAULT(6);
    pg[i].type = SHM_FREE;    /* first: a walk now sees a free block */
    WEIR_SHM_FAULT(7);
    if (i + n < shm->npages && pg[i + n].type == SHM_FREE) {
        list_remove(shm, &shm->free_runs, i + n);
        WEIR_SHM_FAULT(8);
        len += pg[i + n].npages;
    }
    if (i > 0 && pg[i - 1].type == SHM_FREE) {
        h = pg[i - 1].head;
        list_remove(shm, &shm->free_runs, h);
        WEIR_SHM_FAULT(9);
        start = h;
        len += pg[h].npages;
    }
    pg[start].npages = len;
    WEIR_SHM_FAULT(10);
    pg[start + len - 1].type = SHM_FREE;
    pg[start + len - 1].head = start;
    list_push(shm, &shm->free_runs, start);
}

static void
list_push(weir_shm_t *shm, uint32_t *head, uint32_t i)
{
    shm_page_t *pg = shm_pages(shm);

    pg[i].prev = SHM_NONE;
    pg[i].next = *head;
    if (*head != SHM_NONE) {
        pg[*head].prev = i;
    }
    *head = i;
}

static void
list_remove(weir_shm_t *shm, uint32_t *head, uint32_t i)
{
    shm_page_t *pg = shm_pages(shm);

    if (pg[i].prev == SHM_NONE) {
        *head = pg[i].next;
    } else {
        pg[pg[i].prev].next = pg[i].next;
    }
    if (pg[i].next != SHM_NONE) {
        pg[pg[i].next].prev = pg[i].prev;
    }
    pg[i].next = pg[i].prev = SHM_NONE;
}

/*
 * A process died holding the allocator lock: rebuild every derived field
 * (lists, free counts, tails, used count) from the block heads. Adjacent
 * free blocks are merged and empty slab pages released. An allocation the
 * dead process had made but not returned stays allocated (leaked), which
 * is the safe direction.
 */
static void
shm_rebuild(weir_shm_t *shm)
{
    shm_page_t *pg = shm_pages(shm);
    uint32_t    i = 0, n, run = SHM_NONE;
    unsigned    cls;

    shm->free_runs = SHM_NONE;
    for (unsigned c = 0; c < SHM_NCLASSES; c++) {
        shm->partial[c] = SHM_NONE;
    }
    shm->used_pages = 0;

    while (i < shm->npages) {
        n = pg[i].npages;
        if (n == 0 || n > shm->npages - i) {
            n = 1;
        }
        if (pg[i].type >= SHM_SLAB && pg[i].type < SHM_SLAB + SHM_NCLASSES) {
            cls = pg[i].type - SHM_SLAB;
            n = 1;
            pg[i].nfree = (uint16_t) (slab_count(cls) - slab_live(&pg[i], cls));
            if (pg[i].nfree == slab_count(cls)) {
                pg[i].type = SHM_FREE;
            }
        } else if (pg[i].type != SHM_FREE) {
            pg[i].type = SHM_RUN;      /* also a stray tail: keep it used */
        }
        pg[i].npages = n;

        if (pg[i].type == SHM_FREE) {
            if (run == SHM_NONE) {
                run = i;
            } else {
                pg[run].npages += n;
            }
            i += n;
            continue;
        }
        if (run != SHM_NONE) {
            rebuild_close_free(shm, run);
            run = SHM_NONE;
        }
        shm->used_pages += n;
        if (pg[i].type == SHM_RUN) {
            if (n > 1) {
                pg[i + n - 1].type = SHM_TAIL;
                pg[i + n - 1].head = i;
            }
        } else if (pg[i].nfree > 0) {
            list_push(shm, &shm->partial[pg[i].type - SHM_SLAB], i);
        }
        i += n;
    }
    if (run != SHM_NONE) {
        rebuild_close_free(shm, run);
    }
}

static void
rebuild_close_free(weir_shm_t *shm, uint32_t h)
{
    shm_page_t *pg = shm_pages(shm);
    uint32_t    t = h + pg[h].npages - 1;

    pg[t].type = SHM_FREE;
    pg[t].head = h;
    list_push(shm, &shm->free_runs, h);
}

void
weir_shm_stats(weir_shm_t *shm, size_t *used, size_t *total)
{
    size_t u = 0;

    if (shm_lock(shm) == WEIR_OK) {
        u = (size_t) shm->used_pages * WEIR_SHM_PAGE;
        weir_shm_unlock(&shm->lock);
    }
    if (used != NULL) {
        *used = u;
    }
    if (total != NULL) {
        *total = (size_t) shm->npages * WEIR_SHM_PAGE;
    }
}

uint64_t
weir_shm_recoveries(weir_shm_t *shm)
{
    uint64_t n = 0;

    if (shm_lock(shm) == WEIR_OK) {
        n = shm->recoveries;
        weir_shm_unlock(&shm->lock);
    }
    return n;
}

void *
weir_shm_zone(weir_shm_t *shm, const char *name, size_t size, int *created)
{
    shm_zone_t *z;
    size_t      len;
    void       *data = NULL;

    if (created != NULL) {
        *created = 0;
    }
    len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > WEIR_SHM_NAME_MAX) {
        return NULL;
    }
    if (shm_lock(shm) != WEIR_OK) {
        return NULL;
    }
    for (z = weir_shm_ptr(shm, shm->zones); z != NULL;
         z = weir_shm_ptr(shm, z->next))
    {
        if (strcmp(z->name, name) == 0) {
            data = z->size >= size ? (void *) (z + 1) : NULL;
            goto done;
        }
    }
    if (size == 0 || size > SIZE_MAX - sizeof(shm_zone_t)) {
        goto done;
    }
    z = shm_alloc_locked(shm, sizeof(shm_zone_t) + size);
    if (z == NULL) {
        goto done;
    }
    memset(z, 0, sizeof(shm_zone_t) + size);
    memcpy(z->name, name, len);
    z->size = size;
    z->next = shm->zones;
    WEIR_SHM_FAULT(17);
    shm->zones = weir_shm_off(shm, z);    /* publish last */
    data = z + 1;
    if (created != NULL) {
        *created = 1;
    }
done:
    weir_shm_unlock(&shm->lock);
    return data;
}

int
weir_shm_check(weir_shm_t *shm)
{
    shm_page_t    *pg = shm_pages(shm);
    unsigned char *kind;      /* per page: 0 interior, 1 free head, 2 slab */
    uint32_t       i = 0, n, used = 0;
    unsigned       cls;
    int            rc = WEIR_ERROR, prev_free = 0;

    kind = calloc(shm->npages, 1);
    if (kind == NULL || shm_lock(shm) != WEIR_OK) {
        free(kind);
        return WEIR_ERROR;
    }
    while (i < shm->npages) {
        n = pg[i].npages;
        if (n == 0 || n > shm->npages - i) {
            goto done;
        }
        if (pg[i].type == SHM_FREE) {
            if (prev_free || pg[i + n - 1].type != SHM_FREE
                || pg[i + n - 1].head != i)
            {
                goto done;     /* unmerged neighbours or a bad tail */
            }
            kind[i] = 1;
        } else if (pg[i].type == SHM_RUN) {
            if (n > 1 && (pg[i + n - 1].type != SHM_TAIL
                          || pg[i + n - 1].head != i))
            {
                goto done;
            }
            used += n;
        } else if (pg[i].type >= SHM_SLAB
                   && pg[i].type < SHM_SLAB + SHM_NCLASSES)
        {
            cls = pg[i].type - SHM_SLAB;
            if (n != 1 || pg[i].nfree >= slab_count(cls)
                || pg[i].nfree != slab_count(cls) - slab_live(&pg[i], cls))
            {
                goto done;
            }
            kind[i] = 2;
            used += n;
        } else {
            goto done;
        }
        prev_free = pg[i].type == SHM_FREE;
        i += n;
    }
    if (used == shm->used_pages) {
        rc = check_lists(shm, kind);
    }
done:
    weir_shm_unlock(&shm->lock);
    free(kind);
    return rc;
}

/* Every free head is on the free list exactly once, every slab page with
 * room on its class list, and the back links agree. */
static int
check_lists(weir_shm_t *shm, const unsigned char *kind)
{
    shm_page_t *pg = shm_pages(shm);
    uint32_t    i, prev, steps, listed = 0, expect = 0;

    for (i = 0; i < shm->npages; i++) {
        if (kind[i] == 1
            || (kind[i] == 2 && pg[i].nfree > 0))
        {
            expect++;
        }
    }
    for (unsigned c = 0; c <= SHM_NCLASSES; c++) {
        uint32_t head = c < SHM_NCLASSES ? shm->partial[c] : shm->free_runs;

        prev = SHM_NONE;
        steps = 0;
        for (i = head; i != SHM_NONE; prev = i, i = pg[i].next) {
            if (i >= shm->npages || pg[i].prev != prev
                || ++steps > shm->npages)
            {
                return WEIR_ERROR;
            }
            if (c == SHM_NCLASSES) {
                if (kind[i] != 1) {
                    return WEIR_ERROR;
                }
            } else if (kind[i] != 2 || pg[i].type != SHM_SLAB + c
                       || pg[i].nfree == 0)
            {
                return WEIR_ERROR;
            }
            listed++;
        }
    }
    return listed == expect ? WEIR_OK : WEIR_ERROR;
}

int
weir_shm_mutex_init(weir_shm_mutex_t *mx)
{
    pthread_mutexattr_t attr;
    int                 rc = WEIR_ERROR;

    if (pthread_mutexattr_init(&attr) != 0) {
        return WEIR_ERROR;
    }
    if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0
        && pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0
        && pthread_mutex_init(&mx->mutex, &attr) == 0)
    {
        rc = WEIR_OK;
    }
    pthread_mutexattr_destroy(&attr);
    return rc;
}

void
weir_shm_mutex_destroy(weir_shm_mutex_t *mx)
{
    pthread_mutex_destroy(&mx->mutex);
}

int
weir_shm_lock(weir_shm_mutex_t *mx)
{
    switch (pthread_mutex_lock(&mx->mutex)) {
    case 0:
        return WEIR_OK;
    case EOWNERDEAD:
        /* We own it now; make it usable again and tell the caller the
         * guarded data may be half updated. */
        pthread_mutex_consistent(&mx->mutex);
        return WEIR_DONE;
    default:
        return WEIR_ERROR;     /* ENOTRECOVERABLE */
    }
}

int
weir_shm_trylock(weir_shm_mutex_t *mx)
{
    switch (pthread_mutex_trylock(&mx->mutex)) {
    case 0:
        return WEIR_OK;
    case EBUSY:
        return WEIR_BUSY;
    case EOWNERDEAD:
        pthread_mutex_consistent(&mx->mutex);
        return WEIR_DONE;
    default:
        return WEIR_ERROR;
    }
}

void
weir_shm_unlock(weir_shm_mutex_t *mx)
{
    pthread_mutex_unlock(&mx->mutex);
}
