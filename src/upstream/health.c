#include "weir_config.h"
#include "upstream/health.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/log.h"
#include "core/random.h"
#include "core/str.h"
#include "core/wtime.h"
#include "event/conn.h"
#include "event/loop.h"
#include "event/tls.h"
#include "upstream/peer_state.h"
#include "upstream/upstream.h"

#define PROBE_BUF   16384    /* head and the start of the body */

typedef struct probe_s {
    const weir_upstream_conf_t *uc;
    const weir_peer_conf_t     *pc;
    weir_event_t                timer;     /* the next probe */
    weir_conn_t                *c;         /* the probe in flight */
    char                        req[1024];
    size_t                      req_len, sent;
    char                        buf[PROBE_BUF + 1];
    size_t                      got;
} probe_t;

static void probe_start(weir_event_t *ev);
static void probe_write(weir_event_t *ev);
static void probe_read(weir_event_t *ev);
static void probe_end(probe_t *p, int ok, const char *why);
static int answer_complete(probe_t *p);
static void schedule(probe_t *p, int first);

int
weir_health_wanted(weir_upstream_conf_t *const *ups, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ups[i]->health_check) {
            return 1;
        }
    }
    return 0;
}

/* ---- health_expect ---------------------------------------------------------- */

static void
status_set(uint64_t *bits, int lo, int hi)
{
    int s;

    for (s = lo; s <= hi; s++) {
        bits[s / 64] |= (uint64_t) 1 << (s % 64);
    }
}

int
weir_health_expect_parse(weir_upstream_conf_t *u, const char *value,
    char *err, size_t errlen)
{
    const char *p = value, *tilde = strchr(value, '~');
    const char *end = tilde ? tilde : value + strlen(value);
    long        lo, hi;
    char       *e;
    int         any = 0, errcode;
    PCRE2_SIZE  erroff;
    PCRE2_UCHAR msg[256];

    memset(u->health_status, 0, sizeof(u->health_status));
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p == end) {
            break;
        }
        lo = strtol(p, &e, 10);
        hi = lo;
        if (e > p && *e == '-') {
            const char *q = e + 1;
            hi = strtol(q, &e, 10);
            if (e == q) {
                hi = -1;
            }
        }
        if (e == p || lo < 100 || hi > 599 || hi < lo
            || (e < end && *e != ' ' && *e != '\t')) {
            snprintf(err, errlen, "invalid status \"%.*s\" (expected codes "
                     "such as 200 or ranges such as 200-399, then "
                     "optionally ~ regex)", (int) strcspn(p, " \t~"), p);
            return WEIR_ERROR;
        }
        status_set(u->health_status, (int) lo, (int) hi);
        any = 1;
        p = e;
    }
    if (!any) {
        status_set(u->health_status, 200, 399);
    }
    if (tilde) {
        p = tilde + 1;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            snprintf(err, errlen, "empty regex after ~");
            return WEIR_ERROR;
        }
        u->health_regex = pcre2_compile((PCRE2_SPTR) p, PCRE2_ZERO_TERMINATED,
                                        0, &errcode, &erroff, NULL);
        if (u->health_regex == NULL) {
            pcre2_get_error_message(errcode, msg, sizeof(msg));
            snprintf(err, errlen, "regex error at offset %zu: %s",
                     (size_t) erroff, (const char *) msg);
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

void
weir_health_expect_free(weir_upstream_conf_t *u)
{
    if (u->health_regex) {
        pcre2_code_free(u->health_regex);
        u->health_regex = NULL;
    }
}

int
weir_health_expected(const weir_upstream_conf_t *u, int status,
    const char *body, size_t len)
{
    static pcre2_match_data *md;
    uint64_t                 bits[10];
    int                      any = 0;
    size_t                   i;

    memcpy(bits, u->health_status, sizeof(bits));
    for (i = 0; i < 10; i++) {
        any |= bits[i] != 0;
    }
    if (!any) {
        status_set(bits, 200, 399);     /* health_expect not set */
    }
    if (status < 0 || status >= 640
        || !(bits[status / 64] & ((uint64_t) 1 << (status % 64)))) {
        return 0;
    }
    if (u->health_regex == NULL) {
        return 1;
    }
    if (body == NULL) {
        return -1;      /* the status passes; the body is not judged */
    }
    if (md == NULL) {
        md = pcre2_match_data_create(4, NULL);
        if (md == NULL) {
            return 0;
        }
    }
    return pcre2_match(u->health_regex, (PCRE2_SPTR) body, len, 0, 0, md,
                       NULL) >= 0;
}

/* ---- probing ------------------------------------------------------------------ */

int
weir_health_start(weir_upstream_conf_t *const *ups, size_t n)
{
    size_t i, j;
    int    len;

    for (i = 0; i < n; i++) {
        if (ups[i]->health_check == NULL) {
            continue;
        }
        for (j = 0; j < ups[i]->npeers; j++) {
            probe_t *p = calloc(1, sizeof(*p));
            if (p == NULL) {
                return WEIR_ERROR;
            }
            p->uc = ups[i];
            p->pc = &ups[i]->peers[j];
            if (p->pc->state == NULL || p->pc->down) {
                free(p);
                continue;       /* never used: nothing to check */
            }
            len = snprintf(p->req, sizeof(p->req),
                           "GET %s HTTP/1.1\r\nHost: %s\r\n"
                           "User-Agent: weir-health-check/%s\r\n"
                           "Accept: */*\r\nConnection: close\r\n\r\n",
                           ups[i]->health_check,
                           ups[i]->health_host ? ups[i]->health_host
                           : p->pc->host ? p->pc->host : p->pc->text,
                           WEIR_VERSION);
            if (len < 0 || (size_t) len >= sizeof(p->req)) {
                weir_log_error(WEIR_LOG_ERR, &weir_errlog, 0,
                               "upstream \"%s\": health_check request too "
                               "long", ups[i]->name);
                free(p);
                return WEIR_ERROR;
            }
            p->req_len = (size_t) len;
            p->timer.data = p;
            p->timer.handler = probe_start;
            schedule(p, 1);
        }
    }
    return WEIR_OK;
}

/* The next probe in health_interval +-10% (the first one anywhere in the
 * first interval, so that the peers are not all probed at once). */
static void
schedule(probe_t *p, int first)
{
    weir_msec_t iv = p->uc->health_interval, d;

    if (first) {
        d = (weir_msec_t) weir_random_below((uint64_t) iv);
    } else {
        d = iv - iv / 10 + (weir_msec_t) weir_random_below((uint64_t) iv / 5
                                                           + 1);
    }
    weir_timer_add(&p->timer, weir_max(d, 1));
}

static void
probe_start(weir_event_t *ev)
{
    probe_t *p = ev->data;
    int      fd, rc;

    ev->timedout = 0;
    fd = socket(p->pc->addr.ss_family,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        probe_end(p, 0, "socket() failed");
        return;
    }
    do {
        rc = connect(fd, (const struct sockaddr *) &p->pc->addr,
                     p->pc->addrlen);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        probe_end(p, 0, errno == ECONNREFUSED ? "connection refused"
                                              : "connect failed");
        return;
    }
    p->c = weir_conn_get(fd);
    if (p->c == NULL) {
        close(fd);
        probe_end(p, 0, "out of memory");
        return;
    }
    p->c->data = p;
    p->c->read.handler = probe_read;
    p->c->write.handler = probe_write;
    p->c->log.action = "checking upstream health";
    p->sent = 0;
    p->got = 0;
    /* One deadline for the whole probe. */
    weir_timer_add(&p->c->write, p->uc->health_timeout);
}

static void
probe_write(weir_event_t *ev)
{
    weir_conn_t  *c = ev->data;
    probe_t      *p = c->data;
    int           err = 0;
    socklen_t     len = sizeof(err);
    struct iovec  iov;
    ssize_t       n;

    if (ev->timedout) {
        ev->timedout = 0;
        probe_end(p, 0, "timed out");
        return;
    }
    if (p->sent == 0 && c->ssl == NULL) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err) {
            probe_end(p, 0, err == ECONNREFUSED ? "connection refused"
                                                : "connect failed");
            return;
        }
        if (p->uc->tls
            && weir_upstream_tls_start(c, p->uc, p->pc, NULL) != WEIR_OK) {
            probe_end(p, 0, "cannot start TLS");
            return;
        }
    }
    if (c->ssl && !c->tls_done) {
        /* probes speak TLS to a tls upstream, verified like requests */
        n = weir_tls_handshake(c);
        if (n == WEIR_AGAIN) {
            return;
        }
        if (n != WEIR_OK) {
            char why[200], msg[240];

            snprintf(msg, sizeof(msg), "TLS handshake failed: %s",
                     weir_tls_error_text(why, sizeof(why), "closed"));
            probe_end(p, 0, msg);
            return;
        }
    }
    while (p->sent < p->req_len) {
        iov.iov_base = p->req + p->sent;
        iov.iov_len = p->req_len - p->sent;
        n = c->writev(c, &iov, 1);
        if (n == WEIR_AGAIN) {
            return;
        }
        if (n < 0) {
            probe_end(p, 0, "send failed");
            return;
        }
        p->sent += (size_t) n;
    }
    probe_read(&c->read);
}

static void
probe_read(weir_event_t *ev)
{
    weir_conn_t *c = ev->data;
    probe_t     *p = c->data;
    ssize_t      n;

    if (c->ssl && !c->tls_done) {
        probe_write(&c->write);     /* the handshake wants to read */
        return;
    }
    if (p->sent < p->req_len) {
        return;     /* the write side runs first */
    }
    for (;;) {
        if (p->got == PROBE_BUF) {
            break;                  /* enough to judge */
        }
        n = c->recv(c, p->buf + p->got, PROBE_BUF - p->got);
        if (n == WEIR_AGAIN) {
            if (answer_complete(p)) {
                break;
            }
            return;
        }
        if (n < 0) {
            if (p->got == 0) {
                probe_end(p, 0, "connection reset");
                return;
            }
            break;
        }
        if (n == 0) {
            break;                  /* the peer closed: all there is */
        }
        p->got += (size_t) n;
    }
    p->buf[p->got] = '\0';
    {
        int         status = -1;
        const char *body = strstr(p->buf, "\r\n\r\n");
        char        why[64];

        if (p->got >= 12 && memcmp(p->buf, "HTTP/1.", 7) == 0
            && p->buf[8] == ' ') {
            status = atoi(p->buf + 9);
        }
        if (status < 100 || body == NULL) {
            probe_end(p, 0, "invalid response");
            return;
        }
        body += 4;
        if (weir_health_expected(p->uc, status, body,
                                 (size_t) (p->buf + p->got - body))) {
            probe_end(p, 1, NULL);
            return;
        }
        /* Which part failed: the status, or (status fine) the body. */
        if (p->uc->health_regex && weir_health_expected(p->uc, status, NULL,
                                                       0) < 0) {
            snprintf(why, sizeof(why), "status %d, body does not match "
                     "health_expect", status);
        } else {
            snprintf(why, sizeof(why), "status %d", status);
        }
        probe_end(p, 0, why);
    }
}

/* With Content-Length, the whole body may be here before the peer
 * closes: no need to wait for the close. */
static int
answer_complete(probe_t *p)
{
    const char *body, *cl;
    long        len;

    p->buf[p->got] = '\0';
    body = strstr(p->buf, "\r\n\r\n");
    if (body == NULL) {
        return 0;
    }
    cl = strcasestr(p->buf, "\r\ncontent-length:");
    if (cl == NULL || cl > body) {
        return 0;
    }
    len = strtol(cl + 17, NULL, 10);
    return len >= 0 && (size_t) (p->buf + p->got - (body + 4))
                       >= (size_t) len;
}

/* The verdict of one probe into the shared record (the checker is its
 * only writer of these fields), logging a change of state. */
static void
probe_end(probe_t *p, int ok, const char *why)
{
    weir_peer_state_t *s = p->pc->state;
    uint32_t           passes, fails;

    if (p->c) {
        weir_conn_close(p->c);
        p->c = NULL;
    }
    weir_stat_add(&s->checks_total, 1);
    if (ok) {
        atomic_store(&s->check_fails, 0);
        passes = atomic_fetch_add(&s->check_passes, 1) + 1;
        if (!atomic_load(&s->health)
            && passes >= (uint32_t) p->uc->health_rise) {
            atomic_store(&s->usable_since, weir_current_msec);
            atomic_store(&s->health, 1);
            weir_log_error(WEIR_LOG_NOTICE, &weir_errlog, 0,
                           "upstream \"%s\" peer %s: health down -> up (%u "
                           "checks passed)", p->uc->name, p->pc->text,
                           passes);
        }
    } else {
        weir_stat_add(&s->checks_failed_total, 1);
        atomic_store(&s->check_passes, 0);
        fails = atomic_fetch_add(&s->check_fails, 1) + 1;
        if (atomic_load(&s->health)
            && fails >= (uint32_t) p->uc->health_fall) {
            atomic_store(&s->health, 0);
            weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0,
                           "upstream \"%s\" peer %s: health up -> down (%u "
                           "checks failed, last: %s)", p->uc->name,
                           p->pc->text, fails, why);
        } else {
            weir_log_error(WEIR_LOG_INFO, &weir_errlog, 0,
                           "upstream \"%s\" peer %s: health check failed: %s",
                           p->uc->name, p->pc->text, why);
        }
    }
    schedule(p, 0);
}
