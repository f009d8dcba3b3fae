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
 * section, and a route's `limit = NAME...` resolved to the sections.
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
    if (l->rate == 0 && weir_conf_key_line(&ld->conf, l, "burst")) {
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

void
weir_config_check_limits(load_t *ld)
{
    weir_http_conf_t *h = &ld->cf->http;
    size_t            i;

    for (i = 0; i < h->nlimits; i++) {
        check_limit(ld, h->limits[i]);
    }
}

void
weir_config_route_limits(load_t *ld, weir_route_conf_t *r)
{
    weir_http_conf_t *h = &ld->cf->http;
    char              label[160];
    size_t            i, j;
    int               line;

    if (r->nlimit_names == 0) {
        return;
    }
    r->limits = weir_pcalloc(ld->conf.pool,
                             r->nlimit_names * sizeof(*r->limits));
    if (r->limits == NULL) {
        weir_conf_error(&ld->conf, "out of memory");
        return;
    }
    line = weir_conf_key_line(&ld->conf, r, "limit");
    snprintf(label, sizeof(label), "[route %s]", r->name);
    for (i = 0; i < r->nlimit_names; i++) {
        const char        *name = r->limit_names[i];
        weir_limit_conf_t *l = NULL;

        for (j = 0; j < h->nlimits && l == NULL; j++) {
            if (strcmp(h->limits[j]->name, name) == 0) {
                l = h->limits[j];
            }
        }
        if (l == NULL) {
            weir_conf_error_at(&ld->conf, ld->conf.file, line ? line : r->line,
                               label, "limit", "unknown limit \"%s\" (no "
                               "[limit %s] section)", name, name);
            continue;
        }
        for (j = 0; j < r->nlimits && r->limits[j] != l; j++) {
            /* look for a repeat */
        }
        if (j < r->nlimits) {
            weir_conf_error_at(&ld->conf, ld->conf.file, line ? line : r->line,
                               label, "limit", "limit \"%s\" named twice",
                               name);
            continue;
        }
        r->limits[r->nlimits++] = l;
    }
}
