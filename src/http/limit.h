/*
 * [limit] on the request path: a route's `limit = NAME...` (or the
 * one it inherits from its server or [http]; a request no route matches
 * gets its server's) checked once the route is known and before the
 * body is read (nginx's preaccess phase), with the state every worker
 * shares (http/limit_table.h).
 *
 * - Rate first: a request over `burst` is refused with the limit's
 *   status (429) and a Retry-After saying, in whole seconds rounded up,
 *   when a request of that key would pass; one within the burst is
 *   delayed by a timer (never by blocking the loop) unless `nodelay`.
 * - Then requests in progress (`conn`): counted from the end of the
 *   delay to the end of the request, released by the request arena's
 *   cleanup on every path (answer, error, abort, close); a worker's
 *   death releases its counts through the master
 *   (weir_http_limit_proc_gone()).
 * - An exempt client address, or a key that evaluates empty, is not
 *   limited.
 * - A request the table cannot account (every entry near the LRU end
 *   holds requests in progress) gets 503 with Retry-After: 1.
 * - Several limits: each is checked; any refusal refuses, the longest
 *   delay is the one waited.
 * - `dry_run`: counted and logged as usual, nothing delayed or refused.
 */
#ifndef WEIR_HTTP_LIMIT_H
#define WEIR_HTTP_LIMIT_H

#include <stddef.h>
#include "core/shm.h"
#include "http/http_conf.h"
#include "http/request.h"

/* Apply r->route's limits, then go on with weir_http_start_body(r), or
 * answer the request, or delay it and go on later. Like
 * weir_http_start_body(), the last thing its caller does. */
void weir_http_limit_run(weir_request_t *r);

/* Admission (a worker near its connection or descriptor limit sheds new
 * work before it falls over): the first request of a client connection
 * that arrives while the worker holds weir_http.shed_at connections or
 * more is answered 503 with Retry-After: 1 and Connection: close.
 * Requests on connections that already had one go on (what the worker
 * holds is served), and so does the admin listener, so /metrics still
 * answers. WEIR_OK: go on; WEIR_DONE: answered (return at once). */
int weir_http_admission(weir_request_t *r);

/* Master: find or create the table of every [limit] in conf (sets each
 * limit's `table`). WEIR_ERROR with a message in err when the segment
 * has no room. */
int weir_http_limit_attach(weir_shm_t *shm, weir_http_conf_t *conf,
    char *err, size_t errlen);

/* Master: process index proc died; give back the requests in progress it
 * held in every table attached so far (also those of an older
 * configuration). */
void weir_http_limit_proc_gone(int proc);

#endif /* WEIR_HTTP_LIMIT_H */
