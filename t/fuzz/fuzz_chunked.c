/*
 * libFuzzer harness: chunked decoder. The body is decoded twice, in one
 * piece and in pseudo-random pieces (each an exact-size heap copy, so an
 * over-read is caught by ASan); both must agree on the verdict, on where
 * the body ends and on every data byte.
 */
#include "weir_config.h"
#include "http/parse.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
    if (!cond) {
        abort();
    }
}

/* Decode buf[0..len) in pieces; seed 0 means one piece. Returns the
 * verdict, the bytes used and the decoded data in out. */
static int
decode(const char *buf, size_t len, uint32_t seed, char *out,
    size_t *out_len, size_t *used)
{
    weir_http_chunked_t  c;
    size_t               off = 0, piece, pos, consumed, dlen;
    const char          *d;
    char                *copy;
    int                  rc = WEIR_AGAIN;

    memset(&c, 0, sizeof(c));
    *out_len = 0;
    while (off < len) {
        if (seed == 0) {
            piece = len - off;
        } else {
            seed = seed * 1103515245u + 12345u;
            piece = 1 + (seed >> 16) % 13;
            piece = weir_min(piece, len - off);
        }
        copy = malloc(piece);
        check(copy != NULL);
        memcpy(copy, buf + off, piece);
        pos = 0;
        do {
            rc = weir_http_chunked_step(&c, copy + pos, piece - pos,
                                        &consumed, &d, &dlen);
            check(consumed <= piece - pos);
            if (rc == WEIR_OK) {
                check(dlen > 0 && d >= copy + pos
                      && d + dlen <= copy + pos + consumed);
                memcpy(out + *out_len, d, dlen);
                *out_len += dlen;
            } else {
                check(d == NULL && dlen == 0);
            }
            pos += consumed;
        } while (rc == WEIR_OK && pos < piece);
        free(copy);
        off += pos;
        if (rc != WEIR_OK && rc != WEIR_AGAIN) {
            break;
        }
    }
    *used = off;
    /* data that ended exactly at the end of the input still needs more */
    return rc == WEIR_OK ? WEIR_AGAIN : rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char      *out1, *out2;
    size_t     len1, len2, used1, used2;
    uint32_t   seed;
    int        rc1, rc2;

    if (size < 2) {
        return 0;
    }
    seed = (uint32_t) data[0] << 8 | data[1] | 1u;
    data += 2;
    size -= 2;

    out1 = malloc(size + 1);
    out2 = malloc(size + 1);
    check(out1 != NULL && out2 != NULL);

    rc1 = decode((const char *) data, size, 0, out1, &len1, &used1);
    rc2 = decode((const char *) data, size, seed, out2, &len2, &used2);
    check(rc1 == WEIR_AGAIN || rc1 == WEIR_DONE
          || (rc1 > 0 && rc1 < WEIR_HTTP_E_MAX));
    check(used1 <= size && len1 <= used1);
    if (rc1 == WEIR_DONE || rc1 > 0) {
        /* a verdict reached on the whole is reached in pieces too */
        check(rc2 == rc1);
    }
    if (rc1 == WEIR_DONE) {
        check(used1 == used2 && len1 == len2);
        check(memcmp(out1, out2, len1) == 0);
    }
    if (rc1 == WEIR_AGAIN) {
        check(rc2 == WEIR_AGAIN && len1 == len2 && used1 == size);
        check(memcmp(out1, out2, len1) == 0);
    }

    free(out1);
    free(out2);
    return 0;
}
