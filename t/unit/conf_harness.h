/*
 * The harness the loader's unit tests share (test_conf*.c): each test
 * runs in a fresh temporary directory, writes its weir.ini there and
 * loads it, and looks for an error line by its start. Included by those
 * files only; its functions are static inline, so a file that uses a
 * few of them compiles without unused-function warnings.
 * A file that needs more in its fixture defines CONF_HARNESS_OWN_SETUP
 * and calls conf_harness_setup() from its own setup().
 */
#ifndef WEIR_T_UNIT_CONF_HARNESS_H
#define WEIR_T_UNIT_CONF_HARNESS_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "proc/config.h"

static char tmpdir[64];

static inline void
write_file(const char *name, const char *text)
{
    FILE *fp = fopen(name, "w");

    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
}

static inline void
conf_harness_setup(void)
{
    strcpy(tmpdir, "/tmp/weir-unit-conf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(chdir(tmpdir), 0);
}

static inline void
teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) {
        /* a leftover temp dir is harmless */
    }
}

static inline weir_config_t *
load(const char *text, weir_config_errors_t *errs)
{
    memset(errs, 0, sizeof(*errs));
    write_file("weir.ini", text);
    return weir_config_load("weir.ini", tmpdir, errs);
}

static inline char *
all_errors(const weir_config_errors_t *errs)
{
    static char buf[8192];
    size_t      i;

    buf[0] = '\0';
    for (i = 0; i < errs->n; i++) {
        strncat(buf, errs->lines[i], sizeof(buf) - strlen(buf) - 2);
        strcat(buf, "\n");
    }
    return buf;
}

static inline int
has_error(const weir_config_errors_t *errs, const char *expect)
{
    size_t i;

    for (i = 0; i < errs->n; i++) {
        if (strncmp(errs->lines[i], expect, strlen(expect)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Load text, expect failure with an error line starting with `expect`. */
#define ck_load_error(text, expect)                                         \
    do {                                                                    \
        weir_config_errors_t e_;                                            \
        weir_config_t *cf_ = load(text, &e_);                               \
        ck_assert_msg(cf_ == NULL, "loaded although expecting: %s", expect);\
        ck_assert_msg(has_error(&e_, expect), "expected \"%s\", got:\n%s",  \
                      expect, all_errors(&e_));                             \
        weir_config_errors_free(&e_);                                       \
    } while (0)

#ifndef CONF_HARNESS_OWN_SETUP
static inline void
setup(void)
{
    conf_harness_setup();
}
#endif
/* Dump cf (weir -T) into the file `name` and return its text past the
 * header line; two buffers in turn, so two dumps can be compared. */
static inline char *
dump_to(const weir_config_t *cf, const char *name)
{
    static char buf[2][16384];
    static int  which;
    FILE       *fp = fopen(name, "w");
    char       *b = buf[which++ & 1];
    size_t      n;

    ck_assert_ptr_nonnull(fp);
    weir_config_dump(cf, fp);
    fclose(fp);
    fp = fopen(name, "r");
    n = fread(b, 1, sizeof(buf[0]) - 1, fp);
    fclose(fp);
    b[n] = '\0';
    return strchr(b, '\n');    /* past the header naming the file */
}

#endif /* WEIR_T_UNIT_CONF_HARNESS_H */
