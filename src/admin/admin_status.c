#include "weir_config.h"
#include "admin/admin-t.h"

#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include "core/wtime.h"
#include "http/http_stats.h"
#include "http/limit_table.h"
#include "upstream/breaker.h"
#include "upstream/peer_state.h"

/*
 * /status as JSON: what weir runs and how every upstream and peer is
 * doing, for scripts and for the HTML page, which renders this same
 * document in the browser.
 */

static const char *const balances[] = { "round_robin", "least_conn", "hash",
                                        "random" };

static void
workers_json(weir_sbuf_t *o)
{
    weir_proc_stats_t *p = admin_ctx.procs;
    int                i, first = 1;

    weir_sbuf_append_cstr(o, "\"workers\":[");
    for (i = 0; p && i < WEIR_PROC_MAX; i++) {
        int32_t pid = atomic_load(&p[i].pid);
        if (pid == 0) {
            continue;
        }
        weir_sbuf_printf(o, "%s{\"slot\":%d,\"pid\":%d,\"generation\":%llu,"
                         "\"started\":%lld,\"draining\":%s,\"connections\":"
                         "%lld,\"requests_in_flight\":%lld,\"accepted\":%llu,"
                         "\"requests\":%llu}", first ? "" : ",",
                         (int) atomic_load(&p[i].slot), (int) pid,
                         (unsigned long long) atomic_load(&p[i].generation),
                         (long long) atomic_load(&p[i].started),
                         atomic_load(&p[i].draining) ? "true" : "false",
                         (long long) atomic_load(&p[i].connections),
                         (long long) atomic_load(&p[i].requests_active),
                         (unsigned long long) weir_stat_get(
                             &p[i].accepted_total),
                         (unsigned long long) weir_stat_get(
                             &p[i].requests_total));
        first = 0;
    }
    weir_sbuf_append_cstr(o, "]");
}

static void
servers_json(weir_sbuf_t *o)
{
    const weir_http_conf_t *h = &admin_ctx.cf->http;
    size_t                  i;
    int                     c;

    weir_sbuf_append_cstr(o, "\"servers\":[");
    for (i = 0; i < h->nservers; i++) {
        const struct weir_server_stats_s *s = h->servers[i]->stats;
        weir_sbuf_append_cstr(o, i ? ",{\"name\":\"" : "{\"name\":\"");
        admin_out_json(o, h->servers[i]->name);
        weir_sbuf_append_cstr(o, "\",\"responses\":{");
        for (c = 1; c < 6; c++) {
            weir_sbuf_printf(o, "%s\"%dxx\":%llu", c > 1 ? "," : "", c,
                             (unsigned long long) (s ? weir_http_stats_sum(s,
                                 offsetof(weir_server_stats_slot_t,
                                          responses[c])) : 0));
        }
        weir_sbuf_append_cstr(o, "}}");
    }
    weir_sbuf_append_cstr(o, "]");
}

static void
peer_json(weir_sbuf_t *o, const weir_upstream_conf_t *u,
    const weir_peer_conf_t *p)
{
    const weir_peer_state_t *s = p->state;
    weir_msec_t              until = 0, left;
    uint64_t                 req, resp = 0, sum, fails;
    unsigned                 reopens = 0;
    int                      st = 0, k, first = 1;

    if (s) {
        st = weir_breaker_state(s, &reopens, &until);
    }
    left = st == WEIR_BREAKER_OPEN ? weir_max(until - weir_current_msec, 0)
                                   : 0;
    weir_sbuf_append_cstr(o, "{\"address\":\"");
    admin_out_json(o, p->text);
    weir_sbuf_printf(o, "\",\"state\":\"%s\",\"weight\":%d,\"backup\":%s,"
                     "\"max_conns\":%d,", admin_peer_state(u, p), p->weight,
                     p->backup ? "true" : "false", p->max_conns);
    if (s == NULL) {
        weir_sbuf_append_cstr(o, "\"in_flight\":0}");
        return;
    }
    req = weir_peer_stat_sum(s, offsetof(weir_peer_stats_t, requests));
    sum = weir_peer_stat_sum(s, offsetof(weir_peer_stats_t, time_ms_sum));
    weir_sbuf_printf(o, "\"healthy\":%s,\"breaker\":{\"state\":\"%s\","
                     "\"reopens\":%u,\"next_trial_ms\":%lld,\"opens\":%llu},"
                     "\"in_flight\":%u,\"requests\":%llu,\"responses\":{",
                     atomic_load(&s->health) ? "true" : "false",
                     weir_breaker_state_name(st), reopens, (long long) left,
                     (unsigned long long) weir_stat_get(
                         &s->breaker_opens_total),
                     (unsigned) weir_peer_inflight(s),
                     (unsigned long long) req);
    for (k = 1; k < 6; k++) {
        uint64_t n = weir_peer_stat_sum(s, offsetof(weir_peer_stats_t,
                                                    responses[k]));
        resp += n;
        weir_sbuf_printf(o, "%s\"%dxx\":%llu", k > 1 ? "," : "", k,
                         (unsigned long long) n);
    }
    weir_sbuf_append_cstr(o, "},\"failures\":{");
    for (k = 0; k < WEIR_FAIL_KINDS; k++) {
        fails = weir_peer_stat_sum(s, offsetof(weir_peer_stats_t, fails[k]));
        if (fails == 0) {
            continue;
        }
        weir_sbuf_printf(o, "%s\"%s\":%llu", first ? "" : ",",
                         weir_fail_kind_name(k), (unsigned long long) fails);
        first = 0;
    }
    weir_sbuf_printf(o, "},\"avg_response_ms\":%.1f}",
                     resp ? (double) sum / (double) resp : 0.0);
}

static void
upstreams_json(weir_sbuf_t *o)
{
    const weir_config_t *cf = admin_ctx.cf;
    size_t               i, j;

    weir_sbuf_append_cstr(o, "\"upstreams\":[");
    for (i = 0; i < cf->nupstreams; i++) {
        const weir_upstream_conf_t  *u = cf->upstreams[i];
        const weir_upstream_state_t *us = u->state;

        weir_sbuf_append_cstr(o, i ? ",{\"name\":\"" : "{\"name\":\"");
        admin_out_json(o, u->name);
        weir_sbuf_printf(o, "\",\"balance\":\"%s\"",
                         u->balance >= 0 && u->balance < 4
                         ? balances[u->balance] : "?");
        if (us) {
            weir_sbuf_printf(o, ",\"retries\":%llu,\"retry_budget_exhausted\""
                             ":%llu,\"queue_timeouts\":%llu,"
                             "\"no_healthy_peer\":%llu",
                             (unsigned long long) weir_stat_get(
                                 &us->retries_total),
                             (unsigned long long) weir_stat_get(
                                 &us->budget_exhausted_total),
                             (unsigned long long) weir_stat_get(
                                 &us->queue_timeouts_total),
                             (unsigned long long) weir_stat_get(
                                 &us->no_peer_total));
        }
        weir_sbuf_append_cstr(o, ",\"peers\":[");
        for (j = 0; j < u->npeers; j++) {
            if (j) {
                weir_sbuf_append_cstr(o, ",");
            }
            peer_json(o, u, &u->peers[j]);
        }
        weir_sbuf_append_cstr(o, "]}");
    }
    weir_sbuf_append_cstr(o, "]");
}

/* [limit] sections: their tables and what they decided. */
static void
limits_json(weir_sbuf_t *o)
{
    const weir_http_conf_t *h = &admin_ctx.cf->http;
    size_t                  i;

    weir_sbuf_append_cstr(o, "\"limits\":[");
    for (i = 0; i < h->nlimits; i++) {
        weir_limit_table_t    *t = h->limits[i]->table;
        weir_limit_counters_t *c = t ? weir_limit_table_counters(t) : NULL;

        weir_sbuf_append_cstr(o, i ? ",{\"name\":\"" : "{\"name\":\"");
        admin_out_json(o, h->limits[i]->name);
        if (c == NULL) {
            weir_sbuf_append_cstr(o, "\"}");
            continue;
        }
        weir_sbuf_printf(o, "\",\"keys\":%u,\"requests_in_progress\":%u,"
                         "\"passed\":%llu,\"delayed\":%llu,\"rejected\":%llu,"
                         "\"exempt\":%llu,\"conn_rejected\":%llu,\"full\":"
                         "%llu,\"evictions\":%llu,\"dry_run\":%s,"
                         "\"dry_run_delayed\":%llu,\"dry_run_rejected\":"
                         "%llu,\"dry_run_conn_rejected\":%llu}",
                         weir_limit_table_used(t), weir_limit_table_conns(t),
                         (unsigned long long) weir_shm_counter_get(&c->passed),
                         (unsigned long long) weir_shm_counter_get(&c->delayed),
                         (unsigned long long) weir_shm_counter_get(
                             &c->rejected),
                         (unsigned long long) weir_shm_counter_get(&c->exempt),
                         (unsigned long long) weir_shm_counter_get(
                             &c->conn_rejected),
                         (unsigned long long) weir_shm_counter_get(&c->full),
                         (unsigned long long) weir_shm_counter_get(
                             &c->evictions),
                         h->limits[i]->dry_run ? "true" : "false",
                         (unsigned long long) weir_shm_counter_get(
                             &c->dry_run_delayed),
                         (unsigned long long) weir_shm_counter_get(
                             &c->dry_run_rejected),
                         (unsigned long long) weir_shm_counter_get(
                             &c->dry_run_conn_rejected));
    }
    weir_sbuf_append_cstr(o, "]");
}

void
admin_status_json(weir_sbuf_t *o)
{
    weir_master_stats_t *m = admin_ctx.master;
    int64_t              started = m ? atomic_load(&m->started) : 0;

    weir_sbuf_printf(o, "{\"version\":\"%s\",\"generation\":%llu,"
                     "\"master_pid\":%d,\"uptime_seconds\":%lld,"
                     "\"stopping\":%s,\"reloads\":%llu,\"worker_restarts\":"
                     "%llu,", WEIR_VERSION,
                     (unsigned long long) (m ? weir_stat_get(
                         &m->config_generation) : 0),
                     m ? (int) atomic_load(&m->master_pid) : 0,
                     (long long) (started ? (int64_t) time(NULL) - started
                                          : 0),
                     m && atomic_load(&m->stopping) ? "true" : "false",
                     (unsigned long long) (m ? weir_stat_get(
                         &m->reloads_total) : 0),
                     (unsigned long long) (m ? weir_stat_get(
                         &m->workers_restarts_total) : 0));
    workers_json(o);
    weir_sbuf_append_cstr(o, ",");
    servers_json(o);
    weir_sbuf_append_cstr(o, ",");
    upstreams_json(o);
    weir_sbuf_append_cstr(o, ",");
    limits_json(o);
    weir_sbuf_append_cstr(o, "}\n");
}
