#include "weir_config.h"
#include "proc/config-t.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "core/conf.h"

/*
 * security_headers and the keys that override its headers, in [http],
 * [server] and [route]: their setters and dumpers, and the merge that
 * turns a route's (or a server's) chain of settings into the headers a
 * response gets (weir_config_security_resolve()).
 *
 * A header is sent when its key is set to a value anywhere along the
 * chain (route, server, [http]; the nearest wins), or, when the nearest
 * security_headers is on, with its default; "off" sends none. So
 * `security_headers = on` is the safe set in one line, and one key alone
 * (say referrer_policy in a route) works without it.
 */

static int sec_key(const char *key);
static int valid_field_value(const char *v);
static int valid_hsts(const char *v);
static int valid_referrer(const char *v);

/* The keys in enum weir_sec_key order, their headers and defaults.
 * Defaults: HSTS for a year without includeSubDomains (which would bind
 * hosts this file does not serve); SAMEORIGIN rather than DENY, so that
 * a site framing its own pages keeps working; the referrer policy
 * browsers use by default, stated so that an old browser uses it too. */
static const struct {
    const char *key;
    const char *header;
    const char *dflt;
} sec_keys[WEIR_SEC_KEYS] = {
    { "strict_transport_security", "Strict-Transport-Security",
      "max-age=31536000" },
    { "x_content_type_options", "X-Content-Type-Options", "nosniff" },
    { "x_frame_options", "X-Frame-Options", "SAMEORIGIN" },
    { "referrer_policy", "Referrer-Policy",
      "strict-origin-when-cross-origin" },
};

static int
sec_key(const char *key)
{
    int k;

    for (k = 0; k < WEIR_SEC_KEYS; k++) {
        if (strcmp(sec_keys[k].key, key) == 0) {
            return k;
        }
    }
    return -1;
}

/* RFC 9110 5.5: visible characters, blanks inside; no CR, LF, NUL. */
static int
valid_field_value(const char *v)
{
    const unsigned char *p;

    for (p = (const unsigned char *) v; *p; p++) {
        if (*p < 0x20 ? *p != '\t' : *p == 0x7f) {
            return 0;
        }
    }
    return v[0] != '\0';
}

/* RFC 6797 6.1: directives separated by ';', max-age required. */
static int
valid_hsts(const char *v)
{
    const char *p = v, *d, *end;
    size_t      len;
    int         max_age = 0;

    while (*p) {
        end = strchr(p, ';');
        if (end == NULL) {
            end = p + strlen(p);
        }
        for (d = p; d < end && (*d == ' ' || *d == '\t'); d++) {
            /* void */
        }
        len = (size_t) (end - d);
        while (len && (d[len - 1] == ' ' || d[len - 1] == '\t')) {
            len--;
        }
        if (len > 8 && strncasecmp(d, "max-age=", 8) == 0
            && strspn(d + 8, "0123456789") == len - 8) {
            max_age++;
        }
        p = *end ? end + 1 : end;
    }
    return max_age == 1;
}

/* A comma-separated list of policy tokens (the last one a browser knows
 * is used, so a list may name a fallback first). */
static int
valid_referrer(const char *v)
{
    static const char *tokens[] = {
        "no-referrer", "no-referrer-when-downgrade", "origin",
        "origin-when-cross-origin", "same-origin", "strict-origin",
        "strict-origin-when-cross-origin", "unsafe-url"
    };
    const char *p = v, *end;
    size_t      i, len;

    for (;;) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        end = p + strcspn(p, ",");
        len = (size_t) (end - p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        for (i = 0; i < weir_nelems(tokens); i++) {
            if (strlen(tokens[i]) == len && strncasecmp(p, tokens[i], len)
                                            == 0) {
                break;
            }
        }
        if (i == weir_nelems(tokens)) {
            return 0;
        }
        if (*end == '\0') {
            return 1;
        }
        p = end + 1;
    }
}

int
weir_config_set_sec_header(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value)
{
    int   k = sec_key(cmd->key);
    char *p;

    if (strcmp(value, "off") == 0) {
        *FIELD(obj, cmd->offset, char *) = value;
        return WEIR_OK;
    }
    if (!valid_field_value(value)) {
        weir_conf_error(c, "invalid header value \"%s\"", value);
        return WEIR_ERROR;
    }
    switch (k) {
    case WEIR_SEC_HSTS:
        if (!valid_hsts(value)) {
            weir_conf_error(c, "\"%s\": expected max-age=SECONDS, "
                            "optionally with includeSubDomains and "
                            "preload (RFC 6797), or off", value);
            return WEIR_ERROR;
        }
        break;
    case WEIR_SEC_NOSNIFF:
        if (strcasecmp(value, "nosniff") != 0) {
            weir_conf_error(c, "\"%s\": expected nosniff or off", value);
            return WEIR_ERROR;
        }
        break;
    case WEIR_SEC_FRAME:
        if (strcasecmp(value, "DENY") != 0
            && strcasecmp(value, "SAMEORIGIN") != 0) {
            weir_conf_error(c, "\"%s\": expected DENY, SAMEORIGIN or off "
                            "(ALLOW-FROM is obsolete)", value);
            return WEIR_ERROR;
        }
        for (p = value; *p; p++) {
            *p = (char) toupper((unsigned char) *p);
        }
        break;
    case WEIR_SEC_REFERRER:
        if (!valid_referrer(value)) {
            weir_conf_error(c, "\"%s\": expected a referrer policy "
                            "(no-referrer, same-origin, strict-origin, "
                            "strict-origin-when-cross-origin, ...) or off",
                            value);
            return WEIR_ERROR;
        }
        break;
    default:
        return WEIR_ERROR;
    }
    *FIELD(obj, cmd->offset, char *) = value;
    return WEIR_OK;
}

void
weir_config_dump_sec_header(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out)
{
    weir_conf_dump_str(cmd, obj, out);
}

/* security_headers = on | off; unset (-1) in a server or route, which
 * then inherit. */
int
weir_config_set_sec_flag(weir_conf_t *c, const weir_conf_cmd_t *cmd,
    void *obj, char *value)
{
    if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
        weir_conf_error(c, "invalid value \"%s\", expected on or off",
                        value);
        return WEIR_ERROR;
    }
    *FIELD(obj, cmd->offset, int) = value[1] == 'n';
    return WEIR_OK;
}

void
weir_config_dump_sec_flag(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out)
{
    int v = *CFIELD(obj, cmd->offset, int);

    if (v < 0) {
        fprintf(out, "; %s is not set\n", cmd->key);
    } else {
        fprintf(out, "%s = %s\n", cmd->key, v ? "on" : "off");
    }
}

void
weir_config_security_resolve(const weir_sec_headers_t *const *chain,
    size_t n, weir_header_edit_t *out)
{
    const char *v[WEIR_SEC_KEYS];
    size_t      i;
    int         k, on = 0;

    for (i = 0; i < n; i++) {
        if (chain[i]->on >= 0) {
            on = chain[i]->on;
            break;
        }
    }
    for (k = 0; k < WEIR_SEC_KEYS; k++) {
        v[k] = on ? sec_keys[k].dflt : NULL;
        for (i = 0; i < n; i++) {
            if (chain[i]->value[k]) {
                v[k] = chain[i]->value[k];
                break;
            }
        }
        if (v[k] && strcmp(v[k], "off") == 0) {
            v[k] = NULL;
        }
    }
    memset(out, 0, WEIR_SEC_OUTS * sizeof(*out));
#define SEC_OUT(o, name_, value_)                                           \
    if (value_) {                                                           \
        out[o].name = (char *) (name_);                                     \
        out[o].value = (char *) (value_);                                   \
    }
    SEC_OUT(WEIR_SEC_OUT_HSTS, sec_keys[WEIR_SEC_HSTS].header,
            v[WEIR_SEC_HSTS])
    SEC_OUT(WEIR_SEC_OUT_NOSNIFF, sec_keys[WEIR_SEC_NOSNIFF].header,
            v[WEIR_SEC_NOSNIFF])
    SEC_OUT(WEIR_SEC_OUT_FRAME, sec_keys[WEIR_SEC_FRAME].header,
            v[WEIR_SEC_FRAME])
    /* CSP's frame-ancestors is what current browsers obey (X-Frame-Options
     * is for the older ones), so the one key sets both. */
    SEC_OUT(WEIR_SEC_OUT_CSP, "Content-Security-Policy",
            !v[WEIR_SEC_FRAME] ? NULL
            : strcmp(v[WEIR_SEC_FRAME], "DENY") == 0
              ? "frame-ancestors 'none'" : "frame-ancestors 'self'")
    SEC_OUT(WEIR_SEC_OUT_REFERRER, sec_keys[WEIR_SEC_REFERRER].header,
            v[WEIR_SEC_REFERRER])
#undef SEC_OUT
}
