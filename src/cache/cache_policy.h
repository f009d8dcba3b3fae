/*
 * HTTP caching rules for a shared cache (RFC 9111, RFC 5861): what may be
 * stored, for how long it is fresh, how old it is, and whether a stored
 * response may answer a given request. Pure functions over header lists:
 * no I/O, no clock (the caller passes times), so every rule is unit tested.
 *
 * Times are seconds since the epoch (int64_t); durations are seconds.
 */
#ifndef WEIR_CACHE_POLICY_H
#define WEIR_CACHE_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include "http/parse.h"

#define WEIR_CACHE_ABSENT   ((int64_t) -1)
/* delta-seconds past this are taken as this (RFC 9111 1.2.2) */
#define WEIR_CACHE_DELTA_MAX ((int64_t) 2147483648)

/* Cache-Control (request or response), merged over every field line.
 * A directive given twice with different values, or with an invalid
 * value, makes the seconds field WEIR_CACHE_INVALID: the response is then
 * treated as stale (RFC 9111 4.2.1, 5.2). */
#define WEIR_CACHE_INVALID  ((int64_t) -2)

typedef struct weir_cache_cc_s {
    unsigned no_store:1;
    unsigned no_cache:1;         /* bare no-cache, or no-cache="fields" */
    unsigned private_:1;         /* bare private, or private="fields" */
    unsigned public_:1;
    unsigned must_revalidate:1;
    unsigned proxy_revalidate:1;
    unsigned must_understand:1;
    unsigned no_transform:1;
    unsigned only_if_cached:1;
    unsigned immutable:1;
    int64_t  max_age;            /* WEIR_CACHE_ABSENT / _INVALID / secs */
    int64_t  s_maxage;
    int64_t  max_stale;          /* request; bare max-stale: _DELTA_MAX */
    int64_t  min_fresh;          /* request */
    int64_t  stale_while_revalidate;   /* RFC 5861 */
    int64_t  stale_if_error;
} weir_cache_cc_t;

/* Parse every Cache-Control line among hs[0..n). Unknown directives are
 * ignored; directive names are case-insensitive; values may be quoted.
 * "Pragma: no-cache" counts as no-cache when no Cache-Control line is
 * present (RFC 9111 5.4). */
void weir_cache_cc_parse(const weir_http_header_t *hs, size_t n,
    weir_cache_cc_t *cc);

/* An HTTP-date (IMF-fixdate, RFC 850, asctime) to seconds, or
 * WEIR_CACHE_ABSENT when invalid. */
int64_t weir_cache_parse_date(const char *s, size_t len);

/* The configuration defaults the rules need (from [cache NAME]). */
typedef struct weir_cache_rules_s {
    /* `valid`: freshness in seconds for a status without explicit
     * freshness information; valid[0] is "any", -1 where unset. Indexed
     * by status - 100 + 1 for 100..599. */
    int64_t  valid[501];
    int64_t  stale_if_error;          /* default window, 0: none */
    int64_t  stale_while_revalidate;  /* default window, 0: none */
} weir_cache_rules_t;

/* What decides the use of a stored response; stored with it (the cache
 * file's header carries these fields). */
typedef struct weir_cache_meta_s {
    int64_t  request_time;      /* when the request that got it was sent */
    int64_t  response_time;     /* when its head arrived */
    int64_t  date;              /* its Date, else response_time */
    int64_t  age_value;         /* its Age header, 0 when absent */
    int64_t  last_modified;     /* WEIR_CACHE_ABSENT when none */
    int64_t  fresh_for;         /* freshness lifetime; 0: stale at once */
    int64_t  stale_while_revalidate;  /* window; 0: none */
    int64_t  stale_if_error;          /* window; 0: none */
    unsigned no_stale:1;        /* must-revalidate, proxy-revalidate or
                                   s-maxage: never served stale */
    unsigned no_cache:1;        /* response no-cache: validate every use */
    unsigned heuristic:1;       /* fresh_for came from Last-Modified */
} weir_cache_meta_t;

/* Why a response is not stored: NULL means storable. The reasons are
 * short tokens for Cache-Status "detail" and the logs. */
typedef struct weir_cache_verdict_s {
    const char *not_stored;     /* "no-store", "private", "authorization",
                                   "set-cookie", "vary-star", "status",
                                   "method", "no-freshness", ... */
} weir_cache_verdict_t;

/* May this response be stored by a shared cache? Fills meta either way.
 * method is an enum weir_http_method; req/resp are the request's and the
 * response's header lists. Set-Cookie: never stored (a shared cache
 * would hand one user's cookie to the next). Responses to requests with
 * Authorization only with public, s-maxage or must-revalidate. Status
 * codes cacheable by default (RFC 9110 15.1) are stored with explicit,
 * `valid` or heuristic freshness; others only with explicit freshness.
 * Freshness: s-maxage > max-age > Expires - Date > rules->valid[status]
 * > 10% of (Date - Last-Modified), capped at one day, for statuses
 * cacheable by default. 206 and 304 are never stored (the cache stores
 * whole representations). */
void weir_cache_storable(const weir_cache_rules_t *rules, int method,
    int status, const weir_http_header_t *req, size_t nreq,
    const weir_http_header_t *resp, size_t nresp, int64_t request_time,
    int64_t response_time, weir_cache_meta_t *meta,
    weir_cache_verdict_t *v);

/* Current age (RFC 9111 4.2.3) at `now`. */
int64_t weir_cache_age(const weir_cache_meta_t *m, int64_t now);

/* What a stored response can do for a request whose Cache-Control is
 * req_cc: no-cache, max-age (its age above it), min-fresh and
 * max-stale are honoured; the response's no-cache and no_stale too. */
enum weir_cache_use {
    WEIR_CACHE_USE_FRESH = 0,   /* serve it */
    WEIR_CACHE_USE_STALE_SWR,   /* serve it stale, refresh in background */
    WEIR_CACHE_USE_VALIDATE     /* ask the origin (conditionally) first */
};
int weir_cache_use(const weir_cache_meta_t *m, const weir_cache_cc_t *req_cc,
    int64_t now);

/* May the stored response be served stale because the origin failed
 * (connect error, timeout, 500/502/503/504, no peer)? 1 or 0. */
int weir_cache_stale_on_error(const weir_cache_meta_t *m,
    const weir_cache_cc_t *req_cc, int64_t now);

/* Seconds of freshness left at `now` (negative when stale): the "ttl"
 * parameter of Cache-Status. */
int64_t weir_cache_ttl(const weir_cache_meta_t *m, int64_t now);

#endif /* WEIR_CACHE_POLICY_H */
