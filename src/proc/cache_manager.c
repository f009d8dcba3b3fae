#include "weir_config.h"
#include "proc/cache_manager.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/log.h"
#include "core/random.h"
#include "core/stats.h"
#include "core/wtime.h"
#include "event/loop.h"
#include "proc/cache_manager-t.h"
#include "proc/proctitle.h"
#include "proc/worker.h"

#define QUICK_DEATH_MS  2000
/* A manager that keeps dying at once is restarted anyway (the caches
 * would grow without bound otherwise), but its replacement waits this
 * long before it starts working: no crash loop, and no master timer. */
#define RESTART_DELAY   2000
#define OLD_MAX         64      /* replaced ones exit within ms of SIGTERM */

#define TICK_MS          1000
#define SWEEP_MS         60000  /* temp files no fill owns any more */
#define LOG_INTERVAL_MS  60000  /* one line per kind of error and cache */
/* Eviction: victims are taken from the index 256 at a time, at most 16
 * rounds per cache and tick (4,096 unlink()s a second, enough to follow
 * any fill rate a cache directory can take, short enough that the loop
 * stays responsive). */
#define VICTIMS          256
#define VICTIM_ROUNDS    16
/* The loader reads at most this many directory entries, or for this
 * long, per loop pass, then pauses, so that the ticks and signals are
 * never held up by a cache of a million files. */
#define LOADER_FILES     256
#define LOADER_BUDGET_MS 50
#define LOADER_PAUSE_MS  5

static const weir_config_t       *mcf;
static const weir_listen_group_t *mgroup;
static weir_shm_t                *mshm;
static pid_t                      mpid;
static weir_msec_t                mstarted, mdelay;
static int                        quick_deaths, stopping;
static pid_t                      old[OLD_MAX];

/* the process */
static weir_cmgr_cache_t         *caches;
static size_t                     ncaches;
static weir_event_t               tick_ev, load_ev;
static weir_msec_t                next_sweep;
static volatile sig_atomic_t      sig_stop, sig_reopen;

static void spawn(weir_msec_t delay);
static void run(void) __attribute__((noreturn));
static void on_signal(int signo);
static int setup_caches(void);
static void tick_handler(weir_event_t *ev);
static void load_handler(weir_event_t *ev);
static void check_dir(weir_cmgr_cache_t *mc);
static void evict(weir_cmgr_cache_t *mc, int64_t now);
static int remove_victim(weir_cmgr_cache_t *mc, const weir_cache_entry_t *v,
    int64_t now);

pid_t
weir_cache_manager_pid(void)
{
    return mpid;
}

static void
spawn(weir_msec_t delay)
{
    pid_t pid;

    pid = fork();
    if (pid < 0) {
        /* Nothing to retry it with but the next reap or reload: the
         * workers serve meanwhile, the caches only stop shrinking. */
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "fork() of the cache manager failed");
        return;
    }
    if (pid == 0) {
        mdelay = delay;
        run();
    }
    mpid = pid;
    mstarted = weir_current_msec;
    mdelay = delay;
    weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                   "started cache manager process %d", (int) pid);
}

void
weir_cache_manager_start(const weir_config_t *cf,
    const weir_listen_group_t *group, weir_shm_t *shm)
{
    size_t i;

    if (mpid > 0) {
        /* The old one stops; its exit is reaped as any other. */
        kill(mpid, SIGTERM);
        for (i = 0; i < OLD_MAX && old[i]; i++) {
            /* find a free entry */
        }
        if (i < OLD_MAX) {
            old[i] = mpid;
        }
        mpid = 0;
    }
    mcf = cf;
    mgroup = group;
    mshm = shm;
    stopping = 0;
    quick_deaths = 0;
    if (cf->ncaches > 0) {
        spawn(0);
    }
}

void
weir_cache_manager_stop(void)
{
    stopping = 1;
    if (mpid > 0) {
        kill(mpid, SIGTERM);
    }
}

int
weir_cache_manager_reaped(pid_t pid, int status)
{
    size_t i;

    for (i = 0; i < OLD_MAX; i++) {
        if (pid > 0 && old[i] == pid) {
            old[i] = 0;
            return 1;
        }
    }
    if (pid != mpid || pid <= 0) {
        return 0;
    }
    mpid = 0;
    if (stopping) {
        return 1;
    }
    weir_worker_helper_exited("cache manager", pid, status);
    quick_deaths = weir_current_msec - mstarted - mdelay < QUICK_DEATH_MS
                   ? quick_deaths + 1 : 0;
    spawn(quick_deaths <= 1 ? 0 : RESTART_DELAY);
    return 1;
}

void
weir_cache_manager_signal(int signo)
{
    if (mpid > 0) {
        kill(mpid, signo);
    }
}

/* ---- the cache manager process ---------------------------------------- */

int64_t
weir_cmgr_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
weir_cmgr_may_log(weir_cmgr_cache_t *mc, enum weir_cmgr_err kind)
{
    if (mc->logged[kind] != 0
        && weir_current_msec - mc->logged[kind] < LOG_INTERVAL_MS) {
        mc->unlogged[kind]++;
        return 0;
    }
    if (mc->unlogged[kind]) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "[cache %s]: %llu more errors of the kind below in "
                       "the last %d s", mc->k->name,
                       (unsigned long long) mc->unlogged[kind],
                       LOG_INTERVAL_MS / 1000);
    }
    mc->logged[kind] = weir_current_msec;
    mc->unlogged[kind] = 0;
    return 1;
}

static void
on_signal(int signo)
{
    if (signo == SIGUSR1) {
        sig_reopen = 1;
    } else {
        sig_stop = 1;
    }
}


static void
run(void)
{
    sigset_t wait_mask;
    size_t   i;

    weir_worker_helper_start("weir-cache-mgr", "weir: cache manager process",
                             mgroup, &mcf->main, on_signal);
    sigemptyset(&wait_mask);
    if (weir_loop_init() != WEIR_OK || setup_caches() != WEIR_OK) {
        _exit(2);
    }
    weir_loop_set_sigmask(&wait_mask);
    tick_ev.handler = tick_handler;
    load_ev.handler = load_handler;
    /* A replacement of a manager that died at once waits: see
     * RESTART_DELAY. Then the loader begins, and the first tick. */
    weir_timer_add(&tick_ev, mdelay);
    weir_timer_add(&load_ev, mdelay);
    next_sweep = weir_current_msec + mdelay + SWEEP_MS;
    while (!sig_stop) {
        if (weir_loop_run_once(-1) != WEIR_OK) {
            _exit(2);
        }
        if (sig_reopen) {
            sig_reopen = 0;
            if (weir_errlog.file->path
                && weir_log_file_reopen(weir_errlog.file) < 0) {
                weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                               "cannot reopen error log \"%s\"",
                               weir_errlog.file->path);
            }
        }
    }
    for (i = 0; i < ncaches; i++) {
        weir_cache_loader_abort(&caches[i]);
    }
    _exit(0);
}

/* One record per [cache] whose index the master attached. Objects are
 * loaded only into an index not loaded yet: at a fresh start, for a cache
 * a reload added or moved, or when a manager died mid-load. Otherwise the
 * index already knows the files, and the pass only clears <path>/tmp. */
static int
setup_caches(void)
{
    weir_master_stats_t *ms = weir_master_stats(mshm);
    weir_cache_index_stats_t st;
    size_t               i;

    caches = calloc(mcf->ncaches, sizeof(*caches));
    if (caches == NULL) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0, "out of memory");
        return WEIR_ERROR;
    }
    for (i = 0; i < mcf->ncaches; i++) {
        weir_cmgr_cache_t *mc = &caches[ncaches];

        mc->k = mcf->caches[i];
        mc->idx = weir_cache_index_find(mshm, mc->k->name);
        if (mc->idx == NULL) {
            weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                           "[cache %s]: no index in shared memory: not "
                           "managed", mc->k->name);
            continue;
        }
        mc->weir_started = ms ? (int64_t) atomic_load(&ms->started) : 0;
        mc->walk.depth = -1;
        weir_cache_index_stats(mc->idx, &st);
        mc->walk.tree = !st.loaded;     /* read by load_handler */
        ncaches++;
    }
    return WEIR_OK;
}

/* The loader's turn: the first cache with a pass under way takes a
 * bounded step; the handler comes back after a pause while any has work
 * left. The first call begins every cache's pass. */
static void
load_handler(weir_event_t *ev)
{
    static int  begun;
    size_t      i;
    weir_msec_t until;

    if (!begun) {
        begun = 1;
        for (i = 0; i < ncaches; i++) {
            weir_cache_loader_begin(&caches[i], caches[i].walk.tree);
        }
    }
    until = weir_current_msec + LOADER_BUDGET_MS;
    for (i = 0; i < ncaches; i++) {
        if (caches[i].walk.active) {
            if (weir_cache_loader_step(&caches[i], LOADER_FILES, until)
                == WEIR_AGAIN) {
                weir_timer_add(ev, LOADER_PAUSE_MS);
                return;
            }
        }
    }
    for (i = 0; i < ncaches; i++) {
        if (caches[i].walk.active) {
            weir_timer_add(ev, LOADER_PAUSE_MS);
            return;
        }
    }
}

static void
tick_handler(weir_event_t *ev)
{
    int64_t now = weir_cmgr_now();
    size_t  i;
    int     sweep = weir_current_msec >= next_sweep;

    for (i = 0; i < ncaches; i++) {
        check_dir(&caches[i]);
        /* The index forgets what it picks: not while the files cannot
         * go, or it would lose track of them. */
        if (!caches[i].dir_bad) {
            evict(&caches[i], now);
        }
        if (sweep) {
            weir_cache_loader_begin(&caches[i], 0);
        }
    }
    if (sweep) {
        next_sweep = weir_current_msec + SWEEP_MS;
        if (load_ev.heap_slot == 0) {
            weir_timer_add(&load_ev, 0);
        }
    }
    weir_timer_add(ev, TICK_MS);
}

/*
 * <path> must stay a directory the workers can write, or the cache does
 * not work (its requests go uncached). Said once per interval while it
 * lasts, and once when it is over. A missing one is made again when this
 * process may (the master made it, maybe as root, at start).
 */
static void
check_dir(weir_cmgr_cache_t *mc)
{
    char        tmp[WEIR_CACHE_PATH_MAX];
    struct stat st;
    int         e = 0;

    snprintf(tmp, sizeof(tmp), "%s/tmp", mc->k->path);
    if (stat(mc->k->path, &st) < 0 && errno == ENOENT) {
        if (mkdir(mc->k->path, 0700) == 0 && mkdir(tmp, 0700) == 0) {
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "[cache %s]: directory \"%s\" was gone: made "
                           "again (empty)", mc->k->name, mc->k->path);
        }
    }
    if (access(mc->k->path, W_OK | X_OK) < 0
        || access(tmp, W_OK | X_OK) < 0) {
        e = errno;
    }
    if (e == 0) {
        if (mc->dir_bad) {
            mc->dir_bad = 0;
            weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                           "[cache %s]: directory \"%s\" is usable again",
                           mc->k->name, mc->k->path);
        }
        return;
    }
    if (!mc->dir_bad
        || weir_current_msec - mc->logged[WEIR_CMGR_ERR_DIR]
               >= LOG_INTERVAL_MS) {
        mc->dir_bad = 1;
        mc->logged[WEIR_CMGR_ERR_DIR] = weir_current_msec;
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, e,
                       "[cache %s]: nothing is stored or evicted while "
                       "directory \"%s\" (or its tmp) cannot be written",
                       mc->k->name, mc->k->path);
    }
}

/* Objects unused for `inactive`, then the least recently used while the
 * cache is over max_size: the index picks and forgets them, the files
 * go here. */
static void
evict(weir_cmgr_cache_t *mc, int64_t now)
{
    weir_cache_entry_t v[VICTIMS];
    size_t             n, i, round;
    uint64_t           inactive = 0, lru = 0, bytes = 0;
    weir_cache_index_stats_t st;

    /* A victims() call scans every slot (a million and a half for the
     * largest index): only when the cache is over max_size, and for the
     * unused objects every tenth of `inactive` (1 s to 60 s), not every
     * tick. */
    weir_cache_index_stats(mc->idx, &st);
    if (st.bytes <= (uint64_t) mc->k->max_size
        && (now < mc->next_inactive || !st.loaded)) {
        return;     /* (the first scan waits for the loader's index) */
    }
    if (now >= mc->next_inactive && st.loaded) {
        mc->next_inactive = now + weir_max(weir_min(mc->k->inactive / 10,
                                                    (int64_t) 60000),
                                           (int64_t) 1000);
    }
    for (round = 0; round < VICTIM_ROUNDS; round++) {
        n = weir_cache_index_victims(mc->idx, now, mc->k->inactive,
                                     (uint64_t) mc->k->max_size, v, VICTIMS);
        for (i = 0; i < n; i++) {
            if (remove_victim(mc, &v[i], now) != WEIR_OK) {
                continue;
            }
            if (v[i].last_use <= now - mc->k->inactive) {
                inactive++;
            } else {
                lru++;
            }
            bytes += v[i].size;
        }
        if (n < VICTIMS) {
            break;
        }
    }
    if (inactive + lru > 0) {
        weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                       "[cache %s]: evicted %llu objects (%llu inactive, "
                       "%llu least recently used over max_size), %llu bytes",
                       mc->k->name, (unsigned long long) (inactive + lru),
                       (unsigned long long) inactive,
                       (unsigned long long) lru, (unsigned long long) bytes);
    }
}

/* Remove a victim's file. WEIR_OK when it is gone (or was already). */
static int
remove_victim(weir_cmgr_cache_t *mc, const weir_cache_entry_t *v,
    int64_t now)
{
    weir_cache_entry_t e;
    char               path[WEIR_CACHE_PATH_MAX];

    if (weir_cache_file_path(mc->k, v->digest, path, sizeof(path)) == 0) {
        return WEIR_ERROR;
    }
    /* A worker may have stored the key again since the index let it go:
     * that file is new and stays. */
    if (weir_cache_index_lookup(mc->idx, v->digest, now, 0, &e) != 0) {
        return WEIR_ERROR;
    }
    if (unlink(path) == 0 || errno == ENOENT) {
        return WEIR_OK;
    }
    /* The index forgot it already; the file stays until the next load
     * finds it (read-only or vanished directory: said once a minute). */
    if (weir_cmgr_may_log(mc, WEIR_CMGR_ERR_UNLINK)) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, errno,
                       "[cache %s]: cannot remove evicted \"%s\"",
                       mc->k->name, path);
    }
    return WEIR_ERROR;
}
