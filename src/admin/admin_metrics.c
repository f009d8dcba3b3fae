#include "weir_config.h"
#include "admin/admin-t.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "http/http_stats.h"
#include "http/limit_table.h"
#include "upstream/breaker.h"
#include "upstream/peer_state.h"

/*
 * /metrics in the Prometheus text exposition format (version 0.0.4):
 * every family with HELP and TYPE, base units (seconds, bytes), counters
 * ending in _total. Values are summed over the statistics slots of all
 * workers at the moment of reading; counters never go back, because
 * records outlive workers and reloads (a worker's own per-process series
 * are labelled with its pid, so a new process is a new series).
 */

/* Counters kept directly in a peer's record (one per peer). */
static const struct {
    const char *name, *help;
    size_t      off;
} peer_counters[] = {
    { "weir_upstream_peer_health_checks_total",
      "Active health checks of the peer.",
      offsetof(weir_peer_state_t, checks_total) },
    { "weir_upstream_peer_health_check_failures_total",
      "Active health checks of the peer that failed.",
      offsetof(weir_peer_state_t, checks_failed_total) },
    { "weir_upstream_peer_breaker_opens_total",
      "Times the peer's breaker opened.",
      offsetof(weir_peer_state_t, breaker_opens_total) },
};

static const char *const classes[6] = { "other", "1xx", "2xx", "3xx", "4xx",
                                        "5xx" };

void
admin_family(weir_sbuf_t *o, const char *name, const char *type,
    const char *help)
{
    weir_sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                     type);
}

/* name{upstream="u",peer="p"  (the caller closes the braces) */
static void
peer_labels(weir_sbuf_t *o, const char *name, const weir_upstream_conf_t *u,
    const weir_peer_conf_t *p)
{
    weir_sbuf_printf(o, "%s{upstream=\"", name);
    admin_out_label(o, u->name);
    weir_sbuf_append_cstr(o, "\",peer=\"");
    admin_out_label(o, p->text);
    weir_sbuf_append_cstr(o, "\"");
}

static void
histogram(weir_sbuf_t *o, const char *name, const char *labels,
    const uint64_t *buckets, uint64_t sum_ms)
{
    uint64_t cum = 0;
    int      i;

    for (i = 0; i < WEIR_HIST_BUCKETS; i++) {
        cum += buckets[i];
        if (i < WEIR_HIST_BUCKETS - 1) {
            weir_sbuf_printf(o, "%s_bucket{%s,le=\"%g\"} %llu\n", name,
                             labels, (double) weir_hist_bounds_ms[i] / 1000,
                             (unsigned long long) cum);
        } else {
            weir_sbuf_printf(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name,
                             labels, (unsigned long long) cum);
        }
    }
    weir_sbuf_printf(o, "%s_sum{%s} %.3f\n%s_count{%s} %llu\n", name, labels,
                     (double) sum_ms / 1000, name, labels,
                     (unsigned long long) cum);
}

static void
process_metrics(weir_sbuf_t *o)
{
    weir_master_stats_t *m = admin_ctx.master;
    size_t               used = 0, total = 0;

    admin_family(o, "weir_build_info", "gauge", "Version of the running weir.");
    weir_sbuf_printf(o, "weir_build_info{version=\"%s\"} 1\n", WEIR_VERSION);
    if (m) {
        admin_family(o, "weir_start_time_seconds", "gauge",
               "When the master started, in seconds since the epoch.");
        weir_sbuf_printf(o, "weir_start_time_seconds %lld\n",
                         (long long) atomic_load(&m->started));
        admin_family(o, "weir_config_generation", "gauge",
               "Generation of the configuration in service (1 at start, "
               "one more per reload).");
        weir_sbuf_printf(o, "weir_config_generation %llu\n",
                         (unsigned long long) weir_stat_get(
                             &m->config_generation));
        admin_family(o, "weir_reloads_total", "counter", "Successful reloads.");
        weir_sbuf_printf(o, "weir_reloads_total %llu\n",
                         (unsigned long long) weir_stat_get(&m->reloads_total));
        admin_family(o, "weir_reload_failures_total", "counter",
               "Reloads refused (the previous configuration kept serving).");
        weir_sbuf_printf(o, "weir_reload_failures_total %llu\n",
                         (unsigned long long) weir_stat_get(
                             &m->reloads_failed_total));
        admin_family(o, "weir_worker_restarts_total", "counter",
               "Worker processes restarted after an unexpected exit.");
        weir_sbuf_printf(o, "weir_worker_restarts_total %llu\n",
                         (unsigned long long) weir_stat_get(
                             &m->workers_restarts_total));
    }
    if (admin_ctx.shm) {
        weir_shm_stats(admin_ctx.shm, &used, &total);
        admin_family(o, "weir_shm_used_bytes", "gauge",
               "Shared memory in use (allocator pages).");
        weir_sbuf_printf(o, "weir_shm_used_bytes %zu\n", used);
        admin_family(o, "weir_shm_size_bytes", "gauge",
               "Shared memory the allocator can hand out (shm_size).");
        weir_sbuf_printf(o, "weir_shm_size_bytes %zu\n", total);
        admin_family(o, "weir_shm_lock_recoveries_total", "counter",
               "Times a process found the shm allocator lock held by a dead "
               "process and recovered it.");
        weir_sbuf_printf(o, "weir_shm_lock_recoveries_total %llu\n",
                         (unsigned long long) weir_shm_recoveries(
                             admin_ctx.shm));
    }
}

/* Per worker: one series per live process, labelled slot, pid and
 * generation. */
static void
worker_metrics(weir_sbuf_t *o)
{
    static const struct {
        const char *name, *type, *help;
        size_t      off;
        int         gauge;
    } rows[] = {
        { "weir_worker_connections", "gauge",
          "Client connections open in the worker.",
          offsetof(weir_proc_stats_t, connections), 1 },
        { "weir_worker_requests_in_flight", "gauge",
          "Requests the worker is processing.",
          offsetof(weir_proc_stats_t, requests_active), 1 },
        { "weir_worker_accepted_connections_total", "counter",
          "Connections the worker accepted.",
          offsetof(weir_proc_stats_t, accepted_total), 0 },
        { "weir_worker_requests_total", "counter",
          "Requests the worker finished.",
          offsetof(weir_proc_stats_t, requests_total), 0 },
        { "weir_worker_admission_rejected_total", "counter",
          "New connections' requests refused with 503 because the worker "
          "was at shed_connections.",
          offsetof(weir_proc_stats_t, shed_total), 0 },
        { "weir_worker_accept_errors_total", "counter",
          "accept() failures (out of file descriptors, mostly), each "
          "followed by a pause in accepting.",
          offsetof(weir_proc_stats_t, accept_errors_total), 0 },
    };
    weir_proc_stats_t *p = admin_ctx.procs;
    int64_t            conns = 0, active = 0, v;
    size_t             k;
    int                i;

    if (p == NULL) {
        return;
    }
    for (k = 0; k < weir_nelems(rows); k++) {
        admin_family(o, rows[k].name, rows[k].type, rows[k].help);
        for (i = 0; i < WEIR_PROC_MAX; i++) {
            const char *f = (const char *) &p[i] + rows[k].off;
            if (atomic_load(&p[i].pid) == 0) {
                continue;
            }
            v = rows[k].gauge
                ? atomic_load((const _Atomic int64_t *) (const void *) f)
                : (int64_t) weir_stat_get((const _Atomic uint64_t *)
                                          (const void *) f);
            weir_sbuf_printf(o, "%s{slot=\"%d\",pid=\"%d\",generation="
                             "\"%llu\"} %lld\n", rows[k].name,
                             (int) atomic_load(&p[i].slot),
                             (int) atomic_load(&p[i].pid),
                             (unsigned long long) atomic_load(
                                 &p[i].generation), (long long) v);
        }
    }
    for (i = 0; i < WEIR_PROC_MAX; i++) {
        if (atomic_load(&p[i].pid)) {
            conns += atomic_load(&p[i].connections);
            active += atomic_load(&p[i].requests_active);
        }
    }
    admin_family(o, "weir_connections", "gauge",
           "Client connections of all workers: active (a request in "
           "progress) or idle (waiting for one).");
    weir_sbuf_printf(o, "weir_connections{state=\"active\"} %lld\n"
                     "weir_connections{state=\"idle\"} %lld\n",
                     (long long) active, (long long) weir_max(conns - active,
                                                              0));
}

static void
server_metrics(weir_sbuf_t *o)
{
    const weir_http_conf_t *h = &admin_ctx.cf->http;
    uint64_t                b[WEIR_HIST_BUCKETS];
    char                    labels[160];
    size_t                  i;
    int                     c, k;

    admin_family(o, "weir_http_requests_total", "counter",
           "Requests answered, by server and status class.");
    for (i = 0; i < h->nservers; i++) {
        const struct weir_server_stats_s *s = h->servers[i]->stats;
        if (s == NULL) {
            continue;
        }
        for (c = 1; c < 6; c++) {
            weir_sbuf_append_cstr(o, "weir_http_requests_total{server=\"");
            admin_out_label(o, h->servers[i]->name);
            weir_sbuf_printf(o, "\",code=\"%s\"} %llu\n", classes[c],
                             (unsigned long long) weir_http_stats_sum(s,
                                 offsetof(weir_server_stats_slot_t,
                                          responses[c])));
        }
    }
    admin_family(o, "weir_http_slow_clients_total", "counter",
           "Clients cut for sending the request body (client_body_min_rate) "
           "or reading the response (send_min_rate) too slowly, by server.");
    for (i = 0; i < h->nservers; i++) {
        const struct weir_server_stats_s *s = h->servers[i]->stats;
        if (s == NULL) {
            continue;
        }
        for (k = 0; k < 2; k++) {
            weir_sbuf_append_cstr(o, "weir_http_slow_clients_total{server=\"");
            admin_out_label(o, h->servers[i]->name);
            weir_sbuf_printf(o, "\",direction=\"%s\"} %llu\n",
                             k == 0 ? "request_body" : "response",
                             (unsigned long long) weir_http_stats_sum(s,
                                 offsetof(weir_server_stats_slot_t,
                                          slow_clients[k])));
        }
    }
    admin_family(o, "weir_http_request_duration_seconds", "histogram",
           "Time from the first byte of a request to its last response "
           "byte, by server.");
    for (i = 0; i < h->nservers; i++) {
        const struct weir_server_stats_s *s = h->servers[i]->stats;
        int n;
        if (s == NULL) {
            continue;
        }
        for (k = 0; k < WEIR_HIST_BUCKETS; k++) {
            b[k] = weir_http_stats_sum(s, offsetof(weir_server_stats_slot_t,
                                                   hist[k]));
        }
        /* Server names are [A-Za-z0-9_.-]: no escaping needed here. */
        n = snprintf(labels, sizeof(labels), "server=\"%s\"",
                     h->servers[i]->name);
        if (n > 0 && (size_t) n < sizeof(labels)) {
            histogram(o, "weir_http_request_duration_seconds", labels, b,
                      weir_http_stats_sum(s, offsetof(weir_server_stats_slot_t,
                                                      time_ms_sum)));
        }
    }
}

static void
peer_metrics(weir_sbuf_t *o)
{
    const weir_config_t *cf = admin_ctx.cf;
    uint64_t             b[WEIR_HIST_BUCKETS];
    char                 labels[320];
    size_t               i, j;
    int                  k, n;

#define EACH_PEER                                                            \
    for (i = 0; i < cf->nupstreams; i++)                                     \
        for (j = 0; j < cf->upstreams[i]->npeers; j++)                       \
            if (cf->upstreams[i]->peers[j].state != NULL)
#define U  (cf->upstreams[i])
#define P  (&cf->upstreams[i]->peers[j])
#define S  (cf->upstreams[i]->peers[j].state)

    admin_family(o, "weir_upstream_peer_requests_total", "counter",
           "Tries sent to the peer (retries count as tries).");
    EACH_PEER {
        peer_labels(o, "weir_upstream_peer_requests_total", U, P);
        weir_sbuf_printf(o, "} %llu\n", (unsigned long long)
                         weir_peer_stat_sum(S, offsetof(weir_peer_stats_t,
                                                        requests)));
    }
    admin_family(o, "weir_upstream_peer_responses_total", "counter",
           "Response heads received from the peer, by status class.");
    EACH_PEER {
        for (k = 1; k < 6; k++) {
            peer_labels(o, "weir_upstream_peer_responses_total", U, P);
            weir_sbuf_printf(o, ",code=\"%s\"} %llu\n", classes[k],
                             (unsigned long long) weir_peer_stat_sum(S,
                                 offsetof(weir_peer_stats_t, responses[k])));
        }
    }
    admin_family(o, "weir_upstream_peer_failures_total", "counter",
           "Failed tries on the peer, by error (the DESIGN 4 taxonomy).");
    EACH_PEER {
        for (k = 0; k < WEIR_FAIL_KINDS; k++) {
            if (k == WEIR_FAIL_NO_PEER || k == WEIR_FAIL_QUEUE_TIMEOUT
                || k == WEIR_FAIL_BUDGET_EXHAUSTED
                || k == WEIR_FAIL_BREAKER_OPEN || k == WEIR_FAIL_DEADLINE) {
                continue;       /* upstream-level, below */
            }
            peer_labels(o, "weir_upstream_peer_failures_total", U, P);
            weir_sbuf_printf(o, ",error=\"%s\"} %llu\n",
                             weir_fail_kind_name(k),
                             (unsigned long long) weir_peer_stat_sum(S,
                                 offsetof(weir_peer_stats_t, fails[k])));
        }
    }
    admin_family(o, "weir_upstream_peer_up", "gauge",
           "1 when the peer takes traffic (healthy, breaker closed), else "
           "0.");
    EACH_PEER {
        peer_labels(o, "weir_upstream_peer_up", U, P);
        weir_sbuf_printf(o, "} %d\n",
                         strcmp(admin_peer_state(U, P), "up") == 0);
    }
    admin_family(o, "weir_upstream_peer_healthy", "gauge",
           "The active health checks' verdict: 1 healthy, 0 failing.");
    EACH_PEER {
        peer_labels(o, "weir_upstream_peer_healthy", U, P);
        weir_sbuf_printf(o, "} %u\n", (unsigned) atomic_load(&S->health));
    }
    for (k = 0; k < (int) weir_nelems(peer_counters); k++) {
        admin_family(o, peer_counters[k].name, "counter",
                     peer_counters[k].help);
        EACH_PEER {
            peer_labels(o, peer_counters[k].name, U, P);
            weir_sbuf_printf(o, "} %llu\n", (unsigned long long)
                             weir_stat_get((const _Atomic uint64_t *)
                                 (const void *) ((const char *) S
                                                 + peer_counters[k].off)));
        }
    }
    admin_family(o, "weir_upstream_peer_breaker_state", "gauge",
           "The circuit breaker's state: 1 for the current one.");
    EACH_PEER {
        int st = weir_breaker_state(S, NULL, NULL);
        for (k = 0; k < 3; k++) {
            peer_labels(o, "weir_upstream_peer_breaker_state", U, P);
            weir_sbuf_printf(o, ",state=\"%s\"} %d\n",
                             weir_breaker_state_name(k), st == k);
        }
    }
    admin_family(o, "weir_upstream_peer_in_flight", "gauge",
           "Requests in flight to the peer, all workers.");
    EACH_PEER {
        peer_labels(o, "weir_upstream_peer_in_flight", U, P);
        weir_sbuf_printf(o, "} %u\n", (unsigned) weir_peer_inflight(S));
    }
    admin_family(o, "weir_upstream_peer_response_seconds", "histogram",
           "Time from the start of a try to the peer's response head.");
    EACH_PEER {
        for (k = 0; k < WEIR_HIST_BUCKETS; k++) {
            b[k] = weir_peer_stat_sum(S, offsetof(weir_peer_stats_t,
                                                  hist[k]));
        }
        n = snprintf(labels, sizeof(labels), "upstream=\"%s\",peer=\"%s\"",
                     U->name, P->text);
        if (n > 0 && (size_t) n < sizeof(labels)) {
            histogram(o, "weir_upstream_peer_response_seconds", labels, b,
                      weir_peer_stat_sum(S, offsetof(weir_peer_stats_t,
                                                     time_ms_sum)));
        }
    }
#undef EACH_PEER
#undef U
#undef P
#undef S
}

static void
upstream_metrics(weir_sbuf_t *o)
{
    static const struct {
        const char *name, *help;
        size_t      off;
    } rows[] = {
        { "weir_upstream_retries_total",
          "Requests that were retried on another try (counted once).",
          offsetof(weir_upstream_state_t, retries_total) },
        { "weir_upstream_retry_budget_exhausted_total",
          "Retries refused because the retry budget was spent.",
          offsetof(weir_upstream_state_t, budget_exhausted_total) },
        { "weir_upstream_queue_timeouts_total",
          "Requests that found every peer at max_conns until "
          "queue_timeout (or a full queue).",
          offsetof(weir_upstream_state_t, queue_timeouts_total) },
        { "weir_upstream_no_healthy_peer_total",
          "Requests answered 503 because no peer was usable.",
          offsetof(weir_upstream_state_t, no_peer_total) },
    };
    const weir_config_t *cf = admin_ctx.cf;
    size_t               i, k;

    for (k = 0; k < weir_nelems(rows); k++) {
        admin_family(o, rows[k].name, "counter", rows[k].help);
        for (i = 0; i < cf->nupstreams; i++) {
            const weir_upstream_state_t *us = cf->upstreams[i]->state;
            if (us == NULL) {
                continue;
            }
            weir_sbuf_printf(o, "%s{upstream=\"", rows[k].name);
            admin_out_label(o, cf->upstreams[i]->name);
            weir_sbuf_printf(o, "\"} %llu\n", (unsigned long long)
                             weir_stat_get((const _Atomic uint64_t *)
                                 (const void *) ((const char *) us
                                                 + rows[k].off)));
        }
    }
    /* only `tls = on` upstreams have handshakes to count */
    admin_family(o, "weir_upstream_tls_handshakes_total", "counter",
                 "New TLS connections to the peers, by whether a "
                 "session was resumed (tls_session_reuse).");
    for (i = 0; i < cf->nupstreams; i++) {
        const weir_upstream_state_t *us = cf->upstreams[i]->state;
        if (us == NULL || !cf->upstreams[i]->tls) {
            continue;
        }
        for (k = 0; k < 2; k++) {
            weir_sbuf_printf(o, "weir_upstream_tls_handshakes_total"
                             "{upstream=\"");
            admin_out_label(o, cf->upstreams[i]->name);
            weir_sbuf_printf(o, "\",resumed=\"%s\"} %llu\n",
                             k ? "yes" : "no", (unsigned long long)
                             weir_stat_get(&us->tls_handshakes_total[k]));
        }
    }
}

/* [limit] sections: what each decided, and the state of its table. */
static void
limit_metrics(weir_sbuf_t *o)
{
    static const struct {
        const char *result;
        size_t      off;
    } results[] = {
        { "passed", offsetof(weir_limit_counters_t, passed) },
        { "delayed", offsetof(weir_limit_counters_t, delayed) },
        { "rejected", offsetof(weir_limit_counters_t, rejected) },
        { "exempt", offsetof(weir_limit_counters_t, exempt) },
        { "dry_run_delayed", offsetof(weir_limit_counters_t,
                                      dry_run_delayed) },
        { "dry_run_rejected", offsetof(weir_limit_counters_t,
                                       dry_run_rejected) },
    };
    static const struct {
        const char *name, *help;
        size_t      off;
    } counters[] = {
        { "weir_limit_conn_rejected_total",
          "Requests refused because their key had `conn` requests in "
          "progress.", offsetof(weir_limit_counters_t, conn_rejected) },
        { "weir_limit_conn_dry_run_rejected_total",
          "Requests a dry_run limit let through that its `conn` would have "
          "refused.", offsetof(weir_limit_counters_t,
                               dry_run_conn_rejected) },
        { "weir_limit_full_total",
          "Requests refused (503) because the limit's table had no entry "
          "it could give their key.", offsetof(weir_limit_counters_t, full) },
        { "weir_limit_evictions_total",
          "Keys dropped from a full table to make room for a new key.",
          offsetof(weir_limit_counters_t, evictions) },
        { "weir_limit_resets_total",
          "Times the table was emptied after a process died holding its "
          "lock.", offsetof(weir_limit_counters_t, resets) },
    };
    const weir_http_conf_t *h = &admin_ctx.cf->http;
    size_t                  i, k;

    if (h->nlimits == 0) {
        return;
    }
    admin_family(o, "weir_limit_requests_total", "counter",
                 "Requests checked against a limit's rate, by result "
                 "(exempt: exempt address or empty key; dry_run_*: what a "
                 "dry_run limit would have done).");
    for (i = 0; i < h->nlimits; i++) {
        const weir_limit_conf_t *l = h->limits[i];
        weir_limit_counters_t   *c;

        if (l->table == NULL) {
            continue;
        }
        c = weir_limit_table_counters(l->table);
        for (k = 0; k < weir_nelems(results); k++) {
            weir_sbuf_append_cstr(o, "weir_limit_requests_total{limit=\"");
            admin_out_label(o, l->name);
            weir_sbuf_printf(o, "\",result=\"%s\"} %llu\n", results[k].result,
                             (unsigned long long) weir_shm_counter_get(
                                 (weir_shm_counter_t *) (void *)
                                 ((char *) c + results[k].off)));
        }
    }
    for (k = 0; k < weir_nelems(counters); k++) {
        admin_family(o, counters[k].name, "counter", counters[k].help);
        for (i = 0; i < h->nlimits; i++) {
            const weir_limit_conf_t *l = h->limits[i];
            char                    *c;

            if (l->table == NULL) {
                continue;
            }
            c = (char *) weir_limit_table_counters(l->table);
            weir_sbuf_printf(o, "%s{limit=\"", counters[k].name);
            admin_out_label(o, l->name);
            weir_sbuf_printf(o, "\"} %llu\n", (unsigned long long)
                             weir_shm_counter_get((weir_shm_counter_t *)
                                 (void *) (c + counters[k].off)));
        }
    }
    admin_family(o, "weir_limit_keys", "gauge",
                 "Keys the limit's table holds.");
    for (i = 0; i < h->nlimits; i++) {
        if (h->limits[i]->table) {
            weir_sbuf_append_cstr(o, "weir_limit_keys{limit=\"");
            admin_out_label(o, h->limits[i]->name);
            weir_sbuf_printf(o, "\"} %u\n",
                             weir_limit_table_used(h->limits[i]->table));
        }
    }
    admin_family(o, "weir_limit_requests_in_progress", "gauge",
                 "Requests counted against the limit's conn, all keys.");
    for (i = 0; i < h->nlimits; i++) {
        if (h->limits[i]->table) {
            weir_sbuf_append_cstr(o,
                                  "weir_limit_requests_in_progress{limit=\"");
            admin_out_label(o, h->limits[i]->name);
            weir_sbuf_printf(o, "\"} %u\n",
                             weir_limit_table_conns(h->limits[i]->table));
        }
    }
}

void
admin_metrics(weir_sbuf_t *o)
{
    process_metrics(o);
    worker_metrics(o);
    server_metrics(o);
    upstream_metrics(o);
    peer_metrics(o);
    admin_cache_metrics(o);
    limit_metrics(o);
}
