#include "weir_config.h"
#include "proc/worker_table.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/log.h"
#include "core/stats.h"
#include "core/wtime.h"
#include "proc/checker.h"
#include "proc/startup.h"
#include "proc/worker.h"
#include "upstream/peer_state.h"

/* How long a new generation may take to set up before its start (or the
 * reload) counts as failed: set-up is milliseconds unless something
 * hangs, such as a user lookup against an unreachable directory. */
#define READY_WAIT_MS    10000

static const weir_listen_group_t *group;
static weir_shm_t                *shm;
static weir_proc_stats_t         *procs;
static uint64_t                   serving = 1;
static weir_wtable_entry_t        workers[WEIR_WTABLE_SIZE];

static int wait_ready(int fd, uint64_t gen, int n, char *why,
    size_t whylen);
static int ready_line(const char *line, void *data);
static void mark_ready(const char *line);

void
weir_wtable_init(const weir_listen_group_t *g, weir_shm_t *s,
    weir_proc_stats_t *p)
{
    group = g;
    shm = s;
    procs = p;
}

void
weir_wtable_set_serving(uint64_t gen)
{
    serving = gen;
}

weir_wtable_entry_t *
weir_wtable_find(pid_t pid, int *proc)
{
    size_t i;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid == pid) {
            *proc = (int) i;
            return &workers[i];
        }
    }
    return NULL;
}

pid_t
weir_wtable_spawn(const weir_wtable_gen_t *g, int slot)
{
    weir_worker_args_t args;
    pid_t              pid;
    size_t             i;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid == 0) {
            break;
        }
    }
    if (i == weir_nelems(workers)) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, 0,
                       "too many worker processes");
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno, "fork() failed");
        return -1;
    }
    if (pid == 0) {
        /* The daemon's parent must see EOF when the master goes, not
         * when the last worker does. */
        weir_startup_forget();
        if (g->ready_rfd >= 0) {
            close(g->ready_rfd);
        }
        if (g->errlog) {
            weir_errlog.file = g->errlog;
        }
        weir_errlog.level = g->cf->main.log_level;
        args.cf = g->cf;
        args.slot = slot;
        args.generation = g->generation;
        args.group = group;
        args.access_log = g->access;
        args.proc = (int) i;
        args.shm = shm;
        args.ready_fd = g->ready_fd;
        weir_worker_run(&args);
    }
    workers[i].pid = pid;
    workers[i].slot = slot;
    workers[i].generation = g->generation;
    workers[i].started = weir_current_msec;
    workers[i].exiting = 0;
    workers[i].ready = g->ready_fd < 0;
    weir_proc_stats_set(&procs[i], pid, slot, workers[i].generation);
    weir_wtable_update();
    weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                   "started worker process %d (slot %d, generation %llu)",
                   (int) pid, slot, (unsigned long long) g->generation);
    return pid;
}

/*
 * Start every worker of generation gen and wait until each says it
 * accepts. WEIR_OK; or WEIR_ERROR with the first reason in why (a worker's
 * own error line, or what went wrong here), the workers that did start
 * being left to the caller (weir_wtable_stop).
 */
int
weir_wtable_start(const weir_config_t *cf, uint64_t gen, weir_log_file_t *el,
    weir_log_file_t *al, char *why, size_t whylen)
{
    weir_wtable_gen_t g;
    int   fds[2], slot, n = (int) cf->main.workers, rc;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "pipe2() failed: %s", strerror(errno));
        return WEIR_ERROR;
    }
    g.cf = cf;
    g.generation = gen;
    g.errlog = el;
    g.access = al;
    g.ready_fd = fds[1];
    g.ready_rfd = fds[0];
    for (slot = 0; slot < n; slot++) {
        if (weir_wtable_spawn(&g, slot) < 0) {
            break;
        }
    }
    /* Only the workers hold the write end now: EOF means all of them
     * either reported or died. */
    close(fds[1]);
    if (slot < n) {
        snprintf(why, whylen, "cannot fork worker process %d of %d", slot + 1,
                 n);
        rc = WEIR_ERROR;
    } else {
        rc = wait_ready(fds[0], gen, n, why, whylen);
    }
    close(fds[0]);
    return rc;
}

/* What wait_ready has heard so far. */
typedef struct ready_state_s {
    int     ready;
    int     n;
    char   *why;
    size_t  whylen;
} ready_state_t;

/* Read the workers' reports until n said ready, or all ended, or the
 * deadline. Signals stay blocked meanwhile: a SIGCHLD is acted on later. */
static int
wait_ready(int fd, uint64_t gen, int n, char *why, size_t whylen)
{
    ready_state_t st = { 0, n, why, whylen };
    int           rc;

    why[0] = '\0';
    rc = weir_startup_read_lines(fd, READY_WAIT_MS, ready_line, &st);
    if (st.ready == n) {
        return WEIR_OK;
    }
    if (rc == WEIR_AGAIN) {
        /* A worker's error line may say why it hangs; keep it first. */
        if (why[0] == '\0') {
            snprintf(why, whylen, "%d of %d worker processes not ready after "
                     "%d ms", n - st.ready, n, READY_WAIT_MS);
        }
    } else if (rc == WEIR_ERROR) {
        snprintf(why, whylen, "reading the workers' reports failed: %s",
                 strerror(errno));
    } else if (why[0] == '\0') {
        snprintf(why, whylen, "%d of %d worker processes of generation %llu "
                 "exited during set-up", n - st.ready, n,
                 (unsigned long long) gen);
    }
    return WEIR_ERROR;
}

/* One line of a worker's report: "ready PID", or a copy of one of its
 * error lines, the first of which is the reason a start fails. */
static int
ready_line(const char *line, void *data)
{
    ready_state_t  *st = data;
    weir_log_line_t l;

    if (strncmp(line, WEIR_WORKER_READY " ", sizeof(WEIR_WORKER_READY)) == 0) {
        mark_ready(line);
        return ++st->ready == st->n ? WEIR_DONE : WEIR_OK;
    }
    if (st->why[0] != '\0') {
        return WEIR_OK;
    }
    if (weir_log_line_parse(line, &l) == WEIR_OK) {
        snprintf(st->why, st->whylen, "worker process %ld: %s", l.pid,
                 l.text);
    } else {
        snprintf(st->why, st->whylen, "%s", line);
    }
    return WEIR_OK;
}

static void
mark_ready(const char *line)
{
    long   pid = strtol(line + sizeof(WEIR_WORKER_READY), NULL, 10);
    size_t i;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid == (pid_t) pid) {
            workers[i].ready = 1;
        }
    }
}

/* Stop a generation that failed to start: the workers that accept may
 * hold clients already and finish with signo; the others have none and
 * are killed. None is respawned. */
void
weir_wtable_stop(uint64_t gen, int signo)
{
    size_t i;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid == 0 || workers[i].generation != gen) {
            continue;
        }
        workers[i].exiting = 1;
        if (kill(workers[i].pid, workers[i].ready ? signo : SIGKILL) < 0
            && errno != ESRCH) {
            weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                           "kill(%d) failed", (int) workers[i].pid);
        }
    }
}

/* Signal the workers older than gen_below (all if 0 is given as "any"). */
void
weir_wtable_signal(int signo, uint64_t gen_below)
{
    size_t i;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid == 0) {
            continue;
        }
        if (gen_below && workers[i].generation >= gen_below) {
            continue;
        }
        if (signo == SIGQUIT || signo == SIGTERM) {
            workers[i].exiting = 1;
            atomic_store(&procs[i].draining, 1);
        }
        if (kill(workers[i].pid, signo) < 0 && errno != ESRCH) {
            weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                           "kill(%d, %d) failed", (int) workers[i].pid, signo);
        }
    }
}

size_t
weir_wtable_live(void)
{
    size_t i, n = 0;

    for (i = 0; i < weir_nelems(workers); i++) {
        n += workers[i].pid != 0;
    }
    return n;
}

/* Sums over the workers' in-flight slots stop at the highest in use;
 * records no live generation uses any more are freed. */
void
weir_wtable_update(void)
{
    size_t   i, hi = 0;
    uint64_t oldest = serving;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid != 0) {
            hi = i + 1;
            oldest = weir_min(oldest, workers[i].generation);
        }
    }
    oldest = weir_min(oldest, weir_checker_oldest_generation());
    weir_peer_state_procs_hi(shm, (int) hi);
    weir_peer_state_recycle(shm, oldest);
}

void
weir_wtable_wait_all(void)
{
    size_t i;

    for (i = 0; i < weir_nelems(workers); i++) {
        if (workers[i].pid) {
            (void) waitpid(workers[i].pid, NULL, 0);
            workers[i].pid = 0;
        }
    }
}
