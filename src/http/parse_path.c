/*
 * Path normalisation of an origin-form target. Escapes are decoded first
 * and dot-segments resolved on the decoded bytes, so "%2e%2e" and "..%2f"
 * are the ".." they spell for the file system; resolving before decoding
 * is the classic traversal hole. Same rules as parse.c: no allocation,
 * no I/O, no state.
 */
#include "weir_config.h"
#include "http/parse.h"
#include "http/parse-t.h"

#include "core/core.h"

static int close_segment(char *out, size_t *o, size_t *seg);

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
                if (len - i < 3
                    || !(weir_http_cls[(unsigned char) target[i + 1]] & C_HEX)
                    || !(weir_http_cls[(unsigned char) target[i + 2]] & C_HEX))
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
