#include "weir_config.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/wtime.h"

#define WEIR_LOG_LINE_MAX 4096

static weir_log_file_t stderr_file = { STDERR_FILENO, NULL };

weir_log_t weir_errlog = { WEIR_LOG_NOTICE, &stderr_file, 0, NULL, NULL,
                           NULL };
int weir_log_slot = -1;

static int tee_fd = -1;
static int tee_level;

static const char *level_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

int
weir_log_level_parse(const char *name)
{
    size_t i;

    for (i = 0; i < weir_nelems(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return (int) i;
        }
    }
    return -1;
}

const char *
weir_log_level_name(int level)
{
    if (level < 0 || level >= (int) weir_nelems(level_names)) {
        return "?";
    }
    return level_names[level];
}

/* One write() per line: O_APPEND makes whole lines from several processes
 * interleave cleanly. */
void
weir_log_write(int level, weir_log_t *log, int err, const char *fmt, ...)
{
    char     line[WEIR_LOG_LINE_MAX];
    size_t   n, cap = sizeof(line) - 1;
    int      rc;
    va_list  ap;
    ssize_t  w;

    rc = snprintf(line, cap, "%s [%s] %d#%d: ", weir_cached_errlog_time,
                  weir_log_level_name(level), (int) getpid(), weir_log_slot);
    n = rc > 0 ? weir_min((size_t) rc, cap) : 0;
    if (log->connection && n < cap) {
        rc = snprintf(line + n, cap - n, "*%llu ",
                      (unsigned long long) log->connection);
        n += rc > 0 ? weir_min((size_t) rc, cap - n) : 0;
    }
    va_start(ap, fmt);
    rc = vsnprintf(line + n, cap - n, fmt, ap);
    va_end(ap);
    n += rc > 0 ? weir_min((size_t) rc, cap - n) : 0;
    if (err && n < cap) {
        rc = snprintf(line + n, cap - n, ": %s", strerror(err));
        n += rc > 0 ? weir_min((size_t) rc, cap - n) : 0;
    }
    if (log->action && n < cap) {
        rc = snprintf(line + n, cap - n, " while %s", log->action);
        n += rc > 0 ? weir_min((size_t) rc, cap - n) : 0;
    }
    if (log->handler && n < cap) {
        n += log->handler(log, line + n, cap - n);
    }
    if (n > cap) {
        n = cap;
    }
    line[n++] = '\n';
    do {
        w = write(log->file->fd, line, n);
    } while (w < 0 && errno == EINTR);
    if (tee_fd >= 0 && tee_fd != log->file->fd && level <= tee_level) {
        do {
            w = write(tee_fd, line, n);
        } while (w < 0 && errno == EINTR);
    }
}

void
weir_log_tee(int fd, int level)
{
    tee_fd = fd;
    tee_level = level;
}

int
weir_log_line_parse(const char *line, weir_log_line_t *l)
{
    const char *lb, *rb, *colon;
    char       *end;

    /* "TIME [level] PID#SLOT: text": the time holds no space. */
    lb = strstr(line, " [");
    if (lb == NULL) {
        return WEIR_ERROR;
    }
    rb = strchr(lb + 2, ']');
    if (rb == NULL || rb[1] != ' ') {
        return WEIR_ERROR;
    }
    l->pid = strtol(rb + 2, &end, 10);
    colon = strstr(rb + 2, ": ");
    if (end == rb + 2 || *end != '#' || colon == NULL) {
        return WEIR_ERROR;
    }
    l->level = lb + 2;
    l->levellen = (int) (rb - lb - 2);
    l->text = colon + 2;
    return WEIR_OK;
}

int
weir_log_file_open(weir_log_file_t *f, const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        return -1;
    }
    f->fd = fd;
    f->path = strdup(path);
    if (f->path == NULL) {
        close(fd);
        f->fd = -1;
        return -1;
    }
    return 0;
}

int
weir_log_file_reopen(weir_log_file_t *f)
{
    int fd;

    if (f->path == NULL) {
        return 0;
    }
    fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -1;
    }
    /* dup3 keeps the descriptor number, so nobody holds a stale copy. */
    if (dup3(fd, f->fd, O_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    return 0;
}
