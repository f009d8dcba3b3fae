#include "weir_config.h"
#include "proc/logfiles.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>
#include "core/log.h"

int
weir_logfiles_open(const weir_config_t *cf, weir_log_file_t *el, weir_log_file_t *al)
{
    el->fd = -1;
    el->path = NULL;
    al->fd = -1;
    al->path = NULL;
    if (cf->main.error_log && weir_log_file_open(el, cf->main.error_log) < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "cannot open error log \"%s\"", cf->main.error_log);
        return WEIR_ERROR;
    }
    if (cf->http.access_log
        && weir_log_file_open(al, cf->http.access_log) < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "cannot open access log \"%s\"", cf->http.access_log);
        if (el->fd >= 0) {
            close(el->fd);
            free(el->path);
            el->fd = -1;
        }
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

void
weir_logfiles_close(weir_log_file_t *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->path);
    f->fd = -1;
    f->path = NULL;
}

void
weir_logfiles_chown(const weir_config_t *cf, weir_log_file_t *el,
    weir_log_file_t *al)
{
    struct passwd *pw;

    if (geteuid() != 0 || cf->main.user == NULL) {
        return;
    }
    pw = getpwnam(cf->main.user);
    if (pw == NULL) {
        return;
    }
    if (el->fd >= 0 && fchown(el->fd, pw->pw_uid, (gid_t) -1) < 0) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, errno, "fchown() failed");
    }
    if (al->fd >= 0 && fchown(al->fd, pw->pw_uid, (gid_t) -1) < 0) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, errno, "fchown() failed");
    }
}


void
weir_logfiles_reopen(weir_log_file_t *el, weir_log_file_t *al)
{
    if (el->fd >= 0 && weir_log_file_reopen(el) < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "cannot reopen \"%s\"", el->path);
    }
    if (al->fd >= 0 && weir_log_file_reopen(al) < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "cannot reopen \"%s\"", al->path);
    }
}
