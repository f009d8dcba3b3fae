#include "weir_config.h"
#include "http/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "core/core.h"
#include "core/log.h"
#include "core/wtime.h"

/* Captures are not used; a few pairs keep pcre2_match() from answering
 * "ovector too small" (0) for patterns with groups. */
#define REGEX_OVECTOR_PAIRS 16

static unsigned long  limit_hits;

static const char *regex_failure(int rc, unsigned long *limit);

/* The match block and context are the process's: workers are
 * single-threaded and only ask yes or no, so nothing is kept between
 * calls. Made on first use, kept for the process's life. */
int
weir_regex_match(const void *code, const char *section, const char *name,
    const char *key, const char *pattern, const char *s, size_t len)
{
    static pcre2_match_data     *md;
    static pcre2_match_context  *mctx;
    static weir_msec_t           last_log;
    static int                   logged;
    static unsigned long         unlogged;
    const char                  *kind;
    unsigned long                limit = 0;
    int                          rc;

    if (md == NULL) {
        md = pcre2_match_data_create(REGEX_OVECTOR_PAIRS, NULL);
    }
    if (mctx == NULL) {
        mctx = pcre2_match_context_create(NULL);
        if (mctx != NULL) {
            pcre2_set_match_limit(mctx, WEIR_REGEX_MATCH_LIMIT);
            pcre2_set_depth_limit(mctx, WEIR_REGEX_DEPTH_LIMIT);
        }
    }
    if (code == NULL || md == NULL || mctx == NULL) {
        return 0;       /* out of memory: no match rather than a crash */
    }
    rc = pcre2_match(code, (PCRE2_SPTR) s, len, 0, 0, md, mctx);
    if (rc >= 0) {
        return 1;
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    limit_hits++;
    /* A hostile client can make every request hit it: one line per
     * period, not one per request. */
    if (logged && weir_current_msec - last_log < WEIR_REGEX_LOG_EVERY) {
        unlogged++;
        return 0;
    }
    kind = regex_failure(rc, &limit);
    if (limit) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "[%s %s] %s \"%s\" hit the PCRE2 %s limit (%lu) on "
                       "a %zu-byte subject: taken as no match (%lu more "
                       "since the last line)", section, name, key, pattern,
                       kind, limit, len, unlogged);
    } else {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "[%s %s] %s \"%s\": PCRE2 error %d (%s) on a "
                       "%zu-byte subject: taken as no match (%lu more "
                       "since the last line)", section, name, key, pattern,
                       rc, kind, len, unlogged);
    }
    logged = 1;
    last_log = weir_current_msec;
    unlogged = 0;
    return 0;
}

/* The name of the limit a failed match hit and its value, or PCRE2's
 * message for another failure (*limit left 0). */
static const char *
regex_failure(int rc, unsigned long *limit)
{
    static PCRE2_UCHAR  msg[128];

    switch (rc) {
    case PCRE2_ERROR_MATCHLIMIT:
        *limit = WEIR_REGEX_MATCH_LIMIT;
        return "match";
    case PCRE2_ERROR_DEPTHLIMIT:
        *limit = WEIR_REGEX_DEPTH_LIMIT;
        return "depth";
    default:
        if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0) {
            return "unknown";
        }
        return (const char *) msg;
    }
}

unsigned long
weir_regex_limit_hits(void)
{
    return limit_hits;
}
