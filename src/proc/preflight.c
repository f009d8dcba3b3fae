#include "weir_config.h"
#include "proc/preflight.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "proc/caches.h"

/*
 * What is checked, and what cannot be:
 * - user/group must exist whoever runs the check: a file that names a
 *   missing user cannot start as root, and workers that cannot switch
 *   user would only die at once.
 * - The pid file and the log files: the file is writable if it exists,
 *   else its directory exists and is writable. access() answers for the
 *   user running the check (root passes any mode bit).
 * - Cache directories (with WEIR_PREFLIGHT_BIND: -t, -s reload): a warning
 *   when one is missing and cannot be created, or cannot be written.
 * - Listen addresses (WEIR_PREFLIGHT_BIND): a socket is bound the way the
 *   master binds (SO_REUSEADDR + SO_REUSEPORT) and closed at once. An
 *   address that is not on this host (EADDRNOTAVAIL), a port the caller
 *   may not bind (EACCES) and a port held by another program without
 *   SO_REUSEPORT (EADDRINUSE) are reported. A running weir of the same
 *   user holds its ports with SO_REUSEPORT, so it does not count as a
 *   conflict, which is what a reload needs; by the same token a foreign
 *   program that also uses SO_REUSEPORT under the same user cannot be
 *   told apart from it.
 */

static int check_user(const weir_config_t *cf, weir_config_errors_t *errs);
static int check_writable(const weir_config_t *cf, weir_config_errors_t *errs,
    const void *obj, const char *section, const char *key, const char *path);
static int check_listen(const weir_config_t *cf, weir_config_errors_t *errs,
    const weir_listen_conf_t *l, const char *section);

int
weir_preflight(const weir_config_t *cf, unsigned flags,
    weir_config_errors_t *errs)
{
    int    rc = WEIR_OK;
    size_t i, j;
    char   label[160];

    if (check_user(cf, errs) != WEIR_OK) {
        rc = WEIR_ERROR;
    }
    if (cf->main.pid
        && check_writable(cf, errs, &cf->main, "[main]", "pid", cf->main.pid)
           != WEIR_OK) {
        rc = WEIR_ERROR;
    }
    if (cf->main.error_log
        && check_writable(cf, errs, &cf->main, "[main]", "error_log",
                          cf->main.error_log) != WEIR_OK) {
        rc = WEIR_ERROR;
    }
    if (cf->http.access_log
        && check_writable(cf, errs, &cf->http, "[http]", "access_log",
                          cf->http.access_log) != WEIR_OK) {
        rc = WEIR_ERROR;
    }
    if (!(flags & WEIR_PREFLIGHT_BIND)) {
        return rc;
    }
    /* Warnings only: the master makes them, or runs the cache uncached. */
    weir_caches_check_dirs(cf);
    for (i = 0; i < cf->http.nservers; i++) {
        const weir_server_conf_t *srv = cf->http.servers[i];

        snprintf(label, sizeof(label), "[server %s]", srv->name);
        for (j = 0; j < srv->nlistens; j++) {
            if (check_listen(cf, errs, &srv->listens[j], label) != WEIR_OK) {
                rc = WEIR_ERROR;
            }
        }
    }
    for (j = 0; cf->has_admin && j < cf->admin.nlistens; j++) {
        if (check_listen(cf, errs, &cf->admin.listens[j], "[admin]")
            != WEIR_OK) {
            rc = WEIR_ERROR;
        }
    }
    return rc;
}

static int
check_user(const weir_config_t *cf, weir_config_errors_t *errs)
{
    int rc = WEIR_OK;

    errno = 0;
    if (cf->main.user && getpwnam(cf->main.user) == NULL) {
        weir_config_report(cf, errs, 0, &cf->main, "[main]", "user",
                           "no such user \"%s\"%s%s", cf->main.user,
                           errno ? ": " : "", errno ? strerror(errno) : "");
        rc = WEIR_ERROR;
    }
    errno = 0;
    if (cf->main.group && getgrnam(cf->main.group) == NULL) {
        weir_config_report(cf, errs, 0, &cf->main, "[main]", "group",
                           "no such group \"%s\"%s%s", cf->main.group,
                           errno ? ": " : "", errno ? strerror(errno) : "");
        rc = WEIR_ERROR;
    }
    return rc;
}

/* The file at path can be opened for writing, or created. */
static int
check_writable(const weir_config_t *cf, weir_config_errors_t *errs,
    const void *obj, const char *section, const char *key, const char *path)
{
    char        dir[PATH_MAX];
    const char *slash;
    struct stat st;
    size_t      n;

    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            weir_config_report(cf, errs, 0, obj, section, key,
                               "\"%s\" is a directory", path);
            return WEIR_ERROR;
        }
        if (access(path, W_OK) < 0) {
            weir_config_report(cf, errs, 0, obj, section, key,
                               "cannot write \"%s\": %s", path,
                               strerror(errno));
            return WEIR_ERROR;
        }
        return WEIR_OK;
    }
    /* Paths in the configuration are absolute (made so under the
     * prefix); "." only guards a path without any slash. */
    slash = strrchr(path, '/');
    n = slash == NULL ? 0 : slash == path ? 1 : (size_t) (slash - path);
    if (n >= sizeof(dir)) {
        weir_config_report(cf, errs, 0, obj, section, key,
                           "path too long: \"%s\"", path);
        return WEIR_ERROR;
    }
    if (n == 0) {
        memcpy(dir, ".", 2);
    } else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    if (stat(dir, &st) < 0) {
        weir_config_report(cf, errs, 0, obj, section, key,
                           "cannot create \"%s\": directory \"%s\": %s", path,
                           dir, strerror(errno));
        return WEIR_ERROR;
    }
    if (!S_ISDIR(st.st_mode)) {
        weir_config_report(cf, errs, 0, obj, section, key,
                           "cannot create \"%s\": \"%s\" is not a directory",
                           path, dir);
        return WEIR_ERROR;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        weir_config_report(cf, errs, 0, obj, section, key,
                           "cannot create \"%s\" in \"%s\": %s", path, dir,
                           strerror(errno));
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

static int
check_listen(const weir_config_t *cf, weir_config_errors_t *errs,
    const weir_listen_conf_t *l, const char *section)
{
    int         fd, on = 1, e;
    const char *why;

    fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        weir_config_report(cf, errs, l->line, NULL, section, "listen",
                           "%s: socket() failed: %s", l->text,
                           strerror(errno));
        return WEIR_ERROR;
    }
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *) &l->addr, l->addrlen) == 0) {
        close(fd);
        return WEIR_OK;
    }
    e = errno;
    close(fd);
    why = e == EADDRNOTAVAIL ? " (not an address of this host)"
        : e == EADDRINUSE ? " (held by another program)"
        : e == EACCES ? " (a port below 1024 needs root or "
                        "CAP_NET_BIND_SERVICE)"
        : "";
    weir_config_report(cf, errs, l->line, NULL, section, "listen",
                       "cannot bind %s: %s%s", l->text, strerror(e), why);
    return WEIR_ERROR;
}
