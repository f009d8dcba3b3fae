/*
 * Re-resolving upstream host names while weir runs (`resolve` in
 * [upstream]). The master forks a short-lived child every `resolve`
 * interval that resolves the names again (proc/resolve.h) and compares
 * the answers with the running configuration's peers; nothing of this
 * is on the request path, and the master never waits for it. When an
 * answer differs, the master reloads (a new generation of workers on the
 * same file, as SIGHUP: the peers' records stay keyed by address, new
 * addresses get records, gone ones are recycled) unless the file changed
 * since it was loaded, which would make the reload take edits nobody
 * asked to apply yet. A name that stops resolving keeps its addresses
 * (nothing is reloaded) and is logged once, and again when it is back.
 */
#ifndef WEIR_PROC_RERESOLVE_H
#define WEIR_PROC_RERESOLVE_H

#include <sys/types.h>
#include "core/core.h"
#include "proc/config.h"

/* A configuration starts serving (start, committed reload): its names
 * and intervals, and the file's identity (to notice edits). A child
 * still resolving for the previous one is killed. */
void weir_reresolve_setup(const weir_config_t *cf);

/* The next moment weir_reresolve_tick has something to do, or 0. */
weir_msec_t weir_reresolve_due(void);

/* On the master's timer: start the child for the upstreams that are due,
 * or kill one that has been at it for WEIR_RESOLVE_TOTAL_MS. */
void weir_reresolve_tick(const weir_config_t *cf);

/* For reap(): 1 if pid was the resolver child (*reload then says whether
 * the answers changed and a reload may apply them), else 0. */
int weir_reresolve_reaped(pid_t pid, int status, int *reload);

/* Stop: kill a running child (the master reaps it as usual). */
void weir_reresolve_stop(void);

#endif /* WEIR_PROC_RERESOLVE_H */
