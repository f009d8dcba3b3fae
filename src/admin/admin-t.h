/*
 * What the admin pages share (private to src/admin/): the output buffer
 * they write into and the state they read.
 */
#ifndef WEIR_ADMIN_ADMIN_T_H
#define WEIR_ADMIN_ADMIN_T_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "core/pool.h"
#include "core/shm.h"
#include "core/stats.h"
#include "proc/config.h"

/* A growing output buffer in the request's pool. Every append is checked;
 * a failed one (out of memory) sets `failed` and later ones do nothing,
 * so a page is written straight through and checked once at the end. */
typedef struct admin_out_s {
    weir_pool_t *pool;
    char        *data;
    size_t       len, cap;
    int          failed;
} admin_out_t;

void admin_out_init(admin_out_t *o, weir_pool_t *pool, size_t cap);
void admin_out_add(admin_out_t *o, const char *s, size_t n);
void admin_out_str(admin_out_t *o, const char *s);
void admin_out_printf(admin_out_t *o, const char *fmt, ...)
    WEIR_PRINTF(2, 3);
/* s as the inside of a JSON string, of a Prometheus label value, or as
 * HTML text. */
void admin_out_json(admin_out_t *o, const char *s);
void admin_out_label(admin_out_t *o, const char *s);
void admin_out_html(admin_out_t *o, const char *s);

/* What the pages read (set by weir_admin_init). */
typedef struct admin_ctx_s {
    const weir_config_t *cf;
    weir_shm_t          *shm;
    weir_master_stats_t *master;
    weir_proc_stats_t   *procs;
} admin_ctx_t;

extern admin_ctx_t admin_ctx;

/* The pages. */
void admin_metrics(admin_out_t *o);
void admin_status_json(admin_out_t *o);
void admin_status_html(admin_out_t *o);

/* A peer's state in one word for people: "up", "down" (active checks),
 * "open" / "half_open" (breaker), "disabled" (down in the file). */
struct weir_peer_conf_s;
const char *admin_peer_state(const struct weir_upstream_conf_s *u,
    const struct weir_peer_conf_s *p);

#endif /* WEIR_ADMIN_ADMIN_T_H */
