/*
 * HTTP/1.x head parsers and the error-code table (RFC 9110, RFC 9112).
 * The parser is the security boundary of the proxy: what it accepts is
 * what every later stage trusts, so it is strict wherever two
 * implementations could read the same bytes two ways (request smuggling,
 * response splitting, path traversal). Framing and the chunked decoder
 * are in parse_body.c, path normalisation in parse_path.c, the host
 * rules in parse_host.c.
 *
 * The head parsers keep no state between calls: the caller re-parses from
 * the start of the buffer when more bytes arrive. Each byte is judged once,
 * with at most one byte of look-ahead (after a CR), so a prefix of the
 * input always yields WEIR_AGAIN or exactly the error the whole input
 * yields, and no byte at or past len is ever read.
 */
#include "weir_config.h"
#include "http/parse.h"
#include "http/parse-t.h"

#include <string.h>

#include "core/core.h"

static int classify(const unsigned char *p, size_t len, size_t i, int dflt);
static int fail(size_t *epos, size_t i, int err);
static int line_end(const unsigned char *p, size_t len, size_t *i);
static int parse_version(const unsigned char *p, size_t len, size_t *i,
    int *major, int *minor, int bad);
static int parse_fields(const unsigned char *p, size_t len, size_t *pos,
    weir_http_header_t *hdr, size_t max, size_t *num, size_t *epos);
static int request_target(weir_http_request_head_t *h, const char *t,
    size_t n, size_t *bad);
static void host_is_authority(weir_http_request_head_t *h);

/* 0x80..0xff are all obs-text: allowed in values, nothing else */
#define OBS4   0x44, 0x44, 0x44, 0x44
#define OBS16  OBS4, OBS4, OBS4, OBS4
#define OBS64  OBS16, OBS16, OBS16, OBS16

const unsigned char weir_http_cls[256] = {
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


/*
 * Request head.
 */

int
weir_http_parse_request(const char *buf, size_t len,
    weir_http_request_head_t *h, size_t *consumed)
{
    const unsigned char  *p = (const unsigned char *) buf;
    size_t                i = 0, start, tstart, bad;
    int                   rc, major, minor;

    h->method = NULL;
    h->method_len = 0;
    h->target = NULL;
    h->target_len = 0;
    h->authority = NULL;
    h->authority_len = 0;
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
    while (i < len && (weir_http_cls[p[i]] & C_TCHAR)) {
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
    while (i < len && (weir_http_cls[p[i]] & C_TARGET)) {
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
    rc = request_target(h, buf + tstart, i - tstart, &bad);
    if (rc != WEIR_OK) {
        return fail(&h->error_pos, tstart + bad, rc);
    }
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
        if (h->authority != NULL) {
            host_is_authority(h);
        }
        *consumed = i;
    }
    return rc;
}

/* Judge the request-target t[0..n) (n > 0, every byte C_TARGET) and set
 * h->target and h->authority. origin-form starts with '/',
 * asterisk-form is exactly "*", authority-form (host:port) is only for
 * CONNECT, and the rest must be an absolute-form:
 *     ("http" / "https") "://" authority [ "/" path ] [ "?" query ]
 * Whatever else cannot be routed is refused here rather than confusing
 * a later stage. Returns WEIR_OK or WEIR_HTTP_E_BAD_TARGET with *bad the
 * offset of the offending byte in t (n: the end). */
static int
request_target(weir_http_request_head_t *h, const char *t, size_t n,
    size_t *bad)
{
    const unsigned char  *u = (const unsigned char *) t;
    size_t                i = 0, end;

    *bad = 0;
    h->target = t;
    h->target_len = n;
    if (u[0] == '/') {
        return WEIR_OK;
    }
    if (u[0] == '*') {
        *bad = 1;
        return n == 1 ? WEIR_OK : WEIR_HTTP_E_BAD_TARGET;
    }
    if (h->method_len == 7 && memcmp(h->method, "CONNECT", 7) == 0) {
        return weir_http_authority(u, n, WEIR_HOST_NEED_PORT, bad);
    }

    /* The scheme, case-insensitive (RFC 3986 3.1). */
    while (i < n && (u[i] | 0x20) >= 'a' && (u[i] | 0x20) <= 'z') {
        i++;
    }
    if (!lower_eq(t, i, "http") && !lower_eq(t, i, "https")) {
        return WEIR_HTTP_E_BAD_TARGET;
    }
    if (n - i < 3 || memcmp(u + i, "://", 3) != 0) {
        *bad = i;
        return WEIR_HTTP_E_BAD_TARGET;
    }

    /* The authority ends at the path or the query; '#' or '@' inside it
     * are refused by weir_http_authority() like any byte a host cannot
     * hold. */
    for (end = i + 3; end < n && u[end] != '/' && u[end] != '?'; end++) {
        /* void */
    }
    if (weir_http_authority(u + i + 3, end - i - 3, 0, bad) != WEIR_OK) {
        *bad += i + 3;
        return WEIR_HTTP_E_BAD_TARGET;
    }
    if (end < n && u[end] == '?') {
        /* "http://a?q" would go upstream as "/?q", which is not a slice
         * of the input: the parser allocates nothing, so it refuses. */
        *bad = end;
        return WEIR_HTTP_E_BAD_TARGET;
    }

    h->authority = t + i + 3;
    h->authority_len = end - i - 3;
    if (end == n) {
        /* RFC 9112 3.2.1: an empty path is sent as "/"; the second
         * slash of "://" is one, inside the input. */
        h->target = t + i + 2;
        h->target_len = 1;
    } else {
        h->target = t + end;
        h->target_len = n - end;
    }
    return WEIR_OK;
}

/* RFC 9112 3.2.2: a server that receives an absolute-form target ignores
 * Host and uses the target's authority instead. The Host fields' values
 * become that authority, so every later reader of Host (the framing
 * checks, $host, the Host and X-Forwarded-Host sent upstream) sees the
 * one host the target named and no one can be told another by the
 * field. Still slices of the input: a caller that moves the buffer moves
 * them with the rest. */
static void
host_is_authority(weir_http_request_head_t *h)
{
    size_t  k;

    for (k = 0; k < h->num_headers; k++) {
        if (lower_eq(h->headers[k].name, h->headers[k].name_len, "host")) {
            h->headers[k].value = h->authority;
            h->headers[k].value_len = h->authority_len;
        }
    }
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
            : !(weir_http_cls[p[i]] & C_DIGIT) || (k == 1 && p[i] == '0'))
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
    while (i < len && (weir_http_cls[p[i]] & C_VALUE)) {
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
        if (proto[k] == 'd' ? !(weir_http_cls[p[n]] & C_DIGIT)
                            : p[n] != proto[k])
        {
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
        while (i < len && (weir_http_cls[p[i]] & C_TCHAR)) {
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
        while (i < len && (weir_http_cls[p[i]] & C_VALUE)) {
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
