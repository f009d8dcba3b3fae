#include "weir_config.h"
#include "http/mime.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/pool.h"

#define OCTET "application/octet-stream"

static weir_pool_t  *pool;
static char          tmpdir[] = "/tmp/weir-mime-XXXXXX";
static char          errbuf[512];

static void
setup(void)
{
    pool = weir_pool_create(4096);
    ck_assert_ptr_nonnull(pool);
    errbuf[0] = '\0';
}

static void
teardown(void)
{
    weir_pool_destroy(pool);
}

/* conf/mime.types of the source tree: $WEIR_SRCDIR, or the tree this
 * file was compiled from (the Makefile passes an absolute __FILE__). */
static const char *
conf_path(void)
{
    static char  buf[4096];
    const char  *src = getenv("WEIR_SRCDIR");
    const char  *file = __FILE__;
    const char  *tail = "t/unit/test_mime.c";
    size_t       n, tl = strlen(tail);

    if (src != NULL && src[0] != '\0') {
        snprintf(buf, sizeof(buf), "%s/conf/mime.types", src);
        return buf;
    }

    n = strlen(file);
    if (n >= tl && strcmp(file + n - tl, tail) == 0) {
        snprintf(buf, sizeof(buf), "%.*sconf/mime.types", (int) (n - tl),
                 file);
        return buf;
    }

    return "../../conf/mime.types";
}

/* Write text into a fresh file of the temp dir; returns its path. */
static const char *
write_tmp(const char *name, const char *text)
{
    static char  path[512];
    FILE        *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);

    return path;
}

static weir_mime_t *
load_ok(const char *path)
{
    weir_mime_t  *m = NULL;
    int           rc;

    rc = weir_mime_load(path, pool, &m, errbuf, sizeof(errbuf));
    ck_assert_msg(rc == WEIR_OK, "load %s: %s", path, errbuf);
    ck_assert_ptr_nonnull(m);

    return m;
}

/* Expect a load failure whose message is exactly "path:line: ..." with
 * the given reason fragment. */
static void
load_fails(const char *path, unsigned line, const char *reason)
{
    weir_mime_t  *m = NULL;
    char          prefix[600];
    int           rc;

    rc = weir_mime_load(path, pool, &m, errbuf, sizeof(errbuf));
    ck_assert_int_eq(rc, WEIR_ERROR);
    ck_assert_ptr_null(m);

    snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
    ck_assert_msg(strncmp(errbuf, prefix, strlen(prefix)) == 0,
                  "error \"%s\" does not start with \"%s\"", errbuf, prefix);
    ck_assert_msg(strstr(errbuf, reason) != NULL,
                  "error \"%s\" lacks \"%s\"", errbuf, reason);
}

static const char *
type_of(const weir_mime_t *m, const char *name)
{
    return weir_mime_type(m, name, strlen(name));
}

START_TEST(test_shipped_table)
{
    weir_mime_t  *m = load_ok(conf_path());

    ck_assert_str_eq(type_of(m, "index.html"), "text/html");
    ck_assert_str_eq(type_of(m, "old.htm"), "text/html");
    ck_assert_str_eq(type_of(m, "style.css"), "text/css");
    ck_assert_str_eq(type_of(m, "app.js"), "text/javascript");
    ck_assert_str_eq(type_of(m, "photo.jpg"), "image/jpeg");
    ck_assert_str_eq(type_of(m, "logo.svg"), "image/svg+xml");
    ck_assert_str_eq(type_of(m, "data.json"), "application/json");
    ck_assert_str_eq(type_of(m, "font.woff2"), "font/woff2");
    ck_assert_str_eq(type_of(m, "doc.pdf"), "application/pdf");
    ck_assert_str_eq(type_of(m, "clip.mp4"), "video/mp4");
    ck_assert_str_eq(type_of(m, "song.mp3"), "audio/mpeg");
    ck_assert_str_eq(type_of(m, "readme.txt"), "text/plain");
    ck_assert_str_eq(type_of(m, "mod.wasm"), "application/wasm");
    /* the last extension decides */
    ck_assert_str_eq(type_of(m, "archive.tar.gz"), "application/gzip");
    ck_assert_str_eq(type_of(m, "/a/b/c/page.html"), "text/html");
}
END_TEST

START_TEST(test_case_insensitive)
{
    weir_mime_t  *m = load_ok(conf_path());

    ck_assert_str_eq(type_of(m, "INDEX.HTML"), "text/html");
    ck_assert_str_eq(type_of(m, "Photo.JpG"), "image/jpeg");
    ck_assert_str_eq(type_of(m, "x.Css"), "text/css");
}
END_TEST

START_TEST(test_no_or_unknown_extension)
{
    weir_mime_t  *m = load_ok(conf_path());

    ck_assert_str_eq(type_of(m, "Makefile"), OCTET);
    ck_assert_str_eq(type_of(m, "trailing."), OCTET);
    ck_assert_str_eq(type_of(m, "file.qqqzzz"), OCTET);
    /* a hidden file's leading dot is not an extension */
    ck_assert_str_eq(type_of(m, ".html"), OCTET);
    ck_assert_str_eq(type_of(m, "/dir/.css"), OCTET);
    /* a dot in a directory name does not count for the file */
    ck_assert_str_eq(type_of(m, "/site.html/README"), OCTET);
    ck_assert_str_eq(type_of(m, ""), OCTET);
    /* far longer than any extension */
    ck_assert_str_eq(type_of(m,
        "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        OCTET);
    /* only len bytes count, not the NUL */
    ck_assert_str_eq(weir_mime_type(m, "a.html.bak", 6), "text/html");
}
END_TEST

START_TEST(test_null_table)
{
    ck_assert_str_eq(weir_mime_type(NULL, "a.html", 6), OCTET);
}
END_TEST

START_TEST(test_plain_format)
{
    weir_mime_t  *m;

    m = load_ok(write_tmp("plain.types",
        "# Apache style\n"
        "\n"
        "text/plain   txt  TEXT\n"
        "application/x-empty\n"          /* a type with no extension */
        "image/png png ; # trailing semicolon and comment\n"
        "text/html html htm\r\n"         /* CRLF line */
        "text/x-last last"));            /* no final newline */

    ck_assert_str_eq(type_of(m, "a.txt"), "text/plain");
    ck_assert_str_eq(type_of(m, "a.text"), "text/plain");
    ck_assert_str_eq(type_of(m, "a.PNG"), "image/png");
    ck_assert_str_eq(type_of(m, "a.htm"), "text/html");
    ck_assert_str_eq(type_of(m, "a.last"), "text/x-last");
    ck_assert_str_eq(type_of(m, "a.css"), OCTET);
}
END_TEST

START_TEST(test_block_multiline_and_override)
{
    weir_mime_t  *m;

    m = load_ok(write_tmp("block.types",
        "# header\n"
        "types\n"
        "{\n"
        "    text/html html\n"
        "              htm;   # spans two lines\n"
        "    text/plain txt;\n"
        "    text/x-override txt;\n"
        "}\n"
        "# trailing comment\n"));

    ck_assert_str_eq(type_of(m, "a.htm"), "text/html");
    /* a later definition of an extension wins */
    ck_assert_str_eq(type_of(m, "a.txt"), "text/x-override");
}
END_TEST

START_TEST(test_empty_file)
{
    weir_mime_t  *m = load_ok(write_tmp("empty.types", "# nothing\n"));

    ck_assert_str_eq(type_of(m, "a.html"), OCTET);
}
END_TEST

START_TEST(test_many_entries_grow)
{
    char          line[64], *text;
    size_t        cap = 1000 * 40, len = 0;
    weir_mime_t  *m;
    int           i;

    text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    text[0] = '\0';
    for (i = 0; i < 1000; i++) {
        len += (size_t) snprintf(text + len, cap - len,
                                 "x-test/t%d e%d\n", i, i);
    }
    m = load_ok(write_tmp("many.types", text));
    free(text);

    for (i = 0; i < 1000; i++) {
        char  want[32];

        snprintf(line, sizeof(line), "file.E%d", i);
        snprintf(want, sizeof(want), "x-test/t%d", i);
        ck_assert_str_eq(type_of(m, line), want);
    }
    ck_assert_str_eq(type_of(m, "file.e1000"), OCTET);
}
END_TEST

START_TEST(test_error_invalid_type_line)
{
    const char  *p = write_tmp("bad1.types",
        "types {\n"
        "    text/html html;\n"
        "    notatype foo;\n"
        "}\n");

    load_fails(p, 3, "invalid MIME type \"notatype\"");
}
END_TEST

START_TEST(test_error_plain_invalid_type)
{
    const char  *p = write_tmp("bad2.types",
        "text/plain txt\n"
        "# comment\n"
        "\n"
        "text/ html\n");

    load_fails(p, 4, "invalid MIME type");
}
END_TEST

START_TEST(test_error_missing_semicolon)
{
    const char  *p = write_tmp("bad3.types",
        "types {\n"
        "    text/html html\n"
        "}\n");

    load_fails(p, 3, "missing \";\"");
}
END_TEST

START_TEST(test_error_unclosed_block)
{
    const char  *p = write_tmp("bad4.types",
        "types {\n"
        "    text/html html;\n");

    load_fails(p, 3, "unexpected end of file");
}
END_TEST

START_TEST(test_error_text_after_block)
{
    const char  *p = write_tmp("bad5.types",
        "types { text/html html; }\n"
        "text/plain txt;\n");

    load_fails(p, 2, "after \"}\"");
}
END_TEST

START_TEST(test_error_invalid_extension)
{
    const char  *p = write_tmp("bad6.types",
        "text/plain txt\n"
        "text/html html .htm\n");

    load_fails(p, 2, "invalid extension \".htm\"");
}
END_TEST

START_TEST(test_error_types_without_brace)
{
    const char  *p = write_tmp("bad7.types", "types\ntext/html html;\n");

    load_fails(p, 2, "expected \"{\"");
}
END_TEST

START_TEST(test_error_stray_brace_in_plain)
{
    const char  *p = write_tmp("bad8.types", "text/html html\n}\n");

    load_fails(p, 2, "unexpected \"}\"");
}
END_TEST

START_TEST(test_error_missing_file)
{
    weir_mime_t  *m = NULL;
    char          path[600];
    int           rc;

    snprintf(path, sizeof(path), "%s/does-not-exist.types", tmpdir);
    rc = weir_mime_load(path, pool, &m, errbuf, sizeof(errbuf));

    ck_assert_int_eq(rc, WEIR_ERROR);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(errbuf, path));
    ck_assert_ptr_nonnull(strstr(errbuf, "No such file"));
}
END_TEST

START_TEST(test_error_bad_arguments)
{
    weir_mime_t  *m = NULL;

    ck_assert_int_eq(weir_mime_load(NULL, pool, &m, errbuf, sizeof(errbuf)),
                     WEIR_ERROR);
    ck_assert_int_eq(weir_mime_load(conf_path(), NULL, &m, errbuf,
                                    sizeof(errbuf)), WEIR_ERROR);
}
END_TEST

static Suite *
mime_suite(void)
{
    Suite  *s = suite_create("mime");
    TCase  *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_shipped_table);
    tcase_add_test(tc, test_case_insensitive);
    tcase_add_test(tc, test_no_or_unknown_extension);
    tcase_add_test(tc, test_null_table);
    tcase_add_test(tc, test_plain_format);
    tcase_add_test(tc, test_block_multiline_and_override);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_many_entries_grow);
    tcase_add_test(tc, test_error_invalid_type_line);
    tcase_add_test(tc, test_error_plain_invalid_type);
    tcase_add_test(tc, test_error_missing_semicolon);
    tcase_add_test(tc, test_error_unclosed_block);
    tcase_add_test(tc, test_error_text_after_block);
    tcase_add_test(tc, test_error_invalid_extension);
    tcase_add_test(tc, test_error_types_without_brace);
    tcase_add_test(tc, test_error_stray_brace_in_plain);
    tcase_add_test(tc, test_error_missing_file);
    tcase_add_test(tc, test_error_bad_arguments);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner  *sr;
    char      cmd[128];
    int       failed;

    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    sr = srunner_create(mime_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }

    return failed == 0 ? 0 : 1;
}
