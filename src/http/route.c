#include "weir_config.h"
#include "http/route.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"
#include "core/cidr.h"
#include "http/regex.h"

static int regex_compile(weir_route_conf_t *r, const char *pattern,
    int caseless, char *err, size_t errlen);
static size_t regex_literal_prefix(const weir_route_conf_t *r);
static int regex_caseless(const weir_route_conf_t *r);

/*
 * Pointers into `value` are kept (r->match), so the caller passes a string
 * that lives as long as the route: the config loader hands in an arena
 * copy.
 */
int
weir_route_match_parse(weir_route_conf_t *r, const char *value, char *err,
    size_t errlen)
{
    const char *p = value;
    int         caseless = 0;

    r->regex = NULL;
    if (p[0] == '/') {
        r->match_type = WEIR_MATCH_PREFIX;
    } else if (p[0] == '=' || p[0] == '~') {
        r->match_type = p[0] == '=' ? WEIR_MATCH_EXACT : WEIR_MATCH_REGEX;
        p++;
        if (r->match_type == WEIR_MATCH_REGEX && *p == '*') {
            caseless = 1;       /* "~* regex", as in nginx */
            p++;
        }
        if (*p != ' ' && *p != '\t') {
            snprintf(err, errlen, "expected a blank after \"%.*s\"",
                     (int) (p - value), value);
            return WEIR_ERROR;
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (r->match_type == WEIR_MATCH_EXACT && *p != '/') {
            snprintf(err, errlen, "exact match \"%s\" must start with '/'",
                     p);
            return WEIR_ERROR;
        }
        if (*p == '\0') {
            snprintf(err, errlen, "empty regex");
            return WEIR_ERROR;
        }
    } else {
        snprintf(err, errlen, "invalid match \"%s\": expected \"/prefix\", "
                 "\"= /exact\" or \"~ regex\"", value);
        return WEIR_ERROR;
    }
    r->match = (char *) p;
    r->match_len = strlen(p);
    if (r->match_type == WEIR_MATCH_REGEX) {
        return regex_compile(r, p, caseless, err, errlen);
    }
    return WEIR_OK;
}

static int
regex_compile(weir_route_conf_t *r, const char *pattern, int caseless,
    char *err, size_t errlen)
{
    pcre2_code  *re;
    int          errcode;
    PCRE2_SIZE   erroff;
    PCRE2_UCHAR  msg[256];

    re = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED,
                       caseless ? PCRE2_CASELESS : 0, &errcode, &erroff,
                       NULL);
    if (re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        snprintf(err, errlen, "regex error at offset %zu: %s",
                 (size_t) erroff, (const char *) msg);
        return WEIR_ERROR;
    }
#ifdef WEIR_HAVE_PCRE2_JIT
    /* A JIT failure (no executable memory, say) is not fatal: the
     * interpreter gives the same answers, only slower. */
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
#endif
    r->regex = re;
    return WEIR_OK;
}

void
weir_route_free(weir_route_conf_t *r)
{
    if (r->regex) {
        pcre2_code_free(r->regex);
        r->regex = NULL;
    }
}

int
weir_route_matches(const weir_route_conf_t *r, const char *path, size_t len)
{
    switch (r->match_type) {
    case WEIR_MATCH_PREFIX:
        return len >= r->match_len
               && memcmp(path, r->match, r->match_len) == 0;
    case WEIR_MATCH_EXACT:
        return len == r->match_len && memcmp(path, r->match, len) == 0;
    case WEIR_MATCH_REGEX:
        /* bounded: a hostile path costs about a millisecond at most */
        return weir_regex_match(r->regex, "route", r->name, "match",
                                r->match, path, len);
    default:
        return 0;
    }
}

weir_route_conf_t *
weir_route_find(const weir_server_conf_t *srv, const char *path, size_t len)
{
    size_t i;

    for (i = 0; i < srv->nroutes; i++) {
        if (weir_route_matches(srv->routes[i], path, len)) {
            return srv->routes[i];
        }
    }
    return NULL;
}

int
weir_route_select(const weir_server_conf_t *srv, const char *path,
    size_t len, weir_pool_t *pool, const weir_route_conf_t **out)
{
    const char *p, *end = path + len;
    char       *cut;
    size_t      n = 0;

    *out = weir_route_find(srv, path, len);
    if (memchr(path, ';', len) == NULL) {
        return WEIR_OK;
    }
    cut = weir_palloc(pool, len + 1);
    if (cut == NULL) {
        return WEIR_ERROR;
    }
    /* Each segment without what follows its first ';'; the segments this
     * leaves empty ("/;x/a") go too, as such origins merge the slashes. */
    for (p = path; p < end; p++) {
        if (*p == ';') {
            while (p + 1 < end && p[1] != '/') {
                p++;
            }
        } else if (!(*p == '/' && n > 0 && cut[n - 1] == '/')) {
            cut[n++] = *p;
        }
    }
    return weir_route_find(srv, cut, n) == *out ? WEIR_OK : WEIR_DECLINED;
}

int
weir_route_encoded_slash(const weir_server_conf_t *srv,
    const weir_route_conf_t *route, const char *path, size_t len,
    weir_pool_t *pool)
{
    char   *dec;
    size_t  i, n = 0;

    if (route == NULL || route->encoded_slash != WEIR_ENCODED_SLASH_PASS) {
        return WEIR_DECLINED;
    }
    dec = weir_palloc(pool, len + 1);
    if (dec == NULL) {
        return WEIR_ERROR;
    }
    /* Every "%2F" as a '/': also one that a "%25" spelled, which only
     * makes the comparison stricter. */
    for (i = 0; i < len; i++) {
        if (path[i] == '%' && len - i >= 3 && path[i + 1] == '2'
            && (path[i + 2] == 'F' || path[i + 2] == 'f')) {
            dec[n++] = '/';
            i += 2;
        } else {
            dec[n++] = path[i];
        }
    }
    dec[n] = '\0';
    return weir_route_find(srv, dec, n) == route ? WEIR_OK : WEIR_DECLINED;
}

/*
 * How many characters of a regex route's pattern (from its second one)
 * every path it matches starts with: "^/api/(v[0-9]+)/" gives 5, "/api/".
 * Conservative, for weir_route_covers(): 0 unless the pattern starts with
 * '^' and has no '|' anywhere (an alternation may escape the anchor);
 * the literal run stops at the first character with a meaning in a
 * pattern, and loses its last character when a quantifier that allows
 * zero repeats follows ("^/apix?" gives "/api").
 */
static size_t
regex_literal_prefix(const weir_route_conf_t *r)
{
    const char *p = r->match;

    if (p[0] != '^' || strchr(p, '|') != NULL) {
        return 0;
    }
    for (p++; *p && strchr("\\.[]()*+?{}^$", *p) == NULL; p++) {
        /* void */
    }
    if (p > r->match + 1 && (*p == '?' || *p == '*' || *p == '{')) {
        p--;
    }
    return (size_t) (p - r->match - 1);
}

/* Does the pattern of a regex route ignore case (~* or nothing)? */
static int
regex_caseless(const weir_route_conf_t *r)
{
    uint32_t opts = 0;

    if (r->regex == NULL
        || pcre2_pattern_info(r->regex, PCRE2_INFO_ARGOPTIONS, &opts) != 0)
    {
        return -1;
    }
    return (opts & PCRE2_CASELESS) != 0;
}

int
weir_route_covers(const weir_route_conf_t *a, const weir_route_conf_t *b)
{
    size_t      n, i;
    int         caseless;

    switch (a->match_type) {
    case WEIR_MATCH_PREFIX:
        if (b->match_type != WEIR_MATCH_REGEX) {
            return b->match_len >= a->match_len
                   && memcmp(b->match, a->match, a->match_len) == 0;
        }
        caseless = regex_caseless(b);
        if (caseless < 0) {
            return 0;
        }
        for (i = 0; caseless && i < a->match_len; i++) {
            if (isalpha((unsigned char) a->match[i])) {
                return 0;   /* "/API" would pass ~* ^/api, not /api */
            }
        }
        n = regex_literal_prefix(b);
        return n >= a->match_len
               && memcmp(b->match + 1, a->match, a->match_len) == 0;
    case WEIR_MATCH_EXACT:
        return b->match_type == WEIR_MATCH_EXACT
               && strcmp(a->match, b->match) == 0;
    case WEIR_MATCH_REGEX:
        if (b->match_type == WEIR_MATCH_EXACT) {
            /* one path: asking the regex is exact ("~ \.php$" before
             * "= /index.php") */
            return weir_route_matches(a, b->match, b->match_len);
        }
        return b->match_type == WEIR_MATCH_REGEX
               && strcmp(a->match, b->match) == 0
               && regex_caseless(a) == regex_caseless(b)
               && regex_caseless(a) >= 0;
    default:
        return 0;
    }
}

int
weir_route_allows(const weir_route_conf_t *r, const struct sockaddr *sa)
{
    if (r->ndeny && weir_cidr_match(r->deny_cidr, r->ndeny, sa)) {
        return 0;
    }
    return r->nallow == 0 || weir_cidr_match(r->allow_cidr, r->nallow, sa);
}
