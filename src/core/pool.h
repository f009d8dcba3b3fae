/*
 * Arenas: allocate many small objects, free them in one go. Cleanup
 * handlers release resources (fds, temp files) tied to the arena's life;
 * they run in reverse order of registration on destroy and reset.
 */
#ifndef WEIR_POOL_H
#define WEIR_POOL_H

#include <stddef.h>

typedef struct weir_pool_s weir_pool_t;
typedef void (*weir_cleanup_pt)(void *data);

/* Create an arena whose first block holds `size` bytes. NULL on ENOMEM. */
weir_pool_t *weir_pool_create(size_t size);

/* Run cleanups and release every block. NULL is accepted. */
void weir_pool_destroy(weir_pool_t *pool);

/* Run cleanups, drop extra blocks, and rewind the first block so the
 * arena can be reused (keep-alive requests). */
void weir_pool_reset(weir_pool_t *pool);

/* Aligned allocation from the arena; NULL on ENOMEM (never aborts). */
void *weir_palloc(weir_pool_t *pool, size_t size);
void *weir_pcalloc(weir_pool_t *pool, size_t size);

/* Copy `len` bytes and append a NUL. */
char *weir_pstrndup(weir_pool_t *pool, const char *s, size_t len);

/* Register `fn(data)` to run when the arena is destroyed or reset.
 * Returns 0, or -1 on ENOMEM (the caller must then release itself). */
int weir_pool_cleanup_add(weir_pool_t *pool, weir_cleanup_pt fn, void *data);

/* Bytes currently reserved by the arena (for memory-bound tests/metrics). */
size_t weir_pool_size(const weir_pool_t *pool);

#endif /* WEIR_POOL_H */
