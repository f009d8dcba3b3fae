/*
 * weir — command line: test the configuration, signal a running master, or
 * become the master.
 */
#include "weir_config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "core/log.h"
#include "core/wtime.h"
#include "proc/config.h"
#include "proc/master.h"
#include "proc/preflight.h"
#include "proc/proctitle.h"
#include "proc/upgrade.h"

typedef struct options_s {
    const char *conf;
    const char *prefix;
    const char *signal;
    int         test;
    int         dump;
} options_t;

static void usage(FILE *out);
static int parse_args(int argc, char **argv, options_t *o);
static char *absolute(const char *path);
static int send_signal(const weir_config_t *cf, const char *conf,
    const char *prefix, const char *name);
static long find_master(const char *conf, const char *prefix);
static int run(const options_t *o, const char *conf, const char *prefix);

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: weir [-c file] [-p prefix] [-t] [-T] [-s signal] [-v] [-V] "
        "[-h]\n"
        "\n"
        "  -c file    configuration file (default: prefix/conf/weir.ini)\n"
        "  -p prefix  prefix for relative paths (default: %s)\n"
        "  -t         test the configuration and exit\n"
        "  -T         test, then print the effective configuration\n"
        "  -s signal  send a signal to the running master: "
        "reload, quit, stop, reopen,\n"
        "             upgrade\n"
        "  -v, --version\n"
        "             print the version\n"
        "  -V         print version, compiler and configure options\n"
        "  -h, -?, --help\n"
        "             this help\n", WEIR_DEFAULT_PREFIX);
}

static int
parse_args(int argc, char **argv, options_t *o)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        /* The two long options every operator tries first. */
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return WEIR_DONE;
        }
        if (strcmp(a, "--version") == 0) {
            printf("weir version %s\n", WEIR_VERSION);
            return WEIR_DONE;
        }
        if (a[0] != '-' || a[1] == '\0' || a[2] != '\0') {
            fprintf(stderr, "weir: invalid option: \"%s\"\n", a);
            return WEIR_ERROR;
        }
        switch (a[1]) {
        case 'h':
        case '?':
            usage(stdout);
            return WEIR_DONE;
        case 'v':
            printf("weir version %s\n", WEIR_VERSION);
            return WEIR_DONE;
        case 'V':
            printf("weir version %s\nbuilt by %s\nconfigure arguments: %s\n",
                   WEIR_VERSION, WEIR_CC_VERSION, WEIR_CONFIGURE_ARGS);
            return WEIR_DONE;
        case 't':
            o->test = 1;
            break;
        case 'T':
            o->test = 1;
            o->dump = 1;
            break;
        case 'c':
        case 'p':
        case 's':
            if (i + 1 >= argc) {
                fprintf(stderr, "weir: option \"-%c\" requires an argument\n",
                        a[1]);
                return WEIR_ERROR;
            }
            if (a[1] == 'c') {
                o->conf = argv[++i];
            } else if (a[1] == 'p') {
                o->prefix = argv[++i];
            } else {
                o->signal = argv[++i];
            }
            break;
        default:
            fprintf(stderr, "weir: invalid option: \"%s\"\n", a);
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

static char *
absolute(const char *path)
{
    char   cwd[PATH_MAX], *p;
    size_t n;

    if (path[0] == '/') {
        p = strdup(path);
    } else if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return NULL;
    } else {
        n = strlen(cwd) + strlen(path) + 2;
        p = malloc(n);
        if (p) {
            snprintf(p, n, "%s/%s", cwd, path);
        }
    }
    /* No trailing slash: "prefix/logs" is built by appending. */
    if (p) {
        n = strlen(p);
        while (n > 1 && p[n - 1] == '/') {
            p[--n] = '\0';
        }
    }
    return p;
}

static int
send_signal(const weir_config_t *cf, const char *conf, const char *prefix,
    const char *name)
{
    static const struct {
        const char *name;
        int         signo;
    } sigs[] = {
        { "reload", SIGHUP }, { "quit", SIGQUIT }, { "stop", SIGTERM },
        { "reopen", SIGUSR1 }, { "upgrade", SIGUSR2 },
    };
    char   err[512], def[PATH_MAX];
    const char *pidfile;
    long   pid;
    size_t i;

    for (i = 0; i < weir_nelems(sigs); i++) {
        if (strcmp(sigs[i].name, name) == 0) {
            break;
        }
    }
    if (i == weir_nelems(sigs)) {
        fprintf(stderr, "weir: invalid signal \"%s\" (reload, quit, stop, "
                "reopen, upgrade)\n", name);
        return 1;
    }
    if (cf && cf->main.pid) {
        pidfile = cf->main.pid;
    } else {
        snprintf(def, sizeof(def), "%s/logs/weir.pid", prefix);
        pidfile = def;
    }
    pid = weir_master_pid_read(pidfile, err, sizeof(err));
    if (pid <= 0) {
        /* The file may name a pid path the master does not use yet (it
         * was edited and not reloaded): find the master by its title,
         * which carries the configuration it runs. */
        pid = find_master(conf, prefix);
        if (pid <= 0) {
            fprintf(stderr, "weir: no running master: %s\n", err);
            return 1;
        }
        fprintf(stderr, "weir: %s; signalling master process %ld, which "
                "runs %s\n", err, pid, conf);
    }
    if (kill((pid_t) pid, sigs[i].signo) < 0) {
        fprintf(stderr, "weir: kill(%ld, %s) failed: %s\n", pid, name,
                strerror(errno));
        return 1;
    }
    return 0;
}

/*
 * The master running this configuration, found through /proc: a process
 * named weir-master whose title (set by the master, see weir(8)) ends in
 * "-p PREFIX -c CONF" for these absolute paths. 0 when there is none, or
 * when there are several (the pid file must then decide).
 */
static long
find_master(const char *conf, const char *prefix)
{
    static const char head[] = "weir: master process ";
    char           path[64], buf[8192], tail[2 * PATH_MAX + 16];
    DIR           *d;
    struct dirent *de;
    long           found = 0, pid;
    size_t         tlen;
    ssize_t        n;
    int            fd, rc, matches = 0;

    rc = snprintf(tail, sizeof(tail), " -p %s -c %s", prefix, conf);
    if (rc < 0 || (size_t) rc >= sizeof(tail)) {
        return 0;
    }
    tlen = (size_t) rc;
    d = opendir("/proc");
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || pid == (long) getpid()) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n != 12 || memcmp(buf, "weir-master\n", 12) != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) {
            continue;
        }
        buf[n] = '\0';       /* the title ends at its first NUL */
        n = (ssize_t) strlen(buf);
        if ((size_t) n > sizeof(head) - 1 + tlen
            && strncmp(buf, head, sizeof(head) - 1) == 0
            && strcmp(buf + n - tlen, tail) == 0) {
            found = pid;
            matches++;
        }
    }
    closedir(d);
    return matches == 1 ? found : 0;
}

int
main(int argc, char **argv)
{
    options_t  o;
    char      *prefix, *conf, buf[PATH_MAX];
    int        rc;

    /* First: the master and workers overwrite the argv area with their
     * titles later, so the environment must move out of it now. Without
     * memory for that, titles are off and weir runs anyway. */
    (void) weir_proctitle_init(argc, argv);
    /* Which file a binary upgrade (USR2) runs: this path, resolved now
     * (weir -p/-c paths are made absolute too). */
    weir_upgrade_init(argc > 0 ? argv[0] : NULL);
    memset(&o, 0, sizeof(o));
    rc = parse_args(argc, argv, &o);
    if (rc != WEIR_OK) {
        return rc == WEIR_DONE ? 0 : 1;
    }
    weir_time_update();
    prefix = absolute(o.prefix ? o.prefix : WEIR_DEFAULT_PREFIX);
    if (o.conf) {
        conf = absolute(o.conf);
    } else if (o.prefix) {
        snprintf(buf, sizeof(buf), "%s/conf/weir.ini", prefix);
        conf = strdup(buf);
    } else {
        conf = strdup(WEIR_DEFAULT_CONF);
    }
    if (prefix == NULL || conf == NULL) {
        fprintf(stderr, "weir: out of memory\n");
        return 1;
    }

    rc = run(&o, conf, prefix);
    free(prefix);
    free(conf);
    return rc;
}

/* Everything after the paths are known: test, signal, or run. */
static int
run(const options_t *o, const char *conf, const char *prefix)
{
    weir_config_errors_t errs = { NULL, 0, 0 };
    weir_config_t       *cf;
    char                 buf[PATH_MAX];
    size_t               i;
    int                  rc, reload;

    cf = weir_config_load(conf, prefix, &errs);
    reload = o->signal && strcmp(o->signal, "reload") == 0;
    if (o->signal && !reload) {
        /* Stopping or reopening needs only the pid file: fall back to
         * the default path when the file does not load. */
        rc = send_signal(cf, conf, prefix, o->signal);
        weir_config_errors_free(&errs);
        if (cf) {
            weir_config_free(cf);
        }
        return rc;
    }
    /* A reload of a file that does not pass -t would only be refused by
     * the master, in its error log: say it here and send nothing. */
    rc = WEIR_OK;
    if (cf && weir_master_check(cf, buf, sizeof(buf)) != WEIR_OK) {
        fprintf(stderr, "weir: %s\n", buf);
        rc = WEIR_ERROR;
    }
    if (cf && weir_preflight(cf, o->test || reload ? WEIR_PREFLIGHT_BIND : 0,
                             &errs) != WEIR_OK) {
        rc = WEIR_ERROR;
    }
    if (cf == NULL || rc != WEIR_OK) {
        for (i = 0; i < errs.n; i++) {
            fprintf(stderr, "weir: %s\n", errs.lines[i]);
        }
        fprintf(stderr, "weir: configuration file %s test failed%s\n", conf,
                reload ? ": no signal sent" : "");
        weir_config_errors_free(&errs);
        if (cf) {
            weir_config_free(cf);
        }
        return 1;
    }
    weir_config_errors_free(&errs);
    if (reload) {
        rc = send_signal(cf, conf, prefix, o->signal);
        weir_config_free(cf);
        return rc;
    }
    if (o->test) {
        fprintf(stderr, "weir: configuration file %s test is successful\n",
                conf);
        if (o->dump) {
            weir_config_dump(cf, stdout);
        }
        weir_config_free(cf);
        return 0;
    }
    return weir_master_run(cf);
}
