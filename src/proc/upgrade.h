/*
 * Binary upgrade (SIGUSR2), both sides of it.
 *
 * The old master renames its pid file to "<pid>.oldbin" and forks; the
 * child execs the binary at the path weir was started from (resolved at
 * start, see weir_upgrade_init) with the same -p and -c, and with
 * WEIR_LISTEN_FDS naming the listening sockets it inherits. The new
 * master adopts them (weir_upgrade_inherit), so at no moment is an
 * address without a listener; it opens what its own file adds, and drops
 * the sockets its file no longer wants once its workers accept. Until the
 * operator stops the old master, both generations of workers accept on
 * the same sockets. When the new master exits, the old one (its parent)
 * hears of it (weir_upgrade_reaped) and takes the pid file back.
 */
#ifndef WEIR_PROC_UPGRADE_H
#define WEIR_PROC_UPGRADE_H

#include <sys/types.h>
#include "event/listen.h"
#include "proc/config.h"

/* The environment variable: "FD:SLOT;FD:SLOT;..." */
#define WEIR_LISTEN_FDS_ENV "WEIR_LISTEN_FDS"
/* And the old master's pid, set with it: the new master's parent may be
 * gone (and its ppid 1) by the time it looks. */
#define WEIR_OLD_MASTER_ENV "WEIR_OLD_MASTER_PID"

/* At the start of main(), before anything changes the working directory:
 * remember which file a binary upgrade runs. argv0 with a '/' is made
 * absolute (not resolved through symlinks: an upgrade runs what the path
 * names then, a replaced file or a moved link); without one it is looked
 * up in PATH, as the shell did. */
void weir_upgrade_init(const char *argv0);

/* The path a binary upgrade would exec ("" when unknown). */
const char *weir_upgrade_binary(void);

/* New master, before it opens its listeners: adopt the sockets named by
 * WEIR_LISTEN_FDS into g (and unset the variables, so neither its workers
 * nor a later upgrade see it). The number adopted (0 without the
 * variable: a plain start); a malformed entry or a descriptor that is not
 * a listening socket is logged and skipped. */
int weir_upgrade_inherit(weir_listen_group_t *g);

/* The old master's pid when this master was started by a binary upgrade
 * (from WEIR_OLD_MASTER_PID, else our parent at start), else 0. */
pid_t weir_upgrade_old_master(void);

/* Was this master started by a binary upgrade, and does its old master
 * still run (it is still our parent)? Then it refuses an upgrade of its
 * own: two ".oldbin" files cannot exist. */
int weir_upgrade_old_master_alive(void);

/* SIGUSR2 in the master: start the new binary. WEIR_OK once it runs (it
 * then reports through its own error log), WEIR_ERROR after logging why
 * it could not (the pid file is back in place then). */
int weir_upgrade_start(const weir_config_t *cf, const weir_listen_group_t *g);

/* The new master's pid while it runs, else 0. */
pid_t weir_upgrade_child(void);

/* For reap(): 1 if pid was the new master (then its exit is logged and
 * the pid file renamed back from .oldbin), else 0. */
int weir_upgrade_reaped(pid_t pid, int status);

/* Master exit: remove the .oldbin file if it names this process. */
void weir_upgrade_exit(void);

#endif /* WEIR_PROC_UPGRADE_H */
