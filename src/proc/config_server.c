#include "weir_config.h"
#include "proc/config-t.h"

/*
 * The setters and dumpers of the keys that name a server's addresses
 * and names: listen (of [server] and [admin]) and server_name. Split
 * from config_schema.c, whose rows point here.
 */

#include <stdio.h>
#include <string.h>
#include "core/conf.h"
#include "core/str.h"
#include "core/units.h"
#include "http/vhost.h"

/* listen = ADDR [tls] [proxy_protocol] [default_server] [backlog=N] */
int
weir_config_set_listen(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_listen_conf_t **arr = FIELD(obj, cmd->offset, weir_listen_conf_t *);
    size_t              *n = FIELD(obj, cmd->offset2, size_t);
    weir_listen_conf_t   l;
    char                 err[160], *p = value, *w;
    int64_t              backlog;

    memset(&l, 0, sizeof(l));
    w = weir_conf_next_word(&p);
    if (weir_units_parse_addr(w, WEIR_ADDR_LISTEN, &l.addr, &l.addrlen,
                              l.text, sizeof(l.text), err, sizeof(err))
        != WEIR_OK)
    {
        weir_conf_error(c, "%s", err);
        return WEIR_ERROR;
    }
    l.backlog = 511;
    while ((w = weir_conf_next_word(&p)) != NULL) {
        if (strcmp(w, "tls") == 0 && cmd->section == SEC_SERVER) {
            l.tls = 1;
        } else if (strcmp(w, "tls") == 0) {
            weir_conf_error(c, "tls is not supported on this listener");
            return WEIR_ERROR;
        } else if (strcmp(w, "proxy_protocol") == 0
                   && cmd->section == SEC_SERVER) {
            l.proxy_protocol = 1;
        } else if (strcmp(w, "proxy_protocol") == 0) {
            weir_conf_error(c, "proxy_protocol is not supported on this "
                            "listener");
            return WEIR_ERROR;
        } else if (strcmp(w, "default_server") == 0
                   && cmd->section == SEC_SERVER) {
            l.default_server = 1;
        } else if (strncmp(w, "backlog=", 8) == 0
                   && weir_str_atoi64(w + 8, strlen(w + 8), &backlog)
                      == WEIR_OK
                   && backlog >= 1 && backlog <= 65535)
        {
            l.backlog = (int) backlog;
        } else {
            weir_conf_error(c, "invalid listen option \"%s\" (expected tls, "
                            "proxy_protocol, default_server or "
                            "backlog=1..65535)", w);
            return WEIR_ERROR;
        }
    }
    l.file = c->file;
    l.line = c->line;
    *arr = weir_conf_grow(c, *arr, *n, sizeof(l));
    if (*arr == NULL) {
        return WEIR_ERROR;
    }
    (*arr)[(*n)++] = l;
    return WEIR_OK;
}

void
weir_config_dump_listen(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_listen_conf_t *a = *CFIELD(obj, cmd->offset,
                                          weir_listen_conf_t *);
    size_t                    i, n = *CFIELD(obj, cmd->offset2, size_t);

    for (i = 0; i < n; i++) {
        fprintf(out, "%s = %s%s%s%s backlog=%d\n", cmd->key, a[i].text,
                a[i].tls ? " tls" : "",
                a[i].proxy_protocol ? " proxy_protocol" : "",
                a[i].default_server ? " default_server" : "", a[i].backlog);
    }
}

/* server_name = NAME... (repeatable): each word checked and, for
 * "~regex", compiled (http/vhost.h); its line kept for the duplicate
 * check across servers. */
int
weir_config_set_server_name(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_server_name_t **arr = FIELD(obj, cmd->offset, weir_server_name_t *);
    size_t              *n = FIELD(obj, cmd->offset2, size_t);
    weir_server_name_t   sn;
    char                 err[320], *p = value, *w;

    while ((w = weir_conf_next_word(&p)) != NULL) {
        if (weir_vhost_name_parse(c->pool, &sn, w, err, sizeof(err))
            != WEIR_OK) {
            weir_conf_error(c, "%s", err);
            return WEIR_ERROR;
        }
        sn.line = c->line;
        *arr = weir_conf_grow(c, *arr, *n, sizeof(sn));
        if (*arr == NULL) {
            return WEIR_ERROR;
        }
        (*arr)[(*n)++] = sn;
    }
    return WEIR_OK;
}

void
weir_config_dump_server_name(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_server_name_t *a = *CFIELD(obj, cmd->offset,
                                          weir_server_name_t *);
    size_t                    i, n = *CFIELD(obj, cmd->offset2, size_t);

    for (i = 0; i < n; i++) {
        fprintf(out, "%s = %s\n", cmd->key, a[i].name);
    }
}
