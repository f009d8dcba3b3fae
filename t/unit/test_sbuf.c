#include "weir_config.h"
#include "core/sbuf.h"

#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/core.h"
#include "core/pool.h"

/*
 * Fixed buffers are placed so that they end right before a PROT_NONE
 * page: a byte written past the end faults and the (forked) test fails,
 * with or without ASan.
 */

static char        *guard_mem;
static size_t       guard_page;
static weir_pool_t *pool;

static void
setup(void)
{
    guard_page = (size_t) sysconf(_SC_PAGESIZE);
    guard_mem = mmap(NULL, 2 * guard_page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(guard_mem != MAP_FAILED);
    ck_assert_int_eq(mprotect(guard_mem + guard_page, guard_page, PROT_NONE),
                     0);
    pool = weir_pool_create(1024);
    ck_assert_ptr_nonnull(pool);
}

static void
teardown(void)
{
    weir_pool_destroy(pool);
    munmap(guard_mem, 2 * guard_page);
}

/* `size` bytes ending at the guard page, filled with a marker. */
static char *
guarded(size_t size)
{
    char *p = guard_mem + guard_page - size;

    ck_assert_uint_le(size, guard_page);
    memset(p, '#', size);
    return p;
}

/* The text is exactly `want`, NUL-terminated. */
static void
text_is(const weir_sbuf_t *sb, const char *want)
{
    ck_assert_uint_eq(sb->len, strlen(want));
    ck_assert_int_eq(memcmp(sb->data, want, sb->len), 0);
    ck_assert_int_eq(sb->data[sb->len], '\0');
}

/* ---- appends ------------------------------------------------------------ */

START_TEST(test_each_append)
{
    char        buf[256];
    weir_sbuf_t sb;
    weir_str_t  s = weir_string("slice");
    weir_str_t  empty = weir_null_string;

    weir_sbuf_init(&sb, buf, sizeof(buf));
    text_is(&sb, "");
    weir_sbuf_append(&sb, "ab\0c", 4);
    weir_sbuf_append(&sb, NULL, 0);
    weir_sbuf_append_cstr(&sb, "|cstr|");
    weir_sbuf_append_str(&sb, &s);
    weir_sbuf_append_str(&sb, &empty);
    weir_sbuf_append_char(&sb, '|');
    weir_sbuf_lit(&sb, "lit|");
    weir_sbuf_append_u64(&sb, 0);
    weir_sbuf_append_char(&sb, ' ');
    weir_sbuf_append_u64(&sb, UINT64_MAX);
    weir_sbuf_append_char(&sb, ' ');
    weir_sbuf_append_i64(&sb, -1);
    weir_sbuf_append_char(&sb, ' ');
    weir_sbuf_append_i64(&sb, INT64_MIN);
    weir_sbuf_append_char(&sb, ' ');
    weir_sbuf_append_i64(&sb, INT64_MAX);
    weir_sbuf_printf(&sb, "|%s=%03d|", "x", 7);
    weir_sbuf_printf(&sb, "%s", "");
    ck_assert(!weir_sbuf_failed(&sb));
    ck_assert_int_eq(memcmp(sb.data, "ab\0c", 4), 0);
    ck_assert_str_eq(sb.data + 4, "|cstr|slice|lit|0 18446744073709551615"
                     " -1 -9223372036854775808 9223372036854775807|x=007|");
    ck_assert_uint_eq(sb.len, 4 + strlen(sb.data + 4));
}
END_TEST

/* A text that fills the buffer exactly, by each kind of append. */
START_TEST(test_exact_fit)
{
    weir_sbuf_t sb;
    char       *b;

    b = guarded(6);
    weir_sbuf_init(&sb, b, 6);
    weir_sbuf_lit(&sb, "12345");
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, "12345");

    b = guarded(6);
    weir_sbuf_init(&sb, b, 6);
    weir_sbuf_printf(&sb, "%d", 12345);
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, "12345");

    b = guarded(21);
    weir_sbuf_init(&sb, b, 21);
    weir_sbuf_append_u64(&sb, UINT64_MAX);
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, "18446744073709551615");

    b = guarded(21);
    weir_sbuf_init(&sb, b, 21);
    weir_sbuf_append_i64(&sb, INT64_MIN);
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, "-9223372036854775808");

    /* full: an empty append still succeeds, one byte more does not */
    weir_sbuf_append(&sb, "", 0);
    ck_assert(!weir_sbuf_failed(&sb));
    weir_sbuf_append_char(&sb, 'x');
    ck_assert(weir_sbuf_failed(&sb));
    text_is(&sb, "-9223372036854775808");
}
END_TEST

/* Size 0 holds not even the NUL; size 1 only the NUL. */
START_TEST(test_tiny_buffers)
{
    weir_sbuf_t sb;
    char       *b;

    b = guard_mem + guard_page;     /* the guard page itself */
    weir_sbuf_init(&sb, b, 0);
    ck_assert(weir_sbuf_failed(&sb));
    weir_sbuf_lit(&sb, "x");
    weir_sbuf_printf(&sb, "%d", 1);
    weir_sbuf_append_u64(&sb, 1);
    ck_assert(weir_sbuf_failed(&sb));
    ck_assert_uint_eq(sb.len, 0);

    b = guarded(1);
    weir_sbuf_init(&sb, b, 1);
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, "");
    weir_sbuf_printf(&sb, "%s", "");
    ck_assert(!weir_sbuf_failed(&sb));
    weir_sbuf_printf(&sb, "%c", 'y');
    ck_assert(weir_sbuf_failed(&sb));
    text_is(&sb, "");
}
END_TEST

/*
 * Every split of a 16-byte buffer (15 bytes of text): k bytes already
 * there, then an append of m bytes by each kind of append. It succeeds
 * exactly when k + m <= 15; otherwise the flag is set, the text is the k
 * bytes, nothing is written past the end (guard page), and a later
 * append that would fit is ignored.
 */
#define SMALL 16

static void
append_kind(weir_sbuf_t *sb, int kind, const char *s, size_t m)
{
    char     num[32];
    uint64_t v;

    switch (kind) {
    case 0:
        weir_sbuf_append(sb, s, m);
        break;
    case 1:
        snprintf(num, sizeof(num), "%.*s", (int) m, s);
        weir_sbuf_append_cstr(sb, num);
        break;
    case 2:
        weir_sbuf_printf(sb, "%.*s", (int) m, s);
        break;
    default:
        /* a number of m digits: 1 followed by m - 1 zeros */
        for (v = 1; m > 1; m--) {
            v *= 10;
        }
        weir_sbuf_append_u64(sb, v);
        break;
    }
}

START_TEST(test_every_boundary)
{
    static const char src[] = "abcdefghijklmnopqrstuvwxyz";
    weir_sbuf_t       sb;
    char             *b, want[SMALL];
    size_t            k, m;
    int               kind = _i;

    for (k = 0; k < SMALL; k++) {
        for (m = 1; m <= SMALL + 1 && (kind != 3 || m <= 19); m++) {
            b = guarded(SMALL);
            weir_sbuf_init(&sb, b, SMALL);
            weir_sbuf_append(&sb, src, k);
            ck_assert(!weir_sbuf_failed(&sb));
            append_kind(&sb, kind, src + k, m);
            if (k + m <= SMALL - 1) {
                ck_assert_msg(!weir_sbuf_failed(&sb), "k=%zu m=%zu", k, m);
                ck_assert_uint_eq(sb.len, k + m);
                ck_assert_int_eq(sb.data[sb.len], '\0');
                continue;
            }
            ck_assert_msg(weir_sbuf_failed(&sb), "k=%zu m=%zu kind=%d", k, m,
                          kind);
            memcpy(want, src, k);
            want[k] = '\0';
            text_is(&sb, want);
            weir_sbuf_append(&sb, "z", 1);
            weir_sbuf_printf(&sb, "%d", 1);
            ck_assert(weir_sbuf_failed(&sb));
            text_is(&sb, want);
        }
    }
}
END_TEST

/* printf output one byte too long for the room, and much too long. */
START_TEST(test_printf_truncation)
{
    weir_sbuf_t sb;
    char       *b;
    char        big[200];

    b = guarded(8);
    weir_sbuf_init(&sb, b, 8);
    weir_sbuf_lit(&sb, "abc");
    weir_sbuf_printf(&sb, "%05d", 42);  /* 5 bytes, room for 4 */
    ck_assert(weir_sbuf_failed(&sb));
    text_is(&sb, "abc");

    b = guarded(8);
    weir_sbuf_init(&sb, b, 8);
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    weir_sbuf_printf(&sb, "%s%s", big, big);
    ck_assert(weir_sbuf_failed(&sb));
    text_is(&sb, "");
}
END_TEST

/* ---- pool --------------------------------------------------------------- */

START_TEST(test_pool_growth)
{
    weir_sbuf_t sb;
    char        want[10000], big[3000];
    size_t      i, n = 0;
    const char *first;

    weir_sbuf_init_pool(&sb, pool, 1);
    ck_assert(!weir_sbuf_failed(&sb));
    first = sb.data;
    for (i = 0; i < 1000; i++) {
        weir_sbuf_append_u64(&sb, i % 10);
        want[n++] = (char) ('0' + i % 10);
    }
    ck_assert(sb.data != first);
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    weir_sbuf_printf(&sb, "<%s>", big);     /* grows inside printf */
    want[n++] = '<';
    memcpy(want + n, big, sizeof(big) - 1);
    n += sizeof(big) - 1;
    want[n++] = '>';
    weir_sbuf_append(&sb, big, sizeof(big) - 1);    /* more than double */
    memcpy(want + n, big, sizeof(big) - 1);
    n += sizeof(big) - 1;
    want[n] = '\0';
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, want);
    ck_assert_uint_ge(sb.size, sb.len + 1);
}
END_TEST

START_TEST(test_pool_hint)
{
    weir_sbuf_t sb;
    const char *first;

    weir_sbuf_init_pool(&sb, pool, 10);
    first = sb.data;
    weir_sbuf_lit(&sb, "0123456789");
    ck_assert(sb.data == first);        /* the hint was enough */
    weir_sbuf_append_char(&sb, 'x');
    ck_assert(sb.data != first);
    text_is(&sb, "0123456789x");

    weir_sbuf_init_pool(&sb, pool, 0);  /* the default */
    ck_assert(!weir_sbuf_failed(&sb));
    text_is(&sb, "");
}
END_TEST

/* Sizes that would wrap fail before anything is allocated or read. */
START_TEST(test_pool_size_overflow)
{
    weir_sbuf_t     sb;
    /* Not constants: the compiler would otherwise see a huge memcpy() in
     * the inline fast path it cannot prove unreachable, and warn. */
    volatile size_t max = SIZE_MAX, half = SIZE_MAX / 2;

    weir_sbuf_init_pool(&sb, pool, 0);
    weir_sbuf_lit(&sb, "kept");
    weir_sbuf_append(&sb, "x", max);
    ck_assert(weir_sbuf_failed(&sb));
    text_is(&sb, "kept");

    weir_sbuf_init_pool(&sb, pool, 0);
    weir_sbuf_lit(&sb, "kept");
    weir_sbuf_append(&sb, "x", half);   /* past the limit */
    ck_assert(weir_sbuf_failed(&sb));
    text_is(&sb, "kept");

    weir_sbuf_init_pool(&sb, pool, SIZE_MAX);
    ck_assert(weir_sbuf_failed(&sb));
    weir_sbuf_lit(&sb, "x");
    ck_assert_uint_eq(sb.len, 0);
}
END_TEST

/*
 * The bug of 81104a0 replayed: other_codings() re-joined 2000 codings sent
 * as "a,a,...,a" with ", " into a buffer sized for the input. Through a
 * builder over a buffer of that wrong size the join is refused without a
 * byte past the end; in a pool builder with the same size as a hint it is
 * right.
 */
static void
join_codings(weir_sbuf_t *sb, const char *in)
{
    const char *p;

    for (p = in; *p != '\0'; p++) {
        if (*p == ',') {
            continue;
        }
        if (sb->len) {
            weir_sbuf_lit(sb, ", ");
        }
        weir_sbuf_append_char(sb, *p);
    }
    weir_sbuf_lit(sb, ", chunked");
}

START_TEST(test_old_other_codings_bound)
{
    char        in[4000], *b, *want;
    size_t      i, old = 2000 * 2 + 2 + sizeof(", chunked");
    weir_sbuf_t sb;

    for (i = 0; i < 2000; i++) {
        in[2 * i] = 'a';
        in[2 * i + 1] = ',';
    }
    in[3999] = '\0';

    b = guarded(old);
    weir_sbuf_init(&sb, b, old);
    join_codings(&sb, in);
    ck_assert(weir_sbuf_failed(&sb));
    ck_assert_uint_lt(sb.len, old);

    weir_sbuf_init_pool(&sb, pool, old);
    join_codings(&sb, in);
    ck_assert(!weir_sbuf_failed(&sb));
    want = malloc(3 * 2000 + 16);
    ck_assert_ptr_nonnull(want);
    for (i = 0; i < 2000; i++) {
        memcpy(want + 3 * i, "a, ", 3);
    }
    memcpy(want + 3 * 2000, "chunked", sizeof("chunked"));
    text_is(&sb, want);
    free(want);
}
END_TEST

static Suite *
sbuf_suite(void)
{
    Suite *s = suite_create("sbuf");
    TCase *tc = tcase_create("sbuf");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_each_append);
    tcase_add_test(tc, test_exact_fit);
    tcase_add_test(tc, test_tiny_buffers);
    tcase_add_loop_test(tc, test_every_boundary, 0, 4);
    tcase_add_test(tc, test_printf_truncation);
    tcase_add_test(tc, test_pool_growth);
    tcase_add_test(tc, test_pool_hint);
    tcase_add_test(tc, test_pool_size_overflow);
    tcase_add_test(tc, test_old_other_codings_bound);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(sbuf_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
