#include "weir_config.h"
#include "proc/config-t.h"

#include <stdio.h>
#include <string.h>
#include "core/conf.h"

/*
 * The setters and dumpers of [cache NAME] that need more than a table
 * row. Checks across keys (the path, the key template) are in
 * config_check.c, warnings in config_warn.c.
 */

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
