#include "weir_config.h"
#include "http/limit.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "core/buf.h"
#include "core/cidr.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "core/stats.h"
#include "core/wtime.h"
#include "event/loop.h"
#include "http/limit_table.h"
#include "http/request-t.h"
#include "http/vars.h"

/*
 * The request side of [limit] (see limit.h for the rules). A request's
 * state lives in its arena: the references it took in each table and
 * the cleanup that gives the holds back.
 */

/* Longest key evaluated; a longer value is cut (keys are client
 * addresses, tokens, hosts: far shorter). */
#define LIMIT_KEY_MAX 1024

/* What tables know of one (master) process: every table attached, so
 * that a dead worker's holds are given back even in a table the current
 * configuration no longer names. */
#define LIMIT_TABLES_MAX 1024

/* $limit_status of a request with several limits: the most severe
 * outcome, a would-be refusal (dry run) above a real delay, so that the
 * log shows what dry_run would change. */
enum limit_outcome {
    LIMIT_PASSED = 0, LIMIT_DELAYED_DRY_RUN, LIMIT_DELAYED,
    LIMIT_REJECTED_DRY_RUN, LIMIT_REJECTED
};

static const char *const limit_outcomes[] = {
    "PASSED", "DELAYED_DRY_RUN", "DELAYED", "REJECTED_DRY_RUN", "REJECTED"
};

typedef struct limit_req_s {
    weir_request_t   *r;
    /* the route's limits, or its server's when no route matched */
    weir_limit_conf_t *const *limits;
    size_t            n;
    unsigned char    *skip;      /* exempt or empty key, per limit */
    weir_limit_ref_t *rate;      /* what each rate took */
    weir_limit_ref_t *hold;      /* what each conn took */
    enum limit_outcome outcome;  /* the most severe so far */
    unsigned          halfclosed:1;  /* FIN before the delay began */
} limit_req_t;

static weir_limit_table_t *attached[LIMIT_TABLES_MAX];
static size_t              nattached;

static void limit_outcome(limit_req_t *lr, enum limit_outcome o);
static int limit_exempt(const weir_limit_conf_t *l, const weir_conn_t *c);
static void limit_release(void *data);
static void limit_reject(weir_request_t *r, int status, int64_t wait_ms,
    const char *code, const char *status_text);
static void limit_refund(limit_req_t *lr, size_t upto);
static int limit_rates(limit_req_t *lr, int64_t *delay);
static void limit_delay_handler(weir_event_t *ev);
static void limit_delay_watch(weir_event_t *ev);
static void limit_conns(limit_req_t *lr);
static void limit_full(weir_request_t *r, const weir_limit_conf_t *l,
    int rc);
static void limit_dry_run(limit_req_t *lr, const weir_limit_conf_t *l,
    int rc, const char *key, size_t klen);

static void
limit_outcome(limit_req_t *lr, enum limit_outcome o)
{
    if (o > lr->outcome) {
        lr->outcome = o;
    }
    lr->r->limit_status = limit_outcomes[lr->outcome];
}

static int
limit_exempt(const weir_limit_conf_t *l, const weir_conn_t *c)
{
    return l->nexempt
           && weir_cidr_match(l->exempt_cidrs, l->nexempt,
                              (const struct sockaddr *) &c->sockaddr);
}

/* The arena's cleanup: whatever ends the request gives its holds back. */
static void
limit_release(void *data)
{
    limit_req_t *lr = data;
    size_t       i;

    for (i = 0; i < lr->n; i++) {
        if (lr->hold[i].idx) {
            weir_limit_table_release(lr->limits[i]->table,
                                     &lr->hold[i]);
            lr->hold[i].idx = 0;
        }
    }
}

static void
limit_reject(weir_request_t *r, int status, int64_t wait_ms,
    const char *code, const char *status_text)
{
    weir_sbuf_t sb;
    int64_t     secs = (wait_ms + 999) / 1000;

    r->limit_status = status_text;
    /* Whole seconds, rounded up: a client that retries when told must
     * not come back a moment too early (RFC 9110 10.2.3). */
    weir_sbuf_init_pool(&sb, r->pool, 24);
    weir_sbuf_append_u64(&sb, (uint64_t) (secs > 0 ? secs : 1));
    if (!weir_sbuf_failed(&sb)) {
        weir_http_add_header(r, "Retry-After", 11, sb.data, sb.len);
    }
    /* The body, if any, is not read: do not parse what follows as a
     * request. */
    if (r->framing.body != WEIR_HTTP_BODY_NONE
        && !(r->framing.body == WEIR_HTTP_BODY_LENGTH
             && r->framing.content_length == 0)) {
        r->keepalive = 0;
        r->lingering = 1;
    }
    weir_http_finalize_error(r, status, code);
}

/* A later limit refused the request: the earlier rates did not serve it. */
static void
limit_refund(limit_req_t *lr, size_t upto)
{
    size_t i;

    for (i = 0; i < upto; i++) {
        if (lr->rate[i].idx) {
            weir_limit_table_refund(lr->limits[i]->table,
                                    &lr->rate[i]);
            lr->rate[i].idx = 0;
        }
    }
}

/* Every rate of the route, in order. WEIR_OK: passes after *delay ms;
 * otherwise the request was answered. */
static int
limit_rates(limit_req_t *lr, int64_t *delay)
{
    weir_request_t          *r = lr->r;
    weir_limit_counters_t   *c;
    int64_t                  wait;
    size_t                   i;
    int                      rc;

    *delay = 0;
    for (i = 0; i < lr->n; i++) {
        const weir_limit_conf_t *l = lr->limits[i];
        weir_limit_rate_t        rate;
        char                     key[LIMIT_KEY_MAX];
        size_t                   klen;

        if (l->table == NULL) {
            lr->skip[i] = 1;
            continue;
        }
        klen = weir_http_vars_eval(r, l->key, key, sizeof(key));
        if (klen == 0 || limit_exempt(l, r->c)) {
            lr->skip[i] = 1;
            weir_shm_counter_add(&weir_limit_table_counters(l->table)->exempt,
                                 1);
            continue;
        }
        if (l->rate == 0) {
            continue;
        }
        rate.n = l->rate;
        rate.period_ms = l->rate_period;
        rate.burst = l->burst;
        rate.delay = l->delay;
        rate.nodelay = l->nodelay;
        rc = weir_limit_table_rate(l->table, key, klen, &rate,
                                   (int64_t) weir_current_msec, &wait,
                                   &lr->rate[i]);
        c = weir_limit_table_counters(l->table);
        if (rc == WEIR_OK && wait && l->dry_run) {
            /* counted in the bucket as usual, but not held */
            weir_shm_counter_add(&c->dry_run_delayed, 1);
            limit_outcome(lr, LIMIT_DELAYED_DRY_RUN);
            continue;
        }
        if (rc == WEIR_OK) {
            weir_shm_counter_add(wait ? &c->delayed : &c->passed, 1);
            limit_outcome(lr, wait ? LIMIT_DELAYED : LIMIT_PASSED);
            *delay = wait > *delay ? wait : *delay;
            continue;
        }
        if (l->dry_run) {
            limit_dry_run(lr, l, rc, key, klen);
            continue;
        }
        limit_refund(lr, i);
        if (rc == WEIR_BUSY) {
            weir_shm_counter_add(&c->rejected, 1);
            weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                           "limit \"%s\": rate exceeded by \"%.*s\"",
                           l->name, (int) weir_min(klen, 128), key);
            limit_reject(r, (int) l->status, wait, "RATE_LIMITED",
                         "REJECTED");
            return WEIR_DONE;
        }
        limit_full(r, l, WEIR_ERROR);
        return WEIR_DONE;
    }
    return WEIR_OK;
}

static void
limit_delay_handler(weir_event_t *ev)
{
    weir_conn_t      *c = ev->data;
    weir_http_conn_t *hc = c->data;

    if (!ev->timedout || hc == NULL || hc->r == NULL) {
        return;     /* a write edge while waiting: nothing to write yet */
    }
    ev->timedout = 0;
    limit_conns(hc->r->limit);
}

/* A client that leaves while its request is delayed would otherwise
 * hold its connection (a descriptor, a connection slot) for the whole
 * delay, up to burst / rate, and then have its request sent on to the
 * origin with nobody to read the answer: a flood of clients that send
 * and vanish would pile up exactly where the limit is meant to shed
 * load. So a read event while delayed is looked at without consuming
 * anything, as while waiting for an upstream (proxy.c): bytes are a body
 * or a pipelined request (read later), a reset, or a FIN that comes
 * while we wait, ends the request as 499; a FIN that came with or before
 * the request is a client that sent everything and waits: it is
 * served. */
static void
limit_delay_watch(weir_event_t *ev)
{
    weir_conn_t      *c = ev->data;
    weir_http_conn_t *hc = c->data;
    weir_request_t   *r;
    int               rc;

    if (hc == NULL || (r = hc->r) == NULL || r->limit == NULL
        || (hc->buf && weir_buf_size(hc->buf) > 0)) {
        return;
    }
    rc = weir_conn_gone(c, r->limit->halfclosed);
    if (rc == 0) {
        return;
    }
    weir_log_error(WEIR_LOG_INFO, &c->log, rc < 0 ? errno : 0,
                   "client closed connection while its request was delayed "
                   "by a limit");
    r->status = 499;
    r->error_code = "CLIENT_CLOSED";
    weir_http_abort(r);
}

/* The table could not account the request: every entry it may evict
 * holds requests in progress (rc WEIR_ERROR), or every hold record is in
 * use (WEIR_DECLINED, from weir_limit_table_acquire() only). Not the
 * client's fault, so 503. */
static void
limit_full(weir_request_t *r, const weir_limit_conf_t *l, int rc)
{
    weir_shm_counter_add(&weir_limit_table_counters(l->table)->full, 1);
    weir_log_error(WEIR_LOG_WARN, &r->c->log, 0,
                   rc == WEIR_DECLINED
                   ? "limit \"%s\": no hold record free for a request in "
                     "progress (raise size)"
                   : "limit \"%s\": no entry free for a new key (raise size)",
                   l->name);
    limit_reject(r, 503, 1000, "LIMIT_TABLE_FULL", "REJECTED");
}

/* A dry_run limit would have refused the request: count it and log it
 * as the refusal would be (rc WEIR_BUSY: the rate, WEIR_AGAIN: conn),
 * and let it pass. A table that cannot account the request only logs:
 * the full counter counts real refusals. */
static void
limit_dry_run(limit_req_t *lr, const weir_limit_conf_t *l, int rc,
    const char *key, size_t klen)
{
    weir_request_t        *r = lr->r;
    weir_limit_counters_t *c = weir_limit_table_counters(l->table);

    if (rc == WEIR_BUSY || rc == WEIR_AGAIN) {
        weir_shm_counter_add(rc == WEIR_BUSY ? &c->dry_run_rejected
                                             : &c->dry_run_conn_rejected, 1);
        weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                       rc == WEIR_BUSY
                       ? "limit \"%s\": rate exceeded by \"%.*s\", dry run"
                       : "limit \"%s\": conn reached by \"%.*s\", dry run",
                       l->name, (int) weir_min(klen, 128), key);
        limit_outcome(lr, LIMIT_REJECTED_DRY_RUN);
        return;
    }
    weir_log_error(WEIR_LOG_WARN, &r->c->log, 0,
                   "limit \"%s\": no room in the table to account the "
                   "request (raise size), dry run", l->name);
}

/* The requests-in-progress counts, then the body and the handler. */
static void
limit_conns(limit_req_t *lr)
{
    weir_request_t          *r = lr->r;
    size_t                   i;
    int                      rc;

    for (i = 0; i < lr->n; i++) {
        const weir_limit_conf_t *l = lr->limits[i];
        char                     key[LIMIT_KEY_MAX];
        size_t                   klen;

        if (lr->skip[i] || l->conn == 0) {
            continue;
        }
        klen = weir_http_vars_eval(r, l->key, key, sizeof(key));
        rc = weir_limit_table_acquire(l->table, key, klen,
                                      (uint32_t) l->conn, weir_proc_index,
                                      (int64_t) weir_current_msec,
                                      &lr->hold[i]);
        if (rc == WEIR_OK) {
            continue;
        }
        if (l->dry_run) {
            limit_dry_run(lr, l, rc == WEIR_BUSY ? WEIR_AGAIN : rc, key,
                          klen);
            continue;
        }
        /* The holds taken so far go back with the arena. */
        if (rc == WEIR_BUSY) {
            weir_shm_counter_add(
                &weir_limit_table_counters(l->table)->conn_rejected, 1);
            weir_log_error(WEIR_LOG_INFO, &r->c->log, 0,
                           "limit \"%s\": conn = %lld reached by \"%.*s\"",
                           l->name, (long long) l->conn,
                           (int) weir_min(klen, 128), key);
            limit_reject(r, (int) l->status, 1000, "TOO_MANY_REQUESTS",
                         "REJECTED");
            return;
        }
        limit_full(r, l, rc);
        return;
    }
    weir_http_start_body(r);
}

int
weir_http_admission(weir_request_t *r)
{
    static weir_msec_t last_log;
    static uint64_t    unlogged;

    if (weir_http.shed_at == 0 || r->c->requests > 0
        || weir_conn_count() < weir_http.shed_base + weir_http.shed_at
        || r->hc->srv->kind == WEIR_SERVER_ADMIN) {
        return WEIR_OK;
    }
    weir_stat_add(&weir_proc_self->shed_total, 1);
    r->c->log.action = "admitting request";
    /* One line per 10 s: under overload a line per request would add
     * to the load. */
    if (last_log == 0 || weir_current_msec - last_log >= 10000) {
        weir_log_error(WEIR_LOG_WARN, &r->c->log, 0,
                       "overloaded: %zu connections open (shed at %zu): new "
                       "requests get 503 (%llu more since the last line)",
                       weir_conn_count() - weir_http.shed_base,
                       weir_http.shed_at,
                       (unsigned long long) unlogged);
        last_log = weir_current_msec;
        unlogged = 0;
    } else {
        unlogged++;
    }
    r->keepalive = 0;
    limit_reject(r, 503, 1000, "OVERLOADED", NULL);
    return WEIR_DONE;
}

void
weir_http_limit_run(weir_request_t *r)
{
    weir_limit_conf_t *const *limits;
    limit_req_t              *lr;
    int64_t                   delay;
    size_t                    n;

    /* A request no route matched gets its server's limits (the 404s of
     * a scan are requests too). */
    if (r->route) {
        limits = r->route->limits;
        n = r->route->nlimits;
    } else {
        limits = r->srv ? r->srv->limits : NULL;
        n = r->srv ? r->srv->nlimits : 0;
    }
    if (n == 0) {
        weir_http_start_body(r);
        return;
    }
    lr = weir_pcalloc(r->pool, sizeof(*lr));
    if (lr) {
        lr->skip = weir_pcalloc(r->pool, n);
        lr->rate = weir_pcalloc(r->pool, n * sizeof(*lr->rate));
        lr->hold = weir_pcalloc(r->pool, n * sizeof(*lr->hold));
    }
    if (lr == NULL || lr->skip == NULL || lr->rate == NULL || lr->hold == NULL
        || weir_pool_cleanup_add(r->pool, limit_release, lr) != 0) {
        weir_http_finalize_error(r, 500, "INTERNAL_ERROR");
        return;
    }
    lr->r = r;
    lr->limits = limits;
    lr->n = n;
    r->limit = lr;
    /* For the lines a refusal logs (the state changes with the answer). */
    r->c->log.action = "applying limits";
    if (limit_rates(lr, &delay) != WEIR_OK) {
        return;
    }
    if (r->limit_status == NULL) {
        limit_outcome(lr, LIMIT_PASSED);    /* every limit was exempt */
    }
    if (delay == 0) {
        limit_conns(lr);
        return;
    }
    weir_timer_del(&r->c->read);
    lr->halfclosed = r->c->read.eof;
    weir_http_set_handlers(r, limit_delay_watch, limit_delay_handler,
                           "delaying request (limit)");
    weir_timer_add(&r->c->write, (weir_msec_t) delay);
}

int
weir_http_limit_attach(weir_shm_t *shm, weir_http_conf_t *conf, char *err,
    size_t errlen)
{
    size_t i, j;

    for (i = 0; i < conf->nlimits; i++) {
        weir_limit_conf_t *l = conf->limits[i];

        l->table = weir_limit_table_attach(shm, l->name, (uint32_t) l->size,
                                           err, errlen);
        if (l->table == NULL) {
            return WEIR_ERROR;
        }
        for (j = 0; j < nattached && attached[j] != l->table; j++) {
            /* already known */
        }
        if (j == nattached && nattached < LIMIT_TABLES_MAX) {
            attached[nattached++] = l->table;
        }
    }
    return WEIR_OK;
}

void
weir_http_limit_proc_gone(int proc)
{
    size_t i;

    for (i = 0; i < nattached; i++) {
        weir_limit_table_proc_gone(attached[i], proc);
    }
}
