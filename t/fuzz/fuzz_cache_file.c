/*
 * libFuzzer harness: the cache file decoder (what a worker reads from a
 * file on disk, which a full disk, a crash or a hand can leave in any
 * state) and the Cache-Control parser with the freshness rules over the
 * fields of a response head.
 */
#include "weir_config.h"
#include "cache/cache_file.h"

#include <stdlib.h>
#include <string.h>

#include "cache/cache_policy.h"
#include "core/core.h"
#include "http/parse.h"
#include "http/request.h"

#define MAX_HDRS  32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void
decode(const char *buf, size_t len)
{
    weir_cache_obj_t obj;
    char             err[128];
    size_t           need = 0;
    int              rc;

    rc = weir_cache_file_decode(buf, len, NULL, 0, 0, &obj, &need, err,
                                sizeof(err));
    if (rc == WEIR_OK) {
        /* every part it points at lies inside what was given */
        check(obj.key >= buf && obj.key + obj.hdr.key_len <= buf + len);
        check(obj.vary >= buf && obj.vary + obj.hdr.vary_len <= buf + len);
        check(obj.head >= buf && obj.head + obj.hdr.head_len <= buf + len);
        check(obj.body_off <= len || obj.hdr.body_len
                                     == WEIR_CACHE_BODY_UNKNOWN
              || obj.body_off >= sizeof(weir_cache_hdr_t));
    } else if (rc == WEIR_AGAIN) {
        check(need > len);
    }
    /* with a key: the same answer or a refusal, never more */
    rc = weir_cache_file_decode(buf, len, "k", 1, (uint64_t) len, &obj,
                                &need, err, sizeof(err));
    check(rc == WEIR_OK || rc == WEIR_AGAIN || rc == WEIR_ERROR);
}

static void
rules(const char *buf, size_t len)
{
    weir_http_response_head_t h;
    weir_http_header_t        hdr[MAX_HDRS];
    weir_cache_cc_t           cc;
    weir_cache_meta_t         meta;
    weir_cache_verdict_t      v;
    weir_cache_rules_t        r;
    size_t                    consumed, i;

    memset(&h, 0, sizeof(h));
    h.headers = hdr;
    h.max_headers = MAX_HDRS;
    if (weir_http_parse_response(buf, len, &h, &consumed) != WEIR_OK) {
        return;
    }
    weir_cache_cc_parse(hdr, h.num_headers, &cc);
    for (i = 0; i < sizeof(r.valid) / sizeof(r.valid[0]); i++) {
        r.valid[i] = -1;
    }
    r.valid[0] = 60;
    r.stale_if_error = 3600;
    r.stale_while_revalidate = 10;
    weir_cache_storable(&r, WEIR_HTTP_GET, h.status, NULL, 0, hdr,
                        h.num_headers, 1700000000, 1700000001, &meta, &v);
    check(meta.fresh_for >= 0);
    check(weir_cache_age(&meta, 1700000100) >= 0);
    (void) weir_cache_use(&meta, &cc, 1700000100);
    (void) weir_cache_stale_on_error(&meta, &cc, 1700000100);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);

    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    decode(buf, size);
    rules(buf, size);
    free(buf);
    return 0;
}
