/*
 * Matching the regexes of routes and server names (PCRE2) against what a
 * client sent, at a bounded cost. A pattern such as "^/(a+)+$" backtracks
 * exponentially on "/aaaa...b"; PCRE2's own default limit lets one such
 * match take tens of milliseconds, a worker's whole attention. Here every
 * match runs under a match limit and a depth limit chosen to cost about a
 * millisecond at most; a match that hits one is taken as no match and
 * logged (one line per WEIR_REGEX_LOG_EVERY ms per process, with a count
 * of those not logged).
 */
#ifndef WEIR_HTTP_REGEX_H
#define WEIR_HTTP_REGEX_H

#include <stddef.h>

/* pcre2_set_match_limit(): about 1 ms of backtracking with the
 * interpreter, a fraction of that with JIT; the patterns routes and
 * server names use in practice need tens. */
#define WEIR_REGEX_MATCH_LIMIT  100000
/* pcre2_set_depth_limit() (the interpreter's nesting of backtracking
 * points; JIT ignores it): enough for a group repeated once per segment
 * of the longest path. */
#define WEIR_REGEX_DEPTH_LIMIT  10000
#define WEIR_REGEX_LOG_EVERY    10000

/* Does the compiled pattern code (a pcre2_code *) match s[0..len)? 1 or
 * 0; 0 also when a limit was hit or PCRE2 failed, which is logged naming
 * the limit, where the pattern is written ("[route api] match",
 * "[server www] server_name": section, name, key) and the pattern. */
int weir_regex_match(const void *code, const char *section,
    const char *name, const char *key, const char *pattern, const char *s,
    size_t len);

/* How many matches hit a limit in this process so far (tests, stats). */
unsigned long weir_regex_limit_hits(void);

#endif /* WEIR_HTTP_REGEX_H */
