/*
 * The cache file: one stored response per file, named after the SHA-256
 * of its key, under <path>/<levels>/ (DESIGN §5).
 *
 *   [weir_cache_hdr_t][key][vary][head][body]
 *
 * - hdr: fixed binary header, host byte order (a cache directory is not
 *   moved between machines; version or magic mismatch is a miss).
 * - key: the full cache key, compared on read, so two keys with the same
 *   digest can never answer for each other.
 * - vary: the secondary key: for each field the response's Vary names, a
 *   line "name: value\n" with the request's value (lower-case name,
 *   empty value when the request lacked it). Empty without Vary.
 * - head: the response header fields as sent to clients ("Name: value\r\n"
 *   each, hop-by-hop fields already removed; no status line, no Date, no
 *   Age: those are made per hit).
 * - body: body_len bytes, the identity of the representation (de-chunked).
 *
 * The checksum (CRC-32 of hdr with checksum = 0, key, vary and head)
 * makes a torn or foreign file a miss. The body is not checksummed (that
 * would read every hit twice); its length is checked against the file
 * size instead. A fill writes the file in <path>/tmp/ with body_len
 * WEIR_CACHE_BODY_UNKNOWN, appends the body as it streams, rewrites the
 * header with the final length and checksum, and rename()s it into place.
 */
#ifndef WEIR_CACHE_FILE_H
#define WEIR_CACHE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "cache/cache_conf.h"
#include "cache/cache_policy.h"

#define WEIR_CACHE_MAGIC        "WEIRCACH"   /* 8 bytes, no NUL stored */
#define WEIR_CACHE_VERSION      1u
#define WEIR_CACHE_KEY_MAX      4096
#define WEIR_CACHE_BODY_UNKNOWN UINT64_MAX
#define WEIR_CACHE_DIGEST_LEN   32
/* <path> + "/x/xx/xx/" + 64 hex + ".<fill id>" */
#define WEIR_CACHE_PATH_MAX     4096

/* hdr.flags */
#define WEIR_CACHE_F_NO_STALE    0x1u   /* meta.no_stale */
#define WEIR_CACHE_F_NO_CACHE    0x2u   /* meta.no_cache */
#define WEIR_CACHE_F_HEURISTIC   0x4u   /* meta.heuristic */
#define WEIR_CACHE_F_VARY_STUB   0x8u   /* no body: only names the Vary
                                           fields; the variants live at
                                           the digest of key + vary */

typedef struct weir_cache_hdr_s {
    char      magic[8];
    uint32_t  version;
    uint32_t  checksum;
    uint8_t   digest[WEIR_CACHE_DIGEST_LEN];   /* this file's name */
    int64_t   request_time, response_time, date, age_value, last_modified;
    int64_t   fresh_for, stale_while_revalidate, stale_if_error;
    int64_t   stored;          /* when the fill began (loader: LRU) */
    uint64_t  stub_id;         /* variants: the id of their Vary stub;
                                  a stub: its own id */
    uint64_t  body_len;        /* WEIR_CACHE_BODY_UNKNOWN while filling */
    uint32_t  flags;
    uint32_t  status;
    uint32_t  key_len;
    uint32_t  vary_len;
    uint32_t  head_len;
    uint32_t  reserved;
} weir_cache_hdr_t;

/* A decoded file's header and where its parts are. Pointers point into
 * the buffer given to weir_cache_file_decode(). */
typedef struct weir_cache_obj_s {
    weir_cache_hdr_t   hdr;
    weir_cache_meta_t  meta;          /* from hdr */
    const char        *key;
    const char        *vary;
    const char        *head;
    uint64_t           body_off;      /* file offset of the body */
} weir_cache_obj_t;

/* SHA-256 of key (len bytes), then of `secondary` when slen > 0 (the
 * variant of a Vary response), into out. */
void weir_cache_digest(const char *key, size_t len, const char *secondary,
    size_t slen, uint8_t out[WEIR_CACHE_DIGEST_LEN]);

/* "<path>/<l1>/<l2>/<64 hex>" for the digest (levels from k, the last hex
 * digits first as nginx does, so the top directories spread evenly).
 * Length written, or 0 when cap is too small. */
size_t weir_cache_file_path(const weir_cache_conf_t *k,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], char *buf, size_t cap);

/* "<path>/tmp/<64 hex>.<fill_id>": where a fill writes. */
size_t weir_cache_file_tmp_path(const weir_cache_conf_t *k,
    const uint8_t digest[WEIR_CACHE_DIGEST_LEN], uint64_t fill_id,
    char *buf, size_t cap);

/* Fill hdr (magic, version, lengths, meta fields, flags) and write hdr,
 * key, vary, head into out (cap bytes): the bytes written, or 0 when cap
 * is too small. body_len may be WEIR_CACHE_BODY_UNKNOWN; the checksum is
 * computed over what is written. */
size_t weir_cache_file_encode(weir_cache_hdr_t *hdr,
    const weir_cache_meta_t *meta, const char *key, size_t key_len,
    const char *vary, size_t vary_len, const char *head, size_t head_len,
    uint64_t body_len, char *out, size_t cap);

/* Recompute the checksum of an encoded prefix after hdr->body_len (or
 * another header field) changed: the caller pwrite()s hdr again. `rest`
 * is key + vary + head as encoded (len bytes). */
void weir_cache_file_reseal(weir_cache_hdr_t *hdr, const char *rest,
    size_t len);

/* Decode the start of a file read into buf (len bytes). key/key_len:
 * the key the caller looks up (NULL: accept any key, the loader).
 *   WEIR_OK     obj filled
 *   WEIR_AGAIN  buf too short: *need is the length required
 *   WEIR_ERROR  not a cache file, wrong version, bad checksum, other key,
 *               or lengths past file_size (when file_size > 0 and body_len
 *               is known, file_size must equal body_off + body_len); err
 *               says which. */
int weir_cache_file_decode(const char *buf, size_t len, const char *key,
    size_t key_len, uint64_t file_size, weir_cache_obj_t *obj, size_t *need,
    char *err, size_t errlen);

#endif /* WEIR_CACHE_FILE_H */
