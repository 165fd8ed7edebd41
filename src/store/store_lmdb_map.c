/*
 * store_lmdb_map.c - the LMDB map when it fills. A write that fails with
 * MDB_MAP_FULL is retried after the map doubled (up to map_max); an operation
 * that only removes data may also use a reserve past map_max, since LMDB copies
 * pages even to delete, so deletes keep working on a full store. A write that
 * still finds no space (map at its maximum, or the filesystem full: ENOSPC)
 * marks the store full, which stats and /health report, and is logged at most
 * every LM_FULL_LOG_MS. Remapping needs no live transaction in the process:
 * transactions hold map_mu shared, the grower holds it exclusively.
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

/* Grow the map after a write found it full at size `seen`: double it up to
 * map_max, or (frees) go a reserve past it. 0 = retry the write. */
static int map__grow(lm_store *s, uint64_t seen, bool frees)
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

/* After a delete used the reserve: back to map_max (or the used size). */
static void map__settle(lm_store *s)
{
    if (atomic_load(&s->map_size) <= s->map_max || map__hold(s))
        return;
    pthread_rwlock_wrlock(&s->map_mu);
    map__resize(s, s->map_max);
    pthread_rwlock_unlock(&s->map_mu);
}

/* The write is over: record (and log, rate-limited) a lack of space. */
static int map__done(lm_store *s, int rc, bool frees)
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

/* Run a write; on a full map grow it and run the write again. */
#define LM_GROW_RETRY(s, frees, call)                                   \
    do {                                                                \
        uint64_t seen_ = atomic_load(&(s)->map_size);                   \
        lm_tl_nospace = 0;                                              \
        int rc_ = (call);                                               \
        while (rc_ == RAGD_EFULL && map__grow((s), seen_, (frees)) == 0) { \
            seen_ = atomic_load(&(s)->map_size);                        \
            lm_tl_nospace = 0;                                          \
            rc_ = (call);                                               \
        }                                                               \
        if (frees)                                                      \
            map__settle(s);                                             \
        return map__done((s), rc_, (frees));                           \
    } while (0)

int lm__g_set(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms, unsigned flags)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__set(impl, key, klen, val, vlen, ttl_ms, flags));
}

int lm__g_del(void *impl, const char *key, size_t klen)
{
    LM_GROW_RETRY((lm_store *)impl, true, lm__del(impl, key, klen));
}

int lm__g_expire(void *impl, const char *key, size_t klen, int64_t ttl_ms)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__expire(impl, key, klen, ttl_ms));
}

int lm__g_incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
               int64_t *out)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__incr(impl, key, klen, delta, ttl_ms, out));
}

int lm__g_cas(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
              const void *val, size_t vlen, int64_t ttl_ms, unsigned flags)
{
    LM_GROW_RETRY((lm_store *)impl, val == NULL,
                  lm__cas(impl, key, klen, expect, elen, val, vlen, ttl_ms, flags));
}

int lm__g_batch(void *impl, const store_op *ops, size_t n)
{
    bool frees = true;
    for (size_t i = 0; i < n; i++)
        frees = frees && ops[i].val == NULL;
    LM_GROW_RETRY((lm_store *)impl, frees, lm__batch(impl, ops, n));
}

/* del_pattern commits in chunks: count what each attempt deleted. */
static int map__del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *total)
{
    uint64_t n = 0;
    int rc = lm__del_pattern(impl, pattern, patlen, &n);
    *total += n;
    return rc;
}

int lm__g_del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted)
{
    *deleted = 0;
    LM_GROW_RETRY((lm_store *)impl, true, map__del_pattern(impl, pattern, patlen, deleted));
}

int lm__g_log_append(void *impl, const char *log, size_t loglen, const void *rec, size_t len,
                     uint64_t *seq)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__log_append(impl, log, loglen, rec, len, seq));
}

int lm__g_log_delete(void *impl, const char *log, size_t loglen)
{
    LM_GROW_RETRY((lm_store *)impl, true, lm__log_delete(impl, log, loglen));
}

int lm__g_ratelimit(void *impl, const char *key, size_t klen, const store_rl_params *p,
                    store_rl_result *out)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__ratelimit(impl, key, klen, p, out));
}

int lm__g_sweep_once(lm_store *s, size_t limit, size_t *n)
{
    LM_GROW_RETRY(s, true, lm__sweep_once(s, limit, n));
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
