/*
 * Static files: map a normalised path under a root to an open file and
 * decide the response (200, 206, 304, 301, 403, 404, 412, 416) from the
 * conditional and range headers. No I/O on the socket here: the request
 * code writes the head and sendfile()s the body.
 */
#ifndef WEIR_HTTP_STATIC_H
#define WEIR_HTTP_STATIC_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include "http/cond.h"
#include "http/mime.h"

typedef struct weir_static_req_s {
    const char   *root;           /* absolute directory */
    char *const  *index;          /* index file names */
    size_t        nindex;
    const char   *path;           /* normalised (weir_http_normalize_path) */
    size_t        path_len;
    int           method_get_or_head; /* 0: not GET/HEAD -> 405 */
    weir_http_cond_t cond;        /* conditional and Range fields */
    const weir_mime_t *mime;
    int           gz;             /* WEIR_STATIC_GZ_*: FILE.gz beside FILE */
} weir_static_req_t;

/* What to do with a precompressed FILE.gz beside the resolved FILE
 * (gzip_static, after the index is applied). Only a regular file beneath
 * root counts; one that cannot be opened (permission) is as good as
 * absent, and FILE is served. */
enum {
    WEIR_STATIC_GZ_NONE = 0,      /* do not look */
    WEIR_STATIC_GZ_PROBE,         /* look only: res->gz = 1 when usable */
    WEIR_STATIC_GZ_SERVE          /* serve it: res->gz = 2 */
};

typedef struct weir_static_res_s {
    int          status;        /* 200 206 304 301 403 404 405 412 416
                                 * 500 */
    int          fd;            /* open file for 200/206 (caller closes),
                                 * -1 otherwise */
    off_t        offset;        /* first body byte in the file */
    off_t        length;        /* body bytes to send */
    off_t        file_size;
    time_t       mtime;
    char         etag[64];      /* "\"<mtime hex>-<size hex>\"" */
    const char  *content_type;
    int          redirect_slash;/* 301: Location is path + "/" */
    int          err;           /* errno of a 403/404/500 decision */
    int          gz;            /* 0: no usable FILE.gz; 1: one exists
                                 * (PROBE); 2: fd, size, mtime, etag and
                                 * the decision are FILE.gz's (SERVE) */
    int          gz_err;        /* errno of a FILE.gz that exists but
                                 * could not be opened (0: none) */
} weir_static_res_t;

/* Resolve and open. Never follows a path out of root: ".." was removed by
 * normalisation, and symlinks are resolved beneath root only (a link
 * pointing outside is 403/404). Directories are served through the first
 * existing index file, or 403 without one; a directory path without the
 * trailing slash is a 301. The preconditions are evaluated in the order of
 * RFC 9110 13.2.2: If-Match, else If-Unmodified-Since (412 when false),
 * then If-None-Match, else If-Modified-Since (304), then If-Range.
 * With req->gz SERVE and a usable FILE.gz they are evaluated against the
 * .gz's validators, and a range is a range of the .gz's bytes;
 * content_type stays FILE's.
 * Returns WEIR_OK (res filled) always, except WEIR_ERROR on bad
 * arguments. */
int weir_static_open(const weir_static_req_t *req, weir_static_res_t *res);

/* Confinement backend. By default openat2(RESOLVE_BENEATH) is used when
 * the kernel offers it (probed once), else realpath() plus a prefix check;
 * the environment variable WEIR_NO_OPENAT2=1 forces the fallback. on=1
 * forces the fallback, on=0 forces openat2 (tests run the escape checks
 * through both). Process-wide; call before serving, not concurrently. */
void weir_static_set_fallback(int on);

#endif /* WEIR_HTTP_STATIC_H */
