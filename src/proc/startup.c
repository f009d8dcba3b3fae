#include "weir_config.h"
#include "proc/startup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"

/* The line that ends a successful start on the report pipe. */
#define STARTUP_OK "ok"

/* The daemon's end of the report (-1: none, or done). */
static int report_fd = -1;

static int await_daemon(int fd);
static int relay_line(const char *line, void *data);

int
weir_startup_daemonize(void)
{
    int fds[2], fd;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno, "pipe2() failed");
        return WEIR_ERROR;
    }
    switch (fork()) {
    case -1:
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno, "fork() failed");
        close(fds[0]);
        close(fds[1]);
        return WEIR_ERROR;
    case 0:
        close(fds[0]);
        report_fd = fds[1];
        weir_startup_tee();     /* stderr goes to /dev/null below */
        break;
    default:
        close(fds[1]);
        _exit(await_daemon(fds[0]));
    }
    if (setsid() < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno, "setsid() failed");
        return WEIR_ERROR;
    }
    umask(022);
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        /* stderr too once the error log is a file of its own. */
        if (weir_errlog.file->fd != STDERR_FILENO) {
            dup2(fd, STDERR_FILENO);
        }
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    return WEIR_OK;
}

/* In the process that started the daemon: relay the report. The exit
 * status of the command. */
static int
await_daemon(int fd)
{
    int said = 0;

    if (weir_startup_read_lines(fd, -1, relay_line, &said) == WEIR_OK) {
        return 0;
    }
    if (!said) {
        fprintf(stderr, "weir: the master exited during start-up; see the "
                "error log\n");
    }
    return 1;
}

static int
relay_line(const char *line, void *data)
{
    weir_log_line_t l;

    if (strcmp(line, STARTUP_OK) == 0) {
        return WEIR_DONE;
    }
    /* The time and the pid mean nothing on a terminal: "weir: [emerg]
     * text", as a foreground start would say it. */
    if (weir_log_line_parse(line, &l) == WEIR_OK) {
        fprintf(stderr, "weir: [%.*s] %s\n", l.levellen, l.level, l.text);
    } else {
        fprintf(stderr, "weir: %s\n", line);
    }
    *(int *) data = 1;
    return WEIR_OK;
}

void
weir_startup_tee(void)
{
    weir_log_tee(report_fd >= 0 ? report_fd : STDERR_FILENO, WEIR_LOG_ERR);
}

void
weir_startup_done(int ok)
{
    static const char line[] = STARTUP_OK "\n";
    ssize_t           w;

    weir_log_tee(-1, 0);
    if (report_fd < 0) {
        return;
    }
    if (ok) {
        do {
            w = write(report_fd, line, sizeof(line) - 1);
        } while (w < 0 && errno == EINTR);
    }
    close(report_fd);
    report_fd = -1;
}

void
weir_startup_forget(void)
{
    if (report_fd >= 0) {
        close(report_fd);
        report_fd = -1;
    }
}

int
weir_startup_read_lines(int fd, int timeout_ms, weir_startup_line_pt fn,
    void *data)
{
    char          buf[8192], *line, *nl;
    size_t        have = 0;
    ssize_t       n;
    int           left = -1, rc;
    weir_msec_t   deadline;
    struct pollfd pfd;

    weir_time_update();
    deadline = weir_current_msec + (weir_msec_t) (timeout_ms > 0 ? timeout_ms
                                                                 : 0);
    for (;;) {
        if (timeout_ms >= 0) {
            weir_time_update();
            if (weir_current_msec >= deadline) {
                return WEIR_AGAIN;
            }
            left = (int) (deadline - weir_current_msec);
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, left);
        if (rc < 0 && errno != EINTR) {
            return WEIR_ERROR;
        }
        if (rc <= 0) {
            continue;               /* the deadline is checked above */
        }
        n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            return WEIR_ERROR;
        }
        if (n == 0) {
            return WEIR_DECLINED;
        }
        have += (size_t) n;
        buf[have] = '\0';
        line = buf;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            if (fn(line, data) == WEIR_DONE) {
                return WEIR_OK;
            }
            line = nl + 1;
        }
        have = strlen(line);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1) {
            have = 0;             /* a line this long: drop it */
        }
    }
}
