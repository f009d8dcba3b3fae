/*
 * The per-worker event loop: epoll (edge-triggered), a timer heap and a
 * queue of posted events. One loop per process; created after fork.
 *
 * The loop body (weir_loop_run_once) reads as: nearest timer, epoll_wait,
 * dispatch, expire timers, run posted events, end of pass.
 */
#ifndef WEIR_EVENT_LOOP_H
#define WEIR_EVENT_LOOP_H

#include <signal.h>
#include <stddef.h>
#include "core/core.h"

typedef struct weir_event_s weir_event_t;
typedef void (*weir_event_handler_pt)(weir_event_t *ev);

struct weir_event_s {
    void                  *data;       /* owner (a connection) */
    weir_event_handler_pt  handler;
    weir_msec_t            deadline;
    size_t                 heap_slot;  /* 1-based slot in the heap; 0: none */
    weir_event_t          *posted_next;
    unsigned               write:1;    /* the write side of a connection */
    unsigned               ready:1;    /* edge seen, not yet drained */
    unsigned               timedout:1;
    unsigned               posted:1;
    unsigned               eof:1;      /* peer half-closed (EPOLLRDHUP) */
    unsigned               error:1;    /* EPOLLERR / EPOLLHUP */
};

/* Create the epoll instance. WEIR_OK or WEIR_ERROR (logged). */
int weir_loop_init(void);

/* Register fd edge-triggered for both directions. `ptr` is what dispatch
 * receives; its low bit is the instance bit (see conn.c). */
int weir_loop_add(int fd, void *ptr);
int weir_loop_del(int fd);

/* Dispatcher for epoll readiness, and what to run once every event,
 * timer and posted event of a pass is handled (the connection layer frees
 * what was closed during the pass there): set by the connection layer. */
typedef void (*weir_loop_dispatch_pt)(void *ptr, unsigned events);
void weir_loop_set_dispatch(weir_loop_dispatch_pt fn, void (*pass_end)(void));

/* Signals to let through while waiting (epoll_pwait): the process keeps
 * them blocked otherwise, so a flag set by a handler is never missed
 * between a check and the wait. NULL: the current mask. */
void weir_loop_set_sigmask(const sigset_t *mask);

/* Timers: (re)arm ev to fire after `ms`; delete. */
void weir_timer_add(weir_event_t *ev, weir_msec_t ms);
void weir_timer_del(weir_event_t *ev);
/* Milliseconds to the nearest timer, -1 if none. */
weir_msec_t weir_timer_next(void);
size_t weir_timer_count(void);

/* Run ev->handler(ev) after the current dispatch round. */
void weir_event_post(weir_event_t *ev);
void weir_event_unpost(weir_event_t *ev);

/* One iteration; waits at most max_wait ms (-1: until an event or timer).
 * Returns WEIR_OK or WEIR_ERROR on a fatal epoll error. */
int weir_loop_run_once(weir_msec_t max_wait);

#endif /* WEIR_EVENT_LOOP_H */
