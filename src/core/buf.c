#include "weir_config.h"
#include "core/buf.h"

#include <string.h>

void
weir_buf_compact(weir_buf_t *b)
{
    size_t n = (size_t) (b->last - b->pos);

    if (b->pos == b->start) {
        return;
    }
    if (n) {
        memmove(b->start, b->pos, n);
    }
    b->pos = b->start;
    b->last = b->start + n;
}
