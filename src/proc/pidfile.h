/*
 * The master's pid file (and reading it back, for `weir -s`: declared in
 * proc/master.h as weir_master_pid_read).
 */
#ifndef WEIR_PROC_PIDFILE_H
#define WEIR_PROC_PIDFILE_H

/* Write this process's pid to path. WEIR_OK, or WEIR_ERROR after logging
 * at emerg. */
int weir_pidfile_write(const char *path);

/* Remove path if it names this process (a newer master may have written
 * it meanwhile). NULL is accepted. */
void weir_pidfile_remove(const char *path);

#endif /* WEIR_PROC_PIDFILE_H */
