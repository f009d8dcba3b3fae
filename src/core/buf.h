/*
 * A flat byte buffer: [start, end) is the storage, [pos, last) the data.
 */
#ifndef WEIR_BUF_H
#define WEIR_BUF_H

#include <stddef.h>

typedef struct weir_buf_s {
    char *start;
    char *pos;
    char *last;
    char *end;
} weir_buf_t;

#define weir_buf_size(b)  ((size_t) ((b)->last - (b)->pos))
#define weir_buf_free(b)  ((size_t) ((b)->end - (b)->last))

/* Move unconsumed data to the front to make room at the end. */
void weir_buf_compact(weir_buf_t *b);

#endif /* WEIR_BUF_H */
