/*
 * MIME types by file extension, loaded from conf/mime.types (the nginx /
 * Apache "type ext ext ...;" or "type ext ext" formats).
 */
#ifndef WEIR_HTTP_MIME_H
#define WEIR_HTTP_MIME_H

#include <stddef.h>
#include "core/pool.h"

typedef struct weir_mime_s weir_mime_t;

/* Load the table from path into pool. WEIR_OK, or WEIR_ERROR with
 * "file:line: reason" in err. */
int weir_mime_load(const char *path, weir_pool_t *pool, weir_mime_t **out,
    char *err, size_t errlen);

/* The type of a file name (by its last extension, case-insensitive);
 * "application/octet-stream" when unknown or m is NULL. */
const char *weir_mime_type(const weir_mime_t *m, const char *name,
    size_t len);

#endif /* WEIR_HTTP_MIME_H */
