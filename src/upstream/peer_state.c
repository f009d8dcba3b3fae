#include "weir_config.h"
#include "upstream/peer_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/wtime.h"

/*
 * The records live in the slab allocator; a zone holds the index that
 * finds them by key. Only the master changes the index (one process, at
 * config time), so it needs no lock of its own; allocation takes the
 * allocator's robust mutex.
 */
#define INDEX_PEERS  4096
#define INDEX_UPS    512

typedef struct index_s {
    _Atomic uint32_t procs_hi;
    uint32_t         pad;
    weir_shm_off_t   peers[INDEX_PEERS];
    weir_shm_off_t   ups[INDEX_UPS];
} index_t;

static _Atomic uint32_t private_hi = WEIR_PROC_MAX;
_Atomic uint32_t *weir_peer_procs_hi = &private_hi;


static index_t *index_of(weir_shm_t *shm);
static void *find_or_add(weir_shm_t *shm, weir_shm_off_t *slots, size_t n,
    const char *key, size_t size, int *created);

const char *
weir_fail_kind_name(int kind)
{
    static const char *const names[WEIR_FAIL_KINDS] = {
        "connect_refused", "connect_timeout", "send_error", "header_timeout",
        "reset_before_headers", "bad_response", "read_timeout",
        "reset_mid_body", "no_healthy_peer", "http_5xx", "breaker_open",
        "budget_exhausted", "queue_timeout", "tls_error", "proxy_timeout"
    };

    return kind >= 0 && kind < WEIR_FAIL_KINDS ? names[kind] : "unknown";
}

uint32_t
weir_peer_inflight(const weir_peer_state_t *s)
{
    uint32_t hi = atomic_load_explicit(weir_peer_procs_hi,
                                       memory_order_relaxed);
    uint32_t i, sum = 0;

    if (hi > WEIR_PROC_MAX) {
        hi = WEIR_PROC_MAX;
    }
    for (i = 0; i < hi; i++) {
        sum += atomic_load_explicit(&s->inflight[i], memory_order_relaxed);
    }
    return sum;
}

uint64_t
weir_peer_stat_sum(const weir_peer_state_t *s, size_t offset)
{
    uint64_t sum = 0;
    int      i;

    for (i = 0; i < WEIR_STAT_SLOTS; i++) {
        sum += weir_stat_get((const _Atomic uint64_t *)
                             ((const char *) &s->stats[i] + offset));
    }
    return sum;
}

weir_peer_state_t *
weir_peer_state_private(void)
{
    weir_peer_state_t *s = calloc(1, sizeof(*s));

    if (s) {
        atomic_store(&s->health, 1);
    }
    return s;
}

weir_upstream_state_t *
weir_upstream_state_private(void)
{
    return calloc(1, sizeof(weir_upstream_state_t));
}

/* ---- master ---------------------------------------------------------------- */

static index_t *
index_of(weir_shm_t *shm)
{
    return weir_shm_zone(shm, "upstream:index", sizeof(index_t), NULL);
}

/* The record called `key` among slots[0..n), or a new zeroed one of
 * `size` bytes in a free slot. The key is the first member of both kinds
 * of record. */
static void *
find_or_add(weir_shm_t *shm, weir_shm_off_t *slots, size_t n,
    const char *key, size_t size, int *created)
{
    size_t i, free_slot = n;
    char  *rec;

    *created = 0;
    for (i = 0; i < n; i++) {
        rec = weir_shm_ptr(shm, slots[i]);
        if (rec == NULL) {
            if (free_slot == n) {
                free_slot = i;
            }
            continue;
        }
        if (strcmp(rec, key) == 0) {
            return rec;
        }
    }
    if (free_slot == n) {
        return NULL;
    }
    rec = weir_shm_calloc(shm, size);
    if (rec == NULL) {
        return NULL;
    }
    memcpy(rec, key, strlen(key) + 1);
    slots[free_slot] = weir_shm_off(shm, rec);
    *created = 1;
    return rec;
}

int
weir_peer_state_attach(weir_shm_t *shm, weir_upstream_conf_t *const *ups,
    size_t n, uint64_t generation, char *err, size_t errlen)
{
    index_t               *ix = index_of(shm);
    weir_upstream_state_t *us;
    weir_peer_state_t     *ps;
    char                   key[WEIR_PEER_KEY_MAX];
    size_t                 i, j;
    int                    created, len;

    if (ix == NULL) {
        snprintf(err, errlen, "shared memory (shm_size) too small for the "
                 "upstream index");
        return WEIR_ERROR;
    }
    for (i = 0; i < n; i++) {
        len = snprintf(key, sizeof(key), "%s", ups[i]->name);
        if (len < 0 || (size_t) len >= sizeof(key)) {
            snprintf(err, errlen, "upstream name \"%.40s...\" too long",
                     ups[i]->name);
            return WEIR_ERROR;
        }
        us = find_or_add(shm, ix->ups, INDEX_UPS, key, sizeof(*us), &created);
        if (us == NULL) {
            snprintf(err, errlen, "no room in shared memory for upstream "
                     "\"%s\" (shm_size, or more than %d upstreams)",
                     ups[i]->name, INDEX_UPS);
            return WEIR_ERROR;
        }
        atomic_store(&us->gen_last, generation);
        ups[i]->state = us;
        for (j = 0; j < ups[i]->npeers; j++) {
            weir_peer_conf_t *pc = &ups[i]->peers[j];

            len = snprintf(key, sizeof(key), "%s %s", ups[i]->name, pc->text);
            if (len < 0 || (size_t) len >= sizeof(key)) {
                snprintf(err, errlen, "upstream name \"%.40s...\" too long",
                         ups[i]->name);
                return WEIR_ERROR;
            }
            ps = find_or_add(shm, ix->peers, INDEX_PEERS, key, sizeof(*ps),
                             &created);
            if (ps == NULL) {
                snprintf(err, errlen, "no room in shared memory for peer %s "
                         "of upstream \"%s\" (shm_size, or more than %d "
                         "peers)", pc->text, ups[i]->name, INDEX_PEERS);
                return WEIR_ERROR;
            }
            if (created) {
                /* Healthy until a check or the traffic says otherwise;
                 * a peer added by a reload ramps up under slow_start,
                 * the first generation's peers start at full weight. */
                atomic_store(&ps->health, 1);
                atomic_store(&ps->usable_since,
                             generation > 1 ? weir_current_msec : 0);
            }
            if (ups[i]->health_check == NULL && !atomic_load(&ps->health)) {
                /* Checks turned off by this reload: nothing would ever
                 * bring the peer back, so the last verdict goes. */
                atomic_store(&ps->check_fails, 0);
                atomic_store(&ps->check_passes, 0);
                atomic_store(&ps->health, 1);
            }
            atomic_store(&ps->gen_last, generation);
            pc->state = ps;
        }
    }
    return WEIR_OK;
}

void
weir_peer_state_recycle(weir_shm_t *shm, uint64_t oldest_live)
{
    index_t *ix = index_of(shm);
    size_t   i;

    if (ix == NULL) {
        return;
    }
    for (i = 0; i < INDEX_PEERS; i++) {
        weir_peer_state_t *ps = weir_shm_ptr(shm, ix->peers[i]);
        if (ps && atomic_load(&ps->gen_last) < oldest_live) {
            ix->peers[i] = WEIR_SHM_OFF_NULL;
            weir_shm_free(shm, ps);
        }
    }
    for (i = 0; i < INDEX_UPS; i++) {
        weir_upstream_state_t *us = weir_shm_ptr(shm, ix->ups[i]);
        if (us && atomic_load(&us->gen_last) < oldest_live) {
            ix->ups[i] = WEIR_SHM_OFF_NULL;
            weir_shm_free(shm, us);
        }
    }
}

void
weir_peer_state_proc_gone(weir_shm_t *shm, int proc)
{
    index_t *ix = index_of(shm);
    size_t   i;

    if (ix == NULL || proc < 0 || proc >= WEIR_PROC_MAX) {
        return;
    }
    for (i = 0; i < INDEX_PEERS; i++) {
        weir_peer_state_t *ps = weir_shm_ptr(shm, ix->peers[i]);
        if (ps) {
            atomic_store(&ps->inflight[proc], 0);
        }
    }
    for (i = 0; i < INDEX_UPS; i++) {
        weir_upstream_state_t *us = weir_shm_ptr(shm, ix->ups[i]);
        if (us) {
            atomic_store(&us->retrying[proc], 0);
        }
    }
}

void
weir_peer_state_procs_hi(weir_shm_t *shm, int hi)
{
    index_t *ix = index_of(shm);

    if (ix) {
        atomic_store(&ix->procs_hi, (uint32_t) hi);
        weir_peer_procs_hi = &ix->procs_hi;
    }
}
