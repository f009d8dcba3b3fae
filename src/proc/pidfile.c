#include "weir_config.h"
#include "proc/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/log.h"
#include "proc/master.h"

int
weir_pidfile_write(const char *path)
{
    char buf[32];
    int  fd, n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "cannot write pid file \"%s\"", path);
        return WEIR_ERROR;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    if (write(fd, buf, (size_t) n) != n) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "cannot write pid file \"%s\"", path);
        close(fd);
        return WEIR_ERROR;
    }
    close(fd);
    return WEIR_OK;
}

void
weir_pidfile_remove(const char *path)
{
    char err[256];

    /* Only our own: a newer master may have written it meanwhile. */
    if (path && weir_master_pid_read(path, err, sizeof(err)) == getpid()) {
        unlink(path);
    }
}

long
weir_master_pid_read(const char *path, char *err, size_t errlen)
{
    char    buf[32];
    ssize_t n;
    long    pid;
    int     fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open pid file \"%s\": %s", path,
                 strerror(errno));
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        snprintf(err, errlen, "pid file \"%s\" is empty", path);
        return 0;
    }
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    if (pid <= 0) {
        snprintf(err, errlen, "invalid pid in \"%s\"", path);
        return 0;
    }
    if (kill((pid_t) pid, 0) < 0 && errno == ESRCH) {
        snprintf(err, errlen, "stale pid file \"%s\": process %ld is not "
                 "running", path, pid);
        return 0;
    }
    return pid;
}

