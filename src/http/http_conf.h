/*
 * The configuration model of the HTTP side: [http], [server], [route].
 * Filled by the config loader (src/proc/config.c), immutable afterwards.
 * Strings are NUL-terminated and live in the config arena.
 */
#ifndef WEIR_HTTP_CONF_H
#define WEIR_HTTP_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/core.h"

typedef struct weir_listen_conf_s {
    struct sockaddr_storage addr;
    socklen_t               addrlen;
    char                    text[64];     /* "127.0.0.1:8080", "[::1]:80" */
    unsigned                tls:1;
    /* Expect a PROXY protocol header (v1 or v2) before the request: the
     * address in it becomes $remote_addr (a balancer in TCP mode). */
    unsigned                proxy_protocol:1;
    /* `listen = ADDR default_server`: this server answers the address's
     * requests whose Host matches no server_name (http/vhost.h). */
    unsigned                default_server:1;
    /* Set by the loader (weir_vhost_build()): this line belongs to the
     * address's default server. Several servers may list one address;
     * its sockets are opened and accepted for this line only, and the
     * request picks the server by name through vhost. */
    unsigned                is_default:1;
    int                     backlog;      /* default 511 */
    /* The servers sharing this address (set by the loader); NULL for the
     * [admin] listener, which shares its address with nobody. */
    const struct weir_vhost_s *vhost;
    const char             *file;         /* where it was declared */
    int                     line;
} weir_listen_conf_t;

/* One word of `server_name` (http/vhost.h): "example.com",
 * "*.example.com", ".example.com", "www.example.*" or "~regex". */
typedef struct weir_server_name_s {
    char                   *name;         /* as written */
    void                   *regex;        /* pcre2_code * for "~", else NULL */
    int                     line;
} weir_server_name_t;

/* "Name: value" pairs of add_header / set_header; remove_header has no
 * value (NULL). */
typedef struct weir_header_edit_s {
    char *name;
    char *value;
} weir_header_edit_t;

/* error_page = 502 503 504 /errors/50x.html : a file under the route's
 * root (or the server's html dir) served with the original status. */
typedef struct weir_error_page_s {
    int   status;
    char *path;
} weir_error_page_t;

/* security_headers and the keys that override its headers, as written
 * in [http], [server] or [route]; a route inherits from its server, a
 * server from [http] (src/proc/config_security.c). */
enum weir_sec_key {
    WEIR_SEC_HSTS = 0,          /* strict_transport_security */
    WEIR_SEC_NOSNIFF,           /* x_content_type_options */
    WEIR_SEC_FRAME,             /* x_frame_options (+ CSP frame-ancestors) */
    WEIR_SEC_REFERRER,          /* referrer_policy */
    WEIR_SEC_KEYS
};

typedef struct weir_sec_headers_s {
    int                     on;           /* security_headers; -1: inherit */
    char                   *value[WEIR_SEC_KEYS]; /* NULL: inherit;
                                                     "off": none */
} weir_sec_headers_t;

/* The headers those keys resolve to, in this order; name NULL: none.
 * Strict-Transport-Security goes on TLS connections only. */
enum weir_sec_out {
    WEIR_SEC_OUT_HSTS = 0, WEIR_SEC_OUT_NOSNIFF, WEIR_SEC_OUT_FRAME,
    WEIR_SEC_OUT_CSP, WEIR_SEC_OUT_REFERRER, WEIR_SEC_OUTS
};

enum weir_match_type {
    WEIR_MATCH_PREFIX = 0,  /* "/assets/" */
    WEIR_MATCH_EXACT,       /* "= /exact" */
    WEIR_MATCH_REGEX        /* "~ regex" (PCRE2, JIT) */
};

/* What answers a route: each kind registers its handler with the HTTP
 * layer (weir_http_handler_register), the layers above included. */
enum weir_route_handler {
    WEIR_ROUTE_STATIC = 0,  /* root = dir */
    WEIR_ROUTE_RETURN,      /* return = CODE [URL|text] */
    WEIR_ROUTE_PROXY,       /* upstream = NAME */
    WEIR_ROUTE_ADMIN,       /* the [admin] listener's pages */
    WEIR_ROUTE_KINDS
};

/* gzip_static = off | on | always: whether a static route serves a
 * precompressed FILE.gz in place of FILE (on: to clients that take gzip;
 * always: to every client). */
enum weir_gzip_static {
    WEIR_GZIP_STATIC_OFF = 0,
    WEIR_GZIP_STATIC_ON,
    WEIR_GZIP_STATIC_ALWAYS
};

/* What a listening server is for. */
enum weir_server_kind {
    WEIR_SERVER_HTTP = 0,   /* a [server] section */
    WEIR_SERVER_ADMIN       /* the [admin] section */
};

struct weir_upstream_conf_s;
struct weir_cache_conf_s;
struct weir_cidr_s;
struct weir_tls_ctx_s;

enum weir_log_format {
    WEIR_LOG_FORMAT_COMBINED = 0,
    WEIR_LOG_FORMAT_JSON,
    WEIR_LOG_FORMAT_CUSTOM
};

typedef struct weir_server_conf_s weir_server_conf_t;

struct weir_limit_table_s;

/* [limit NAME]: a request rate and/or a number of requests in progress
 * per key, enforced by all workers together (http/limit.h). */
typedef struct weir_limit_conf_s {
    char                 *name;
    char                 *key;           /* $vars template (required) */
    int64_t               rate;          /* requests per rate_period; 0:
                                            no rate limit */
    weir_msec_t           rate_period;   /* 1000 (r/s) or 60000 (r/m) */
    int64_t               burst;         /* 0 */
    int64_t               delay;         /* 0: of the burst, passed at once */
    int                   nodelay;       /* off */
    int64_t               conn;          /* in progress per key; 0: none */
    char                **exempt;        /* as written */
    size_t                nexempt;
    const struct weir_cidr_s *exempt_cidrs;   /* parsed by the loader */
    int64_t               size;          /* table entries: 10000 */
    int64_t               status;        /* 429 */
    /* dry_run: decide and count as usual, but delay and refuse nothing
     * ($limit_status DELAYED_DRY_RUN / REJECTED_DRY_RUN) */
    int                   dry_run;       /* off */
    /* the shared table (http/limit_table.h), set by the master; NULL
     * without a segment (the limit then lets everything through) */
    struct weir_limit_table_s *table;
    const char           *file;
    int                   line;
} weir_limit_conf_t;

typedef struct weir_route_conf_s {
    char                 *name;
    weir_server_conf_t   *server;        /* resolved from `server = NAME` */
    int                   match_type;    /* enum weir_match_type */
    char                 *match;         /* the prefix, exact path or regex */
    size_t                match_len;
    void                 *regex;         /* pcre2_code * (compiled, JIT) */
    int                   handler;       /* enum weir_route_handler */

    /* static */
    char                 *root;          /* absolute path */
    char                **index;         /* default {"index.html"} */
    size_t                nindex;
    int                   autoindex;     /* reserved: 0 */

    /* return */
    int                   return_code;
    char                 *return_text;   /* URL for 3xx, body otherwise */

    /* proxy (runtime arrives with the proxy issue) */
    char                 *upstream_name;
    struct weir_upstream_conf_s *upstream;
    char                 *cache_name;
    struct weir_cache_conf_s    *cache;
    char                 *cache_bypass;  /* $vars: non-empty, not "0":
                                            skip the cache (fetch, store) */
    char                 *no_cache;      /* $vars: likewise: do not store */
    char                 *host_header;   /* NULL: pass the client's Host */

    weir_header_edit_t   *add_headers;   /* response */
    size_t                nadd_headers;
    weir_header_edit_t   *set_headers;   /* request to upstream */
    size_t                nset_headers;
    weir_header_edit_t   *remove_headers;/* request to upstream */
    size_t                nremove_headers;

    weir_error_page_t    *error_pages;   /* route's, then [http]'s */
    size_t                nerror_pages;

    weir_sec_headers_t    sec;           /* as written */
    weir_header_edit_t    sec_out[WEIR_SEC_OUTS]; /* resolved */

    int64_t               client_max_body_size; /* -1: inherit [http] */

    /* encoded_slash: what a "%2F" in the path does (reject: 400, pass:
     * kept as "%2F" for routing and towards the origin) */
    int                   encoded_slash; /* enum weir_encoded_slash */

    /* gzip (http/gzip.h): compress eligible responses for clients that
     * accept it */
    int                   gzip;          /* on | off (off) */
    char                **gzip_types;    /* NULL: the built-in list */
    size_t                ngzip_types;
    int64_t               gzip_min_length; /* bytes (256) */
    int64_t               gzip_level;    /* 1..9 (1) */
    int                   gzip_static;   /* enum weir_gzip_static: serve
                                            FILE.gz next to FILE (static
                                            routes, http/static.h) */

    /* access rules: `deny` wins, then a client outside a non-empty
     * `allow` is refused too (403); compiled by the loader */
    char                **allow;
    size_t                nallow;
    char                **deny;
    size_t                ndeny;
    const struct weir_cidr_s *allow_cidr;
    const struct weir_cidr_s *deny_cidr;

    /* limit = NAME... | off, as written (none: inherit the server's);
     * limits: what applies, resolved by the loader (config_limit.c) */
    char                **limit_names;
    size_t                nlimit_names;
    weir_limit_conf_t   **limits;
    size_t                nlimits;
    const char           *file;
    int                   line;
} weir_route_conf_t;

enum weir_encoded_slash {
    WEIR_ENCODED_SLASH_REJECT = 0,
    WEIR_ENCODED_SLASH_PASS
};

struct weir_server_conf_s {
    char                 *name;
    int                   kind;          /* enum weir_server_kind */
    /* clients allowed to connect (NULL: everyone), checked on accept */
    const struct weir_cidr_s *allow;
    size_t                nallow;
    weir_listen_conf_t   *listens;
    size_t                nlistens;
    weir_server_name_t   *server_names;  /* file order */
    size_t                nserver_names;
    /* TLS, for its `tls` listens: certificate chains and their keys
     * paired by order (RSA and ECDSA side by side), OCSP responses by
     * the same order; the context the master builds from them (proc/
     * config_tls.c) */
    char                **tls_certificate;
    size_t                ntls_certificate;
    char                **tls_certificate_key;
    size_t                ntls_certificate_key;
    char                **tls_stapling_file;
    size_t                ntls_stapling_file;
    unsigned              tls_protocols;       /* WEIR_TLS_V1_* bits */
    char                 *tls_ciphers;         /* NULL: the default list */
    char                 *tls_client_ca;
    int                   tls_verify_client;   /* enum weir_tls_verify_* */
    int                   tls_session_tickets; /* on */
    int64_t               tls_session_cache;   /* entries per worker */
    weir_msec_t           tls_session_timeout; /* 1h */
    struct weir_tls_ctx_s *tls;
    /* security headers as written, and resolved for a response no
     * route answers (404, a bad request) */
    weir_sec_headers_t    sec;
    weir_header_edit_t    sec_out[WEIR_SEC_OUTS];
    weir_route_conf_t   **routes;        /* file order */
    size_t                nroutes;
    /* limit = NAME... | off, as written (none: inherit [http]'s); limits:
     * what applies to its routes without a `limit` of their own and to
     * requests no route matches */
    char                **limit_names;
    size_t                nlimit_names;
    weir_limit_conf_t   **limits;
    size_t                nlimits;
    /* request statistics in shm (http/http_stats.h), set by the master */
    struct weir_server_stats_s *stats;
    const char           *file;
    int                   line;
};

typedef struct weir_http_conf_s {
    char                 *access_log;    /* absolute path, NULL when off */
    int                   log_format;    /* enum weir_log_format */
    char                 *log_format_string; /* for CUSTOM */
    weir_msec_t           keepalive_timeout;     /* 75s */
    int64_t               keepalive_requests;    /* 1000 */
    weir_msec_t           client_header_timeout; /* 10s */
    weir_msec_t           client_body_timeout;   /* 30s */
    weir_msec_t           send_timeout;          /* 60s */
    int64_t               client_body_min_rate;  /* 256 bytes/s; 0 off */
    int64_t               send_min_rate;         /* 256 bytes/s; 0 off */
    weir_msec_t           min_rate_window;       /* 20s of waiting */
    int64_t               client_max_body_size;  /* 1m; 0 = unlimited */
    int64_t               max_header_size;       /* 16k */
    int64_t               client_body_buffer_size; /* 16k */
    weir_msec_t           lingering_timeout;     /* 5s */
    char                 *server_tokens;         /* "weir" | off -> NULL */
    weir_sec_headers_t    sec;                   /* security_headers... */
    weir_error_page_t    *error_pages;
    size_t                nerror_pages;
    char                 *mime_types;    /* absolute path (conf/mime.types) */
    /* The table read from mime_types by the loader, in the config arena;
     * NULL when no route has `root` or the file did not load. */
    const struct weir_mime_s *mime;

    weir_server_conf_t  **servers;
    size_t                nservers;
    weir_route_conf_t   **routes;        /* all, file order */
    size_t                nroutes;
    /* One per distinct listen address of the servers (http/vhost.h). */
    struct weir_vhost_s **vhosts;
    size_t                nvhosts;
    weir_limit_conf_t   **limits;        /* [limit] sections, file order */
    size_t                nlimits;
    /* limit = NAME... | off in [http], as written, and resolved: the
     * default of every [server] without a `limit` of its own */
    char                **limit_names;
    size_t                nlimit_names;
    weir_limit_conf_t   **default_limits;
    size_t                ndefault_limits;
} weir_http_conf_t;

#endif /* WEIR_HTTP_CONF_H */
