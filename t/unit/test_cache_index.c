#include "weir_config.h"
#include "cache/cache_index.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"

/*
 * The index is compiled into this test with its crash points live: a
 * process whose fault_at equals a point's number dies there, inside the
 * index lock (exit status 99). In weir the points are empty; these
 * definitions take precedence over libweir.a's cache_index.o at link
 * time. Including the file also lets index_ok() look at the slots.
 */
static int fault_at;
#define WEIR_CACHE_INDEX_FAULT(n)                                           \
    do {                                                                    \
        if ((n) == fault_at) {                                              \
            _exit(99);                                                      \
        }                                                                   \
    } while (0)
#include "cache/cache_index.c"

#define NFAULTS 7
#define MB      (1024 * 1024)
#define HOUR    (3600 * 1000)

static void dg(int i, uint8_t out[WEIR_CACHE_DIGEST_LEN]);
static weir_cache_conf_t conf_of(int64_t max_objects);
static weir_cache_index_t *priv(int64_t max_objects);
static weir_shm_t *new_shm(size_t size);
static weir_cache_index_t *shared(weir_shm_t *shm, int64_t max_objects);
static int wait_child(pid_t pid);
static int index_ok(weir_cache_index_t *idx);
static uint32_t rnd(uint32_t *s);
static void digests_init(void);
static void hammer(weir_cache_index_t *idx, uint32_t seed, int ops,
    int keys);
static int count_cb(void *ctx, const weir_cache_entry_t *e);
static void crash_sequence(weir_cache_index_t *idx);

static void
dg(int i, uint8_t out[WEIR_CACHE_DIGEST_LEN])
{
    char key[32];
    int  n = snprintf(key, sizeof(key), "http://h/%d", i);

    weir_cache_digest(key, (size_t) n, NULL, 0, out);
}

static weir_cache_conf_t
conf_of(int64_t max_objects)
{
    weir_cache_conf_t k;

    memset(&k, 0, sizeof(k));
    k.name = "one";
    k.path = "/c";
    k.max_size = (int64_t) 1024 * MB;
    k.max_objects = max_objects;
    return k;
}

static weir_cache_index_t *
priv(int64_t max_objects)
{
    weir_cache_conf_t   k = conf_of(max_objects);
    weir_cache_index_t *idx = NULL;
    char                err[256] = "";

    ck_assert_int_eq(weir_cache_index_attach(NULL, &k, &idx, err,
                                             sizeof(err)), WEIR_OK);
    ck_assert_ptr_nonnull(idx);
    return idx;
}

static weir_shm_t *
new_shm(size_t size)
{
    char        err[256] = "";
    weir_shm_t *shm = weir_shm_create(size, err, sizeof(err));

    ck_assert_msg(shm != NULL, "create: %s", err);
    return shm;
}

static weir_cache_index_t *
shared(weir_shm_t *shm, int64_t max_objects)
{
    weir_cache_conf_t   k = conf_of(max_objects);
    weir_cache_index_t *idx = NULL;
    char                err[256] = "";

    ck_assert_msg(weir_cache_index_attach(shm, &k, &idx, err, sizeof(err))
                  == WEIR_OK, "attach: %s", err);
    return idx;
}

/* Exit status of a child, or -1 when it died of a signal. */
static int
wait_child(pid_t pid)
{
    int st;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every live slot is found by a probe from its home (so no entry is lost
 * or doubled), the counters match the slots, and live + tombstones stay
 * under the rebuild threshold. */
static int
index_ok(weir_cache_index_t *idx)
{
    uint64_t i, live = 0, tombs = 0, objects = 0, bytes = 0, filling = 0;
    int      ok = 1;
    slot_t  *s;
    uint32_t st;

    ck_assert_int_eq(index_lock(idx), WEIR_OK);
    for (i = 0; i < idx->nslots; i++) {
        s = &idx->slots[i];
        st = slot_state(s);
        if (st == SLOT_TOMB) {
            tombs++;
        }
        if (!SLOT_LIVE(st)) {
            continue;
        }
        live++;
        objects += (st & WEIR_CACHE_READY) != 0;
        bytes += (st & WEIR_CACHE_READY) ? s->size : 0;
        filling += (st & WEIR_CACHE_FILLING) != 0;
        if (index_probe(idx, s->digest, NULL) != s) {
            ok = 0;
        }
    }
    if (live != idx->live || tombs != idx->tombs || objects != idx->objects
        || bytes != idx->bytes || filling != idx->filling
        || live > idx->capacity || live + tombs > idx->max_used)
    {
        ok = 0;
    }
    weir_shm_unlock(&idx->lock);
    return ok;
}

static uint32_t
rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* The hammer's keys, hashed before any fork: SHA-256 would otherwise
 * take most of a child's time, outside the lock the kill test aims at. */
#define NKEYS 3000
static uint8_t digests[NKEYS][WEIR_CACHE_DIGEST_LEN];

static void
digests_init(void)
{
    for (int i = 0; i < NKEYS; i++) {
        dg(i, digests[i]);
    }
}

/* Random traffic on `keys` keys: fills that end well or badly, loader
 * inserts, purges, hits. Every fill this process begins, it ends. */
static void
hammer(weir_cache_index_t *idx, uint32_t seed, int ops, int keys)
{
    weir_cache_entry_t e;
    const uint8_t     *d;
    pid_t              me = getpid();
    int                i;

    for (i = 0; ops < 0 || i < ops; i++) {
        uint32_t r = rnd(&seed);
        int64_t  now = 1000 + i;

        d = digests[r % (uint32_t) keys];
        switch ((r >> 16) % 4) {
        case 0:
            if (weir_cache_index_fill_begin(idx, d, me, now, HOUR, &e)
                == WEIR_OK)
            {
                weir_cache_index_fill_end(idx, d, e.fill_id, (r >> 20) & 1,
                                          1 + (r >> 22) % 1000, now);
            }
            break;
        case 1:
            weir_cache_index_insert(idx, d, 1 + (r >> 22) % 1000, now);
            break;
        case 2:
            weir_cache_index_remove(idx, d);
            break;
        default:
            weir_cache_index_lookup(idx, d, now, 1, &e);
            break;
        }
    }
}

typedef struct walk_count_s {
    uint64_t n, ready, bytes, filling;
    uint64_t stop_after;
} walk_count_t;

static int
count_cb(void *ctx, const weir_cache_entry_t *e)
{
    walk_count_t *c = ctx;

    c->n++;
    if (e->state & WEIR_CACHE_READY) {
        c->ready++;
        c->bytes += e->size;
    }
    c->filling += (e->state & WEIR_CACHE_FILLING) != 0;
    return c->stop_after != 0 && c->n == c->stop_after;
}

START_TEST(test_attach)
{
    weir_shm_t               *shm = new_shm(64 * MB);
    weir_cache_conf_t         k = conf_of(5000);
    weir_cache_index_t       *idx = NULL, *again = NULL;
    weir_cache_index_stats_t  st;
    weir_shm_t               *tiny;
    uint8_t                   d[WEIR_CACHE_DIGEST_LEN];
    char                      err[256] = "";

    ck_assert_int_eq(weir_cache_index_attach(shm, &k, &idx, err,
                                             sizeof(err)), WEIR_OK);
    ck_assert_ptr_eq(weir_cache_index_find(shm, "one"), idx);
    ck_assert_ptr_null(weir_cache_index_find(shm, "two"));
    dg(1, d);
    ck_assert_int_eq(weir_cache_index_insert(idx, d, 10, 5), WEIR_OK);

    /* a reload: same index, entries kept */
    ck_assert_int_eq(weir_cache_index_attach(shm, &k, &again, err,
                                             sizeof(err)), WEIR_OK);
    ck_assert_ptr_eq(again, idx);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 6, 0, NULL),
                     WEIR_CACHE_READY);

    /* a changed capacity keeps the old index until a restart */
    k.max_objects = 9000;
    err[0] = '\0';
    ck_assert_int_eq(weir_cache_index_attach(shm, &k, &again, err,
                                             sizeof(err)), WEIR_DONE);
    ck_assert_ptr_eq(again, idx);
    ck_assert_ptr_nonnull(strstr(err, "restart"));
    k.max_objects = 100;
    ck_assert_int_eq(weir_cache_index_attach(shm, &k, &again, err,
                                             sizeof(err)), WEIR_DONE);
    ck_assert_ptr_eq(again, idx);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.capacity, 5000);
    ck_assert_uint_eq(st.objects, 1);

    /* a name the zone cannot carry */
    k.name = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
             "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
    ck_assert_int_eq(weir_cache_index_attach(shm, &k, &again, err,
                                             sizeof(err)), WEIR_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "too long"));
    ck_assert_ptr_null(weir_cache_index_find(shm, k.name));
    k.name = "one";

    /* no room in the segment */
    tiny = new_shm(WEIR_SHM_MIN_SIZE);
    k.max_objects = 100000;
    err[0] = '\0';
    ck_assert_int_eq(weir_cache_index_attach(tiny, &k, &again, err,
                                             sizeof(err)), WEIR_ERROR);
    ck_assert_ptr_null(again);
    ck_assert_ptr_nonnull(strstr(err, "shm_size"));
    weir_shm_destroy(tiny);
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_default_capacity)
{
    weir_cache_index_stats_t st;
    weir_cache_index_t      *idx;
    weir_cache_conf_t        k = conf_of(0);
    char                     err[256];

    idx = priv(0);                                   /* 1g / 32k */
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.capacity, 32768);
    free(idx);
    k.max_size = MB;                                 /* clamped up */
    ck_assert_int_eq(weir_cache_index_attach(NULL, &k, &idx, err,
                                             sizeof(err)), WEIR_OK);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.capacity, 1024);
    free(idx);
    k.max_size = (int64_t) 1 << 40;                  /* clamped down */
    ck_assert_int_eq(weir_cache_index_attach(NULL, &k, &idx, err,
                                             sizeof(err)), WEIR_OK);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.capacity, 1048576);
    free(idx);
}
END_TEST

START_TEST(test_lookup_touch)
{
    weir_cache_index_t *idx = priv(100);
    weir_cache_entry_t  e;
    uint8_t             d[WEIR_CACHE_DIGEST_LEN], other[WEIR_CACHE_DIGEST_LEN];

    dg(1, d);
    dg(2, other);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 10, 1, &e), 0);
    ck_assert_int_eq(weir_cache_index_insert(idx, d, 300, 50), WEIR_OK);
    /* an existing entry keeps its size and last use */
    ck_assert_int_eq(weir_cache_index_insert(idx, d, 999, 70), WEIR_OK);

    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 100, 0, &e),
                     WEIR_CACHE_READY);
    ck_assert_mem_eq(e.digest, d, sizeof(d));
    ck_assert_int_eq(e.state, WEIR_CACHE_READY);
    ck_assert_uint_eq(e.size, 300);
    ck_assert_int_eq(e.last_use, 50);
    ck_assert_uint_eq(e.uses, 0);

    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 100, 1, &e),
                     WEIR_CACHE_READY);
    ck_assert_int_eq(e.last_use, 100);
    ck_assert_uint_eq(e.uses, 1);
    weir_cache_index_lookup(idx, d, 120, 1, &e);
    ck_assert_uint_eq(e.uses, 2);
    ck_assert_int_eq(weir_cache_index_lookup(idx, other, 100, 1, &e), 0);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

START_TEST(test_fill_collapse)
{
    weir_cache_index_t      *idx = priv(100);
    weir_cache_index_stats_t st;
    weir_cache_entry_t       e, e2, e3;
    uint8_t                  d[WEIR_CACHE_DIGEST_LEN];
    pid_t                    me = getpid();

    dg(7, d);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 1000, 5000, &e),
                     WEIR_OK);
    ck_assert_int_eq(e.state, WEIR_CACHE_FILLING);
    ck_assert_int_eq(e.fill_pid, me);
    ck_assert_int_eq(e.fill_start, 1000);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.filling, 1);
    ck_assert_uint_eq(st.objects, 0);

    /* a second caller waits: the filler (this process) is alive */
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 2000, 5000,
                                                 &e2), WEIR_BUSY);
    ck_assert_int_eq(e2.fill_pid, me);
    ck_assert_uint_eq(e2.fill_id, e.fill_id);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 6000, 5000,
                                                 &e2), WEIR_BUSY);
    /* past lock_timeout: taken over with a new fill id */
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 6001, 5000,
                                                 &e2), WEIR_OK);
    ck_assert_uint_ne(e2.fill_id, e.fill_id);
    ck_assert_int_eq(e2.fill_start, 6001);

    /* the first filler's end is ignored: its fill was taken over */
    weir_cache_index_fill_end(idx, d, e.fill_id, 1, 500, 7000);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 7000, 0, &e3),
                     WEIR_CACHE_FILLING);
    weir_cache_index_fill_end(idx, d, e2.fill_id, 1, 500, 7001);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 7002, 0, &e3),
                     WEIR_CACHE_READY);
    ck_assert_uint_eq(e3.size, 500);
    ck_assert_int_eq(e3.last_use, 7001);
    /* a second end of the same fill changes nothing */
    weir_cache_index_fill_end(idx, d, e2.fill_id, 0, 0, 7003);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 7004, 0, NULL),
                     WEIR_CACHE_READY);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.bytes, 500);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

START_TEST(test_fill_end_failed)
{
    weir_cache_index_t      *idx = priv(100);
    weir_cache_index_stats_t st;
    weir_cache_entry_t       e;
    uint8_t                  d[WEIR_CACHE_DIGEST_LEN];
    pid_t                    me = getpid();

    dg(3, d);
    /* a failed first fill leaves nothing */
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 10, 50, &e),
                     WEIR_OK);
    weir_cache_index_fill_end(idx, d, e.fill_id, 0, 0, 20);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 30, 0, NULL), 0);

    /* a refresh: the old object stays served while it runs ... */
    ck_assert_int_eq(weir_cache_index_insert(idx, d, 100, 5), WEIR_OK);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 40, 50, &e),
                     WEIR_OK);
    ck_assert_int_eq(e.state, WEIR_CACHE_READY | WEIR_CACHE_FILLING);
    ck_assert_uint_eq(e.size, 100);
    /* ... and a failed refresh keeps it */
    weir_cache_index_fill_end(idx, d, e.fill_id, 0, 0, 50);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 60, 0, &e),
                     WEIR_CACHE_READY);
    ck_assert_uint_eq(e.size, 100);
    ck_assert_int_eq(e.last_use, 5);
    /* a refresh that succeeds replaces the size */
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, me, 70, 50, &e),
                     WEIR_OK);
    weir_cache_index_fill_end(idx, d, e.fill_id, 1, 250, 80);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.bytes, 250);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

/* A filler that died is taken over at once, not after lock_timeout; one
 * that lives is waited for. */
START_TEST(test_takeover_dead_filler)
{
    weir_shm_t         *shm = new_shm(8 * MB);
    weir_cache_index_t *idx = shared(shm, 100);
    weir_cache_entry_t  e;
    uint8_t             d[WEIR_CACHE_DIGEST_LEN];
    int                 up[2], down[2];
    pid_t               pid;
    char                c;

    dg(11, d);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(weir_cache_index_fill_begin(idx, d, getpid(), 100, HOUR, &e)
              == WEIR_OK ? 0 : 1);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 100, 0, &e),
                     WEIR_CACHE_FILLING);
    ck_assert_int_eq(e.fill_pid, pid);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 200, HOUR,
                                                 &e), WEIR_OK);
    ck_assert_int_eq(e.fill_pid, getpid());
    weir_cache_index_fill_end(idx, d, e.fill_id, 1, 10, 300);

    /* a live filler (blocked on a pipe) is not taken over */
    dg(12, d);
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(down), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int rc = weir_cache_index_fill_begin(idx, d, getpid(), 100, HOUR,
                                             &e);

        c = rc == WEIR_OK ? 'y' : 'n';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1) {
            _exit(2);
        }
        _exit(0);
    }
    ck_assert_int_eq(read(up[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 200, HOUR,
                                                 &e), WEIR_BUSY);
    ck_assert_int_eq(e.fill_pid, pid);
    ck_assert_int_eq(write(down[1], "x", 1), 1);
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 300, HOUR,
                                                 &e), WEIR_OK);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    ck_assert(index_ok(idx));
    weir_shm_destroy(shm);
}
END_TEST

START_TEST(test_remove)
{
    weir_cache_index_t      *idx = priv(100);
    weir_cache_index_stats_t st;
    weir_cache_entry_t       e;
    uint8_t                  d[WEIR_CACHE_DIGEST_LEN];

    dg(5, d);
    ck_assert_int_eq(weir_cache_index_remove(idx, d), 0);
    weir_cache_index_insert(idx, d, 40, 1);
    ck_assert_int_eq(weir_cache_index_remove(idx, d), WEIR_CACHE_READY);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 2, 0, NULL), 0);
    ck_assert_int_eq(weir_cache_index_remove(idx, d), 0);

    /* a purge during a refresh drops the object; the fill goes on, but
     * what it stored is not published (it predates the purge) */
    weir_cache_index_insert(idx, d, 40, 1);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 5, HOUR,
                                                 &e), WEIR_OK);
    ck_assert_int_eq(weir_cache_index_remove(idx, d),
                     WEIR_CACHE_READY | WEIR_CACHE_FILLING);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 6, 0, NULL),
                     WEIR_CACHE_FILLING);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.objects, 0);
    ck_assert_uint_eq(st.bytes, 0);
    ck_assert_uint_eq(st.filling, 1);
    ck_assert_int_eq(weir_cache_index_fill_end(idx, d, e.fill_id, 1, 77, 9),
                     WEIR_DECLINED);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 10, 0, &e), 0);
    /* the next fill is published again */
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 11, HOUR,
                                                 &e), WEIR_OK);
    ck_assert_int_eq(weir_cache_index_fill_end(idx, d, e.fill_id, 1, 78, 12),
                     WEIR_OK);
    ck_assert_int_eq(weir_cache_index_lookup(idx, d, 13, 0, &e),
                     WEIR_CACHE_READY);
    ck_assert_uint_eq(e.size, 78);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

START_TEST(test_victims)
{
    weir_cache_index_t      *idx = priv(100);
    weir_cache_index_stats_t st;
    weir_cache_entry_t       out[16], e;
    uint8_t                  d[WEIR_CACHE_DIGEST_LEN];
    size_t                   n, i;
    int                      seen[10] = { 0 };

    for (int j = 0; j < 10; j++) {
        dg(j, d);
        ck_assert_int_eq(weir_cache_index_insert(idx, d, 100, j * 1000),
                         WEIR_OK);
    }
    /* an old entry being refreshed is never a victim */
    dg(0, d);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 1, HOUR,
                                                 &e), WEIR_OK);

    /* inactive first: unused since 20000 - 15500 (1000 .. 4000) */
    n = weir_cache_index_victims(idx, 20000, 15500, UINT64_MAX, out, 16);
    ck_assert_uint_eq(n, 4);
    for (i = 0; i < n; i++) {
        ck_assert_int_lt(out[i].last_use, 4500);
        ck_assert_int_gt(out[i].last_use, 0);
        seen[out[i].last_use / 1000]++;
        ck_assert_int_eq(weir_cache_index_lookup(idx, out[i].digest, 1, 0,
                                                 NULL), 0);
    }
    ck_assert_int_eq(seen[1] + seen[2] + seen[3] + seen[4], 4);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.evictions, 4);
    ck_assert_uint_eq(st.objects, 6);       /* 0 (filling), 5 .. 9 */
    ck_assert_uint_eq(st.bytes, 600);

    /* then LRU while bytes > max_size, oldest first, `max` at most */
    n = weir_cache_index_victims(idx, 20000, 0, 350, out, 2);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].last_use, 5000);
    ck_assert_int_eq(out[1].last_use, 6000);
    n = weir_cache_index_victims(idx, 20000, 0, 350, out, 16);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0].last_use, 7000);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.bytes, 300);
    ck_assert_uint_eq(st.evictions, 7);
    /* under the limit: nothing */
    ck_assert_uint_eq(weir_cache_index_victims(idx, 20000, 0, 350, out, 16),
                      0);
    /* both rules in one call: inactive ones, then LRU */
    n = weir_cache_index_victims(idx, 20000, 11500, 50, out, 16);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].last_use, 8000);
    ck_assert_int_eq(out[1].last_use, 9000);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.bytes, 100);       /* the refresh stays */
    ck_assert_uint_eq(st.filling, 1);
    /* once its fill ended it can go */
    dg(0, d);
    weir_cache_index_fill_end(idx, d, e.fill_id, 1, 100, 0);
    n = weir_cache_index_victims(idx, 20000, 0, 50, out, 16);
    ck_assert_uint_eq(n, 1);
    ck_assert_mem_eq(out[0].digest, d, sizeof(d));
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.objects, 0);
    ck_assert_uint_eq(st.evictions, 10);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

START_TEST(test_full)
{
    weir_cache_index_t *idx = priv(16);
    weir_cache_entry_t  e;
    uint8_t             d[WEIR_CACHE_DIGEST_LEN];

    for (int i = 0; i < 16; i++) {
        dg(i, d);
        ck_assert_int_eq(weir_cache_index_insert(idx, d, 1, i), WEIR_OK);
    }
    dg(16, d);
    ck_assert_int_eq(weir_cache_index_insert(idx, d, 1, 0), WEIR_ERROR);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 0, HOUR,
                                                 &e), WEIR_ERROR);
    /* existing entries still work when full */
    dg(3, d);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, d, getpid(), 0, HOUR,
                                                 &e), WEIR_OK);
    weir_cache_index_fill_end(idx, d, e.fill_id, 1, 5, 1);
    ck_assert_int_eq(weir_cache_index_remove(idx, d), WEIR_CACHE_READY);
    dg(16, d);
    ck_assert_int_eq(weir_cache_index_insert(idx, d, 1, 0), WEIR_OK);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

/* 100,000 insert/remove cycles over a window of live entries: tombstones
 * must not pile up (probes would get longer and longer, then never end). */
START_TEST(test_tombstone_churn)
{
    weir_cache_index_t *idx = priv(1024);
    uint8_t             d[WEIR_CACHE_DIGEST_LEN];
    const int           window = 900, cycles = 100000;

    for (int i = 0; i < cycles; i++) {
        dg(i, d);
        ck_assert_int_eq(weir_cache_index_insert(idx, d, 1, i), WEIR_OK);
        if (i >= window) {
            dg(i - window, d);
            ck_assert_int_eq(weir_cache_index_remove(idx, d),
                             WEIR_CACHE_READY);
        }
        if (i % 9973 == 0) {
            ck_assert(index_ok(idx));
        }
    }
    ck_assert(index_ok(idx));
    ck_assert_uint_eq(idx->live, window);
    ck_assert_uint_gt(idx->rebuilds, 10);
    for (int i = cycles - window; i < cycles; i++) {
        dg(i, d);
        ck_assert_int_eq(weir_cache_index_lookup(idx, d, 0, 0, NULL),
                         WEIR_CACHE_READY);
    }
    for (int i = 0; i < 2000; i++) {
        dg(i, d);
        ck_assert_int_eq(weir_cache_index_lookup(idx, d, 0, 0, NULL), 0);
    }
    free(idx);
}
END_TEST

START_TEST(test_proc_gone)
{
    weir_cache_index_t      *idx = priv(100);
    weir_cache_index_stats_t st;
    weir_cache_entry_t       e;
    uint8_t                  a[WEIR_CACHE_DIGEST_LEN], b[WEIR_CACHE_DIGEST_LEN];
    uint8_t                  c[WEIR_CACHE_DIGEST_LEN];

    dg(1, a);
    dg(2, b);
    dg(3, c);
    weir_cache_index_insert(idx, b, 10, 1);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, a, 4242, 1, HOUR, &e),
                     WEIR_OK);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, b, 4242, 1, HOUR, &e),
                     WEIR_OK);
    ck_assert_int_eq(weir_cache_index_fill_begin(idx, c, 4343, 1, HOUR, &e),
                     WEIR_OK);
    weir_cache_index_proc_gone(idx, 4242, NULL, NULL);
    ck_assert_int_eq(weir_cache_index_lookup(idx, a, 2, 0, NULL), 0);
    ck_assert_int_eq(weir_cache_index_lookup(idx, b, 2, 0, NULL),
                     WEIR_CACHE_READY);
    ck_assert_int_eq(weir_cache_index_lookup(idx, c, 2, 0, NULL),
                     WEIR_CACHE_FILLING);
    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.filling, 1);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert(index_ok(idx));
    free(idx);
}
END_TEST

START_TEST(test_walk_stats_loaded)
{
    weir_cache_index_t      *idx = priv(3000);
    weir_cache_index_stats_t st;
    weir_cache_entry_t       e;
    walk_count_t             c;
    uint8_t                  d[WEIR_CACHE_DIGEST_LEN];

    for (int i = 0; i < 1000; i++) {
        dg(i, d);
        weir_cache_index_insert(idx, d, (uint64_t) i, i);
    }
    dg(5000, d);
    weir_cache_index_fill_begin(idx, d, getpid(), 0, HOUR, &e);
    memset(&c, 0, sizeof(c));
    weir_cache_index_walk(idx, count_cb, &c);
    ck_assert_uint_eq(c.n, 1001);
    ck_assert_uint_eq(c.ready, 1000);
    ck_assert_uint_eq(c.bytes, 999 * 1000 / 2);
    ck_assert_uint_eq(c.filling, 1);
    memset(&c, 0, sizeof(c));
    c.stop_after = 300;
    weir_cache_index_walk(idx, count_cb, &c);
    ck_assert_uint_eq(c.n, 300);

    weir_cache_index_stats(idx, &st);
    ck_assert_uint_eq(st.capacity, 3000);
    ck_assert_uint_eq(st.objects, 1000);
    ck_assert_uint_eq(st.bytes, 999 * 1000 / 2);
    ck_assert_uint_eq(st.filling, 1);
    ck_assert_int_eq(st.loaded, 0);
    weir_cache_index_set_loaded(idx, 1);
    weir_cache_index_stats(idx, &st);
    ck_assert_int_eq(st.loaded, 1);
    weir_cache_index_set_loaded(idx, 0);
    weir_cache_index_stats(idx, &st);
    ck_assert_int_eq(st.loaded, 0);
    free(idx);
}
END_TEST

/* Four processes on one shared index: the counters must match the slots
 * afterwards, and no fill may be left behind. */
START_TEST(test_processes)
{
    weir_shm_t              *shm = new_shm(16 * MB);
    weir_cache_index_t      *idx = shared(shm, 2048);
    weir_cache_index_stats_t st;
    walk_count_t             c;
    pid_t                    pid[4];

    digests_init();
    for (int i = 0; i < 4; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            hammer(idx, 0x9e3779b9u * (uint32_t) (i + 1), 40000, NKEYS);
            _exit(0);
        }
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(wait_child(pid[i]), 0);
    }
    ck_assert(index_ok(idx));
    weir_cache_index_stats(idx, &st);
    memset(&c, 0, sizeof(c));
    weir_cache_index_walk(idx, count_cb, &c);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert_uint_eq(c.filling, 0);
    ck_assert_uint_eq(st.objects, c.ready);
    ck_assert_uint_eq(st.bytes, c.bytes);
    ck_assert_uint_gt(st.objects, 100);
    ck_assert_uint_eq(st.recoveries, 0);
    weir_shm_destroy(shm);
}
END_TEST

/* Calls that pass every crash point at least once. */
static void
crash_sequence(weir_cache_index_t *idx)
{
    weir_cache_entry_t e, out[8];
    uint8_t            d[WEIR_CACHE_DIGEST_LEN];

    dg(1000, d);                                     /* 1, 2, 4 */
    if (weir_cache_index_fill_begin(idx, d, getpid(), 1, HOUR, &e)
        == WEIR_OK)
    {
        weir_cache_index_fill_end(idx, d, e.fill_id, 1, 9, 2);
    }
    for (int i = 0; i < 2000; i++) {                 /* 3, 5, 6 */
        dg(2000 + i, d);
        weir_cache_index_insert(idx, d, 3, 5);
        if (i >= 30) {
            dg(2000 + i - 30, d);
            weir_cache_index_remove(idx, d);
        }
    }
    weir_cache_index_victims(idx, HOUR, 10, UINT64_MAX, out, 8);   /* 7 */
}

/*
 * A process dies at each crash point in turn while holding the index
 * lock. The next locker must count one recovery and find every entry it
 * had, each exactly once, with the counters right.
 */
START_TEST(test_crash_points)
{
    for (int point = 1; point <= NFAULTS; point++) {
        weir_shm_t              *shm = new_shm(8 * MB);
        weir_cache_index_t      *idx = shared(shm, 64);
        weir_cache_index_stats_t st;
        weir_cache_entry_t       e;
        uint8_t                  d[WEIR_CACHE_DIGEST_LEN];
        pid_t                    pid;

        for (int i = 0; i < 20; i++) {
            dg(i, d);
            ck_assert_int_eq(weir_cache_index_insert(idx, d, 100 + i,
                                                     HOUR + i), WEIR_OK);
        }
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            fault_at = point;
            crash_sequence(idx);
            _exit(0);
        }
        ck_assert_msg(wait_child(pid) == 99, "point %d not reached", point);

        weir_cache_index_stats(idx, &st);
        ck_assert_uint_eq(st.recoveries, 1);
        ck_assert_msg(index_ok(idx), "index inconsistent after a crash at "
                      "point %d", point);
        for (int i = 0; i < 20; i++) {
            dg(i, d);
            ck_assert_msg(weir_cache_index_lookup(idx, d, 0, 0, &e)
                          == WEIR_CACHE_READY && e.size == 100u + i,
                          "entry %d lost after a crash at point %d", i,
                          point);
        }
        /* and it keeps working */
        crash_sequence(idx);
        ck_assert(index_ok(idx));
        weir_shm_destroy(shm);
    }
}
END_TEST

/*
 * A worker SIGKILLed (OOM killer, operator) while it holds the index
 * lock must not wedge the index: the kill lands at a random point of a
 * tight loop that is inside the lock most of the time, and is repeated
 * until a few landed there. Its fills are then the master's to clear
 * (proc_gone at reap).
 */
START_TEST(test_killed_holder)
{
    weir_shm_t              *shm = new_shm(16 * MB);
    weir_cache_index_t      *idx = shared(shm, 2048);
    weir_cache_index_stats_t st;
    walk_count_t             c;
    int                      tries;

    digests_init();
    for (tries = 0; tries < 300; tries++) {
        pid_t           pid = fork();
        struct timespec ts = { 0, 500000 + (tries % 7) * 200000 };

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            hammer(idx, 7u + (uint32_t) tries, -1, NKEYS);
            _exit(0);
        }
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        ck_assert_int_eq(wait_child(pid), -1);
        weir_cache_index_proc_gone(idx, pid, NULL, NULL);
        ck_assert_msg(index_ok(idx), "inconsistent after kill %d", tries);
        weir_cache_index_stats(idx, &st);
        ck_assert_uint_eq(st.filling, 0);
        if (st.recoveries >= 3) {
            break;
        }
    }
    ck_assert_msg(st.recoveries > 0,
        "no kill landed inside the index lock in %d tries", tries);
    memset(&c, 0, sizeof(c));
    weir_cache_index_walk(idx, count_cb, &c);
    ck_assert_uint_eq(st.objects, c.ready);
    ck_assert_uint_eq(st.bytes, c.bytes);
    weir_shm_destroy(shm);
}
END_TEST

static Suite *
cache_index_suite(void)
{
    Suite *s = suite_create("cache_index");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_attach);
    tcase_add_test(tc, test_default_capacity);
    tcase_add_test(tc, test_lookup_touch);
    tcase_add_test(tc, test_fill_collapse);
    tcase_add_test(tc, test_fill_end_failed);
    tcase_add_test(tc, test_takeover_dead_filler);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_victims);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_tombstone_churn);
    tcase_add_test(tc, test_proc_gone);
    tcase_add_test(tc, test_walk_stats_loaded);
    tcase_add_test(tc, test_processes);
    tcase_add_test(tc, test_crash_points);
    tcase_add_test(tc, test_killed_holder);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(cache_index_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
