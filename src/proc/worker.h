/*
 * A worker process: one epoll loop accepting on its slot's sockets of the
 * listener group, serving HTTP until told to stop.
 */
#ifndef WEIR_PROC_WORKER_H
#define WEIR_PROC_WORKER_H

#include "core/log.h"
#include "core/shm.h"
#include "event/listen.h"
#include "proc/config.h"

typedef struct weir_worker_args_s {
    const weir_config_t       *cf;
    int                        slot;
    uint64_t                   generation;
    const weir_listen_group_t *group;
    weir_log_file_t           *access_log;   /* NULL when off */
    int                        proc;         /* index in the master's
                                                worker table (shm slots) */
    weir_shm_t                *shm;
    int                        ready_fd;     /* -1, or where to report */
} weir_worker_args_t;

/* The start-up report on ready_fd (a pipe the master reads, shared by a
 * generation's workers): copies of the worker's error lines while it sets
 * up, then one line "ready PID" once it accepts; the worker then closes
 * its end. A worker that dies first leaves no "ready" line. */
#define WEIR_WORKER_READY "ready"

/* Switch to [main] user/group (when root): exits the process with an
 * [emerg] line when that fails. Also used by the health checker. */
void weir_worker_drop_privileges(const weir_main_conf_t *mc);

/* The master's helper processes (the health checker, the cache manager):
 * TERM, INT, QUIT and USR1 go to on_signal and stay blocked but while the
 * loop waits; PIPE, HUP and WINCH are ignored, CHLD and ALRM default. */
void weir_worker_helper_signals(void (*on_signal)(int));

/* What such a helper does first after fork(): its process title, death
 * with the master, a random seed of its own, the listening sockets of
 * `group` closed, its signals, [main] user/group. */
/* Master: say how such a helper ended, before it is restarted. */
void weir_worker_helper_exited(const char *what, pid_t pid, int status);

struct weir_listen_group_s;
void weir_worker_helper_start(const char *comm, const char *title,
    const struct weir_listen_group_s *group, const weir_main_conf_t *mc,
    void (*on_signal)(int));

/* Run in the child after fork(); never returns. */
void weir_worker_run(const weir_worker_args_t *args)
    __attribute__((noreturn));

#endif /* WEIR_PROC_WORKER_H */
