#include "weir_config.h"
#include "proc/worker.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/cidr.h"
#include "core/log.h"
#include "core/random.h"
#include "core/stats.h"
#include "core/wtime.h"
#include "event/conn.h"
#include "event/loop.h"
#include "admin/admin.h"
#include "http/access_log.h"
#include "http/handler.h"
#include "http/request.h"
#include "proc/proctitle.h"
#include "cache/cache.h"
#include "upstream/proxy.h"
#include "upstream/peer_state.h"
#include "upstream/upstream.h"

/* Accepting more than this many connections per wake-up would starve the
 * connections already open; the rest is picked up on the next round. */
#define ACCEPT_BATCH 64

typedef struct weir_listener_s {
    const weir_server_conf_t *srv;
    const weir_listen_conf_t *conf;    /* srv's listen line for it */
    weir_conn_t              *lc;
    /* Accepting is paused (out of descriptors, or worker_connections)
     * until the listener's timer: an edge meanwhile does not retry. */
    unsigned                  paused:1;
} listener_t;

static volatile sig_atomic_t sig_quit, sig_terminate, sig_reopen;
static listener_t           *listeners;
static size_t                nlisteners;
static const weir_worker_args_t *wa;
static int64_t               max_conns;
static rlim_t                fd_limit;

static void signal_handler(int signo);
static void setup_signals(sigset_t *wait_mask);
static int add_listener(const weir_server_conf_t *srv,
    const weir_listen_conf_t *l, int fd);
static int open_listeners(void);
static void accept_handler(weir_event_t *ev);
static void accept_pause(listener_t *ls, int err);
static void set_limits(const weir_main_conf_t *mc);
static void stop_accepting(int keep_admin);
static void report_ready(int fd);
static void reopen_logs(void);
static void worker_exit(int code) __attribute__((noreturn));

static void
signal_handler(int signo)
{
    switch (signo) {
    case SIGQUIT: sig_quit = 1; break;
    case SIGTERM:
    case SIGINT:  sig_terminate = 1; break;
    case SIGUSR1: sig_reopen = 1; break;
    default: break;
    }
}

static void
setup_signals(sigset_t *wait_mask)
{
    struct sigaction sa;
    sigset_t         block;
    int              sigs[] = { SIGQUIT, SIGTERM, SIGINT, SIGUSR1 };
    size_t           i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = signal_handler;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    for (i = 0; i < weir_nelems(sigs); i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&block, sigs[i]);
    }
    sa.sa_handler = SIG_DFL;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    /* Blocked except inside epoll_pwait(): no flag is missed between a
     * check and the wait. */
    sigprocmask(SIG_SETMASK, &block, NULL);
    sigemptyset(wait_mask);
}

void
weir_worker_drop_privileges(const weir_main_conf_t *mc)
{
    struct passwd *pw;
    struct group  *gr;
    gid_t          gid;

    if (geteuid() != 0 || mc->user == NULL) {
        return;
    }
    pw = getpwnam(mc->user);
    if (pw == NULL) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "unknown user \"%s\"", mc->user);
        worker_exit(2);
    }
    gid = pw->pw_gid;
    if (mc->group) {
        gr = getgrnam(mc->group);
        if (gr == NULL) {
            weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                           "unknown group \"%s\"", mc->group);
            worker_exit(2);
        }
        gid = gr->gr_gid;
    }
    if (setgid(gid) < 0 || initgroups(mc->user, gid) < 0
        || setuid(pw->pw_uid) < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "cannot switch to user \"%s\"", mc->user);
        worker_exit(2);
    }
    /* Allow core dumps after the switch: crash evidence matters. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static int
add_listener(const weir_server_conf_t *srv, const weir_listen_conf_t *l,
    int fd)
{
    weir_conn_t *lc = weir_conn_get(fd);

    if (lc == NULL) {
        return WEIR_ERROR;
    }
    lc->is_listener = 1;
    lc->log.connection = 0;
    lc->read.handler = accept_handler;
    lc->write.handler = accept_handler;
    lc->data = &listeners[nlisteners];
    listeners[nlisteners].srv = srv;
    listeners[nlisteners].conf = l;
    listeners[nlisteners].lc = lc;
    nlisteners++;
    /* Connections may already wait in the queue (a replaced worker or
     * one that took over a surplus socket): no edge will report them, so
     * look now. */
    lc->read.ready = 1;
    weir_event_post(&lc->read);
    return WEIR_OK;
}

static int
open_listeners(void)
{
    const weir_http_conf_t *http = &wa->cf->http;
    const weir_listen_group_t *g = wa->group;
    size_t i, j, k;
    int    fd, used;

    /* At most every socket of the group is ours (see listen.h). */
    listeners = calloc(g->n ? g->n : 1, sizeof(*listeners));
    if (listeners == NULL) {
        return WEIR_ERROR;
    }
    for (i = 0; i <= http->nservers; i++) {
        const weir_server_conf_t *srv = i < http->nservers
                                        ? http->servers[i]
                                        : wa->cf->admin.server;
        if (srv == NULL) {
            continue;
        }
        for (j = 0; j < srv->nlistens; j++) {
            const weir_listen_conf_t *l = &srv->listens[j];
            size_t pos = 0;
            int    found = 0;

            if (l->vhost && !l->is_default) {
                continue;   /* a shared address: accepted for its default
                               server, the request picks by name */
            }

            while ((fd = weir_listen_group_next(g,
                         (const struct sockaddr *) &l->addr, l->addrlen,
                         wa->slot, &pos)) >= 0) {
                if (add_listener(srv, l, fd) != WEIR_OK) {
                    return WEIR_ERROR;
                }
                found = 1;
            }
            if (!found) {
                weir_log_error(WEIR_LOG_ALERT, &weir_errlog, 0,
                               "no socket for %s in slot %d", l->text,
                               wa->slot);
            }
        }
    }
    /* The other slots' sockets are not ours: the master holds them. */
    for (k = 0; k < g->n; k++) {
        used = 0;
        for (i = 0; i < nlisteners; i++) {
            if (listeners[i].lc->fd == g->socks[k].fd) {
                used = 1;
            }
        }
        if (!used) {
            close(g->socks[k].fd);
        }
    }
    /* During a reload, the sockets the new set drops: the master closes
     * its copies only once this generation serves, and a copy here would
     * keep a removed address listening. */
    for (k = 0; k < g->nprev; k++) {
        if (!g->prev[k].keep) {
            close(g->prev[k].fd);
        }
    }
    return WEIR_OK;
}

/* Stop accepting on ls for a while instead of spinning on a listener
 * that stays readable (its queue is full of connections we cannot take):
 * what the worker holds is served meanwhile. err is accept4()'s errno,
 * or 0 at worker_connections. The line is logged once per 10 s with how
 * often it happened since, since a line per attempt would flood the log
 * exactly when the box is busiest. */
static void
accept_pause(listener_t *ls, int err)
{
    static weir_msec_t last_log;
    static uint64_t    unlogged;

    if (last_log && weir_current_msec - last_log < 10000) {
        unlogged++;
    } else if (err == 0) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "%lld worker_connections are not enough: not "
                       "accepting new connections for 100ms (%llu more "
                       "since the last line)", (long long) max_conns,
                       (unsigned long long) unlogged);
        last_log = weir_current_msec;
        unlogged = 0;
    } else if (err == EMFILE || err == ENFILE) {
        weir_log_error(WEIR_LOG_CRIT, &weir_errlog, err,
                       "accept4() failed: out of file descriptors (%s, "
                       "limit %llu, %zu connections open): not accepting "
                       "new connections for 500ms, those open are still "
                       "served (%llu more since the last line; raise "
                       "worker_rlimit_nofile or lower shed_connections)",
                       err == EMFILE ? "this worker" : "the whole system",
                       (unsigned long long) fd_limit,
                       weir_conn_count() - nlisteners,
                       (unsigned long long) unlogged);
        last_log = weir_current_msec;
        unlogged = 0;
    } else {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, err,
                       "accept4() failed: not accepting new connections "
                       "for 500ms (%llu more since the last line)",
                       (unsigned long long) unlogged);
        last_log = weir_current_msec;
        unlogged = 0;
    }
    if (err) {
        weir_stat_add(&weir_proc_self->accept_errors_total, 1);
    }
    ls->paused = 1;
    weir_timer_add(&ls->lc->read, err ? 500 : 100);
}

static void
accept_handler(weir_event_t *ev)
{
    weir_conn_t            *lc = ev->data, *c;
    listener_t             *ls = lc->data;
    struct sockaddr_storage sa;
    socklen_t               len;
    int                     fd, i, on = 1;

    if (ev->write && !ev->timedout) {
        return;
    }
    if (ls->paused && !ev->timedout) {
        return;         /* the timer looks again */
    }
    ls->paused = 0;
    ev->timedout = 0;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        if ((int64_t) (weir_conn_count() - nlisteners) >= max_conns) {
            /* Leave the rest in the kernel queue; look again shortly. */
            accept_pause(ls, 0);
            return;
        }
        len = sizeof(sa);
        fd = accept4(lc->fd, (struct sockaddr *) &sa, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev->ready = 0;
                return;
            }
            if (errno == ECONNABORTED || errno == EINTR) {
                continue;
            }
            accept_pause(ls, errno);
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        c = weir_conn_get(fd);
        if (c == NULL) {
            close(fd);
            continue;
        }
        len = weir_min(len, (socklen_t) sizeof(c->sockaddr));
        memcpy(&c->sockaddr, &sa, len);
        c->socklen = len;
        weir_sockaddr_text((struct sockaddr *) &sa, c->addr_text,
                           sizeof(c->addr_text), 0);
        c->start_msec = weir_current_msec;
        c->listener = ls;
        weir_stat_add(&weir_proc_self->accepted_total, 1);
        /* The admin listener's `allow`: decided here, answered 403 by the
         * admin handler (so the client learns why). */
        c->denied = ls->srv->allow
                    && !weir_cidr_match(ls->srv->allow, ls->srv->nallow,
                                        (struct sockaddr *) &sa);
        if (ls->conf->proxy_protocol) {
            weir_http_init_proxy_protocol(c, ls->srv, ls->conf);
        } else if (ls->conf->tls) {
            weir_http_init_tls(c, ls->srv, ls->conf);
        } else {
            weir_http_init_connection(c, ls->srv, ls->conf);
        }
    }
    weir_event_post(ev);
}

/*
 * The worker's own limits, once its listeners are open: the descriptor
 * limit (worker_rlimit_nofile, capped by the hard limit; the master
 * raised the soft limit to the hard one when it is not set) and the
 * admission threshold. Requests are shed (http/limit.c) from
 * shed_connections open connections, 9/10 of worker_connections by
 * default, and never later than at 9/10 of what the descriptor limit
 * leaves after the listeners and a reserve for logs, files and the
 * like: a new connection is refused with a 503 while there is still a
 * descriptor to answer it with.
 */
#define FD_RESERVE 16

static void
set_limits(const weir_main_conf_t *mc)
{
    struct rlimit rl;
    size_t        shed, by_fds;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (mc->worker_rlimit_nofile > 0) {
            rl.rlim_cur = weir_min((rlim_t) mc->worker_rlimit_nofile,
                                   rl.rlim_max);
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                weir_log_error(WEIR_LOG_WARN, &weir_errlog, errno,
                               "setrlimit(RLIMIT_NOFILE, %llu) failed",
                               (unsigned long long) rl.rlim_cur);
                getrlimit(RLIMIT_NOFILE, &rl);
            }
        }
        fd_limit = rl.rlim_cur;
    }
    shed = mc->shed_connections > 0 ? (size_t) mc->shed_connections
                                    : (size_t) max_conns * 9 / 10;
    if (fd_limit != RLIM_INFINITY && fd_limit > 0) {
        by_fds = fd_limit > nlisteners + FD_RESERVE
                 ? (size_t) (fd_limit - nlisteners - FD_RESERVE) * 9 / 10
                 : 1;
        shed = weir_min(shed, weir_max(by_fds, 1));
    }
    weir_http.shed_at = shed;
    weir_http.shed_base = nlisteners;
}

/* Stop accepting. When the whole weir is stopping (not a reload: the
 * new generation answers then), the admin listener stays open while
 * the worker drains, so that /healthz can say 503 to the balancer. */
static void
stop_accepting(int keep_admin)
{
    size_t i, kept = 0;

    for (i = 0; i < nlisteners; i++) {
        if (listeners[i].lc == NULL) {
            continue;
        }
        if (keep_admin && listeners[i].srv->kind == WEIR_SERVER_ADMIN) {
            listeners[kept] = listeners[i];
            listeners[kept].lc->data = &listeners[kept];
            kept++;
            continue;
        }
        /* Closes only this worker's copy; the master keeps the socket
         * and its queue for the next generation. */
        weir_conn_close(listeners[i].lc);
        listeners[i].lc = NULL;
    }
    nlisteners = kept;
}

/* Accepting from here on: tell the master (one write, so lines of the
 * workers sharing the pipe never mix). */
static void
report_ready(int fd)
{
    char    line[64];
    int     n;
    ssize_t w;

    weir_log_tee(-1, 0);
    if (fd < 0) {
        return;
    }
    n = snprintf(line, sizeof(line), WEIR_WORKER_READY " %d\n",
                 (int) getpid());
    if (n > 0 && (size_t) n < sizeof(line)) {
        do {
            w = write(fd, line, (size_t) n);
        } while (w < 0 && errno == EINTR);
    }
    close(fd);
}

static void
reopen_logs(void)
{
    weir_access_log_flush();
    if (wa->access_log && weir_log_file_reopen(wa->access_log) < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "cannot reopen access log \"%s\"",
                       wa->access_log->path);
    }
    if (weir_errlog.file->path && weir_log_file_reopen(weir_errlog.file) < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "cannot reopen error log \"%s\"",
                       weir_errlog.file->path);
    }
}

static void
worker_exit(int code)
{
    weir_access_log_flush();
    _exit(code);
}

void
weir_worker_run(const weir_worker_args_t *args)
{
    const weir_config_t *cf = args->cf;
    sigset_t             wait_mask;
    weir_msec_t          deadline = 0;

    wa = args;
    weir_log_slot = args->slot;
    weir_stats_attach(args->shm, args->proc);
    weir_random_reseed();       /* not the master's sequence */
    /* Set-up errors also go to the master, which says why a start or a
     * reload failed (this replaces the master's own start-up copy). */
    weir_log_tee(args->ready_fd, WEIR_LOG_ERR);
    weir_proctitle_set("weir-worker", "weir: worker process");
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    setup_signals(&wait_mask);
    weir_time_update();

    if (cf->main.worker_cpu_affinity) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(args->slot % CPU_SETSIZE, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0) {
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, errno,
                           "sched_setaffinity(%d) failed", args->slot);
        }
    }
    weir_worker_drop_privileges(&cf->main);
    max_conns = cf->main.worker_connections > 0 ? cf->main.worker_connections
                                                : 10000;

    weir_http.conf = &cf->http;
    weir_http.mime = cf->http.mime;     /* read by the loader (config_warn.c) */
    weir_http.prefix = cf->prefix;
    weir_http.quitting = 0;
    /* Proxy routes go through the cache, which passes routes without
     * `cache =` straight to the proxy. */
    weir_http_handler_register(WEIR_ROUTE_PROXY, weir_cache_handle);
    weir_http_handler_register(WEIR_ROUTE_ADMIN, weir_admin_handle);
    weir_admin_init(cf, args->shm);
    if (weir_upstream_init(cf->upstreams, cf->nupstreams) != WEIR_OK
        || weir_cache_init(args->shm, cf->caches, cf->ncaches) != WEIR_OK) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, 0, "out of memory");
        worker_exit(2);
    }

    if (weir_loop_init() != WEIR_OK
        || weir_access_log_init(&cf->http, args->access_log) != WEIR_OK
        || open_listeners() != WEIR_OK) {
        worker_exit(2);
    }
    set_limits(&cf->main);
    weir_loop_set_sigmask(&wait_mask);
    report_ready(args->ready_fd);

    for (;;) {
        if (weir_loop_run_once(weir_http.quitting ? 500 : -1) != WEIR_OK) {
            worker_exit(2);
        }
        if (sig_terminate) {
            worker_exit(0);
        }
        if (sig_reopen) {
            sig_reopen = 0;
            reopen_logs();
        }
        if (sig_quit && !weir_http.quitting) {
            weir_master_stats_t *ms = weir_master_stats(args->shm);
            weir_proctitle_set(NULL, "weir: worker process is shutting down");
            stop_accepting(ms && atomic_load(&ms->stopping));
            /* Idle keep-alive connections get a short grace in which a
             * request on its way is still answered (with close). */
            weir_http_shutdown(weir_min(1000, cf->http.keepalive_timeout));
            weir_proxy_shutdown();
            deadline = weir_current_msec + cf->main.shutdown_timeout;
        }
        if (weir_http.quitting) {
            /* Done when nothing is open but the listeners kept. */
            if (weir_conn_count() <= nlisteners) {
                worker_exit(0);
            }
            if (weir_current_msec >= deadline) {
                weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                               "shutdown_timeout expired with %zu connections "
                               "open: closing them", weir_conn_count());
                worker_exit(0);
            }
        }
    }
}

void
weir_worker_helper_signals(void (*on_signal)(int))
{
    struct sigaction sa;
    sigset_t         block;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGUSR1);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    sigprocmask(SIG_SETMASK, &block, NULL);
}

void
weir_worker_helper_start(const char *comm, const char *title,
    const weir_listen_group_t *group, const weir_main_conf_t *mc,
    void (*on_signal)(int))
{
    size_t i;

    weir_proctitle_set(comm, "%s", title);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    weir_random_reseed();
    /* The listening sockets are the workers' business. */
    for (i = 0; group && i < group->n; i++) {
        close(group->socks[i].fd);
    }
    weir_worker_helper_signals(on_signal);
    weir_worker_drop_privileges(mc);
    weir_time_update();
}

void
weir_worker_helper_exited(const char *what, pid_t pid, int status)
{
    if (WIFSIGNALED(status)) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "%s process %d exited on signal %d; restarting it",
                       what, (int) pid, WTERMSIG(status));
    } else {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "%s process %d exited with code %d; restarting it",
                       what, (int) pid, WEXITSTATUS(status));
    }
}
