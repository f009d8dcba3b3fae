#include "weir_config.h"
#include "http/rate.h"

#include <stddef.h>

void
weir_http_rate_wait(weir_http_rate_t *rt, weir_msec_t now)
{
    if (!rt->waiting) {
        rt->waiting = 1;
        rt->wait_start = now;
    }
}

int
weir_http_rate_moved(weir_http_rate_t *rt, uint64_t n, weir_msec_t now,
    uint64_t min_rate, weir_msec_t window, uint64_t *measured)
{
    uint64_t rate;

    if (rt->waiting) {
        rt->waiting = 0;
        if (now > rt->wait_start) {
            rt->waited += now - rt->wait_start;
        }
    }
    rt->bytes += n;
    if (min_rate == 0 || window <= 0 || rt->waited < window) {
        return 0;
    }
    /* bytes per second of waiting; bytes * 1000 cannot overflow for any
     * body a window can carry */
    rate = rt->bytes * 1000 / (uint64_t) rt->waited;
    if (measured) {
        *measured = rate;
    }
    rt->waited = 0;
    rt->bytes = 0;
    return rate < min_rate;
}
