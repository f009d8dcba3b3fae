/*
 * What the files of the configuration loader share, and nothing
 * else: config.c (sections, their constructors, the load entry point),
 * config_check.c (the merge and cross-reference pass, STYLE 14),
 * config_schema.c (the key rows, their setters and the dump),
 * config_upstream.c and config_cache.c (the setters of [upstream] and
 * [cache] that need more than a row), config_limit.c ([limit] and the
 * `limit` keys), config_security.c (security_headers and its keys)
 * and
 * config_warn.c (warnings about a file that loaded, and mime.types,
 * whose only failure is a warning). Private to
 * src/proc/config*.c; the public face is proc/config.h.
 */
#ifndef WEIR_PROC_CONFIG_T_H
#define WEIR_PROC_CONFIG_T_H

#include <stddef.h>
#include <stdio.h>
#include "core/core.h"
#include "core/conf.h"
#include "http/http_conf.h"
#include "proc/config.h"

/* Section indices: rows in config_schema.c, sections in config.c. */
enum {
    SEC_MAIN = 0, SEC_HTTP, SEC_UPSTREAM, SEC_CACHE, SEC_SERVER, SEC_ROUTE,
    SEC_ADMIN, SEC_LIMIT
};

/* Units for defaults and limits. */
#define MS(n)  ((int64_t) (n))
#define SEC(n) ((int64_t) (n) * 1000)
#define KB(n)  ((int64_t) (n) * 1024)
#define MB(n)  ((int64_t) (n) * 1024 * 1024)

/* What a [route] needs during loading beyond its public model. The model
 * is the first member, so the section object is the route itself. */
typedef struct route_ext_s {
    weir_route_conf_t  r;
    char              *server_name;
    char              *match_text;   /* as written, for the dump */
} route_ext_t;

typedef struct load_s {
    weir_config_t         *cf;
    weir_config_errors_t  *errs;
    weir_conf_t            conf;
    const char            *shown;    /* the path as given, for messages */
    int64_t                resolve_until; /* monotonic ms; 0: no name yet */
} load_t;

/* [upstream] setters (config_upstream.c): `server = ADDR options`, its
 * dump, and health_expect. */
int weir_config_set_peer(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_peer(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
int weir_config_set_health_expect(weir_conf_t *c,
    const weir_conf_cmd_t *cmd, void *obj, char *value);

/* [cache] setters (config_cache.c): levels, and valid (repeatable,
 * filling rules.valid[] in seconds). */
int weir_config_set_levels(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_levels(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
int weir_config_set_valid(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_valid(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);

/* Repeatable paths (tls_certificate, ...): each value one path, made
 * absolute under the prefix (config_tls.c). */
int weir_config_set_paths(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);

/* security_headers and its keys (config_security.c): setters, dumpers,
 * and the merge of a chain (route, server, [http]: nearest first) into
 * the headers a response gets (out[WEIR_SEC_OUTS]). */
int weir_config_set_sec_header(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_sec_header(const weir_conf_cmd_t *cmd,
    const void *obj, FILE *out);
int weir_config_set_sec_flag(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_sec_flag(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
void weir_config_security_resolve(const weir_sec_headers_t *const *chain,
    size_t n, weir_header_edit_t *out);

/* [limit] (config_limit.c): `rate = N r/s|r/m` and its dump; the
 * checks of the [limit] sections (key, exempt, rate or conn) and the
 * resolution of `limit = NAME...` in [http] and each [server]. */
int weir_config_set_rate(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_rate(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
void weir_config_check_limits(load_t *ld);
/* Every $name in template t must be a request variable (config_check.c);
 * the error names obj's key, at its line or else `line`. */
void weir_config_check_vars(load_t *ld, const void *obj, const char *type,
    const char *name, int line, const char *key, const char *t);
/* A route's limits: its own `limit`, else those of its server s (NULL:
 * unknown), else [http]'s. After weir_config_check_limits(). */
void weir_config_route_limits(load_t *ld, weir_route_conf_t *r,
    const weir_server_conf_t *s);

/* The key rows of every section (config_schema.c). */
extern const weir_conf_cmd_t  weir_config_cmds[];
extern const size_t           weir_config_ncmds;

/* After parsing: defaults that depend on other values, merges and
 * cross-references (config_check.c). Errors go through ld->conf; returns
 * WEIR_ERROR if there were any. */
int weir_config_check(load_t *ld);

/* After a load without errors: warn (error log, warn level) about legal
 * but suspicious settings, such as routes that can never match, and load
 * the mime.types table when a route has `root` (config_warn.c). Never
 * fails the load. */
void weir_config_warn(load_t *ld);

/* [admin] without `listen`: set 127.0.0.1:9145 through the same setter a
 * written `listen` goes through (config_schema.c). */
void weir_config_admin_listen_default(weir_conf_t *c, weir_admin_conf_t *a);

/* A field of a config object at a row's offset. */
#define FIELD(obj, off, type) ((type *) (void *) ((char *) (obj) + (off)))
#define CFIELD(obj, off, type) \
    ((const type *) (const void *) ((const char *) (obj) + (off)))

/* config_server.c: listen = ADDR [tls] [proxy_protocol] [default_server]
 * [backlog=N], and server_name = NAME... (each checked, "~regex"
 * compiled, its line kept for the duplicate check across servers). */
int weir_config_set_listen(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_listen(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
int weir_config_set_server_name(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_config_dump_server_name(const weir_conf_cmd_t *cmd,
    const void *obj, FILE *out);

#endif /* WEIR_PROC_CONFIG_T_H */
