/*
 * The configuration model of the [admin] section: /metrics /healthz
 * /status /purge (runtime arrives with a later issue).
 */
#ifndef WEIR_ADMIN_CONF_H
#define WEIR_ADMIN_CONF_H

#include <stddef.h>
#include "http/http_conf.h"

typedef struct weir_admin_conf_s {
    weir_listen_conf_t *listens;
    size_t              nlistens;
    char              **allow;        /* CIDRs allowed; default loopback */
    size_t              nallow;
    /* Made by the loader: the listening server of kind admin, with one
     * route to the admin handler and `allow` compiled. Not among the
     * [server] sections. */
    weir_server_conf_t *server;
} weir_admin_conf_t;

#endif /* WEIR_ADMIN_CONF_H */
