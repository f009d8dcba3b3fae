#include "weir_config.h"
#include "proc/config-t.h"

#include <stdio.h>
#include <string.h>
#include "core/conf.h"
#include "core/str.h"
#include "core/units.h"
#include "cache/cache_conf.h"

/*
 * The setters and dumpers of [cache NAME] that need more than a table
 * row. Checks across keys (the path, the key template) are in
 * config_check.c, warnings in config_warn.c.
 */

static int valid_index(const char *w);

/* levels = 1:2 (one to three directory levels of 1 or 2 hex digits) */
int
weir_config_set_levels(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_cache_conf_t *k = obj;
    const char        *p = value;
    int                levels[3], n = 0;

    (void) cmd;
    for (;;) {
        if ((*p != '1' && *p != '2') || n == 3) {
            weir_conf_error(c, "invalid levels \"%s\" (expected 1 to 3 "
                            "levels of 1 or 2, e.g. 1:2)", value);
            return WEIR_ERROR;
        }
        levels[n++] = *p++ - '0';
        if (*p == '\0') {
            break;
        }
        if (*p++ != ':') {
            weir_conf_error(c, "invalid levels \"%s\" (expected 1 to 3 "
                            "levels of 1 or 2, e.g. 1:2)", value);
            return WEIR_ERROR;
        }
    }
    memset(k->levels, 0, sizeof(k->levels));
    memcpy(k->levels, levels, (size_t) n * sizeof(int));
    k->nlevels = n;
    return WEIR_OK;
}

void
weir_config_dump_levels(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out)
{
    const weir_cache_conf_t *k = obj;
    int                      i;

    fprintf(out, "%s = ", cmd->key);
    for (i = 0; i < k->nlevels; i++) {
        fprintf(out, i ? ":%d" : "%d", k->levels[i]);
    }
    fputc('\n', out);
}

/* The statuses `valid` can name: "any" (index 0), then 100..599. */
#define VALID_SLOTS  weir_nelems(((weir_cache_rules_t *) 0)->valid)

static int
valid_index(const char *w)
{
    int64_t status;

    if (strcmp(w, "any") == 0) {
        return 0;
    }
    if (weir_str_atoi64(w, strlen(w), &status) != WEIR_OK || status < 100
        || status > 599)
    {
        return -1;
    }
    return (int) status - 100 + 1;
}

/* valid = STATUS... TIME (STATUS: 100..599 or any), repeatable: the
 * freshness of a response that carries none of its own. A status given a
 * time twice is an error rather than "the last wins": with several lines
 * the first would silently stop counting. */
int
weir_config_set_valid(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_cache_conf_t *k = obj;
    /* 501 distinct statuses and a time: more words must repeat one */
    char              *words[VALID_SLOTS + 2], *w, *p = value;
    unsigned char      seen[VALID_SLOTS];
    size_t             nw = 0, i;
    weir_msec_t        ms;
    int                idx;

    (void) cmd;
    while ((w = weir_conf_next_word(&p)) != NULL) {
        if (nw == weir_nelems(words)) {
            weir_conf_error(c, "too many statuses (each of 100..599 and "
                            "any may be named once)");
            return WEIR_ERROR;
        }
        words[nw++] = w;
    }
    if (nw < 2) {
        weir_conf_error(c, "expected \"STATUS... TIME\", e.g. valid = 200 "
                        "301 302 10m, or valid = any 1m");
        return WEIR_ERROR;
    }
    w = words[nw - 1];
    if (weir_units_parse_msec(w, &ms) != WEIR_OK) {
        weir_conf_error(c, "invalid time \"%s\" (expected e.g. 30s, 10m, "
                        "1h, 1d, after the statuses)", w);
        return WEIR_ERROR;
    }
    /* Freshness lifetimes are seconds (RFC 9111 1.2.2); a fraction would
     * be dropped without a word. */
    if (ms % 1000 != 0) {
        weir_conf_error(c, "invalid time \"%s\": freshness is counted in "
                        "whole seconds", w);
        return WEIR_ERROR;
    }
    if (ms / 1000 > WEIR_CACHE_DELTA_MAX) {
        weir_conf_error(c, "\"%s\" is out of range (at most %llds)", w,
                        (long long) WEIR_CACHE_DELTA_MAX);
        return WEIR_ERROR;
    }
    memset(seen, 0, sizeof(seen));
    for (i = 0; i + 1 < nw; i++) {
        idx = valid_index(words[i]);
        if (idx < 0) {
            weir_conf_error(c, "invalid status \"%s\" (expected 100..599 or "
                            "any)", words[i]);
            return WEIR_ERROR;
        }
        if (seen[idx] || k->rules.valid[idx] >= 0) {
            weir_conf_error(c, "status %s already has a time (one time "
                            "per status)", words[i]);
            return WEIR_ERROR;
        }
        seen[idx] = 1;
    }
    for (i = 0; i < VALID_SLOTS; i++) {
        if (seen[i]) {
            k->rules.valid[i] = ms / 1000;
        }
    }
    return WEIR_OK;
}

/* One line per distinct time, its statuses in order ("any" first), so the
 * dump loads back to the same table whatever lines it came from. */
void
weir_config_dump_valid(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out)
{
    const int64_t *v = ((const weir_cache_conf_t *) obj)->rules.valid;
    size_t         i, j;
    int            any = 0;
    char           time[32];

    for (i = 0; i < VALID_SLOTS; i++) {
        if (v[i] < 0) {
            continue;
        }
        for (j = 0; j < i && v[j] != v[i]; j++) { /* void */ }
        if (j < i) {
            continue;       /* printed with its first status */
        }
        any = 1;
        fprintf(out, "%s =", cmd->key);
        for (j = i; j < VALID_SLOTS; j++) {
            if (v[j] != v[i]) {
                continue;
            }
            if (j == 0) {
                fputs(" any", out);
            } else {
                fprintf(out, " %d", (int) j + 100 - 1);
            }
        }
        weir_units_format_msec(v[i] * 1000, time, sizeof(time));
        fprintf(out, " %s\n", time);
    }
    if (!any) {
        fprintf(out, "; %s is not set\n", cmd->key);
    }
}
