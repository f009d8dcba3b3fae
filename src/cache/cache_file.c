#include "weir_config.h"
#include "cache/cache_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>
#include "core/core.h"
#include "core/str.h"
#include "core/sbuf.h"

/*
 * The header is written and read as raw bytes and checksummed whole, so
 * its layout must have no padding (padding bytes are unspecified and would
 * make the checksum of two equal headers differ).
 */
_Static_assert(sizeof(weir_cache_hdr_t) == 160,
               "weir_cache_hdr_t has padding: the checksum would cover it");
_Static_assert(sizeof(WEIR_CACHE_MAGIC) - 1 == 8, "magic is 8 bytes");

/* The header's flags that mirror meta bits; VARY_STUB and future bits are
 * the caller's and survive an encode. */
#define CACHE_META_FLAGS \
    (WEIR_CACHE_F_NO_STALE | WEIR_CACHE_F_NO_CACHE | WEIR_CACHE_F_HEURISTIC)

static void cache_hex(const uint8_t digest[WEIR_CACHE_DIGEST_LEN],
    char hex[2 * WEIR_CACHE_DIGEST_LEN]);
static uint32_t cache_crc(const weir_cache_hdr_t *hdr, const char *rest,
    size_t len);
static void meta_to_hdr(const weir_cache_meta_t *meta, weir_cache_hdr_t *hdr);
static void hdr_to_meta(const weir_cache_hdr_t *hdr, weir_cache_meta_t *meta);


/*
 * One digest context per process, made on first use and reset by each
 * EVP_DigestInit_ex(): a key is hashed on every cacheable request, and a
 * malloc/free pair per hash buys nothing (weir processes are single
 * threaded; a fork inherits a usable copy).
 *
 * The function cannot report a failure (its header returns void). OpenSSL
 * fails here only when the context allocation fails; the digest is then
 * all zeroes: every key shares one file name and one index entry, but the
 * key stored in the file is compared on every read, so no response ever
 * answers for another key; the cache merely stops being useful.
 */
void
weir_cache_digest(const char *key, size_t len, const char *secondary,
    size_t slen, uint8_t out[WEIR_CACHE_DIGEST_LEN])
{
    static EVP_MD_CTX   *ctx;
    static const EVP_MD *md;
    unsigned int         n = 0;

    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
    }
    if (md == NULL) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        /* Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm
         * up again on every init (12% of a cache hit's instructions). */
        EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
        md = fetched ? fetched : EVP_sha256();
#else
        md = EVP_sha256();
#endif
    }
    if (ctx == NULL
        || EVP_DigestInit_ex(ctx, md, NULL) != 1
        || EVP_DigestUpdate(ctx, key, len) != 1
        || (slen > 0 && EVP_DigestUpdate(ctx, secondary, slen) != 1)
        || EVP_DigestFinal_ex(ctx, out, &n) != 1
        || n != WEIR_CACHE_DIGEST_LEN)
    {
        memset(out, 0, WEIR_CACHE_DIGEST_LEN);
    }
}

static void
cache_hex(const uint8_t digest[WEIR_CACHE_DIGEST_LEN],
    char hex[2 * WEIR_CACHE_DIGEST_LEN])
{
    static const char digits[] = "0123456789abcdef";
    size_t            i;

    for (i = 0; i < WEIR_CACHE_DIGEST_LEN; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 0xf];
    }
}

/*
 * Levels are taken from the END of the hex name, the first level being
 * the very last digits, as nginx lays its cache out: any digits of a
 * SHA-256 would spread files evenly, and this way an operator who knows
 * one layout knows both. The configuration allows 1 to 3 levels of 1 or
 * 2 digits; anything else (a conf built by hand) gets no path rather than
 * a wrong one.
 */
size_t
weir_cache_file_path(const weir_cache_conf_t *k,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], char *buf, size_t cap)
{
    char        hex[2 * WEIR_CACHE_DIGEST_LEN];
    size_t      end = sizeof(hex);
    weir_sbuf_t sb;
    int         i;

    if (k->nlevels < 0 || k->nlevels > 3) {
        return 0;
    }
    cache_hex(digest, hex);
    weir_sbuf_init(&sb, buf, cap);
    weir_sbuf_append_cstr(&sb, k->path);
    for (i = 0; i < k->nlevels; i++) {
        if (k->levels[i] < 1 || k->levels[i] > 2) {
            return 0;
        }
        end -= (size_t) k->levels[i];
        weir_sbuf_append_char(&sb, '/');
        weir_sbuf_append(&sb, hex + end, (size_t) k->levels[i]);
    }
    weir_sbuf_append_char(&sb, '/');
    weir_sbuf_append(&sb, hex, sizeof(hex));
    return weir_sbuf_failed(&sb) ? 0 : sb.len;
}

size_t
weir_cache_file_tmp_path(const weir_cache_conf_t *k,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], uint64_t fill_id,
    char *buf, size_t cap)
{
    char        hex[2 * WEIR_CACHE_DIGEST_LEN];
    weir_sbuf_t sb;

    cache_hex(digest, hex);
    weir_sbuf_init(&sb, buf, cap);
    weir_sbuf_append_cstr(&sb, k->path);
    weir_sbuf_lit(&sb, "/tmp/");
    weir_sbuf_append(&sb, hex, sizeof(hex));
    weir_sbuf_append_char(&sb, '.');
    weir_sbuf_append_u64(&sb, fill_id);
    return weir_sbuf_failed(&sb) ? 0 : sb.len;
}

/* CRC-32 of hdr with its checksum field zeroed, then of rest. Each part
 * is under 4 GiB (the lengths are uint32_t), which zlib's uInt takes. */
static uint32_t
cache_crc(const weir_cache_hdr_t *hdr, const char *rest, size_t len)
{
    weir_cache_hdr_t h = *hdr;
    uLong            crc = crc32(0L, Z_NULL, 0);

    h.checksum = 0;
    crc = crc32(crc, (const Bytef *) &h, (uInt) sizeof(h));
    while (len > 0) {
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt) len;

        crc = crc32(crc, (const Bytef *) rest, n);
        rest += n;
        len -= n;
    }
    return (uint32_t) crc;
}

static void
meta_to_hdr(const weir_cache_meta_t *meta, weir_cache_hdr_t *hdr)
{
    hdr->request_time = meta->request_time;
    hdr->response_time = meta->response_time;
    hdr->date = meta->date;
    hdr->age_value = meta->age_value;
    hdr->last_modified = meta->last_modified;
    hdr->fresh_for = meta->fresh_for;
    hdr->stale_while_revalidate = meta->stale_while_revalidate;
    hdr->stale_if_error = meta->stale_if_error;
    hdr->flags &= ~(uint32_t) CACHE_META_FLAGS;
    hdr->flags |= (meta->no_stale ? WEIR_CACHE_F_NO_STALE : 0)
                  | (meta->no_cache ? WEIR_CACHE_F_NO_CACHE : 0)
                  | (meta->heuristic ? WEIR_CACHE_F_HEURISTIC : 0);
}

static void
hdr_to_meta(const weir_cache_hdr_t *hdr, weir_cache_meta_t *meta)
{
    memset(meta, 0, sizeof(*meta));
    meta->request_time = hdr->request_time;
    meta->response_time = hdr->response_time;
    meta->date = hdr->date;
    meta->age_value = hdr->age_value;
    meta->last_modified = hdr->last_modified;
    meta->fresh_for = hdr->fresh_for;
    meta->stale_while_revalidate = hdr->stale_while_revalidate;
    meta->stale_if_error = hdr->stale_if_error;
    meta->no_stale = (hdr->flags & WEIR_CACHE_F_NO_STALE) != 0;
    meta->no_cache = (hdr->flags & WEIR_CACHE_F_NO_CACHE) != 0;
    meta->heuristic = (hdr->flags & WEIR_CACHE_F_HEURISTIC) != 0;
}

/*
 * The caller owns digest, stored, stub_id, status and the flags beyond
 * the meta bits (VARY_STUB) in *hdr and sets them before the call; this
 * fills the rest. A key longer than WEIR_CACHE_KEY_MAX also gives 0: it
 * would make a file that weir_cache_file_decode() refuses.
 */
size_t
weir_cache_file_encode(weir_cache_hdr_t *hdr, const weir_cache_meta_t *meta,
    const char *key, size_t key_len, const char *vary, size_t vary_len,
    const char *head, size_t head_len, uint64_t body_len, char *out,
    size_t cap)
{
    size_t total;
    char  *p;

    if (key_len > WEIR_CACHE_KEY_MAX || vary_len > UINT32_MAX
        || head_len > UINT32_MAX)
    {
        return 0;
    }
    /* compared by subtraction, so no sum can wrap */
    total = sizeof(*hdr);
    if (cap < total || cap - total < key_len
        || cap - total - key_len < vary_len
        || cap - total - key_len - vary_len < head_len)
    {
        return 0;
    }
    total += key_len + vary_len + head_len;

    memcpy(hdr->magic, WEIR_CACHE_MAGIC, sizeof(hdr->magic));
    hdr->version = WEIR_CACHE_VERSION;
    meta_to_hdr(meta, hdr);
    hdr->body_len = body_len;
    hdr->key_len = (uint32_t) key_len;
    hdr->vary_len = (uint32_t) vary_len;
    hdr->head_len = (uint32_t) head_len;
    hdr->reserved = 0;

    p = out + sizeof(*hdr);
    if (key_len) {
        memcpy(p, key, key_len);
    }
    p += key_len;
    if (vary_len) {
        memcpy(p, vary, vary_len);
    }
    p += vary_len;
    if (head_len) {
        memcpy(p, head, head_len);
    }
    hdr->checksum = cache_crc(hdr, out + sizeof(*hdr), total - sizeof(*hdr));
    memcpy(out, hdr, sizeof(*hdr));
    return total;
}

void
weir_cache_file_reseal(weir_cache_hdr_t *hdr, const char *rest, size_t len)
{
    hdr->checksum = cache_crc(hdr, rest, len);
}

/*
 * Checks run from the cheapest to the dearest, and nothing past the
 * fixed header is asked for before its lengths are known to fit the file:
 * a torn or foreign file must not make the caller read gigabytes.
 */
int
weir_cache_file_decode(const char *buf, size_t len, const char *key,
    size_t key_len, uint64_t file_size, weir_cache_obj_t *obj, size_t *need,
    char *err, size_t errlen)
{
    weir_cache_hdr_t *h = &obj->hdr;
    uint64_t          prefix;
    const char       *rest;

    if (len >= sizeof(h->magic)
        && memcmp(buf, WEIR_CACHE_MAGIC, sizeof(h->magic)) != 0)
    {
        weir_str_errf(err, errlen, "not a cache file (bad magic)");
        return WEIR_ERROR;
    }
    if (len < sizeof(*h)) {
        if (file_size > 0 && file_size < sizeof(*h)) {
            weir_str_errf(err, errlen, "file of %llu bytes is shorter "
                           "than a cache header",
                           (unsigned long long) file_size);
            return WEIR_ERROR;
        }
        *need = sizeof(*h);
        return WEIR_AGAIN;
    }
    memcpy(h, buf, sizeof(*h));   /* buf need not be aligned */
    if (h->version != WEIR_CACHE_VERSION) {
        weir_str_errf(err, errlen, "cache file version %u, expected %u",
                       h->version, WEIR_CACHE_VERSION);
        return WEIR_ERROR;
    }
    if (h->key_len == 0 || h->key_len > WEIR_CACHE_KEY_MAX) {
        weir_str_errf(err, errlen, "bad key length %u", h->key_len);
        return WEIR_ERROR;
    }
    prefix = (uint64_t) sizeof(*h) + h->key_len + h->vary_len + h->head_len;
    if (file_size > 0 && prefix > file_size) {
        weir_str_errf(err, errlen, "header lengths (%llu bytes) past the "
                       "file size (%llu)", (unsigned long long) prefix,
                       (unsigned long long) file_size);
        return WEIR_ERROR;
    }
    if (prefix > SIZE_MAX) {
        weir_str_errf(err, errlen, "header too large for this host");
        return WEIR_ERROR;
    }
    if (len < prefix) {
        *need = (size_t) prefix;
        return WEIR_AGAIN;
    }
    rest = buf + sizeof(*h);
    if (cache_crc(h, rest, (size_t) prefix - sizeof(*h)) != h->checksum) {
        weir_str_errf(err, errlen, "bad checksum (torn or corrupt file)");
        return WEIR_ERROR;
    }
    if (key != NULL
        && (key_len != h->key_len || memcmp(key, rest, key_len) != 0))
    {
        weir_str_errf(err, errlen, "the file holds another key");
        return WEIR_ERROR;
    }
    if (h->body_len != WEIR_CACHE_BODY_UNKNOWN && file_size > 0
        && (h->body_len > file_size || file_size - h->body_len != prefix))
    {
        weir_str_errf(err, errlen, "file size %llu, expected %llu + %llu "
                       "body bytes", (unsigned long long) file_size,
                       (unsigned long long) prefix,
                       (unsigned long long) h->body_len);
        return WEIR_ERROR;
    }
    hdr_to_meta(h, &obj->meta);
    obj->key = rest;
    obj->vary = rest + h->key_len;
    obj->head = obj->vary + h->vary_len;
    obj->body_off = prefix;
    return WEIR_OK;
}
