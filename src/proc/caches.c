#include "weir_config.h"
#include "proc/caches.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cache/cache_file.h"
#include "cache/cache_index.h"
#include "core/log.h"
#include "proc/cache_manager.h"

/*
 * Every index the master attached, by cache name, for the life of the
 * master: reap() releases a dead worker's fills in all of them, including
 * caches a reload dropped (a worker of the old generation may still fill
 * one). The path and levels are kept to see a reload move a cache: its
 * index must then be loaded again from the new place.
 */
typedef struct known_s {
    char               *name;
    char               *path;
    int                 levels[3];
    weir_cache_index_t *idx;
} known_t;

static known_t *known;
static size_t   nknown;

static int remember(const weir_cache_conf_t *k, weir_cache_index_t *idx);
static void make_dirs(const weir_config_t *cf, const weir_cache_conf_t *k);
static int make_dir(const char *path, mode_t mode, char *bad, size_t badlen);
static void give_dir(const weir_config_t *cf, const weir_cache_conf_t *k,
    const char *path);
static int check_dir(const weir_cache_conf_t *k, const char *dir);
static void drop_fill(void *ctx, const weir_cache_entry_t *e);

int
weir_caches_attach(weir_shm_t *shm, const weir_config_t *cf, char *err,
    size_t errlen)
{
    weir_cache_index_t *idx;
    size_t              i;
    int                 rc;
    char                why[256];

    for (i = 0; i < cf->ncaches; i++) {
        idx = NULL;
        rc = weir_cache_index_attach(shm, cf->caches[i], &idx, why,
                                     sizeof(why));
        if (rc == WEIR_ERROR) {
            snprintf(err, errlen, "[cache %s]: cannot attach its index: %s",
                     cf->caches[i]->name, why);
            return WEIR_ERROR;
        }
        if (rc == WEIR_DONE) {
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "[cache %s]: %s: the new max_objects takes "
                           "effect on restart only", cf->caches[i]->name,
                           why);
        }
        if (idx && remember(cf->caches[i], idx) != WEIR_OK) {
            snprintf(err, errlen, "[cache %s]: out of memory",
                     cf->caches[i]->name);
            return WEIR_ERROR;
        }
    }
    /* Only once every index is there: a reload that fails above must not
     * have made directories for a configuration that never runs. */
    for (i = 0; i < cf->ncaches; i++) {
        make_dirs(cf, cf->caches[i]);
    }
    return WEIR_OK;
}

/* A dead worker's fill: its temporary file goes now, not at the next
 * loader pass (repeated deaths would fill the disk with them). */
static void
drop_fill(void *ctx, const weir_cache_entry_t *e)
{
    const known_t     *kn = ctx;
    weir_cache_conf_t  k;
    char               path[WEIR_CACHE_PATH_MAX];

    memset(&k, 0, sizeof(k));
    k.path = kn->path;
    if (weir_cache_file_tmp_path(&k, e->digest, e->fill_id, path,
                                 sizeof(path)) != 0) {
        (void) unlink(path);
    }
}

void
weir_caches_reaped(pid_t pid, int status)
{
    size_t i;

    for (i = 0; i < nknown; i++) {
        weir_cache_index_proc_gone(known[i].idx, pid, drop_fill, &known[i]);
    }
    (void) weir_cache_manager_reaped(pid, status);
}

/* Record idx under k's name, or update what is known of it. A cache that
 * moved (path or levels) is marked not loaded, so that the next cache
 * manager reads the new directory (it skips caches already loaded). */
static int
remember(const weir_cache_conf_t *k, weir_cache_index_t *idx)
{
    known_t *n;
    char    *path;
    size_t   i;

    for (i = 0; i < nknown && strcmp(known[i].name, k->name) != 0; i++) {
        /* find it */
    }
    if (i < nknown && strcmp(known[i].path, k->path) == 0
        && memcmp(known[i].levels, k->levels, sizeof(k->levels)) == 0) {
        known[i].idx = idx;
        return WEIR_OK;
    }
    path = strdup(k->path);
    if (path == NULL) {
        return WEIR_ERROR;
    }
    if (i < nknown) {
        weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                       "[cache %s]: moved from \"%s\" to \"%s\" (or its "
                       "levels changed): it is loaded again", k->name,
                       known[i].path, k->path);
        weir_cache_index_set_loaded(idx, 0);
        free(known[i].path);
    } else {
        n = realloc(known, (nknown + 1) * sizeof(*known));
        if (n == NULL || (n[nknown].name = strdup(k->name)) == NULL) {
            known = n ? n : known;
            free(path);
            return WEIR_ERROR;
        }
        known = n;
        nknown++;
    }
    known[i].path = path;
    memcpy(known[i].levels, k->levels, sizeof(k->levels));
    known[i].idx = idx;
    return WEIR_OK;
}

/*
 * <path> and <path>/tmp. The level directories are made by whoever
 * stores a file there. What fails is logged once, here, with its cause;
 * the workers then find no directory and serve that cache's routes
 * uncached (DESIGN §5: a cache error never fails a request), and weir
 * runs.
 */
static void
make_dirs(const weir_config_t *cf, const weir_cache_conf_t *k)
{
    char tmp[PATH_MAX], bad[PATH_MAX];
    int  n;

    n = snprintf(tmp, sizeof(tmp), "%s/tmp", k->path);
    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                       "[cache %s]: path \"%s\" is too long: the cache is "
                       "not used", k->name, k->path);
        return;
    }
    if (make_dir(k->path, 0700, bad, sizeof(bad)) != WEIR_OK
        || make_dir(tmp, 0700, bad, sizeof(bad)) != WEIR_OK) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, errno,
                       "[cache %s]: the cache is not used (its routes go "
                       "uncached): cannot create directory \"%s\"", k->name,
                       bad);
        return;
    }
    give_dir(cf, k, k->path);
    give_dir(cf, k, tmp);
}

/*
 * mkdir -p. Missing parents get 0755: they are on the way for the workers
 * (which may not run as the user that makes them here); the last
 * directory gets `mode`. An existing directory keeps its mode. On failure
 * errno is set and bad names the directory that failed.
 */
static int
make_dir(const char *path, mode_t mode, char *bad, size_t badlen)
{
    char        buf[PATH_MAX];
    size_t      len = strlen(path), i;
    struct stat st;

    snprintf(bad, badlen, "%s", path);
    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return WEIR_ERROR;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i < len; i++) {
        if (buf[i] != '/') {
            continue;
        }
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            int e = errno;

            snprintf(bad, badlen, "%s", buf);
            errno = e;
            return WEIR_ERROR;
        }
        buf[i] = '/';
    }
    if (mkdir(path, mode) == 0) {
        return WEIR_OK;
    }
    if (errno != EEXIST) {
        return WEIR_ERROR;
    }
    if (stat(path, &st) < 0) {
        return WEIR_ERROR;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* Workers and the cache manager run as [main] user: a directory made by
 * a root master must be theirs (0700 leaves nobody else a way in). */
static void
give_dir(const weir_config_t *cf, const weir_cache_conf_t *k,
    const char *path)
{
    struct passwd *pw;
    struct group  *gr;
    gid_t          gid;

    if (geteuid() != 0 || cf->main.user == NULL) {
        return;
    }
    pw = getpwnam(cf->main.user);
    if (pw == NULL) {
        return;     /* preflight said so; the workers cannot start */
    }
    gid = pw->pw_gid;
    if (cf->main.group && (gr = getgrnam(cf->main.group)) != NULL) {
        gid = gr->gr_gid;
    }
    if (chown(path, pw->pw_uid, gid) < 0) {
        weir_log_error(WEIR_LOG_ERR, &weir_errlog, errno,
                       "[cache %s]: cannot give \"%s\" to user \"%s\"",
                       k->name, path, cf->main.user);
    }
}

void
weir_caches_check_dirs(const weir_config_t *cf)
{
    char   tmp[PATH_MAX];
    size_t i;
    int    n;

    for (i = 0; i < cf->ncaches; i++) {
        /* one warning per cache: tmp/ fails when its parent does */
        n = snprintf(tmp, sizeof(tmp), "%s/tmp", cf->caches[i]->path);
        if (check_dir(cf->caches[i], cf->caches[i]->path) == WEIR_OK
            && n > 0 && (size_t) n < sizeof(tmp)) {
            (void) check_dir(cf->caches[i], tmp);
        }
    }
}

/* What the master's make_dirs() will meet, judged as the user running
 * the test (root passes the mode bits; the master gives the directories
 * to [main] user). A missing directory is fine when its nearest existing
 * ancestor is a writable directory. */
static int
check_dir(const weir_cache_conf_t *k, const char *dir)
{
    char        anc[PATH_MAX], what[PATH_MAX + 64];
    char       *slash;
    struct stat st;
    int         e = 0;

    what[0] = '\0';
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(what, sizeof(what), "\"%s\" is not a directory", dir);
        } else if (access(dir, W_OK | X_OK) < 0) {
            e = errno;
            snprintf(what, sizeof(what), "cannot write in \"%s\"", dir);
        }
    } else if (errno != ENOENT && errno != ENOTDIR) {
        e = errno;
        snprintf(what, sizeof(what), "cannot use \"%s\"", dir);
    } else {
        snprintf(anc, sizeof(anc), "%s", dir);
        do {
            slash = strrchr(anc, '/');
            if (slash == NULL || slash == anc) {
                snprintf(anc, sizeof(anc), "/");
            } else {
                *slash = '\0';
            }
        } while (stat(anc, &st) < 0 && (errno == ENOENT || errno == ENOTDIR)
                 && anc[1] != '\0');
        if (stat(anc, &st) < 0) {
            e = errno;
            snprintf(what, sizeof(what), "cannot create \"%s\"", dir);
        } else if (!S_ISDIR(st.st_mode)) {
            snprintf(what, sizeof(what), "cannot create \"%s\": \"%s\" is "
                     "not a directory", dir, anc);
        } else if (access(anc, W_OK | X_OK) < 0) {
            e = errno;
            snprintf(what, sizeof(what), "cannot create \"%s\" in \"%s\"",
                     dir, anc);
        }
    }
    if (what[0] == '\0') {
        return WEIR_OK;
    }
    weir_log_error(WEIR_LOG_WARN, &weir_errlog, e,
                   "%s:%d: [cache %s] path: the cache would not be used "
                   "(its routes go uncached): %s", k->file, k->line, k->name,
                   what);
    return WEIR_ERROR;
}
