/*
 * The master's table of worker processes: forking a worker of a
 * generation, starting a whole generation and waiting for its "ready"
 * reports, signalling and stopping generations. The master's loop
 * (master.c) decides when; this file does the bookkeeping, including the
 * per-process records in shm that follow the table (core/stats.h,
 * upstream/peer_state.h).
 */
#ifndef WEIR_PROC_WORKER_TABLE_H
#define WEIR_PROC_WORKER_TABLE_H

#include <stdint.h>
#include <sys/types.h>
#include "core/log.h"
#include "core/shm.h"
#include "core/stats.h"
#include "event/listen.h"
#include "proc/config.h"

#define WEIR_WORKERS_MAX  256   /* `workers` is capped here */
/* A reload runs two generations side by side for a while. */
#define WEIR_WTABLE_SIZE  (WEIR_WORKERS_MAX * 2)

typedef struct weir_wtable_entry_s {
    pid_t        pid;           /* 0: free entry */
    int          slot;
    uint64_t     generation;
    weir_msec_t  started;
    unsigned     exiting:1;     /* told to stop: do not respawn */
    unsigned     ready:1;       /* said it accepts (or was not asked) */
} weir_wtable_entry_t;

/* What a generation's workers start with. A reload starts the new one
 * before it commits, so these are not always the master's current ones. */
typedef struct weir_wtable_gen_s {
    const weir_config_t *cf;
    uint64_t             generation;
    weir_log_file_t     *errlog;      /* NULL: the current error log */
    weir_log_file_t     *access;      /* NULL when off */
    int                  ready_fd;    /* write end of the report, or -1 */
    int                  ready_rfd;   /* its read end (closed in workers) */
} weir_wtable_gen_t;

/* Where the workers find their sockets and shared memory; both outlive
 * the table. */
void weir_wtable_init(const weir_listen_group_t *group, weir_shm_t *shm,
    weir_proc_stats_t *procs);

/* The serving generation: peer records older than both it and every live
 * process are recycled (weir_wtable_update). */
void weir_wtable_set_serving(uint64_t gen);

/* Fork one worker of g for slot; its pid, or -1 after logging. */
pid_t weir_wtable_spawn(const weir_wtable_gen_t *g, int slot);

/* Start every worker of generation gen and wait until each says it
 * accepts (10 s at most). WEIR_OK; or WEIR_ERROR with the first reason
 * in why (a worker's own error line, or what went wrong here), the
 * workers that did start being left to the caller (weir_wtable_stop). */
int weir_wtable_start(const weir_config_t *cf, uint64_t gen,
    weir_log_file_t *el, weir_log_file_t *al, char *why, size_t whylen);

/* Stop a generation that failed to start: the workers that accept may
 * hold clients already and finish with signo; the others are killed. */
void weir_wtable_stop(uint64_t gen, int signo);

/* Signal the workers older than gen_below (every one when 0). QUIT and
 * TERM mark them exiting (not respawned, draining in shm). */
void weir_wtable_signal(int signo, uint64_t gen_below);

/* Live workers. */
size_t weir_wtable_live(void);

/* The entry of pid and its process index (its place in the table, which
 * indexes the shm records), or NULL. */
weir_wtable_entry_t *weir_wtable_find(pid_t pid, int *proc);

/* Wait for every worker in the table to exit and forget it (a start that
 * failed, after weir_wtable_stop(..., SIGTERM): this does not hang). */
void weir_wtable_wait_all(void);

/* After the table changed: the sums over in-flight slots stop at the
 * highest process index in use, and peer records no live generation uses
 * any more are freed. */
void weir_wtable_update(void);

#endif /* WEIR_PROC_WORKER_TABLE_H */
