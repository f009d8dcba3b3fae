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
 * inside a segment to some origins, a separator to others; but see
 * below), a backslash
 * raw or as "%5C" (a separator to IIS-style origins, a byte on Linux), a
 * "#" (a fragment never belongs in a request target), "%00", a malformed
 * escape, a ".." that would climb above "/", and a segment that is a dot
 * segment once its ";parameters" are cut ("..;", which Tomcat-style
 * origins resolve and the route would not).
 *
 * With WEIR_PATH_PASS_SLASH (a route's `encoded_slash = pass`, for
 * origins such as GitLab's API that read "group%2Fproject" as one name)
 * "%2F" is kept as those three bytes in both results: it never becomes a
 * '/', so it cannot end a segment, take part in a dot segment or move
 * the route. A segment holding one is still refused when a piece of it
 * between "%2F"s is empty, "." or ".." (or those before a ';'), so that
 * an origin that does decode it finds no dot segment to resolve either.
 *
 * Same rules as parse.c: no allocation, no I/O, no state.
 */
#include "weir_config.h"
#include "http/parse.h"
#include "http/parse-t.h"

#include <string.h>

#include "core/core.h"

typedef struct {
    char    *out;       /* decoded path */
    size_t   o, seg, outsz;
    char    *fwd;       /* canonical form, or NULL */
    size_t   f, fseg, fwdsz;
    size_t   piece;     /* where the piece after the last kept %2F starts */
    unsigned eslash:1;  /* this segment holds a kept %2F */
} path_state_t;

static int path_byte(path_state_t *s, unsigned ch, int escaped);
static int close_segment(path_state_t *s);
static int dot_params(const char *seg, size_t n);
static int encoded_slash(path_state_t *s);
static int bad_piece(const char *p, size_t n);
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
    return weir_http_normalize_target_flags(target, len, 0, out, outsz,
                                            out_len, fwd, fwdsz, fwd_len,
                                            NULL);
}

int
weir_http_normalize_target_flags(const char *target, size_t len,
    unsigned flags, char *out, size_t outsz, size_t *out_len, char *fwd,
    size_t fwdsz, size_t *fwd_len, unsigned *seen)
{
    path_state_t  s = { out, 1, 1, outsz, fwd, 1, 1, fwdsz, 1, 0 };
    size_t        i, k;
    unsigned      ch;
    int           end = 0, escaped;

    *out_len = 0;
    if (seen) {
        *seen = 0;
    }
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
                    /* "%2F": two readings, unless asked to keep it */
                    if (!(flags & WEIR_PATH_PASS_SLASH)
                        || encoded_slash(&s) != WEIR_OK) {
                        return WEIR_HTTP_E_BAD_PATH;
                    }
                    if (seen) {
                        *seen |= WEIR_PATH_PASS_SLASH;
                    }
                    continue;
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
        if (s.eslash && bad_piece(out + s.piece, s.o - s.piece)) {
            return WEIR_HTTP_E_BAD_PATH;
        }
        s.eslash = 0;
        if (close_segment(&s) != WEIR_OK) {
            return WEIR_HTTP_E_BAD_PATH;
        }
        s.piece = s.seg;    /* a dropped "." or ".." moved seg back */
        if (!end && s.o > s.seg) {
            if (s.o + 1 >= s.outsz || (s.fwd && s.f + 1 >= s.fwdsz)) {
                return WEIR_HTTP_E_BAD_PATH;
            }
            out[s.o++] = '/';
            s.seg = s.o;
            s.piece = s.o;
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

/* A "%2F" to keep: the piece before it must be a name, and the three
 * bytes go to both results as they are (upper case, like every escape of
 * the canonical form). */
static int
encoded_slash(path_state_t *s)
{
    if (bad_piece(s->out + s->piece, s->o - s->piece)
        || s->o + 3 >= s->outsz || (s->fwd && s->f + 3 >= s->fwdsz)) {
        return WEIR_ERROR;
    }
    memcpy(s->out + s->o, "%2F", 3);
    s->o += 3;
    s->piece = s->o;
    s->eslash = 1;
    if (s->fwd) {
        memcpy(s->fwd + s->f, "%2F", 3);
        s->f += 3;
    }
    return WEIR_OK;
}

/* A piece of a segment next to a kept "%2F" that would be an empty or a
 * dot segment to an origin that decodes it: "", ".", "..", ".;x",
 * "..;x". */
static int
bad_piece(const char *p, size_t n)
{
    return n == 0 || (n == 1 && p[0] == '.')
           || (n == 2 && p[0] == '.' && p[1] == '.') || dot_params(p, n);
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
