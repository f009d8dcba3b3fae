#include "weir_config.h"
#include "proc/reresolve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/log.h"
#include "core/units.h"
#include "core/wtime.h"
#include "proc/resolve.h"

/* Names that do not resolve now (logged once): "upstream host" keys. */
#define FAILING_MAX  64

static weir_msec_t *due;          /* per upstream; 0: no names, or off */
static size_t       ndue;
static pid_t        child;
static int          child_rfd = -1;
static weir_msec_t  kill_at;
static struct stat  file_st;      /* the file as the running conf read it */
static int          file_known;
static char        *file_path;
static char        *failing[FAILING_MAX];

static int has_names(const weir_upstream_conf_t *u);
static void run_child(const weir_config_t *cf, int fd)
    __attribute__((noreturn));
static int same_set(const weir_upstream_conf_t *u, const char *host,
    const struct sockaddr_storage *addrs, size_t n);
static int failing_find(const char *key);
static void read_report(int *changed);
static void report_line(char *line, int *changed);
static int file_changed(void);

static int
has_names(const weir_upstream_conf_t *u)
{
    size_t i;

    for (i = 0; i < u->npeers; i++) {
        if (u->peers[i].host) {
            return 1;
        }
    }
    return 0;
}

void
weir_reresolve_setup(const weir_config_t *cf)
{
    size_t i;

    weir_reresolve_stop();
    free(due);
    due = calloc(cf->nupstreams ? cf->nupstreams : 1, sizeof(*due));
    ndue = due ? cf->nupstreams : 0;
    for (i = 0; i < ndue; i++) {
        if (cf->upstreams[i]->resolve > 0 && has_names(cf->upstreams[i])) {
            due[i] = weir_current_msec + cf->upstreams[i]->resolve;
        }
    }
    free(file_path);
    file_path = strdup(cf->file);
    file_known = file_path && stat(file_path, &file_st) == 0;
}

weir_msec_t
weir_reresolve_due(void)
{
    weir_msec_t next = 0;
    size_t      i;

    if (child) {
        return kill_at;
    }
    for (i = 0; i < ndue; i++) {
        if (due[i] && (next == 0 || due[i] < next)) {
            next = due[i];
        }
    }
    return next;
}

void
weir_reresolve_stop(void)
{
    if (child) {
        kill(child, SIGKILL);
        /* reaped by the master's reap(): forget it here */
        child = 0;
        close(child_rfd);
        child_rfd = -1;
    }
}

void
weir_reresolve_tick(const weir_config_t *cf)
{
    int    fds[2], any = 0;
    size_t i;
    pid_t  pid;

    if (child) {
        if (weir_current_msec >= kill_at) {
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "re-resolving upstream names took over %d ms: "
                           "given up, the addresses stay",
                           WEIR_RESOLVE_TOTAL_MS);
            kill(child, SIGKILL);
        }
        return;
    }
    for (i = 0; i < ndue && i < cf->nupstreams; i++) {
        any |= due[i] && due[i] <= weir_current_msec;
    }
    if (!any || pipe2(fds, O_CLOEXEC) < 0) {
        return;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        run_child(cf, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, errno,
                       "fork() for re-resolving upstream names failed");
        return;
    }
    child = pid;
    child_rfd = fds[0];
    kill_at = weir_current_msec + WEIR_RESOLVE_TOTAL_MS;
    for (i = 0; i < ndue && i < cf->nupstreams; i++) {
        if (due[i] && due[i] <= weir_current_msec) {
            due[i] = weir_current_msec + cf->upstreams[i]->resolve;
        }
    }
}

/*
 * The child: every name of the due upstreams, resolved again. It reports
 * on fd what the master acts on, one line each: "F upstream host reason"
 * for a name that fails and was not failing (the master's table, copied
 * at fork), "O upstream host" for one that is back, "C upstream host"
 * for one whose addresses differ from the running peers. A short report:
 * the pipe never fills.
 */
static void
run_child(const weir_config_t *cf, int fd)
{
    struct sockaddr_storage addrs[WEIR_RESOLVE_MAX];
    char                    host[256], err[512], key[512], line[1024];
    size_t                  i, j, n;
    unsigned                port;
    int                     len, was;
    weir_msec_t             now = weir_current_msec;
    weir_msec_t             until = now + WEIR_RESOLVE_TOTAL_MS;
    const weir_upstream_conf_t *u;

    for (i = 0; i < ndue && i < cf->nupstreams; i++) {
        u = cf->upstreams[i];
        /* This copy of due[] is from before the master advanced it. */
        if (!due[i] || due[i] > now) {
            continue;
        }
        for (j = 0; j < u->npeers; j++) {
            const char *h = u->peers[j].host;
            if (h == NULL || (j > 0 && u->peers[j - 1].host == h)
                || weir_units_parse_hostport(h, host, sizeof(host), &port)
                   != WEIR_OK) {
                continue;
            }
            snprintf(key, sizeof(key), "%s %s", u->name, h);
            was = failing_find(key) >= 0;
            weir_time_update();
            if (weir_resolve(host, port, (int) (until - weir_current_msec),
                             addrs, &n, err, sizeof(err)) != WEIR_OK) {
                len = was ? 0 : snprintf(line, sizeof(line), "F %s %s\n",
                                         key, err);
            } else if (!same_set(u, h, addrs, n)) {
                len = snprintf(line, sizeof(line), "C %s\n", key);
            } else {
                len = was ? snprintf(line, sizeof(line), "O %s\n", key) : 0;
            }
            if (len > 0 && (size_t) len < sizeof(line)
                && write(fd, line, (size_t) len) < 0) {
                _exit(1);
            }
        }
    }
    _exit(0);
}

/* Are addrs[0..n) exactly the addresses of u's peers named host? */
static int
same_set(const weir_upstream_conf_t *u, const char *host,
    const struct sockaddr_storage *addrs, size_t n)
{
    size_t i, k, have = 0;

    for (i = 0; i < u->npeers; i++) {
        if (u->peers[i].host != host) {
            continue;
        }
        have++;
        for (k = 0; k < n && !weir_units_addr_eq(&addrs[k],
                                                 &u->peers[i].addr); k++) {
            /* void */
        }
        if (k == n) {
            return 0;
        }
    }
    return have == n;
}

static int
failing_find(const char *key)
{
    int i;

    for (i = 0; i < FAILING_MAX; i++) {
        if (failing[i] && strcmp(failing[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

int
weir_reresolve_reaped(pid_t pid, int status, int *reload)
{
    int changed = 0;

    *reload = 0;
    if (pid != child || pid == 0) {
        return 0;
    }
    child = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        read_report(&changed);
    } else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "re-resolving upstream names: process %d exited on "
                       "signal %d", (int) pid, WTERMSIG(status));
    }
    close(child_rfd);
    child_rfd = -1;
    if (changed && file_changed()) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "not reloading for the new addresses: the "
                       "configuration file changed since it was loaded; "
                       "reload to apply both");
        changed = 0;
    }
    *reload = changed;
    return 1;
}

/* The child has exited: its report is whole in the pipe. */
static void
read_report(int *changed)
{
    char    buf[8192], *line, *nl;
    size_t  len = 0;
    ssize_t r;

    for (;;) {
        r = read(child_rfd, buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0 || (len += (size_t) r) == sizeof(buf) - 1) {
            break;
        }
    }
    buf[len] = '\0';
    for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        report_line(line, changed);
    }
}

static void
report_line(char *line, int *changed)
{
    char *upstream = line + 2, *host, *rest;
    char  key[512];
    int   i;

    host = strchr(upstream, ' ');
    if (line[0] == '\0' || line[1] != ' ' || host == NULL) {
        return;
    }
    *host++ = '\0';
    rest = strchr(host, ' ');
    if (rest) {
        *rest++ = '\0';
    }
    snprintf(key, sizeof(key), "%s %s", upstream, host);
    i = failing_find(key);
    if (line[0] == 'F' && i < 0) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "upstream \"%s\": %s: %s; keeping its last "
                       "addresses", upstream, host, rest ? rest : "");
        for (i = 0; i < FAILING_MAX && failing[i]; i++) {
            /* void */
        }
        if (i < FAILING_MAX) {
            failing[i] = strdup(key);
        }
    } else if (line[0] == 'O' && i >= 0) {
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "upstream \"%s\": %s resolves again", upstream, host);
        free(failing[i]);
        failing[i] = NULL;
    } else if (line[0] == 'C') {
        if (i >= 0) {
            free(failing[i]);
            failing[i] = NULL;
        }
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "upstream \"%s\": %s resolves to other addresses "
                       "now", upstream, host);
        *changed = 1;
    }
}

/* Has the file been replaced or written since the running configuration
 * read it? (size, mtime, inode). */
static int
file_changed(void)
{
    struct stat st;

    if (!file_known) {
        return 1;
    }
    return stat(file_path, &st) < 0
           || st.st_ino != file_st.st_ino || st.st_dev != file_st.st_dev
           || st.st_size != file_st.st_size
           || st.st_mtim.tv_sec != file_st.st_mtim.tv_sec
           || st.st_mtim.tv_nsec != file_st.st_mtim.tv_nsec;
}
