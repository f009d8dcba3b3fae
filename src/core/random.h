/*
 * A fast per-process pseudo-random generator (xorshift128+) for jitter,
 * balancing choices and request ids: not for secrets. Seeded from the
 * kernel on first use; a forked child must call weir_random_reseed() so
 * workers do not share one sequence.
 */
#ifndef WEIR_CORE_RANDOM_H
#define WEIR_CORE_RANDOM_H

#include <stdint.h>

uint64_t weir_random(void);

/* A value in [0, n) (0 when n is 0); the tiny modulo bias does not
 * matter here. */
static inline uint64_t
weir_random_below(uint64_t n)
{
    return n ? weir_random() % n : 0;
}

/* Forget the state: the next call seeds again (call after fork). */
void weir_random_reseed(void);

#endif /* WEIR_CORE_RANDOM_H */
