/*
 * Pre-flight: what a start or a reload will need from this host, checked
 * against a loaded configuration before anything live is touched, so that
 * `weir -t` does not say yes to a file that cannot start (the user exists,
 * the pid file and the logs can be written, the listen addresses belong to
 * this host and are free).
 */
#ifndef WEIR_PROC_PREFLIGHT_H
#define WEIR_PROC_PREFLIGHT_H

#include "proc/config.h"

/* Also try to bind every listen address (weir -t, weir -s reload): the
 * master's own start and reload bind for real and report there. */
#define WEIR_PREFLIGHT_BIND  0x01

/* Check cf against the host; every problem is appended to errs as
 * "file:line: [section] key: reason". WEIR_OK or WEIR_ERROR. */
int weir_preflight(const weir_config_t *cf, unsigned flags,
    weir_config_errors_t *errs);

#endif /* WEIR_PROC_PREFLIGHT_H */
