#include "weir_config.h"
#include "core/stats.h"

const weir_msec_t weir_hist_bounds_ms[WEIR_HIST_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static weir_proc_stats_t private_self;
weir_proc_stats_t       *weir_proc_self = &private_self;
int                      weir_proc_index;

int
weir_hist_bucket(weir_msec_t ms)
{
    int i;

    for (i = 0; i < WEIR_HIST_BUCKETS - 1; i++) {
        if (ms <= weir_hist_bounds_ms[i]) {
            return i;
        }
    }
    return WEIR_HIST_BUCKETS - 1;
}

weir_master_stats_t *
weir_master_stats(weir_shm_t *shm)
{
    return shm ? weir_shm_zone(shm, "weir:process",
                               sizeof(weir_master_stats_t), NULL)
               : NULL;
}

weir_proc_stats_t *
weir_proc_stats(weir_shm_t *shm)
{
    return shm ? weir_shm_zone(shm, "weir:procs",
                               sizeof(weir_proc_stats_t) * WEIR_PROC_MAX,
                               NULL)
               : NULL;
}

void
weir_stats_attach(weir_shm_t *shm, int proc)
{
    weir_proc_stats_t *all = weir_proc_stats(shm);

    if (proc >= 0 && proc < WEIR_PROC_MAX) {
        weir_proc_index = proc;
        if (all) {
            weir_proc_self = &all[proc];
        }
    }
}
