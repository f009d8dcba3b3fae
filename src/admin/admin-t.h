/*
 * What the admin pages share (private to src/admin/): the escaping of
 * what they write and the state they read.
 */
#ifndef WEIR_ADMIN_ADMIN_T_H
#define WEIR_ADMIN_ADMIN_T_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "core/pool.h"
#include "core/sbuf.h"
#include "core/shm.h"
#include "core/stats.h"
#include "proc/config.h"

/* The pages are written into a weir_sbuf_t in the request's pool
 * (core/sbuf.h), checked once at the end. s as the inside of a JSON string, of a Prometheus label value, or as
 * HTML text. */
void admin_out_json(weir_sbuf_t *o, const char *s);
void admin_out_label(weir_sbuf_t *o, const char *s);
void admin_out_html(weir_sbuf_t *o, const char *s);

/* What the pages read (set by weir_admin_init). */
typedef struct admin_ctx_s {
    const weir_config_t *cf;
    weir_shm_t          *shm;
    weir_master_stats_t *master;
    weir_proc_stats_t   *procs;
} admin_ctx_t;

extern admin_ctx_t admin_ctx;

/* "# HELP" and "# TYPE" of a Prometheus family. */
void admin_family(weir_sbuf_t *o, const char *name, const char *type,
    const char *help);

/* The pages. */
void admin_metrics(weir_sbuf_t *o);
void admin_status_json(weir_sbuf_t *o);
void admin_status_html(weir_sbuf_t *o);
/* admin_cache.c: the cache families of /metrics; POST /purge (returns the
 * status, the JSON answer in o). */
void admin_cache_metrics(weir_sbuf_t *o);
struct weir_request_s;
int admin_purge(struct weir_request_s *r, weir_sbuf_t *o);

/* A peer's state in one word for people: "up", "down" (active checks),
 * "open" / "half_open" (breaker), "disabled" (down in the file). */
struct weir_peer_conf_s;
const char *admin_peer_state(const struct weir_upstream_conf_s *u,
    const struct weir_peer_conf_s *p);

#endif /* WEIR_ADMIN_ADMIN_T_H */
