#include "weir_config.h"
#include "proc/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/log.h"
#include "core/pool.h"
#include "core/sbuf.h"
#include "proc/pidfile.h"
#include "proc/master.h"
#include "proc/startup.h"

static char  binary[PATH_MAX];
static pid_t child;            /* the new master, while it runs */
static pid_t old_master;       /* our parent, when we are the new master */
static char *pid_path;         /* the pid file renamed for child */
static char *oldbin_path;      /* pid_path + ".oldbin" */

static char *env_entry[2];    /* see keep_env_entry() */

static void find_in_path(const char *name);
static void keep_env_entry(const char *name, char **keep);
static pid_t env_old_master(void);
static char *listen_fds(weir_pool_t *pool, const weir_listen_group_t *g);
static void exec_new(const weir_config_t *cf, const weir_listen_group_t *g,
    const char *self, const char *fds, int status_fd) __attribute__((noreturn));
static void restore_pid_file(void);
static void forget_paths(void);

void
weir_upgrade_init(const char *argv0)
{
    char cwd[PATH_MAX];
    int  n;

    binary[0] = '\0';
    if (argv0 == NULL || *argv0 == '\0') {
        return;
    }
    if (strchr(argv0, '/') == NULL) {
        find_in_path(argv0);
        return;
    }
    if (argv0[0] == '/') {
        n = snprintf(binary, sizeof(binary), "%s", argv0);
    } else if (getcwd(cwd, sizeof(cwd)) != NULL) {
        n = snprintf(binary, sizeof(binary), "%s/%s", cwd, argv0);
    } else {
        n = -1;
    }
    if (n < 0 || (size_t) n >= sizeof(binary)) {
        binary[0] = '\0';
    }
}

/* The first executable PATH entry holding name, as execvp would pick. */
static void
find_in_path(const char *name)
{
    const char *path = getenv("PATH"), *p, *colon;
    char        cand[PATH_MAX];
    size_t      len;
    int         n;

    for (p = path; p && *p; p = colon ? colon + 1 : NULL) {
        colon = strchr(p, ':');
        len = colon ? (size_t) (colon - p) : strlen(p);
        if (len == 0 || *p != '/') {
            continue;           /* "." and relative entries: not safe */
        }
        n = snprintf(cand, sizeof(cand), "%.*s/%s", (int) len, p, name);
        if (n > 0 && (size_t) n < sizeof(cand) && access(cand, X_OK) == 0) {
            memcpy(binary, cand, (size_t) n + 1);
            return;
        }
    }
}

const char *
weir_upgrade_binary(void)
{
    return binary;
}

/* unsetenv() drops the variable's string from environ without freeing
 * it, and the string may belong to the process title's copy of the
 * environment (proctitle.c) or to the original one: keep it reachable
 * instead of guessing which. */
static void
keep_env_entry(const char *name, char **keep)
{
    size_t n = strlen(name);
    char **e;

    for (e = environ; *e; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            *keep = *e;
            return;
        }
    }
}

/* The old master's pid as it set it before exec, or 0 (none, or a
 * binary that did not set it). */
static pid_t
env_old_master(void)
{
    const char *env = getenv(WEIR_OLD_MASTER_ENV);
    char       *end;
    long        pid;

    if (env == NULL) {
        return 0;
    }
    errno = 0;
    pid = strtol(env, &end, 10);
    if (errno || end == env || *end != '\0' || pid <= 1 || pid > INT_MAX) {
        return 0;
    }
    return (pid_t) pid;
}

int
weir_upgrade_inherit(weir_listen_group_t *g)
{
    const char *env = getenv(WEIR_LISTEN_FDS_ENV);
    char       *copy, *item, *save = NULL, *end;
    char        err[256];
    long        fd, slot;
    int         n = 0;

    if (env == NULL) {
        return 0;
    }
    copy = strdup(env);
    /* The old master quitting before we got here makes our parent init,
     * so its pid comes from the environment; getppid() is for an old
     * master that did not set it. */
    old_master = env_old_master();
    if (old_master == 0) {
        old_master = getppid();
    }
    keep_env_entry(WEIR_LISTEN_FDS_ENV, &env_entry[0]);
    keep_env_entry(WEIR_OLD_MASTER_ENV, &env_entry[1]);
    unsetenv(WEIR_LISTEN_FDS_ENV);
    unsetenv(WEIR_OLD_MASTER_ENV);
    if (copy == NULL) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, 0,
                       "binary upgrade: out of memory for %s",
                       WEIR_LISTEN_FDS_ENV);
        return 0;
    }
    for (item = strtok_r(copy, ";", &save); item;
         item = strtok_r(NULL, ";", &save)) {
        errno = 0;
        fd = strtol(item, &end, 10);
        slot = *end == ':' ? strtol(end + 1, &end, 10) : -1;
        if (errno || *end != '\0' || fd < 0 || fd > INT_MAX || slot < 0
            || slot > INT_MAX) {
            weir_log_error(WEIR_LOG_ALERT, &weir_errlog, 0,
                           "binary upgrade: invalid entry \"%s\" in %s, "
                           "ignored", item, WEIR_LISTEN_FDS_ENV);
            continue;
        }
        if (weir_listen_group_adopt(g, (int) fd, (int) slot, err,
                                    sizeof(err)) != WEIR_OK) {
            weir_log_error(WEIR_LOG_ALERT, &weir_errlog, 0,
                           "binary upgrade: %s (from %s), ignored", err,
                           WEIR_LISTEN_FDS_ENV);
            continue;
        }
        n++;
    }
    free(copy);
    return n;
}

pid_t
weir_upgrade_old_master(void)
{
    return old_master;
}

int
weir_upgrade_old_master_alive(void)
{
    return old_master > 1 && getppid() == old_master;
}

pid_t
weir_upgrade_child(void)
{
    return child;
}

/* "FD:SLOT;..." for every socket of the group, or NULL. */
static char *
listen_fds(weir_pool_t *pool, const weir_listen_group_t *g)
{
    weir_sbuf_t sb;
    size_t      i;

    weir_sbuf_init_pool(&sb, pool, g->n * 12 + 1);
    for (i = 0; i < g->n; i++) {
        weir_sbuf_printf(&sb, "%s%d:%d", i ? ";" : "", g->socks[i].fd,
                         g->socks[i].slot);
    }
    return weir_sbuf_failed(&sb) ? NULL : sb.data;
}

/*
 * In the forked child: the listening sockets lose FD_CLOEXEC (in this
 * process only: descriptor flags are per table, and the master's copies
 * keep theirs), the signals the master blocks are let through again, and
 * the binary runs with the same prefix and file. An exec that fails
 * writes its errno to status_fd, which the master reads.
 */
static void
exec_new(const weir_config_t *cf, const weir_listen_group_t *g,
    const char *self, const char *fds, int status_fd)
{
    sigset_t empty;
    size_t   i;
    int      e;
    char    *argv[6];

    weir_startup_forget();
    for (i = 0; i < g->n; i++) {
        (void) fcntl(g->socks[i].fd, F_SETFD, 0);
    }
    argv[0] = binary;
    argv[1] = (char *) "-p";
    argv[2] = (char *) cf->prefix;
    argv[3] = (char *) "-c";
    argv[4] = (char *) cf->file;
    argv[5] = NULL;
    if (setenv(WEIR_LISTEN_FDS_ENV, fds, 1) == 0
        && setenv(WEIR_OLD_MASTER_ENV, self, 1) == 0) {
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        execv(binary, argv);
    }
    e = errno;
    if (write(status_fd, &e, sizeof(e)) < 0) {
        /* the master then sees EOF and learns of it in reap() */
    }
    _exit(127);
}

int
weir_upgrade_start(const weir_config_t *cf, const weir_listen_group_t *g)
{
    weir_pool_t *pool;
    char        *fds, self[24];
    int          st[2], e = 0, sn;
    ssize_t      n;
    pid_t        pid;
    size_t       len;

    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "binary upgrade (USR2): starting \"%s\"", binary);
    if (child) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "binary upgrade refused: new master process %d is "
                       "running already", (int) child);
        return WEIR_ERROR;
    }
    if (weir_upgrade_old_master_alive()) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "binary upgrade refused: the old master process %d "
                       "still runs; stop it (QUIT) or roll back first",
                       (int) old_master);
        return WEIR_ERROR;
    }
    if (binary[0] == '\0') {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "binary upgrade failed: the path weir was started "
                       "from is unknown");
        return WEIR_ERROR;
    }
    pool = weir_pool_create(4096);
    fds = pool ? listen_fds(pool, g) : NULL;
    if (fds == NULL) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "binary upgrade failed: out of memory");
        weir_pool_destroy(pool);
        return WEIR_ERROR;
    }
    if (cf->main.pid) {
        len = strlen(cf->main.pid);
        pid_path = strdup(cf->main.pid);
        oldbin_path = malloc(len + sizeof(".oldbin"));
        if (pid_path == NULL || oldbin_path == NULL) {
            weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                           "binary upgrade failed: out of memory");
            forget_paths();
            weir_pool_destroy(pool);
            return WEIR_ERROR;
        }
        memcpy(oldbin_path, pid_path, len);
        memcpy(oldbin_path + len, ".oldbin", sizeof(".oldbin"));
        /* The new master writes pid_path: first move ours aside. */
        if (rename(pid_path, oldbin_path) < 0) {
            weir_log_error(WEIR_LOG_ERR, &weir_errlog, errno,
                           "binary upgrade failed: rename(\"%s\", \"%s\")",
                           pid_path, oldbin_path);
            forget_paths();
            weir_pool_destroy(pool);
            return WEIR_ERROR;
        }
    }
    if (pipe2(st, O_CLOEXEC) < 0) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, errno,
                       "binary upgrade failed: pipe2()");
        restore_pid_file();
        weir_pool_destroy(pool);
        return WEIR_ERROR;
    }
    /* Our pid for the new master, taken before the fork: the child's
     * getppid() would be 1 if we were gone already. */
    sn = snprintf(self, sizeof(self), "%ld", (long) getpid());
    if (sn < 0 || (size_t) sn >= sizeof(self)) {
        self[0] = '\0';
    }
    pid = fork();
    if (pid == 0) {
        close(st[0]);
        exec_new(cf, g, self, fds, st[1]);
    }
    e = errno;
    weir_pool_destroy(pool);
    close(st[1]);
    if (pid < 0) {
        close(st[0]);
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, e,
                       "binary upgrade failed: fork()");
        restore_pid_file();
        return WEIR_ERROR;
    }
    /* EOF: the exec happened (the pipe was close-on-exec). Bounded: the
     * child either execs or writes at once. */
    do {
        n = read(st[0], &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    close(st[0]);
    if (n == (ssize_t) sizeof(e)) {
        (void) waitpid(pid, NULL, 0);
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, e,
                       "binary upgrade failed: cannot execute \"%s\"",
                       binary);
        restore_pid_file();
        return WEIR_ERROR;
    }
    child = pid;
    weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                   "binary upgrade: new master process %d started%s%s%s",
                   (int) pid, oldbin_path ? ", pid file moved to \"" : "",
                   oldbin_path ? oldbin_path : "", oldbin_path ? "\"" : "");
    return WEIR_OK;
}

int
weir_upgrade_reaped(pid_t pid, int status)
{
    if (pid == 0 || pid != child) {
        return 0;
    }
    child = 0;
    if (WIFSIGNALED(status)) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "binary upgrade: new master process %d exited on "
                       "signal %d; this master serves on", (int) pid,
                       WTERMSIG(status));
    } else {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "binary upgrade: new master process %d exited with "
                       "code %d; this master serves on", (int) pid,
                       WEXITSTATUS(status));
    }
    restore_pid_file();
    return 1;
}

/* The new master is gone (or never ran): .oldbin goes back to the pid
 * path, unless someone else's pid file is there now. */
static void
restore_pid_file(void)
{
    char err[256];
    long other;

    if (pid_path == NULL) {
        return;
    }
    other = weir_master_pid_read(pid_path, err, sizeof(err));
    if (weir_master_pid_read(oldbin_path, err, sizeof(err)) != getpid()) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "pid file \"%s\" no longer names this master: not "
                       "restored", oldbin_path);
    } else if (other > 0 && other != getpid()) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "pid file \"%s\" names process %ld: \"%s\" kept",
                       pid_path, other, oldbin_path);
    } else if (rename(oldbin_path, pid_path) < 0) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, errno,
                       "rename(\"%s\", \"%s\") failed", oldbin_path,
                       pid_path);
    } else {
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "pid file \"%s\" restored", pid_path);
    }
    forget_paths();
}

static void
forget_paths(void)
{
    free(pid_path);
    free(oldbin_path);
    pid_path = oldbin_path = NULL;
}

void
weir_upgrade_exit(void)
{
    weir_pidfile_remove(oldbin_path);
    forget_paths();
}
