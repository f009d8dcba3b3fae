#include "weir_config.h"
#include "core/shm.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"

/*
 * The allocator is compiled into this test with its crash points live: a
 * process whose fault_at equals a point's number dies there, inside the
 * allocator lock (exit status 99). In weir the points are empty; these
 * definitions take precedence over libweir.a's shm.o at link time.
 */
static int fault_at;
#define WEIR_SHM_FAULT(n)                                                   \
    do {                                                                    \
        if ((n) == fault_at) {                                              \
            _exit(99);                                                      \
        }                                                                   \
    } while (0)
#include "core/shm.c"

#define NFAULTS 17

#define MB (1024 * 1024)

static weir_shm_t *new_shm(size_t size);
static int wait_child(pid_t pid);
static int fill_check(unsigned char *p, size_t n, unsigned char v);
static size_t used_bytes(weir_shm_t *shm);
static uint32_t rnd(uint32_t *s);
static int churn(weir_shm_t *shm, unsigned cycles, unsigned char tag);
static void crash_sequence(weir_shm_t *shm);

static weir_shm_t *
new_shm(size_t size)
{
    char        err[256] = "";
    weir_shm_t *shm = weir_shm_create(size, err, sizeof(err));

    ck_assert_msg(shm != NULL, "create: %s", err);
    return shm;
}

/* Exit status of a child, or -1 when it died of a signal. */
static int
wait_child(pid_t pid)
{
    int st;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 1 when all n bytes at p equal v. */
static int
fill_check(unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

static size_t
used_bytes(weir_shm_t *shm)
{
    size_t used = 1, total = 0;

    weir_shm_stats(shm, &used, &total);
    ck_assert_uint_gt(total, 0);
    return used;
}

static uint32_t
rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

START_TEST(test_create_errors)
{
    char        err[256];
    weir_shm_t *shm;

    err[0] = '\0';
    ck_assert_ptr_null(weir_shm_create(1024, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "too small"));

    err[0] = '\0';
    ck_assert_ptr_null(weir_shm_create(WEIR_SHM_MAX_SIZE + 1, err,
        sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "too large"));

    /* No error buffer is fine too. */
    ck_assert_ptr_null(weir_shm_create(0, NULL, 0));

    /* An odd size is rounded up, and the overhead stays small. */
    shm = new_shm(MB + 1);
    {
        size_t used, total;

        weir_shm_stats(shm, &used, &total);
        ck_assert_uint_eq(used, 0);
        ck_assert_uint_le(total, MB + WEIR_SHM_PAGE);
        ck_assert_uint_ge(total, MB - MB / 32);
    }
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    weir_shm_destroy(shm);
    weir_shm_destroy(NULL);
}
END_TEST

/* Every size class, several pages' worth each, no overlap, right
 * alignment, and everything returns when freed. */
START_TEST(test_size_classes)
{
    weir_shm_t *shm = new_shm(4 * MB);
    size_t      sizes[] = { 1, 15, 16, 17, 31, 32, 33, 64, 100, 128, 200,
                            256, 300, 512, 1000, 1024, 2000, 2048, 3000,
                            4095, 4096 };
    enum { N = 600 };
    static unsigned char *objs[N];

    for (size_t k = 0; k < weir_nelems(sizes); k++) {
        size_t sz = sizes[k], cls = 16, n;

        while (cls < sz) {
            cls <<= 1;
        }
        /* enough objects to need at least two pages of the class */
        n = weir_min((size_t) N, 2 * WEIR_SHM_PAGE / cls + 3);
        for (size_t i = 0; i < n; i++) {
            objs[i] = weir_shm_alloc(shm, sz);
            ck_assert_msg(objs[i] != NULL, "alloc(%zu) #%zu", sz, i);
            ck_assert_msg((uintptr_t) objs[i] % cls == 0,
                "alloc(%zu) not aligned to %zu", sz, cls);
            memset(objs[i], (int) (i % 250) + 1, sz);
        }
        ck_assert_uint_gt(used_bytes(shm), 0);
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(fill_check(objs[i], sz, (unsigned char) (i % 250 + 1)),
                "object %zu of size %zu was overwritten", i, sz);
        }
        ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(weir_shm_free(shm, objs[i]), WEIR_OK);
        }
        ck_assert_uint_eq(used_bytes(shm), 0);
        ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    }

    /* Page runs: page aligned, whole pages accounted. */
    {
        size_t big[] = { 4097, 3 * 4096 + 1, 100000, MB };

        for (size_t k = 0; k < weir_nelems(big); k++) {
            unsigned char *p = weir_shm_alloc(shm, big[k]);
            unsigned char *q = weir_shm_alloc(shm, big[k]);

            ck_assert_ptr_nonnull(p);
            ck_assert_ptr_nonnull(q);
            ck_assert_uint_eq((uintptr_t) p % WEIR_SHM_PAGE, 0);
            memset(p, 0xa5, big[k]);
            memset(q, 0x5a, big[k]);
            ck_assert(fill_check(p, big[k], 0xa5));
            ck_assert_uint_eq(used_bytes(shm), 2 * weir_align(big[k],
                WEIR_SHM_PAGE));
            ck_assert_int_eq(weir_shm_free(shm, p), WEIR_OK);
            ck_assert_int_eq(weir_shm_free(shm, q), WEIR_OK);
            ck_assert_uint_eq(used_bytes(shm), 0);
        }
    }
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_bad_requests)
{
    weir_shm_t    *shm = new_shm(MB);
    unsigned char *p, *q, *run;
    int            local;
    size_t         total;

    weir_shm_stats(shm, NULL, &total);
    ck_assert_ptr_null(weir_shm_alloc(shm, 0));
    ck_assert_ptr_null(weir_shm_alloc(shm, SIZE_MAX));
    ck_assert_ptr_null(weir_shm_alloc(shm, total + 1));
    ck_assert_ptr_null(weir_shm_calloc(shm, SIZE_MAX));

    ck_assert_int_eq(weir_shm_free(shm, NULL), WEIR_OK);
    ck_assert_int_eq(weir_shm_free(shm, &local), WEIR_ERROR);
    ck_assert_int_eq(weir_shm_free(shm, shm), WEIR_ERROR);

    p = weir_shm_alloc(shm, 64);
    q = weir_shm_alloc(shm, 64);
    run = weir_shm_alloc(shm, 3 * WEIR_SHM_PAGE);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(run);
    ck_assert_int_eq(weir_shm_free(shm, p + 8), WEIR_ERROR);
    ck_assert_int_eq(weir_shm_free(shm, run + WEIR_SHM_PAGE), WEIR_ERROR);
    ck_assert_int_eq(weir_shm_free(shm, p), WEIR_OK);
    ck_assert_int_eq(weir_shm_free(shm, p), WEIR_ERROR);   /* double */
    ck_assert_int_eq(weir_shm_free(shm, q), WEIR_OK);
    ck_assert_int_eq(weir_shm_free(shm, q), WEIR_ERROR);   /* page gone */
    ck_assert_int_eq(weir_shm_free(shm, run), WEIR_OK);
    ck_assert_int_eq(weir_shm_free(shm, run), WEIR_ERROR);
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    ck_assert_uint_eq(used_bytes(shm), 0);

    /* calloc zeroes recycled memory */
    p = weir_shm_alloc(shm, 500);
    memset(p, 0xff, 500);
    ck_assert_int_eq(weir_shm_free(shm, p), WEIR_OK);
    q = weir_shm_calloc(shm, 500);
    ck_assert_ptr_eq(q, p);
    ck_assert(fill_check(q, 500, 0));
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_exhaustion)
{
    weir_shm_t *shm = new_shm(WEIR_SHM_MIN_SIZE);
    enum { MAX = 4096 };
    static void *objs[MAX];
    size_t      n = 0, used, total;
    void       *p, *all;

    while (n < MAX && (objs[n] = weir_shm_alloc(shm, 64)) != NULL) {
        n++;
    }
    ck_assert_uint_lt(n, MAX);
    ck_assert_uint_gt(n, 0);
    weir_shm_stats(shm, &used, &total);
    ck_assert_uint_eq(used, total);
    ck_assert_uint_eq(n, total / 64);
    /* every class and runs fail cleanly when no page is left */
    ck_assert_ptr_null(weir_shm_alloc(shm, 16));
    ck_assert_ptr_null(weir_shm_alloc(shm, 64));
    ck_assert_ptr_null(weir_shm_alloc(shm, 2 * WEIR_SHM_PAGE));
    ck_assert_ptr_null(weir_shm_zone(shm, "late", 10, NULL));

    /* one object back: that slot is usable again, nothing else */
    ck_assert_int_eq(weir_shm_free(shm, objs[n / 2]), WEIR_OK);
    p = weir_shm_alloc(shm, 64);
    ck_assert_ptr_eq(p, objs[n / 2]);
    ck_assert_ptr_null(weir_shm_alloc(shm, 64));

    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(weir_shm_free(shm, objs[i]), WEIR_OK);
    }
    ck_assert_uint_eq(used_bytes(shm), 0);
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);

    /* fully merged again: one run can take the whole segment */
    all = weir_shm_alloc(shm, total);
    ck_assert_ptr_nonnull(all);
    ck_assert_ptr_null(weir_shm_alloc(shm, 16));
    ck_assert_int_eq(weir_shm_free(shm, all), WEIR_OK);
    ck_assert_ptr_nonnull(weir_shm_alloc(shm, 16));
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_zones)
{
    weir_shm_t    *shm = new_shm(MB);
    int            created = -1;
    unsigned char *a, *b, *c;
    char           longname[WEIR_SHM_NAME_MAX + 2];
    weir_shm_off_t off;
    pid_t          pid;

    a = weir_shm_zone(shm, "upstream:app", 1000, &created);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(created, 1);
    ck_assert(fill_check(a, 1000, 0));
    ck_assert_uint_eq((uintptr_t) a % 64, 0);
    off = weir_shm_off(shm, a);
    a[0] = 42;

    b = weir_shm_zone(shm, "upstream:app", 1000, &created);
    ck_assert_int_eq(created, 0);
    ck_assert_uint_eq(weir_shm_off(shm, b), off);
    ck_assert_int_eq(b[0], 42);          /* not re-zeroed on find */
    /* a smaller request finds it; size 0 only finds */
    ck_assert_ptr_eq(weir_shm_zone(shm, "upstream:app", 10, NULL), a);
    ck_assert_ptr_eq(weir_shm_zone(shm, "upstream:app", 0, &created), a);
    ck_assert_int_eq(created, 0);
    ck_assert_ptr_null(weir_shm_zone(shm, "missing", 0, &created));
    ck_assert_int_eq(created, 0);
    /* grown layout: refused, never a short zone */
    ck_assert_ptr_null(weir_shm_zone(shm, "upstream:app", 1001, NULL));

    c = weir_shm_zone(shm, "upstream:api", 20000, &created);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(created, 1);
    ck_assert_ptr_ne(c, a);

    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ck_assert_ptr_null(weir_shm_zone(shm, longname, 10, &created));
    longname[WEIR_SHM_NAME_MAX] = '\0';
    ck_assert_ptr_nonnull(weir_shm_zone(shm, longname, 10, &created));
    ck_assert_int_eq(created, 1);
    ck_assert_ptr_null(weir_shm_zone(shm, "", 10, NULL));
    ck_assert_ptr_null(weir_shm_zone(shm, NULL, 10, NULL));

    /* a zone created by a child is found by name in the parent */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int            cr = 0;
        unsigned char *z = weir_shm_zone(shm, "cache:main", 64, &cr);

        if (z == NULL || cr != 1) {
            _exit(1);
        }
        z[5] = 7;
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    c = weir_shm_zone(shm, "cache:main", 64, &created);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(c[5], 7);
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    weir_shm_destroy(shm);
}
END_TEST

typedef struct {
    weir_shm_off_t child_obj;
    char           msg[32];
} shared_t;

START_TEST(test_visible_across_fork)
{
    weir_shm_t *shm = new_shm(MB);
    shared_t   *s = weir_shm_calloc(shm, sizeof(*s));
    char       *obj;
    pid_t       pid;

    ck_assert_ptr_nonnull(s);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *o = weir_shm_alloc(shm, 100);

        if (o == NULL) {
            _exit(1);
        }
        strcpy(o, "from the child");
        strcpy(s->msg, "hello");
        s->child_obj = weir_shm_off(shm, o);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_str_eq(s->msg, "hello");
    obj = weir_shm_ptr(shm, s->child_obj);
    ck_assert_ptr_nonnull(obj);
    ck_assert_str_eq(obj, "from the child");
    /* the parent frees what the child allocated */
    ck_assert_int_eq(weir_shm_free(shm, obj), WEIR_OK);
    ck_assert_int_eq(weir_shm_free(shm, s), WEIR_OK);
    ck_assert_uint_eq(used_bytes(shm), 0);
    ck_assert_ptr_null(weir_shm_ptr(shm, WEIR_SHM_OFF_NULL));
    ck_assert_uint_eq(weir_shm_off(shm, NULL), WEIR_SHM_OFF_NULL);
    weir_shm_destroy(shm);
}
END_TEST

/*
 * Alloc/free cycles with a window of live objects of mixed sizes, each
 * filled with the caller's tag and verified before it is freed. Returns 0
 * when every object kept its contents; the window is empty at the end.
 */
static int
churn(weir_shm_t *shm, unsigned cycles, unsigned char tag)
{
    enum { W = 32 };
    unsigned char *live[W] = { NULL };
    size_t         len[W] = { 0 };
    uint32_t       seed = tag * 7919u;

    for (unsigned i = 0; i < cycles + W; i++) {
        unsigned k = i % W;

        if (live[k] != NULL) {
            if (!fill_check(live[k], len[k], tag)
                || weir_shm_free(shm, live[k]) != WEIR_OK)
            {
                return 1;
            }
            live[k] = NULL;
        }
        if (i >= cycles) {
            continue;
        }
        len[k] = rnd(&seed) % 8 == 0 ? 4097 + rnd(&seed) % 12000
                                     : 1 + rnd(&seed) % 4096;
        live[k] = weir_shm_alloc(shm, len[k]);
        if (live[k] == NULL) {
            return 2;
        }
        memset(live[k], tag, len[k]);
    }
    return 0;
}

START_TEST(test_concurrent_alloc)
{
    weir_shm_t *shm = new_shm(8 * MB);
    pid_t       pid[2];

    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            _exit(churn(shm, 10000, (unsigned char) (0x31 + i)));
        }
    }
    ck_assert_int_eq(wait_child(pid[0]), 0);
    ck_assert_int_eq(wait_child(pid[1]), 0);
    ck_assert_uint_eq(used_bytes(shm), 0);
    ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    ck_assert_uint_eq(weir_shm_recoveries(shm), 0);
    weir_shm_destroy(shm);
}
END_TEST

/*
 * Workers get SIGKILLed (OOM killer, operator): a child killed while it
 * holds the allocator lock must not wedge or corrupt the allocator.
 * The kill lands at a random point of a tight alloc/free loop, so it is
 * repeated until at least one landed inside the critical section.
 */
START_TEST(test_alloc_survives_killed_owner)
{
    weir_shm_t *shm = new_shm(16 * MB);
    int         tries;

    for (tries = 0; tries < 300 && weir_shm_recoveries(shm) < 3; tries++) {
        pid_t           pid = fork();
        struct timespec ts = { 0, 200000 + (tries % 7) * 100000 };

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            /* one object in flight, so a kill leaks at most that one */
            uint32_t seed = (uint32_t) tries;

            for (;;) {
                size_t         sz = 1 + rnd(&seed) % 9000;
                unsigned char *p = weir_shm_alloc(shm, sz);

                if (p != NULL) {
                    p[0] = 0x77;
                    weir_shm_free(shm, p);
                }
            }
        }
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        ck_assert_int_eq(wait_child(pid), -1);
        /* the next user takes over the lock and the allocator works */
        ck_assert_int_eq(churn(shm, 200, 0x11), 0);
        ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
    }
    ck_assert_msg(weir_shm_recoveries(shm) > 0,
        "no kill landed inside the allocator lock in %d tries", tries);
    weir_shm_destroy(shm);
}
END_TEST

/* Allocator calls that pass every crash point at least once. */
static void
crash_sequence(weir_shm_t *shm)
{
    void *x, *y[3], *s[256];

    x = weir_shm_alloc(shm, 3 * WEIR_SHM_PAGE);     /* 1-5: split a run */
    weir_shm_free(shm, x);                          /* 6-8, 10: merge next */
    for (int i = 0; i < 3; i++) {
        y[i] = weir_shm_alloc(shm, 2 * WEIR_SHM_PAGE);
    }
    weir_shm_free(shm, y[0]);
    weir_shm_free(shm, y[2]);
    weir_shm_free(shm, y[1]);                       /* 9: merge both */
    for (int i = 0; i < 256; i++) {                 /* 11-13: new, full */
        s[i] = weir_shm_alloc(shm, 16);
    }
    for (int i = 0; i < 256; i++) {                 /* 14-16: empty */
        weir_shm_free(shm, s[i]);
    }
    weir_shm_zone(shm, "crash", 100, NULL);         /* 17 */
}

/*
 * A process dies at each crash point in turn while holding the allocator
 * lock. The next process to use the allocator must find it consistent
 * (rebuilt), must not hand out memory that is still live, and must keep
 * working; at most what the dead process was allocating is leaked.
 */
START_TEST(test_crash_points)
{
    for (int point = 1; point <= NFAULTS; point++) {
        weir_shm_t    *shm = new_shm(MB);
        unsigned char *mine[4];
        static unsigned char *extra[400];
        size_t         n = 0, used;
        pid_t          pid;

        /* fragment the segment with live data of the parent */
        for (int i = 0; i < 4; i++) {
            mine[i] = weir_shm_alloc(shm, i % 2 ? 100 : 5000);
            ck_assert_ptr_nonnull(mine[i]);
            memset(mine[i], 0xc0 + i, i % 2 ? 100 : 5000);
        }
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            fault_at = point;
            crash_sequence(shm);
            _exit(0);
        }
        ck_assert_msg(wait_child(pid) == 99, "point %d not reached", point);

        ck_assert_msg(weir_shm_check(shm) == WEIR_OK,
            "allocator inconsistent after a crash at point %d", point);
        ck_assert_uint_eq(weir_shm_recoveries(shm), 1);

        /* take everything that is left: none of it may be live data */
        while (n < weir_nelems(extra)
               && (extra[n] = weir_shm_alloc(shm, 4096)) != NULL)
        {
            memset(extra[n++], 0xee, 4096);
        }
        ck_assert_uint_lt(n, weir_nelems(extra));
        ck_assert_uint_gt(n, 200);
        for (int i = 0; i < 4; i++) {
            ck_assert_msg(fill_check(mine[i], i % 2 ? 100 : 5000,
                (unsigned char) (0xc0 + i)),
                "live object %d overwritten after a crash at point %d",
                i, point);
            ck_assert_int_eq(weir_shm_free(shm, mine[i]), WEIR_OK);
        }
        while (n > 0) {
            ck_assert_int_eq(weir_shm_free(shm, extra[--n]), WEIR_OK);
        }
        ck_assert_int_eq(weir_shm_check(shm), WEIR_OK);
        /* a leak is bounded by the one operation in flight */
        used = used_bytes(shm);
        ck_assert_msg(used <= 3 * WEIR_SHM_PAGE,
            "%zu bytes leaked by a crash at point %d", used, point);
        ck_assert_int_eq(churn(shm, 300, 0x44), 0);
        weir_shm_destroy(shm);
    }
}
END_TEST

START_TEST(test_mutex_owner_died)
{
    weir_shm_t       *shm = new_shm(MB);
    weir_shm_mutex_t *mx = weir_shm_calloc(shm, sizeof(*mx));
    pid_t             pid;

    ck_assert_ptr_nonnull(mx);
    ck_assert_int_eq(weir_shm_mutex_init(mx), WEIR_OK);

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(weir_shm_lock(mx) == WEIR_OK ? 0 : 1);  /* dies holding it */
    }
    ck_assert_int_eq(wait_child(pid), 0);

    /* held by us, with the owner-died warning */
    ck_assert_int_eq(weir_shm_lock(mx), WEIR_DONE);
    weir_shm_unlock(mx);
    /* and normal afterwards */
    ck_assert_int_eq(weir_shm_lock(mx), WEIR_OK);
    weir_shm_unlock(mx);
    ck_assert_int_eq(weir_shm_trylock(mx), WEIR_OK);
    weir_shm_unlock(mx);

    /* the same through trylock */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(weir_shm_trylock(mx) == WEIR_OK ? 0 : 1);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_int_eq(weir_shm_trylock(mx), WEIR_DONE);
    weir_shm_unlock(mx);
    ck_assert_int_eq(weir_shm_lock(mx), WEIR_OK);
    weir_shm_unlock(mx);
    weir_shm_mutex_destroy(mx);
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_mutex_busy)
{
    weir_shm_t       *shm = new_shm(MB);
    weir_shm_mutex_t *mx = weir_shm_calloc(shm, sizeof(*mx));
    int               locked[2], release[2];
    char              ch;
    pid_t             pid;

    ck_assert_int_eq(weir_shm_mutex_init(mx), WEIR_OK);
    ck_assert_int_eq(pipe(locked), 0);
    ck_assert_int_eq(pipe(release), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (weir_shm_lock(mx) != WEIR_OK || write(locked[1], "l", 1) != 1
            || read(release[0], &ch, 1) != 1)
        {
            _exit(1);
        }
        weir_shm_unlock(mx);
        _exit(0);
    }
    ck_assert_int_eq(read(locked[0], &ch, 1), 1);
    ck_assert_int_eq(weir_shm_trylock(mx), WEIR_BUSY);
    ck_assert_int_eq(write(release[1], "r", 1), 1);
    ck_assert_int_eq(wait_child(pid), 0);
    /* a clean unlock by the owner: no owner-died report */
    ck_assert_int_eq(weir_shm_trylock(mx), WEIR_OK);
    weir_shm_unlock(mx);
    weir_shm_destroy(shm);
}
END_TEST

typedef struct {
    weir_shm_mutex_t   mx;
    uint64_t           plain;       /* guarded by mx */
    weir_shm_counter_t hits;
    weir_shm_counter_t gauge;
} counters_t;

/* Atomic counters sum exactly; the mutex really excludes: a plain
 * read-modify-write under it loses no update. */
START_TEST(test_counters_and_exclusion)
{
    weir_shm_t *shm = new_shm(MB);
    counters_t *c = weir_shm_zone(shm, "metrics", sizeof(*c), NULL);
    pid_t       pid[2];

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(weir_shm_mutex_init(&c->mx), WEIR_OK);
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            for (int k = 0; k < 100000; k++) {
                weir_shm_counter_add(&c->hits, 1);
                weir_shm_counter_add(&c->gauge, 2);
                weir_shm_counter_sub(&c->gauge, 1);
                if (weir_shm_lock(&c->mx) != WEIR_OK) {
                    _exit(1);
                }
                c->plain = c->plain + 1;
                weir_shm_unlock(&c->mx);
            }
            _exit(0);
        }
    }
    ck_assert_int_eq(wait_child(pid[0]), 0);
    ck_assert_int_eq(wait_child(pid[1]), 0);
    ck_assert_uint_eq(weir_shm_counter_get(&c->hits), 200000);
    ck_assert_uint_eq(weir_shm_counter_get(&c->gauge), 200000);
    ck_assert_uint_eq(c->plain, 200000);
    ck_assert_uint_eq(weir_shm_counter_add(&c->hits, 5), 200005);
    weir_shm_counter_set(&c->gauge, 3);
    ck_assert_uint_eq(weir_shm_counter_sub(&c->gauge, 3), 0);
    weir_shm_destroy(shm);
}
END_TEST

static Suite *
shm_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_size_classes);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_test(tc, test_exhaustion);
    tcase_add_test(tc, test_zones);
    tcase_add_test(tc, test_visible_across_fork);
    tcase_add_test(tc, test_concurrent_alloc);
    tcase_add_test(tc, test_alloc_survives_killed_owner);
    tcase_add_test(tc, test_crash_points);
    tcase_add_test(tc, test_mutex_owner_died);
    tcase_add_test(tc, test_mutex_busy);
    tcase_add_test(tc, test_counters_and_exclusion);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(shm_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
