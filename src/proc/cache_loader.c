#include "weir_config.h"
#include "proc/cache_manager-t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"

/*
 * The loader: one pass over a cache's directory, in steps the manager's
 * loop interleaves with its other work.
 *
 * <path>/tmp/ first. A fill writes <64 hex>.<fill id> there, and a file is
 * live while the index names it: the digest's entry is FILLING with that
 * fill_id. Any other file is a leftover (a worker killed mid-fill, a fill
 * that lost its lock) and is removed when either
 *   - it was last written before this weir started: no fill of this run
 *     can own it, so a fresh start clears every leftover at once; or
 *   - it has not been written for the cache's lock_timeout (10 s at
 *     least). This is what makes a manager restart or a reload safe: the
 *     index is already populated then, and a file the index does not name
 *     may still be in use for a moment: the end of a fill renames its
 *     file after (or just before) the index marks it READY, and a filler
 *     that lost its lock to a takeover may still be writing. A file idle
 *     that long belongs to no one who will finish it.
 * Files there that are not regular files are left alone.
 *
 * Then, when the index is not loaded yet, the objects: the walk enters
 * subdirectories named by 1 or 2 hex digits, at most 3 deep, and looks
 * at files named by 64 hex digits; anything else is not weir's and is
 * left alone (so a `path` pointed at the wrong directory destroys
 * nothing). Each file's header is read (4 KiB, more when the key and head
 * need it) and decoded. A file that does not decode, was never finished,
 * or does not sit where its digest puts it under the current levels
 * (the workers would never find it) is removed. The others go into the
 * index:
 *   - size: the space the file takes on disk, max(st_size, st_blocks *
 *     512). max_size bounds the disk, and a small object costs a whole
 *     file system block (a 1 KiB response takes 4 KiB on ext4); st_size
 *     alone would let a cache of small objects use several times its
 *     max_size. The max() guards file systems that report few blocks
 *     for data not yet allocated.
 *   - last use: max(atime, mtime), not in the future. mtime is when the
 *     object was stored; atime, when the file system keeps it (relatime:
 *     about once a day), says it was read since. The loader reads with
 *     O_NOATIME where it may, so that a restart does not make every
 *     object look just used.
 */

#define HEADER_READ   4096
/* A header asking for more than this (key + Vary line + response head)
 * is not one weir wrote: the head of a response is bounded far lower. */
#define HEADER_MAX    (1024 * 1024)
#define TMP_MIN_AGE   10000       /* ms */
#define CORRUPT_TOLD  20          /* named one by one per pass, then counted */

static int open_root(weir_cmgr_cache_t *mc, int in_tree);
static void pop_dir(weir_cmgr_walk_t *w);
static int push_dir(weir_cmgr_cache_t *mc, const char *name);
static void finish(weir_cmgr_cache_t *mc);
static int is_hex(const char *s, size_t len);
static int entry(weir_cmgr_cache_t *mc, const char *name);
static void tmp_file(weir_cmgr_cache_t *mc, int dfd, const char *name,
    const struct stat *st, const char *full);
static int tmp_live(weir_cmgr_cache_t *mc, const char *name);
static void obj_file(weir_cmgr_cache_t *mc, int dfd, const char *name,
    const struct stat *st, const char *full);
static int read_header(int fd, uint64_t size, weir_cache_obj_t *obj,
    char *err, size_t errlen);
static void drop(weir_cmgr_cache_t *mc, int dfd, const char *name,
    const char *full, const char *why);
static void walk_error(weir_cmgr_cache_t *mc, int err, const char *what,
    const char *path);

void
weir_cache_loader_begin(weir_cmgr_cache_t *mc, int tree)
{
    weir_cmgr_walk_t *w = &mc->walk;

    if (w->active) {
        w->tree |= tree;
        return;
    }
    memset(w, 0, sizeof(*w));
    w->active = 1;
    w->tree = tree;
    w->depth = -1;
    w->started = weir_current_msec;
    if (open_root(mc, 0) != WEIR_OK && (!tree || open_root(mc, 1) != WEIR_OK)) {
        finish(mc);
    }
}

int
weir_cache_loader_step(weir_cmgr_cache_t *mc, unsigned files,
    weir_msec_t until)
{
    weir_cmgr_walk_t *w = &mc->walk;
    struct dirent    *de;
    unsigned          n = 0;

    while (w->active) {
        if (w->depth < 0) {
            /* tmp done: the objects, if asked for; else the end */
            if (w->in_tree || !w->tree || open_root(mc, 1) != WEIR_OK) {
                finish(mc);
                return WEIR_OK;
            }
            continue;
        }
        if (n++ >= files) {
            return WEIR_AGAIN;
        }
        /* the clock is read every 32 entries: cheap, and fine enough */
        if ((n & 31) == 0) {
            weir_time_update();
            if (weir_current_msec >= until) {
                return WEIR_AGAIN;
            }
        }
        errno = 0;
        de = readdir(w->dirs[w->depth]);
        if (de == NULL) {
            if (errno != 0) {
                walk_error(mc, errno, "cannot read directory", w->path);
            }
            pop_dir(w);
            continue;
        }
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            (void) entry(mc, de->d_name);
        }
    }
    return WEIR_OK;
}

void
weir_cache_loader_abort(weir_cmgr_cache_t *mc)
{
    while (mc->walk.depth >= 0) {
        pop_dir(&mc->walk);
    }
    mc->walk.active = 0;
}

/* Open <path>/tmp (in_tree 0) or <path> as the walk's root. */
static int
open_root(weir_cmgr_cache_t *mc, int in_tree)
{
    weir_cmgr_walk_t *w = &mc->walk;
    int               n;

    n = snprintf(w->path, sizeof(w->path), in_tree ? "%s" : "%s/tmp",
                 mc->k->path);
    if (n < 0 || (size_t) n >= sizeof(w->path)) {
        return WEIR_ERROR;
    }
    w->dirs[0] = opendir(w->path);
    if (w->dirs[0] == NULL) {
        walk_error(mc, errno, "cannot open directory", w->path);
        return WEIR_ERROR;
    }
    w->in_tree = in_tree;
    w->depth = 0;
    w->lens[0] = (size_t) n;
    return WEIR_OK;
}

static void
pop_dir(weir_cmgr_walk_t *w)
{
    closedir(w->dirs[w->depth]);
    w->dirs[w->depth] = NULL;
    w->depth--;
    if (w->depth >= 0) {
        w->path[w->lens[w->depth]] = '\0';
    }
}

static int
push_dir(weir_cmgr_cache_t *mc, const char *name)
{
    weir_cmgr_walk_t *w = &mc->walk;
    size_t            len = w->lens[w->depth], nlen = strlen(name);
    int               fd;
    DIR              *d;

    if (len + 1 + nlen >= sizeof(w->path)) {
        return WEIR_ERROR;
    }
    w->path[len] = '/';
    memcpy(w->path + len + 1, name, nlen + 1);
    fd = openat(dirfd(w->dirs[w->depth]), name,
                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        walk_error(mc, errno, "cannot open directory", w->path);
        if (fd >= 0) {
            close(fd);
        }
        w->path[len] = '\0';
        return WEIR_ERROR;
    }
    w->depth++;
    w->dirs[w->depth] = d;
    w->lens[w->depth] = len + 1 + nlen;
    return WEIR_OK;
}

/* The end of a pass: say what it did, and mark the index loaded when the
 * objects were read. */
static void
finish(weir_cmgr_cache_t *mc)
{
    weir_cmgr_walk_t *w = &mc->walk;
    int               tree_read = w->in_tree;

    weir_cache_loader_abort(mc);
    weir_time_update();
    if (w->tree && tree_read) {
        weir_cache_index_set_loaded(mc->idx, 1);
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "[cache %s]: loaded %llu objects, %llu bytes, in "
                       "%lld ms; removed %llu unreadable and %llu misplaced "
                       "files and %llu temp files left by fills",
                       mc->k->name, (unsigned long long) w->objects,
                       (unsigned long long) w->bytes,
                       (long long) (weir_current_msec - w->started),
                       (unsigned long long) w->corrupt,
                       (unsigned long long) w->misplaced,
                       (unsigned long long) w->leftovers);
    } else if (w->leftovers) {
        weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                       "[cache %s]: removed %llu temp files left by fills",
                       mc->k->name, (unsigned long long) w->leftovers);
    }
    if (w->unindexed) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "[cache %s]: the index is full: %llu files on disk "
                       "are not in it and will not be evicted (raise "
                       "max_objects)", mc->k->name,
                       (unsigned long long) w->unindexed);
    }
}

static int
is_hex(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
              || (s[i] >= 'A' && s[i] <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* One directory entry of the walk. */
static int
entry(weir_cmgr_cache_t *mc, const char *name)
{
    weir_cmgr_walk_t *w = &mc->walk;
    int               dfd = dirfd(w->dirs[w->depth]);
    size_t            nlen = strlen(name), len = w->lens[w->depth];
    struct stat       st;
    char              full[WEIR_CACHE_PATH_MAX];

    if (len + 1 + nlen >= sizeof(full)) {
        return WEIR_OK;
    }
    memcpy(full, w->path, len);
    full[len] = '/';
    memcpy(full + len + 1, name, nlen + 1);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT) {      /* gone meanwhile: a worker's doing */
            walk_error(mc, errno, "cannot stat", full);
        }
        return WEIR_OK;
    }
    if (S_ISDIR(st.st_mode)) {
        if (w->in_tree && w->depth + 1 < WEIR_CMGR_DEPTH && nlen <= 2
            && is_hex(name, nlen)) {
            return push_dir(mc, name);
        }
        return WEIR_OK;
    }
    if (!S_ISREG(st.st_mode)) {
        return WEIR_OK;
    }
    if (!w->in_tree) {
        tmp_file(mc, dfd, name, &st, full);
    } else if (nlen == 2 * WEIR_CACHE_DIGEST_LEN && is_hex(name, nlen)) {
        obj_file(mc, dfd, name, &st, full);
    }
    return WEIR_OK;
}

static void
tmp_file(weir_cmgr_cache_t *mc, int dfd, const char *name,
    const struct stat *st, const char *full)
{
    weir_cmgr_walk_t *w = &mc->walk;
    int64_t           mtime, age;

    if (tmp_live(mc, name)) {
        return;
    }
    mtime = (int64_t) st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    age = weir_max((int64_t) mc->k->lock_timeout, TMP_MIN_AGE);
    if ((int64_t) st->st_mtim.tv_sec >= mc->weir_started
        && weir_cmgr_now() - mtime < age) {
        w->young++;
        return;
    }
    if (unlinkat(dfd, name, 0) == 0) {
        w->leftovers++;
    } else if (errno != ENOENT) {
        walk_error(mc, errno, "cannot remove temp file", full);
    }
}

/* Does the index name this temp file as a fill in progress? */
static int
tmp_live(weir_cmgr_cache_t *mc, const char *name)
{
    uint8_t            digest[WEIR_CACHE_DIGEST_LEN];
    weir_cache_entry_t e;
    char               tmp[WEIR_CACHE_PATH_MAX];
    const char        *base;
    size_t             i, n;
    int                hi, lo;

    if (strlen(name) <= 2 * WEIR_CACHE_DIGEST_LEN
        || name[2 * WEIR_CACHE_DIGEST_LEN] != '.'
        || !is_hex(name, 2 * WEIR_CACHE_DIGEST_LEN)) {
        return 0;
    }
    for (i = 0; i < WEIR_CACHE_DIGEST_LEN; i++) {
        hi = name[2 * i] <= '9' ? name[2 * i] - '0'
                                : (name[2 * i] | 0x20) - 'a' + 10;
        lo = name[2 * i + 1] <= '9' ? name[2 * i + 1] - '0'
                                    : (name[2 * i + 1] | 0x20) - 'a' + 10;
        digest[i] = (uint8_t) (hi << 4 | lo);
    }
    if (!(weir_cache_index_lookup(mc->idx, digest, weir_cmgr_now(), 0, &e)
          & WEIR_CACHE_FILLING)) {
        return 0;
    }
    /* Compare with the name the fill uses, whatever its spelling of the
     * id: the file module alone decides that. */
    n = weir_cache_file_tmp_path(mc->k, digest, e.fill_id, tmp, sizeof(tmp));
    if (n == 0) {
        return 1;       /* cannot tell: keep it */
    }
    base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    return strcmp(base, name) == 0;
}

static void
obj_file(weir_cmgr_cache_t *mc, int dfd, const char *name,
    const struct stat *st, const char *full)
{
    weir_cmgr_walk_t *w = &mc->walk;
    weir_cache_obj_t  obj;
    char              err[256], want[WEIR_CACHE_PATH_MAX];
    int               fd, rc;
    uint64_t          size;
    int64_t           used, now;

    fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
    if (fd < 0 && errno == EPERM) {
        /* O_NOATIME needs the file's owner: read it the plain way */
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        if (errno != ENOENT) {
            walk_error(mc, errno, "cannot open", full);
        }
        return;
    }
    rc = read_header(fd, (uint64_t) st->st_size, &obj, err, sizeof(err));
    close(fd);
    if (rc == WEIR_AGAIN) {
        walk_error(mc, errno, "cannot read", full);    /* EIO: keep it */
        return;
    }
    if (rc != WEIR_OK) {
        drop(mc, dfd, name, full, err);
        w->corrupt++;
        return;
    }
    if (obj.hdr.body_len == WEIR_CACHE_BODY_UNKNOWN) {
        drop(mc, dfd, name, full, "a fill that never finished");
        w->corrupt++;
        return;
    }
    if (weir_cache_file_path(mc->k, obj.hdr.digest, want, sizeof(want)) == 0
        || strcmp(want, full) != 0) {
        drop(mc, dfd, name, full, "not where its key puts it under the "
                                  "current levels");
        w->misplaced++;
        return;
    }
    size = weir_max((uint64_t) st->st_size, (uint64_t) st->st_blocks * 512);
    now = weir_cmgr_now();
    used = weir_max((int64_t) st->st_atim.tv_sec * 1000
                        + st->st_atim.tv_nsec / 1000000,
                    (int64_t) st->st_mtim.tv_sec * 1000
                        + st->st_mtim.tv_nsec / 1000000);
    if (weir_cache_index_insert(mc->idx, obj.hdr.digest, size,
                                weir_min(used, now)) != WEIR_OK) {
        w->unindexed++;
        return;
    }
    w->objects++;
    w->bytes += size;
}

/* Read and decode a file's header. WEIR_OK; WEIR_ERROR with err (not a
 * cache file, truncated, ...); WEIR_AGAIN when reading failed (errno). */
static int
read_header(int fd, uint64_t size, weir_cache_obj_t *obj, char *err,
    size_t errlen)
{
    char    buf[HEADER_READ], *big;
    ssize_t n;
    size_t  need = 0;
    int     rc;

    n = pread(fd, buf, sizeof(buf), 0);
    if (n < 0) {
        return WEIR_AGAIN;
    }
    rc = weir_cache_file_decode(buf, (size_t) n, NULL, 0, size, obj, &need,
                                err, errlen);
    /* obj points into buf; the loader keeps only the header */
    obj->key = obj->vary = obj->head = NULL;
    if (rc != WEIR_AGAIN) {
        return rc;
    }
    if (need <= (size_t) n || need > HEADER_MAX || need > size) {
        snprintf(err, errlen, "truncated: %llu bytes, the header needs %zu",
                 (unsigned long long) size, need);
        return WEIR_ERROR;
    }
    big = malloc(need);
    if (big == NULL) {
        errno = ENOMEM;
        return WEIR_AGAIN;
    }
    n = pread(fd, big, need, 0);
    if (n < 0) {
        free(big);
        return WEIR_AGAIN;
    }
    rc = weir_cache_file_decode(big, (size_t) n, NULL, 0, size, obj, &need,
                                err, errlen);
    obj->key = obj->vary = obj->head = NULL;
    free(big);
    if (rc == WEIR_AGAIN) {
        snprintf(err, errlen, "truncated header");
        return WEIR_ERROR;
    }
    return rc;
}

/* Remove a file that cannot be served; the first few are named. */
static void
drop(weir_cmgr_cache_t *mc, int dfd, const char *name, const char *full,
    const char *why)
{
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
        walk_error(mc, errno, "cannot remove unreadable file", full);
        return;
    }
    if (mc->walk.told++ < CORRUPT_TOLD) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                       "[cache %s]: removed \"%s\": %s", mc->k->name, full,
                       why);
    }
}

static void
walk_error(weir_cmgr_cache_t *mc, int err, const char *what,
    const char *path)
{
    if (weir_cmgr_may_log(mc, WEIR_CMGR_ERR_WALK)) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, err,
                       "[cache %s]: loader: %s \"%s\"", mc->k->name, what,
                       path);
    }
}
