#include "weir_config.h"
#include "proc/config-t.h"

#include <stdio.h>
#include <string.h>
#include "core/conf.h"
#include "core/pool.h"
#include "event/tls.h"
#include "proc/config.h"

/*
 * TLS in the configuration: the setter of the repeatable path keys, and
 * the step that turns a loaded configuration's TLS keys into OpenSSL
 * contexts. That step is not part of weir_config_load(): loading stays a
 * pure reading of the file (the unit tests load certificates that are
 * not certificates), and the master runs it for `weir -t`, the start and
 * every reload (weir_master_check()), so a certificate that does not
 * load stops the start, and a reload keeps the running configuration
 * and its certificates ("reload failed: ...", naming the file).
 */

static void ctx_cleanup(void *data);
static int server_ctx(weir_config_t *cf, weir_server_conf_t *s, char *err,
    size_t errlen);
static int upstream_ctx(weir_config_t *cf, weir_upstream_conf_t *u,
    char *err, size_t errlen);

int
weir_config_set_paths(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    char ***arr = (char ***) (void *) ((char *) obj + cmd->offset);
    size_t *n = (size_t *) (void *) ((char *) obj + cmd->offset2);
    char  **grown, *path;

    if (*value == '\0') {
        weir_conf_error(c, "empty path");
        return WEIR_ERROR;
    }
    path = weir_conf_path(c, value);
    grown = path ? weir_conf_grow(c, *arr, *n, sizeof(char *)) : NULL;
    if (grown == NULL) {
        return WEIR_ERROR;
    }
    grown[(*n)++] = path;
    *arr = grown;
    return WEIR_OK;
}

static void
ctx_cleanup(void *data)
{
    weir_tls_ctx_free(data);
}

static int
server_ctx(weir_config_t *cf, weir_server_conf_t *s, char *err,
    size_t errlen)
{
    weir_tls_server_opts_t o;
    char                   why[1024];
    int                    line;

    memset(&o, 0, sizeof(o));
    o.name = s->name;
    o.certificates = s->tls_certificate;
    o.keys = s->tls_certificate_key;
    o.ncertificates = s->ntls_certificate;
    o.stapling = s->tls_stapling_file;
    o.nstapling = s->ntls_stapling_file;
    o.protocols = s->tls_protocols;
    o.ciphers = s->tls_ciphers;
    o.client_ca = s->tls_client_ca;
    o.verify_client = s->tls_verify_client;
    o.tickets = s->tls_session_tickets;
    o.session_cache = s->tls_session_cache;
    o.session_timeout = s->tls_session_timeout;
    s->tls = weir_tls_server_ctx(&o, why, sizeof(why));
    if (s->tls == NULL) {
        line = cf->keys ? weir_conf_key_line(cf->keys, s, "tls_certificate")
                        : 0;
        snprintf(err, errlen, "%s:%d: [server %s] tls_certificate: %s",
                 s->file ? s->file : cf->file, line ? line : s->line,
                 s->name, why);
        return WEIR_ERROR;
    }
    if (weir_pool_cleanup_add(cf->pool, ctx_cleanup, s->tls) != WEIR_OK) {
        weir_tls_ctx_free(s->tls);
        s->tls = NULL;
        snprintf(err, errlen, "out of memory");
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

static int
upstream_ctx(weir_config_t *cf, weir_upstream_conf_t *u, char *err,
    size_t errlen)
{
    weir_tls_client_opts_t o;
    char                   why[1024];
    const char            *key;
    int                    line;

    memset(&o, 0, sizeof(o));
    o.verify = u->tls_verify;
    o.ca = u->tls_ca;
    o.certificate = u->tls_certificate;
    o.key = u->tls_certificate_key;
    o.ciphers = u->tls_ciphers;
    o.session_reuse = u->tls_session_reuse;
    u->tls_ctx = weir_tls_client_ctx(&o, why, sizeof(why));
    if (u->tls_ctx == NULL) {
        key = strstr(why, "the CA") ? "tls_ca"
              : strstr(why, "the key") ? "tls_certificate_key"
              : strstr(why, "certificate") ? "tls_certificate"
              : strstr(why, "cipher") ? "tls_ciphers" : "tls";
        line = cf->keys ? weir_conf_key_line(cf->keys, u, key) : 0;
        snprintf(err, errlen, "%s:%d: [upstream %s] %s: %s",
                 u->file ? u->file : cf->file, line ? line : u->line,
                 u->name, key, why);
        return WEIR_ERROR;
    }
    if (weir_pool_cleanup_add(cf->pool, ctx_cleanup, u->tls_ctx) != WEIR_OK) {
        weir_tls_ctx_free(u->tls_ctx);
        u->tls_ctx = NULL;
        snprintf(err, errlen, "out of memory");
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

int
weir_config_tls_build(weir_config_t *cf, char *err, size_t errlen)
{
    size_t i, j;

    for (i = 0; i < cf->nupstreams; i++) {
        weir_upstream_conf_t *u = cf->upstreams[i];

        if (u->tls && u->tls_ctx == NULL
            && upstream_ctx(cf, u, err, errlen) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }

    for (i = 0; i < cf->http.nservers; i++) {
        weir_server_conf_t *s = cf->http.servers[i];

        if (s->tls) {
            continue;       /* built already (main's check, then run) */
        }
        for (j = 0; j < s->nlistens; j++) {
            if (s->listens[j].tls) {
                if (server_ctx(cf, s, err, errlen) != WEIR_OK) {
                    return WEIR_ERROR;
                }
                break;
            }
        }
    }
    return WEIR_OK;
}
