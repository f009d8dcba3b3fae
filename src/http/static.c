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

#define WEIR_OFF_MAX  ((off_t) INT64_MAX)

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
static void decide(const weir_static_req_t *req, weir_static_res_t *res);
static int precondition_failed(const weir_static_req_t *req,
    const weir_static_res_t *res);
static int not_modified(const weir_static_req_t *req,
    const weir_static_res_t *res);
static int etag_list_match(const char *p, size_t len, const char *etag,
    int strong);
static int if_range_ok(const weir_static_req_t *req,
    const weir_static_res_t *res);
static int parse_range(const char *p, size_t len, off_t size, off_t *start,
    off_t *count);
static const char *parse_pos(const char *p, const char *end, off_t *v);
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

    close(rootfd);

    if (rc != WEIR_OK) {
        return WEIR_OK;     /* res already holds the decision */
    }

    if (!S_ISREG(st.st_mode)) {
        /* fifos, sockets, devices: nothing a web root should publish */
        fail(res, 404, 0);
        return WEIR_OK;
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


/* The file is open and stat'ed: conditionals first (RFC 9110 13.2.2),
 * then Range. */
static void
decide(const weir_static_req_t *req, weir_static_res_t *res)
{
    off_t  start, count;

    res->status = 200;
    res->offset = 0;
    res->length = res->file_size;

    if (precondition_failed(req, res)) {
        fail(res, 412, 0);
        return;
    }

    if (not_modified(req, res)) {
        close(res->fd);
        res->fd = -1;
        res->status = 304;
        res->length = 0;
        return;
    }

    if (req->range == NULL || !if_range_ok(req, res)) {
        return;
    }

    switch (parse_range(req->range, req->range_len, res->file_size,
                        &start, &count))
    {
    case 206:
        res->status = 206;
        res->offset = start;
        res->length = count;
        return;

    case 416:
        close(res->fd);
        res->fd = -1;
        res->status = 416;
        res->length = 0;
        return;

    default:
        return;     /* ignored: the whole representation */
    }
}


/* RFC 9110 13.2.2 steps 1 and 2: If-Match wins over If-Unmodified-Since;
 * either turns the answer into a 412 when the client's copy is no longer
 * the current one (a client resuming or assembling a file from pieces
 * must not mix two versions). */
static int
precondition_failed(const weir_static_req_t *req,
    const weir_static_res_t *res)
{
    time_t  t;

    if (req->if_match != NULL) {
        /* strong comparison (13.1.1): a weak tag promises no byte-for-byte
         * equality; a malformed list fails too, as a 412 is safer than
         * sending what the client said it did not want */
        return !etag_list_match(req->if_match, req->if_match_len, res->etag,
                                1);
    }

    if (req->if_unmodified_since != NULL) {
        t = weir_time_parse_http(req->if_unmodified_since,
                                 req->if_unmodified_since_len);
        /* an invalid date (a list of dates too) is ignored, 13.1.4 */
        return t != (time_t) -1 && res->mtime > t;
    }

    return 0;
}


/* If-None-Match wins over If-Modified-Since; either only ever turns a
 * 200 into a 304 (the methods here are GET and HEAD). */
static int
not_modified(const weir_static_req_t *req, const weir_static_res_t *res)
{
    time_t  t;

    if (req->if_none_match != NULL) {
        return etag_list_match(req->if_none_match, req->if_none_match_len,
                               res->etag, 0);
    }

    if (req->if_modified_since != NULL) {
        t = weir_time_parse_http(req->if_modified_since,
                                 req->if_modified_since_len);
        /* an invalid date is ignored, as RFC 9110 13.1.3 requires */
        return t != (time_t) -1 && res->mtime <= t;
    }

    return 0;
}


/* "*" or a list of entity tags. The weak comparison (If-None-Match)
 * ignores the W/ prefix; the strong one (If-Match) never matches a weak
 * member, but goes on to the next. A malformed member ends the scan
 * without a match so garbage never produces a 304 (nor passes an
 * If-Match). etag is ours, always strong. */
static int
etag_list_match(const char *p, size_t len, const char *etag, int strong)
{
    const char  *end = p + len, *q;
    size_t       elen = strlen(etag);
    int          weak;

    for ( ;; ) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p == end) {
            return 0;
        }

        if (*p == '*') {
            return 1;
        }

        weak = 0;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
            weak = 1;
        }

        if (p == end || *p != '"') {
            return 0;
        }

        q = memchr(p + 1, '"', (size_t) (end - p - 1));
        if (q == NULL) {
            return 0;
        }

        if (!(weak && strong)
            && (size_t) (q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
        {
            return 1;
        }

        p = q + 1;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < end && *p != ',') {
            return 0;
        }
    }
}


/* No If-Range, or one that still describes this file: strong comparison
 * for an entity tag (a weak one never matches), exact equality for a
 * date. */
static int
if_range_ok(const weir_static_req_t *req, const weir_static_res_t *res)
{
    const char  *p = req->if_range, *end;
    size_t       elen;
    time_t       t;

    if (p == NULL) {
        return 1;
    }

    end = p + req->if_range_len;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (p == end) {
        return 0;
    }

    if (*p == '"' || (end - p >= 2 && p[0] == 'W' && p[1] == '/')) {
        elen = strlen(res->etag);
        return (size_t) (end - p) == elen && memcmp(p, res->etag, elen) == 0;
    }

    t = weir_time_parse_http(p, (size_t) (end - p));

    return t != (time_t) -1 && t == res->mtime;
}


/* A single byte range: 206 with *start and *count, 416 when unsatisfiable,
 * 0 to serve the whole file (absent, invalid, several ranges: multipart/
 * byteranges is not supported, and a 200 is always a correct answer). */
static int
parse_range(const char *p, size_t len, off_t size, off_t *start,
    off_t *count)
{
    const char  *end = p + len;
    off_t        first, last;
    int          suffix, n;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0) {
        return 0;
    }
    p += 6;

    first = 0;
    last = -1;
    suffix = 0;
    n = 0;

    /* walk the whole set so that a syntax error anywhere ignores it */
    for ( ;; ) {
        off_t  f = 0, l = -1;
        int    s = 0;

        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p == end) {
            break;
        }

        if (*p == '-') {
            s = 1;
            p = parse_pos(p + 1, end, &l);
            if (p == NULL) {
                return 0;
            }

        } else {
            p = parse_pos(p, end, &f);
            if (p == NULL || p == end || *p != '-') {
                return 0;
            }
            p++;
            if (p < end && *p >= '0' && *p <= '9') {
                p = parse_pos(p, end, &l);
                if (p == NULL || l < f) {
                    return 0;
                }
            }
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < end && *p != ',') {
            return 0;
        }

        if (n++ == 0) {
            first = f;
            last = l;
            suffix = s;
        }
    }

    if (n != 1) {
        return 0;
    }

    if (suffix) {
        if (last == 0) {
            return 416;
        }
        if (size == 0) {
            /* RFC 9110 14.1.3 calls this satisfiable, but a 206 for zero
             * bytes has no valid Content-Range: send the empty 200 */
            return 0;
        }
        *count = weir_min(last, size);
        *start = size - *count;
        return 206;
    }

    if (first >= size) {
        return 416;
    }

    if (last == -1 || last >= size) {
        last = size - 1;
    }

    *start = first;
    *count = last - first + 1;

    return 206;
}


/* Decimal digits to an off_t that saturates instead of overflowing (a
 * huge position is then simply past the end). NULL when no digit. */
static const char *
parse_pos(const char *p, const char *end, off_t *v)
{
    off_t  n = 0;

    if (p == end || *p < '0' || *p > '9') {
        return NULL;
    }

    for ( ; p < end && *p >= '0' && *p <= '9'; p++) {
        int  d = *p - '0';

        n = (n > (WEIR_OFF_MAX - d) / 10) ? WEIR_OFF_MAX : n * 10 + d;
    }

    *v = n;

    return p;
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
