#include "weir_config.h"
#include "cache/cache_file.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"

#define SHA_EMPTY \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC \
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

#define KEY   "http://example.com:80/a?b"
#define VARY  "accept-encoding: gzip\n"
#define HEAD  "Content-Type: text/plain\r\nETag: \"x\"\r\n"

static void hexify(const uint8_t *d, char *out);
static weir_cache_meta_t sample_meta(void);
static size_t encode_sample(char *buf, size_t cap, uint64_t body_len);
static int decode(const char *buf, size_t len, const char *key,
    uint64_t file_size, weir_cache_obj_t *obj, char *err);

static void
hexify(const uint8_t *d, char *out)
{
    for (int i = 0; i < WEIR_CACHE_DIGEST_LEN; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}

static weir_cache_meta_t
sample_meta(void)
{
    weir_cache_meta_t m;

    memset(&m, 0, sizeof(m));
    m.request_time = 1700000000;
    m.response_time = 1700000001;
    m.date = 1699999999;
    m.age_value = 7;
    m.last_modified = WEIR_CACHE_ABSENT;
    m.fresh_for = 600;
    m.stale_while_revalidate = 30;
    m.stale_if_error = 86400;
    m.no_stale = 1;
    m.heuristic = 1;
    return m;
}

static size_t
encode_sample(char *buf, size_t cap, uint64_t body_len)
{
    weir_cache_hdr_t  hdr;
    weir_cache_meta_t m = sample_meta();

    memset(&hdr, 0, sizeof(hdr));
    weir_cache_digest(KEY, strlen(KEY), NULL, 0, hdr.digest);
    hdr.stored = 1700000002;
    hdr.stub_id = 9;
    hdr.status = 200;
    hdr.flags = WEIR_CACHE_F_VARY_STUB | WEIR_CACHE_F_NO_CACHE;
    return weir_cache_file_encode(&hdr, &m, KEY, strlen(KEY), VARY,
                                  strlen(VARY), HEAD, strlen(HEAD), body_len,
                                  buf, cap);
}

static int
decode(const char *buf, size_t len, const char *key, uint64_t file_size,
    weir_cache_obj_t *obj, char *err)
{
    size_t need = 0;

    err[0] = '\0';
    return weir_cache_file_decode(buf, len, key, key ? strlen(key) : 0,
                                  file_size, obj, &need, err, 200);
}

START_TEST(test_digest)
{
    uint8_t d[WEIR_CACHE_DIGEST_LEN], d2[WEIR_CACHE_DIGEST_LEN];
    char    hex[2 * WEIR_CACHE_DIGEST_LEN + 1];

    weir_cache_digest("", 0, NULL, 0, d);
    hexify(d, hex);
    ck_assert_str_eq(hex, SHA_EMPTY);
    weir_cache_digest("abc", 3, NULL, 0, d);
    hexify(d, hex);
    ck_assert_str_eq(hex, SHA_ABC);
    /* the secondary key continues the same hash */
    weir_cache_digest("ab", 2, "c", 1, d2);
    ck_assert_mem_eq(d, d2, sizeof(d));
    weir_cache_digest("abc", 3, "x", 0, d2);
    ck_assert_mem_eq(d, d2, sizeof(d));
    weir_cache_digest("abc", 3, "x", 1, d2);
    ck_assert(memcmp(d, d2, sizeof(d)) != 0);
}
END_TEST

START_TEST(test_paths)
{
    weir_cache_conf_t k;
    uint8_t           d[WEIR_CACHE_DIGEST_LEN];
    char              buf[WEIR_CACHE_PATH_MAX];
    size_t            n;

    memset(&k, 0, sizeof(k));
    k.path = "/var/cache/weir";
    weir_cache_digest("", 0, NULL, 0, d);

    k.levels[0] = 1;
    k.levels[1] = 2;
    k.nlevels = 2;
    n = weir_cache_file_path(&k, d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "/var/cache/weir/5/85/" SHA_EMPTY);
    ck_assert_uint_eq(n, strlen(buf));

    k.levels[0] = 2;
    k.levels[1] = 0;
    k.nlevels = 1;
    weir_cache_file_path(&k, d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "/var/cache/weir/55/" SHA_EMPTY);

    k.levels[0] = 1;
    k.levels[1] = 1;
    k.levels[2] = 2;
    k.nlevels = 3;
    weir_cache_file_path(&k, d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "/var/cache/weir/5/5/b8/" SHA_EMPTY);

    k.nlevels = 0;
    weir_cache_file_path(&k, d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "/var/cache/weir/" SHA_EMPTY);

    /* room for the text and its NUL, not a byte less */
    k.levels[0] = 1;
    k.levels[1] = 2;
    k.nlevels = 2;
    n = strlen("/var/cache/weir/5/85/" SHA_EMPTY);
    ck_assert_uint_eq(weir_cache_file_path(&k, d, buf, n + 1), n);
    ck_assert_uint_eq(weir_cache_file_path(&k, d, buf, n), 0);
    ck_assert_uint_eq(weir_cache_file_path(&k, d, buf, 0), 0);

    /* levels the configuration cannot produce give no path */
    k.levels[1] = 3;
    ck_assert_uint_eq(weir_cache_file_path(&k, d, buf, sizeof(buf)), 0);
    k.levels[1] = 2;
    k.nlevels = 4;
    ck_assert_uint_eq(weir_cache_file_path(&k, d, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_tmp_path)
{
    weir_cache_conf_t k;
    uint8_t           d[WEIR_CACHE_DIGEST_LEN];
    char              buf[WEIR_CACHE_PATH_MAX];
    const char       *want = "/c/tmp/" SHA_EMPTY ".18446744073709551615";

    memset(&k, 0, sizeof(k));
    k.path = "/c";
    weir_cache_digest("", 0, NULL, 0, d);
    ck_assert_uint_eq(weir_cache_file_tmp_path(&k, d, 42, buf, sizeof(buf)),
                      strlen("/c/tmp/" SHA_EMPTY ".42"));
    ck_assert_str_eq(buf, "/c/tmp/" SHA_EMPTY ".42");
    ck_assert_uint_eq(weir_cache_file_tmp_path(&k, d, UINT64_MAX, buf,
                      strlen(want) + 1), strlen(want));
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(weir_cache_file_tmp_path(&k, d, UINT64_MAX, buf,
                      strlen(want)), 0);
}
END_TEST

START_TEST(test_round_trip)
{
    char              buf[1024], err[200];
    weir_cache_obj_t  obj;
    weir_cache_meta_t m = sample_meta();
    uint8_t           d[WEIR_CACHE_DIGEST_LEN];
    size_t            n = encode_sample(buf, sizeof(buf), 5);
    size_t            prefix = sizeof(weir_cache_hdr_t) + strlen(KEY)
                               + strlen(VARY) + strlen(HEAD);

    ck_assert_uint_eq(n, prefix);
    memcpy(buf + n, "hello", 5);
    ck_assert_int_eq(decode(buf, n + 5, KEY, n + 5, &obj, err), WEIR_OK);
    ck_assert_uint_eq(obj.body_off, prefix);
    ck_assert_uint_eq(obj.hdr.body_len, 5);
    ck_assert_uint_eq(obj.hdr.status, 200);
    ck_assert_uint_eq(obj.hdr.stub_id, 9);
    ck_assert_int_eq(obj.hdr.stored, 1700000002);
    weir_cache_digest(KEY, strlen(KEY), NULL, 0, d);
    ck_assert_mem_eq(obj.hdr.digest, d, sizeof(d));
    ck_assert_mem_eq(obj.key, KEY, strlen(KEY));
    ck_assert_mem_eq(obj.vary, VARY, strlen(VARY));
    ck_assert_mem_eq(obj.head, HEAD, strlen(HEAD));
    ck_assert_mem_eq(buf + obj.body_off, "hello", 5);

    /* meta survives; the meta flags follow meta, the others the caller */
    ck_assert_int_eq(obj.meta.request_time, m.request_time);
    ck_assert_int_eq(obj.meta.response_time, m.response_time);
    ck_assert_int_eq(obj.meta.date, m.date);
    ck_assert_int_eq(obj.meta.age_value, m.age_value);
    ck_assert_int_eq(obj.meta.last_modified, WEIR_CACHE_ABSENT);
    ck_assert_int_eq(obj.meta.fresh_for, m.fresh_for);
    ck_assert_int_eq(obj.meta.stale_while_revalidate, 30);
    ck_assert_int_eq(obj.meta.stale_if_error, 86400);
    ck_assert_uint_eq(obj.meta.no_stale, 1);
    ck_assert_uint_eq(obj.meta.no_cache, 0);
    ck_assert_uint_eq(obj.meta.heuristic, 1);
    ck_assert_uint_eq(obj.hdr.flags, WEIR_CACHE_F_VARY_STUB
                      | WEIR_CACHE_F_NO_STALE | WEIR_CACHE_F_HEURISTIC);

    /* the loader accepts any key; file_size 0 skips the size test */
    ck_assert_int_eq(decode(buf, n, NULL, 0, &obj, err), WEIR_OK);
    ck_assert_int_eq(decode(buf, n, NULL, n + 5, &obj, err), WEIR_OK);
}
END_TEST

START_TEST(test_empty_parts)
{
    char              buf[512], err[200];
    weir_cache_hdr_t  hdr;
    weir_cache_meta_t m = sample_meta();
    weir_cache_obj_t  obj;
    size_t            n;

    memset(&hdr, 0, sizeof(hdr));
    n = weir_cache_file_encode(&hdr, &m, "k", 1, NULL, 0, NULL, 0, 0, buf,
                               sizeof(buf));
    ck_assert_uint_eq(n, sizeof(hdr) + 1);
    ck_assert_int_eq(decode(buf, n, "k", n, &obj, err), WEIR_OK);
    ck_assert_uint_eq(obj.hdr.vary_len, 0);
    ck_assert_uint_eq(obj.hdr.head_len, 0);
    ck_assert_uint_eq(obj.body_off, n);
}
END_TEST

START_TEST(test_encode_room)
{
    char   buf[1024];
    size_t n = encode_sample(buf, sizeof(buf), 0);
    char  *big;
    weir_cache_hdr_t  hdr;
    weir_cache_meta_t m = sample_meta();

    ck_assert_uint_gt(n, 0);
    ck_assert_uint_eq(encode_sample(buf, n, 0), n);
    ck_assert_uint_eq(encode_sample(buf, n - 1, 0), 0);
    ck_assert_uint_eq(encode_sample(buf, 10, 0), 0);
    /* a key decode would refuse is not written */
    big = calloc(1, WEIR_CACHE_KEY_MAX + 2000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'k', WEIR_CACHE_KEY_MAX + 1);
    memset(&hdr, 0, sizeof(hdr));
    ck_assert_uint_eq(weir_cache_file_encode(&hdr, &m, big,
        WEIR_CACHE_KEY_MAX + 1, NULL, 0, NULL, 0, 0, buf, sizeof(buf)), 0);
    free(big);
}
END_TEST

/* A fill writes UNKNOWN first; the body may be any length meanwhile. Then
 * reseal() with the final length makes the file whole again. */
START_TEST(test_unknown_body_and_reseal)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    weir_cache_hdr_t hdr;
    size_t           n = encode_sample(buf, sizeof(buf),
                                       WEIR_CACHE_BODY_UNKNOWN);

    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_OK);
    ck_assert_uint_eq(obj.hdr.body_len, WEIR_CACHE_BODY_UNKNOWN);
    ck_assert_int_eq(decode(buf, n, KEY, n + 12345, &obj, err), WEIR_OK);

    /* final length without a reseal: the checksum says no */
    memcpy(&hdr, buf, sizeof(hdr));
    hdr.body_len = 100;
    memcpy(buf, &hdr, sizeof(hdr));
    ck_assert_int_eq(decode(buf, n, KEY, n + 100, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "checksum"));

    weir_cache_file_reseal(&hdr, buf + sizeof(hdr), n - sizeof(hdr));
    memcpy(buf, &hdr, sizeof(hdr));
    ck_assert_int_eq(decode(buf, n, KEY, n + 100, &obj, err), WEIR_OK);
    ck_assert_uint_eq(obj.hdr.body_len, 100);
    /* and now the size must match */
    ck_assert_int_eq(decode(buf, n, KEY, n + 99, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "size"));
}
END_TEST

START_TEST(test_reject_magic_version)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    weir_cache_hdr_t hdr;
    size_t           n = encode_sample(buf, sizeof(buf), 0);

    buf[0] = 'X';
    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "magic"));
    /* found on the first 8 bytes already */
    ck_assert_int_eq(decode(buf, 8, KEY, 0, &obj, err), WEIR_ERROR);
    buf[0] = 'W';

    memcpy(&hdr, buf, sizeof(hdr));
    hdr.version = WEIR_CACHE_VERSION + 1;
    weir_cache_file_reseal(&hdr, buf + sizeof(hdr), n - sizeof(hdr));
    memcpy(buf, &hdr, sizeof(hdr));
    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "version"));
}
END_TEST

/* One bit flipped anywhere in what the checksum covers is a miss. */
START_TEST(test_reject_checksum)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    size_t           n = encode_sample(buf, sizeof(buf), 0);
    size_t           at[] = {
        offsetof(weir_cache_hdr_t, fresh_for),         /* header */
        offsetof(weir_cache_hdr_t, checksum),          /* the sum itself */
        sizeof(weir_cache_hdr_t) + 3,                  /* key */
        sizeof(weir_cache_hdr_t) + strlen(KEY) + 1,    /* vary */
        n - 4,                                         /* head */
    };

    for (size_t i = 0; i < weir_nelems(at); i++) {
        buf[at[i]] ^= 0x10;
        ck_assert_int_eq(decode(buf, n, NULL, n, &obj, err), WEIR_ERROR);
        ck_assert_msg(strstr(err, "checksum") != NULL, "at %zu: %s",
                      at[i], err);
        buf[at[i]] ^= 0x10;
    }
    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_OK);
}
END_TEST

START_TEST(test_reject_other_key)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    size_t           n = encode_sample(buf, sizeof(buf), 0);

    ck_assert_int_eq(decode(buf, n, KEY "x", n, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "another key"));
    ck_assert_int_eq(decode(buf, n, "http://example.com:80/a?c", n, &obj,
                            err), WEIR_ERROR);
    ck_assert_int_eq(decode(buf, n, "", n, &obj, err), WEIR_ERROR);
}
END_TEST

/* Short reads ask for more, never past what the file can hold. */
START_TEST(test_truncated)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    size_t           need, n = encode_sample(buf, sizeof(buf), 0);

    for (size_t len = 0; len < n; len++) {
        need = 0;
        ck_assert_int_eq(weir_cache_file_decode(buf, len, KEY, strlen(KEY),
                         0, &obj, &need, err, sizeof(err)), WEIR_AGAIN);
        ck_assert_uint_gt(need, len);
        ck_assert_uint_le(need, n);
        ck_assert_uint_eq(need, len < sizeof(weir_cache_hdr_t)
                                ? sizeof(weir_cache_hdr_t) : n);
    }
    /* a file cut inside its head: an error, not a request for more */
    ck_assert_int_eq(decode(buf, n - 1, KEY, n - 1, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "past the file size"));
    ck_assert_int_eq(decode(buf, 10, KEY, 10, &obj, err), WEIR_ERROR);
    ck_assert_int_eq(decode(buf, 0, KEY, 1000, &obj, err), WEIR_AGAIN);
}
END_TEST

START_TEST(test_size_mismatch)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    size_t           n = encode_sample(buf, sizeof(buf), 5);

    ck_assert_int_eq(decode(buf, n, KEY, n + 5, &obj, err), WEIR_OK);
    ck_assert_int_eq(decode(buf, n, KEY, n + 4, &obj, err), WEIR_ERROR);
    ck_assert_int_eq(decode(buf, n, KEY, n + 6, &obj, err), WEIR_ERROR);
    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "file size"));
}
END_TEST

/* Lengths in a header that passed no checksum yet must not overflow or
 * make the caller read more than the file holds. */
START_TEST(test_huge_lengths)
{
    char             buf[1024], err[200];
    weir_cache_obj_t obj;
    weir_cache_hdr_t hdr;
    size_t           need = 0, n = encode_sample(buf, sizeof(buf), 0);

    memcpy(&hdr, buf, sizeof(hdr));
    hdr.head_len = UINT32_MAX;
    hdr.vary_len = UINT32_MAX;
    memcpy(buf, &hdr, sizeof(hdr));
    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_ERROR);
    ck_assert_int_eq(weir_cache_file_decode(buf, n, KEY, strlen(KEY), 0,
                     &obj, &need, err, sizeof(err)), WEIR_AGAIN);
    ck_assert_uint_eq(need, sizeof(hdr) + strlen(KEY) + 2ull * UINT32_MAX);

    hdr.head_len = (uint32_t) strlen(HEAD);
    hdr.vary_len = (uint32_t) strlen(VARY);
    hdr.key_len = WEIR_CACHE_KEY_MAX + 1;
    memcpy(buf, &hdr, sizeof(hdr));
    ck_assert_int_eq(decode(buf, n, NULL, 0, &obj, err), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "key length"));
    hdr.key_len = 0;
    memcpy(buf, &hdr, sizeof(hdr));
    ck_assert_int_eq(decode(buf, n, NULL, 0, &obj, err), WEIR_ERROR);

    /* a known body longer than the file */
    n = encode_sample(buf, sizeof(buf), UINT64_MAX - 1);
    ck_assert_int_eq(decode(buf, n, KEY, n, &obj, err), WEIR_ERROR);
}
END_TEST

/* A NULL or empty err buffer is accepted. */
START_TEST(test_no_err_buffer)
{
    char             buf[1024];
    weir_cache_obj_t obj;
    size_t           need, n = encode_sample(buf, sizeof(buf), 0);

    buf[1] = 'x';
    ck_assert_int_eq(weir_cache_file_decode(buf, n, NULL, 0, n, &obj, &need,
                     NULL, 0), WEIR_ERROR);
}
END_TEST

static Suite *
cache_file_suite(void)
{
    Suite *s = suite_create("cache_file");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_digest);
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_tmp_path);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_empty_parts);
    tcase_add_test(tc, test_encode_room);
    tcase_add_test(tc, test_unknown_body_and_reseal);
    tcase_add_test(tc, test_reject_magic_version);
    tcase_add_test(tc, test_reject_checksum);
    tcase_add_test(tc, test_reject_other_key);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_size_mismatch);
    tcase_add_test(tc, test_huge_lengths);
    tcase_add_test(tc, test_no_err_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(cache_file_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
