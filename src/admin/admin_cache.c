#include "weir_config.h"
#include "admin/admin-t.h"

#include <stddef.h>
#include <string.h>
#include "cache/cache.h"
#include "cache/cache_index.h"
#include "http/handler.h"

/* The caches on the admin listener: their Prometheus families and
 * POST /purge. */

static void cache_label(weir_sbuf_t *o, const char *name, size_t i);
static int arg_value(const weir_request_t *r, const char *name, char *out,
    size_t cap);
static void purged(void *ctx, const char *cache, const char *key,
    size_t len);
static int hex_value(char ch);

static int
hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = (char) (ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* name{cache="c"  (the caller closes the braces) */
static void
cache_label(weir_sbuf_t *o, const char *name, size_t i)
{
    weir_sbuf_printf(o, "%s{cache=\"", name);
    admin_out_label(o, weir_cache_conf(i)->name);
    weir_sbuf_append_cstr(o, "\"");
}


void
admin_cache_metrics(weir_sbuf_t *o)
{
    static const struct {
        const char *name, *type, *help;
        size_t      off;
    } simple[] = {
        { "weir_cache_served_bytes_total", "counter",
          "Body bytes sent from cache files.",
          offsetof(weir_cache_counters_t, bytes_served) },
        { "weir_cache_fills_total", "counter",
          "Fills started (responses written to a temporary file).",
          offsetof(weir_cache_counters_t, fills) },
        { "weir_cache_fills_stored_total", "counter",
          "Fills completed and renamed into place.",
          offsetof(weir_cache_counters_t, fills_stored) },
        { "weir_cache_fills_aborted_total", "counter",
          "Fills abandoned (not storable, cut, write error): the temporary "
          "file was removed.", offsetof(weir_cache_counters_t, fills_aborted) },
        { "weir_cache_collapsed_total", "counter",
          "Requests that waited for another request's fill.",
          offsetof(weir_cache_counters_t, collapsed) },
        { "weir_cache_refreshes_total", "counter",
          "Background refreshes and background fills started.",
          offsetof(weir_cache_counters_t, refreshes) },
        { "weir_cache_purged_total", "counter",
          "Objects removed by purge.",
          offsetof(weir_cache_counters_t, purged) },
        { "weir_cache_invalidated_total", "counter",
          "Objects removed after a successful unsafe request.",
          offsetof(weir_cache_counters_t, invalidated) },
    };
    static const struct {
        const char *status;
        size_t      off;
    } statuses[] = {
        { "hit", offsetof(weir_cache_counters_t, hits) },
        { "miss", offsetof(weir_cache_counters_t, misses) },
        { "expired", offsetof(weir_cache_counters_t, expired) },
        { "stale", offsetof(weir_cache_counters_t, stale) },
        { "updating", offsetof(weir_cache_counters_t, updating) },
        { "revalidated", offsetof(weir_cache_counters_t, revalidated) },
        { "bypass", offsetof(weir_cache_counters_t, bypass) },
    };
    static const struct {
        const char *name, *type, *help;
        size_t      off;
    } index[] = {
        { "weir_cache_objects", "gauge", "Objects in the index.",
          offsetof(weir_cache_index_stats_t, objects) },
        { "weir_cache_stored_bytes", "gauge",
          "Bytes on disk of the objects in the index.",
          offsetof(weir_cache_index_stats_t, bytes) },
        { "weir_cache_index_capacity", "gauge", "Index slots (max_objects).",
          offsetof(weir_cache_index_stats_t, capacity) },
        { "weir_cache_evictions_total", "counter",
          "Objects the cache manager removed (inactive, or over max_size).",
          offsetof(weir_cache_index_stats_t, evictions) },
    };
    size_t                   n = weir_cache_count(), i, k;
    weir_cache_counters_t   *c;
    weir_cache_index_stats_t *st;
    int                      op;

    if (n == 0) {
        return;
    }
    c = o->pool ? weir_palloc(o->pool, n * sizeof(*c)) : NULL;
    st = o->pool ? weir_palloc(o->pool, n * sizeof(*st)) : NULL;
    if (c == NULL || st == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        weir_cache_counters(i, &c[i]);
        weir_cache_index_stats_of(i, &st[i]);
    }
    admin_family(o, "weir_cache_requests_total", "counter",
           "Requests on cached routes by $cache_status.");
    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
            cache_label(o, "weir_cache_requests_total", i);
            weir_sbuf_printf(o, ",status=\"%s\"} %llu\n", statuses[k].status,
                             (unsigned long long) *(const uint64_t *)
                                 ((const char *) &c[i] + statuses[k].off));
        }
    }
    for (k = 0; k < sizeof(simple) / sizeof(simple[0]); k++) {
        admin_family(o, simple[k].name, simple[k].type, simple[k].help);
        for (i = 0; i < n; i++) {
            cache_label(o, simple[k].name, i);
            weir_sbuf_printf(o, "} %llu\n", (unsigned long long)
                             *(const uint64_t *) ((const char *) &c[i]
                                                  + simple[k].off));
        }
    }
    admin_family(o, "weir_cache_fills_in_flight", "gauge",
                 "Fills in progress.");
    for (i = 0; i < n; i++) {
        cache_label(o, "weir_cache_fills_in_flight", i);
        weir_sbuf_printf(o, "} %lld\n", (long long) c[i].fills_in_flight);
    }
    admin_family(o, "weir_cache_errors_total", "counter",
           "Cache errors by operation; each one served the request "
           "uncached.");
    for (i = 0; i < n; i++) {
        for (op = 0; op < WEIR_CACHE_OP_MAX; op++) {
            cache_label(o, "weir_cache_errors_total", i);
            weir_sbuf_printf(o, ",op=\"%s\"} %llu\n", weir_cache_op_name(op),
                             (unsigned long long) c[i].errors[op]);
        }
    }
    for (k = 0; k < sizeof(index) / sizeof(index[0]); k++) {
        admin_family(o, index[k].name, index[k].type, index[k].help);
        for (i = 0; i < n; i++) {
            cache_label(o, index[k].name, i);
            weir_sbuf_printf(o, "} %llu\n", (unsigned long long)
                             *(const uint64_t *) ((const char *) &st[i]
                                                  + index[k].off));
        }
    }
    admin_family(o, "weir_cache_max_bytes", "gauge", "max_size.");
    for (i = 0; i < n; i++) {
        cache_label(o, "weir_cache_max_bytes", i);
        weir_sbuf_printf(o, "} %lld\n",
                         (long long) weir_cache_conf(i)->max_size);
    }
    admin_family(o, "weir_cache_loaded", "gauge",
           "1 once the loader has read the cache directory.");
    for (i = 0; i < n; i++) {
        cache_label(o, "weir_cache_loaded", i);
        weir_sbuf_printf(o, "} %d\n", st[i].loaded ? 1 : 0);
    }
}

/* The value of query argument `name`, percent-decoded ('+' is a space,
 * as forms send it). 1 found, 0 absent, -1 too long or bad escape. */
static int
arg_value(const weir_request_t *r, const char *name, char *out, size_t cap)
{
    const char *p = r->args.data, *end, *amp, *eq;
    size_t      n = strlen(name), k;
    int         hi, lo;

    if (p == NULL) {
        return 0;       /* no query at all */
    }
    end = p + r->args.len;
    while (p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL) {
            amp = end;
        }
        eq = memchr(p, '=', (size_t) (amp - p));
        if (eq && (size_t) (eq - p) == n && memcmp(p, name, n) == 0) {
            for (p = eq + 1, k = 0; p < amp; p++) {
                char ch = *p;
                if (ch == '%') {
                    if (amp - p < 3) {
                        return -1;
                    }
                    hi = hex_value(p[1]);
                    lo = hex_value(p[2]);
                    if (hi < 0 || lo < 0) {
                        return -1;
                    }
                    ch = (char) (hi * 16 + lo);
                    p += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (k + 1 >= cap || ch == '\0') {
                    return -1;
                }
                out[k++] = ch;
            }
            out[k] = '\0';
            return 1;
        }
        p = amp + 1;
    }
    return 0;
}

typedef struct purge_out_s {
    weir_sbuf_t *o;
    long         n;
} purge_out_t;

static void
purged(void *ctx, const char *cache, const char *key, size_t len)
{
    purge_out_t *po = ctx;
    char        *z = po->o->pool ? weir_pstrndup(po->o->pool, key, len)
                                 : NULL;

    weir_sbuf_append_cstr(po->o, po->n++ ? ",\n  " : "\n  ");
    weir_sbuf_append_cstr(po->o, "{\"cache\": \"");
    admin_out_json(po->o, cache);
    weir_sbuf_append_cstr(po->o, "\", \"key\": \"");
    admin_out_json(po->o, z ? z : "");
    weir_sbuf_append_cstr(po->o, "\"}");
}

/* POST /purge?key=K | prefix=P | regex=R [&cache=NAME]: 200 with the keys
 * removed (an empty list when none matched), 400 on a bad request. */
int
admin_purge(weir_request_t *r, weir_sbuf_t *o)
{
    static const char *const modes[] = { "key", "prefix", "regex" };
    char        *pattern, cache[128], err[160];
    purge_out_t  po = { o, 0 };
    int          mode, found = 0, rc, has_cache, incomplete = 0;
    long         n;

    pattern = weir_palloc(r->pool, WEIR_CACHE_KEY_MAX);
    if (pattern == NULL) {
        return 500;
    }
    for (mode = 0; mode < 3; mode++) {
        rc = arg_value(r, modes[mode], pattern, WEIR_CACHE_KEY_MAX);
        if (rc < 0) {
            weir_sbuf_printf(o, "{\"error\": \"bad %s argument\"}\n",
                             modes[mode]);
            return 400;
        }
        if (rc == 1) {
            found = 1;
            break;
        }
    }
    has_cache = arg_value(r, "cache", cache, sizeof(cache));
    if (!found || has_cache < 0 || pattern[0] == '\0') {
        weir_sbuf_append_cstr(o, "{\"error\": \"give key=, prefix= or "
                                 "regex= (and optionally cache=)\"}\n");
        return 400;
    }
    weir_sbuf_append_cstr(o, "{\"removed\": [");
    n = weir_cache_purge(has_cache ? cache : NULL, mode, pattern, purged,
                         &po, &incomplete, err, sizeof(err));
    if (n < 0) {
        o->len = 0;
        weir_sbuf_append_cstr(o, "{\"error\": \"");
        admin_out_json(o, err);
        weir_sbuf_append_cstr(o, "\"}\n");
        return has_cache && strstr(err, "no cache") ? 404 : 400;
    }
    weir_sbuf_printf(o, "%s], \"purged\": %ld%s}\n", po.n ? "\n" : "", n,
                     incomplete ? ", \"incomplete\": true" : "");
    return 200;
}
