/*
 * The master process: owns the configuration, the logs, the listener group
 * and the workers; acts on signals in one loop. Never touches a client byte.
 */
#ifndef WEIR_PROC_MASTER_H
#define WEIR_PROC_MASTER_H

#include "proc/config.h"

/* Run the master with a loaded configuration (ownership passes to it).
 * Returns the process exit code. */
int weir_master_run(weir_config_t *cf);

/* What loading the file cannot judge: build the TLS contexts (a
 * certificate that does not load is an error naming it). WEIR_OK, or
 * WEIR_ERROR with "file:line: ..." in err. Part of the start and reload
 * paths, so weir -t reports it too. */
int weir_master_check(weir_config_t *cf, char *err, size_t errlen);

/* Read the pid in the pid file; 0 and a message in err if there is no
 * running master behind it. */
long weir_master_pid_read(const char *path, char *err, size_t errlen);

#endif /* WEIR_PROC_MASTER_H */
