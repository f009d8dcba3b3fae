/*
 * Path normalisation of an origin-form target (RFC 3986 6.2.2). Escapes
 * are decoded first and dot-segments resolved on the decoded bytes, so
 * "%2e%2e" is the ".." it spells; resolving before decoding is the
 * classic traversal hole. Two results come out of one walk: the decoded
 * path that routes and static files use, and the same path re-encoded
 * canonically, which is what the proxy forwards, so that an origin acts
 * on exactly the path the route was chosen for.
 *
 * What has no single meaning is refused rather than guessed: "%2F" (data
 * inside a segment to some origins, a separator to others), a backslash
 * raw or as "%5C" (a separator to IIS-style origins, a byte on Linux), a
 * "#" (a fragment never belongs in a request target), "%00", a malformed
 * escape, a ".." that would climb above "/", and a segment that is a dot
 * segment once its ";parameters" are cut ("..;", which Tomcat-style
 * origins resolve and the route would not).
 *
 * Same rules as parse.c: no allocation, no I/O, no state.
 */
#include "weir_config.h"
#include "http/parse.h"
#include "http/parse-t.h"

#include "core/core.h"

typedef struct {
    char    *out;       /* decoded path */
    size_t   o, seg, outsz;
    char    *fwd;       /* canonical form, or NULL */
    size_t   f, fseg, fwdsz;
} path_state_t;

static int path_byte(path_state_t *s, unsigned ch, int escaped);
static int close_segment(path_state_t *s);
static int dot_params(const char *seg, size_t n);
static int unreserved(unsigned ch);
static int raw_path_char(unsigned ch);

int
weir_http_normalize_path(const char *target, size_t len, char *out,
    size_t outsz, size_t *out_len)
{
    return weir_http_normalize_target(target, len, out, outsz, out_len,
                                      NULL, 0, NULL);
}

int
weir_http_normalize_target(const char *target, size_t len, char *out,
    size_t outsz, size_t *out_len, char *fwd, size_t fwdsz, size_t *fwd_len)
{
    path_state_t  s = { out, 1, 1, outsz, fwd, 1, 1, fwdsz };
    size_t        i, k;
    unsigned      ch;
    int           end = 0, escaped;

    *out_len = 0;
    if (fwd_len) {
        *fwd_len = 0;
    }
    if (len == 0 || target[0] != '/' || outsz < 2 || (fwd && fwdsz < 2)) {
        return WEIR_HTTP_E_BAD_PATH;
    }
    /* RFC 9112 3.2.1: origin-form is a path and a query, never a
     * fragment; a "#" anywhere is a client bug or a probe. */
    for (k = 0; k < len; k++) {
        if (target[k] == '#') {
            return WEIR_HTTP_E_BAD_PATH;
        }
    }
    out[0] = '/';
    if (fwd) {
        fwd[0] = '/';
    }

    for (i = 1; !end; i++) {
        if (i == len || target[i] == '?') {
            end = 1;
        } else {
            ch = (unsigned char) target[i];
            escaped = 0;
            if (ch == '%') {
                if (len - i < 3
                    || !(weir_http_cls[(unsigned char) target[i + 1]] & C_HEX)
                    || !(weir_http_cls[(unsigned char) target[i + 2]] & C_HEX))
                {
                    return WEIR_HTTP_E_BAD_PATH;
                }
                ch = (unsigned) (hexval((unsigned char) target[i + 1]) << 4
                                 | hexval((unsigned char) target[i + 2]));
                i += 2;
                escaped = 1;
                if (ch == '/') {
                    return WEIR_HTTP_E_BAD_PATH;    /* "%2F": two readings */
                }
            }
            if (ch == '\0' || ch == '\\') {
                /* A NUL would truncate the C string result; a backslash
                 * is a separator to some origins and not to us. */
                return WEIR_HTTP_E_BAD_PATH;
            }
            if (ch != '/') {
                if (path_byte(&s, ch, escaped) != WEIR_OK) {
                    return WEIR_HTTP_E_BAD_PATH;
                }
                continue;
            }
        }

        /* a segment ended at a '/' or at the end */
        if (close_segment(&s) != WEIR_OK) {
            return WEIR_HTTP_E_BAD_PATH;
        }
        if (!end && s.o > s.seg) {
            if (s.o + 1 >= s.outsz || (s.fwd && s.f + 1 >= s.fwdsz)) {
                return WEIR_HTTP_E_BAD_PATH;
            }
            out[s.o++] = '/';
            s.seg = s.o;
            if (s.fwd) {
                s.fwd[s.f++] = '/';
                s.fseg = s.f;
            }
        }
    }

    out[s.o] = '\0';
    *out_len = s.o;
    if (fwd) {
        fwd[s.f] = '\0';
        *fwd_len = s.f;
    }
    return WEIR_OK;
}

/* Append one path byte (decoded) to both results. The canonical form
 * writes unreserved bytes as themselves however they came (RFC 3986
 * 6.2.2.2), keeps any other byte that came raw and may stand raw in a
 * path, and writes the rest as %XX in upper case (6.2.2.1): a reserved
 * byte that came escaped stays escaped, since "%3B" and ";" may mean
 * different things to the origin. */
static int
path_byte(path_state_t *s, unsigned ch, int escaped)
{
    static const char  hex[] = "0123456789ABCDEF";

    if (s->o + 1 >= s->outsz) {
        return WEIR_ERROR;
    }
    s->out[s->o++] = (char) ch;
    if (s->fwd == NULL) {
        return WEIR_OK;
    }
    if (unreserved(ch) || (!escaped && raw_path_char(ch))) {
        if (s->f + 1 >= s->fwdsz) {
            return WEIR_ERROR;
        }
        s->fwd[s->f++] = (char) ch;
        return WEIR_OK;
    }
    if (s->f + 3 >= s->fwdsz) {
        return WEIR_ERROR;
    }
    s->fwd[s->f++] = '%';
    s->fwd[s->f++] = hex[ch >> 4];
    s->fwd[s->f++] = hex[ch & 0x0f];
    return WEIR_OK;
}

/* The segment out[seg..o) has ended: drop it if it is "." or empty, drop
 * it and its parent if it is "..". Afterwards either the segment is kept
 * (o > seg) or o == seg sits right after a '/'. The canonical form holds
 * the same segments (a dot is unreserved, so "." and ".." are written as
 * such, and every '/' in it is a separator): it is cut alike. */
static int
close_segment(path_state_t *s)
{
    size_t  n = s->o - s->seg;

    if (dot_params(s->out + s->seg, n)) {
        return WEIR_ERROR;
    }
    if (n == 1 && s->out[s->seg] == '.') {
        s->o = s->seg;
        s->f = s->fseg;
    } else if (n == 2 && s->out[s->seg] == '.' && s->out[s->seg + 1] == '.') {
        if (s->seg == 1) {
            return WEIR_ERROR;          /* would climb above the root */
        }
        s->o = s->seg - 1;
        while (s->out[s->o - 1] != '/') {
            s->o--;
        }
        s->seg = s->o;
        if (s->fwd) {
            s->f = s->fseg - 1;
            while (s->fwd[s->f - 1] != '/') {
                s->f--;
            }
            s->fseg = s->f;
        }
    }
    return WEIR_OK;
}

/* "..;x" or ".;x": a dot segment to an origin that cuts path parameters
 * (RFC 2396 3.3) before resolving, an ordinary name to us. */
static int
dot_params(const char *seg, size_t n)
{
    if (n >= 2 && seg[0] == '.' && seg[1] == ';') {
        return 1;
    }
    return n >= 3 && seg[0] == '.' && seg[1] == '.' && seg[2] == ';';
}

/* RFC 3986 2.3 */
static int
unreserved(unsigned ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'
           || ch == '_' || ch == '~';
}

/* What else RFC 3986 3.3 lets a path segment hold raw: sub-delims, ':'
 * and '@' ("/" is the separator, handled by the caller). */
static int
raw_path_char(unsigned ch)
{
    switch (ch) {
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=': case ':': case '@':
        return 1;
    default:
        return 0;
    }
}
