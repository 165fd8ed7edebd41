/*
 * store_lmdb_int.h - private to the LMDB backend (store_lmdb*.c): the handle,
 * the value header, and the write-transaction helpers that keep the expiry and
 * eviction indexes and the byte accounting in step with the main table. Calls
 * run one way: store_lmdb.c (open, reads, the ops table) > store_lmdb_grow.c >
 * write, log, rl and sweep > store_lmdb_txn.c > store_lmdb_map.c.
 *
 * Named databases in one environment:
 *   kv    full key -> lm_hdr + value bytes
 *   exp   be64(expire_at_ms) + full key -> ""   (keys with a TTL, oldest first)
 *   evx   full key -> ""                         (STORE_EVICTABLE keys only)
 *   logs  full log name + '\0' + be64(seq) -> record
 *   meta  "acct" -> lm_acct                      (bytes of all / evictable entries)
 *
 * Map growth (store_lmdb_map.c): every transaction runs under map_mu held
 * shared; a write that finds the map full is retried after the map grew under
 * map_mu held exclusively (mdb_env_set_mapsize needs no live transaction).
 */
#ifndef RAGD_STORE_LMDB_INT_H
#define RAGD_STORE_LMDB_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "store/store_int.h"

/* Stored before every value (native byte order; read and written with memcpy
 * because LMDB only guarantees 2-byte alignment of data). */
typedef struct lm_hdr {
    int64_t expire_at_ms; /* 0 = no expiry */
    int64_t stamp_ms;     /* last write; reads are tracked in the access table */
    uint32_t flags;       /* STORE_EVICTABLE */
    uint32_t version;     /* LM_HDR_VERSION */
} lm_hdr;
#define LM_HDR_VERSION 1u
#define LM_HDR_SIZE sizeof(lm_hdr)

/* Bytes of all entries and of evictable ones (key + header + value). */
typedef struct lm_acct {
    uint64_t bytes;
    uint64_t evict_bytes;
} lm_acct;

/* One slot of the approximate access table: the last read time of a key hash. */
typedef struct lm_access {
    _Atomic uint64_t tag;
    _Atomic int64_t ms;
} lm_access;
#define LM_ACCESS_SLOTS (1u << 16)

typedef struct lm_store {
    MDB_env *env;
    dev_t dir_dev; /* the data directory, registered as open in this process */
    ino_t dir_ino;
    int lock_fd;   /* exclusive flock on <dir>/ragd.lock: one process per directory */
    MDB_dbi kv, exp, evx, logs, meta;
    uint64_t log_keep; /* records each log keeps (store_config.log_keep) */
    int fsync_policy;
    uint64_t max_bytes;
    int sweep_interval_ms;

    /* Reset read-only transactions ready for mdb_txn_renew (MDB_NOTLS). */
    pthread_mutex_t rpool_mu;
    MDB_txn **rpool;
    size_t rpool_n, rpool_cap;

    lm_access *access;

    /* Map size: map_mu guards remapping (shared: any transaction; exclusive:
     * mdb_env_set_mapsize). map_size is the size now, map_max the growth limit. */
    pthread_rwlock_t map_mu;
    _Atomic uint64_t map_size;
    uint64_t map_max;
    _Atomic bool full;            /* the last failed write lacked space */
    _Atomic int64_t full_log_ms;  /* last "store full" log line (rate limit) */

    /* Copy of the meta accounting after the last commit, for stats. */
    _Atomic uint64_t acct_bytes, acct_evict_bytes;
    _Atomic uint64_t evictions, expired, errors;

    /* Clock hand of the eviction sampler; touched only inside write txns,
     * which LMDB serialises. */
    char hand[STORE_FULL_KEY_BUF];
    size_t hand_len;

    /* Maintenance thread: expiry sweeps and the everysec fsync. */
    pthread_t thr;
    bool thr_running;
    _Atomic bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} lm_store;

/* A write transaction plus the accounting deltas it made. */
typedef struct lm_w {
    lm_store *s;
    MDB_txn *txn;
    int64_t now;
    int64_t d_bytes, d_evict;
    uint64_t evicted, expired; /* added to the store's counters on commit */
} lm_w;

/* ---- the map (store_lmdb_map.c): below every transaction ---- */

/* Hold the map for a transaction (shared, re-entrant per thread) / let it go. */
void lm__map_enter(lm_store *s);
void lm__map_leave(lm_store *s);
/* Note why a write lacked space (MDB_MAP_FULL: the map, else the filesystem). */
void lm__map_note_full(lm_store *s, int mdb_rc);
/* A write committed: the store is no longer full. */
static inline void lm__map_note_ok(lm_store *s)
{
    if (atomic_load_explicit(&s->full, memory_order_relaxed))
        atomic_store(&s->full, false);
}
/* Set up / tear down the map state; warn when max_bytes cannot fit the map. */
int lm__map_init(lm_store *s, uint64_t map_size, uint64_t map_max);
void lm__map_deinit(lm_store *s);

/* The steps of LM_GROW_RETRY: start an attempt (forget why the last one
 * lacked space); after a write found the map full at size `seen`, grow it (to
 * double, up to map_max, or with frees a reserve past it; 0 = retry); after a
 * delete used the reserve, settle back to map_max; at the end record (and
 * log, rate-limited) a lack of space and pass rc on. */
void lm__map_attempt(void);
int lm__map_grow(lm_store *s, uint64_t seen, bool frees);
void lm__map_settle(lm_store *s);
int lm__map_done(lm_store *s, int rc, bool frees);

/* Run a write (return its result); on a full map grow it and run it again. */
#define LM_GROW_RETRY(s, frees, call)                                         \
    do {                                                                      \
        uint64_t seen_ = atomic_load(&(s)->map_size);                         \
        lm__map_attempt();                                                    \
        int rc_ = (call);                                                     \
        while (rc_ == RAGD_EFULL && lm__map_grow((s), seen_, (frees)) == 0) { \
            seen_ = atomic_load(&(s)->map_size);                              \
            lm__map_attempt();                                                \
            rc_ = (call);                                                     \
        }                                                                     \
        if (frees)                                                            \
            lm__map_settle(s);                                                \
        return lm__map_done((s), rc_, (frees));                               \
    } while (0)

/* ---- transactions and entries (store_lmdb_txn.c) ---- */

/* LMDB error -> RAGD_E* (MDB_MAP_FULL and ENOSPC -> RAGD_EFULL, ...). */
int lm__err(lm_store *s, int mdb_rc);

/* Read transactions from the pool (MDB_NOTLS): begin/renew and reset/return. */
int lm__rtxn_get(lm_store *s, MDB_txn **txn);
void lm__rtxn_put(lm_store *s, MDB_txn *txn);

/* Look a key up in txn: header into *h, value bytes (borrowed) into val and vlen.
 * RAGD_ENOTFOUND when absent (expired entries are returned: check h). */
int lm__lookup(lm_store *s, MDB_txn *txn, const char *key, size_t klen, lm_hdr *h,
               const void **val, size_t *vlen);

static inline bool lm__expired(const lm_hdr *h, int64_t now)
{
    return h->expire_at_ms != 0 && h->expire_at_ms <= now;
}

/* Access table: record a read / the last known access time of a key. */
void lm__touch(lm_store *s, const char *key, size_t klen, int64_t now);
int64_t lm__last_access(lm_store *s, const char *key, size_t klen, const lm_hdr *h);

/* Begin a write transaction (w->txn stays NULL when it fails). */
int lm__w_begin(lm_store *s, lm_w *w);
/* Apply the accounting, evict down to the budget, commit. Aborts on error. */
int lm__w_commit(lm_w *w);
/* Abort (a no-op when w holds no transaction). */
void lm__w_abort(lm_w *w);
/* End an operation: commit when op_rc is 0, else abort and return op_rc. */
int lm__w_end(lm_w *w, int op_rc);

/* An entry read in a write transaction; v is borrowed from the txn's pages,
 * which lm__put and lm__remove may change. */
typedef struct lm_entry {
    lm_hdr h;
    const void *v;
    size_t n;
} lm_entry;

/* The opening of most writes: begin w, then look key up into *e (live_only:
 * an expired entry reads as missing). Returns 0, RAGD_ENOTFOUND (w open) or
 * an error (w open unless begin failed); finish with lm__w_end either way. */
int lm__w_begin_at(lm_store *s, lm_w *w, const char *key, size_t klen, bool live_only,
                   lm_entry *e);

/* Remove an entry found with header h and value length vlen, with its indexes. */
int lm__remove(lm_w *w, const char *key, size_t klen, const lm_hdr *h, size_t vlen);
/* Write an entry, replacing (and unindexing) any old one under the key. */
int lm__put(lm_w *w, const char *key, size_t klen, const void *val, size_t vlen,
            int64_t expire_at_ms, unsigned flags);

/* Evict sampled LRU entries in w until evictable bytes fit the budget. */
int lm__evict(lm_w *w, lm_acct *acct);

/* ---- housekeeping (store_lmdb_sweep.c) ---- */

/* Delete up to limit expired entries in one write txn; *n gets the count. */
int lm__sweep_once(lm_store *s, size_t limit, size_t *n);

/* Start / stop the maintenance thread (sweeper, everysec fsync) if needed. */
int lm__maint_start(lm_store *s);
void lm__maint_stop(lm_store *s);

/* ---- writes (store_lmdb_write.c) ---- */

int lm__set(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
            int64_t ttl_ms, unsigned flags);
int lm__del(void *impl, const char *key, size_t klen);
int lm__expire(void *impl, const char *key, size_t klen, int64_t ttl_ms);
int lm__incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
             int64_t *out);
int lm__cas(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
            const void *val, size_t vlen, int64_t ttl_ms, unsigned flags);
int lm__batch(void *impl, const store_check *checks, size_t nc, size_t *failed,
              const store_op *ops, size_t n, const char *log, size_t loglen, const void *rec,
              size_t len, uint64_t *seq);
int lm__del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted);

/* ---- logs (store_lmdb_log.c) ---- */

int lm__log_append(void *impl, const char *log, size_t loglen, const void *rec, size_t len,
                   uint64_t *seq);
int lm__log_read(void *impl, const char *log, size_t loglen, uint64_t after_seq,
                 store_log_fn fn, void *ud);
int lm__log_delete(void *impl, const char *log, size_t loglen);
int lm__log_trim(void *impl, const char *log, size_t loglen, uint64_t keep);
int lm__log_bounds(void *impl, const char *log, size_t loglen, uint64_t *first,
                   uint64_t *last);
/* Append rec to log inside the write transaction txn (trimming to
 * log_keep); *seq gets its number. Used by lm__batch and lm__log_append. */
int lm__log_put(lm_store *s, MDB_txn *txn, const char *log, size_t loglen, const void *rec,
                size_t len, uint64_t *seq);

/* ---- the operations table's writes (store_lmdb_grow.c) ---- */

/* Each runs lm__<op> and, when the map is full, grows it and runs it again. */
int lm__g_set(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms, unsigned flags);
int lm__g_del(void *impl, const char *key, size_t klen);
int lm__g_expire(void *impl, const char *key, size_t klen, int64_t ttl_ms);
int lm__g_incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
               int64_t *out);
int lm__g_cas(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
              const void *val, size_t vlen, int64_t ttl_ms, unsigned flags);
int lm__g_batch(void *impl, const store_check *checks, size_t nc, size_t *failed,
                const store_op *ops, size_t n, const char *log, size_t loglen, const void *rec,
                size_t len, uint64_t *seq);
int lm__g_del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted);
int lm__g_log_append(void *impl, const char *log, size_t loglen, const void *rec, size_t len,
                     uint64_t *seq);
int lm__g_log_delete(void *impl, const char *log, size_t loglen);
int lm__g_ratelimit(void *impl, const char *key, size_t klen, const store_rl_params *p,
                    store_rl_result *out);

/* Big-endian 64-bit helpers for index keys. */
static inline void lm__be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}
static inline uint64_t lm__be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

#endif
