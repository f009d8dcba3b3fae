/*
 * libFuzzer harness: request head parser, request framing and path
 * normalisation. Checks, beyond "no crash": slices lie inside the input,
 * a prefix never disagrees with the whole, and a normalised path has no
 * empty, "." or ".." segment left.
 */
#include "weir_config.h"
#include "http/parse.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define MAX_HDRS  32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
    if (!cond) {
        abort();
    }
}

static int
inside(const char *s, size_t n, const char *buf, size_t len)
{
    return s >= buf && s + n <= buf + len;
}

static int
parse(const char *buf, size_t len, weir_http_request_head_t *h,
    weir_http_header_t *hdr, size_t *consumed)
{
    memset(h, 0, sizeof(*h));
    h->headers = hdr;
    h->max_headers = MAX_HDRS;
    return weir_http_parse_request(buf, len, h, consumed);
}

/* The target's path must normalise to something with no dot segments,
 * and its canonical form (what the proxy forwards) must normalise again
 * to the same path and the same canonical form: forwarding it is
 * idempotent, so an origin that normalises again sees what we routed.
 * Likewise with WEIR_PATH_PASS_SLASH (encoded_slash = pass), where a kept
 * "%2F" must never have let a dot segment through. */
static void
check_path(const char *t, size_t n, unsigned flags)
{
    char    *out = malloc(n + 1), *fwd = malloc(3 * n + 1);
    char    *out2 = NULL, *fwd2 = NULL;
    size_t   out_len, fwd_len, out2_len, fwd2_len, k;

    check(out != NULL && fwd != NULL);
    if (weir_http_normalize_target_flags(t, n, flags, out, n + 1, &out_len,
                                         fwd, 3 * n + 1, &fwd_len, NULL)
        == WEIR_OK) {
        check(out_len >= 1 && out_len <= n && out[0] == '/');
        check(strlen(out) == out_len && strlen(fwd) == fwd_len);
        for (k = 0; k + 1 < out_len; k++) {
            check(!(out[k] == '/' && out[k + 1] == '/'));
        }
        check(strstr(out, "/./") == NULL && strstr(out, "/../") == NULL);
        check(!(out_len >= 3 && strcmp(out + out_len - 3, "/..") == 0));
        check(strchr(out, '\\') == NULL);
        out2 = malloc(fwd_len + 1);
        fwd2 = malloc(3 * fwd_len + 1);
        check(out2 != NULL && fwd2 != NULL);
        check(weir_http_normalize_target_flags(fwd, fwd_len, flags, out2,
                                               fwd_len + 1, &out2_len, fwd2,
                                               3 * fwd_len + 1, &fwd2_len,
                                               NULL) == WEIR_OK);
        check(out2_len == out_len && memcmp(out2, out, out_len) == 0);
        check(fwd2_len == fwd_len && memcmp(fwd2, fwd, fwd_len) == 0);
    }
    free(out);
    free(fwd);
    free(out2);
    free(fwd2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weir_http_request_head_t  h, h2;
    weir_http_header_t        hdr[MAX_HDRS], hdr2[MAX_HDRS];
    weir_http_framing_t       f;
    const char               *buf = (const char *) data;
    char                     *pre;
    size_t                    consumed, consumed2, k, cut;
    int                       rc, rc2;

    rc = parse(buf, size, &h, hdr, &consumed);
    check(rc == WEIR_OK || rc == WEIR_AGAIN
          || (rc > 0 && rc < WEIR_HTTP_E_MAX));
    check(h.line_len <= size);

    if (rc > 0) {
        check(h.error_pos < size);
    }
    if (rc == WEIR_OK) {
        check(consumed <= size && consumed > 0);
        check(inside(h.method, h.method_len, buf, consumed));
        check(inside(h.target, h.target_len, buf, consumed));
        check(h.version == 10 || h.version == 11);
        check(h.num_headers <= MAX_HDRS);
        for (k = 0; k < h.num_headers; k++) {
            check(hdr[k].name_len > 0);
            check(inside(hdr[k].name, hdr[k].name_len, buf, consumed));
            check(inside(hdr[k].value, hdr[k].value_len, buf, consumed));
        }
        rc2 = weir_http_request_framing(&h, &f);
        check(rc2 == WEIR_OK || (rc2 > 0 && rc2 < WEIR_HTTP_E_MAX));
        if (rc2 == WEIR_OK && f.body == WEIR_HTTP_BODY_CHUNKED) {
            check(h.version == 11);
        }
        if (h.target[0] == '/') {
            check_path(h.target, h.target_len, 0);
            check_path(h.target, h.target_len, WEIR_PATH_PASS_SLASH);
        }
    }

    /* One prefix, in an exact-size copy so ASan sees any over-read: it
     * must be "need more" or the same verdict as the whole input. */
    if (size > 0) {
        cut = (size_t) data[0] * 131 % size;
        pre = malloc(cut ? cut : 1);
        check(pre != NULL);
        memcpy(pre, buf, cut);
        rc2 = parse(pre, cut, &h2, hdr2, &consumed2);
        if (rc == WEIR_OK && cut >= consumed) {
            check(rc2 == WEIR_OK && consumed2 == consumed);
        } else {
            check(rc2 == WEIR_AGAIN || rc2 == rc);
        }
        free(pre);
    }

    /* and the whole input as a path */
    check_path(buf, size, 0);
    check_path(buf, size, WEIR_PATH_PASS_SLASH);
    return 0;
}
