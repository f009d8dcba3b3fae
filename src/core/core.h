/*
 * weir — shared return codes and small helpers every module may use.
 * This is not an umbrella header: it includes only the C library basics
 * needed by the definitions below.
 */
#ifndef WEIR_CORE_H
#define WEIR_CORE_H

#include <stddef.h>
#include <stdint.h>

#define WEIR_VERSION "0.1.0"

/* One return-code vocabulary for all of weir (DESIGN §1). */
#define WEIR_OK        0
#define WEIR_ERROR    -1
#define WEIR_AGAIN    -2   /* would block / incomplete input */
#define WEIR_BUSY     -3
#define WEIR_DONE     -4
#define WEIR_DECLINED -5

typedef int64_t weir_msec_t;

#define weir_min(a, b) ((a) < (b) ? (a) : (b))
#define weir_max(a, b) ((a) > (b) ? (a) : (b))
#define weir_nelems(a) (sizeof(a) / sizeof((a)[0]))
#define weir_align(n, a) (((n) + ((a) - 1)) & ~((size_t) (a) - 1))

#if defined(__GNUC__)
#define WEIR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define WEIR_UNUSED __attribute__((unused))
#else
#define WEIR_PRINTF(f, a)
#define WEIR_UNUSED
#endif

#endif /* WEIR_CORE_H */
