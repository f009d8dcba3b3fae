#include "weir_config.h"
#include "core/random.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint64_t state[2];

static void
seed(void)
{
    struct timespec ts;
    FILE           *f = fopen("/dev/urandom", "re");

    if (f == NULL || fread(state, sizeof(state), 1, f) != 1) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state[0] = (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL;
        state[1] = ((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) ts.tv_sec;
    }
    if (f) {
        fclose(f);
    }
    if (state[0] == 0 && state[1] == 0) {
        state[1] = 1;     /* the one state xorshift never leaves */
    }
}

uint64_t
weir_random(void)
{
    uint64_t s1, s0;

    if (state[0] == 0 && state[1] == 0) {
        seed();
    }
    s1 = state[0];
    s0 = state[1];
    state[0] = s0;
    s1 ^= s1 << 23;
    state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return state[1] + s0;
}

void
weir_random_reseed(void)
{
    state[0] = 0;
    state[1] = 0;
}
