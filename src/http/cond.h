/*
 * Conditional requests and Range (RFC 9110 13 and 14) against a
 * representation's validators, for any response that has them: static
 * files today, cached objects next. Decides only: the caller sends.
 */
#ifndef WEIR_HTTP_COND_H
#define WEIR_HTTP_COND_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* The request's conditional and range fields (NULL when absent). */
typedef struct weir_http_cond_s {
    const char *if_match;            size_t if_match_len;
    const char *if_unmodified_since; size_t if_unmodified_since_len;
    const char *if_none_match;       size_t if_none_match_len;
    const char *if_modified_since;   size_t if_modified_since_len;
    const char *range;               size_t range_len;
    const char *if_range;            size_t if_range_len;
} weir_http_cond_t;

/* The representation: its entity tag as sent (quoted, "W/" first when
 * weak; NULL: none), Last-Modified ((time_t) -1: none) and size. */
typedef struct weir_http_rep_s {
    const char *etag;
    time_t      mtime;
    off_t       size;
} weir_http_rep_t;

typedef struct weir_http_cond_res_s {
    int   status;   /* 200, 206, 304, 412 or 416 */
    off_t offset;   /* first body byte (206) */
    off_t length;   /* body bytes to send (0 for 304/412/416) */
} weir_http_cond_res_t;

/* Evaluate in the order of RFC 9110 13.2.2 (for GET and HEAD): one byte
 * range is served as 206; several, or an invalid Range, get the whole
 * representation (a 200 is always a correct answer). */
void weir_http_cond_eval(const weir_http_cond_t *c, const weir_http_rep_t *rep,
    weir_http_cond_res_t *out);

#endif /* WEIR_HTTP_COND_H */
