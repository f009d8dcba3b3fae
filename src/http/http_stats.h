/*
 * Per-server request statistics in shm (core/stats.h): responses by
 * status class and a duration histogram, counted by the worker that
 * served the request into its statistics slot, summed by the admin
 * pages. A server keeps its record (by name) across reloads.
 */
#ifndef WEIR_HTTP_HTTP_STATS_H
#define WEIR_HTTP_HTTP_STATS_H

#include <stdint.h>
#include "core/shm.h"
#include "core/stats.h"
#include "http/http_conf.h"
#include "http/request.h"

typedef struct weir_server_stats_slot_s {
    _Atomic uint64_t responses[6];      /* 0: other, 1xx .. 5xx */
    _Atomic uint64_t hist[WEIR_HIST_BUCKETS];
    _Atomic uint64_t time_ms_sum;
    _Atomic uint64_t slow_clients[2];   /* cut by a minimum rate: 0 the
                                         * request body, 1 the response */
} __attribute__((aligned(64))) weir_server_stats_slot_t;

struct weir_server_stats_s {
    weir_server_stats_slot_t slot[WEIR_STAT_SLOTS];
};

/* Master, at load and reload: give every [server] its record. WEIR_OK or
 * WEIR_ERROR with a message (shm_size too small). */
int weir_http_stats_attach(weir_shm_t *shm, weir_http_conf_t *conf,
    char *err, size_t errlen);

/* Worker: a request is over (called where it is logged). */
void weir_http_stats_request(const weir_request_t *r);

/* Worker: a client was cut for sending its body (dir 1) or reading the
 * response (dir 0) below the minimum rate. */
void weir_http_stats_slow_client(const weir_request_t *r, int body);

/* Sum of a member over the slots (offsetof a member of the slot). */
uint64_t weir_http_stats_sum(const struct weir_server_stats_s *s,
    size_t offset);

#endif /* WEIR_HTTP_HTTP_STATS_H */
