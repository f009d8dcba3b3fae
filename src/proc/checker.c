#include "weir_config.h"
#include "proc/checker.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/log.h"
#include "core/random.h"
#include "core/wtime.h"
#include "event/loop.h"
#include "proc/proctitle.h"
#include "proc/worker.h"
#include "upstream/health.h"

#define QUICK_DEATH_MS  2000
#define RESTART_DELAY   2000

static const weir_config_t       *ccf;     /* the configuration checked */
static uint64_t                   cgen;    /* and its generation */
/* Checkers told to stop (a reload replaced them) and not reaped yet:
 * until they are, their generation's shared records must stay. */
#define OLD_MAX 64     /* they exit within milliseconds of SIGTERM */
static struct { pid_t pid; uint64_t gen; } old[OLD_MAX];
static const weir_listen_group_t *cgroup;
static pid_t                      cpid;
static weir_msec_t                cstarted, restart_at;
static int                        quick_deaths, stopping;

static volatile sig_atomic_t      sig_stop, sig_reopen;

static void run(void) __attribute__((noreturn));

pid_t
weir_checker_pid(void)
{
    return cpid;
}

static void
spawn(void)
{
    pid_t pid;

    restart_at = 0;
    pid = fork();
    if (pid < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "fork() of the health checker failed");
        restart_at = weir_current_msec + RESTART_DELAY;
        return;
    }
    if (pid == 0) {
        run();
    }
    cpid = pid;
    cstarted = weir_current_msec;
    weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                   "started health checker process %d", (int) pid);
}

void
weir_checker_start(const weir_config_t *cf, const weir_listen_group_t *group)
{
    size_t i;

    if (cpid > 0) {
        /* The old one stops; its exit is reaped as any other. */
        kill(cpid, SIGTERM);
        for (i = 0; i < OLD_MAX && old[i].pid; i++) {
            /* find a free entry */
        }
        if (i < OLD_MAX) {
            old[i].pid = cpid;
            old[i].gen = cgen;
        }
        cpid = 0;
    }
    ccf = cf;
    cgen = cf->generation;
    cgroup = group;
    stopping = 0;
    quick_deaths = 0;
    restart_at = 0;
    if (weir_health_wanted(cf->upstreams, cf->nupstreams)) {
        spawn();
    }
}

void
weir_checker_stop(void)
{
    stopping = 1;
    restart_at = 0;
    if (cpid > 0) {
        kill(cpid, SIGTERM);
    }
}

int
weir_checker_reaped(pid_t pid, int status)
{
    size_t i;

    for (i = 0; i < OLD_MAX; i++) {
        if (pid > 0 && old[i].pid == pid) {
            old[i].pid = 0;
            return 1;
        }
    }
    if (pid != cpid || pid <= 0) {
        return 0;
    }
    cpid = 0;
    if (stopping) {
        return 1;
    }
    weir_worker_helper_exited("health checker", pid, status);
    quick_deaths = weir_current_msec - cstarted < QUICK_DEATH_MS
                   ? quick_deaths + 1 : 0;
    if (quick_deaths <= 1) {
        spawn();
    } else {
        /* Dying at once again and again: do not spin. The peers keep
         * their last verdicts meanwhile. */
        restart_at = weir_current_msec + RESTART_DELAY;
    }
    return 1;
}

void
weir_checker_signal(int signo)
{
    if (cpid > 0) {
        kill(cpid, signo);
    }
}

uint64_t
weir_checker_oldest_generation(void)
{
    uint64_t oldest = cpid > 0 ? cgen : UINT64_MAX;
    size_t   i;

    for (i = 0; i < OLD_MAX; i++) {
        if (old[i].pid && old[i].gen < oldest) {
            oldest = old[i].gen;
        }
    }
    return oldest;
}

weir_msec_t
weir_checker_due(void)
{
    return restart_at;
}

void
weir_checker_tick(void)
{
    if (restart_at && restart_at <= weir_current_msec && !stopping
        && cpid == 0) {
        spawn();
    }
}

/* ---- the checker process -------------------------------------------------- */

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
    sigset_t         wait_mask;

    weir_worker_helper_start("weir-checker", "weir: health checker process",
                             cgroup, &ccf->main, on_signal);
    sigemptyset(&wait_mask);
    if (weir_loop_init() != WEIR_OK
        || weir_health_start(ccf->upstreams, ccf->nupstreams) != WEIR_OK) {
        _exit(2);
    }
    weir_loop_set_sigmask(&wait_mask);
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
    _exit(0);
}
