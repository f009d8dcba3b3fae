#include "weir_config.h"
#include "core/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Invariant while not failed: size >= 1, len <= size - 1, data[len] is
 * NUL. Every append goes through room(), the one place that compares a
 * length with the space left, so there is one check to get right; only
 * weir_sbuf_printf() first lets vsnprintf(), which bounds itself, try
 * the space there is.
 */

/* Text room of a builder made without a hint: most users (labels, paths,
 * short lists) fit, and the first growth is cheap. */
#define HINT_DEFAULT 64

/* No text weir builds comes near this; a larger size is a bug, and
 * refusing it here keeps the sums below and weir_palloc()'s rounding up
 * from wrapping around. */
#define SIZE_LIMIT (SIZE_MAX / 2)

static char *room(weir_sbuf_t *sb, size_t n);
static int grow(weir_sbuf_t *sb, size_t n);

void
weir_sbuf_init(weir_sbuf_t *sb, char *buf, size_t size)
{
    sb->data = buf;
    sb->len = 0;
    sb->size = size;
    sb->pool = NULL;
    sb->failed = size == 0;
    if (size > 0) {
        buf[0] = '\0';
    }
}

void
weir_sbuf_init_pool(weir_sbuf_t *sb, weir_pool_t *pool, size_t hint)
{
    if (hint == 0) {
        hint = HINT_DEFAULT;
    }
    sb->len = 0;
    sb->pool = pool;
    sb->failed = 0;
    sb->size = hint < SIZE_LIMIT ? hint + 1 : 0;
    sb->data = sb->size ? weir_palloc(pool, sb->size) : NULL;
    if (sb->data == NULL) {
        sb->size = 0;
        sb->failed = 1;
        return;
    }
    sb->data[0] = '\0';
}

/* Where n more bytes of text go, or NULL (and the flag set) when they
 * cannot: the caller writes them, adds n to len and puts the NUL back. */
static char *
room(weir_sbuf_t *sb, size_t n)
{
    if (sb->failed) {
        return NULL;
    }
    /* size - 1 - len cannot wrap: the invariant holds while not failed */
    if (n > sb->size - 1 - sb->len
        && (sb->pool == NULL || grow(sb, n) != WEIR_OK))
    {
        sb->failed = 1;
        return NULL;
    }
    return sb->data + sb->len;
}

/* Make room for n more bytes: double, or more if n asks for more. The
 * arena cannot free or extend the old copy; doubling keeps the bytes
 * left behind under the final size. */
static int
grow(weir_sbuf_t *sb, size_t n)
{
    size_t need, size;
    char  *p;

    /* len < size <= SIZE_LIMIT: neither side can wrap */
    if (n > SIZE_LIMIT - 1 - sb->len) {
        return WEIR_ERROR;
    }
    need = sb->len + n + 1;
    size = sb->size <= SIZE_LIMIT / 2 ? sb->size * 2 : SIZE_LIMIT;
    if (size < need) {
        size = need;
    }
    p = weir_palloc(sb->pool, size);
    if (p == NULL) {
        return WEIR_ERROR;
    }
    memcpy(p, sb->data, sb->len + 1);
    sb->data = p;
    sb->size = size;
    return WEIR_OK;
}

void
weir_sbuf_append_slow(weir_sbuf_t *sb, const void *data, size_t n)
{
    char *p;

    if (n == 0) {
        return;     /* data may be NULL then, which memcpy() refuses */
    }
    p = room(sb, n);
    if (p == NULL) {
        return;
    }
    memcpy(p, data, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}


void
weir_sbuf_append_char(weir_sbuf_t *sb, char ch)
{
    weir_sbuf_append(sb, &ch, 1);
}

void
weir_sbuf_append_u64(weir_sbuf_t *sb, uint64_t v)
{
    char tmp[20];   /* UINT64_MAX has 20 digits */

    weir_sbuf_append(sb, tmp, (size_t) (weir_sprint_u64(tmp, v) - tmp));
}

void
weir_sbuf_append_i64(weir_sbuf_t *sb, int64_t v)
{
    char tmp[21];   /* INT64_MIN: '-' and 19 digits */
    char *p = tmp;

    if (v < 0) {
        *p++ = '-';
    }
    /* 0 - (uint64_t) v is |v| without the overflow of -INT64_MIN */
    p = weir_sprint_u64(p, v < 0 ? 0 - (uint64_t) v : (uint64_t) v);
    weir_sbuf_append(sb, tmp, (size_t) (p - tmp));
}

/*
 * One vsnprintf() into the room there is; if the output did not fit,
 * grow and format again (a fixed buffer fails instead). Formatting twice
 * is cheaper than a scratch buffer sized for the worst case, and the
 * first pass is all the common case needs.
 */
void
weir_sbuf_printf(weir_sbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    int     n;
    char   *p;

    if (sb->failed) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(sb->data + sb->len, sb->size - sb->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t) n < sb->size - sb->len) {
        sb->len += (size_t) n;
        return;
    }
    /* vsnprintf() may have left a cut text after the old NUL */
    sb->data[sb->len] = '\0';
    if (n < 0) {
        sb->failed = 1;
        return;
    }
    p = room(sb, (size_t) n);
    if (p == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void) vsnprintf(p, (size_t) n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t) n;
}
