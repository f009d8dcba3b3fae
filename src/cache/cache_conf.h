/*
 * The configuration model of [cache NAME] sections, filled and checked by
 * src/proc/config*.c, read by the cache runtime.
 */
#ifndef WEIR_CACHE_CONF_H
#define WEIR_CACHE_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "cache/cache_policy.h"

typedef struct weir_cache_conf_s {
    char         *name;
    char         *path;                /* absolute */
    int           levels[3];           /* "1:2" -> {1,2,0}; default 1:2 */
    int           nlevels;
    int64_t       max_size;            /* 1g */
    weir_msec_t   inactive;            /* 10m */
    char         *key;                 /* $scheme://$host:$server_port$normalized_request_uri */
    weir_msec_t   stale_if_error;      /* 0 */
    weir_msec_t   stale_while_revalidate; /* 0 */
    weir_msec_t   lock_timeout;        /* cache_lock_timeout: 5s */
    int64_t       max_object_size;     /* 0 = no limit beyond max_size */
    int64_t       max_objects;         /* index slots; when not written
                                          the loader sets max_size / 32k,
                                          1024 .. 1048576 */
    int           min_uses;            /* requests before a key is stored;
                                          1 */
    int64_t       fill_after_abort;    /* a fill whose client left, with no
                                          waiter, goes on up to this size;
                                          1m */
    int           open_files;          /* per worker: files of recent
                                          hits kept open; 256, 0 = off */
    weir_msec_t   open_files_inactive; /* closed when not hit for this;
                                          10s */
    /* `valid` (seconds per status) and the stale windows in seconds, in
     * the form the rules take them */
    weir_cache_rules_t rules;
    const char   *file;
    int           line;
} weir_cache_conf_t;

#endif /* WEIR_CACHE_CONF_H */
