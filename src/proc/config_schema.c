#include "weir_config.h"
#include "proc/config-t.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include "core/conf.h"
#include "core/log.h"
#include "http/access_log.h"
#include "core/str.h"
#include "core/units.h"
#include "http/route.h"
#include "event/tls.h"
#include "http/vhost.h"

/*
 * The key rows of weir.ini (STYLE 12): one row per key with its type,
 * offset and limits, the custom setters and dumpers for values the
 * generic engine cannot judge alone, and the dump of a loaded config
 * (weir -T) as a valid INI file.
 */

static int set_workers(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value);
static void dump_workers(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int set_log_level(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static void dump_log_level(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static const char *path_word(const weir_conf_cmd_t *cmd);
static int set_path_or(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static void dump_path_or(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int set_log_format(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static void dump_log_format(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int set_server_tokens(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static void dump_server_tokens(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int set_error_page(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static void dump_error_page(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int framing_header(const char *name);
static int set_header(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value);
static void dump_header(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int set_words(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value);
static int set_uri_path(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static int set_match(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value);
static void dump_match(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int set_return(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value);
static void dump_return(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static int valid_token(const char *s, size_t len);
static int valid_cidr(const char *s);

/* Schema rows (STYLE 12). */
#define ROW(sec, key, type, st, f, min, max) \
    { sec, key, type, offsetof(st, f), min, max, 0, NULL, NULL, NULL, 0 }
#define ENUM(sec, key, st, f, enums) \
    { sec, key, WEIR_CONF_ENUM, offsetof(st, f), 0, 0, 0, enums, NULL, \
      NULL, 0 }
#define CUSTOM(sec, key, st, f, set, dump) \
    { sec, key, WEIR_CONF_CUSTOM, offsetof(st, f), 0, 0, 0, NULL, set, \
      dump, 0 }
#define LIST(sec, key, st, f, nf, set, dump) \
    { sec, key, WEIR_CONF_CUSTOM, offsetof(st, f), 0, 0, WEIR_CONF_MULTI, \
      NULL, set, dump, offsetof(st, nf) }
#define WORDS(sec, key, st, f, nf, flags) \
    { sec, key, WEIR_CONF_CUSTOM, offsetof(st, f), 0, 0, flags, NULL, \
      set_words, weir_conf_dump_words, offsetof(st, nf) }

/* security_headers and the keys that override it (config_security.c),
 * alike in [http], [server] and [route]. */
#define SEC_ROWS(section, st)                                                  \
    CUSTOM(section, "security_headers", st, sec.on, weir_config_set_sec_flag,  \
           weir_config_dump_sec_flag),                                     \
    CUSTOM(section, "strict_transport_security", st, sec.value[WEIR_SEC_HSTS], \
           weir_config_set_sec_header, weir_config_dump_sec_header),       \
    CUSTOM(section, "x_content_type_options", st,                              \
           sec.value[WEIR_SEC_NOSNIFF], weir_config_set_sec_header,        \
           weir_config_dump_sec_header),                                   \
    CUSTOM(section, "x_frame_options", st, sec.value[WEIR_SEC_FRAME],          \
           weir_config_set_sec_header, weir_config_dump_sec_header),       \
    CUSTOM(section, "referrer_policy", st, sec.value[WEIR_SEC_REFERRER],       \
           weir_config_set_sec_header, weir_config_dump_sec_header)

#define NOMAX  WEIR_CONF_NOMAX

#define W_STR   WEIR_CONF_STR
#define W_PATH  WEIR_CONF_PATH
#define W_INT   WEIR_CONF_INT
#define W_SIZE  WEIR_CONF_SIZE
#define W_MSEC  WEIR_CONF_MSEC
#define W_FLAG  WEIR_CONF_FLAG

typedef weir_main_conf_t     main_t;
typedef weir_http_conf_t     http_t;
typedef weir_upstream_conf_t ups_t;
typedef weir_cache_conf_t    cache_t;
typedef weir_server_conf_t   srv_t;
typedef weir_admin_conf_t    admin_t;
typedef weir_limit_conf_t    limit_t;

static const weir_conf_enum_t balance_enums[] = {
    { "round_robin", WEIR_BALANCE_ROUND_ROBIN },
    { "least_conn", WEIR_BALANCE_LEAST_CONN },
    { "hash", WEIR_BALANCE_HASH },
    { "random", WEIR_BALANCE_RANDOM },
    { NULL, 0 }
};

static const weir_conf_enum_t proxy_protocol_enums[] = {
    { "off", 0 }, { "v1", 1 }, { "v2", 2 }, { NULL, 0 }
};

static const weir_conf_enum_t retry_conds[] = {
    { "error", WEIR_RETRY_ERROR }, { "timeout", WEIR_RETRY_TIMEOUT },
    { "http_500", WEIR_RETRY_HTTP_500 }, { "http_502", WEIR_RETRY_HTTP_502 },
    { "http_503", WEIR_RETRY_HTTP_503 }, { "http_504", WEIR_RETRY_HTTP_504 },
    { "http_429", WEIR_RETRY_HTTP_429 }, { NULL, 0 }
};

static const weir_conf_enum_t fail_conds[] = {
    { "error", WEIR_FAIL_ON_ERROR }, { "timeout", WEIR_FAIL_ON_TIMEOUT },
    { "http_500", WEIR_FAIL_ON_HTTP_500 }, { "http_502", WEIR_FAIL_ON_HTTP_502 },
    { "http_503", WEIR_FAIL_ON_HTTP_503 }, { "http_504", WEIR_FAIL_ON_HTTP_504 },
    { "http_5xx", WEIR_FAIL_ON_HTTP_5XX }, { NULL, 0 }
};

static const weir_conf_enum_t tls_protocol_enums[] = {
    { "TLSv1.2", WEIR_TLS_V1_2 }, { "TLSv1.3", WEIR_TLS_V1_3 }, { NULL, 0 }
};

static const weir_conf_enum_t encoded_slash_enums[] = {
    { "reject", WEIR_ENCODED_SLASH_REJECT },
    { "pass", WEIR_ENCODED_SLASH_PASS }, { NULL, 0 }
};

static const weir_conf_enum_t tls_verify_enums[] = {
    { "off", WEIR_TLS_VERIFY_OFF }, { "on", WEIR_TLS_VERIFY_ON },
    { "optional", WEIR_TLS_VERIFY_OPTIONAL },
    { "optional_no_ca", WEIR_TLS_VERIFY_OPTIONAL_NO_CA }, { NULL, 0 }
};

static const weir_conf_enum_t gzip_static_enums[] = {
    { "off", WEIR_GZIP_STATIC_OFF }, { "on", WEIR_GZIP_STATIC_ON },
    { "always", WEIR_GZIP_STATIC_ALWAYS }, { NULL, 0 }
};

/* Repeatable paths of [server] (config_tls.c). */
#define TLSPATHS(key, f, nf) \
    { SEC_SERVER, key, WEIR_CONF_CUSTOM, offsetof(srv_t, f), 0, 0, \
      WEIR_CONF_MULTI, NULL, weir_config_set_paths, weir_conf_dump_words, \
      offsetof(srv_t, nf) }

const weir_conf_cmd_t weir_config_cmds[] = {
    CUSTOM(SEC_MAIN, "workers", main_t, workers, set_workers, dump_workers),
    CUSTOM(SEC_MAIN, "error_log", main_t, error_log, set_path_or,
           dump_path_or),
    CUSTOM(SEC_MAIN, "log_level", main_t, log_level, set_log_level,
           dump_log_level),
    ROW(SEC_MAIN, "pid", W_PATH, main_t, pid, 0, 0),
    ROW(SEC_MAIN, "daemon", W_FLAG, main_t, daemon, 0, 0),
    ROW(SEC_MAIN, "user", W_STR, main_t, user, 0, 0),
    ROW(SEC_MAIN, "group", W_STR, main_t, group, 0, 0),
    ROW(SEC_MAIN, "shm_size", W_SIZE, main_t, shm_size, MB(1), NOMAX),
    ROW(SEC_MAIN, "shutdown_timeout", W_MSEC, main_t, shutdown_timeout,
        0, NOMAX),
    ROW(SEC_MAIN, "worker_cpu_affinity", W_FLAG, main_t,
        worker_cpu_affinity, 0, 0),
    ROW(SEC_MAIN, "worker_rlimit_nofile", W_INT, main_t,
        worker_rlimit_nofile, 0, 1 << 30),
    ROW(SEC_MAIN, "worker_connections", W_INT, main_t, worker_connections,
        1, 1000000),
    ROW(SEC_MAIN, "shed_connections", W_INT, main_t, shed_connections,
        0, 1000000),

    CUSTOM(SEC_HTTP, "access_log", http_t, access_log, set_path_or,
           dump_path_or),
    CUSTOM(SEC_HTTP, "log_format", http_t, log_format, set_log_format,
           dump_log_format),
    ROW(SEC_HTTP, "keepalive_timeout", W_MSEC, http_t, keepalive_timeout,
        0, NOMAX),
    ROW(SEC_HTTP, "keepalive_requests", W_INT, http_t, keepalive_requests,
        1, NOMAX),
    ROW(SEC_HTTP, "client_header_timeout", W_MSEC, http_t,
        client_header_timeout, 1, NOMAX),
    ROW(SEC_HTTP, "client_body_timeout", W_MSEC, http_t,
        client_body_timeout, 1, NOMAX),
    ROW(SEC_HTTP, "send_timeout", W_MSEC, http_t, send_timeout, 1, NOMAX),
    ROW(SEC_HTTP, "client_body_min_rate", W_SIZE, http_t,
        client_body_min_rate, 0, NOMAX),
    ROW(SEC_HTTP, "send_min_rate", W_SIZE, http_t, send_min_rate, 0, NOMAX),
    ROW(SEC_HTTP, "min_rate_window", W_MSEC, http_t, min_rate_window,
        1000, NOMAX),
    ROW(SEC_HTTP, "client_max_body_size", W_SIZE, http_t,
        client_max_body_size, 0, NOMAX),
    ROW(SEC_HTTP, "max_header_size", W_SIZE, http_t, max_header_size,
        KB(1), MB(1)),
    ROW(SEC_HTTP, "client_body_buffer_size", W_SIZE, http_t,
        client_body_buffer_size, KB(1), MB(64)),
    ROW(SEC_HTTP, "lingering_timeout", W_MSEC, http_t, lingering_timeout,
        0, NOMAX),
    CUSTOM(SEC_HTTP, "server_tokens", http_t, server_tokens,
           set_server_tokens, dump_server_tokens),
    SEC_ROWS(SEC_HTTP, http_t),
    LIST(SEC_HTTP, "error_page", http_t, error_pages, nerror_pages,
         set_error_page, dump_error_page),
    ROW(SEC_HTTP, "mime_types", W_PATH, http_t, mime_types, 0, 0),
    WORDS(SEC_HTTP, "limit", http_t, limit_names, nlimit_names, 0),

    LIST(SEC_UPSTREAM, "server", ups_t, peers, npeers, weir_config_set_peer,
         weir_config_dump_peer),
    ENUM(SEC_UPSTREAM, "balance", ups_t, balance, balance_enums),
    ROW(SEC_UPSTREAM, "hash_key", W_STR, ups_t, hash_key, 0, 0),
    ROW(SEC_UPSTREAM, "keepalive", W_INT, ups_t, keepalive, 0, 100000),
    ROW(SEC_UPSTREAM, "keepalive_timeout", W_MSEC, ups_t, keepalive_timeout,
        1, NOMAX),
    ROW(SEC_UPSTREAM, "keepalive_requests", W_INT, ups_t,
        keepalive_requests, 1, NOMAX),
    ROW(SEC_UPSTREAM, "connect_timeout", W_MSEC, ups_t, connect_timeout,
        1, NOMAX),
    ROW(SEC_UPSTREAM, "send_timeout", W_MSEC, ups_t, send_timeout, 1, NOMAX),
    ROW(SEC_UPSTREAM, "read_timeout", W_MSEC, ups_t, read_timeout, 1, NOMAX),
    ROW(SEC_UPSTREAM, "retries", W_INT, ups_t, retries, 0, 100),
    { SEC_UPSTREAM, "retry_on", WEIR_CONF_BITS, offsetof(ups_t, retry_on),
      0, 0, 0, retry_conds, NULL, NULL, 0 },
    ROW(SEC_UPSTREAM, "retry_non_idempotent", W_FLAG, ups_t,
        retry_non_idempotent, 0, 0),
    ROW(SEC_UPSTREAM, "retry_budget", W_INT, ups_t, retry_budget, 0, 100),
    ROW(SEC_UPSTREAM, "retry_budget_min", W_INT, ups_t, retry_budget_min,
        0, 100000),
    ROW(SEC_UPSTREAM, "retry_backoff", W_MSEC, ups_t, retry_backoff, 0,
        SEC(10)),
    ROW(SEC_UPSTREAM, "proxy_timeout", W_MSEC, ups_t, proxy_timeout, 0,
        NOMAX),
    ROW(SEC_UPSTREAM, "max_fails", W_INT, ups_t, max_fails, 0, 1000),
    ROW(SEC_UPSTREAM, "fail_timeout", W_MSEC, ups_t, fail_timeout, 1, NOMAX),
    { SEC_UPSTREAM, "fail_on", WEIR_CONF_BITS, offsetof(ups_t, fail_on),
      0, 0, 0, fail_conds, NULL, NULL, 0 },
    ROW(SEC_UPSTREAM, "max_cooldown", W_MSEC, ups_t, max_cooldown, 1,
        NOMAX),
    ROW(SEC_UPSTREAM, "queue", W_INT, ups_t, queue, 0, 1000000),
    ROW(SEC_UPSTREAM, "queue_timeout", W_MSEC, ups_t, queue_timeout, 1,
        NOMAX),
    CUSTOM(SEC_UPSTREAM, "health_check", ups_t, health_check, set_uri_path,
           weir_conf_dump_str),
    ROW(SEC_UPSTREAM, "health_interval", W_MSEC, ups_t, health_interval,
        MS(100), NOMAX),
    ROW(SEC_UPSTREAM, "health_timeout", W_MSEC, ups_t, health_timeout,
        1, NOMAX),
    CUSTOM(SEC_UPSTREAM, "health_expect", ups_t, health_expect,
           weir_config_set_health_expect, weir_conf_dump_str),
    ROW(SEC_UPSTREAM, "health_host", W_STR, ups_t, health_host, 0, 0),
    ROW(SEC_UPSTREAM, "health_fall", W_INT, ups_t, health_fall, 1, 100),
    ROW(SEC_UPSTREAM, "health_rise", W_INT, ups_t, health_rise, 1, 100),
    ROW(SEC_UPSTREAM, "slow_start", W_MSEC, ups_t, slow_start, 0, NOMAX),
    ROW(SEC_UPSTREAM, "resolve", W_MSEC, ups_t, resolve, 0, NOMAX),
    ROW(SEC_UPSTREAM, "panic_threshold", W_INT, ups_t, panic_threshold,
        0, 100),
    ENUM(SEC_UPSTREAM, "proxy_protocol", ups_t, proxy_protocol,
         proxy_protocol_enums),
    ROW(SEC_UPSTREAM, "tls", W_FLAG, ups_t, tls, 0, 0),
    ROW(SEC_UPSTREAM, "tls_verify", W_FLAG, ups_t, tls_verify, 0, 0),
    ROW(SEC_UPSTREAM, "tls_ca", W_PATH, ups_t, tls_ca, 0, 0),
    ROW(SEC_UPSTREAM, "tls_name", W_STR, ups_t, tls_name, 0, 0),
    ROW(SEC_UPSTREAM, "tls_certificate", W_PATH, ups_t, tls_certificate, 0,
        0),
    ROW(SEC_UPSTREAM, "tls_certificate_key", W_PATH, ups_t,
        tls_certificate_key, 0, 0),
    ROW(SEC_UPSTREAM, "tls_ciphers", W_STR, ups_t, tls_ciphers, 0, 0),
    ROW(SEC_UPSTREAM, "tls_session_reuse", W_FLAG, ups_t,
        tls_session_reuse, 0, 0),

    ROW(SEC_CACHE, "path", W_PATH, cache_t, path, 0, 0),
    CUSTOM(SEC_CACHE, "levels", cache_t, levels, weir_config_set_levels,
           weir_config_dump_levels),
    ROW(SEC_CACHE, "max_size", W_SIZE, cache_t, max_size, MB(1), NOMAX),
    ROW(SEC_CACHE, "inactive", W_MSEC, cache_t, inactive, SEC(1), NOMAX),
    ROW(SEC_CACHE, "key", W_STR, cache_t, key, 0, 0),
    ROW(SEC_CACHE, "stale_if_error", W_MSEC, cache_t, stale_if_error,
        0, NOMAX),
    ROW(SEC_CACHE, "stale_while_revalidate", W_MSEC, cache_t,
        stale_while_revalidate, 0, NOMAX),
    ROW(SEC_CACHE, "lock_timeout", W_MSEC, cache_t, lock_timeout, 0, NOMAX),
    ROW(SEC_CACHE, "max_object_size", W_SIZE, cache_t, max_object_size,
        0, NOMAX),
    ROW(SEC_CACHE, "max_objects", W_INT, cache_t, max_objects, 64, 16777216),
    ROW(SEC_CACHE, "min_uses", W_INT, cache_t, min_uses, 1, 1000000),
    ROW(SEC_CACHE, "fill_after_abort", W_SIZE, cache_t, fill_after_abort,
        0, NOMAX),
    ROW(SEC_CACHE, "open_files", W_INT, cache_t, open_files, 0, 65536),
    ROW(SEC_CACHE, "open_files_inactive", W_MSEC, cache_t,
        open_files_inactive, SEC(1), NOMAX),
    { SEC_CACHE, "valid", WEIR_CONF_CUSTOM, offsetof(cache_t, rules), 0, 0,
      WEIR_CONF_MULTI, NULL, weir_config_set_valid, weir_config_dump_valid,
      0 },

    LIST(SEC_SERVER, "listen", srv_t, listens, nlistens, weir_config_set_listen,
         weir_config_dump_listen),
    LIST(SEC_SERVER, "server_name", srv_t, server_names, nserver_names,
         weir_config_set_server_name, weir_config_dump_server_name),
    TLSPATHS("tls_certificate", tls_certificate, ntls_certificate),
    TLSPATHS("tls_certificate_key", tls_certificate_key,
             ntls_certificate_key),
    TLSPATHS("tls_stapling_file", tls_stapling_file, ntls_stapling_file),
    { SEC_SERVER, "tls_protocols", WEIR_CONF_BITS,
      offsetof(srv_t, tls_protocols), 0, 0, 0, tls_protocol_enums, NULL,
      NULL, 0 },
    ROW(SEC_SERVER, "tls_ciphers", W_STR, srv_t, tls_ciphers, 0, 0),
    ROW(SEC_SERVER, "tls_client_ca", W_PATH, srv_t, tls_client_ca, 0, 0),
    ENUM(SEC_SERVER, "tls_verify_client", srv_t, tls_verify_client,
         tls_verify_enums),
    ROW(SEC_SERVER, "tls_session_tickets", W_FLAG, srv_t,
        tls_session_tickets, 0, 0),
    ROW(SEC_SERVER, "tls_session_cache", W_INT, srv_t, tls_session_cache,
        0, 10000000),
    ROW(SEC_SERVER, "tls_session_timeout", W_MSEC, srv_t,
        tls_session_timeout, SEC(1), SEC(86400 * 7)),
    SEC_ROWS(SEC_SERVER, srv_t),
    WORDS(SEC_SERVER, "limit", srv_t, limit_names, nlimit_names, 0),

    ROW(SEC_ROUTE, "server", W_STR, route_ext_t, server_name, 0, 0),
    CUSTOM(SEC_ROUTE, "match", route_ext_t, match_text, set_match,
           dump_match),
    ROW(SEC_ROUTE, "root", W_PATH, weir_route_conf_t, root, 0, 0),
    WORDS(SEC_ROUTE, "index", weir_route_conf_t, index, nindex, 0),
    WORDS(SEC_ROUTE, "allow", weir_route_conf_t, allow, nallow,
          WEIR_CONF_MULTI),
    WORDS(SEC_ROUTE, "deny", weir_route_conf_t, deny, ndeny,
          WEIR_CONF_MULTI),
    CUSTOM(SEC_ROUTE, "return", weir_route_conf_t, return_code, set_return,
           dump_return),
    ROW(SEC_ROUTE, "upstream", W_STR, weir_route_conf_t, upstream_name,
        0, 0),
    ROW(SEC_ROUTE, "cache", W_STR, weir_route_conf_t, cache_name, 0, 0),
    ROW(SEC_ROUTE, "cache_bypass", W_STR, weir_route_conf_t, cache_bypass,
        0, 0),
    ROW(SEC_ROUTE, "no_cache", W_STR, weir_route_conf_t, no_cache, 0, 0),
    ROW(SEC_ROUTE, "host_header", W_STR, weir_route_conf_t, host_header,
        0, 0),
    LIST(SEC_ROUTE, "add_header", weir_route_conf_t, add_headers,
         nadd_headers, set_header, dump_header),
    LIST(SEC_ROUTE, "set_header", weir_route_conf_t, set_headers,
         nset_headers, set_header, dump_header),
    LIST(SEC_ROUTE, "remove_header", weir_route_conf_t, remove_headers,
         nremove_headers, set_header, dump_header),
    LIST(SEC_ROUTE, "error_page", weir_route_conf_t, error_pages,
         nerror_pages, set_error_page, dump_error_page),
    { SEC_ROUTE, "client_max_body_size", W_SIZE,
      offsetof(weir_route_conf_t, client_max_body_size), 0, NOMAX, 0, NULL,
      NULL, NULL, 0 },
    SEC_ROWS(SEC_ROUTE, weir_route_conf_t),
    ENUM(SEC_ROUTE, "encoded_slash", weir_route_conf_t, encoded_slash,
         encoded_slash_enums),
    ROW(SEC_ROUTE, "gzip", W_FLAG, weir_route_conf_t, gzip, 0, 0),
    WORDS(SEC_ROUTE, "gzip_types", weir_route_conf_t, gzip_types,
          ngzip_types, WEIR_CONF_MULTI),
    ROW(SEC_ROUTE, "gzip_min_length", W_SIZE, weir_route_conf_t,
        gzip_min_length, 0, NOMAX),
    ROW(SEC_ROUTE, "gzip_level", W_INT, weir_route_conf_t, gzip_level, 1, 9),
    ENUM(SEC_ROUTE, "gzip_static", weir_route_conf_t, gzip_static,
         gzip_static_enums),
    WORDS(SEC_ROUTE, "limit", weir_route_conf_t, limit_names, nlimit_names,
          0),

    ROW(SEC_LIMIT, "key", W_STR, limit_t, key, 0, 0),
    CUSTOM(SEC_LIMIT, "rate", limit_t, rate, weir_config_set_rate,
           weir_config_dump_rate),
    ROW(SEC_LIMIT, "burst", W_INT, limit_t, burst, 0, 1000000),
    ROW(SEC_LIMIT, "delay", W_INT, limit_t, delay, 0, 1000000),
    ROW(SEC_LIMIT, "nodelay", W_FLAG, limit_t, nodelay, 0, 0),
    ROW(SEC_LIMIT, "conn", W_INT, limit_t, conn, 0, 1000000),
    WORDS(SEC_LIMIT, "exempt", limit_t, exempt, nexempt, WEIR_CONF_MULTI),
    ROW(SEC_LIMIT, "size", W_INT, limit_t, size, 16, 16777216),
    ROW(SEC_LIMIT, "status", W_INT, limit_t, status, 400, 599),
    ROW(SEC_LIMIT, "dry_run", W_FLAG, limit_t, dry_run, 0, 0),

    LIST(SEC_ADMIN, "listen", admin_t, listens, nlistens, weir_config_set_listen,
         weir_config_dump_listen),
    WORDS(SEC_ADMIN, "allow", admin_t, allow, nallow, WEIR_CONF_MULTI),
};

const size_t weir_config_ncmds = weir_nelems(weir_config_cmds);


/* ---- custom setters and dumpers ---------------------------------------- */

/* RFC 9110 token: the characters a header name may hold. */
static int
valid_token(const char *s, size_t len)
{
    size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!isalnum((unsigned char) s[i])
            && strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
        {
            return 0;
        }
    }
    return 1;
}

static int
valid_cidr(const char *s)
{
    char            ip[INET6_ADDRSTRLEN];
    unsigned char   bin[16];
    const char     *slash = strchr(s, '/');
    size_t          len = slash ? (size_t) (slash - s) : strlen(s);
    int64_t         bits = -1;
    int             v6;

    if (len == 0 || len >= sizeof(ip)) {
        return 0;
    }
    memcpy(ip, s, len);
    ip[len] = '\0';
    v6 = strchr(ip, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, bin) != 1) {
        return 0;
    }
    if (slash && weir_str_atoi64(slash + 1, strlen(slash + 1), &bits)
                 != WEIR_OK)
    {
        return 0;
    }
    return bits <= (v6 ? 128 : 32);
}

static int
set_workers(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    int64_t n;

    if (strcmp(value, "auto") == 0) {
        *FIELD(obj, cmd->offset, int64_t) = 0;
        return WEIR_OK;
    }
    if (weir_str_atoi64(value, strlen(value), &n) != WEIR_OK || n < 1
        || n > 1024)
    {
        weir_conf_error(c, "invalid value \"%s\", expected auto or a number "
                        "1..1024", value);
        return WEIR_ERROR;
    }
    *FIELD(obj, cmd->offset, int64_t) = n;
    return WEIR_OK;
}

static void
dump_workers(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    fprintf(out, "%s = %lld\n", cmd->key,
            (long long) *CFIELD(obj, cmd->offset, int64_t));
}

static int
set_log_level(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    int level = weir_log_level_parse(value);

    if (level < 0) {
        weir_conf_error(c, "invalid level \"%s\", expected debug | info | "
                        "notice | warn | error | crit | alert | emerg",
                        value);
        return WEIR_ERROR;
    }
    *FIELD(obj, cmd->offset, int) = level;
    return WEIR_OK;
}

static void
dump_log_level(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    fprintf(out, "%s = %s\n", cmd->key,
            weir_log_level_name(*CFIELD(obj, cmd->offset, int)));
}

/* error_log = path | stderr, access_log = path | off */
static const char *
path_word(const weir_conf_cmd_t *cmd)
{
    return strcmp(cmd->key, "error_log") == 0 ? "stderr" : "off";
}

static int
set_path_or(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    char **field = FIELD(obj, cmd->offset, char *);

    if (strcmp(value, path_word(cmd)) == 0) {
        *field = NULL;
        return WEIR_OK;
    }
    *field = weir_conf_path(c, value);
    return *field ? WEIR_OK : WEIR_ERROR;
}

static void
dump_path_or(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const char *v = *CFIELD(obj, cmd->offset, char *);

    fprintf(out, "%s = %s\n", cmd->key, v ? v : path_word(cmd));
}

static int
set_log_format(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_http_conf_t  *h = obj;
    const char        *p, *name;
    size_t             len;
    int                rc = WEIR_OK;

    (void) cmd;
    if (strcmp(value, "combined") == 0 || strcmp(value, "json") == 0) {
        h->log_format = value[0] == 'c' ? WEIR_LOG_FORMAT_COMBINED
                                        : WEIR_LOG_FORMAT_JSON;
        h->log_format_string = NULL;
        return WEIR_OK;
    }
    for (p = strchr(value, '$'); p; p = strchr(p, '$')) {
        name = ++p;
        while (isalnum((unsigned char) *p) || *p == '_') {
            p++;
        }
        len = (size_t) (p - name);
        if (len == 0) {
            weir_conf_error(c, "'$' without a variable name in \"%s\"",
                            value);
            rc = WEIR_ERROR;
        } else if (!weir_access_log_var_known(name, len)) {
            weir_conf_error(c, "unknown variable \"$%.*s\"", (int) len,
                            name);
            rc = WEIR_ERROR;
        }
    }
    h->log_format = WEIR_LOG_FORMAT_CUSTOM;
    h->log_format_string = value;
    return rc;
}

static void
dump_log_format(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_http_conf_t *h = obj;

    fprintf(out, "%s = %s\n", cmd->key,
            h->log_format == WEIR_LOG_FORMAT_CUSTOM ? h->log_format_string
            : h->log_format == WEIR_LOG_FORMAT_JSON ? "json" : "combined");
}

static int
set_server_tokens(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    (void) c;
    /* "version" names the release as well, which tells an attacker which
     * known bugs to try: it is a choice, never the default. */
    *FIELD(obj, cmd->offset, char *) = strcmp(value, "off") == 0 ? NULL
        : strcmp(value, "on") == 0 ? "weir"
        : strcmp(value, "version") == 0 ? "weir/" WEIR_VERSION : value;
    return WEIR_OK;
}

static void
dump_server_tokens(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const char *v = *CFIELD(obj, cmd->offset, char *);

    fprintf(out, "%s = %s\n", cmd->key, v ? v : "off");
}

/* error_page = 502 503 504 /errors/50x.html */
static int
set_error_page(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_error_page_t **arr = FIELD(obj, cmd->offset, weir_error_page_t *);
    size_t             *n = FIELD(obj, cmd->offset2, size_t);
    char               *words[64], *w, *p = value;
    size_t              nw = 0, i;
    int64_t             code;

    while ((w = weir_conf_next_word(&p)) != NULL && nw < weir_nelems(words)) {
        words[nw++] = w;
    }
    if (nw < 2 || words[nw - 1][0] != '/') {
        weir_conf_error(c, "expected \"CODE... /path\", e.g. error_page = "
                        "502 503 /errors/50x.html");
        return WEIR_ERROR;
    }
    for (i = 0; i + 1 < nw; i++) {
        if (weir_str_atoi64(words[i], strlen(words[i]), &code) != WEIR_OK
            || code < 300 || code > 599)
        {
            weir_conf_error(c, "invalid status \"%s\" (expected 300..599)",
                            words[i]);
            return WEIR_ERROR;
        }
    }
    for (i = 0; i + 1 < nw; i++) {
        weir_error_page_t *a = weir_conf_grow(c, *arr, *n, sizeof(**arr));
        if (a == NULL) {
            return WEIR_ERROR;
        }
        *arr = a;
        a[*n].status = atoi(words[i]);
        a[*n].path = words[nw - 1];
        (*n)++;
    }
    return WEIR_OK;
}

static void
dump_error_page(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_error_page_t *a = *CFIELD(obj, cmd->offset,
                                         weir_error_page_t *);
    size_t                   i, n = *CFIELD(obj, cmd->offset2, size_t);

    for (i = 0; i < n; i++) {
        fprintf(out, "%s = %d %s\n", cmd->key, a[i].status, a[i].path);
    }
}

static int
framing_header(const char *name)
{
    static const char *const framing[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive",
        "te", "trailer", "upgrade", "proxy-connection", "expect"
    };
    size_t i;

    for (i = 0; i < weir_nelems(framing); i++) {
        if (strcasecmp(name, framing[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* add_header / set_header = Name: value; remove_header = Name */
static int
set_header(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_header_edit_t **arr = FIELD(obj, cmd->offset, weir_header_edit_t *);
    size_t              *n = FIELD(obj, cmd->offset2, size_t);
    weir_header_edit_t  *a;
    char                *colon = NULL, *v = NULL, *end;
    int                  remove = strcmp(cmd->key, "remove_header") == 0;

    if (!remove) {
        colon = strchr(value, ':');
        if (colon == NULL) {
            weir_conf_error(c, "expected \"Name: value\", got \"%s\"", value);
            return WEIR_ERROR;
        }
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) { /* void */ }
        if (*v == '\0') {
            weir_conf_error(c, "empty value for header \"%s\"", value);
            return WEIR_ERROR;
        }
    }
    end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t')) {
        *--end = '\0';
    }
    if (!valid_token(value, strlen(value))) {
        weir_conf_error(c, "invalid header name \"%s\"", value);
        return WEIR_ERROR;
    }
    if (!remove && framing_header(value)) {
        /* A second Content-Length or Transfer-Encoding is exactly the
         * ambiguity the proxy exists to keep away. */
        weir_conf_error(c, "\"%s\" frames the message: weir writes it "
                        "itself and it cannot be set", value);
        return WEIR_ERROR;
    }
    a = weir_conf_grow(c, *arr, *n, sizeof(*a));
    if (a == NULL) {
        return WEIR_ERROR;
    }
    *arr = a;
    a[*n].name = value;
    a[*n].value = v;
    (*n)++;
    return WEIR_OK;
}

static void
dump_header(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_header_edit_t *a = *CFIELD(obj, cmd->offset,
                                          weir_header_edit_t *);
    size_t                    i, n = *CFIELD(obj, cmd->offset2, size_t);

    for (i = 0; i < n; i++) {
        if (a[i].value) {
            fprintf(out, "%s = %s: %s\n", cmd->key, a[i].name, a[i].value);
        } else {
            fprintf(out, "%s = %s\n", cmd->key, a[i].name);
        }
    }
}

/* index, allow, deny: the engine's word list, each word checked. */
static int
set_words(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    size_t *n = FIELD(obj, cmd->offset2, size_t), first = *n, i;
    char  **w;

    if (weir_conf_set_words(c, cmd, obj, value) != WEIR_OK) {
        return WEIR_ERROR;
    }
    w = *FIELD(obj, cmd->offset, char **);
    for (i = first; i < *n; i++) {
        if ((strcmp(cmd->key, "allow") == 0 || strcmp(cmd->key, "deny") == 0
             || strcmp(cmd->key, "exempt") == 0) && !valid_cidr(w[i])) {
            weir_conf_error(c, "invalid address \"%s\" (expected an IP or "
                            "CIDR such as 10.0.0.0/8)", w[i]);
        } else if (strcmp(cmd->key, "index") == 0 && strchr(w[i], '/')) {
            weir_conf_error(c, "\"%s\": an index file name has no '/'",
                            w[i]);
        } else {
            continue;
        }
        *n = first;
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

static int
set_uri_path(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    if (value[0] != '/') {
        weir_conf_error(c, "\"%s\" must be a path starting with '/'", value);
        return WEIR_ERROR;
    }
    *FIELD(obj, cmd->offset, char *) = value;
    return WEIR_OK;
}

static int
set_match(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    route_ext_t *x = obj;
    char         err[256];

    (void) cmd;
    if (weir_route_match_parse(&x->r, value, err, sizeof(err)) != WEIR_OK) {
        weir_conf_error(c, "%s", err);
        return WEIR_ERROR;
    }
    x->match_text = value;
    return WEIR_OK;
}

static void
dump_match(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    weir_conf_dump_str(cmd, obj, out);
}

/* return = CODE [URL | text] */
static int
set_return(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_route_conf_t *r = obj;
    char              *p = value, *code = weir_conf_next_word(&p);
    int64_t            n;
    int                redirect;

    (void) cmd;
    if (weir_str_atoi64(code, strlen(code), &n) != WEIR_OK || n < 200
        || n > 599)
    {
        weir_conf_error(c, "invalid status \"%s\" (expected 200..599)", code);
        return WEIR_ERROR;
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    redirect = n == 301 || n == 302 || n == 303 || n == 307 || n == 308;
    if (redirect && p[0] != '/' && p[0] != '$'
        && strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)
    {
        weir_conf_error(c, "return %d needs a URL (\"/path\" or "
                        "\"https://...\")", (int) n);
        return WEIR_ERROR;
    }
    r->return_code = (int) n;
    r->return_text = *p ? p : NULL;
    return WEIR_OK;
}

static void
dump_return(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_route_conf_t *r = obj;

    if (r->return_code == 0) {
        fprintf(out, "; %s is not set\n", cmd->key);
    } else {
        fprintf(out, "%s = %d%s%s\n", cmd->key, r->return_code,
                r->return_text ? " " : "",
                r->return_text ? r->return_text : "");
    }
}

/* The default goes through the row, like a written value, so it is
 * validated and dumped the same way. */
void
weir_config_admin_listen_default(weir_conf_t *c, weir_admin_conf_t *a)
{
    const weir_conf_cmd_t *cmds = weir_config_cmds;
    size_t                 i;

    for (i = 0; i < weir_config_ncmds; i++) {
        if (cmds[i].section == SEC_ADMIN
            && strcmp(cmds[i].key, "listen") == 0)
        {
            char def[] = "127.0.0.1:9145";
            (void) weir_config_set_listen(c, &cmds[i], a, def);
        }
    }
}

/* ---- dump ------------------------------------------------------------- */

void
weir_config_dump(const weir_config_t *cf, FILE *out)
{
    const weir_conf_cmd_t *cmds = weir_config_cmds;
    size_t                 i, n = weir_config_ncmds;

    fprintf(out, "; weir %s: effective configuration of %s\n\n[main]\n",
            WEIR_VERSION, cf->file);
    weir_conf_dump(cmds, n, SEC_MAIN, &cf->main, out);
    fputs("\n[http]\n", out);
    weir_conf_dump(cmds, n, SEC_HTTP, &cf->http, out);
    for (i = 0; i < cf->nupstreams; i++) {
        fprintf(out, "\n[upstream %s]\n", cf->upstreams[i]->name);
        weir_conf_dump(cmds, n, SEC_UPSTREAM, cf->upstreams[i], out);
    }
    for (i = 0; i < cf->ncaches; i++) {
        fprintf(out, "\n[cache %s]\n", cf->caches[i]->name);
        weir_conf_dump(cmds, n, SEC_CACHE, cf->caches[i], out);
    }
    for (i = 0; i < cf->http.nservers; i++) {
        fprintf(out, "\n[server %s]\n", cf->http.servers[i]->name);
        weir_conf_dump(cmds, n, SEC_SERVER, cf->http.servers[i], out);
    }
    for (i = 0; i < cf->http.nroutes; i++) {
        fprintf(out, "\n[route %s]\n", cf->http.routes[i]->name);
        weir_conf_dump(cmds, n, SEC_ROUTE, cf->http.routes[i], out);
    }
    for (i = 0; i < cf->http.nlimits; i++) {
        fprintf(out, "\n[limit %s]\n", cf->http.limits[i]->name);
        weir_conf_dump(cmds, n, SEC_LIMIT, cf->http.limits[i], out);
    }
    if (cf->has_admin) {
        fputs("\n[admin]\n", out);
        weir_conf_dump(cmds, n, SEC_ADMIN, &cf->admin, out);
    }
}
