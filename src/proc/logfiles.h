/*
 * The master's log files: the error and access logs of a configuration,
 * opened by the master (as root, maybe) before the workers start, and
 * handed to the workers owned by the user they run as.
 */
#ifndef WEIR_PROC_LOGFILES_H
#define WEIR_PROC_LOGFILES_H

#include "core/log.h"
#include "proc/config.h"

/* Open cf's error log and access log (each fd -1 when not configured).
 * WEIR_OK, or WEIR_ERROR after logging (nothing left open). */
int weir_logfiles_open(const weir_config_t *cf, weir_log_file_t *el,
    weir_log_file_t *al);

/* Close one (fd -1 and NULL path afterwards; safe to repeat). */
void weir_logfiles_close(weir_log_file_t *f);

/* Reopen both (logrotate: SIGUSR1), logging at alert what fails. */
void weir_logfiles_reopen(weir_log_file_t *el, weir_log_file_t *al);

/* Give the files to cf's [main] user, so that workers that reopen them
 * after switching user can still write. */
void weir_logfiles_chown(const weir_config_t *cf, weir_log_file_t *el,
    weir_log_file_t *al);

#endif /* WEIR_PROC_LOGFILES_H */
