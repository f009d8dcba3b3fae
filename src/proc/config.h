/*
 * The whole configuration: load, validate, dump. Loading is the same path
 * for start-up, `weir -t` and reload (STYLE 15): it never touches anything
 * live, and the result is an immutable snapshot owned by its own arena.
 */
#ifndef WEIR_PROC_CONFIG_H
#define WEIR_PROC_CONFIG_H

#include <stdio.h>
#include "core/core.h"
#include "core/pool.h"
#include "http/http_conf.h"
#include "upstream/upstream_conf.h"
#include "cache/cache_conf.h"
#include "admin/admin_conf.h"

typedef struct weir_main_conf_s {
    int64_t       workers;           /* 0 in file = auto: resolved to ncpu */
    char         *error_log;         /* absolute path; NULL = stderr */
    int           log_level;         /* WEIR_LOG_*; default notice */
    char         *pid;               /* absolute path */
    int           daemon;            /* on */
    char         *user;              /* NULL: do not switch */
    char         *group;             /* NULL: user's primary group */
    int64_t       shm_size;          /* 32m */
    weir_msec_t   shutdown_timeout;  /* 30s */
    int           worker_cpu_affinity; /* off; on = pin worker i to cpu i */
    int64_t       worker_rlimit_nofile; /* 0 = leave as is */
    int64_t       worker_connections;   /* 10000 per worker */
    int64_t       shed_connections;     /* 0: 9/10 of worker_connections */
} weir_main_conf_t;

typedef struct weir_config_s {
    weir_pool_t          *pool;      /* owns everything below */
    char                 *file;      /* absolute config path */
    char                 *prefix;    /* absolute prefix, ends without '/' */
    uint64_t              generation;/* set by the master */

    weir_main_conf_t      main;
    weir_http_conf_t      http;
    weir_upstream_conf_t **upstreams;
    size_t                nupstreams;
    weir_cache_conf_t   **caches;
    size_t                ncaches;
    int                   has_admin;
    weir_admin_conf_t     admin;

    /* Where each key was written, for checks after loading (see
     * weir_config_report). */
    const struct weir_conf_s *keys;
} weir_config_t;

/* Errors are collected, not just the first: each is one line
 * "file:line: [section] key: reason" (or "file:line: reason" for lines
 * that are not key = value, or "file: reason" for whole-file problems). */
typedef struct weir_config_errors_s {
    char   **lines;
    size_t   n;
    size_t   cap;
} weir_config_errors_t;

/* Load and validate `path` (relative paths inside are under `prefix`).
 * On success returns a config; on failure NULL with every problem in errs
 * (the caller frees errs with weir_config_errors_free). */
weir_config_t *weir_config_load(const char *path, const char *prefix,
    weir_config_errors_t *errs);

void weir_config_free(weir_config_t *cf);
void weir_config_errors_free(weir_config_errors_t *errs);

/* For checks made after loading (proc/preflight.c): append
 * "file:line: SECTION key: reason" to errs, where SECTION is the label
 * ("[main]", "[server s]"), line the given one or, when 0, the line where
 * key was written in the section whose object is obj; a key left at its
 * default has no line ("file: [main] pid: ..."). */
void weir_config_report(const weir_config_t *cf, weir_config_errors_t *errs,
    int line, const void *obj, const char *section, const char *key,
    const char *fmt, ...) WEIR_PRINTF(7, 8);

/* Build the OpenSSL contexts of the servers with a `tls` listen (and of
 * upstreams with `tls = on`) and tie them to the config's arena. Run by
 * weir_master_check(), so by -t, the start and every reload. WEIR_OK, or
 * WEIR_ERROR with "file:line: [section] key: reason" naming the file
 * that did not load (config_tls.c). Idempotent. */
int weir_config_tls_build(weir_config_t *cf, char *err, size_t errlen);

/* Print the effective configuration, defaults included, as a valid INI
 * file (weir -T). */
void weir_config_dump(const weir_config_t *cf, FILE *out);

/* Total number of listen sockets per worker (servers + admin). */
size_t weir_config_nlistens(const weir_config_t *cf);

#endif /* WEIR_PROC_CONFIG_H */
