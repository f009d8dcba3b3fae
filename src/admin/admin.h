/*
 * The admin listener's pages ([admin], DESIGN §7): /metrics (Prometheus
 * text format), /healthz, /status (JSON, or a self-refreshing HTML page
 * for a browser). Everything shown is read from shm, so any worker
 * answers for all of them; reading takes no lock.
 */
#ifndef WEIR_ADMIN_ADMIN_H
#define WEIR_ADMIN_ADMIN_H

#include "core/shm.h"
#include "http/request.h"
#include "proc/config.h"

/* Worker start: what the pages describe. */
void weir_admin_init(const weir_config_t *cf, weir_shm_t *shm);

/* The handler of WEIR_ROUTE_ADMIN (see http/handler.h). */
void weir_admin_handle(weir_request_t *r);

#endif /* WEIR_ADMIN_ADMIN_H */
