#include "weir_config.h"
#include "core/stats.h"

#include <time.h>

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

void
weir_proc_stats_set(weir_proc_stats_t *p, int pid, int slot,
    uint64_t generation)
{
    /* pid last on the way in, first on the way out: a reader that sees a
     * pid sees the rest of that process's record. */
    atomic_store(&p->pid, 0);
    atomic_store(&p->accepted_total, 0);
    atomic_store(&p->requests_total, 0);
    atomic_store(&p->connections, 0);
    atomic_store(&p->requests_active, 0);
    atomic_store(&p->draining, 0);
    if (pid > 0) {
        atomic_store(&p->slot, slot);
        atomic_store(&p->generation, generation);
        atomic_store(&p->started, (int64_t) time(NULL));
        atomic_store(&p->pid, pid);
    }
}
