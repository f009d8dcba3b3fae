/*
 * The access log: one line per request in the combined, json or a custom
 * "$variable" format, buffered per worker and written with O_APPEND in
 * whole lines, flushed when the buffer fills and at least every second.
 */
#ifndef WEIR_HTTP_ACCESS_LOG_H
#define WEIR_HTTP_ACCESS_LOG_H

#include "core/log.h"
#include "http/http_conf.h"
#include "http/request.h"

/* Set up for this worker: `file` is the open log (NULL: access_log off).
 * Compiles a custom format. WEIR_OK or WEIR_ERROR (logged). */
int weir_access_log_init(const weir_http_conf_t *conf, weir_log_file_t *file);

void weir_access_log_write(weir_request_t *r);

/* Write out what is buffered (before exit and before reopening). */
void weir_access_log_flush(void);

/* Is `name` (without '$') a known variable? For config validation. */
int weir_access_log_var_known(const char *name, size_t len);

#endif /* WEIR_HTTP_ACCESS_LOG_H */
