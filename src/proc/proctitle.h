/*
 * Process titles: what ps(1) and /proc/PID/cmdline show for the master and
 * the workers ("weir: master process ...", "weir: worker process"), so
 * that an operator can tell them apart and see which configuration a
 * master runs.
 */
#ifndef WEIR_PROC_PROCTITLE_H
#define WEIR_PROC_PROCTITLE_H

#include "core/core.h"

/* Call first in main(), before anything reads the environment through
 * pointers of its own. Moves the environment strings to the heap so that
 * the argv and environ area (contiguous in a fresh process) can hold the
 * title later. argv[] keeps pointing into that area: copy what must
 * outlive the first weir_proctitle_set(). WEIR_OK, or WEIR_ERROR when out
 * of memory (titles are then left alone). */
int weir_proctitle_init(int argc, char **argv);

/* argv[0] as the process was started (a heap copy); "weir" before init. */
const char *weir_proctitle_argv0(void);

/* Set the title (truncated to the space there is) and the kernel's
 * 15-character task name (comm: ps -o comm, top, /proc/PID/comm). */
void weir_proctitle_set(const char *comm, const char *fmt, ...)
    WEIR_PRINTF(2, 3);

#endif /* WEIR_PROC_PROCTITLE_H */
