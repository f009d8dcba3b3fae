#include "weir_config.h"
#include "proc/master.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/log.h"
#include "core/shm.h"
#include "core/stats.h"
#include "upstream/peer_state.h"
#include "core/wtime.h"
#include "http/http_stats.h"
#include "http/limit.h"
#include "event/listen.h"
#include "event/tls.h"
#include "proc/preflight.h"
#include "proc/proctitle.h"
#include "proc/startup.h"
#include "proc/cache_manager.h"
#include "proc/caches.h"
#include "proc/checker.h"
#include "proc/listeners.h"
#include "proc/logfiles.h"
#include "proc/pidfile.h"
#include "proc/reresolve.h"
#include "proc/upgrade.h"
#include "proc/worker_table.h"

#define MAX_WORKERS      WEIR_WORKERS_MAX
#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   5000
#define QUICK_DEATH_MS   2000   /* a worker dying sooner is crash-looping */
typedef struct slot_state_s {
    int          quick_deaths;  /* consecutive */
    weir_msec_t  respawn_at;    /* 0: none pending */
} slot_state_t;

static volatile sig_atomic_t sig_child, sig_reload, sig_quit, sig_terminate,
                             sig_reopen, sig_winch, sig_alarm, sig_upgrade;

static weir_config_t       *conf;
static weir_listen_group_t  group;
static slot_state_t         slots[MAX_WORKERS];
static uint64_t             generation = 1;     /* the serving one */
static uint64_t             generations = 1;    /* the last one started */
/* A reload's new logs until it commits (workers keep pointing here). */
static weir_log_file_t      pending_el = { -1, NULL };
static weir_log_file_t      pending_al = { -1, NULL };
static uint64_t             restarts;
static weir_log_file_t      errlog_file = { -1, NULL };
static weir_log_file_t      access_file = { -1, NULL };
static int                  workers_stopped;   /* after WINCH */
static weir_msec_t          kill_at;   /* fast stop: SIGKILL what is left */
static int                  dns_reload;  /* names resolve differently now */

static weir_shm_t          *shm;
static weir_master_stats_t *stats;     /* core/stats.h */
static weir_proc_stats_t   *procs;

static void signal_handler(int signo);
static int setup_signals(void);
static int sync_listeners(const weir_config_t *cf, int pending, char *err,
    size_t errlen);
static void move_pid(weir_config_t *ncf);
static pid_t spawn(int slot);
static int start_first(const weir_config_t *cf);
static void reap(void);
static void schedule_respawns(void);
static void arm_alarm(void);
static void reload(void);
static void workers_back(void);
static weir_config_t *reload_prepare(void);
static void reload_commit(weir_config_t *ncf);
static void reopen(void);
static void chown_logs(void);

static void
signal_handler(int signo)
{
    switch (signo) {
    case SIGCHLD:  sig_child = 1; break;
    case SIGHUP:   sig_reload = 1; break;
    case SIGQUIT:  sig_quit = 1; break;
    case SIGTERM:
    case SIGINT:   sig_terminate = 1; break;
    case SIGUSR1:  sig_reopen = 1; break;
    case SIGWINCH: sig_winch = 1; break;
    case SIGALRM:  sig_alarm = 1; break;
    case SIGUSR2:  sig_upgrade = 1; break;
    default: break;
    }
}

static int
setup_signals(void)
{
    struct sigaction sa;
    sigset_t         set;
    int sigs[] = { SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1,
                   SIGWINCH, SIGALRM, SIGUSR2 };
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = signal_handler;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&set);
    for (i = 0; i < weir_nelems(sigs); i++) {
        if (sigaction(sigs[i], &sa, NULL) < 0) {
            return WEIR_ERROR;
        }
        sigaddset(&set, sigs[i]);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* Blocked except in sigsuspend(): the loop never misses one. */
    return sigprocmask(SIG_BLOCK, &set, NULL) == 0 ? WEIR_OK : WEIR_ERROR;
}

/* The group for cf's listen addresses; pending: in two steps (see
 * weir_listen_group_prepare), for a reload. */
static int
sync_listeners(const weir_config_t *cf, int pending, char *err, size_t errlen)
{
    weir_listen_want_t want[256];
    size_t             n;

    n = weir_listen_wants(cf, 0, want, weir_nelems(want));
    if (pending) {
        return weir_listen_group_prepare(&group, want, n,
                                         (int) cf->main.workers, err, errlen);
    }
    return weir_listen_group_sync(&group, want, n, (int) cf->main.workers,
                                  err, errlen);
}

/*
 * A reload that changes `pid` moves the pid file: written at the new path,
 * then removed from the old one, so that the file always names a running
 * master and `weir -s` with the new file finds it. When the new path
 * cannot be written the old one stays in use (and in ncf, so that exit
 * removes the right file).
 */
static void
move_pid(weir_config_t *ncf)
{
    const char *old = conf->main.pid;

    if (ncf->main.pid == NULL || old == NULL) {
        /* No pid file before or after: nothing to move. */
        if (old && ncf->main.pid == NULL) {
            weir_pidfile_remove(old);
        } else if (ncf->main.pid && weir_pidfile_write(ncf->main.pid) != WEIR_OK) {
            ncf->main.pid = NULL;
        }
        return;
    }
    if (strcmp(old, ncf->main.pid) == 0) {
        return;
    }
    if (weir_pidfile_write(ncf->main.pid) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "pid file stays \"%s\"", old);
        ncf->main.pid = weir_pstrndup(ncf->pool, old, strlen(old));
        return;
    }
    weir_pidfile_remove(old);
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "pid file moved from \"%s\" to \"%s\"", old,
                   ncf->main.pid);
}

/* A replacement worker of the serving generation. */
static pid_t
spawn(int slot)
{
    weir_wtable_gen_t g;

    slots[slot].respawn_at = 0;
    g.cf = conf;
    g.generation = generation;
    g.errlog = NULL;
    g.access = access_file.fd >= 0 ? &access_file : NULL;
    g.ready_fd = -1;
    g.ready_rfd = -1;
    return weir_wtable_spawn(&g, slot);
}

static void
reap(void)
{
    pid_t       pid;
    int                  status, slot, proc, rc;
    weir_wtable_entry_t *w;
    weir_msec_t          lived;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (weir_upgrade_reaped(pid, status)) {
            continue;                       /* the new binary's master */
        }
        if (weir_reresolve_reaped(pid, status, &rc)) {
            dns_reload |= rc;
            continue;
        }
        weir_caches_reaped(pid, status);    /* its fills; the manager */
        w = weir_wtable_find(pid, &proc);
        if (w == NULL) {
            if (weir_checker_reaped(pid, status)) {
                weir_wtable_update();    /* its records may go now */
            }
            continue;
        }
        w->pid = 0;
        slot = w->slot;
        if (stats && atomic_load(&stats->stopping)) {
            /* Its admin socket would queue connections nobody accepts. */
            weir_listen_group_close_owner(&group, slot);
        }
        /* Its requests in flight died with it. */
        weir_peer_state_proc_gone(shm, proc);
        weir_http_limit_proc_gone(proc);
        weir_proc_stats_set(&procs[proc], 0, slot, 0);
        weir_wtable_update();
        if (w->exiting && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                           "worker process %d exited", (int) pid);
            continue;
        }
        if (WIFSIGNALED(status)) {
            weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                           "worker process %d exited on signal %d (slot %d, "
                           "%s)", (int) pid, WTERMSIG(status), slot,
                           WCOREDUMP(status) ? "core dumped" : "no core dump");
        } else {
            weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                           "worker process %d exited with code %d (slot %d)",
                           (int) pid, WEXITSTATUS(status), slot);
        }
        if (w->exiting || w->generation != generation || sig_quit
            || sig_terminate || workers_stopped) {
            continue;
        }
        lived = weir_current_msec - w->started;
        if (lived < QUICK_DEATH_MS) {
            slots[slot].quick_deaths++;
        } else {
            slots[slot].quick_deaths = 0;
        }
        restarts++;
        weir_shm_counter_add(&stats->workers_restarts_total, 1);
        if (slots[slot].quick_deaths <= 1) {
            /* The first death is replaced at once. */
            weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                           "restarting worker slot %d (restart #%llu)", slot,
                           (unsigned long long) restarts);
            spawn(slot);
        } else {
            weir_msec_t d = BACKOFF_MIN_MS;
            int         k;
            for (k = 2; k < slots[slot].quick_deaths && d < BACKOFF_MAX_MS;
                 k++) {
                d *= 2;
            }
            d = weir_min(d, BACKOFF_MAX_MS);
            slots[slot].respawn_at = weir_current_msec + d;
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "worker slot %d is crash-looping (%d quick exits): "
                           "restart #%llu in %lld ms", slot,
                           slots[slot].quick_deaths,
                           (unsigned long long) restarts, (long long) d);
        }
    }
}

static void
arm_alarm(void)
{
    struct itimerval it;
    weir_msec_t      next = 0;
    int              s;

    for (s = 0; s < MAX_WORKERS; s++) {
        if (slots[s].respawn_at && (next == 0 || slots[s].respawn_at < next)) {
            next = slots[s].respawn_at;
        }
    }
    if (weir_checker_due() && (next == 0 || weir_checker_due() < next)) {
        next = weir_checker_due();
    }
    if (weir_reresolve_due() && (next == 0 || weir_reresolve_due() < next)) {
        next = weir_reresolve_due();
    }
    /* A fast stop's deadline shares the one timer: every re-arm (after
     * each SIGCHLD) must keep it. */
    if (kill_at && (next == 0 || kill_at < next)) {
        next = kill_at;
    }
    memset(&it, 0, sizeof(it));
    if (next) {
        weir_msec_t d = weir_max(next - weir_current_msec, 1);
        it.it_value.tv_sec = d / 1000;
        it.it_value.tv_usec = (d % 1000) * 1000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

static void
schedule_respawns(void)
{
    int s;

    for (s = 0; s < MAX_WORKERS; s++) {
        if (slots[s].respawn_at && slots[s].respawn_at <= weir_current_msec) {
            slots[s].respawn_at = 0;
            if (s < (int) conf->main.workers && !workers_stopped) {
                spawn(s);
            }
        }
    }
    weir_checker_tick();
    weir_reresolve_tick(conf);
    arm_alarm();
}

/*
 * SIGHUP. The new generation starts on the new configuration before
 * anything is committed: only when all its workers accept does the master
 * switch logs and configuration and tell the old generation to finish.
 * A generation that cannot start is stopped and the old one keeps
 * serving ("reload failed: ...").
 */
static void
reload(void)
{
    weir_config_t *ncf;
    char           why[1024];
    uint64_t       ngen;

    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "reloading configuration \"%s\"", conf->file);
    ncf = reload_prepare();
    if (ncf == NULL) {
        weir_shm_counter_add(&stats->reloads_failed_total, 1);
        return;
    }
    ngen = ++generations;
    ncf->generation = ngen;
    weir_logfiles_chown(ncf, &pending_el, &pending_al);
    if (weir_wtable_start(ncf, ngen, pending_el.fd >= 0 ? &pending_el : NULL,
                         pending_al.fd >= 0 ? &pending_al : NULL, why,
                         sizeof(why)) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "reload failed: the workers of generation %llu could "
                       "not start: %s; generation %llu keeps serving",
                       (unsigned long long) ngen, why,
                       (unsigned long long) generation);
        weir_wtable_stop(ngen, SIGQUIT);
        weir_logfiles_close(&pending_el);
        weir_logfiles_close(&pending_al);
        /* Back to the running generation's sockets, exactly: a socket
         * only the failed generation accepted on must not stay open. */
        weir_listen_group_abort(&group);
        weir_config_free(ncf);
        weir_shm_counter_add(&stats->reloads_failed_total, 1);
        return;
    }
    reload_commit(ncf);
}

/*
 * SIGHUP while a new binary's master runs: the file may already be written
 * for the new binary, so it is not read; the workers a WINCH stopped start
 * again on the running configuration (a roll-back: QUIT the new master
 * next, and this one takes the pid file back).
 */
static void
workers_back(void)
{
    int s;

    if (!workers_stopped) {
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "HUP during a binary upgrade: the workers run "
                       "already; the configuration is not re-read");
        return;
    }
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "HUP during a binary upgrade: starting the workers "
                   "again, on the running configuration");
    workers_stopped = 0;
    memset(slots, 0, sizeof(slots));
    for (s = 0; s < (int) conf->main.workers; s++) {
        spawn(s);
    }
    arm_alarm();
}

/* Load and check the file, open its logs (into pending_el/al) and its
 * sockets. The new configuration, or NULL after logging why. */
static weir_config_t *
reload_prepare(void)
{
    weir_config_errors_t errs = { NULL, 0, 0 };
    weir_config_t       *ncf;
    char                 err[512];
    size_t               i;

    ncf = weir_config_load(conf->file, conf->prefix, &errs);
    if (ncf && weir_master_check(ncf, err, sizeof(err)) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0, "reload failed: %s",
                       err);
        weir_config_free(ncf);
        weir_config_errors_free(&errs);
        return NULL;
    }
    if (ncf && weir_preflight(ncf, 0, &errs) != WEIR_OK) {
        weir_config_free(ncf);
        ncf = NULL;
    }
    if (ncf == NULL) {
        for (i = 0; i < errs.n; i++) {
            weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0, "reload failed: %s",
                           errs.lines[i]);
        }
        weir_config_errors_free(&errs);
        return NULL;
    }
    if ((size_t) ncf->main.shm_size != (size_t) conf->main.shm_size) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "shm_size changes take effect on restart only");
    }
    if (ncf->main.workers > MAX_WORKERS) {
        ncf->main.workers = MAX_WORKERS;
    }
    if (weir_logfiles_open(ncf, &pending_el, &pending_al) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "reload failed: cannot open the logs; keeping the "
                       "running configuration");
        weir_config_free(ncf);
        return NULL;
    }
    if (sync_listeners(ncf, 1, err, sizeof(err)) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0, "reload failed: %s",
                       err);
        weir_logfiles_close(&pending_el);
        weir_logfiles_close(&pending_al);
        weir_config_free(ncf);
        return NULL;
    }
    /* Peers that stay keep their shared state; new ones get a record. */
    if (weir_peer_state_attach(shm, ncf->upstreams, ncf->nupstreams,
                               generations + 1, err, sizeof(err)) != WEIR_OK
        || weir_http_stats_attach(shm, &ncf->http, err, sizeof(err))
           != WEIR_OK
        || weir_http_limit_attach(shm, &ncf->http, err, sizeof(err))
           != WEIR_OK
        || weir_caches_attach(shm, ncf, err, sizeof(err)) != WEIR_OK)
    {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0, "reload failed: %s",
                       err);
        weir_listen_group_abort(&group);
        weir_logfiles_close(&pending_el);
        weir_logfiles_close(&pending_al);
        weir_config_free(ncf);
        return NULL;
    }
    return ncf;
}

/* The new generation accepts: make its configuration and logs the
 * master's, and let the old generation finish. */
static void
reload_commit(weir_config_t *ncf)
{
    weir_listen_group_commit(&group);
    move_pid(ncf);
    if (pending_el.fd >= 0) {
        weir_logfiles_close(&errlog_file);
        errlog_file = pending_el;
        weir_errlog.file = &errlog_file;
    }
    weir_errlog.level = ncf->main.log_level;
    weir_logfiles_close(&access_file);
    access_file = pending_al;
    /* Ownership moved; the workers keep their own copies of these. */
    pending_el.fd = pending_al.fd = -1;
    pending_el.path = pending_al.path = NULL;
    generation = ncf->generation;
    weir_wtable_set_serving(generation);
    weir_shm_counter_add(&stats->reloads_total, 1);
    weir_shm_counter_set(&stats->config_generation, generation);
    weir_config_free(conf);
    conf = ncf;
    /* A new checker for the new file; the old one stops. */
    weir_checker_start(conf, &group);
    weir_reresolve_setup(conf);
    weir_cache_manager_start(conf, &group, shm);
    workers_stopped = 0;
    memset(slots, 0, sizeof(slots));
    arm_alarm();
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "reload: generation %llu started",
                   (unsigned long long) generation);
    weir_wtable_signal(SIGQUIT, generation);
}

/* Files are created by the master (maybe root); workers that reopen them
 * after a switch of user must be able to write. */
static void
chown_logs(void)
{
    if (conf) {
        weir_logfiles_chown(conf, &errlog_file, &access_file);
    }
}

static void
reopen(void)
{
    weir_logfiles_reopen(&errlog_file, &access_file);
    chown_logs();
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0, "reopening logs");
    weir_wtable_signal(SIGUSR1, 0);
    weir_checker_signal(SIGUSR1);
    weir_cache_manager_signal(SIGUSR1);
}

/* The first generation. A worker that cannot set up would fail the same
 * way in every replacement: rather than restart it forever while clients
 * wait, the start fails with its reason. */
static int
start_first(const weir_config_t *cf)
{
    char why[1024];

    if (weir_wtable_start(cf, generation,
                         NULL, access_file.fd >= 0 ? &access_file : NULL,
                         why, sizeof(why)) == WEIR_OK) {
        return WEIR_OK;
    }
    weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0,
                   "worker processes could not start: %s", why);
    weir_wtable_stop(generation, SIGTERM);
    weir_wtable_wait_all();
    return WEIR_ERROR;
}

int
weir_master_run(weir_config_t *cf)
{
    sigset_t      empty;
    struct rlimit rl;
    int           terminating = 0, quitting = 0, inherited;
    char          err[512];

    conf = cf;
    conf->generation = generation;
    if (conf->main.workers > MAX_WORKERS) {
        conf->main.workers = MAX_WORKERS;
    }
    weir_time_update();
    /* Which configuration a master runs is what an operator looks for in
     * ps; `weir -s` finds a master by it too (see find_master in main.c),
     * so the paths are the absolute ones. */
    weir_proctitle_set("weir-master", "weir: master process %s -p %s -c %s",
                       weir_proctitle_argv0(), cf->prefix, cf->file);

    /* Use the hard limit for descriptors: idle keep-alive connections are
     * cheap, running out of fds is not. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = cf->main.worker_rlimit_nofile > 0
                          ? (rlim_t) weir_min((rlim_t) cf->main.worker_rlimit_nofile,
                                              rl.rlim_max)
                          : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (cf->main.pid && weir_master_pid_read(cf->main.pid, err, sizeof(err))
        > 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0,
                       "another master is running (pid file \"%s\")",
                       cf->main.pid);
        return 1;
    }
    if (weir_logfiles_open(cf, &errlog_file, &access_file) != WEIR_OK) {
        return 1;
    }
    shm = weir_shm_create((size_t) cf->main.shm_size, err, sizeof(err));
    if (shm == NULL) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0,
                       "cannot create shared memory: %s", err);
        return 1;
    }
    stats = weir_master_stats(shm);
    procs = weir_proc_stats(shm);
    weir_wtable_init(&group, shm, procs);
    if (stats == NULL || procs == NULL) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0,
                       "shared memory (shm_size) too small");
        return 1;
    }
    atomic_store(&stats->started, (int64_t) time(NULL));
    weir_shm_counter_set(&stats->config_generation, generation);
    /* After a binary upgrade the old master's sockets are ours too; those
     * this file no longer wants are closed once the workers accept. */
    inherited = weir_upgrade_inherit(&group);
    if (sync_listeners(cf, inherited > 0, err, sizeof(err)) != WEIR_OK) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0, "%s", err);
        return 1;
    }
    /* From the switch to the error log until the first generation
     * accepts, errors also go where the operator is looking: the
     * terminal, or the command that started the daemon. */
    weir_startup_tee();
    if (errlog_file.fd >= 0) {
        weir_errlog.file = &errlog_file;
    }
    weir_errlog.level = cf->main.log_level;
    chown_logs();
    if (weir_peer_state_attach(shm, cf->upstreams, cf->nupstreams, generation,
                               err, sizeof(err)) != WEIR_OK
        || weir_http_stats_attach(shm, &cf->http, err, sizeof(err)) != WEIR_OK
        || weir_tls_tickets_attach(shm, err, sizeof(err)) != WEIR_OK
        || weir_http_limit_attach(shm, &cf->http, err, sizeof(err)) != WEIR_OK
        || weir_caches_attach(shm, cf, err, sizeof(err)) != WEIR_OK)
    {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0, "%s", err);
        return 1;
    }
    weir_wtable_update();
    /* A new binary's master stays the old master's child, so that the old
     * one learns when it exits (and takes the pid file back). */
    if (cf->main.daemon && inherited == 0
        && weir_startup_daemonize() != WEIR_OK) {
        return 1;
    }
    if (setup_signals() != WEIR_OK) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "cannot set up signals");
        return 1;
    }
    if (cf->main.pid && weir_pidfile_write(cf->main.pid) != WEIR_OK) {
        return 1;
    }
    if (geteuid() == 0 && cf->main.user == NULL) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "workers run as root: set \"user\" in [main]");
    }
    atomic_store(&stats->master_pid, (int32_t) getpid());
    if (start_first(cf) != WEIR_OK) {
        weir_pidfile_remove(cf->main.pid);
        return 1;
    }
    weir_listen_group_commit(&group);
    if (inherited > 0) {
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "binary upgrade: serving on %d listening sockets of "
                       "the old master process %d", inherited,
                       (int) weir_upgrade_old_master());
    }
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "weir/%s started: %lld worker%s", WEIR_VERSION,
                   (long long) cf->main.workers,
                   cf->main.workers == 1 ? "" : "s");
    weir_startup_done(1);
    weir_checker_start(cf, &group);
    weir_cache_manager_start(cf, &group, shm);
    weir_reresolve_setup(cf);
    arm_alarm();

    sigemptyset(&empty);
    for (;;) {
        sigsuspend(&empty);
        weir_time_update();

        if (sig_child) {
            sig_child = 0;
            reap();
            arm_alarm();
        }
        if (sig_alarm) {
            sig_alarm = 0;
            if (kill_at && weir_current_msec >= kill_at) {
                kill_at = 0;
                weir_wtable_signal(SIGKILL, 0);
            }
            schedule_respawns();
        }
        if ((quitting || terminating) && weir_wtable_live() == 0) {
            break;
        }
        if (sig_terminate && !terminating) {
            terminating = 1;
            atomic_store(&stats->stopping, 1);
            weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0, "fast stop");
            weir_wtable_signal(SIGTERM, 0);
            weir_checker_stop();
            weir_reresolve_stop();
            weir_cache_manager_stop();
            kill_at = weir_current_msec + 1000;
            arm_alarm();
            if (weir_wtable_live() == 0) {
                break;
            }
        }
        if (sig_quit && !quitting && !terminating) {
            quitting = 1;
            /* The admin listener's /healthz answers 503 from now on. */
            atomic_store(&stats->stopping, 1);
            weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0, "graceful stop");
            memset(slots, 0, sizeof(slots));
            arm_alarm();
            weir_wtable_signal(SIGQUIT, 0);
            weir_checker_stop();
            weir_reresolve_stop();
            weir_cache_manager_stop();
            /* The workers stopped accepting: refuse new connections at
             * once rather than let them wait in queues until the end
             * (a balancer fails over sooner). The admin listener stays,
             * for /healthz to say 503 while the workers drain. */
            weir_listen_keep_admin(&group, conf);
            if (weir_wtable_live() == 0) {
                break;
            }
        }
        if (sig_reload) {
            sig_reload = 0;
            if (quitting || terminating) {
                /* nothing */
            } else if (weir_upgrade_child()) {
                workers_back();
            } else {
                reload();
            }
        }
        if (dns_reload) {
            dns_reload = 0;
            if (!quitting && !terminating && !weir_upgrade_child()) {
                reload();
            }
        }
        if (sig_reopen) {
            sig_reopen = 0;
            reopen();
        }
        if (sig_upgrade) {
            sig_upgrade = 0;
            if (!quitting && !terminating) {
                (void) weir_upgrade_start(conf, &group);
            }
        }
        if (sig_winch) {
            sig_winch = 0;
            if (!quitting && !terminating) {
                weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                               "gracefully stopping workers (WINCH)");
                workers_stopped = 1;
                memset(slots, 0, sizeof(slots));
                arm_alarm();
                weir_wtable_signal(SIGQUIT, 0);
            }
        }
    }
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0, "exit");
    weir_pidfile_remove(cf == conf ? cf->main.pid : conf->main.pid);
    weir_upgrade_exit();
    weir_listen_group_close(&group);
    return 0;
}
