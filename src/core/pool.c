#include "weir_config.h"
#include "core/pool.h"

#include <stdint.h>
#include "core/core.h"
#include <stdlib.h>
#include <string.h>

/*
 * An arena is a chain of blocks. Small requests are bump-allocated from the
 * current block; a request larger than a quarter of the block size gets a
 * block of its own so that one big allocation does not waste the tail of
 * the current block.
 */

#define WEIR_POOL_ALIGN 16

typedef struct weir_pool_block_s {
    struct weir_pool_block_s *next;
    char                     *last;
    char                     *end;
    size_t                    size;
} weir_pool_block_t;

typedef struct weir_pool_cleanup_s {
    weir_cleanup_pt             fn;
    void                       *data;
    struct weir_pool_cleanup_s *next;
} weir_pool_cleanup_t;

struct weir_pool_s {
    weir_pool_block_t   *current;   /* bump from here */
    weir_pool_block_t   *blocks;    /* extra blocks, newest first */
    weir_pool_cleanup_t *cleanups;
    size_t               block_size;
    size_t               reserved;
    weir_pool_block_t    first;     /* header of the first block */
};

static void *block_alloc(weir_pool_t *pool, size_t size);
static void run_cleanups(weir_pool_t *pool);
static void free_extra_blocks(weir_pool_t *pool);

weir_pool_t *
weir_pool_create(size_t size)
{
    weir_pool_t *pool;
    size_t       hdr = weir_align(sizeof(weir_pool_t), WEIR_POOL_ALIGN);

    if (size < 256) {
        size = 256;
    }
    pool = malloc(hdr + size);
    if (pool == NULL) {
        return NULL;
    }
    pool->current = &pool->first;
    pool->blocks = NULL;
    pool->cleanups = NULL;
    pool->block_size = size;
    pool->reserved = hdr + size;
    pool->first.next = NULL;
    pool->first.last = (char *) pool + hdr;
    pool->first.end = (char *) pool + hdr + size;
    pool->first.size = size;
    return pool;
}

static void
run_cleanups(weir_pool_t *pool)
{
    weir_pool_cleanup_t *c = pool->cleanups;

    /* Registered newest first, so this releases in reverse order. */
    pool->cleanups = NULL;
    for (; c; c = c->next) {
        c->fn(c->data);
    }
}

static void
free_extra_blocks(weir_pool_t *pool)
{
    weir_pool_block_t *b = pool->blocks, *next;

    for (; b; b = next) {
        next = b->next;
        free(b);
    }
    pool->blocks = NULL;
}

void
weir_pool_destroy(weir_pool_t *pool)
{
    if (pool == NULL) {
        return;
    }
    run_cleanups(pool);
    free_extra_blocks(pool);
    free(pool);
}

void
weir_pool_reset(weir_pool_t *pool)
{
    size_t hdr = weir_align(sizeof(weir_pool_t), WEIR_POOL_ALIGN);

    run_cleanups(pool);
    free_extra_blocks(pool);
    pool->current = &pool->first;
    pool->first.last = (char *) pool + hdr;
    pool->reserved = hdr + pool->first.size;
}

static void *
block_alloc(weir_pool_t *pool, size_t size)
{
    weir_pool_block_t *b;
    size_t hdr = weir_align(sizeof(weir_pool_block_t), WEIR_POOL_ALIGN);
    size_t bsize = size > pool->block_size / 4 ? size : pool->block_size;
    char  *p;

    b = malloc(hdr + bsize);
    if (b == NULL) {
        return NULL;
    }
    b->size = bsize;
    b->last = (char *) b + hdr;
    b->end = b->last + bsize;
    b->next = pool->blocks;
    pool->blocks = b;
    pool->reserved += hdr + bsize;
    p = b->last;
    b->last += size;
    if (bsize == pool->block_size) {
        /* A regular block becomes the bump target; a dedicated one not. */
        pool->current = b;
    }
    return p;
}

void *
weir_palloc(weir_pool_t *pool, size_t size)
{
    weir_pool_block_t *b = pool->current;
    char              *p;

    size = weir_align(size ? size : 1, WEIR_POOL_ALIGN);
    p = b->last;
    if ((size_t) (b->end - p) >= size) {
        b->last = p + size;
        return p;
    }
    return block_alloc(pool, size);
}

void *
weir_pcalloc(weir_pool_t *pool, size_t size)
{
    void *p = weir_palloc(pool, size);

    if (p) {
        memset(p, 0, size);
    }
    return p;
}

char *
weir_pstrndup(weir_pool_t *pool, const char *s, size_t len)
{
    char *p = weir_palloc(pool, len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

int
weir_pool_cleanup_add(weir_pool_t *pool, weir_cleanup_pt fn, void *data)
{
    weir_pool_cleanup_t *c = weir_palloc(pool, sizeof(*c));

    if (c == NULL) {
        return -1;
    }
    c->fn = fn;
    c->data = data;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return 0;
}

size_t
weir_pool_size(const weir_pool_t *pool)
{
    return pool->reserved;
}
