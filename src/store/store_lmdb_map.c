/*
 * store_lmdb_map.c - the LMDB map when it fills. A write that fails with
 * MDB_MAP_FULL is retried after the map doubled (up to map_max); an operation
 * that only removes data may also use a reserve past map_max, since LMDB copies
 * pages even to delete, so deletes keep working on a full store. A write that
 * still finds no space (map at its maximum, or the filesystem full: ENOSPC)
 * marks the store full, which stats and /health report, and is logged at most
 * every LM_FULL_LOG_MS. Remapping needs no live transaction in the process:
 * transactions hold map_mu shared, the grower holds it exclusively. The
 * operations that retry through LM_GROW_RETRY (store_lmdb_int.h) live in
 * store_lmdb_grow.c, above every transaction.
 */
#include "store/store_lmdb_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "obs/log.h"
#include "util/clock.h"

#define LM_FULL_LOG_MS 10000
#define LM_RESERVE_MIN (256u << 10)
#define LM_TL_SLOTS 4

/* This thread's shared holds of map_mu, per store (a scan callback may start a
 * write: the hold is re-entrant, and such a thread must not try to grow). */
typedef struct lm_hold {
    const lm_store *s;
    int depth;
} lm_hold;
static __thread lm_hold lm_tl_holds[LM_TL_SLOTS];
/* Why the last write of this thread lacked space: 1 map, 2 filesystem. */
static __thread int lm_tl_nospace;

static lm_hold *map__hold(const lm_store *s)
{
    for (int i = 0; i < LM_TL_SLOTS; i++)
        if (lm_tl_holds[i].s == s && lm_tl_holds[i].depth > 0)
            return &lm_tl_holds[i];
    return NULL;
}

void lm__map_enter(lm_store *s)
{
    lm_hold *h = map__hold(s);
    if (h) {
        h->depth++;
        return;
    }
    pthread_rwlock_rdlock(&s->map_mu);
    for (int i = 0; i < LM_TL_SLOTS; i++) {
        if (lm_tl_holds[i].depth == 0) {
            lm_tl_holds[i] = (lm_hold){ s, 1 };
            return;
        }
    }
}

void lm__map_leave(lm_store *s)
{
    lm_hold *h = map__hold(s);
    if (h && --h->depth > 0)
        return;
    if (h)
        h->s = NULL;
    pthread_rwlock_unlock(&s->map_mu);
}

void lm__map_note_full(lm_store *s, int mdb_rc)
{
    lm_tl_nospace = mdb_rc == MDB_MAP_FULL ? 1 : 2;
}

/* Set the map size under the exclusive lock; LMDB raises it to the used size. */
static int map__resize(lm_store *s, uint64_t size)
{
    int rc = mdb_env_set_mapsize(s->env, (size_t)size);
    MDB_envinfo info;
    if (rc == 0 && mdb_env_info(s->env, &info) == 0)
        atomic_store(&s->map_size, (uint64_t)info.me_mapsize);
    return rc;
}

int lm__map_grow(lm_store *s, uint64_t seen, bool frees)
{
    if (lm_tl_nospace != 1 || map__hold(s))
        return RAGD_EFULL;  /* the disk is full, or this thread holds the map */
    uint64_t reserve = s->map_max / 64 > LM_RESERVE_MIN ? s->map_max / 64 : LM_RESERVE_MIN;
    pthread_rwlock_wrlock(&s->map_mu);
    uint64_t cur = atomic_load(&s->map_size), want = 0;
    if (cur != seen)
        want = cur;  /* another writer grew it meanwhile */
    else if (cur < s->map_max)
        want = cur * 2 < s->map_max ? cur * 2 : s->map_max;
    else if (frees && cur < s->map_max + reserve)
        want = s->map_max + reserve;
    int rc = want > cur ? map__resize(s, want) : want ? 0 : RAGD_EFULL;
    pthread_rwlock_unlock(&s->map_mu);
    if (rc == 0 && want > cur)
        log_msg(LOG_INFO, "store: the LMDB map filled: grown from %" PRIu64 " to %" PRIu64
                " KiB%s", cur >> 10, want >> 10, want > s->map_max ? " (reserve for a delete)" : "");
    return rc == 0 ? 0 : RAGD_EFULL;
}

void lm__map_settle(lm_store *s)
{
    if (atomic_load(&s->map_size) <= s->map_max || map__hold(s))
        return;
    pthread_rwlock_wrlock(&s->map_mu);
    map__resize(s, s->map_max);
    pthread_rwlock_unlock(&s->map_mu);
}

void lm__map_attempt(void)
{
    lm_tl_nospace = 0;
}

int lm__map_done(lm_store *s, int rc, bool frees)
{
    if (rc == 0 && !frees)
        lm__map_note_ok(s);
    if (rc != RAGD_EFULL || lm_tl_nospace == 0)
        return rc;  /* not for lack of space (a log's sequence numbers ran out) */
    atomic_store(&s->full, true);
    int64_t now = clock_mono_us() / 1000, last = atomic_load(&s->full_log_ms);
    if ((last == 0 || now - last >= LM_FULL_LOG_MS) &&
        atomic_compare_exchange_strong(&s->full_log_ms, &last, now)) {
        if (lm_tl_nospace == 2)
            log_msg(LOG_ERROR, "store: the filesystem is full (%s): writes answer 507 "
                    "store_full until space is freed", strerror(ENOSPC));
        else
            log_msg(LOG_ERROR, "store: the LMDB map is full at its maximum of %" PRIu64
                    " MiB (store_map_max_size): writes answer 507 store_full until entries "
                    "are deleted or expire", s->map_max >> 20);
    }
    return rc;
}

int lm__map_init(lm_store *s, uint64_t map_size, uint64_t map_max)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* a waiting grower goes first; re-entry never blocks (see lm__map_enter) */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&s->map_mu, &a);
    pthread_rwlockattr_destroy(&a);
    atomic_store(&s->map_size, map_size);
    s->map_max = map_max > map_size ? map_max : map_size;
    if (rc == 0 && s->max_bytes > s->map_max)
        log_msg(LOG_WARN, "store: the size budget store_max_bytes (%" PRIu64 " MiB) exceeds "
                "the largest the LMDB map may grow to (%" PRIu64 " MiB, store_map_max_size): "
                "writes will fail with store_full before eviction starts",
                s->max_bytes >> 20, s->map_max >> 20);
    return rc;
}

void lm__map_deinit(lm_store *s)
{
    pthread_rwlock_destroy(&s->map_mu);
}
