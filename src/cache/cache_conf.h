/*
 * The configuration model of [cache NAME] sections. Parsed and validated
 * now; the runtime arrives with the cache issue.
 */
#ifndef WEIR_CACHE_CONF_H
#define WEIR_CACHE_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"

typedef struct weir_cache_conf_s {
    char         *name;
    char         *path;                /* absolute */
    int           levels[3];           /* "1:2" -> {1,2,0}; default 1:2 */
    int           nlevels;
    int64_t       max_size;            /* 1g */
    weir_msec_t   inactive;            /* 10m */
    char         *key;                 /* "$scheme$host$request_uri" */
    weir_msec_t   stale_if_error;      /* 0 */
    weir_msec_t   stale_while_revalidate; /* 0 */
    weir_msec_t   lock_timeout;        /* cache_lock_timeout: 5s */
    int64_t       max_object_size;     /* 0 = no limit beyond max_size */
    const char   *file;
    int           line;
} weir_cache_conf_t;

#endif /* WEIR_CACHE_CONF_H */
