/*
 * The master's side of the disk caches (DESIGN §5): each [cache]'s index
 * attached in shm at start and reload, its directories made, and a dead
 * process's fills released. The cache manager process (cache_manager.c)
 * does the rest: loading, eviction, temp files left behind.
 */
#ifndef WEIR_PROC_CACHES_H
#define WEIR_PROC_CACHES_H

#include <stddef.h>
#include <sys/types.h>
#include "core/core.h"
#include "core/shm.h"
#include "proc/config.h"

/* Master, at start before the first fork (once the error log is open:
 * what it says about directories is no reason to stop, and belongs
 * there) and at reload before it commits: attach the index of every [cache] of cf, then make <path> and
 * <path>/tmp (0700, owned by [main] user when root). WEIR_OK; WEIR_ERROR
 * when the segment has no room for an index (err says which: the start
 * or the reload fails). An index whose capacity changed keeps the old one
 * and is logged as needing a restart; a directory that cannot be made is
 * logged with its cause and leaves that cache uncached: neither fails. */
int weir_caches_attach(weir_shm_t *shm, const weir_config_t *cf, char *err,
    size_t errlen);

/* Master, for every child it reaps: the fills pid had in progress, in
 * every index attached so far, can be taken over at once; and when it was
 * the cache manager, weir_cache_manager_reaped() restarts it. */
void weir_caches_reaped(pid_t pid, int status);

/* weir -t (WEIR_PREFLIGHT_BIND): warn, without creating anything, about a
 * cache directory that is missing and cannot be created, or cannot be
 * written. A warning only: weir starts and runs that cache uncached. */
void weir_caches_check_dirs(const weir_config_t *cf);

#endif /* WEIR_PROC_CACHES_H */
