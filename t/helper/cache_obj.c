/*
 * cache_obj: write one cache file the way a fill leaves it, for the
 * integration tests of the loader and the cache manager (t/cache_*.t),
 * through the file module itself, so the tests never restate its layout.
 *
 *   cache_obj PATH LEVELS KEY BODY_LEN
 *
 * PATH is the cache's path, LEVELS as in [cache] levels ("1:2"); the
 * body is BODY_LEN bytes of 'x'. Makes the level directories, writes
 * <PATH>/<levels>/<hex of SHA-256(KEY)> and prints that path.
 */
#include "weir_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cache/cache_conf.h"
#include "cache/cache_file.h"

static int
parse_levels(const char *s, weir_cache_conf_t *k)
{
    char *end;
    long  v;

    k->nlevels = 0;
    while (*s != '\0' && k->nlevels < 3) {
        v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 2) {
            return -1;
        }
        k->levels[k->nlevels++] = (int) v;
        s = *end == ':' ? end + 1 : end;
    }
    return *s == '\0' ? 0 : -1;
}

/* mkdir -p of the directory part of path */
static int
make_parents(char *path)
{
    char *p;

    for (p = path + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            perror(path);
            return -1;
        }
        *p = '/';
    }
    return 0;
}

int
main(int argc, char **argv)
{
    weir_cache_conf_t k;
    weir_cache_hdr_t  hdr;
    weir_cache_meta_t meta;
    uint8_t           digest[WEIR_CACHE_DIGEST_LEN];
    char              path[WEIR_CACHE_PATH_MAX], *buf;
    const char       *key, *head = "Content-Type: text/plain\r\n";
    size_t            n, body_len, cap;
    int               fd;

    if (argc != 5) {
        fprintf(stderr, "usage: cache_obj PATH LEVELS KEY BODY_LEN\n");
        return 2;
    }
    memset(&k, 0, sizeof(k));
    k.path = argv[1];
    key = argv[3];
    body_len = (size_t) strtoull(argv[4], NULL, 10);
    if (parse_levels(argv[2], &k) < 0) {
        fprintf(stderr, "cache_obj: bad levels \"%s\"\n", argv[2]);
        return 2;
    }
    weir_cache_digest(key, strlen(key), NULL, 0, digest);
    if (weir_cache_file_path(&k, digest, path, sizeof(path)) == 0
        || make_parents(path) < 0) {
        return 1;
    }
    memset(&hdr, 0, sizeof(hdr));
    memset(&meta, 0, sizeof(meta));
    memcpy(hdr.digest, digest, sizeof(digest));
    hdr.status = 200;
    meta.fresh_for = 3600;
    meta.last_modified = -1;
    cap = sizeof(hdr) + strlen(key) + strlen(head) + body_len;
    buf = malloc(cap);
    if (buf == NULL) {
        return 1;
    }
    n = weir_cache_file_encode(&hdr, &meta, key, strlen(key), "", 0, head,
                               strlen(head), body_len, buf, cap);
    if (n == 0) {
        fprintf(stderr, "cache_obj: encode failed\n");
        return 1;
    }
    memset(buf + n, 'x', body_len);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf, n + body_len) != (ssize_t) (n + body_len)
        || close(fd) < 0) {
        perror(path);
        return 1;
    }
    free(buf);
    printf("%s\n", path);
    return 0;
}
