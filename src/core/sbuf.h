/*
 * A checked string builder for the text weir writes: response and proxy
 * heads, generated error pages, configuration labels and paths.
 *
 * It replaces "compute an upper bound, allocate, append unchecked": the
 * bound and the appends are two pieces of code that must agree, and they
 * stop agreeing when one of them changes (81104a0 was a heap overflow of
 * exactly that kind). Here every append checks its room itself.
 *
 * A builder writes into a caller's buffer, which never grows, or into
 * memory of a weir_pool_t, which grows by doubling (the outgrown copy
 * stays in the arena until the arena goes: a good size hint avoids it).
 * As with snprintf, `size` counts a terminating NUL: the text is
 * NUL-terminated after every append, so data is a C string at any time.
 *
 * Errors are sticky. An append that does not fit (fixed buffer full, the
 * pool out of memory, a size that would overflow) writes nothing past the
 * buffer's end, sets the failed flag, and every later append is ignored.
 * Callers append without checks and test weir_sbuf_failed() once, at the
 * end. The text then holds the appends before the first failure, whole:
 * an append is never cut, so a failed head or page cannot be mistaken
 * for a short one that is valid.
 */
#ifndef WEIR_SBUF_H
#define WEIR_SBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "core/core.h"
#include "core/pool.h"
#include "core/str.h"

typedef struct weir_sbuf_s {
    char        *data;    /* the text; NULL only after a failed pool init */
    size_t       len;     /* bytes of text, without the NUL */
    size_t       size;    /* bytes at data, the NUL's byte included */
    weir_pool_t *pool;    /* grow in this arena; NULL: a fixed buffer */
    int          failed;  /* sticky: set by the first append that failed */
} weir_sbuf_t;

/* Build into buf, `size` bytes including the NUL; it never grows. A size
 * of 0 leaves the builder failed from the start. */
void weir_sbuf_init(weir_sbuf_t *sb, char *buf, size_t size);

/* Build in `pool`, with room for `hint` bytes of text before the first
 * growth (0: a small default). Out of memory leaves the builder failed. */
void weir_sbuf_init_pool(weir_sbuf_t *sb, weir_pool_t *pool, size_t hint);

/* Append n bytes (any bytes, NUL included), a C string, a slice, one
 * character, an unsigned or signed decimal integer. */
void weir_sbuf_append_slow(weir_sbuf_t *sb, const void *data, size_t n);

/* The common case inline (a head is dozens of small appends, on every
 * request): the room is there, copy. Otherwise the checked slow path
 * grows, or fails. n <= size - 1 - len is written n < size - len, which
 * cannot wrap while the builder has not failed (len < size). */
static inline void
weir_sbuf_append(weir_sbuf_t *sb, const void *data, size_t n)
{
    if (n != 0 && !sb->failed && n < sb->size - sb->len) {
        memcpy(sb->data + sb->len, data, n);
        sb->len += n;
        sb->data[sb->len] = '\0';
        return;
    }
    weir_sbuf_append_slow(sb, data, n);
}

static inline void
weir_sbuf_append_cstr(weir_sbuf_t *sb, const char *s)
{
    weir_sbuf_append(sb, s, strlen(s));
}

static inline void
weir_sbuf_append_str(weir_sbuf_t *sb, const weir_str_t *s)
{
    weir_sbuf_append(sb, s->data, s->len);
}
void weir_sbuf_append_char(weir_sbuf_t *sb, char ch);
void weir_sbuf_append_u64(weir_sbuf_t *sb, uint64_t v);
void weir_sbuf_append_i64(weir_sbuf_t *sb, int64_t v);

/* Append a string literal; its length is known at compile time (the ""
 * around it refuses anything but a literal). */
#define weir_sbuf_lit(sb, lit) \
    weir_sbuf_append((sb), "" lit "", sizeof(lit) - 1)

/* Append printf-style. All or nothing, like the other appends: output
 * that does not fit a fixed buffer sets the flag instead of leaving a cut
 * text (bytes after the NUL are then unspecified, never past the end).
 * An encoding error of vsnprintf() fails the builder too. */
void weir_sbuf_printf(weir_sbuf_t *sb, const char *fmt, ...)
    WEIR_PRINTF(2, 3);

/* 1 if an append or the init failed: the text is incomplete. */
static inline int
weir_sbuf_failed(const weir_sbuf_t *sb)
{
    return sb->failed;
}

#endif /* WEIR_SBUF_H */
