#include "weir_config.h"
#include "cache/cache_policy.h"

#include <string.h>
#include <strings.h>
#include <time.h>
#include "core/wtime.h"
#include "http/request.h"

/*
 * The caching rules of a shared cache, RFC 9111 and RFC 5861, as pure
 * functions: header lists and times in, decisions out. Whenever the RFCs
 * leave a choice ("either the first occurrence should be used or the
 * response should be considered stale"), weir takes the one that serves
 * less from the cache: a needless revalidation costs a round trip, a
 * wrong hit hands out a response nobody should have seen.
 */

/* the heuristic lifetime never exceeds a day (RFC 9111 4.2.2 leaves the
 * cap to the cache; a day is what the RFC's own example warns past) */
#define WEIR_CACHE_HEURISTIC_MAX  86400

enum cc_directive {
    CC_UNKNOWN = 0, CC_NO_STORE, CC_NO_CACHE, CC_PRIVATE, CC_PUBLIC,
    CC_MUST_REVALIDATE, CC_PROXY_REVALIDATE, CC_MUST_UNDERSTAND,
    CC_NO_TRANSFORM, CC_ONLY_IF_CACHED, CC_IMMUTABLE, CC_MAX_AGE,
    CC_S_MAXAGE, CC_MAX_STALE, CC_MIN_FRESH, CC_SWR, CC_SIE
};

/* One list member "name[=value]" cut out of a field value. */
typedef struct cc_member_s {
    const char *name;
    size_t      name_len;
    const char *value;        /* token, or the inside of the quotes */
    size_t      value_len;
    unsigned    has_value:1;
    unsigned    quoted:1;
    unsigned    malformed:1;  /* syntax the grammar does not allow */
} cc_member_t;

static int policy_name_is(const weir_http_header_t *h, const char *name);
static const weir_http_header_t *policy_find(const weir_http_header_t *hs,
    size_t n, const char *name);
static int policy_list_next(const char **pos, const char *end,
    const char **m, size_t *mlen);
static int policy_list_has(const weir_http_header_t *hs, size_t n,
    const char *name, const char *token);
static void cc_parse_field(const char *p, size_t len, weir_cache_cc_t *cc);
static void cc_split_member(const char *p, size_t len, cc_member_t *m);
static enum cc_directive cc_lookup(const char *name, size_t len);
static void cc_apply(const cc_member_t *m, weir_cache_cc_t *cc);
static int64_t cc_delta(const cc_member_t *m);
static void cc_merge_delta(int64_t *field, int64_t v);
static int64_t policy_delta(const char *p, size_t len);
static int policy_is_tchar(unsigned char ch);
static void policy_meta_fields(const weir_http_header_t *resp, size_t nresp,
    weir_cache_meta_t *meta);
static const char *policy_refusal(int method, int status,
    const weir_cache_cc_t *rq, const weir_cache_cc_t *rs,
    const weir_http_header_t *req, size_t nreq,
    const weir_http_header_t *resp, size_t nresp);
static const char *policy_freshness(const weir_cache_rules_t *rules,
    int status, const weir_cache_cc_t *rs, const weir_http_header_t *resp,
    size_t nresp, weir_cache_meta_t *meta);
static int64_t policy_expires(const weir_http_header_t *resp, size_t nresp,
    int64_t date);
static void policy_windows(const weir_cache_rules_t *rules,
    const weir_cache_cc_t *rs, weir_cache_meta_t *meta);
static int policy_default_cacheable(int status);
static int64_t policy_lifetime(int64_t delta);
static int64_t policy_max(int64_t a, int64_t b);


/* Cache-Control parsing --------------------------------------------------- */

void
weir_cache_cc_parse(const weir_http_header_t *hs, size_t n,
    weir_cache_cc_t *cc)
{
    size_t i;
    int    seen = 0;

    memset(cc, 0, sizeof(*cc));
    cc->max_age = WEIR_CACHE_ABSENT;
    cc->s_maxage = WEIR_CACHE_ABSENT;
    cc->max_stale = WEIR_CACHE_ABSENT;
    cc->min_fresh = WEIR_CACHE_ABSENT;
    cc->stale_while_revalidate = WEIR_CACHE_ABSENT;
    cc->stale_if_error = WEIR_CACHE_ABSENT;

    /* every line is one more piece of the same comma-separated list (RFC
     * 9110 5.3); a quoted string cannot span two lines, so parsing the
     * lines one by one equals parsing them joined */
    for (i = 0; i < n; i++) {
        if (policy_name_is(&hs[i], "Cache-Control")) {
            seen = 1;
            cc_parse_field(hs[i].value, hs[i].value_len, cc);
        }
    }

    /* RFC 9111 5.4: Pragma is only the HTTP/1.0 spelling of no-cache, and
     * Cache-Control, when present, says everything */
    if (!seen && policy_list_has(hs, n, "Pragma", "no-cache")) {
        cc->no_cache = 1;
    }
}


static void
cc_parse_field(const char *p, size_t len, weir_cache_cc_t *cc)
{
    const char  *pos = p, *mp;
    size_t       mlen;
    cc_member_t  m;

    while (policy_list_next(&pos, p + len, &mp, &mlen)) {
        cc_split_member(mp, mlen, &m);
        if (m.name_len > 0) {
            cc_apply(&m, cc);
        }
    }
}


/* cache-directive = token [ "=" ( token / quoted-string ) ] (RFC 9111
 * 5.2). The member arrives trimmed of OWS. Anything else marks it
 * malformed rather than dropping it: a mangled max-age must still make the
 * response stale, and a mangled no-store must still forbid storing. */
static void
cc_split_member(const char *p, size_t len, cc_member_t *m)
{
    size_t i = 0, j;

    memset(m, 0, sizeof(*m));
    while (i < len && policy_is_tchar((unsigned char) p[i])) {
        i++;
    }
    m->name = p;
    m->name_len = i;
    if (i == len) {
        return;
    }
    if (p[i] != '=') {
        m->malformed = 1;
        return;
    }
    m->has_value = 1;
    i++;
    if (i < len && p[i] == '"') {
        m->quoted = 1;
        m->value = p + i + 1;
        for (j = i + 1; j < len && p[j] != '"'; j++) {
            if (p[j] == '\\') {
                j++;
            }
        }
        /* the closing quote must end the member */
        if (j >= len || j + 1 != len) {
            m->malformed = 1;
            m->value_len = 0;
            return;
        }
        m->value_len = j - (i + 1);
        return;
    }
    m->value = p + i;
    m->value_len = len - i;
    for (j = i; j < len; j++) {
        if (!policy_is_tchar((unsigned char) p[j])) {
            m->malformed = 1;
            return;
        }
    }
}


static enum cc_directive
cc_lookup(const char *name, size_t len)
{
    static const struct {
        const char        *name;
        enum cc_directive  id;
    } names[] = {
        { "no-store", CC_NO_STORE },
        { "no-cache", CC_NO_CACHE },
        { "private", CC_PRIVATE },
        { "public", CC_PUBLIC },
        { "must-revalidate", CC_MUST_REVALIDATE },
        { "proxy-revalidate", CC_PROXY_REVALIDATE },
        { "must-understand", CC_MUST_UNDERSTAND },
        { "no-transform", CC_NO_TRANSFORM },
        { "only-if-cached", CC_ONLY_IF_CACHED },
        { "immutable", CC_IMMUTABLE },
        { "max-age", CC_MAX_AGE },
        { "s-maxage", CC_S_MAXAGE },
        { "max-stale", CC_MAX_STALE },
        { "min-fresh", CC_MIN_FRESH },
        { "stale-while-revalidate", CC_SWR },
        { "stale-if-error", CC_SIE },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == len
            && strncasecmp(names[i].name, name, len) == 0)
        {
            return names[i].id;
        }
    }
    return CC_UNKNOWN;
}


/* Directives that restrict (no-store, no-cache, private, must-revalidate,
 * ...) take effect whatever follows their name: "no-store=1" is a broken
 * no-store, not an absent one, and the qualified forms no-cache="f" and
 * private="f" restrict the whole response because the cache does not
 * strip fields. Directives that grant (public, immutable,
 * must-understand, which lets no-store be ignored) count only in their
 * exact bare form. */
static void
cc_apply(const cc_member_t *m, weir_cache_cc_t *cc)
{
    unsigned bare = !m->has_value && !m->malformed;

    switch (cc_lookup(m->name, m->name_len)) {
    case CC_NO_STORE:
        cc->no_store = 1;
        break;
    case CC_NO_CACHE:
        cc->no_cache = 1;
        break;
    case CC_PRIVATE:
        cc->private_ = 1;
        break;
    case CC_MUST_REVALIDATE:
        cc->must_revalidate = 1;
        break;
    case CC_PROXY_REVALIDATE:
        cc->proxy_revalidate = 1;
        break;
    case CC_NO_TRANSFORM:
        cc->no_transform = 1;
        break;
    case CC_ONLY_IF_CACHED:
        cc->only_if_cached = 1;
        break;
    case CC_PUBLIC:
        cc->public_ |= bare;
        break;
    case CC_IMMUTABLE:
        cc->immutable |= bare;
        break;
    case CC_MUST_UNDERSTAND:
        cc->must_understand |= bare;
        break;
    case CC_MAX_AGE:
        cc_merge_delta(&cc->max_age, cc_delta(m));
        break;
    case CC_S_MAXAGE:
        cc_merge_delta(&cc->s_maxage, cc_delta(m));
        break;
    case CC_MIN_FRESH:
        cc_merge_delta(&cc->min_fresh, cc_delta(m));
        break;
    case CC_SWR:
        cc_merge_delta(&cc->stale_while_revalidate, cc_delta(m));
        break;
    case CC_SIE:
        cc_merge_delta(&cc->stale_if_error, cc_delta(m));
        break;
    case CC_MAX_STALE:
        /* a bare max-stale accepts any staleness (RFC 9111 5.2.1.2) */
        cc_merge_delta(&cc->max_stale,
                       bare ? WEIR_CACHE_DELTA_MAX : cc_delta(m));
        break;
    case CC_UNKNOWN:
        /* extensions we do not know are ignored (RFC 9111 5.2.3) */
        break;
    }
}


/* The seconds of a delta-seconds directive. The quoted form is not in
 * the grammar but RFC 9111 5.2 asks recipients to accept it. */
static int64_t
cc_delta(const cc_member_t *m)
{
    if (!m->has_value || m->malformed) {
        return WEIR_CACHE_INVALID;
    }
    return policy_delta(m->value, m->value_len);
}


/* RFC 9111 4.2.1: with one directive given twice, "either the first
 * occurrence should be used or the response should be considered stale";
 * weir takes stale, since it cannot tell which one the origin meant. An
 * identical repeat is no conflict. */
static void
cc_merge_delta(int64_t *field, int64_t v)
{
    if (*field == WEIR_CACHE_ABSENT) {
        *field = v;
    } else if (*field != v) {
        *field = WEIR_CACHE_INVALID;
    }
}


/* delta-seconds = 1*DIGIT; anything else, empty included, is invalid. A
 * value past WEIR_CACHE_DELTA_MAX is taken as it (RFC 9111 1.2.2): stop
 * accumulating there, so no number of digits overflows. */
static int64_t
policy_delta(const char *p, size_t len)
{
    int64_t v = 0;
    size_t  i;

    if (len == 0) {
        return WEIR_CACHE_INVALID;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return WEIR_CACHE_INVALID;
        }
        if (v < WEIR_CACHE_DELTA_MAX) {
            v = v * 10 + (p[i] - '0');
        }
    }
    return v < WEIR_CACHE_DELTA_MAX ? v : WEIR_CACHE_DELTA_MAX;
}


/* Header helpers ---------------------------------------------------------- */

static int
policy_name_is(const weir_http_header_t *h, const char *name)
{
    size_t len = strlen(name);

    return h->name_len == len && strncasecmp(h->name, name, len) == 0;
}


/* The first line named `name`: the singleton fields (Date, Age,
 * Last-Modified) use the first occurrence, as RFC 9111 5.1 says for Age. */
static const weir_http_header_t *
policy_find(const weir_http_header_t *hs, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (policy_name_is(&hs[i], name)) {
            return &hs[i];
        }
    }
    return NULL;
}


/* The next non-empty member of a comma-separated list at *pos, trimmed of
 * OWS; commas inside a quoted string do not split (no-cache="a, b"). An
 * unterminated quote runs to the end, where the member parser sees it
 * unclosed. Returns 0 at the end of the list. */
static int
policy_list_next(const char **pos, const char *end, const char **m,
    size_t *mlen)
{
    const char *p = *pos, *start, *last;
    int         quoted;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p == end) {
            break;
        }
        start = p;
        quoted = 0;
        for (; p < end; p++) {
            if (quoted && *p == '\\' && p + 1 < end) {
                p++;
            } else if (*p == '"') {
                quoted = !quoted;
            } else if (!quoted && *p == ',') {
                break;
            }
        }
        last = p;
        while (last > start && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }
        *pos = p;
        *m = start;
        *mlen = (size_t) (last - start);
        return 1;
    }
    *pos = end;
    return 0;
}


/* Does any line named `name` list the bare token `token`? */
static int
policy_list_has(const weir_http_header_t *hs, size_t n, const char *name,
    const char *token)
{
    const char *pos, *end, *mp;
    size_t      i, mlen, tlen = strlen(token);

    for (i = 0; i < n; i++) {
        if (!policy_name_is(&hs[i], name)) {
            continue;
        }
        pos = hs[i].value;
        end = hs[i].value + hs[i].value_len;
        while (policy_list_next(&pos, end, &mp, &mlen)) {
            if (mlen == tlen && strncasecmp(mp, token, tlen) == 0) {
                return 1;
            }
        }
    }
    return 0;
}


static int
policy_is_tchar(unsigned char ch)
{
    /* RFC 9110 5.6.2 tchar */
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
           || (ch >= 'A' && ch <= 'Z')
           || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}


/* Dates ------------------------------------------------------------------- */

/* One parser for every HTTP-date in weir: core/wtime.c's, which
 * conditional requests already use, so a date a 304 accepts is a date the
 * cache accepts. */
int64_t
weir_cache_parse_date(const char *s, size_t len)
{
    time_t t;

    if (s == NULL) {
        return WEIR_CACHE_ABSENT;
    }
    t = weir_time_parse_http(s, len);
    return t == (time_t) -1 ? WEIR_CACHE_ABSENT : (int64_t) t;
}


/* Storing ----------------------------------------------------------------- */

void
weir_cache_storable(const weir_cache_rules_t *rules, int method,
    int status, const weir_http_header_t *req, size_t nreq,
    const weir_http_header_t *resp, size_t nresp, int64_t request_time,
    int64_t response_time, weir_cache_meta_t *meta,
    weir_cache_verdict_t *v)
{
    weir_cache_cc_t  rq, rs;
    const char      *why;

    memset(meta, 0, sizeof(*meta));
    meta->request_time = request_time;
    meta->response_time = response_time;
    policy_meta_fields(resp, nresp, meta);

    weir_cache_cc_parse(req, nreq, &rq);
    weir_cache_cc_parse(resp, nresp, &rs);

    meta->no_cache = rs.no_cache;
    /* s-maxage implies proxy-revalidate for a shared cache (RFC 9111
     * 5.2.2.10); an invalid one too: the origin meant to speak to us */
    meta->no_stale = rs.must_revalidate || rs.proxy_revalidate
                     || rs.s_maxage != WEIR_CACHE_ABSENT;

    /* the freshness is worked out even for a refused response, so the
     * caller can log and report what it would have been */
    why = policy_freshness(rules, status, &rs, resp, nresp, meta);
    policy_windows(rules, &rs, meta);

    v->not_stored = policy_refusal(method, status, &rq, &rs, req, nreq,
                                   resp, nresp);
    if (v->not_stored == NULL) {
        v->not_stored = why;
    }
}


/* Date, Age and Last-Modified as the age and heuristic rules need them. */
static void
policy_meta_fields(const weir_http_header_t *resp, size_t nresp,
    weir_cache_meta_t *meta)
{
    const weir_http_header_t *h;
    const char               *pos, *mp;
    size_t                    mlen;
    int64_t                   t;

    /* no usable Date: the origin's clock is unknown, take ours at the
     * response's arrival (RFC 9110 6.6.1 lets a recipient add one) */
    meta->date = meta->response_time;
    h = policy_find(resp, nresp, "Date");
    if (h != NULL) {
        t = weir_cache_parse_date(h->value, h->value_len);
        if (t != WEIR_CACHE_ABSENT) {
            meta->date = t;
        }
    }

    /* RFC 9111 5.1: the first member of a list-valued Age is used, and an
     * invalid value is ignored (age_value 0); a huge one is DELTA_MAX,
     * which makes the response stale, as it surely is */
    meta->age_value = 0;
    h = policy_find(resp, nresp, "Age");
    if (h != NULL) {
        pos = h->value;
        if (policy_list_next(&pos, h->value + h->value_len, &mp, &mlen)) {
            t = policy_delta(mp, mlen);
            if (t >= 0) {
                meta->age_value = t;
            }
        }
    }

    meta->last_modified = WEIR_CACHE_ABSENT;
    h = policy_find(resp, nresp, "Last-Modified");
    if (h != NULL) {
        meta->last_modified = weir_cache_parse_date(h->value, h->value_len);
    }
}


/* The reasons a response is never stored, whatever its freshness, in the
 * order they are reported (the first that applies). */
static const char *
policy_refusal(int method, int status, const weir_cache_cc_t *rq,
    const weir_cache_cc_t *rs, const weir_http_header_t *req, size_t nreq,
    const weir_http_header_t *resp, size_t nresp)
{
    int understood;

    /* only GET and HEAD responses are stored: the cache key names no
     * request body (RFC 9111 2 lets a cache define others; weir does not) */
    if (method != WEIR_HTTP_GET && method != WEIR_HTTP_HEAD) {
        return "method";
    }
    /* 1xx (101 included) are not final; 206 is a part and 304 an update
     * of a stored response, and the cache stores whole representations;
     * outside 100..599 is not HTTP */
    if (status < 200 || status > 599 || status == 206 || status == 304) {
        return "status";
    }

    /* RFC 9111 5.2.2.3: a cache that implements must-understand stores
     * the response only when it knows the status code's caching rules, and
     * then ignores no-store. "Knows" here is the default-cacheable set,
     * the statuses RFC 9110 15.1 gives caching semantics to. */
    understood = policy_default_cacheable(status);
    if (rs->must_understand && !understood) {
        return "must-understand";
    }
    if (rq->no_store || (rs->no_store && !rs->must_understand)) {
        return "no-store";
    }
    if (rs->private_) {
        return "private";
    }
    /* RFC 9111 3.5: a response to an authenticated request is one user's,
     * unless the origin says a shared cache may keep it */
    if (policy_find(req, nreq, "Authorization") != NULL && !rs->public_
        && rs->s_maxage == WEIR_CACHE_ABSENT && !rs->must_revalidate)
    {
        return "authorization";
    }
    /* a cookie set for one user would be handed to every next one; not
     * an RFC rule but every shared cache's (the origin can say private,
     * but rarely does) */
    if (policy_find(resp, nresp, "Set-Cookie") != NULL) {
        return "set-cookie";
    }
    /* Vary: * never matches a later request (RFC 9111 4.1) */
    if (policy_list_has(resp, nresp, "Vary", "*")) {
        return "vary-star";
    }
    return NULL;
}


/* The freshness lifetime (RFC 9111 4.2.1), or the reason there is none
 * the cache may use. */
static const char *
policy_freshness(const weir_cache_rules_t *rules, int status,
    const weir_cache_cc_t *rs, const weir_http_header_t *resp, size_t nresp,
    weir_cache_meta_t *meta)
{
    int64_t v;

    /* explicit freshness, in the RFC's order. An invalid s-maxage or
     * max-age makes the response stale, not unstorable: it can still be
     * stored and revalidated (RFC 9111 4.2.1 "encouraged to consider ...
     * stale"). Once a directive is there, Expires is ignored even when
     * the directive is broken (RFC 9111 5.3). */
    if (rs->s_maxage != WEIR_CACHE_ABSENT) {
        meta->fresh_for = policy_lifetime(rs->s_maxage);
        return NULL;
    }
    if (rs->max_age != WEIR_CACHE_ABSENT) {
        meta->fresh_for = policy_lifetime(rs->max_age);
        return NULL;
    }
    if (policy_find(resp, nresp, "Expires") != NULL) {
        meta->fresh_for = policy_expires(resp, nresp, meta->date);
        return NULL;
    }

    /* Without explicit freshness only the statuses cacheable by default
     * are stored (RFC 9111 3). RFC 9111 5.2.2.9 would let "public" make
     * any status heuristically cacheable; weir does not, so an error page
     * marked public by a careless framework is not kept for hours. */
    if (!policy_default_cacheable(status)) {
        return "status";
    }

    /* the operator's `valid`: this status, then "any" */
    if (rules != NULL) {
        v = rules->valid[status - 100 + 1];
        if (v < 0) {
            v = rules->valid[0];
        }
        if (v >= 0) {
            meta->fresh_for = v;
            return NULL;
        }
    }

    /* RFC 9111 4.2.2: 10% of the time since the last change, capped. A
     * Last-Modified after Date is a broken clock, not a validator worth a
     * lifetime. */
    if (meta->last_modified != WEIR_CACHE_ABSENT
        && meta->last_modified <= meta->date)
    {
        v = (meta->date - meta->last_modified) / 10;
        meta->fresh_for = v < WEIR_CACHE_HEURISTIC_MAX
                          ? v : WEIR_CACHE_HEURISTIC_MAX;
        meta->heuristic = 1;
        return NULL;
    }
    return "no-freshness";
}


/* Expires - Date (RFC 9111 4.2.1). An invalid date, "0" most often, means
 * already expired (RFC 9111 5.3), and so do two lines that disagree
 * (4.2.1's "considered stale" again). */
static int64_t
policy_expires(const weir_http_header_t *resp, size_t nresp, int64_t date)
{
    const weir_http_header_t *first = NULL;
    size_t                    i;
    int64_t                   t;

    for (i = 0; i < nresp; i++) {
        if (!policy_name_is(&resp[i], "Expires")) {
            continue;
        }
        if (first == NULL) {
            first = &resp[i];
        } else if (resp[i].value_len != first->value_len
                   || memcmp(resp[i].value, first->value,
                             first->value_len) != 0)
        {
            return 0;
        }
    }
    if (first == NULL) {
        return 0;
    }
    t = weir_cache_parse_date(first->value, first->value_len);
    if (t == WEIR_CACHE_ABSENT || t <= date) {
        return 0;
    }
    return t - date;
}


/* The stale windows: the response's own stale-while-revalidate and
 * stale-if-error (RFC 5861), else the configured defaults. None at all
 * when the response forbids serving stale: must-revalidate and friends
 * (RFC 9111 5.2.2.2: "MUST NOT reuse ... without revalidation", even when
 * the origin is down) and no-cache ("MUST NOT be used ... without
 * successful validation"). That holds for the response's own windows
 * too: when directives conflict "the most restrictive directive should be
 * honored" (RFC 9111 4.2.1), and a zero window keeps the index from
 * keeping on disk what can never be served. An invalid window is zero, not
 * the default: the origin said something, just not clearly. */
static void
policy_windows(const weir_cache_rules_t *rules, const weir_cache_cc_t *rs,
    weir_cache_meta_t *meta)
{
    meta->stale_while_revalidate = 0;
    meta->stale_if_error = 0;
    if (meta->no_stale || meta->no_cache) {
        return;
    }
    if (rs->stale_while_revalidate != WEIR_CACHE_ABSENT) {
        meta->stale_while_revalidate =
            policy_lifetime(rs->stale_while_revalidate);
    } else if (rules != NULL) {
        meta->stale_while_revalidate =
            policy_max(rules->stale_while_revalidate, 0);
    }
    if (rs->stale_if_error != WEIR_CACHE_ABSENT) {
        meta->stale_if_error = policy_lifetime(rs->stale_if_error);
    } else if (rules != NULL) {
        meta->stale_if_error = policy_max(rules->stale_if_error, 0);
    }
}


/* RFC 9110 15.1 "heuristically cacheable" status codes */
static int
policy_default_cacheable(int status)
{
    switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return 1;
    default:
        return 0;
    }
}


/* A parsed delta as a lifetime or window: an invalid one is zero. */
static int64_t
policy_lifetime(int64_t delta)
{
    return delta == WEIR_CACHE_INVALID ? 0 : policy_max(delta, 0);
}


static int64_t
policy_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}


/* Using a stored response ------------------------------------------------- */

/* RFC 9111 4.2.3, term for term. Two clamps the RFC does not need and a
 * real clock does: a response that "arrived before it was requested", or
 * a `now` before its arrival, comes from the wall clock stepping back,
 * and must not make a response younger than it was. */
int64_t
weir_cache_age(const weir_cache_meta_t *m, int64_t now)
{
    int64_t apparent_age, response_delay, corrected_age_value;
    int64_t corrected_initial_age, resident_time;

    apparent_age = policy_max(0, m->response_time - m->date);
    response_delay = policy_max(0, m->response_time - m->request_time);
    corrected_age_value = m->age_value + response_delay;
    corrected_initial_age = policy_max(apparent_age, corrected_age_value);
    resident_time = policy_max(0, now - m->response_time);
    return corrected_initial_age + resident_time;
}


/* The request's directives narrow what the response allows, never widen
 * it past no_stale or no-cache. An invalid request directive is read in
 * its most demanding sense: max-age as 0, min-fresh as infinite, max-stale
 * as no permission; a client that garbles its Cache-Control gets a
 * validated response, which is always correct. */
int
weir_cache_use(const weir_cache_meta_t *m, const weir_cache_cc_t *req_cc,
    int64_t now)
{
    int64_t age, left, stale, max_age, min_fresh;

    /* RFC 9111 5.2.2.4 (response) and 5.2.1.4 (request); a shared cache
     * may ignore the request's, weir honours it: it is how a client asks
     * for a check, and the answer is usually a cheap 304 */
    if (m->no_cache || req_cc->no_cache) {
        return WEIR_CACHE_USE_VALIDATE;
    }

    age = weir_cache_age(m, now);

    /* RFC 9111 5.2.1.1: the age, not the staleness, is bounded, whatever
     * max-stale says */
    max_age = req_cc->max_age == WEIR_CACHE_INVALID ? 0 : req_cc->max_age;
    if (max_age != WEIR_CACHE_ABSENT && age > max_age) {
        return WEIR_CACHE_USE_VALIDATE;
    }

    left = m->fresh_for - age;
    min_fresh = req_cc->min_fresh == WEIR_CACHE_INVALID
                ? WEIR_CACHE_DELTA_MAX : req_cc->min_fresh;
    if (min_fresh != WEIR_CACHE_ABSENT && left < min_fresh) {
        return WEIR_CACHE_USE_VALIDATE;
    }

    /* fresh while the lifetime exceeds the age (RFC 9111 4.2) */
    if (left > 0) {
        return WEIR_CACHE_USE_FRESH;
    }

    if (m->no_stale) {
        return WEIR_CACHE_USE_VALIDATE;
    }
    stale = -left;

    /* RFC 9111 5.2.1.2: stale by no more than max-stale seconds, served
     * as if fresh, since the client asked for it (4.2.4 allows it when no
     * directive of the response forbids it) */
    if (req_cc->max_stale >= 0 && stale <= req_cc->max_stale) {
        return WEIR_CACHE_USE_FRESH;
    }

    /* RFC 5861 3: a window of N seconds covers staleness 0..N-1. A request
     * with max-age or max-stale has said how old or stale it accepts and
     * "does not wish to receive a stale response" past that (RFC 9111
     * 5.2.1.1), so the origin's permission alone does not override it. */
    if (req_cc->max_age == WEIR_CACHE_ABSENT
        && req_cc->max_stale == WEIR_CACHE_ABSENT
        && stale < m->stale_while_revalidate)
    {
        return WEIR_CACHE_USE_STALE_SWR;
    }
    return WEIR_CACHE_USE_VALIDATE;
}


/* RFC 5861 4. A response still fresh may stand in for the failed check
 * (the cache went to the origin only because the request or the response
 * asked for one), unless no-cache below rules it out. Stale is fine within the
 * response's stale_if_error window past expiry, narrowed by the request's
 * own stale-if-error if it has one; the request cannot widen it, the
 * window is the origin's or the operator's consent. must-revalidate,
 * proxy-revalidate and s-maxage forbid it (RFC 9111 5.2.2.2 requires a
 * 504 there), and so does a response no-cache. A request no-cache is the
 * client asking for a validated answer: an error is what it gets when
 * none can be had, unless the same request also carries stale-if-error,
 * which is the client saying a stale answer beats an error. */
int
weir_cache_stale_on_error(const weir_cache_meta_t *m,
    const weir_cache_cc_t *req_cc, int64_t now)
{
    int64_t left, window;

    if (m->no_cache) {
        return 0;
    }
    if (req_cc->no_cache && req_cc->stale_if_error == WEIR_CACHE_ABSENT) {
        return 0;
    }

    left = m->fresh_for - weir_cache_age(m, now);
    if (left > 0) {
        return 1;
    }
    if (m->no_stale) {
        return 0;
    }

    window = m->stale_if_error;
    if (req_cc->stale_if_error != WEIR_CACHE_ABSENT) {
        /* an invalid request window grants nothing */
        window = req_cc->stale_if_error == WEIR_CACHE_INVALID
                 ? 0 : (req_cc->stale_if_error < window
                        ? req_cc->stale_if_error : window);
    }
    return -left < window;
}


int64_t
weir_cache_ttl(const weir_cache_meta_t *m, int64_t now)
{
    return m->fresh_for - weir_cache_age(m, now);
}
