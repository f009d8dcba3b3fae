/*
 * The health checker process: forked by the master when some upstream
 * has `health_check`, it runs the active checks (upstream/health.c) in an
 * event loop of its own, so probes never compete with requests in a
 * worker. The master restarts it when it dies (after a pause if it keeps
 * dying at once) and replaces it on a reload; the verdicts live in shm,
 * so a new checker goes on from the old one's state.
 */
#ifndef WEIR_PROC_CHECKER_H
#define WEIR_PROC_CHECKER_H

#include <stdint.h>
#include <sys/types.h>
#include "core/core.h"
#include "core/shm.h"
#include "event/listen.h"
#include "proc/config.h"

/* Master: start a checker for cf when it has checks (replacing a running
 * one, which is told to stop). `group` holds the listening sockets the
 * child must not keep. */
void weir_checker_start(const weir_config_t *cf,
    const weir_listen_group_t *group);

/* Master: stop the checker (stop of weir). */
void weir_checker_stop(void);

/* Master, from its reap loop: was pid the checker? Then it is accounted
 * for and a restart is due (now, or after weir_checker_due()). */
int weir_checker_reaped(pid_t pid, int status);

/* Master: when a delayed restart is due (monotonic ms, 0: none); and run
 * it when that time has come. */
weir_msec_t weir_checker_due(void);
void weir_checker_tick(void);

/* Master: the oldest configuration generation a checker still running
 * was started with (UINT64_MAX: none), so that shared records it may
 * still write are not freed under it. */
uint64_t weir_checker_oldest_generation(void);

/* Master: pass a signal on to the checker (SIGUSR1: reopen the log). */
void weir_checker_signal(int signo);

/* The checker's pid (0: none), for tests through /status. */
pid_t weir_checker_pid(void);

#endif /* WEIR_PROC_CHECKER_H */
