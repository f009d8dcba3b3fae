/*
 * libFuzzer harness: the PROXY protocol parser. Every input is parsed in
 * an exact-size heap copy (ASan sees any over-read); a header it accepts
 * must lie inside the input, every shorter prefix of it must be "need
 * more" (a header split by TCP is never refused nor accepted early), and
 * the addresses it carries must survive a build and a parse again.
 */
#include "weir_config.h"
#include "http/proxy_protocol.h"

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

static int
parse_copy(const uint8_t *data, size_t len, weir_proxy_protocol_t *pp)
{
    char *copy = malloc(len ? len : 1);
    int   rc;

    check(copy != NULL);
    memcpy(copy, data, len);
    rc = weir_proxy_protocol_parse(copy, len, pp);
    free(copy);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weir_proxy_protocol_t pp, pp2;
    char                  out[WEIR_PROXY_PROTOCOL_OUT_MAX];
    size_t                k, len;
    int                   rc;

    rc = parse_copy(data, size, &pp);
    check(rc == WEIR_OK || rc == WEIR_AGAIN || rc == WEIR_ERROR);
    check(rc != WEIR_ERROR || pp.error != NULL);
    if (rc != WEIR_OK) {
        return 0;
    }
    check(pp.len > 0 && pp.len <= size);
    check(pp.version == 1 || pp.version == 2);
    check(pp.version != 1 || pp.len <= WEIR_PROXY_PROTOCOL_V1_MAX);
    for (k = 0; k < pp.len && k < 600; k++) {
        check(parse_copy(data, k, &pp2) == WEIR_AGAIN);
    }
    if (pp.local) {
        return 0;
    }
    check(pp.src.sa.sa_family == pp.dst.sa.sa_family);
    check(weir_proxy_protocol_build(pp.version, &pp.src.sa, &pp.dst.sa, out,
                                    sizeof(out), &len) == WEIR_OK);
    check(parse_copy((const uint8_t *) out, len, &pp2) == WEIR_OK);
    check(pp2.len == len && !pp2.local && pp2.srclen == pp.srclen);
    check(memcmp(&pp2.src, &pp.src, pp.srclen) == 0);
    check(memcmp(&pp2.dst, &pp.dst, pp.dstlen) == 0);
    return 0;
}
