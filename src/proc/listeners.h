/*
 * The listen addresses a configuration wants, as the listener group
 * (event/listen.h) takes them: the [server] sections', then the admin
 * listener's.
 */
#ifndef WEIR_PROC_LISTENERS_H
#define WEIR_PROC_LISTENERS_H

#include <stddef.h>
#include "event/listen.h"
#include "proc/config.h"

/* Fill want[0..cap) with cf's addresses (only the admin listener's when
 * admin_only); the number filled. */
size_t weir_listen_wants(const weir_config_t *cf, int admin_only,
    weir_listen_want_t *want, size_t cap);

/* A graceful stop: close every listening socket of g but the admin
 * listener's (new connections are refused at once; /healthz still
 * answers while the workers drain). */
void weir_listen_keep_admin(weir_listen_group_t *g, const weir_config_t *cf);

#endif /* WEIR_PROC_LISTENERS_H */
