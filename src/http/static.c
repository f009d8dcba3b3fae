#include "weir_config.h"
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "core/core.h"
#include "core/wtime.h"
#include "http/cond.h"
#include "http/mime.h"

/*
 * Confinement to the root is the kernel's job where it can do it:
 * openat2(RESOLVE_BENEATH) resolves every component, symlinks included,
 * relative to the root fd and fails with EXDEV the moment a step would
 * leave it, with no race between checking and opening. Kernels before 5.6
 * (or seccomp filters that hide the syscall) get realpath() and a prefix
 * check instead; that has a window in which a symlink swapped by someone
 * who can write under root could be followed, which is why it is only the
 * fallback.
 */

/* -1: not probed yet, 0: use openat2, 1: use the realpath fallback */
static int  static_fallback = -1;

static void init_res(weir_static_res_t *res);
static int use_fallback(void);
static int open_beneath(int rootfd, const char *root, const char *rel,
    int *fd);
static int open_openat2(int rootfd, const char *rel, int *fd);
static int resolve_beneath(const char *root, const char *rel, char *out,
    size_t size, size_t *sub);
static int open_file(const weir_static_req_t *req, int rootfd,
    const char *rel, size_t rel_len, weir_static_res_t *res,
    const char **name, struct stat *st);
static int open_index(const weir_static_req_t *req, int rootfd,
    char *rel, size_t rel_len, weir_static_res_t *res, const char **name,
    struct stat *st);
static void open_gz(const weir_static_req_t *req, int rootfd,
    const char *rel, weir_static_res_t *res, struct stat *st);
static void decide(const weir_static_req_t *req, weir_static_res_t *res);
static void fail(weir_static_res_t *res, int status, int err);
static int errno_status(int err);


int
weir_static_open(const weir_static_req_t *req, weir_static_res_t *res)
{
    struct stat   st;
    const char   *name;
    char          rel[PATH_MAX];
    size_t        rel_len;
    int           rootfd, rc;

    if (req == NULL || res == NULL) {
        return WEIR_ERROR;
    }

    init_res(res);

    if (req->root == NULL || req->root[0] != '/' || req->path == NULL
        || req->path_len == 0 || req->path[0] != '/'
        || (req->nindex > 0 && req->index == NULL))
    {
        return WEIR_ERROR;
    }

    if (!req->method_get_or_head) {
        res->status = 405;
        return WEIR_OK;
    }

    /* A NUL inside the path would silently truncate it at the syscall. */
    if (memchr(req->path, '\0', req->path_len) != NULL) {
        fail(res, 404, EINVAL);
        return WEIR_OK;
    }

    /* rel is the path under root ("" for the root itself) */
    rel_len = req->path_len - 1;
    if (rel_len >= sizeof(rel)) {
        fail(res, 404, ENAMETOOLONG);
        return WEIR_OK;
    }
    memcpy(rel, req->path + 1, rel_len);
    rel[rel_len] = '\0';

    (void) use_fallback();

    /* the fallback does not need the fd, but opening it here gives both
     * backends one answer for a broken root: a configuration problem */
    rootfd = open(req->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd == -1) {
        fail(res, 500, errno);
        return WEIR_OK;
    }

    rc = open_file(req, rootfd, rel, rel_len, res, &name, &st);

    if (rc == WEIR_OK && S_ISDIR(st.st_mode)) {
        close(res->fd);
        res->fd = -1;

        if (req->path[req->path_len - 1] != '/') {
            res->status = 301;
            res->redirect_slash = 1;
            rc = WEIR_DONE;

        } else {
            rc = open_index(req, rootfd, rel, rel_len, res, &name, &st);
        }
    }

    if (rc == WEIR_OK && !S_ISREG(st.st_mode)) {
        /* fifos, sockets, devices: nothing a web root should publish */
        fail(res, 404, 0);
        rc = WEIR_DONE;
    }

    if (rc == WEIR_OK && req->gz != WEIR_STATIC_GZ_NONE) {
        /* rel now names the file itself, the index included */
        open_gz(req, rootfd, rel, res, &st);
    }

    close(rootfd);

    if (rc != WEIR_OK) {
        return WEIR_OK;     /* res already holds the decision */
    }

    res->file_size = st.st_size;
    res->mtime = st.st_mtim.tv_sec;
    snprintf(res->etag, sizeof(res->etag), "\"%llx-%llx\"",
             (unsigned long long) res->mtime,
             (unsigned long long) res->file_size);
    res->content_type = weir_mime_type(req->mime, name, strlen(name));

    decide(req, res);

    return WEIR_OK;
}


void
weir_static_set_fallback(int on)
{
    static_fallback = on ? 1 : 0;
}


static void
init_res(weir_static_res_t *res)
{
    memset(res, 0, sizeof(*res));
    res->fd = -1;
    res->content_type = NULL;
}


/* Decided once per process: WEIR_NO_OPENAT2 forces the fallback, else a
 * harmless openat2() of "/" tells whether the kernel (and any seccomp
 * filter, which may answer EPERM rather than ENOSYS) lets us use it. */
static int
use_fallback(void)
{
    struct open_how  how;
    const char      *env;
    long             fd;

    if (static_fallback != -1) {
        return static_fallback;
    }

    env = getenv("WEIR_NO_OPENAT2");
    if (env != NULL && env[0] != '\0' && strcmp(env, "0") != 0) {
        static_fallback = 1;
        return 1;
    }

    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;

    fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
    if (fd >= 0) {
        close((int) fd);
        static_fallback = 0;

    } else {
        static_fallback = (errno == ENOSYS || errno == EPERM) ? 1 : 0;
    }

    return static_fallback;
}


/* Open rel beneath root: WEIR_OK with *fd, or an errno value (EXDEV when
 * the path would leave root). */
static int
open_beneath(int rootfd, const char *root, const char *rel, int *fd)
{
    char    canon[PATH_MAX];
    size_t  sub;
    int     err;

    if (static_fallback == 1) {
        err = resolve_beneath(root, rel, canon, sizeof(canon), &sub);
        if (err != WEIR_OK) {
            return err;
        }

        /* canon holds no symlinks any more; O_NOFOLLOW refuses a final
         * component swapped for one since */
        *fd = open(canon, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
                          | O_NOFOLLOW);
        return *fd == -1 ? errno : WEIR_OK;
    }

    err = open_openat2(rootfd, rel, fd);

    if (err == EXDEV) {
        /* RESOLVE_BENEATH rejects every absolute symlink, even one that
         * points back inside root. Resolve the path by hand and, when it
         * stays inside, open the canonical remainder beneath rootfd again:
         * whatever changes meanwhile, the kernel still confines the open. */
        if (resolve_beneath(root, rel, canon, sizeof(canon), &sub)
            != WEIR_OK)
        {
            return EXDEV;
        }
        return open_openat2(rootfd, canon + sub, fd);
    }

    if (err == ENOSYS) {
        /* the probe said yes but this call says no (a seccomp change or a
         * checkpoint/restore onto an older kernel): switch for good */
        static_fallback = 1;
        return open_beneath(rootfd, root, rel, fd);
    }

    return err;
}


static int
open_openat2(int rootfd, const char *rel, int *fd)
{
    struct open_how  how;
    long             rc;

    memset(&how, 0, sizeof(how));
    /* O_NONBLOCK so a fifo or a tty does not hang the worker in open();
     * O_NOCTTY so a tty device never becomes our terminal */
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

    do {
        rc = syscall(SYS_openat2, rootfd, rel[0] != '\0' ? rel : ".", &how,
                     sizeof(how));
    } while (rc == -1 && errno == EINTR);

    if (rc == -1) {
        return errno;
    }

    *fd = (int) rc;

    return WEIR_OK;
}


/* realpath() of root/rel, checked to lie inside realpath(root): out gets
 * the absolute canonical path and *sub the offset in it of the part under
 * root ("" for root itself). WEIR_OK, or an errno value (EXDEV outside). */
static int
resolve_beneath(const char *root, const char *rel, char *out, size_t size,
    size_t *sub)
{
    char    full[PATH_MAX], rroot[PATH_MAX], resolved[PATH_MAX];
    size_t  rlen;
    int     n;

    if (realpath(root, rroot) == NULL) {
        return errno;
    }

    n = snprintf(full, sizeof(full), "%s/%s", rroot, rel);
    if (n < 0 || (size_t) n >= sizeof(full)) {
        return ENAMETOOLONG;
    }

    if (realpath(full, resolved) == NULL) {
        return errno;
    }

    rlen = strlen(rroot);
    if (rlen == 1) {
        rlen = 0;           /* root "/": every absolute path is beneath */
    }

    if (strncmp(resolved, rroot, rlen) != 0
        || (resolved[rlen] != '/' && resolved[rlen] != '\0'))
    {
        return EXDEV;
    }

    if (strlen(resolved) >= size) {
        return ENAMETOOLONG;
    }

    strcpy(out, resolved);

    *sub = rlen;
    while (out[*sub] == '/') {
        (*sub)++;
    }

    return WEIR_OK;
}


/* Open the requested path and fstat it. WEIR_OK with res->fd and *st, or
 * WEIR_DONE with res->status set. */
static int
open_file(const weir_static_req_t *req, int rootfd, const char *rel,
    size_t rel_len, weir_static_res_t *res, const char **name,
    struct stat *st)
{
    const char  *p;
    int          err, fd;

    err = open_beneath(rootfd, req->root, rel, &fd);
    if (err != WEIR_OK) {
        fail(res, errno_status(err), err);
        return WEIR_DONE;
    }

    if (fstat(fd, st) == -1) {
        err = errno;
        close(fd);
        fail(res, 500, err);
        return WEIR_DONE;
    }

    res->fd = fd;

    p = memrchr(rel, '/', rel_len);
    *name = p != NULL ? p + 1 : rel;

    return WEIR_OK;
}


/* The directory rel (ending in '/', or "" for the root) is served through
 * its first index file that exists and is a regular file; a missing or
 * unusable index is not an error, only the lack of every one is (403,
 * since there is no directory listing). rel is reused as scratch. */
static int
open_index(const weir_static_req_t *req, int rootfd, char *rel,
    size_t rel_len, weir_static_res_t *res, const char **name,
    struct stat *st)
{
    size_t  i, len;
    int     err, fd;

    for (i = 0; i < req->nindex; i++) {
        const char  *idx = req->index[i];

        if (idx == NULL || idx[0] == '\0' || idx[0] == '/') {
            continue;
        }

        len = strlen(idx);
        if (rel_len + len >= PATH_MAX) {
            continue;
        }
        memcpy(rel + rel_len, idx, len + 1);

        err = open_beneath(rootfd, req->root, rel, &fd);

        if (err == WEIR_OK) {
            if (fstat(fd, st) == 0 && S_ISREG(st->st_mode)) {
                res->fd = fd;
                *name = rel + rel_len;
                return WEIR_OK;
            }
            close(fd);
            continue;
        }

        /* an index we may not read is worth reporting over "none" */
        if (err != ENOENT && err != ENOTDIR && err != EXDEV && err != ELOOP) {
            rel[rel_len] = '\0';
            fail(res, errno_status(err), err);
            return WEIR_DONE;
        }
    }

    rel[rel_len] = '\0';
    fail(res, 403, ENOENT);

    return WEIR_DONE;
}


/*
 * gzip_static: FILE.gz beside the file rel, confined beneath root like
 * any other open (a symlink may point at another file inside root, never
 * outside). Only a regular file is usable: a directory, fifo or dangling
 * link named FILE.gz is as good as none, and so is one we may not open,
 * whose errno goes to res->gz_err for the log. Serving it swaps res->fd
 * and *st for the .gz's, so every validator and range that follows is
 * the .gz's. Nothing here can fail the request: FILE is still open.
 */
static void
open_gz(const weir_static_req_t *req, int rootfd, const char *rel,
    weir_static_res_t *res, struct stat *st)
{
    char         gz[PATH_MAX];
    struct stat  gst;
    size_t       len = strlen(rel);
    int          err, fd;

    if (len == 0 || len + sizeof(".gz") > sizeof(gz)) {
        return;
    }
    memcpy(gz, rel, len);
    memcpy(gz + len, ".gz", sizeof(".gz"));

    err = open_beneath(rootfd, req->root, gz, &fd);
    if (err != WEIR_OK) {
        if (err != ENOENT && err != ENOTDIR && err != EXDEV && err != ELOOP
            && err != ENAMETOOLONG)
        {
            res->gz_err = err;
        }
        return;
    }

    if (fstat(fd, &gst) == -1 || !S_ISREG(gst.st_mode)) {
        close(fd);
        return;
    }

    if (req->gz == WEIR_STATIC_GZ_PROBE) {
        close(fd);
        res->gz = 1;
        return;
    }

    close(res->fd);
    res->fd = fd;
    *st = gst;
    res->gz = 2;
}


/* The file is open and stat'ed: the conditionals and Range decide
 * (http/cond.c, shared with every response that has validators). */
static void
decide(const weir_static_req_t *req, weir_static_res_t *res)
{
    weir_http_rep_t      rep;
    weir_http_cond_res_t out;

    rep.etag = res->etag;
    rep.mtime = res->mtime;
    rep.size = res->file_size;
    weir_http_cond_eval(&req->cond, &rep, &out);
    res->status = out.status;
    res->offset = out.offset;
    res->length = out.length;
    if (out.status == 412) {
        fail(res, 412, 0);
    } else if (out.status == 304 || out.status == 416) {
        close(res->fd);
        res->fd = -1;
    }
}


static void
fail(weir_static_res_t *res, int status, int err)
{
    if (res->fd != -1) {
        close(res->fd);
        res->fd = -1;
    }

    res->status = status;
    res->err = err;
    res->offset = 0;
    res->length = 0;
}


/* Escapes from root (EXDEV) and link loops look like missing files: a
 * client learns nothing about what lies outside. */
static int
errno_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:
    case ELOOP:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    default:
        return 500;
    }
}
