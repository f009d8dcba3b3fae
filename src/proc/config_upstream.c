#include "weir_config.h"
#include "proc/config-t.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "core/conf.h"
#include "core/str.h"
#include "core/units.h"
#include "proc/resolve.h"
#include "upstream/health.h"

/*
 * The setters of [upstream] that need more than a table row: the server
 * lines with their options, and health_expect.
 */

static int peer_option(weir_conf_t *c, weir_peer_conf_t *peer, char *opt);
static int resolve_peer(weir_conf_t *c, const char *word,
    struct sockaddr_storage *addrs, size_t *n, char **host);
static int add_peer(weir_conf_t *c, weir_upstream_conf_t *u,
    const weir_peer_conf_t *peer);

/* server = ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [max_conns=N]
 *          [backup] [down]
 * where ADDRESS is IP:PORT, [IPv6]:PORT or NAME:PORT; a name is resolved
 * now and each of its addresses is a peer with the same options. */
int
weir_config_set_peer(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj, char *value)
{
    weir_upstream_conf_t   *u = obj;
    weir_peer_conf_t        peer;
    struct sockaddr_storage addrs[WEIR_RESOLVE_MAX];
    char                    err[160], *p = value, *w, *host = NULL;
    size_t                  i, n = 1;

    (void) cmd;
    memset(&peer, 0, sizeof(peer));
    w = weir_conf_next_word(&p);
    if (weir_units_parse_addr(w, 0, &addrs[0], &peer.addrlen, peer.text,
                              sizeof(peer.text), err, sizeof(err)) != WEIR_OK)
    {
        int rc = resolve_peer(c, w, addrs, &n, &host);
        if (rc == WEIR_DECLINED) {
            weir_conf_error(c, "%s", err);     /* not a name either */
        }
        if (rc != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    peer.weight = 1;
    peer.max_fails = -1;          /* the upstream's, after parsing */
    peer.fail_timeout = -1;
    while ((w = weir_conf_next_word(&p)) != NULL) {
        if (peer_option(c, &peer, w) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    peer.host = host;
    for (i = 0; i < n; i++) {
        peer.addr = addrs[i];
        peer.addrlen = addrs[i].ss_family == AF_INET6
                       ? sizeof(struct sockaddr_in6)
                       : sizeof(struct sockaddr_in);
        weir_units_format_addr(&peer.addr, peer.text, sizeof(peer.text));
        if (add_peer(c, u, &peer) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }
    return WEIR_OK;
}

static int
add_peer(weir_conf_t *c, weir_upstream_conf_t *u, const weir_peer_conf_t *peer)
{
    weir_peer_conf_t *a;
    size_t            i;

    for (i = 0; i < u->npeers; i++) {
        if (weir_units_addr_eq(&u->peers[i].addr, &peer->addr)) {
            if (peer->host) {
                weir_conf_error(c, "duplicate server %s (%s)", peer->text,
                                peer->host);
            } else {
                weir_conf_error(c, "duplicate server %s", peer->text);
            }
            return WEIR_ERROR;
        }
    }
    a = weir_conf_grow(c, u->peers, u->npeers, sizeof(*a));
    if (a == NULL) {
        return WEIR_ERROR;
    }
    u->peers = a;
    a[u->npeers++] = *peer;
    return WEIR_OK;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* NAME:PORT: its addresses, within what is left of the load's time for
 * names (WEIR_RESOLVE_TOTAL_MS). WEIR_DECLINED when word is not a name
 * (nothing reported), WEIR_ERROR after reporting. */
static int
resolve_peer(weir_conf_t *c, const char *word, struct sockaddr_storage *addrs,
    size_t *n, char **host)
{
    load_t   *ld = c->data;
    char      name[256], err[512];
    unsigned  port;
    int64_t   now = mono_ms();

    if (weir_units_parse_hostport(word, name, sizeof(name), &port)
        != WEIR_OK) {
        return WEIR_DECLINED;
    }
    if (ld->resolve_until == 0) {
        ld->resolve_until = now + WEIR_RESOLVE_TOTAL_MS;
    }
    if (weir_resolve(name, port, (int) (ld->resolve_until - now), addrs, n,
                     err, sizeof(err)) != WEIR_OK) {
        weir_conf_error(c, "%s", err);
        return WEIR_ERROR;
    }
    *host = weir_pstrndup(c->pool, word, strlen(word));
    if (*host == NULL) {
        weir_conf_error(c, "out of memory");
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

static int
peer_option(weir_conf_t *c, weir_peer_conf_t *peer, char *opt)
{
    char    *eq = strchr(opt, '=');
    int64_t  n = -1;

    if (strcmp(opt, "backup") == 0) {
        peer->backup = 1;
        return WEIR_OK;
    }
    if (strcmp(opt, "down") == 0) {
        peer->down = 1;
        return WEIR_OK;
    }
    if (eq && strncmp(opt, "fail_timeout=", 13) == 0) {
        if (weir_units_parse_msec(eq + 1, &n) == WEIR_OK && n > 0) {
            peer->fail_timeout = n;
            return WEIR_OK;
        }
        weir_conf_error(c, "invalid time in \"%s\"", opt);
        return WEIR_ERROR;
    }
    if (eq && strncmp(opt, "max_conns=", 10) == 0) {
        if (weir_str_atoi64(eq + 1, strlen(eq + 1), &n) != WEIR_OK
            || n < 0 || n > 1000000)
        {
            weir_conf_error(c, "invalid number in \"%s\" (expected "
                            "0..1000000)", opt);
            return WEIR_ERROR;
        }
        peer->max_conns = (int) n;
        return WEIR_OK;
    }
    if (eq && (strncmp(opt, "weight=", 7) == 0
               || strncmp(opt, "max_fails=", 10) == 0))
    {
        int weight = opt[0] == 'w';
        if (weir_str_atoi64(eq + 1, strlen(eq + 1), &n) != WEIR_OK
            || n < weight || n > 1000)
        {
            weir_conf_error(c, "invalid number in \"%s\" (expected %d..1000)",
                            opt, weight);
            return WEIR_ERROR;
        }
        *(weight ? &peer->weight : &peer->max_fails) = (int) n;
        return WEIR_OK;
    }
    weir_conf_error(c, "unknown server option \"%s\" (expected weight=N, "
                    "max_fails=N, fail_timeout=T, max_conns=N, backup or "
                    "down)", opt);
    return WEIR_ERROR;
}

void
weir_config_dump_peer(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_upstream_conf_t *u = obj;
    char                        t[32];
    size_t                      i;

    for (i = 0; i < u->npeers; i++) {
        const weir_peer_conf_t *p = &u->peers[i];
        if (p->host && i > 0 && u->peers[i - 1].host == p->host) {
            continue;           /* the name's line is written once */
        }
        weir_units_format_msec(p->fail_timeout, t, sizeof(t));
        fprintf(out, "%s = %s weight=%d max_fails=%d fail_timeout=%s "
                "max_conns=%d%s%s\n", cmd->key, p->host ? p->host : p->text,
                p->weight,
                p->max_fails, t, p->max_conns, p->backup ? " backup" : "",
                p->down ? " down" : "");
    }
}

/* health_expect = 200 204 300-399 [~ regex] */
int
weir_config_set_health_expect(weir_conf_t *c, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    weir_upstream_conf_t *u = obj;
    char                  err[300];

    (void) cmd;
    if (u->health_regex) {
        weir_health_expect_free(u);
    }
    if (weir_health_expect_parse(u, value, err, sizeof(err)) != WEIR_OK) {
        weir_conf_error(c, "%s", err);
        return WEIR_ERROR;
    }
    u->health_expect = value;
    return WEIR_OK;
}
