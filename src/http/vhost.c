#include "weir_config.h"
#include "http/vhost.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event/listen.h"
#include "http/regex.h"

/*
 * The tables of one address. A name is stored lowercased and without a
 * trailing dot, in the form it is searched by:
 *   exact   "www.example.com"
 *   head    "*.example.com" and ".example.com" as ".example.com" (the
 *           latter with `bare`, so that "example.com" matches it too)
 *   tail    "www.example.*" as "www.example."
 * Each is sorted by (bytes, length) and searched by bisection; a lookup
 * tries the name's suffixes (head) from the longest and its prefixes
 * (tail) from the longest, so the first hit is the longest match.
 */

typedef struct vhost_entry_s {
    const char               *key;
    size_t                    len;
    const weir_server_conf_t *srv;
    const weir_server_name_t *sn;
    size_t                    seq;    /* file order, for reports */
    unsigned                  bare:1;
} vhost_entry_t;

typedef struct vhost_member_s {
    const weir_server_conf_t *srv;
    weir_listen_conf_t       *l;
} vhost_member_t;

struct weir_vhost_s {
    const weir_server_conf_t *dflt;
    const weir_listen_conf_t *listen;     /* the default's line */
    vhost_member_t           *members;    /* file order */
    size_t                    nmembers;
    vhost_entry_t            *exact, *head, *tail, *regex;
    size_t                    nexact, nhead, ntail, nregex;
};

static size_t vhost_normalise(const char *name, size_t len, char *out);
static const vhost_entry_t *vhost_search(const vhost_entry_t *t, size_t n,
    const char *key, size_t len);
static int vhost_entry_cmp(const void *a, const void *b);
static int vhost_key_cmp(const char *a, size_t alen, const char *b,
    size_t blen);
static void vhost_regex_free(void *data);
static int vhost_name_shape(const char *w, char *err, size_t errlen);
static int vhost_members(weir_vhost_t *vh, weir_http_conf_t *conf,
    size_t gi, const size_t *gidx, weir_pool_t *pool);
static void vhost_socket_check(weir_vhost_t *vh,
    weir_vhost_report_pt report, void *data, int *bad);
static int vhost_tables(weir_vhost_t *vh, weir_pool_t *pool,
    weir_vhost_report_pt report, void *data, int *bad);
static void vhost_dups(const weir_vhost_t *vh, const vhost_entry_t *t,
    size_t n, weir_vhost_report_pt report, void *data, int *bad);

/* ---- lookup ------------------------------------------------------------ */

/* name without port and trailing dot, lowercased, into out[1..] with
 * out[0] = '.' (so that out is also the ".name" form a bare head entry
 * is found by). The length at out + 1, or 0 when nothing can match
 * (empty, too long, an empty label). */
static size_t
vhost_normalise(const char *name, size_t len, char *out)
{
    const char *end;
    size_t      i;

    if (name == NULL || len == 0) {
        return 0;
    }
    if (name[0] == '[') {
        /* "[::1]:8080": the port follows the bracket */
        end = memchr(name, ']', len);
        len = end ? (size_t) (end - name) + 1 : len;
    } else if ((end = memchr(name, ':', len)) != NULL) {
        len = (size_t) (end - name);
    }
    if (len && name[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > WEIR_VHOST_NAME_MAX || name[0] == '.') {
        return 0;
    }
    /* An empty label ("a..b.test") names no host: the parser refuses it
     * in Host, and an SNI name has not been through the parser, so it
     * must not reach "*.b.test" here either. */
    for (i = 1; i < len; i++) {
        if (name[i] == '.' && name[i - 1] == '.') {
            return 0;
        }
    }
    out[0] = '.';
    for (i = 0; i < len; i++) {
        out[i + 1] = (char) tolower((unsigned char) name[i]);
    }
    out[len + 1] = '\0';
    return len;
}

static int
vhost_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen;
}

static const vhost_entry_t *
vhost_search(const vhost_entry_t *t, size_t n, const char *key, size_t len)
{
    size_t lo = 0, hi = n, mid;
    int    c;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = vhost_key_cmp(key, len, t[mid].key, t[mid].len);
        if (c == 0) {
            return &t[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

const weir_server_conf_t *
weir_vhost_match(const weir_vhost_t *vh, const char *name, size_t len)
{
    char                 buf[WEIR_VHOST_NAME_MAX + 2];
    const char          *n;
    const vhost_entry_t *e;
    size_t               nlen, i;

    if (vh == NULL
        || vh->nexact + vh->nhead + vh->ntail + vh->nregex == 0) {
        return NULL;    /* no names on this address: nothing to look at */
    }
    nlen = vhost_normalise(name, len, buf);
    if (nlen == 0) {
        return NULL;
    }
    n = buf + 1;
    if ((e = vhost_search(vh->exact, vh->nexact, n, nlen)) != NULL) {
        return e->srv;
    }
    /* Leading wildcards, longest first: ".example.com" (bare entries
     * only), then the suffix at each dot from the left. */
    for (i = 0; vh->nhead && i < nlen; i++) {
        if (buf[i] != '.') {
            continue;
        }
        e = vhost_search(vh->head, vh->nhead, buf + i, nlen + 1 - i);
        if (e && (i > 0 || e->bare)) {
            return e->srv;
        }
    }
    /* Trailing wildcards, longest first: the prefix through each dot from
     * the right. */
    for (i = nlen; vh->ntail && i > 0; i--) {
        if (n[i - 1] == '.'
            && (e = vhost_search(vh->tail, vh->ntail, n, i)) != NULL) {
            return e->srv;
        }
    }
    /* bounded: a hostile Host or SNI name costs about a millisecond at
     * most per regex (http/regex.h) */
    for (i = 0; i < vh->nregex; i++) {
        if (weir_regex_match(vh->regex[i].sn->regex, "server",
                             vh->regex[i].srv->name, "server_name",
                             vh->regex[i].sn->name, n, nlen)) {
            return vh->regex[i].srv;
        }
    }
    return NULL;
}

const weir_server_conf_t *
weir_vhost_find(const weir_vhost_t *vh, const char *name, size_t len)
{
    const weir_server_conf_t *s = weir_vhost_match(vh, name, len);

    return s ? s : weir_vhost_default(vh);
}

const weir_server_conf_t *
weir_vhost_default(const weir_vhost_t *vh)
{
    return vh ? vh->dflt : NULL;
}

size_t
weir_vhost_count(const weir_vhost_t *vh)
{
    return vh ? vh->nmembers : 0;
}

const weir_server_conf_t *
weir_vhost_server(const weir_vhost_t *vh, size_t i)
{
    return vh && i < vh->nmembers ? vh->members[i].srv : NULL;
}

const weir_listen_conf_t *
weir_vhost_listen(const weir_vhost_t *vh)
{
    return vh ? vh->listen : NULL;
}

/* ---- names ------------------------------------------------------------- */

static void
vhost_regex_free(void *data)
{
    pcre2_code_free(data);
}

/* A host name, "*." + name, "." + name or name + ".*", where name is
 * labels of letters, digits, '-' and '_' joined by single dots; or an
 * IPv6 literal in brackets. */
static int
vhost_name_shape(const char *w, char *err, size_t errlen)
{
    size_t      len = strlen(w);
    const char *p, *end;

    if (len > WEIR_VHOST_NAME_MAX) {
        snprintf(err, errlen, "name longer than %d characters",
                 WEIR_VHOST_NAME_MAX);
        return WEIR_ERROR;
    }
    if (w[0] == '[') {
        if (len < 3 || w[len - 1] != ']'
            || strspn(w + 1, "0123456789abcdefABCDEF:.") != len - 2) {
            snprintf(err, errlen, "invalid IPv6 literal \"%s\"", w);
            return WEIR_ERROR;
        }
        return WEIR_OK;
    }
    p = w;
    end = w + len;
    if (len >= 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
    } else if (p[0] == '.') {
        p++;
    } else if (len >= 2 && end[-1] == '*' && end[-2] == '.') {
        end -= 2;
    }
    if (end > p && end[-1] == '.' && end == w + len) {
        end--;                  /* "example.com.": the root's dot */
    }
    if (p == end) {
        snprintf(err, errlen, "\"%s\" names no host", w);
        return WEIR_ERROR;
    }
    if (*p == '.') {
        snprintf(err, errlen, "invalid host name \"%s\"", w);
        return WEIR_ERROR;
    }
    for (; p < end; p++) {
        if (*p == '*') {
            snprintf(err, errlen, "\"%s\": '*' may only be a whole first "
                     "or last label (*.example.com, www.example.*); use "
                     "\"~regex\" for more", w);
            return WEIR_ERROR;
        }
        if (*p == '.' ? p[1] == '.' || p + 1 == end
                      : !(isalnum((unsigned char) *p) || *p == '-'
                          || *p == '_')) {
            snprintf(err, errlen, "invalid host name \"%s\"", w);
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

int
weir_vhost_name_parse(weir_pool_t *pool, weir_server_name_t *sn, char *word,
    char *err, size_t errlen)
{
    pcre2_code *re;
    int         errcode;
    PCRE2_SIZE  erroff;
    PCRE2_UCHAR msg[256];

    sn->name = word;
    sn->regex = NULL;
    if (word[0] != '~') {
        return vhost_name_shape(word, err, errlen);
    }
    if (word[1] == '\0') {
        snprintf(err, errlen, "empty regex after '~'");
        return WEIR_ERROR;
    }
    re = pcre2_compile((PCRE2_SPTR) word + 1, PCRE2_ZERO_TERMINATED,
                       PCRE2_CASELESS, &errcode, &erroff, NULL);
    if (re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        snprintf(err, errlen, "regex \"%s\": error at offset %zu: %s",
                 word + 1, (size_t) erroff, (const char *) msg);
        return WEIR_ERROR;
    }
    if (weir_pool_cleanup_add(pool, vhost_regex_free, re) != WEIR_OK) {
        pcre2_code_free(re);
        snprintf(err, errlen, "out of memory");
        return WEIR_ERROR;
    }
#ifdef WEIR_HAVE_PCRE2_JIT
    /* Not fatal: the interpreter gives the same answers. */
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
#endif
    sn->regex = re;
    return WEIR_OK;
}

/* ---- building ---------------------------------------------------------- */

/* Give each listen line its group index (the first line with an equal
 * address), then build each group. Quadratic in listen lines, once per
 * load: a file has tens of them, not thousands. */
int
weir_vhost_build(weir_http_conf_t *conf, weir_pool_t *pool,
    weir_vhost_report_pt report, void *data)
{
    size_t              total = 0, i, j, k, m, pos, ngroups = 0;
    size_t             *gidx;
    weir_listen_conf_t **lines;
    weir_vhost_t       *vh;
    int                 bad = 0;

    for (i = 0; i < conf->nservers; i++) {
        total += conf->servers[i]->nlistens;
    }
    gidx = weir_palloc(pool, (total + 1) * sizeof(*gidx));
    lines = weir_palloc(pool, (total + 1) * sizeof(*lines));
    conf->vhosts = weir_pcalloc(pool, (total + 1) * sizeof(*conf->vhosts));
    if (gidx == NULL || lines == NULL || conf->vhosts == NULL) {
        return WEIR_ERROR;
    }
    pos = 0;
    for (i = 0; i < conf->nservers; i++) {
        for (j = 0; j < conf->servers[i]->nlistens; j++) {
            weir_listen_conf_t *l = &conf->servers[i]->listens[j];
            for (k = 0; k < pos; k++) {
                if (weir_sockaddr_equal((struct sockaddr *) &l->addr,
                                        l->addrlen,
                                        (struct sockaddr *) &lines[k]->addr,
                                        lines[k]->addrlen)) {
                    break;
                }
            }
            gidx[pos] = k < pos ? gidx[k] : ngroups++;
            lines[pos++] = l;
        }
    }
    conf->nvhosts = ngroups;
    for (m = 0; m < ngroups; m++) {
        vh = weir_pcalloc(pool, sizeof(*vh));
        if (vh == NULL || vhost_members(vh, conf, m, gidx, pool) != WEIR_OK)
        {
            return WEIR_ERROR;
        }
        conf->vhosts[m] = vh;
        vhost_socket_check(vh, report, data, &bad);
        if (vhost_tables(vh, pool, report, data, &bad) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    return bad ? WEIR_ERROR : WEIR_OK;
}

/* The servers with a line in group gi, in file order (a server that lists
 * the address twice counts once: the loader refuses that elsewhere), and
 * the default: the first `default_server` line, else the first server. */
static int
vhost_members(weir_vhost_t *vh, weir_http_conf_t *conf, size_t gi,
    const size_t *gidx, weir_pool_t *pool)
{
    size_t i, j, pos = 0, n = 0;

    for (i = 0; i < conf->nservers; i++) {
        n += conf->servers[i]->nlistens;
    }
    vh->members = weir_palloc(pool, (n + 1) * sizeof(*vh->members));
    if (vh->members == NULL) {
        return WEIR_ERROR;
    }
    for (i = 0; i < conf->nservers; i++) {
        weir_server_conf_t *s = conf->servers[i];
        int                 seen = 0;
        for (j = 0; j < s->nlistens; j++, pos++) {
            if (gidx[pos] != gi) {
                continue;
            }
            s->listens[j].vhost = vh;
            if (!seen) {
                vh->members[vh->nmembers].srv = s;
                vh->members[vh->nmembers++].l = &s->listens[j];
                seen = 1;
            }
        }
    }
    for (i = 0; i < vh->nmembers && !vh->dflt; i++) {
        if (vh->members[i].l->default_server) {
            vh->dflt = vh->members[i].srv;
            vh->listen = vh->members[i].l;
        }
    }
    if (vh->dflt == NULL) {
        vh->dflt = vh->members[0].srv;
        vh->listen = vh->members[0].l;
    }
    ((weir_listen_conf_t *) vh->listen)->is_default = 1;
    return WEIR_OK;
}

/* What belongs to the socket must be the same on every server's line:
 * one socket serves them all, and which server a request is for is known
 * only after the PROXY header and the TLS handshake. */
static void
vhost_socket_check(weir_vhost_t *vh, weir_vhost_report_pt report,
    void *data, int *bad)
{
    const weir_listen_conf_t *d = vh->listen, *l;
    char                      msg[512];
    size_t                    i;

    for (i = 0; i < vh->nmembers; i++) {
        l = vh->members[i].l;
        if (l == d) {
            continue;
        }
        if (l->default_server) {
            snprintf(msg, sizeof(msg), "%s: [server %s] at line %d is "
                     "already the default server for this address",
                     l->text, vh->dflt->name, d->line);
            report(data, vh->members[i].srv, l->line, "listen", msg);
            *bad = 1;
        }
        if (l->tls != d->tls || l->proxy_protocol != d->proxy_protocol
            || l->backlog != d->backlog) {
            snprintf(msg, sizeof(msg), "%s%s%s backlog=%d differs from "
                     "\"%s%s%s backlog=%d\" of [server %s] at line %d: "
                     "servers sharing an address share its socket, so "
                     "tls, proxy_protocol and backlog must agree",
                     l->text, l->tls ? " tls" : "",
                     l->proxy_protocol ? " proxy_protocol" : "",
                     l->backlog, d->text, d->tls ? " tls" : "",
                     d->proxy_protocol ? " proxy_protocol" : "",
                     d->backlog, vh->dflt->name, d->line);
            report(data, vh->members[i].srv, l->line, "listen", msg);
            *bad = 1;
        }
    }
}

static int
vhost_entry_cmp(const void *a, const void *b)
{
    const vhost_entry_t *x = a, *y = b;
    int                  c = vhost_key_cmp(x->key, x->len, y->key, y->len);

    if (c != 0) {
        return c;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Fill and sort the four tables of vh from its members' names. */
static int
vhost_tables(weir_vhost_t *vh, weir_pool_t *pool,
    weir_vhost_report_pt report, void *data, int *bad)
{
    size_t                    i, j, n = 0, seq = 0, len;
    const weir_server_name_t *sn;
    vhost_entry_t             e;
    char                     *key, msg[512];

    for (i = 0; i < vh->nmembers; i++) {
        n += vh->members[i].srv->nserver_names;
    }
    vh->exact = weir_palloc(pool, (n + 1) * sizeof(e));
    vh->head = weir_palloc(pool, (n + 1) * sizeof(e));
    vh->tail = weir_palloc(pool, (n + 1) * sizeof(e));
    vh->regex = weir_palloc(pool, (n + 1) * sizeof(e));
    if (!vh->exact || !vh->head || !vh->tail || !vh->regex) {
        return WEIR_ERROR;
    }
    for (i = 0; i < vh->nmembers; i++) {
        const weir_server_conf_t *s = vh->members[i].srv;
        for (j = 0; j < s->nserver_names; j++) {
            sn = &s->server_names[j];
            memset(&e, 0, sizeof(e));
            e.srv = s;
            e.sn = sn;
            e.seq = seq++;
            if (sn->regex) {
                e.key = sn->name;
                e.len = strlen(sn->name);
                vh->regex[vh->nregex++] = e;
                continue;
            }
            len = strlen(sn->name);
            key = weir_palloc(pool, len + 2);
            if (key == NULL) {
                return WEIR_ERROR;
            }
            /* vhost_normalise() writes '.' + name: "*.x" and ".x" are
             * searched as ".x", "x.*" as "x.", "x" as "x". */
            if (sn->name[0] == '*' || sn->name[0] == '.') {
                e.bare = sn->name[0] == '.';
                e.key = key;
                e.len = vhost_normalise(sn->name + 1 + !e.bare,
                                        len - 1 - !e.bare, key) + 1;
                vh->head[vh->nhead++] = e;
            } else if (sn->name[len - 1] == '*') {
                e.key = key + 1;
                e.len = vhost_normalise(sn->name, len - 2, key) + 1;
                key[e.len] = '.';
                key[e.len + 1] = '\0';
                vh->tail[vh->ntail++] = e;
            } else {
                e.key = key + 1;
                e.len = vhost_normalise(sn->name, len, key);
                vh->exact[vh->nexact++] = e;
            }
        }
    }
    qsort(vh->exact, vh->nexact, sizeof(e), vhost_entry_cmp);
    qsort(vh->head, vh->nhead, sizeof(e), vhost_entry_cmp);
    qsort(vh->tail, vh->ntail, sizeof(e), vhost_entry_cmp);
    vhost_dups(vh, vh->exact, vh->nexact, report, data, bad);
    vhost_dups(vh, vh->head, vh->nhead, report, data, bad);
    vhost_dups(vh, vh->tail, vh->ntail, report, data, bad);
    /* The same pattern twice: the second could never be chosen. */
    for (i = 1; i < vh->nregex; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(vh->regex[i].key, vh->regex[j].key) != 0) {
                continue;
            }
            snprintf(msg, sizeof(msg), "\"%s\" is also claimed by "
                     "[server %s] at line %d on %s", vh->regex[i].key,
                     vh->regex[j].srv->name, vh->regex[j].sn->line,
                     vh->listen->text);
            report(data, vh->regex[i].srv, vh->regex[i].sn->line,
                   "server_name", msg);
            *bad = 1;
            break;
        }
    }
    return WEIR_OK;
}

/* Equal keys sit together after the sort, in file order: each later one
 * is reported against the first. "*.example.com" and ".example.com"
 * share a key, and so collide as they should. */
static void
vhost_dups(const weir_vhost_t *vh, const vhost_entry_t *t, size_t n,
    weir_vhost_report_pt report, void *data, int *bad)
{
    size_t i, first = 0;
    char   msg[512];

    for (i = 1; i < n; i++) {
        if (vhost_key_cmp(t[i].key, t[i].len, t[first].key, t[first].len)
            != 0) {
            first = i;
            continue;
        }
        if (t[i].srv == t[first].srv) {
            snprintf(msg, sizeof(msg), "\"%s\" is listed twice (also at "
                     "line %d)", t[i].sn->name, t[first].sn->line);
        } else {
            snprintf(msg, sizeof(msg), "\"%s\" is also claimed by "
                     "[server %s] at line %d on %s", t[i].sn->name,
                     t[first].srv->name, t[first].sn->line,
                     vh->listen->text);
        }
        report(data, t[i].srv, t[i].sn->line, "server_name", msg);
        *bad = 1;
    }
}
