/*
 * libFuzzer harness: response head parser and response framing.
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
parse(const char *buf, size_t len, weir_http_response_head_t *h,
    weir_http_header_t *hdr, size_t *consumed)
{
    memset(h, 0, sizeof(*h));
    h->headers = hdr;
    h->max_headers = MAX_HDRS;
    return weir_http_parse_response(buf, len, h, consumed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weir_http_response_head_t  h, h2;
    weir_http_header_t         hdr[MAX_HDRS], hdr2[MAX_HDRS];
    weir_http_framing_t        f;
    const char                *buf = (const char *) data;
    char                      *pre;
    size_t                     consumed, consumed2, k, cut;
    int                        rc, rc2, head;

    rc = parse(buf, size, &h, hdr, &consumed);
    check(rc == WEIR_OK || rc == WEIR_AGAIN
          || (rc > 0 && rc < WEIR_HTTP_E_MAX));
    if (rc > 0) {
        check(h.error_pos < size);
    }
    if (rc == WEIR_OK) {
        check(consumed <= size);
        check(h.status >= 100 && h.status <= 999);
        check(h.version == 10 || h.version == 11);
        check(inside(h.reason, h.reason_len, buf, consumed));
        check(h.num_headers <= MAX_HDRS);
        for (k = 0; k < h.num_headers; k++) {
            check(hdr[k].name_len > 0);
            check(inside(hdr[k].name, hdr[k].name_len, buf, consumed));
            check(inside(hdr[k].value, hdr[k].value_len, buf, consumed));
        }
        for (head = 0; head < 2; head++) {
            rc2 = weir_http_response_framing(&h, head, &f);
            check(rc2 == WEIR_OK || (rc2 > 0 && rc2 < WEIR_HTTP_E_MAX));
            if (rc2 == WEIR_OK && (head || h.status == 204
                                   || h.status == 304 || h.status < 200))
            {
                check(f.body == WEIR_HTTP_BODY_NONE);
            }
            if (rc2 == WEIR_OK && f.body == WEIR_HTTP_BODY_CLOSE) {
                check(!f.keepalive);
            }
        }
    }

    if (size > 0) {
        cut = (size_t) data[size - 1] * 257 % size;
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
    return 0;
}
