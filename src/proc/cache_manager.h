/*
 * The cache manager process: forked by the master when the configuration
 * has a [cache], it keeps the disk caches within bounds in an event loop
 * of its own, so that no worker ever waits on a directory walk or an
 * unlink():
 *  - the loader, at its start: removes what fills left in <path>/tmp/,
 *    then (for a cache whose index is not loaded yet) walks <path>,
 *    removes files that do not decode and indexes the others;
 *  - every second: removes the objects unused for `inactive`, then the
 *    least recently used while the cache is over max_size;
 *  - every minute: temp files no fill owns any more.
 * The master restarts it when it dies (the replacement waits 2 s when it
 * keeps dying at once), replaces it on a reload and stops it with weir.
 */
#ifndef WEIR_PROC_CACHE_MANAGER_H
#define WEIR_PROC_CACHE_MANAGER_H

#include <sys/types.h>
#include "core/core.h"
#include "core/shm.h"
#include "event/listen.h"
#include "proc/config.h"

/* Master: start a manager for cf when it has caches (replacing a running
 * one, which is told to stop). `group` holds the listening sockets the
 * child must not keep; shm holds the indexes (weir_caches_attach). */
void weir_cache_manager_start(const weir_config_t *cf,
    const weir_listen_group_t *group, weir_shm_t *shm);

/* Master: stop it (stop of weir). */
void weir_cache_manager_stop(void);

/* Master, from its reap loop: was pid a cache manager (the current one or
 * one a reload replaced)? The current one is restarted at once. */
int weir_cache_manager_reaped(pid_t pid, int status);

/* Master: pass a signal on (SIGUSR1: reopen the error log). */
void weir_cache_manager_signal(int signo);

/* Its pid (0: none). */
pid_t weir_cache_manager_pid(void);

#endif /* WEIR_PROC_CACHE_MANAGER_H */
