/*
 * The master's start-up report: the command that starts weir says whether
 * it started. A daemon's parent waits on a pipe and exits 0 once the
 * master has written its pid file and its first workers accept, or 1
 * with the master's error lines on stderr. Until then the master copies
 * its errors there (to the terminal in the foreground), so a failure is
 * seen where the operator looks, not only in the error log.
 *
 * Also the line reader both ends of such a pipe use (the daemon's parent,
 * and the master reading its new workers' "ready" reports).
 */
#ifndef WEIR_PROC_STARTUP_H
#define WEIR_PROC_STARTUP_H

#include "core/core.h"

/* Become a daemon: fork (the parent waits for the report and exits with
 * its status; it never returns), setsid, stdin/stdout (and stderr unless
 * the error log is stderr) to /dev/null. WEIR_OK in the daemon, where the
 * copies of weir_startup_tee now go to the report. */
int weir_startup_daemonize(void);

/* From here until weir_startup_done, error lines also go to the report
 * (a daemon) or to stderr (the foreground). */
void weir_startup_tee(void);

/* Start-up is over: ok says so to the waiting parent; without ok the
 * error lines already sent are the reason. Stops the copies. */
void weir_startup_done(int ok);

/* In a forked worker: drop the copy of the report pipe, so that the
 * parent sees its end when the master ends, not when the last worker
 * does. */
void weir_startup_forget(void);

/* Called per line read (NUL-terminated, without its newline); WEIR_DONE
 * stops the reading. */
typedef int (*weir_startup_line_pt)(const char *line, void *data);

/* Read fd line by line until fn says WEIR_DONE (WEIR_OK), the writers
 * all closed (WEIR_DECLINED), timeout_ms passed (WEIR_AGAIN; -1: no
 * limit) or an error (WEIR_ERROR, errno set). */
int weir_startup_read_lines(int fd, int timeout_ms, weir_startup_line_pt fn,
    void *data);

#endif /* WEIR_PROC_STARTUP_H */
