#include "weir_config.h"
#include "http/static.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/pool.h"
#include "core/wtime.h"
#include "http/mime.h"

/*
 * The tree, built once in main():
 *
 *   <tmp>/outside/secret.txt           what no request may reach
 *   <tmp>/root/file.txt                16 bytes, mtime MTIME
 *   <tmp>/root/empty.txt               0 bytes
 *   <tmp>/root/page.HTML
 *   <tmp>/root/sub/index.html          ("/sub/" serves it)
 *   <tmp>/root/sub/other.txt
 *   <tmp>/root/noindex/a.txt           ("/noindex/" is 403)
 *   <tmp>/root/dirindex/index.html/    (an index that is a directory)
 *   <tmp>/root/link-in     -> file.txt               served
 *   <tmp>/root/link-abs-in -> <tmp>/root/sub/other.txt  served
 *   <tmp>/root/link-dir-in -> sub                    served
 *   <tmp>/root/link-etc    -> /etc/hostname          404
 *   <tmp>/root/link-out    -> ../outside/secret.txt  404
 *   <tmp>/root/link-abs-out -> <tmp>/outside/secret.txt 404
 *   <tmp>/root/linkdir-out -> ../outside             404 for all below
 *   <tmp>/root/linkdir-etc -> /etc                   404
 *   <tmp>/root/fifo                                  404, never hangs
 *   <tmp>/root/secret.txt  mode 000                  403 (not as root)
 */

#define MTIME      ((time_t) 1700000000)    /* 0x6553f100 */
#define BODY       "0123456789abcdef"
#define ETAG       "\"6553f100-10\""

static char           base[] = "/tmp/weir-static-XXXXXX";
static char           root[256];
static char           outside[256];
static weir_pool_t   *pool;
static weir_mime_t   *mime;
static char          *index_names[] = { "missing.htm", "index.html" };

static weir_static_req_t  rq;
static weir_static_res_t  rs;


/* --- tree ------------------------------------------------------------- */

static void
mkfile(const char *dir, const char *name, const char *text, time_t mtime)
{
    char             path[512];
    struct timespec  ts[2];
    FILE            *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);

    if (mtime != 0) {
        ts[0].tv_sec = ts[1].tv_sec = mtime;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        utimensat(AT_FDCWD, path, ts, 0);
    }
}

static void
mkdir_in(const char *dir, const char *name)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (mkdir(path, 0755) == -1) {
        perror(path);
        exit(1);
    }
}

static void
symlink_in(const char *target, const char *name)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", root, name);
    if (symlink(target, path) == -1) {
        perror(path);
        exit(1);
    }
}

static void
build_tree(void)
{
    char  path[512], target[512];

    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(outside, sizeof(outside), "%s/outside", base);
    mkdir_in(base, "root");
    mkdir_in(base, "outside");

    mkfile(outside, "secret.txt", "outside secret\n", 0);
    mkfile(root, "file.txt", BODY, MTIME);
    mkfile(root, "empty.txt", "", MTIME);
    mkfile(root, "page.HTML", "<p>x</p>", 0);
    mkdir_in(root, "sub");
    mkdir_in(root, "noindex");
    mkdir_in(root, "dirindex");
    snprintf(path, sizeof(path), "%s/sub", root);
    mkfile(path, "index.html", "<h1>sub</h1>\n", 0);
    mkfile(path, "other.txt", "other", 0);
    snprintf(path, sizeof(path), "%s/noindex", root);
    mkfile(path, "a.txt", "a", 0);
    snprintf(path, sizeof(path), "%s/dirindex", root);
    mkdir_in(path, "index.html");

    symlink_in("file.txt", "link-in");
    snprintf(target, sizeof(target), "%s/sub/other.txt", root);
    symlink_in(target, "link-abs-in");
    symlink_in("sub", "link-dir-in");
    symlink_in("/etc/hostname", "link-etc");
    symlink_in("../outside/secret.txt", "link-out");
    snprintf(target, sizeof(target), "%s/secret.txt", outside);
    symlink_in(target, "link-abs-out");
    symlink_in("../outside", "linkdir-out");
    symlink_in("/etc", "linkdir-etc");

    snprintf(path, sizeof(path), "%s/fifo", root);
    if (mkfifo(path, 0644) == -1) {
        perror(path);
        exit(1);
    }

    mkfile(root, "secret.txt", "no", 0);
    snprintf(path, sizeof(path), "%s/secret.txt", root);
    chmod(path, 0);
}

static void
load_mime(void)
{
    char  err[256];

    mkfile(base, "mime.types",
           "types {\n"
           "    text/html html htm;\n"
           "    text/plain txt;\n"
           "}\n", 0);

    pool = weir_pool_create(4096);
    snprintf(err, sizeof(err), "%s/mime.types", base);
    if (pool == NULL
        || weir_mime_load(err, pool, &mime, err, sizeof(err)) != WEIR_OK)
    {
        fprintf(stderr, "mime: %s\n", err);
        exit(1);
    }
}


/* --- request helpers -------------------------------------------------- */

static void
req(const char *path)
{
    memset(&rq, 0, sizeof(rq));
    rq.root = root;
    rq.index = index_names;
    rq.nindex = weir_nelems(index_names);
    rq.path = path;
    rq.path_len = strlen(path);
    rq.method_get_or_head = 1;
    rq.mime = mime;
}

#define HDR(field, v) \
    do { rq.cond.field = (v); rq.cond.field##_len = strlen(v); } while (0)

/* Run the request; the fd must be open exactly for 200/206. */
static int
run(void)
{
    ck_assert_int_eq(weir_static_open(&rq, &rs), WEIR_OK);

    if (rs.status == 200 || rs.status == 206) {
        ck_assert_msg(rs.fd >= 0, "no fd for %d", rs.status);
        ck_assert_int_ne(fcntl(rs.fd, F_GETFD), -1);
    } else {
        ck_assert_int_eq(rs.fd, -1);
    }

    return rs.status;
}

static void
done(void)
{
    if (rs.fd != -1) {
        close(rs.fd);
        rs.fd = -1;
    }
}

/* GET path: expect status; closes the fd. */
static void
expect(const char *path, int status)
{
    req(path);
    ck_assert_msg(run() == status, "%s: status %d, expected %d", path,
                  rs.status, status);
    done();
}

/* The body the fd would send, to prove it is the right file. */
static void
expect_body(const char *want)
{
    char     buf[256];
    ssize_t  n;

    ck_assert_int_lt(rs.length, (off_t) sizeof(buf));
    n = pread(rs.fd, buf, (size_t) rs.length, rs.offset);
    ck_assert_int_eq(n, (ssize_t) strlen(want));
    buf[n] = '\0';
    ck_assert_str_eq(buf, want);
}

static int
count_fds(void)
{
    DIR            *d = opendir("/proc/self/fd");
    struct dirent  *e;
    int             n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);

    return n;
}

static void
use_openat2(void)
{
    weir_static_set_fallback(0);
}

static void
use_fallback(void)
{
    weir_static_set_fallback(1);
}


/* --- resolution (run on both backends) -------------------------------- */

START_TEST(test_regular_file)
{
    req("/file.txt");
    ck_assert_int_eq(run(), 200);
    ck_assert_int_eq(rs.offset, 0);
    ck_assert_int_eq(rs.length, 16);
    ck_assert_int_eq(rs.file_size, 16);
    ck_assert_int_eq(rs.mtime, MTIME);
    ck_assert_str_eq(rs.etag, ETAG);
    ck_assert_str_eq(rs.content_type, "text/plain");
    ck_assert_int_eq(rs.redirect_slash, 0);
    expect_body(BODY);
    done();

    /* the extension's case does not matter */
    req("/page.HTML");
    ck_assert_int_eq(run(), 200);
    ck_assert_str_eq(rs.content_type, "text/html");
    done();
}
END_TEST

START_TEST(test_path_not_nul_terminated)
{
    /* only path_len bytes count */
    req("/file.txt/garbage");
    rq.path_len = strlen("/file.txt");
    ck_assert_int_eq(run(), 200);
    expect_body(BODY);
    done();
}
END_TEST

START_TEST(test_missing)
{
    req("/nope.txt");
    ck_assert_int_eq(run(), 404);
    ck_assert_int_eq(rs.err, ENOENT);

    req("/file.txt/below");
    ck_assert_int_eq(run(), 404);
    ck_assert_int_eq(rs.err, ENOTDIR);

    expect("/file.txt/", 404);
    expect("/nodir/file.txt", 404);

    {
        static char  longp[5000];

        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        req(longp);
        ck_assert_int_eq(run(), 404);
        ck_assert_int_eq(rs.err, ENAMETOOLONG);
    }
}
END_TEST

START_TEST(test_directory_index)
{
    req("/sub/");
    ck_assert_int_eq(run(), 200);
    ck_assert_str_eq(rs.content_type, "text/html");
    expect_body("<h1>sub</h1>\n");
    done();

    /* the first index name that exists wins: with only "missing.htm"
     * nothing does */
    req("/sub/");
    rq.nindex = 1;
    ck_assert_int_eq(run(), 403);

    req("/sub/");
    rq.nindex = 0;
    ck_assert_int_eq(run(), 403);
}
END_TEST

START_TEST(test_directory_without_index)
{
    expect("/noindex/", 403);
    /* the root itself has no index file either */
    expect("/", 403);
    /* an "index.html" that is a directory is no index */
    expect("/dirindex/", 403);
}
END_TEST

START_TEST(test_directory_redirect)
{
    req("/sub");
    ck_assert_int_eq(run(), 301);
    ck_assert_int_eq(rs.redirect_slash, 1);

    req("/noindex");
    ck_assert_int_eq(run(), 301);
    ck_assert_int_eq(rs.redirect_slash, 1);

    /* a regular file never redirects */
    req("/file.txt");
    ck_assert_int_eq(run(), 200);
    ck_assert_int_eq(rs.redirect_slash, 0);
    done();
}
END_TEST

START_TEST(test_method_not_allowed)
{
    req("/file.txt");
    rq.method_get_or_head = 0;
    ck_assert_int_eq(run(), 405);

    req("/nope");
    rq.method_get_or_head = 0;
    ck_assert_int_eq(run(), 405);
}
END_TEST

START_TEST(test_symlinks_inside_root)
{
    req("/link-in");
    ck_assert_int_eq(run(), 200);
    ck_assert_str_eq(rs.etag, ETAG);
    expect_body(BODY);
    done();

    /* an absolute link that points back inside root is fine too */
    req("/link-abs-in");
    ck_assert_int_eq(run(), 200);
    expect_body("other");
    done();

    req("/link-dir-in/other.txt");
    ck_assert_int_eq(run(), 200);
    expect_body("other");
    done();

    req("/link-dir-in/");
    ck_assert_int_eq(run(), 200);
    expect_body("<h1>sub</h1>\n");
    done();
}
END_TEST

START_TEST(test_symlinks_escaping_root)
{
    expect("/link-etc", 404);
    expect("/link-out", 404);
    expect("/link-abs-out", 404);
    expect("/linkdir-out/secret.txt", 404);
    expect("/linkdir-out/", 404);
    expect("/linkdir-out", 404);
    expect("/linkdir-etc/hostname", 404);
    expect("/linkdir-etc/", 404);

    /* the error is not revealed as anything but "not found" */
    req("/link-etc");
    run();
    ck_assert_int_ne(rs.status, 403);
    ck_assert_int_ne(rs.status, 500);
}
END_TEST

START_TEST(test_special_files)
{
    /* must answer at once, not block in open() waiting for a writer */
    req("/fifo");
    ck_assert_int_eq(run(), 404);
}
END_TEST

START_TEST(test_unreadable)
{
    req("/secret.txt");
    run();
    if (geteuid() == 0) {
        /* root reads mode-000 files: nothing to assert but the fd rule */
        done();
        return;
    }
    ck_assert_int_eq(rs.status, 403);
    ck_assert_int_eq(rs.err, EACCES);
}
END_TEST

START_TEST(test_bad_root)
{
    req("/file.txt");
    rq.root = "/nonexistent-weir-root";
    ck_assert_int_eq(run(), 500);
    ck_assert_int_ne(rs.err, 0);
}
END_TEST


/* --- arguments -------------------------------------------------------- */

START_TEST(test_bad_arguments)
{
    req("/file.txt");
    ck_assert_int_eq(weir_static_open(NULL, &rs), WEIR_ERROR);
    ck_assert_int_eq(weir_static_open(&rq, NULL), WEIR_ERROR);

    req("file.txt");                    /* not absolute */
    ck_assert_int_eq(weir_static_open(&rq, &rs), WEIR_ERROR);
    ck_assert_int_eq(rs.fd, -1);

    req("/file.txt");
    rq.root = "relative";
    ck_assert_int_eq(weir_static_open(&rq, &rs), WEIR_ERROR);

    req("/file.txt");
    rq.path_len = 0;
    ck_assert_int_eq(weir_static_open(&rq, &rs), WEIR_ERROR);
}
END_TEST

START_TEST(test_embedded_nul)
{
    static const char  p[] = "/file.txt\0.html";

    req(p);
    rq.path_len = sizeof(p) - 1;
    ck_assert_int_eq(run(), 404);
}
END_TEST


/* --- conditionals ----------------------------------------------------- */

START_TEST(test_if_none_match)
{
    req("/file.txt");
    HDR(if_none_match, ETAG);
    ck_assert_int_eq(run(), 304);
    /* the validators stay available for the 304 head */
    ck_assert_str_eq(rs.etag, ETAG);
    ck_assert_int_eq(rs.mtime, MTIME);

    req("/file.txt");
    HDR(if_none_match, "\"xyz\", \"6553f100-10\" , \"abc\"");
    ck_assert_int_eq(run(), 304);

    req("/file.txt");
    HDR(if_none_match, "*");
    ck_assert_int_eq(run(), 304);

    /* weak comparison: W/ is ignored */
    req("/file.txt");
    HDR(if_none_match, "W/" ETAG);
    ck_assert_int_eq(run(), 304);

    req("/file.txt");
    HDR(if_none_match, "\"6553f100-11\"");
    ck_assert_int_eq(run(), 200);
    done();

    req("/file.txt");
    HDR(if_none_match, "\"a\", \"b\"");
    ck_assert_int_eq(run(), 200);
    done();

    /* garbage never yields a 304 */
    req("/file.txt");
    HDR(if_none_match, "6553f100-10");
    ck_assert_int_eq(run(), 200);
    done();

    req("/file.txt");
    HDR(if_none_match, "\"6553f100-10");
    ck_assert_int_eq(run(), 200);
    done();
}
END_TEST

START_TEST(test_if_modified_since)
{
    char  date[64];

    weir_time_http(date, MTIME);
    req("/file.txt");
    HDR(if_modified_since, date);
    ck_assert_int_eq(run(), 304);

    weir_time_http(date, MTIME + 3600);
    req("/file.txt");
    HDR(if_modified_since, date);
    ck_assert_int_eq(run(), 304);

    weir_time_http(date, MTIME - 1);
    req("/file.txt");
    HDR(if_modified_since, date);
    ck_assert_int_eq(run(), 200);
    done();

    req("/file.txt");
    HDR(if_modified_since, "yesterday-ish");
    ck_assert_int_eq(run(), 200);
    done();
}
END_TEST

START_TEST(test_if_none_match_wins)
{
    char  date[64];

    /* a failing If-None-Match is not rescued by If-Modified-Since */
    weir_time_http(date, MTIME);
    req("/file.txt");
    HDR(if_none_match, "\"other\"");
    HDR(if_modified_since, date);
    ck_assert_int_eq(run(), 200);
    done();

    /* and a matching one wins over an older date */
    weir_time_http(date, MTIME - 100);
    req("/file.txt");
    HDR(if_none_match, ETAG);
    HDR(if_modified_since, date);
    ck_assert_int_eq(run(), 304);
}
END_TEST

START_TEST(test_not_modified_before_range)
{
    req("/file.txt");
    HDR(if_none_match, ETAG);
    HDR(range, "bytes=0-1");
    ck_assert_int_eq(run(), 304);
}
END_TEST


/* --- ranges ----------------------------------------------------------- */

static void
expect_range(const char *range, int status, off_t offset, off_t length)
{
    req("/file.txt");
    HDR(range, range);
    ck_assert_msg(run() == status, "%s: %d, expected %d", range, rs.status,
                  status);
    ck_assert_msg(rs.offset == offset && rs.length == length,
                  "%s: %lld+%lld, expected %lld+%lld", range,
                  (long long) rs.offset, (long long) rs.length,
                  (long long) offset, (long long) length);
    ck_assert_int_eq(rs.file_size, 16);
    done();
}

START_TEST(test_range_forms)
{
    expect_range("bytes=0-3", 206, 0, 4);
    expect_range("bytes=4-4", 206, 4, 1);
    expect_range("bytes=10-", 206, 10, 6);
    expect_range("bytes=-4", 206, 12, 4);
    expect_range("bytes=-100", 206, 0, 16);     /* suffix larger than file */
    expect_range("bytes=5-1000", 206, 5, 11);   /* last clipped */
    expect_range("bytes=15-15", 206, 15, 1);
    expect_range("Bytes=0-0", 206, 0, 1);       /* unit is case-insensitive */
    expect_range(" bytes=1-2 ", 206, 1, 2);
    expect_range("bytes=1-2,", 206, 1, 2);      /* empty list element */
    expect_range("bytes=0-99999999999999999999999999", 206, 0, 16);

    req("/file.txt");
    HDR(range, "bytes=12-13");
    ck_assert_int_eq(run(), 206);
    expect_body("cd");
    done();
}
END_TEST

START_TEST(test_range_unsatisfiable)
{
    expect_range("bytes=16-", 416, 0, 0);
    expect_range("bytes=16-20", 416, 0, 0);
    expect_range("bytes=-0", 416, 0, 0);
    expect_range("bytes=99999999999999999999999999-", 416, 0, 0);

    /* on an empty file every int-range is unsatisfiable ... */
    req("/empty.txt");
    HDR(range, "bytes=0-");
    ck_assert_int_eq(run(), 416);
    ck_assert_int_eq(rs.file_size, 0);

    /* ... and a suffix gets the (empty) whole */
    req("/empty.txt");
    HDR(range, "bytes=-5");
    ck_assert_int_eq(run(), 200);
    ck_assert_int_eq(rs.length, 0);
    done();
}
END_TEST

START_TEST(test_range_multi_is_whole)
{
    /* multipart/byteranges is not supported: a 200 is a valid answer */
    expect_range("bytes=0-1,5-6", 200, 0, 16);
    expect_range("bytes=0-1, -2", 200, 0, 16);
}
END_TEST

START_TEST(test_range_invalid_is_ignored)
{
    expect_range("bytes=abc", 200, 0, 16);
    expect_range("bytes=5-2", 200, 0, 16);
    expect_range("bytes=", 200, 0, 16);
    expect_range("bytes=-", 200, 0, 16);
    expect_range("bytes=1-2x", 200, 0, 16);
    expect_range("items=0-1", 200, 0, 16);
    expect_range("bytes 0-1", 200, 0, 16);
    expect_range("bytes=--1", 200, 0, 16);
    expect_range("bytes=0-1,x", 200, 0, 16);
    expect_range("", 200, 0, 16);
}
END_TEST

START_TEST(test_if_range)
{
    char  date[64];

    req("/file.txt");
    HDR(range, "bytes=0-1");
    HDR(if_range, ETAG);
    ck_assert_int_eq(run(), 206);
    done();

    req("/file.txt");
    HDR(range, "bytes=0-1");
    HDR(if_range, "\"6553f100-11\"");
    ck_assert_int_eq(run(), 200);
    ck_assert_int_eq(rs.length, 16);
    done();

    /* strong comparison: a weak tag never matches */
    req("/file.txt");
    HDR(range, "bytes=0-1");
    HDR(if_range, "W/" ETAG);
    ck_assert_int_eq(run(), 200);
    done();

    weir_time_http(date, MTIME);
    req("/file.txt");
    HDR(range, "bytes=0-1");
    HDR(if_range, date);
    ck_assert_int_eq(run(), 206);
    done();

    /* dates must be equal, not merely later */
    weir_time_http(date, MTIME + 1);
    req("/file.txt");
    HDR(range, "bytes=0-1");
    HDR(if_range, date);
    ck_assert_int_eq(run(), 200);
    done();

    req("/file.txt");
    HDR(range, "bytes=0-1");
    HDR(if_range, "garbage");
    ck_assert_int_eq(run(), 200);
    done();

    /* If-Range also turns a would-be 416 into the whole file */
    req("/file.txt");
    HDR(range, "bytes=100-");
    HDR(if_range, "\"old\"");
    ck_assert_int_eq(run(), 200);
    done();
}
END_TEST


/* --- no fd leaks ------------------------------------------------------ */

START_TEST(test_no_fd_leak)
{
    static const char  *paths[] = {
        "/file.txt", "/nope", "/sub/", "/sub", "/noindex/", "/dirindex/",
        "/link-in", "/link-etc", "/link-abs-in", "/linkdir-out/secret.txt",
        "/fifo", "/secret.txt", "/", "/file.txt/", "/link-dir-in/",
    };
    int     before, i;
    size_t  j;

    before = count_fds();

    for (i = 0; i < 50; i++) {
        for (j = 0; j < weir_nelems(paths); j++) {
            req(paths[j]);
            run();
            done();

            req(paths[j]);
            HDR(if_none_match, ETAG);
            run();
            done();

            req(paths[j]);
            HDR(range, "bytes=1000-");
            run();
            done();

            req(paths[j]);
            HDR(range, "bytes=1-2");
            HDR(if_range, "\"x\"");
            run();
            done();

            req(paths[j]);
            rq.method_get_or_head = 0;
            run();
        }
    }

    ck_assert_int_eq(count_fds(), before);
}
END_TEST


static void
add_tests(TCase *tc)
{
    tcase_add_test(tc, test_regular_file);
    tcase_add_test(tc, test_path_not_nul_terminated);
    tcase_add_test(tc, test_missing);
    tcase_add_test(tc, test_directory_index);
    tcase_add_test(tc, test_directory_without_index);
    tcase_add_test(tc, test_directory_redirect);
    tcase_add_test(tc, test_method_not_allowed);
    tcase_add_test(tc, test_symlinks_inside_root);
    tcase_add_test(tc, test_symlinks_escaping_root);
    tcase_add_test(tc, test_special_files);
    tcase_add_test(tc, test_unreadable);
    tcase_add_test(tc, test_bad_root);
    tcase_add_test(tc, test_embedded_nul);
    tcase_add_test(tc, test_no_fd_leak);
}

static Suite *
static_suite(void)
{
    Suite  *s = suite_create("static");
    TCase  *tc;

    /* resolution on the openat2 backend, then the same on the fallback */
    tc = tcase_create("openat2");
    tcase_add_checked_fixture(tc, use_openat2, NULL);
    add_tests(tc);
    suite_add_tcase(s, tc);

    tc = tcase_create("realpath");
    tcase_add_checked_fixture(tc, use_fallback, NULL);
    add_tests(tc);
    suite_add_tcase(s, tc);

    tc = tcase_create("headers");
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_if_none_match);
    tcase_add_test(tc, test_if_modified_since);
    tcase_add_test(tc, test_if_none_match_wins);
    tcase_add_test(tc, test_not_modified_before_range);
    tcase_add_test(tc, test_range_forms);
    tcase_add_test(tc, test_range_unsatisfiable);
    tcase_add_test(tc, test_range_multi_is_whole);
    tcase_add_test(tc, test_range_invalid_is_ignored);
    tcase_add_test(tc, test_if_range);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner  *sr;
    char      cmd[300];
    int       failed;

    build_tree();
    load_mime();

    sr = srunner_create(static_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    weir_pool_destroy(pool);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", base);
    }

    return failed == 0 ? 0 : 1;
}
