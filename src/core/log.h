/*
 * Error log: level-filtered lines of the form
 *   2026-11-22T10:30:45.123Z [error] 1234#0: *42 message: strerror, context
 * The level is checked before any argument is evaluated. A log may carry a
 * context handler (set by the connection/request) that appends ", client:
 * ..., request: ..." so every line says what the connection was doing.
 */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include <stddef.h>
#include "core/core.h"

enum weir_log_level {
    WEIR_LOG_EMERG = 0,
    WEIR_LOG_ALERT,
    WEIR_LOG_CRIT,
    WEIR_LOG_ERR,
    WEIR_LOG_WARN,
    WEIR_LOG_NOTICE,
    WEIR_LOG_INFO,
    WEIR_LOG_DEBUG
};

typedef struct weir_log_s weir_log_t;

/* Appends context to buf (at most len bytes); returns bytes written. */
typedef size_t (*weir_log_handler_pt)(weir_log_t *log, char *buf, size_t len);

/* An open log file, shared by every weir_log_t that writes to it. */
typedef struct weir_log_file_s {
    int         fd;
    char       *path;    /* NULL means stderr */
} weir_log_file_t;

struct weir_log_s {
    int                  level;
    weir_log_file_t     *file;
    uint64_t             connection;  /* "*N" prefix when non-zero */
    const char          *action;      /* "while reading client request" */
    weir_log_handler_pt  handler;
    void                *data;        /* for the handler */
};

/* The process-wide error log. Before the config is read it writes to
 * stderr at level notice. */
extern weir_log_t weir_errlog;
/* "#N" in each line: worker slot, or -1 for master and helpers. */
extern int weir_log_slot;

#define weir_log_error(lvl, log, err, ...)                                  \
    do {                                                                    \
        if ((log)->level >= (lvl))                                          \
            weir_log_write((lvl), (log), (err), __VA_ARGS__);               \
    } while (0)

#ifdef WEIR_DEBUG
#define weir_log_debug(log, ...) \
    weir_log_error(WEIR_LOG_DEBUG, (log), 0, __VA_ARGS__)
#else
#define weir_log_debug(log, ...) do { (void) (log); } while (0)
#endif

void weir_log_write(int level, weir_log_t *log, int err, const char *fmt, ...)
    WEIR_PRINTF(4, 5);

/* Parse "debug" ... "emerg"; -1 if unknown. */
int weir_log_level_parse(const char *name);
const char *weir_log_level_name(int level);

/* Also copy every line at `level` or more severe to fd (-1: stop). For
 * start-up, when the file is not where the operator looks: the master
 * copies its errors to the terminal (or to the process that started the
 * daemon), a starting worker to the master. Per process; a forked child
 * inherits the setting. */
void weir_log_tee(int fd, int level);

/* The parts of a line weir_log_write wrote (without its newline). */
typedef struct weir_log_line_s {
    const char *level;      /* "emerg", not terminated: levellen bytes */
    int         levellen;
    long        pid;
    const char *text;       /* after "PID#SLOT: " */
} weir_log_line_t;

/* Split line; WEIR_ERROR when it does not have the form above. For
 * relaying a log line where its time and pid mean nothing (a terminal). */
int weir_log_line_parse(const char *line, weir_log_line_t *l);

/* Open (O_APPEND|O_CREAT) the file at path; fills f. 0 or -1 with errno. */
int weir_log_file_open(weir_log_file_t *f, const char *path);

/* Reopen after logrotate moved the file: open the path anew and dup2()
 * over the old fd so writers keep their descriptor. 0 or -1. */
int weir_log_file_reopen(weir_log_file_t *f);

#endif /* WEIR_LOG_H */
