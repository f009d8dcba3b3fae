/*
 * HTTP/1.x head parsers, framing rules, the chunked decoder and path
 * normalisation (RFC 9110, RFC 9112). This file is the security boundary
 * of the proxy: what it accepts is what every later stage trusts, so it is
 * strict wherever two implementations could read the same bytes two ways
 * (request smuggling, response splitting, path traversal).
 *
 * The head parsers keep no state between calls: the caller re-parses from
 * the start of the buffer when more bytes arrive. Each byte is judged once,
 * with at most one byte of look-ahead (after a CR), so a prefix of the
 * input always yields WEIR_AGAIN or exactly the error the whole input
 * yields, and no byte at or past len is ever read.
 */
#include "weir_config.h"
/* parse.h has a comment with a nested comment opener in it (the lead's
 * file, reported); silence -Wcomment for that header only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
#include "http/parse.h"
#pragma GCC diagnostic pop

#include <string.h>

#include "core/core.h"

/* Character classes, one bit each, looked up in cls[] below. */
#define C_TCHAR   0x01   /* token (RFC 9110 5.6.2) */
#define C_TARGET  0x02   /* 0x21..0x7e: request-target bytes */
#define C_VALUE   0x04   /* field-value: HTAB SP VCHAR obs-text */
#define C_HEX     0x08
#define C_DIGIT   0x10
#define C_HOST    0x20   /* reg-name: unreserved sub-delims '%' */
#define C_QDTEXT  0x40   /* quoted-string text (RFC 9110 5.6.4) */

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

static int classify(const unsigned char *p, size_t len, size_t i, int dflt);
static int fail(size_t *epos, size_t i, int err);
static int line_end(const unsigned char *p, size_t len, size_t *i);
static int parse_version(const unsigned char *p, size_t len, size_t *i,
    int *major, int *minor, int bad);
static int parse_fields(const unsigned char *p, size_t len, size_t *pos,
    weir_http_header_t *hdr, size_t max, size_t *num, size_t *epos);
static int valid_target(const unsigned char *t, size_t n);
static int scan_framing(const weir_http_header_t *hdr, size_t n,
    framing_scan_t *s);
static int name_is(const weir_http_header_t *hd, const char *lower);
static int lower_eq(const char *s, size_t n, const char *lower);
static int list_next(const char **p, const char *end, const char **el,
    size_t *el_len);
static int parse_content_length(const weir_http_header_t *hd,
    framing_scan_t *s);
static void scan_te(const weir_http_header_t *hd, framing_scan_t *s);
static void scan_connection(const weir_http_header_t *hd, framing_scan_t *s);
static int valid_host(const char *v, size_t n);
static int chunk_line(weir_http_chunked_t *c, unsigned ch);
static int goto_state(weir_http_chunked_t *c, int state);
static int line_done(weir_http_chunked_t *c);
static int chunk_trailer(weir_http_chunked_t *c, unsigned ch);
static int hexval(unsigned ch);
static int close_segment(char *out, size_t *o, size_t *seg);

/* 0x80..0xff are all obs-text: allowed in values, nothing else */
#define OBS4   0x44, 0x44, 0x44, 0x44
#define OBS16  OBS4, OBS4, OBS4, OBS4
#define OBS64  OBS16, OBS16, OBS16, OBS16

static const unsigned char cls[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   /* 00 */
    0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   /* 10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x44, 0x67, 0x06, 0x47, 0x67, 0x67, 0x67, 0x67,   /* 20  SP ! " # $ % & ' */
    0x66, 0x66, 0x67, 0x67, 0x66, 0x67, 0x67, 0x46,   /* ( ) * + , - . / */
    0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,   /* 30  0-7 */
    0x7f, 0x7f, 0x46, 0x66, 0x46, 0x66, 0x46, 0x46,   /* 8 9 : ; < = > ? */
    0x46, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x67,   /* 40  @ A-G */
    0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67,   /* H-O */
    0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67,   /* 50  P-W */
    0x67, 0x67, 0x67, 0x46, 0x06, 0x46, 0x47, 0x67,   /* X Y Z [ \ ] ^ _ */
    0x47, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x67,   /* 60  ` a-g */
    0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67,   /* h-o */
    0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67,   /* 70  p-w */
    0x67, 0x67, 0x67, 0x46, 0x47, 0x46, 0x67, 0x00,   /* x y z { | } ~ DEL */
    OBS64, OBS64
};

#define is_ws(ch)  ((ch) == ' ' || (ch) == '\t')


/*
 * Request head.
 */

int
weir_http_parse_request(const char *buf, size_t len,
    weir_http_request_head_t *h, size_t *consumed)
{
    const unsigned char  *p = (const unsigned char *) buf;
    size_t                i = 0, start, tstart;
    int                   rc, major, minor;

    h->method = NULL;
    h->method_len = 0;
    h->target = NULL;
    h->target_len = 0;
    h->version = 0;
    h->num_headers = 0;
    h->line_len = 0;
    h->error_pos = 0;
    *consumed = 0;

    /* One empty line before the request line is tolerated (RFC 9112 2.2):
     * some clients send a CRLF after a POST body. */
    if (len == 0) {
        return WEIR_AGAIN;
    }
    if (p[0] == '\r' || p[0] == '\n') {
        rc = line_end(p, len, &i);
        if (rc != WEIR_OK) {
            return rc == WEIR_AGAIN ? rc : fail(&h->error_pos, 0, rc);
        }
    }
    start = i;

    /* method SP */
    while (i < len && (cls[p[i]] & C_TCHAR)) {
        i++;
    }
    if (i == len) {
        return WEIR_AGAIN;
    }
    if (p[i] != ' ' || i == start) {
        rc = (p[i] == ' ' || p[i] == '\r' || p[i] == '\n')
             ? WEIR_HTTP_E_BAD_REQUEST_LINE : WEIR_HTTP_E_BAD_METHOD;
        return fail(&h->error_pos, i, classify(p, len, i, rc));
    }
    h->method = buf + start;
    h->method_len = i - start;
    i++;

    /* request-target SP: exactly one space on either side */
    tstart = i;
    while (i < len && (cls[p[i]] & C_TARGET)) {
        i++;
    }
    if (i == len) {
        return WEIR_AGAIN;
    }
    if (p[i] != ' ' || i == tstart) {
        rc = (p[i] == ' ' || p[i] == '\r' || p[i] == '\n')
             ? WEIR_HTTP_E_BAD_REQUEST_LINE : WEIR_HTTP_E_BAD_TARGET;
        return fail(&h->error_pos, i, classify(p, len, i, rc));
    }
    if (!valid_target(p + tstart, i - tstart)) {
        return fail(&h->error_pos, tstart, WEIR_HTTP_E_BAD_TARGET);
    }
    h->target = buf + tstart;
    h->target_len = i - tstart;
    i++;
    if (i < len && p[i] == ' ') {
        return fail(&h->error_pos, i, WEIR_HTTP_E_BAD_REQUEST_LINE);
    }

    /* HTTP-version line-end */
    rc = parse_version(p, len, &i, &major, &minor, WEIR_HTTP_E_BAD_VERSION);
    if (rc != WEIR_OK) {
        return rc == WEIR_AGAIN ? rc : fail(&h->error_pos, i, rc);
    }
    if (major != 1) {
        /* HTTP/0.9 and HTTP/2+ do not speak this syntax: 505 */
        return fail(&h->error_pos, i - 3, WEIR_HTTP_E_VERSION_UNSUPPORTED);
    }
    /* RFC 9110 2.5: a higher minor version is served as the highest we
     * support. */
    h->version = minor == 0 ? 10 : 11;

    rc = line_end(p, len, &i);
    if (rc != WEIR_OK) {
        if (rc == WEIR_AGAIN) {
            return rc;
        }
        return fail(&h->error_pos, i,
                    classify(p, len, i, WEIR_HTTP_E_BAD_VERSION));
    }
    h->line_len = i - start;

    rc = parse_fields(p, len, &i, h->headers, h->max_headers,
                      &h->num_headers, &h->error_pos);
    if (rc == WEIR_OK) {
        *consumed = i;
    }
    return rc;
}

/* origin-form starts with '/', asterisk-form is exactly "*",
 * absolute-form starts with a scheme (ALPHA), authority-form with a host
 * (ALPHA, DIGIT or '[' for an IP literal). Anything else cannot be routed
 * and is refused here rather than confusing a later stage. */
static int
valid_target(const unsigned char *t, size_t n)
{
    unsigned char  ch = t[0];

    if (ch == '/') {
        return 1;
    }
    if (ch == '*') {
        return n == 1;
    }
    return ch == '[' || (ch >= '0' && ch <= '9')
           || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
}

/*
 * Response head.
 */

int
weir_http_parse_response(const char *buf, size_t len,
    weir_http_response_head_t *h, size_t *consumed)
{
    const unsigned char  *p = (const unsigned char *) buf;
    size_t                i = 0, k, rstart, rend;
    int                   rc, major, minor, status = 0;

    h->version = 0;
    h->status = 0;
    h->reason = NULL;
    h->reason_len = 0;
    h->num_headers = 0;
    h->error_pos = 0;
    *consumed = 0;

    rc = parse_version(p, len, &i, &major, &minor,
                       WEIR_HTTP_E_BAD_STATUS_LINE);
    if (rc != WEIR_OK) {
        return rc == WEIR_AGAIN ? rc : fail(&h->error_pos, i, rc);
    }
    if (major != 1) {
        return fail(&h->error_pos, i - 3, WEIR_HTTP_E_BAD_STATUS_LINE);
    }
    h->version = minor == 0 ? 10 : 11;

    /* SP 3DIGIT */
    for (k = 0; k < 4; k++, i++) {
        if (i == len) {
            return WEIR_AGAIN;
        }
        if (k == 0 ? p[i] != ' '
            : !(cls[p[i]] & C_DIGIT) || (k == 1 && p[i] == '0'))
        {
            return fail(&h->error_pos, i,
                        classify(p, len, i, WEIR_HTTP_E_BAD_STATUS_LINE));
        }
        if (k > 0) {
            status = status * 10 + (p[i] - '0');
        }
    }
    h->status = status;

    /* [SP reason-phrase] line-end: a missing SP before an empty reason is
     * tolerated, some servers send "HTTP/1.1 200\r\n". */
    if (i == len) {
        return WEIR_AGAIN;
    }
    if (p[i] == ' ') {
        i++;
    } else if (p[i] != '\r' && p[i] != '\n') {
        return fail(&h->error_pos, i,
                    classify(p, len, i, WEIR_HTTP_E_BAD_STATUS_LINE));
    }
    rstart = i;
    while (i < len && (cls[p[i]] & C_VALUE)) {
        i++;
    }
    rend = i;
    rc = line_end(p, len, &i);
    if (rc != WEIR_OK) {
        if (rc == WEIR_AGAIN) {
            return rc;
        }
        return fail(&h->error_pos, i,
                    classify(p, len, i, WEIR_HTTP_E_BAD_STATUS_LINE));
    }
    h->reason = buf + rstart;
    h->reason_len = rend - rstart;

    rc = parse_fields(p, len, &i, h->headers, h->max_headers,
                      &h->num_headers, &h->error_pos);
    if (rc == WEIR_OK) {
        *consumed = i;
    }
    return rc;
}

/*
 * Shared pieces of the head parsers.
 */

/* The error for an unexpected byte at p[i]: NUL and a bare CR have their
 * own codes wherever they appear; a CR that is the last byte may still be
 * half of a CRLF, so the verdict waits for the next byte. */
static int
classify(const unsigned char *p, size_t len, size_t i, int dflt)
{
    if (p[i] == '\0') {
        return WEIR_HTTP_E_NUL;
    }
    if (p[i] == '\r') {
        if (i + 1 == len) {
            return WEIR_AGAIN;
        }
        if (p[i + 1] != '\n') {
            return WEIR_HTTP_E_BARE_CR;
        }
    }
    return dflt;
}

/* Record the error position; WEIR_AGAIN passes through untouched. */
static int
fail(size_t *epos, size_t i, int err)
{
    if (err != WEIR_AGAIN) {
        *epos = i;
    }
    return err;
}

/* Consume CRLF or LF at p[*i]. Returns WEIR_OK, WEIR_AGAIN, the bare CR
 * error, or WEIR_DECLINED when p[*i] is not a line end at all. */
static int
line_end(const unsigned char *p, size_t len, size_t *i)
{
    size_t  k = *i;

    if (k == len) {
        return WEIR_AGAIN;
    }
    if (p[k] == '\n') {
        *i = k + 1;
        return WEIR_OK;
    }
    if (p[k] != '\r') {
        return WEIR_DECLINED;
    }
    if (k + 1 == len) {
        return WEIR_AGAIN;
    }
    if (p[k + 1] != '\n') {
        return WEIR_HTTP_E_BARE_CR;
    }
    *i = k + 2;
    return WEIR_OK;
}

/* "HTTP/" DIGIT "." DIGIT at p[*i]; on error *i is the bad byte. */
static int
parse_version(const unsigned char *p, size_t len, size_t *i, int *major,
    int *minor, int bad)
{
    static const char  proto[] = "HTTP/d.d";
    size_t             k, n = *i;

    for (k = 0; k < sizeof(proto) - 1; k++, n++) {
        if (n == len) {
            return WEIR_AGAIN;
        }
        if (proto[k] == 'd' ? !(cls[p[n]] & C_DIGIT) : p[n] != proto[k]) {
            *i = n;
            return classify(p, len, n, bad);
        }
    }
    *major = p[n - 3] - '0';
    *minor = p[n - 1] - '0';
    *i = n;
    return WEIR_OK;
}

/* Header fields up to and including the empty line. Entries are written to
 * hdr[] as they complete; *num counts them. */
static int
parse_fields(const unsigned char *p, size_t len, size_t *pos,
    weir_http_header_t *hdr, size_t max, size_t *num, size_t *epos)
{
    size_t  i = *pos, name, name_end, val, val_end;
    int     rc;

    for ( ;; ) {
        rc = line_end(p, len, &i);
        if (rc == WEIR_OK) {
            break;                      /* the empty line: head complete */
        }
        if (rc != WEIR_DECLINED) {
            return fail(epos, i, rc);
        }
        if (is_ws(p[i])) {
            /* obs-fold (RFC 9112 5.2), or whitespace between the start
             * line and the first field (RFC 9112 2.2): both smuggle */
            return fail(epos, i, WEIR_HTTP_E_OBS_FOLD);
        }
        if (*num == max) {
            return fail(epos, i, WEIR_HTTP_E_TOO_MANY_HEADERS);
        }

        name = i;
        while (i < len && (cls[p[i]] & C_TCHAR)) {
            i++;
        }
        if (i == len) {
            return WEIR_AGAIN;
        }
        if (p[i] != ':' || i == name) {
            return fail(epos, i,
                        classify(p, len, i, WEIR_HTTP_E_BAD_HEADER_NAME));
        }
        name_end = i++;

        while (i < len && is_ws(p[i])) {
            i++;
        }
        val = i;
        while (i < len && (cls[p[i]] & C_VALUE)) {
            i++;
        }
        val_end = i;
        rc = line_end(p, len, &i);
        if (rc != WEIR_OK) {
            if (rc == WEIR_DECLINED) {
                rc = p[i] == '\0' ? WEIR_HTTP_E_NUL
                                  : WEIR_HTTP_E_BAD_HEADER_VALUE;
            }
            return fail(epos, i, rc);
        }
        while (val_end > val && is_ws(p[val_end - 1])) {
            val_end--;
        }

        hdr[*num].name = (const char *) p + name;
        hdr[*num].name_len = name_end - name;
        hdr[*num].value = (const char *) p + val;
        hdr[*num].value_len = val_end - val;
        (*num)++;
    }

    *pos = i;
    return WEIR_OK;
}

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

/* ASCII case-insensitive equality with a lower-case literal. */
static int
lower_eq(const char *s, size_t n, const char *lower)
{
    size_t  k;

    for (k = 0; k < n; k++) {
        unsigned char  ch = (unsigned char) s[k];

        if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char) (ch + ('a' - 'A'));
        }
        if (lower[k] == '\0' || ch != (unsigned char) lower[k]) {
            return 0;
        }
    }
    return lower[n] == '\0';
}

/* The next element of a comma-separated list (RFC 9110 5.6.1), OWS
 * trimmed. Empty elements are returned as such: the callers are stricter
 * than "ignore them" because a stray comma in a framing header is a
 * classic way to make two parsers disagree. Returns 0 at the end. */
static int
list_next(const char **p, const char *end, const char **el, size_t *el_len)
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
 * value are merged (RFC 9110 8.6), anything else is refused. */
static int
parse_content_length(const weir_http_header_t *hd, framing_scan_t *s)
{
    const char  *p = hd->value, *el;
    size_t       n, k;
    uint64_t     v;

    if (hd->value_len == 0) {
        return WEIR_HTTP_E_BAD_CONTENT_LENGTH;
    }
    while (list_next(&p, hd->value + hd->value_len, &el, &n)) {
        if (n == 0) {
            return WEIR_HTTP_E_BAD_CONTENT_LENGTH;
        }
        v = 0;
        for (k = 0; k < n; k++) {
            unsigned  d = (unsigned char) el[k] - '0';

            if (d > 9 || v > (UINT64_MAX - d) / 10) {
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
 * "chunked". */
static void
scan_te(const weir_http_header_t *hd, framing_scan_t *s)
{
    const char  *p = hd->value, *el;
    size_t       n;

    s->te_seen = 1;
    if (hd->value_len == 0) {
        s->te_last_chunked = 0;
        s->te_other = 1;
        return;
    }
    while (list_next(&p, hd->value + hd->value_len, &el, &n)) {
        if (lower_eq(el, n, "chunked")) {
            s->te_chunked++;
            s->te_last_chunked = 1;
        } else {
            s->te_other = 1;
            s->te_last_chunked = 0;
        }
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
    while (list_next(&p, hd->value + hd->value_len, &el, &n)) {
        if (lower_eq(el, n, "close")) {
            s->conn_close = 1;
        } else if (lower_eq(el, n, "keep-alive")) {
            s->conn_keepalive = 1;
        } else if (lower_eq(el, n, "upgrade")) {
            s->conn_upgrade = 1;
        }
    }
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2). An empty value is valid
 * (the target carried no authority). IP literals are checked loosely:
 * hex digits, ':' and '.' between brackets. */
static int
valid_host(const char *v, size_t n)
{
    const unsigned char  *p = (const unsigned char *) v;
    size_t                i = 0;

    if (n > 0 && p[0] == '[') {
        for (i = 1; i < n && p[i] != ']'; i++) {
            if (!(cls[p[i]] & C_HEX) && p[i] != ':' && p[i] != '.') {
                return 0;
            }
        }
        if (i == n || i == 1) {
            return 0;
        }
        i++;
    } else {
        for ( ; i < n && p[i] != ':'; i++) {
            if (!(cls[p[i]] & C_HOST)) {
                return 0;
            }
            if (p[i] == '%'
                && (n - i < 3 || !(cls[p[i + 1]] & C_HEX)
                    || !(cls[p[i + 2]] & C_HEX)))
            {
                return 0;
            }
        }
    }
    if (i == n) {
        return 1;
    }
    if (p[i] != ':') {
        return 0;
    }
    for (i++; i < n; i++) {
        if (!(cls[p[i]] & C_DIGIT)) {
            return 0;
        }
    }
    return 1;
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
    unsigned  cl = cls[ch];
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
    unsigned  cl = cls[ch];

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

static int
hexval(unsigned ch)
{
    if (ch >= '0' && ch <= '9') {
        return (int) (ch - '0');
    }
    return (int) ((ch | 0x20) - 'a' + 10);
}

/*
 * Path normalisation. Escapes are decoded first and dot-segments resolved
 * on the decoded bytes, so "%2e%2e" and "..%2f" are the ".." they spell
 * for the file system; resolving before decoding is the classic traversal
 * hole.
 */

int
weir_http_normalize_path(const char *target, size_t len, char *out,
    size_t outsz, size_t *out_len)
{
    size_t    i, o = 1, seg = 1;
    unsigned  ch;
    int       end = 0;

    *out_len = 0;
    if (len == 0 || target[0] != '/' || outsz < 2) {
        return WEIR_HTTP_E_BAD_PATH;
    }
    out[0] = '/';

    for (i = 1; !end; i++) {
        if (i == len || target[i] == '?' || target[i] == '#') {
            end = 1;
        } else {
            ch = (unsigned char) target[i];
            if (ch == '\0') {
                /* the result is a C string: a NUL would truncate it */
                return WEIR_HTTP_E_BAD_PATH;
            }
            if (ch == '%') {
                if (len - i < 3 || !(cls[(unsigned char) target[i + 1]] & C_HEX)
                    || !(cls[(unsigned char) target[i + 2]] & C_HEX))
                {
                    return WEIR_HTTP_E_BAD_PATH;
                }
                ch = (unsigned) (hexval((unsigned char) target[i + 1]) << 4
                                 | hexval((unsigned char) target[i + 2]));
                i += 2;
                if (ch == 0) {
                    return WEIR_HTTP_E_BAD_PATH;
                }
            }
            if (ch != '/') {
                if (o + 1 >= outsz) {
                    return WEIR_HTTP_E_BAD_PATH;
                }
                out[o++] = (char) ch;
                continue;
            }
        }

        /* a segment ended at a '/' (raw or decoded) or at the end */
        if (close_segment(out, &o, &seg) != WEIR_OK) {
            return WEIR_HTTP_E_BAD_PATH;
        }
        if (!end && o > seg) {
            if (o + 1 >= outsz) {
                return WEIR_HTTP_E_BAD_PATH;
            }
            out[o++] = '/';
            seg = o;
        }
    }

    out[o] = '\0';
    *out_len = o;
    return WEIR_OK;
}

/* The segment out[*seg..*o) has ended: drop it if it is "." or empty,
 * drop it and its parent if it is "..". Afterwards either the segment is
 * kept (*o > *seg) or *o == *seg sits right after a '/'. */
static int
close_segment(char *out, size_t *o, size_t *seg)
{
    size_t  n = *o - *seg;

    if (n == 1 && out[*seg] == '.') {
        *o = *seg;
    } else if (n == 2 && out[*seg] == '.' && out[*seg + 1] == '.') {
        if (*seg == 1) {
            return WEIR_ERROR;          /* would climb above the root */
        }
        *o = *seg - 1;
        while (out[*o - 1] != '/') {
            (*o)--;
        }
        *seg = *o;
    }
    return WEIR_OK;
}

/*
 * Error codes to HTTP status and reason: the one table (STYLE 6).
 */

static const struct {
    short        status;
    const char  *text;
} errors[WEIR_HTTP_E_MAX] = {
    [WEIR_HTTP_E_NONE]                = { 200, "no error" },
    [WEIR_HTTP_E_BAD_METHOD]          = { 400, "invalid method" },
    [WEIR_HTTP_E_BAD_TARGET]          = { 400, "invalid request target" },
    [WEIR_HTTP_E_BAD_VERSION]         = { 400, "invalid HTTP version" },
    [WEIR_HTTP_E_VERSION_UNSUPPORTED] = { 505, "HTTP version not supported" },
    [WEIR_HTTP_E_BAD_REQUEST_LINE]    = { 400, "malformed request line" },
    [WEIR_HTTP_E_BAD_HEADER_NAME]     = { 400, "invalid header name" },
    [WEIR_HTTP_E_BAD_HEADER_VALUE]    = { 400, "invalid header value" },
    [WEIR_HTTP_E_OBS_FOLD]            = { 400, "obsolete line folding" },
    [WEIR_HTTP_E_BARE_CR]             = { 400, "bare CR" },
    [WEIR_HTTP_E_NUL]                 = { 400, "NUL byte" },
    [WEIR_HTTP_E_TOO_MANY_HEADERS]    = { 431, "too many header fields" },
    [WEIR_HTTP_E_BAD_STATUS_LINE]     = { 502, "invalid status line" },
    [WEIR_HTTP_E_TE_AND_CL]           = { 400,
                              "both Transfer-Encoding and Content-Length" },
    [WEIR_HTTP_E_BAD_CONTENT_LENGTH]  = { 400, "invalid Content-Length" },
    [WEIR_HTTP_E_DUP_CONTENT_LENGTH]  = { 400,
                                          "conflicting Content-Length" },
    [WEIR_HTTP_E_TE_NOT_CHUNKED]      = { 400,
                              "Transfer-Encoding does not end in chunked" },
    [WEIR_HTTP_E_TE_UNSUPPORTED]      = { 501,
                                     "unsupported Transfer-Encoding" },
    [WEIR_HTTP_E_TE_HTTP10]           = { 400,
                                     "Transfer-Encoding in HTTP/1.0" },
    [WEIR_HTTP_E_BAD_HOST]            = { 400, "missing or invalid Host" },
    [WEIR_HTTP_E_BAD_CHUNK_SIZE]      = { 400, "invalid chunk size" },
    [WEIR_HTTP_E_BAD_CHUNK_EXT]       = { 400, "invalid chunk extension" },
    [WEIR_HTTP_E_BAD_CHUNK_DATA]      = { 400,
                                     "chunk data not followed by CRLF" },
    [WEIR_HTTP_E_BAD_TRAILER]         = { 400, "invalid trailer field" },
    [WEIR_HTTP_E_BAD_PATH]            = { 400, "invalid path" },
};

int
weir_http_error_status(int err)
{
    if (err < 0 || err >= WEIR_HTTP_E_MAX) {
        return 400;
    }
    return errors[err].status;
}

const char *
weir_http_error_text(int err)
{
    if (err < 0 || err >= WEIR_HTTP_E_MAX) {
        return "unknown parse error";
    }
    return errors[err].text;
}
