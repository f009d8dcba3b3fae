/*
 * The listener group: for each listen address one SO_REUSEPORT socket per
 * worker slot, created and held by the master for its whole life so that a
 * crashed worker's queue waits for its replacement and a reload hands the
 * same sockets to the new generation (DESIGN §2).
 *
 * A reload that lowers `workers` does not close the surplus sockets of a
 * kept address: closing a SO_REUSEPORT socket resets every connection
 * still in its accept queue. They stay open and a remaining worker
 * (owner = slot % workers) accepts on them too.
 */
#ifndef WEIR_EVENT_LISTEN_H
#define WEIR_EVENT_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include "core/core.h"

typedef struct weir_listen_sock_s {
    struct sockaddr_storage addr;
    socklen_t               addrlen;
    char                    text[64];
    int                     backlog;
    int                     slot;    /* the slot it was opened for */
    int                     owner;   /* worker slot that accepts on it */
    int                     fd;
    unsigned                keep:1;  /* marked during a sync */
    unsigned                fresh:1; /* opened by a pending prepare */
} weir_listen_sock_t;

typedef struct weir_listen_group_s {
    weir_listen_sock_t *socks;
    size_t              n;
    /* Between a prepare and its commit or abort: the set in use before
     * (socks is the prepared one). Entries not marked keep are the
     * sockets the prepared set drops. */
    weir_listen_sock_t *prev;
    size_t              nprev;
} weir_listen_group_t;

/* A wanted address (from the configuration). */
typedef struct weir_listen_want_s {
    const struct sockaddr *addr;
    socklen_t              addrlen;
    const char            *text;
    int                    backlog;
} weir_listen_want_t;

/* Make the group hold one socket per (wanted address, slot < nslots):
 * sockets already open for an address and slot are kept (same fd), new
 * ones are bound, and those of addresses no longer wanted are closed.
 * Sockets of a wanted address in slots >= nslots are kept, owned by slot
 * % nslots (see above). On a bind or listen failure nothing is closed, the
 * new sockets opened so far are rolled back, and WEIR_ERROR is returned
 * with a message in err. */
int weir_listen_group_sync(weir_listen_group_t *g,
    const weir_listen_want_t *want, size_t nwant, int nslots, char *err,
    size_t errlen);

/* The same in two steps, for a reload whose new workers may fail to
 * start: prepare opens what is new and makes it the group (the workers
 * forked now get it) but closes nothing; commit then closes what the new
 * set dropped, abort closes what prepare opened and puts the previous set
 * back. Without abort, sockets nobody accepts on would take their share
 * of new connections (SO_REUSEPORT) and hold them; without the delay, an
 * address the old generation still serves would be closed under it. */
int weir_listen_group_prepare(weir_listen_group_t *g,
    const weir_listen_want_t *want, size_t nwant, int nslots, char *err,
    size_t errlen);
void weir_listen_group_commit(weir_listen_group_t *g);
void weir_listen_group_abort(weir_listen_group_t *g);

/* The fds a worker slot accepts on for an address: call with *pos = 0,
 * then again while it returns an fd >= 0; -1 when there are no more. */
int weir_listen_group_next(const weir_listen_group_t *g,
    const struct sockaddr *addr, socklen_t addrlen, int owner, size_t *pos);

/* Close every socket (master exit). */
void weir_listen_group_close(weir_listen_group_t *g);

/* Close the sockets a worker slot accepts on (owner == slot): during a
 * stop, once that worker is gone, so that new connections go to a
 * socket someone still accepts on, or are refused, instead of waiting
 * in a queue nobody reads. */
void weir_listen_group_close_owner(weir_listen_group_t *g, int owner);

/* Take over a listening socket inherited from an old master (binary
 * upgrade): fd must be a bound, listening TCP socket; it joins the group
 * for worker slot `slot` with the address it is bound to, and gets
 * FD_CLOEXEC back. A following weir_listen_group_prepare() keeps it for
 * the same (address, slot), or leaves it to commit (closed) or abort (kept
 * in the group). WEIR_OK, or WEIR_ERROR with a message in err (fd is left
 * alone). */
int weir_listen_group_adopt(weir_listen_group_t *g, int fd, int slot,
    char *err, size_t errlen);

/* Compare two socket addresses (family, address, port). 1 if equal. */
int weir_sockaddr_equal(const struct sockaddr *a, socklen_t alen,
    const struct sockaddr *b, socklen_t blen);

#endif /* WEIR_EVENT_LISTEN_H */
