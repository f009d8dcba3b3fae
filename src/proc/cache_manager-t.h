/*
 * What the cache manager process (cache_manager.c) and its loader
 * (cache_loader.c) share: one record per [cache] the process looks
 * after. Private to those two files.
 */
#ifndef WEIR_PROC_CACHE_MANAGER_T_H
#define WEIR_PROC_CACHE_MANAGER_T_H

#include <dirent.h>
#include <stdint.h>
#include "cache/cache_conf.h"
#include "cache/cache_file.h"
#include "cache/cache_index.h"
#include "core/core.h"

/* A walk goes no deeper than <path>/l1/l2/l3 (levels has 3 at most). */
#define WEIR_CMGR_DEPTH  4

/* Errors are logged once per interval and kind, so that a directory that
 * went away or turned read-only does not flood the log every second. */
enum weir_cmgr_err {
    WEIR_CMGR_ERR_DIR = 0,     /* <path> itself missing or not writable */
    WEIR_CMGR_ERR_UNLINK,      /* an eviction could not remove a file */
    WEIR_CMGR_ERR_WALK,        /* the loader could not read something */
    WEIR_CMGR_ERR_N
};

typedef struct weir_cmgr_walk_s {
    int          active;
    int          tree;         /* the objects too, after <path>/tmp */
    int          in_tree;      /* walking <path>, not <path>/tmp */
    int          depth;        /* index of the open directory; -1: none */
    DIR         *dirs[WEIR_CMGR_DEPTH];
    size_t       lens[WEIR_CMGR_DEPTH];   /* strlen(path) at each depth */
    char         path[WEIR_CACHE_PATH_MAX];
    weir_msec_t  started;      /* monotonic */
    /* for the summary at the end of the pass */
    uint64_t     objects, bytes, corrupt, misplaced, unindexed;
    uint64_t     leftovers, young;
    unsigned     told;         /* corrupt files named in the log so far */
} weir_cmgr_walk_t;

typedef struct weir_cmgr_cache_s {
    const weir_cache_conf_t *k;
    weir_cache_index_t      *idx;
    weir_cmgr_walk_t         walk;
    int64_t                  weir_started;   /* the master's start, unix s */
    int                      dir_bad;        /* <path> unusable last tick */
    weir_msec_t              logged[WEIR_CMGR_ERR_N];   /* monotonic */
    uint64_t                 unlogged[WEIR_CMGR_ERR_N]; /* since then */
    int64_t                  next_inactive;  /* wall ms: the next scan for
                                                unused objects */
} weir_cmgr_cache_t;

/* Wall-clock milliseconds, the index's time. */
int64_t weir_cmgr_now(void);

/* May an error of this kind be logged now (once per interval)? When not,
 * it is counted, and the next line that may says how many were not. */
int weir_cmgr_may_log(weir_cmgr_cache_t *mc, enum weir_cmgr_err kind);

/* Start a pass of the loader: <path>/tmp, then, when tree, the objects
 * under <path>. A pass under way goes on (tree is added to it). */
void weir_cache_loader_begin(weir_cmgr_cache_t *mc, int tree);

/* Go on with the pass: at most `files` directory entries, and not past
 * `until` (monotonic ms). WEIR_AGAIN: more to do; WEIR_OK: the pass is
 * over (or none was under way). */
int weir_cache_loader_step(weir_cmgr_cache_t *mc, unsigned files,
    weir_msec_t until);

/* Stop a pass (the process exits or the cache goes): close what is open. */
void weir_cache_loader_abort(weir_cmgr_cache_t *mc);

#endif /* WEIR_PROC_CACHE_MANAGER_T_H */
