#include "weir_config.h"
#include "event/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "core/log.h"
#include "core/wtime.h"

#define WEIR_LOOP_EVENTS 512

static int                    epfd = -1;
static weir_loop_dispatch_pt  dispatch;
static void                 (*pass_end)(void);
static weir_event_t         **heap;       /* min-heap on deadline */
static size_t                 heap_len, heap_cap;
static weir_event_t          *posted_head, *posted_tail;
static const sigset_t        *wait_mask;

static void heap_swap(size_t a, size_t b);
static void heap_up(size_t i);
static void heap_down(size_t i);
static void timers_expire(void);
static void posted_run(void);

int
weir_loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        weir_log_error(WEIR_LOG_EMERG, &weir_errlog, errno,
                       "epoll_create1() failed");
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

void
weir_loop_set_sigmask(const sigset_t *mask)
{
    wait_mask = mask;
}

void
weir_loop_set_dispatch(weir_loop_dispatch_pt fn, void (*end)(void))
{
    dispatch = fn;
    pass_end = end;
}

int
weir_loop_add(int fd, void *ptr)
{
    struct epoll_event ee;

    ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ee.data.ptr = ptr;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "epoll_ctl(ADD, %d) failed", fd);
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

int
weir_loop_del(int fd)
{
    struct epoll_event ee = { 0, { 0 } };

    if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ee) < 0 && errno != EBADF
        && errno != ENOENT) {
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "epoll_ctl(DEL, %d) failed", fd);
        return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* --- timers: a binary min-heap; each event remembers its slot ------------ */

static void
heap_swap(size_t a, size_t b)
{
    weir_event_t *t = heap[a];

    heap[a] = heap[b];
    heap[b] = t;
    heap[a]->heap_slot = a + 1;
    heap[b]->heap_slot = b + 1;
}

static void
heap_up(size_t i)
{
    while (i > 0 && heap[(i - 1) / 2]->deadline > heap[i]->deadline) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
heap_down(size_t i)
{
    size_t l, r, m;

    for (;;) {
        l = 2 * i + 1;
        r = l + 1;
        m = i;
        if (l < heap_len && heap[l]->deadline < heap[m]->deadline) {
            m = l;
        }
        if (r < heap_len && heap[r]->deadline < heap[m]->deadline) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(i, m);
        i = m;
    }
}

void
weir_timer_add(weir_event_t *ev, weir_msec_t ms)
{
    weir_event_t **n;
    weir_msec_t    deadline = weir_current_msec + ms;

    if (ev->heap_slot) {
        /* Re-arming to (almost) the same time is common on busy
         * connections: skip the heap work within 10 ms. */
        if (deadline - ev->deadline < 10 && deadline - ev->deadline > -10) {
            return;
        }
        weir_timer_del(ev);
    }
    if (heap_len == heap_cap) {
        size_t cap = heap_cap ? heap_cap * 2 : 256;
        n = realloc(heap, cap * sizeof(*heap));
        if (n == NULL) {
            /* Without a timer the connection could hang forever: make it
             * time out at once instead. */
            ev->timedout = 1;
            weir_event_post(ev);
            return;
        }
        heap = n;
        heap_cap = cap;
    }
    ev->deadline = deadline;
    ev->timedout = 0;
    heap[heap_len] = ev;
    ev->heap_slot = ++heap_len;
    heap_up(heap_len - 1);
}

void
weir_timer_del(weir_event_t *ev)
{
    size_t i;

    if (ev->heap_slot == 0) {
        return;
    }
    i = ev->heap_slot - 1;
    ev->heap_slot = 0;
    heap_len--;
    if (i != heap_len) {
        heap[i] = heap[heap_len];
        heap[i]->heap_slot = i + 1;
        heap_down(i);
        heap_up(i);
    }
}

weir_msec_t
weir_timer_next(void)
{
    weir_msec_t d;

    if (heap_len == 0) {
        return -1;
    }
    d = heap[0]->deadline - weir_current_msec;
    return d > 0 ? d : 0;
}

size_t
weir_timer_count(void)
{
    return heap_len;
}

static void
timers_expire(void)
{
    weir_event_t *ev;

    while (heap_len && heap[0]->deadline <= weir_current_msec) {
        ev = heap[0];
        weir_timer_del(ev);
        ev->timedout = 1;
        ev->handler(ev);
    }
}

/* --- posted events -------------------------------------------------------- */

void
weir_event_post(weir_event_t *ev)
{
    if (ev->posted) {
        return;
    }
    ev->posted = 1;
    ev->posted_next = NULL;
    if (posted_tail) {
        posted_tail->posted_next = ev;
    } else {
        posted_head = ev;
    }
    posted_tail = ev;
}

void
weir_event_unpost(weir_event_t *ev)
{
    weir_event_t **pp, *prev = NULL;

    if (!ev->posted) {
        return;
    }
    for (pp = &posted_head; *pp; prev = *pp, pp = &(*pp)->posted_next) {
        if (*pp == ev) {
            *pp = ev->posted_next;
            if (posted_tail == ev) {
                posted_tail = prev;
            }
            break;
        }
    }
    ev->posted = 0;
}

static void
posted_run(void)
{
    weir_event_t *ev;

    /* Handlers may post more events; those run in this same pass. */
    while ((ev = posted_head) != NULL) {
        posted_head = ev->posted_next;
        if (posted_head == NULL) {
            posted_tail = NULL;
        }
        ev->posted = 0;
        ev->handler(ev);
    }
}

int
weir_loop_run_once(weir_msec_t max_wait)
{
    struct epoll_event events[WEIR_LOOP_EVENTS];
    weir_msec_t        timeout = weir_timer_next();
    int                n, i;

    if (posted_head) {
        timeout = 0;
    } else if (max_wait >= 0 && (timeout < 0 || timeout > max_wait)) {
        timeout = max_wait;
    }
    n = epoll_pwait(epfd, events, WEIR_LOOP_EVENTS, (int) timeout, wait_mask);
    weir_time_update();
    if (n < 0) {
        if (errno == EINTR) {
            return WEIR_OK;
        }
        weir_log_error(WEIR_LOG_ALERT, &weir_errlog, errno,
                       "epoll_wait() failed");
        return WEIR_ERROR;
    }
    for (i = 0; i < n; i++) {
        dispatch(events[i].data.ptr, events[i].events);
    }
    timers_expire();
    posted_run();
    if (pass_end) {
        pass_end();
    }
    return WEIR_OK;
}
