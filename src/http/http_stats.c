#include "weir_config.h"
#include "http/http_stats.h"

#include <stdio.h>
#include "core/wtime.h"

int
weir_http_stats_attach(weir_shm_t *shm, weir_http_conf_t *conf, char *err,
    size_t errlen)
{
    char   name[WEIR_SHM_NAME_MAX + 1];
    size_t i;
    int    n;

    for (i = 0; i < conf->nservers; i++) {
        weir_server_conf_t *srv = conf->servers[i];

        n = snprintf(name, sizeof(name), "server:%s", srv->name);
        if (n < 0 || (size_t) n >= sizeof(name)) {
            snprintf(err, errlen, "server name \"%.40s...\" too long",
                     srv->name);
            return WEIR_ERROR;
        }
        srv->stats = weir_shm_zone(shm, name, sizeof(*srv->stats), NULL);
        if (srv->stats == NULL) {
            snprintf(err, errlen, "no room in shared memory for the "
                     "statistics of [server %s] (shm_size)", srv->name);
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

void
weir_http_stats_request(const weir_request_t *r)
{
    const weir_server_conf_t *srv = r->srv;
    weir_server_stats_slot_t *s;
    weir_msec_t               t = weir_current_msec - r->start_msec;
    int                       st = r->status;

    weir_stat_add(&weir_proc_self->requests_total, 1);
    if (srv == NULL || srv->stats == NULL) {
        return;
    }
    s = &srv->stats->slot[weir_stat_slot()];
    weir_stat_add(&s->responses[st >= 100 && st < 600 ? st / 100 : 0], 1);
    weir_stat_add(&s->hist[weir_hist_bucket(t)], 1);
    weir_stat_add(&s->time_ms_sum, (uint64_t) weir_max(t, 0));
}

void
weir_http_stats_slow_client(const weir_request_t *r, int body)
{
    const weir_server_conf_t *srv = r->hc ? r->hc->srv : NULL;

    if (srv && srv->stats) {
        weir_stat_add(&srv->stats->slot[weir_stat_slot()]
                           .slow_clients[body ? 0 : 1], 1);
    }
}

uint64_t
weir_http_stats_sum(const struct weir_server_stats_s *s, size_t offset)
{
    uint64_t sum = 0;
    int      i;

    for (i = 0; i < WEIR_STAT_SLOTS; i++) {
        sum += weir_stat_get((const _Atomic uint64_t *)
                             ((const char *) &s->slot[i] + offset));
    }
    return sum;
}
