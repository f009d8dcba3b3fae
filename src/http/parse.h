/*
 * HTTP/1.x parsers as pure functions over a byte range: no allocation, no
 * I/O, no globals (DESIGN §1, STYLE 22). Results are slices into the input.
 *
 * Return values of every parser:
 *   WEIR_OK     complete (request/response head: *consumed bytes form it)
 *   WEIR_AGAIN  incomplete: call again with more data (same buffer start)
 *   > 0         a WEIR_HTTP_E_* error; h->error_pos is its byte offset
 * "Incomplete" and "invalid" are never the same value.
 */
#ifndef WEIR_HTTP_PARSE_H
#define WEIR_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum weir_http_error {
    WEIR_HTTP_E_NONE = 0,
    WEIR_HTTP_E_BAD_METHOD = 1,       /* 400: not a token */
    WEIR_HTTP_E_BAD_TARGET,           /* 400: CTL, space, bytes >= 0x80 */
    WEIR_HTTP_E_BAD_VERSION,          /* 400: not HTTP/d.d */
    WEIR_HTTP_E_VERSION_UNSUPPORTED,  /* 505: HTTP/2.0 etc. over 1.x */
    WEIR_HTTP_E_BAD_REQUEST_LINE,     /* 400: structure (spaces, missing) */
    WEIR_HTTP_E_BAD_HEADER_NAME,      /* 400: not a token, empty, space before ':' */
    WEIR_HTTP_E_BAD_HEADER_VALUE,     /* 400: CTL in value */
    WEIR_HTTP_E_OBS_FOLD,             /* 400: continuation line */
    WEIR_HTTP_E_BARE_CR,              /* 400: CR not followed by LF */
    WEIR_HTTP_E_NUL,                  /* 400: NUL anywhere */
    WEIR_HTTP_E_TOO_MANY_HEADERS,     /* 431 */
    WEIR_HTTP_E_BAD_STATUS_LINE,      /* response: 502 */
    /* framing (weir_http_parse_framing) */
    WEIR_HTTP_E_TE_AND_CL,            /* 400: both Transfer-Encoding and CL */
    WEIR_HTTP_E_BAD_CONTENT_LENGTH,   /* 400: not digits, > INT64_MAX */
    WEIR_HTTP_E_DUP_CONTENT_LENGTH,   /* 400: several differing values */
    WEIR_HTTP_E_TE_NOT_CHUNKED,       /* 400: final coding not chunked */
    WEIR_HTTP_E_TE_UNSUPPORTED,       /* 501: unknown coding, chunked twice */
    WEIR_HTTP_E_TE_HTTP10,            /* 400: Transfer-Encoding in HTTP/1.0 */
    WEIR_HTTP_E_BAD_HOST,             /* 400: missing (1.1) / several / bad */
    /* chunked decoder */
    WEIR_HTTP_E_BAD_CHUNK_SIZE,       /* 400: not hex, overflow, empty */
    WEIR_HTTP_E_BAD_CHUNK_EXT,        /* 400: malformed extension */
    WEIR_HTTP_E_BAD_CHUNK_DATA,       /* 400: data not followed by CRLF */
    WEIR_HTTP_E_BAD_TRAILER,          /* 400: malformed trailer field */
    /* path normalisation */
    WEIR_HTTP_E_BAD_PATH,             /* 400: escapes root, %00, bad %xx */
    WEIR_HTTP_E_MAX
};

typedef struct weir_http_header_s {
    const char *name;
    size_t      name_len;
    const char *value;       /* leading/trailing OWS trimmed */
    size_t      value_len;
} weir_http_header_t;

typedef struct weir_http_request_head_s {
    const char         *method;
    size_t              method_len;
    const char         *target;        /* origin-form, asterisk-form or
                                        * (CONNECT) authority-form; an
                                        * absolute-form target is reduced
                                        * to its path and query */
    size_t              target_len;
    const char         *authority;     /* absolute-form: its host[:port],
                                        * NULL otherwise (a slice like the
                                        * others: move it with them) */
    size_t              authority_len;
    int                 version;       /* 10 or 11 (major*10+minor) */
    weir_http_header_t *headers;       /* in: caller's array */
    size_t              max_headers;   /* in: its capacity */
    size_t              num_headers;   /* out */
    size_t              line_len;      /* out: request line incl. CRLF, once
                                        * it is complete (0 before) */
    size_t              error_pos;     /* out: offset of the bad byte */
} weir_http_request_head_t;

typedef struct weir_http_response_head_s {
    int                 version;
    int                 status;        /* 100..999 */
    const char         *reason;
    size_t              reason_len;
    weir_http_header_t *headers;
    size_t              max_headers;
    size_t              num_headers;
    size_t              error_pos;
} weir_http_response_head_t;

/* Parse a request head. A leading empty line (CRLF) before the request
 * line is tolerated once (RFC 9112 2.2). Lines end in CRLF or bare LF;
 * a bare CR is an error.
 *
 * An absolute-form target ("http://host:port/path?query", scheme http or
 * https in any case) is validated: no userinfo, a non-empty reg-name,
 * IPv4 or [IPv6] host, a port of 1-65535, and a path ("http://host" is
 * "/"; "http://host?query" has no "/" to slice and is refused). Then
 * target is the origin-form (path and query), authority the host[:port],
 * and, because RFC 9112 3.2.2 has the authority replace Host, the value
 * of every Host field in headers is set to the authority: whoever reads
 * Host afterwards (framing checks, $host, the proxied Host) sees it. A
 * request without Host (HTTP/1.0) gets none added. A CONNECT target must
 * be host:port. Anything else that is not "/..." or "*" is
 * WEIR_HTTP_E_BAD_TARGET. */
int weir_http_parse_request(const char *buf, size_t len,
    weir_http_request_head_t *h, size_t *consumed);

/* Parse a response head: "HTTP/1.x NNN reason". */
int weir_http_parse_response(const char *buf, size_t len,
    weir_http_response_head_t *h, size_t *consumed);

/* Message framing from parsed headers (RFC 9112 6). */
enum weir_http_body {
    WEIR_HTTP_BODY_NONE = 0,
    WEIR_HTTP_BODY_LENGTH,
    WEIR_HTTP_BODY_CHUNKED,
    WEIR_HTTP_BODY_CLOSE          /* responses only: read until close */
};

typedef struct weir_http_framing_s {
    int       body;               /* enum weir_http_body */
    uint64_t  content_length;     /* for WEIR_HTTP_BODY_LENGTH */
    unsigned  keepalive:1;        /* per version + Connection header */
    unsigned  upgrade:1;          /* Connection: upgrade + Upgrade present */
    unsigned  expect_continue:1;  /* Expect: 100-continue (requests) */
    unsigned  has_host:1;
} weir_http_framing_t;

/* For a request: Transfer-Encoding with Content-Length, an invalid or
 * differing Content-Length, a TE whose last coding is not chunked, TE in
 * HTTP/1.0, missing/duplicate Host in 1.1 are errors. Returns WEIR_OK or a
 * WEIR_HTTP_E_* code. */
int weir_http_request_framing(const weir_http_request_head_t *h,
    weir_http_framing_t *f);

/* The next element of a comma-separated header value (RFC 9110 5.6.1),
 * optional whitespace trimmed, empty elements included. Start with *p at
 * the value and end its end; returns 0 when the list is done. */
int weir_http_list_next(const char **p, const char *end, const char **el,
    size_t *el_len);

/* For a response to `method` (HEAD, or CONNECT) with the given status:
 * 1xx/204/304 and HEAD have no body; TE+CL is an error (we refuse rather
 * than guess), so is chunked anywhere but last or more than once (RFC
 * 9112 6.1); TE without chunked means read-until-close. */
int weir_http_response_framing(const weir_http_response_head_t *h,
    int request_was_head, weir_http_framing_t *f);

/* Incremental chunked-body decoder. Zero-initialise before first use. */
typedef struct weir_http_chunked_s {
    int       state;
    uint64_t  size;      /* bytes left in the current chunk */
    size_t    ext_len;   /* bounds chunk-extension + trailer lengths */
} weir_http_chunked_t;

/* Decode from buf[0..len). Sets *consumed to the bytes used. When the step
 * yields body bytes, data and data_len point at them inside buf (they are
 * part of *consumed) and WEIR_OK is returned: call again with the rest.
 * WEIR_AGAIN: all input used, need more. WEIR_DONE: the last chunk and the
 * trailer section were consumed (*consumed stops right after them).
 * > 0: a WEIR_HTTP_E_* error. */
int weir_http_chunked_step(weir_http_chunked_t *c, const char *buf,
    size_t len, size_t *consumed, const char **data, size_t *data_len);

/* Normalise the path of an origin-form target into out (capacity outsz,
 * at least path length + 1): stop at '?', decode %XX, merge "//",
 * resolve "." and ".." segments. Refused (WEIR_HTTP_E_BAD_PATH): a '#'
 * anywhere in the target, %00, a malformed escape, "%2F", a backslash
 * raw or as "%5C", a ".." that would climb above "/", a segment that is
 * "." or ".." before a ';' ("..;x"). The result starts with '/', is
 * NUL-terminated; *out_len set. Returns WEIR_OK or WEIR_HTTP_E_BAD_PATH. */
int weir_http_normalize_path(const char *target, size_t len, char *out,
    size_t outsz, size_t *out_len);

/* The same, and when fwd is not NULL also the canonical form of the
 * normalised path (RFC 3986 6.2.2) into fwd (capacity fwdsz, at least 3
 * times the path length + 1; NUL-terminated, *fwd_len set): unreserved
 * bytes as themselves, other bytes that came raw and may stand raw in a
 * path (sub-delims, ':', '@') as they came, everything else as %XX with
 * upper-case hex. It is the path the proxy forwards: it names the same
 * segments as out, byte for byte once decoded. */
int weir_http_normalize_target(const char *target, size_t len, char *out,
    size_t outsz, size_t *out_len, char *fwd, size_t fwdsz,
    size_t *fwd_len);

/* The same with flags. WEIR_PATH_PASS_SLASH: "%2F" is not refused but
 * kept as the three bytes "%2F" in out and in fwd (never a separator);
 * refused still when a piece of its segment between them is empty, "."
 * or ".." (or those before a ';'). *seen (when not NULL) gets
 * WEIR_PATH_PASS_SLASH when a "%2F" was kept. */
#define WEIR_PATH_PASS_SLASH  0x1
int weir_http_normalize_target_flags(const char *target, size_t len,
    unsigned flags, char *out, size_t outsz, size_t *out_len, char *fwd,
    size_t fwdsz, size_t *fwd_len, unsigned *seen);

/* The HTTP status an error maps to (400/431/501/505/502 for
 * WEIR_HTTP_E_BAD_STATUS_LINE) and a short human reason. */
int weir_http_error_status(int err);
const char *weir_http_error_text(int err);

#endif /* WEIR_HTTP_PARSE_H */
