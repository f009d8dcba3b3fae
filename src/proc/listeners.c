#include "weir_config.h"
#include "proc/listeners.h"

#include <stdio.h>
#include "core/log.h"
#include "proc/master.h"

size_t
weir_listen_wants(const weir_config_t *cf, int admin_only,
    weir_listen_want_t *want, size_t cap)
{
    size_t i, j, n = 0;

    for (i = admin_only ? cf->http.nservers : 0; i <= cf->http.nservers;
         i++) {
        const weir_server_conf_t *srv = i < cf->http.nservers
                                        ? cf->http.servers[i]
                                        : cf->admin.server;
        if (srv == NULL) {
            continue;
        }
        for (j = 0; j < srv->nlistens && n < cap; j++) {
            if (srv->listens[j].vhost && !srv->listens[j].is_default) {
                continue;   /* shared: the default server's line opens it */
            }
            want[n].addr = (const struct sockaddr *) &srv->listens[j].addr;
            want[n].addrlen = srv->listens[j].addrlen;
            want[n].text = srv->listens[j].text;
            want[n].backlog = srv->listens[j].backlog;
            n++;
        }
    }
    return n;
}

void
weir_listen_keep_admin(weir_listen_group_t *g, const weir_config_t *cf)
{
    weir_listen_want_t want[64];
    size_t             n;
    char               err[256];

    n = weir_listen_wants(cf, 1, want, weir_nelems(want));
    if (weir_listen_group_sync(g, want, n, (int) cf->main.workers, err,
                               sizeof(err)) != WEIR_OK) {
        weir_log_error(WEIR_LOG_WARN, &weir_errlog, 0, "%s", err);
    }
}

int
weir_master_check(weir_config_t *cf, char *err, size_t errlen)
{
    return weir_config_tls_build(cf, err, errlen);
}
