#include "weir_config.h"
#include "proc/resolve.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/units.h"

/* What the child writes: a header, then n addresses. */
typedef struct answer_s {
    int32_t                 gai;       /* getaddrinfo()'s code, 0: ok */
    int32_t                 sys;       /* errno for EAI_SYSTEM */
    uint32_t                n;
    struct sockaddr_storage addr[WEIR_RESOLVE_MAX];
} answer_t;

static void resolve_child(const char *host, unsigned port, int fd)
    __attribute__((noreturn));
static void test_hosts(const char *path, const char *host, unsigned port,
    answer_t *a);
static int64_t now_ms(void);
static int read_answer(int fd, answer_t *a, int timeout_ms);

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
resolve_child(const char *host, unsigned port, int fd)
{
    struct addrinfo  hints, *res = NULL, *ai;
    answer_t         a;
    char             serv[8];
    size_t           i, len;
    ssize_t          w;
    const char      *p;

    memset(&a, 0, sizeof(a));
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* No AI_ADDRCONFIG: on a host with loopback only it would drop the
     * loopback addresses themselves. */
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(serv, sizeof(serv), "%u", port);
    if ((p = getenv("WEIR_TEST_HOSTS")) != NULL && *p) {
        test_hosts(p, host, port, &a);
        goto answer;
    }
    a.gai = getaddrinfo(host, serv, &hints, &res);
    a.sys = a.gai == EAI_SYSTEM ? errno : 0;
    for (ai = a.gai == 0 ? res : NULL; ai && a.n < WEIR_RESOLVE_MAX;
         ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            || ai->ai_addrlen > sizeof(a.addr[0])) {
            continue;
        }
        for (i = 0; i < a.n; i++) {
            if (weir_units_addr_eq(&a.addr[i],
                                   (const struct sockaddr_storage *)
                                   (const void *) ai->ai_addr)) {
                break;
            }
        }
        if (i == a.n) {
            memset(&a.addr[a.n], 0, sizeof(a.addr[0]));
            memcpy(&a.addr[a.n++], ai->ai_addr, ai->ai_addrlen);
        }
    }
answer:
    len = sizeof(a);
    for (p = (const char *) &a; len > 0; p += w, len -= (size_t) w) {
        w = write(fd, p, len);
        if (w <= 0) {
            _exit(1);
        }
    }
    _exit(0);
}

/*
 * FOR TESTS ONLY (weir.ini(5) does not mention it; HACKING does): with
 * WEIR_TEST_HOSTS naming a file in /etc/hosts format, names are looked up
 * there alone, so a test can change what a name resolves to without
 * touching the system's files. Not found is EAI_NONAME.
 */
static void
test_hosts(const char *path, const char *host, unsigned port, answer_t *a)
{
    FILE                *fp = fopen(path, "r");
    char                 line[512], *tok, *save, *addr;
    struct sockaddr_in  *in;
    struct sockaddr_in6 *in6;

    a->gai = EAI_NONAME;
    while (fp && fgets(line, sizeof(line), fp) && a->n < WEIR_RESOLVE_MAX) {
        addr = strtok_r(line, " \t\r\n", &save);
        if (addr == NULL || addr[0] == '#') {
            continue;
        }
        while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
            if (strcasecmp(tok, host) != 0) {
                continue;
            }
            memset(&a->addr[a->n], 0, sizeof(a->addr[0]));
            in = (struct sockaddr_in *) (void *) &a->addr[a->n];
            in6 = (struct sockaddr_in6 *) (void *) &a->addr[a->n];
            if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
            } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
            } else {
                break;
            }
            a->n++;
            a->gai = 0;
            break;
        }
    }
    if (fp) {
        fclose(fp);
    }
}

/* Read the whole answer before the deadline. WEIR_OK, WEIR_AGAIN (timed
 * out) or WEIR_ERROR. */
static int
read_answer(int fd, answer_t *a, int timeout_ms)
{
    int64_t       deadline = now_ms() + timeout_ms, left;
    size_t        got = 0;
    ssize_t       r;
    struct pollfd pfd = { fd, POLLIN, 0 };

    while (got < sizeof(*a)) {
        left = deadline - now_ms();
        if (left <= 0) {
            return WEIR_AGAIN;
        }
        r = poll(&pfd, 1, (int) left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r == 0 ? WEIR_AGAIN : WEIR_ERROR;
        }
        r = read(fd, (char *) a + got, sizeof(*a) - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return WEIR_ERROR;
        }
        got += (size_t) r;
    }
    return WEIR_OK;
}

int
weir_resolve(const char *host, unsigned port, int timeout_ms,
    struct sockaddr_storage *out, size_t *n, char *err, size_t errlen)
{
    answer_t a;
    int      fds[2], rc;
    pid_t    pid;
    size_t   i;

    *n = 0;
    if (timeout_ms <= 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": the time for "
                 "resolving names is used up", host);
        return WEIR_ERROR;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": pipe2(): %s", host,
                 strerror(errno));
        return WEIR_ERROR;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        resolve_child(host, port, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        snprintf(err, errlen, "cannot resolve \"%s\": fork(): %s", host,
                 strerror(errno));
        return WEIR_ERROR;
    }
    memset(&a, 0, sizeof(a));
    rc = read_answer(fds[0], &a, timeout_ms);
    close(fds[0]);
    if (rc != WEIR_OK) {
        kill(pid, SIGKILL);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        /* its exit status says nothing the answer did not */
    }
    if (rc == WEIR_AGAIN) {
        snprintf(err, errlen, "cannot resolve \"%s\": no answer within "
                 "%d ms", host, timeout_ms);
        return WEIR_ERROR;
    }
    if (rc != WEIR_OK) {
        snprintf(err, errlen, "cannot resolve \"%s\": the resolver process "
                 "failed", host);
        return WEIR_ERROR;
    }
    if (a.gai != 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", host,
                 a.gai == EAI_SYSTEM ? strerror(a.sys) : gai_strerror(a.gai));
        return WEIR_ERROR;
    }
    if (a.n == 0 || a.n > WEIR_RESOLVE_MAX) {
        snprintf(err, errlen, "cannot resolve \"%s\": no IPv4 or IPv6 "
                 "address", host);
        return WEIR_ERROR;
    }
    for (i = 0; i < a.n; i++) {
        out[i] = a.addr[i];
    }
    *n = a.n;
    return WEIR_OK;
}
