/*
 * Cached time: updated once per event-loop iteration so that hot paths
 * never call clock_gettime()/strftime() themselves.
 */
#ifndef WEIR_WTIME_H
#define WEIR_WTIME_H

#include <time.h>
#include "core/core.h"

/* Monotonic milliseconds, for timers. */
extern weir_msec_t weir_current_msec;
/* Wall-clock milliseconds since the epoch at the same update: for times
 * shared with other processes and kept across restarts (the cache
 * index). */
extern int64_t     weir_current_wall_msec;
/* Wall-clock seconds. */
extern time_t weir_current_sec;

/* Preformatted strings of the current second (NUL-terminated):
 *   http:     "Sun, 22 Nov 2026 10:30:45 GMT"
 *   log:      "22/Nov/2026:10:30:45 +0000"          ($time_local)
 *   iso8601:  "2026-11-22T10:30:45+00:00"           ($time_iso8601)
 *   errlog:   "2026-11-22T10:30:45.123Z"            (error log; ms precision) */
extern const char *weir_cached_http_time;
extern const char *weir_cached_log_time;
extern const char *weir_cached_iso8601;
extern const char *weir_cached_errlog_time;

void weir_time_update(void);

/* Format t as an HTTP date into buf (at least 30 bytes); returns length. */
size_t weir_time_http(char *buf, time_t t);

/* Parse an HTTP date (IMF-fixdate; RFC 850 and asctime tolerated);
 * returns -1 when invalid. */
time_t weir_time_parse_http(const char *p, size_t len);

#endif /* WEIR_WTIME_H */
