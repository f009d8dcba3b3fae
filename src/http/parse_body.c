/*
 * Message framing (RFC 9112 6.1-6.3) and the chunked decoder (RFC 9112
 * 7.1): how long a body is and where it ends. Same rules as parse.c: no
 * allocation, no I/O, no state outside the caller's; strict wherever two
 * parsers could disagree on where a message ends (request smuggling).
 */
#include "weir_config.h"
#include "http/parse.h"
#include "http/parse-t.h"

#include <string.h>

#include "core/core.h"

/* A chunk-size line (digits and extensions) longer than this is refused:
 * extensions are ignored by weir, so they only cost time. */
#define WEIR_CHUNK_LINE_MAX    4096
/* The whole trailer section of a chunked body. */
#define WEIR_TRAILER_MAX       8192
/* 16 hex digits hold any uint64_t. */
#define WEIR_CHUNK_DIGITS_MAX  16

/* What the framing functions collect from the header list. */
typedef struct framing_scan_s {
    uint64_t  content_length;
    unsigned  cl_seen:1;
    unsigned  te_seen:1;
    unsigned  te_last_chunked:1;   /* the final coding is "chunked" */
    unsigned  te_other:1;          /* a coding other than chunked */
    unsigned  conn_close:1;
    unsigned  conn_keepalive:1;
    unsigned  conn_upgrade:1;
    unsigned  upgrade_seen:1;
    unsigned  expect_continue:1;
    unsigned  te_chunked;          /* how many times chunked appears */
    unsigned  hosts;
    unsigned  host_bad:1;
} framing_scan_t;

/* Chunked decoder states (weir_http_chunked_t.state). An error is kept as
 * CH_ERROR + code so that a later call repeats it instead of resuming. */
enum {
    CH_SIZE_FIRST = 0,   /* zero-initialised state: first hex digit */
    CH_SIZE,             /* more hex digits */
    CH_SIZE_BWS,         /* BWS after the size: only ';' may follow */
    CH_EXT_PRE_NAME,     /* after ';' */
    CH_EXT_NAME,
    CH_EXT_POST_NAME,    /* BWS after a name: '=' or ';' */
    CH_EXT_PRE_VAL,      /* after '=' */
    CH_EXT_VAL,          /* token value */
    CH_EXT_QS,           /* quoted-string value */
    CH_EXT_QS_ESC,       /* after a backslash */
    CH_EXT_AFTER_QS,     /* after the closing quote */
    CH_EXT_WS_SEMI,      /* BWS after a value: only ';' may follow */
    CH_SIZE_LF,          /* CR seen at the end of the size line */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TR_LINE,          /* start of a trailer line */
    CH_TR_NAME,
    CH_TR_VALUE,
    CH_TR_LF,            /* CR seen at the end of a trailer field */
    CH_TR_END_LF,        /* CR seen on the final empty line */
    CH_DONE,
    CH_ERROR = 100
};

static int scan_framing(const weir_http_header_t *hdr, size_t n,
    framing_scan_t *s);
static int name_is(const weir_http_header_t *hd, const char *lower);
static int parse_content_length(const weir_http_header_t *hd,
    framing_scan_t *s);
static void scan_te(const weir_http_header_t *hd, framing_scan_t *s);
static void scan_connection(const weir_http_header_t *hd, framing_scan_t *s);
static int valid_host(const char *v, size_t n);
static int chunk_line(weir_http_chunked_t *c, unsigned ch);
static int goto_state(weir_http_chunked_t *c, int state);
static int line_done(weir_http_chunked_t *c);
static int chunk_trailer(weir_http_chunked_t *c, unsigned ch);

/*
 * Framing (RFC 9112 6.1-6.3).
 */

int
weir_http_request_framing(const weir_http_request_head_t *h,
    weir_http_framing_t *f)
{
    framing_scan_t  s;
    int             rc;

    memset(f, 0, sizeof(*f));
    rc = scan_framing(h->headers, h->num_headers, &s);
    if (rc != WEIR_OK) {
        return rc;
    }

    if (s.te_seen) {
        if (h->version == 10) {
            /* RFC 9112 6.1: framing of a 1.0 message with TE is faulty */
            return WEIR_HTTP_E_TE_HTTP10;
        }
        if (s.cl_seen) {
            return WEIR_HTTP_E_TE_AND_CL;
        }
        if (!s.te_last_chunked) {
            return WEIR_HTTP_E_TE_NOT_CHUNKED;
        }
        if (s.te_chunked > 1 || s.te_other) {
            /* we do not decode gzip & co. in request bodies */
            return WEIR_HTTP_E_TE_UNSUPPORTED;
        }
        f->body = WEIR_HTTP_BODY_CHUNKED;
    } else if (s.cl_seen) {
        /* Content-Length: 0 is reported as LENGTH with 0, not NONE */
        f->body = WEIR_HTTP_BODY_LENGTH;
        f->content_length = s.content_length;
    } else {
        f->body = WEIR_HTTP_BODY_NONE;
    }

    if (s.hosts > 1 || s.host_bad || (s.hosts == 0 && h->version == 11)) {
        return WEIR_HTTP_E_BAD_HOST;
    }
    f->has_host = s.hosts == 1;

    if (h->version == 11) {
        f->keepalive = !s.conn_close;
        /* RFC 9110 10.1.1: 100-continue in a 1.0 request is ignored */
        f->expect_continue = s.expect_continue;
    } else {
        f->keepalive = s.conn_keepalive && !s.conn_close;
    }
    f->upgrade = s.conn_upgrade && s.upgrade_seen;
    return WEIR_OK;
}

int
weir_http_response_framing(const weir_http_response_head_t *h,
    int request_was_head, weir_http_framing_t *f)
{
    framing_scan_t  s;
    int             rc;

    memset(f, 0, sizeof(*f));
    rc = scan_framing(h->headers, h->num_headers, &s);
    if (rc != WEIR_OK) {
        return rc;
    }
    if (s.te_seen && s.cl_seen) {
        return WEIR_HTTP_E_TE_AND_CL;
    }
    if (s.te_seen && h->version == 10) {
        return WEIR_HTTP_E_TE_HTTP10;
    }
    if (s.te_chunked > 1) {
        return WEIR_HTTP_E_TE_UNSUPPORTED;
    }
    if (s.te_chunked && !s.te_last_chunked) {
        /* RFC 9112 6.1: chunked is applied once and last. "chunked,
         * gzip" is invalid (read to the close, it would go to the client
         * chunked twice), so is "chunked;x=1": refuse, do not guess. */
        return WEIR_HTTP_E_TE_NOT_CHUNKED;
    }

    if (h->version == 11) {
        f->keepalive = !s.conn_close;
    } else {
        f->keepalive = s.conn_keepalive && !s.conn_close;
    }
    f->upgrade = h->status == 101;
    f->has_host = s.hosts > 0;

    if (h->status < 200 || h->status == 204 || h->status == 304
        || request_was_head)
    {
        f->body = WEIR_HTTP_BODY_NONE;
    } else if (s.te_seen) {
        if (s.te_last_chunked) {
            f->body = WEIR_HTTP_BODY_CHUNKED;
        } else {
            /* RFC 9112 6.3 (7): the body ends when the connection does */
            f->body = WEIR_HTTP_BODY_CLOSE;
            f->keepalive = 0;
        }
    } else if (s.cl_seen) {
        f->body = WEIR_HTTP_BODY_LENGTH;
        f->content_length = s.content_length;
    } else {
        f->body = WEIR_HTTP_BODY_CLOSE;
        f->keepalive = 0;
    }
    return WEIR_OK;
}

/* One pass over the fields that decide framing. Only Content-Length
 * syntax is judged here; the callers apply the message-specific rules. */
static int
scan_framing(const weir_http_header_t *hdr, size_t n, framing_scan_t *s)
{
    size_t  k;
    int     rc;

    memset(s, 0, sizeof(*s));
    for (k = 0; k < n; k++) {
        const weir_http_header_t  *hd = &hdr[k];

        if (name_is(hd, "content-length")) {
            rc = parse_content_length(hd, s);
            if (rc != WEIR_OK) {
                return rc;
            }
        } else if (name_is(hd, "transfer-encoding")) {
            scan_te(hd, s);
        } else if (name_is(hd, "host")) {
            s->hosts++;
            if (!valid_host(hd->value, hd->value_len)) {
                s->host_bad = 1;
            }
        } else if (name_is(hd, "connection")) {
            scan_connection(hd, s);
        } else if (name_is(hd, "upgrade")) {
            s->upgrade_seen = hd->value_len > 0;
        } else if (name_is(hd, "expect")) {
            s->expect_continue = lower_eq(hd->value, hd->value_len,
                                          "100-continue");
        }
    }
    return WEIR_OK;
}

static int
name_is(const weir_http_header_t *hd, const char *lower)
{
    return lower_eq(hd->name, hd->name_len, lower);
}

/* Empty elements are returned as such: the callers here are stricter
 * than "ignore them" because a stray comma in a framing header is a
 * classic way to make two parsers disagree. */
int
weir_http_list_next(const char **p, const char *end, const char **el,
    size_t *el_len)
{
    const char  *s = *p, *e;

    if (s == NULL) {
        return 0;
    }
    e = memchr(s, ',', (size_t) (end - s));
    *p = e ? e + 1 : NULL;
    if (e == NULL) {
        e = end;
    }
    while (s < e && is_ws(*s)) {
        s++;
    }
    while (e > s && is_ws(e[-1])) {
        e--;
    }
    *el = s;
    *el_len = (size_t) (e - s);
    return 1;
}

/* Content-Length = 1*DIGIT; "5, 5" and repeated fields with the same
 * value are merged (RFC 9110 8.6), anything else is refused. So is a
 * value past INT64_MAX: the length ends up in off_t and int64_t
 * (response and body limits), where 2^63 and above turn negative and
 * would read as "no length" (RFC 9110 8.6 lets a recipient refuse what
 * it cannot represent). */
static int
parse_content_length(const weir_http_header_t *hd, framing_scan_t *s)
{
    const char  *p = hd->value, *el;
    size_t       n, k;
    uint64_t     v;

    if (hd->value_len == 0) {
        return WEIR_HTTP_E_BAD_CONTENT_LENGTH;
    }
    while (weir_http_list_next(&p, hd->value + hd->value_len, &el, &n)) {
        if (n == 0) {
            return WEIR_HTTP_E_BAD_CONTENT_LENGTH;
        }
        v = 0;
        for (k = 0; k < n; k++) {
            unsigned  d = (unsigned char) el[k] - '0';

            if (d > 9 || v > ((uint64_t) INT64_MAX - d) / 10) {
                return WEIR_HTTP_E_BAD_CONTENT_LENGTH;
            }
            v = v * 10 + d;
        }
        if (s->cl_seen && v != s->content_length) {
            return WEIR_HTTP_E_DUP_CONTENT_LENGTH;
        }
        s->cl_seen = 1;
        s->content_length = v;
    }
    return WEIR_OK;
}

/* Transfer-Encoding may span several fields; their codings concatenate.
 * A coding with parameters ("chunked;x=1") or an empty element is not
 * "chunked" as the final coding, but "chunked;x=1" still counts as a
 * chunked: no hop may take it for another coding. */
static void
scan_te(const weir_http_header_t *hd, framing_scan_t *s)
{
    const char  *p = hd->value, *el;
    size_t       n, k;

    s->te_seen = 1;
    if (hd->value_len == 0) {
        s->te_last_chunked = 0;
        s->te_other = 1;
        return;
    }
    while (weir_http_list_next(&p, hd->value + hd->value_len, &el, &n)) {
        if (lower_eq(el, n, "chunked")) {
            s->te_chunked++;
            s->te_last_chunked = 1;
            continue;
        }
        for (k = 0; k < n && el[k] != ';' && !is_ws(el[k]); k++) {
            /* void */
        }
        if (lower_eq(el, k, "chunked")) {
            s->te_chunked++;
        }
        s->te_other = 1;
        s->te_last_chunked = 0;
    }
}

static void
scan_connection(const weir_http_header_t *hd, framing_scan_t *s)
{
    const char  *p = hd->value, *el;
    size_t       n;

    if (hd->value_len == 0) {
        return;
    }
    while (weir_http_list_next(&p, hd->value + hd->value_len, &el, &n)) {
        if (lower_eq(el, n, "close")) {
            s->conn_close = 1;
        } else if (lower_eq(el, n, "keep-alive")) {
            s->conn_keepalive = 1;
        } else if (lower_eq(el, n, "upgrade")) {
            s->conn_upgrade = 1;
        }
    }
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2), judged by the rules of a
 * target's authority (parse_host.c). An empty value is refused: weir
 * serves http and https, whose URIs always have a host, and nginx
 * refuses it too. */
static int
valid_host(const char *v, size_t n)
{
    size_t  bad;

    return weir_http_authority((const unsigned char *) v, n,
                               WEIR_HOST_FIELD, &bad) == WEIR_OK;
}

/*
 * Chunked transfer coding (RFC 9112 7.1). A byte-at-a-time state machine
 * for the size lines and trailers; chunk data is handed out in one slice.
 * c->ext_len counts the bytes of the current size line (so, while still in
 * the digits, it is the digit count) and then of the trailer section.
 */

int
weir_http_chunked_step(weir_http_chunked_t *c, const char *buf,
    size_t len, size_t *consumed, const char **data, size_t *data_len)
{
    size_t  i = 0, n;
    int     rc;

    *consumed = 0;
    *data = NULL;
    *data_len = 0;

    if (c->state == CH_DONE) {
        return WEIR_DONE;
    }
    if (c->state > CH_ERROR) {
        return c->state - CH_ERROR;
    }

    while (i < len) {
        if (c->state == CH_DATA) {
            n = c->size < (uint64_t) (len - i) ? (size_t) c->size : len - i;
            c->size -= n;
            if (c->size == 0) {
                c->state = CH_DATA_CR;
            }
            *data = buf + i;
            *data_len = n;
            *consumed = i + n;
            return WEIR_OK;
        }

        if (c->state >= CH_TR_LINE) {
            rc = chunk_trailer(c, (unsigned char) buf[i]);
        } else {
            rc = chunk_line(c, (unsigned char) buf[i]);
        }
        if (rc != WEIR_OK) {
            *consumed = i;
            c->state = CH_ERROR + rc;
            return rc;
        }
        i++;
        if (c->state == CH_DONE) {
            *consumed = i;
            return WEIR_DONE;
        }
    }

    *consumed = i;
    return WEIR_AGAIN;
}

/* One byte of a chunk-size line or of the CRLF after chunk data:
 *   chunk-size [ chunk-ext ] CRLF
 *   chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted ) ] )
 * A long switch, but each case is a line of the grammar above. */
static int
chunk_line(weir_http_chunked_t *c, unsigned ch)
{
    unsigned  cl = weir_http_cls[ch];
    int       st = c->state;

    if (ch == '\0') {
        return WEIR_HTTP_E_NUL;
    }
    switch (st) {
    case CH_DATA_CR:
        return ch == '\r' ? goto_state(c, CH_DATA_LF)
                          : WEIR_HTTP_E_BAD_CHUNK_DATA;
    case CH_DATA_LF:
        c->ext_len = 0;
        return ch == '\n' ? goto_state(c, CH_SIZE_FIRST)
                          : WEIR_HTTP_E_BAD_CHUNK_DATA;
    case CH_SIZE_LF:
        return ch == '\n' ? line_done(c) : WEIR_HTTP_E_BARE_CR;
    default:
        break;
    }

    if (++c->ext_len > WEIR_CHUNK_LINE_MAX) {
        return WEIR_HTTP_E_BAD_CHUNK_EXT;
    }

    /* a line end is valid after the size, a name or a value */
    if ((ch == '\r' || ch == '\n')
        && (st == CH_SIZE || st == CH_EXT_NAME || st == CH_EXT_VAL
            || st == CH_EXT_AFTER_QS))
    {
        return ch == '\r' ? goto_state(c, CH_SIZE_LF) : line_done(c);
    }

    switch (st) {

    case CH_SIZE_FIRST:
    case CH_SIZE:
        if (cl & C_HEX) {
            if (c->ext_len > WEIR_CHUNK_DIGITS_MAX) {
                return WEIR_HTTP_E_BAD_CHUNK_SIZE;
            }
            c->size = (c->size << 4) | (uint64_t) hexval(ch);
            return goto_state(c, CH_SIZE);
        }
        if (st == CH_SIZE && ch == ';') {
            return goto_state(c, CH_EXT_PRE_NAME);
        }
        if (st == CH_SIZE && is_ws(ch)) {
            return goto_state(c, CH_SIZE_BWS);
        }
        return WEIR_HTTP_E_BAD_CHUNK_SIZE;

    case CH_SIZE_BWS:
    case CH_EXT_WS_SEMI:
        if (is_ws(ch) || ch == ';') {
            return goto_state(c, ch == ';' ? CH_EXT_PRE_NAME : st);
        }
        return st == CH_SIZE_BWS ? WEIR_HTTP_E_BAD_CHUNK_SIZE
                                 : WEIR_HTTP_E_BAD_CHUNK_EXT;

    case CH_EXT_PRE_NAME:
        if (is_ws(ch) || (cl & C_TCHAR)) {
            return goto_state(c, is_ws(ch) ? st : CH_EXT_NAME);
        }
        break;

    case CH_EXT_NAME:
    case CH_EXT_POST_NAME:
        if (st == CH_EXT_NAME && (cl & C_TCHAR)) {
            return WEIR_OK;
        }
        if (is_ws(ch)) {
            return goto_state(c, CH_EXT_POST_NAME);
        }
        if (ch == '=' || ch == ';') {
            return goto_state(c, ch == '=' ? CH_EXT_PRE_VAL
                                           : CH_EXT_PRE_NAME);
        }
        break;

    case CH_EXT_PRE_VAL:
        if (is_ws(ch)) {
            return WEIR_OK;
        }
        if ((cl & C_TCHAR) || ch == '"') {
            return goto_state(c, ch == '"' ? CH_EXT_QS : CH_EXT_VAL);
        }
        break;

    case CH_EXT_VAL:
    case CH_EXT_AFTER_QS:
        if (st == CH_EXT_VAL && (cl & C_TCHAR)) {
            return WEIR_OK;
        }
        if (ch == ';' || is_ws(ch)) {
            return goto_state(c, ch == ';' ? CH_EXT_PRE_NAME
                                           : CH_EXT_WS_SEMI);
        }
        break;

    case CH_EXT_QS:
        if (ch == '"' || ch == '\\') {
            return goto_state(c, ch == '"' ? CH_EXT_AFTER_QS
                                           : CH_EXT_QS_ESC);
        }
        if (cl & C_QDTEXT) {
            return WEIR_OK;
        }
        break;

    case CH_EXT_QS_ESC:
        if (cl & C_VALUE) {
            return goto_state(c, CH_EXT_QS);
        }
        break;

    default:
        break;
    }
    return WEIR_HTTP_E_BAD_CHUNK_EXT;
}

static int
goto_state(weir_http_chunked_t *c, int state)
{
    c->state = state;
    return WEIR_OK;
}

/* The size line is complete: data follows, or the trailer after "0". */
static int
line_done(weir_http_chunked_t *c)
{
    c->ext_len = 0;
    return goto_state(c, c->size == 0 ? CH_TR_LINE : CH_DATA);
}

/* One byte of the trailer section: field lines as in a head, then an
 * empty line. Malformed fields are refused, not skipped: a trailer is
 * still part of the message other hops will read. */
static int
chunk_trailer(weir_http_chunked_t *c, unsigned ch)
{
    unsigned  cl = weir_http_cls[ch];

    if (ch == '\0') {
        return WEIR_HTTP_E_NUL;
    }
    if (++c->ext_len > WEIR_TRAILER_MAX) {
        return WEIR_HTTP_E_BAD_TRAILER;
    }

    switch (c->state) {
    case CH_TR_LINE:
        if (ch == '\r' || ch == '\n') {
            return goto_state(c, ch == '\r' ? CH_TR_END_LF : CH_DONE);
        }
        return (cl & C_TCHAR) ? goto_state(c, CH_TR_NAME)
                              : WEIR_HTTP_E_BAD_TRAILER;
    case CH_TR_NAME:
        if (ch == ':') {
            return goto_state(c, CH_TR_VALUE);
        }
        return (cl & C_TCHAR) ? WEIR_OK : WEIR_HTTP_E_BAD_TRAILER;
    case CH_TR_VALUE:
        if (ch == '\r' || ch == '\n') {
            return goto_state(c, ch == '\r' ? CH_TR_LF : CH_TR_LINE);
        }
        return (cl & C_VALUE) ? WEIR_OK : WEIR_HTTP_E_BAD_TRAILER;
    case CH_TR_LF:
    case CH_TR_END_LF:
        if (ch != '\n') {
            return WEIR_HTTP_E_BARE_CR;
        }
        return goto_state(c, c->state == CH_TR_LF ? CH_TR_LINE : CH_DONE);
    default:
        return WEIR_HTTP_E_BAD_TRAILER;
    }
}
