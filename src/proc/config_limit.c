#include "weir_config.h"
#include "proc/config-t.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/cidr.h"
#include "core/conf.h"
#include "core/str.h"

/*
 * [limit NAME]: the rate setter and its dump, the checks of each
 * section, and `limit = NAME...` of [http], [server] and [route]
 * resolved to the sections, inherited [http] -> [server] -> [route].
 */

static void limit_error(load_t *ld, const weir_limit_conf_t *l,
    const char *key, const char *fmt, ...) WEIR_PRINTF(4, 5);
static void check_limit(load_t *ld, weir_limit_conf_t *l);

/* rate = 10r/s | 30r/m: whole requests per second or per minute, as
 * nginx writes them (r/m allows rates below one a second). */
int
weir_config_set_rate(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_limit_conf_t *l = obj;
    size_t             len = strlen(value), digits = 0;
    int64_t            n;

    (void) cmd;
    while (digits < len && value[digits] >= '0' && value[digits] <= '9') {
        digits++;
    }
    if (digits == 0 || len - digits != 3 || value[digits] != 'r'
        || value[digits + 1] != '/'
        || (value[digits + 2] != 's' && value[digits + 2] != 'm')
        || weir_str_atoi64(value, digits, &n) != WEIR_OK || n < 1
        || n > 1000000)
    {
        weir_conf_error(c, "invalid rate \"%s\" (expected requests per second "
                        "or minute, 1 to 1000000, e.g. 10r/s or 30r/m)",
                        value);
        return WEIR_ERROR;
    }
    l->rate = n;
    l->rate_period = value[digits + 2] == 's' ? 1000 : 60000;
    return WEIR_OK;
}

void
weir_config_dump_rate(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_limit_conf_t *l = obj;

    if (l->rate > 0) {
        fprintf(out, "%s = %lldr/%c\n", cmd->key, (long long) l->rate,
                l->rate_period == 1000 ? 's' : 'm');
    }
}

static void
limit_error(load_t *ld, const weir_limit_conf_t *l, const char *key,
    const char *fmt, ...)
{
    char    label[160], msg[768];
    int     line = key ? weir_conf_key_line(&ld->conf, l, key) : 0;
    va_list ap;

    snprintf(label, sizeof(label), "[limit %s]", l->name);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    weir_conf_error_at(&ld->conf, ld->conf.file, line ? line : l->line,
                       label, key, "%s", msg);
}

static void
check_limit(load_t *ld, weir_limit_conf_t *l)
{
    weir_cidr_t *cidrs;
    size_t       i;

    if (strcmp(l->name, "off") == 0) {
        limit_error(ld, l, NULL, "\"off\" is not a limit name (limit = off "
                    "clears the inherited limits)");
    }
    if (l->key == NULL) {
        limit_error(ld, l, "key", "missing (e.g. key = $remote_addr)");
    } else {
        weir_config_check_vars(ld, l, "limit", l->name, l->line, "key",
                               l->key);
    }
    if (l->rate == 0 && l->conn == 0) {
        limit_error(ld, l, NULL, "limits nothing: set rate (e.g. rate = "
                    "10r/s), conn (e.g. conn = 10) or both");
    }
    /* burst = 0 is what `weir -T` writes for a conn-only limit: only a
     * burst that would do something needs a rate. */
    if (l->rate == 0 && l->burst > 0) {
        limit_error(ld, l, "burst", "requires rate");
    }
    if (l->rate == 0 && l->nodelay) {
        limit_error(ld, l, "nodelay", "requires rate");
    }
    if (l->delay > 0 && (l->rate == 0 || l->nodelay)) {
        limit_error(ld, l, "delay", l->rate ? "excludes nodelay (which "
                    "passes the whole burst at once)" : "requires rate");
    } else if (l->delay > l->burst) {
        limit_error(ld, l, "delay", "%lld is more than burst (%lld)",
                    (long long) l->delay, (long long) l->burst);
    }
    if (l->nexempt == 0) {
        return;
    }
    cidrs = weir_pcalloc(ld->conf.pool, l->nexempt * sizeof(*cidrs));
    if (cidrs == NULL) {
        weir_conf_error(&ld->conf, "out of memory");
        return;
    }
    for (i = 0; i < l->nexempt; i++) {
        if (weir_cidr_parse(l->exempt[i], &cidrs[i]) != WEIR_OK) {
            limit_error(ld, l, "exempt", "invalid address or CIDR \"%s\"",
                        l->exempt[i]);
        }
    }
    l->exempt_cidrs = cidrs;
}

/* `limit = NAME... | off` of one level (obj: the [http], [server] or
 * [route] it was written in) resolved to its sections, into *out / *nout.
 * A level that names none keeps what it was given (*out as inherited):
 * like nginx's limit_req, a level with its own list replaces the one it
 * would inherit, and "off" replaces it with none. */
static void
resolve_names(load_t *ld, const void *obj, const char *label, int defline,
    char **names, size_t nnames, weir_limit_conf_t ***out, size_t *nout)
{
    weir_http_conf_t   *h = &ld->cf->http;
    weir_limit_conf_t **list;
    size_t              i, j, n = 0;
    int                 line;

    if (nnames == 0) {
        return;
    }
    line = weir_conf_key_line(&ld->conf, obj, "limit");
    line = line ? line : defline;
    *out = NULL;
    *nout = 0;
    if (nnames == 1 && strcmp(names[0], "off") == 0) {
        return;
    }
    list = weir_pcalloc(ld->conf.pool, nnames * sizeof(*list));
    if (list == NULL) {
        weir_conf_error(&ld->conf, "out of memory");
        return;
    }
    for (i = 0; i < nnames; i++) {
        const char        *name = names[i];
        weir_limit_conf_t *l = NULL;

        if (strcmp(name, "off") == 0) {
            weir_conf_error_at(&ld->conf, ld->conf.file, line, label, "limit",
                               "\"off\" stands alone (it clears the "
                               "inherited limits)");
            continue;
        }
        for (j = 0; j < h->nlimits && l == NULL; j++) {
            if (strcmp(h->limits[j]->name, name) == 0) {
                l = h->limits[j];
            }
        }
        if (l == NULL) {
            weir_conf_error_at(&ld->conf, ld->conf.file, line, label,
                               "limit", "unknown limit \"%s\" (no "
                               "[limit %s] section)", name, name);
            continue;
        }
        for (j = 0; j < n && list[j] != l; j++) {
            /* look for a repeat */
        }
        if (j < n) {
            weir_conf_error_at(&ld->conf, ld->conf.file, line, label,
                               "limit", "limit \"%s\" named twice", name);
            continue;
        }
        list[n++] = l;
    }
    *out = list;
    *nout = n;
}

void
weir_config_check_limits(load_t *ld)
{
    weir_http_conf_t *h = &ld->cf->http;
    char              label[160];
    size_t            i;

    for (i = 0; i < h->nlimits; i++) {
        check_limit(ld, h->limits[i]);
    }
    resolve_names(ld, h, "[http]", 0, h->limit_names, h->nlimit_names,
                  &h->default_limits, &h->ndefault_limits);
    for (i = 0; i < h->nservers; i++) {
        weir_server_conf_t *s = h->servers[i];

        s->limits = h->default_limits;
        s->nlimits = h->ndefault_limits;
        snprintf(label, sizeof(label), "[server %s]", s->name);
        resolve_names(ld, s, label, s->line, s->limit_names, s->nlimit_names,
                      &s->limits, &s->nlimits);
    }
}

void
weir_config_route_limits(load_t *ld, weir_route_conf_t *r,
    const weir_server_conf_t *s)
{
    weir_http_conf_t *h = &ld->cf->http;
    char              label[160];

    r->limits = s ? s->limits : h->default_limits;
    r->nlimits = s ? s->nlimits : h->ndefault_limits;
    snprintf(label, sizeof(label), "[route %s]", r->name);
    resolve_names(ld, r, label, r->line, r->limit_names, r->nlimit_names,
                  &r->limits, &r->nlimits);
}
