/*
 * store_lmdb_txn.c - the LMDB backend's transactions, below every operation:
 * the pool of reset read transactions (MDB_NOTLS, mdb_txn_renew), lookups, the
 * in-memory access table that reads update instead of writing, and write
 * transactions in which lm__put and lm__remove keep the expiry index, the
 * evictable-key index and the byte accounting in step with the main table.
 * Every transaction holds the map (store_lmdb_map.c) while it lives. The
 * commit evicts down to the budget: approximate LRU by sampling, as in Redis,
 * but over LMDB order - a clock hand walks the index of STORE_EVICTABLE keys
 * (hash-named cache keys make consecutive entries a fair sample) and evicts
 * the least recently used of LM_EVICT_SAMPLES entries (expired ones first).
 * Only keys in that index can be chosen, so documents, sessions and counters
 * never are.
 */
#include "store/store_lmdb_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "util/clock.h"
#include "util/hash.h"
#include "util/mem.h"

#define LM_EVICT_SAMPLES 16

/* ---- errors and reads ---- */

/* LMDB reports a short write (the disk filled during it) as EIO: with less
 * than LM_DISK_LOW bytes left on the filesystem that EIO is a full disk. */
#define LM_DISK_LOW (1u << 20)
static bool lm__disk_low(lm_store *s)
{
    mdb_filehandle_t fd;
    struct statvfs vs;
    return mdb_env_get_fd(s->env, &fd) == 0 && fstatvfs(fd, &vs) == 0 &&
           (uint64_t)vs.f_bavail * vs.f_frsize < LM_DISK_LOW;
}

int lm__err(lm_store *s, int rc)
{
    if (rc == EIO && lm__disk_low(s))
        rc = ENOSPC;
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return RAGD_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        atomic_fetch_add(&s->errors, 1);
        lm__map_note_full(s, rc);
        return RAGD_EFULL;
    case MDB_BAD_VALSIZE:
        return RAGD_ETOOBIG;
    case ENOMEM:
        return RAGD_ENOMEM;
    default:
        atomic_fetch_add(&s->errors, 1);
        return RAGD_EIO;
    }
}

int lm__rtxn_get(lm_store *s, MDB_txn **txn)
{
    MDB_txn *t = NULL;
    lm__map_enter(s);
    pthread_mutex_lock(&s->rpool_mu);
    if (s->rpool_n > 0)
        t = s->rpool[--s->rpool_n];
    pthread_mutex_unlock(&s->rpool_mu);
    int rc;
    if (t) {
        rc = mdb_txn_renew(t);
        if (rc != 0)
            mdb_txn_abort(t);
    } else {
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
    }
    if (rc != 0) {
        lm__map_leave(s);
        return lm__err(s, rc);
    }
    *txn = t;
    return 0;
}

void lm__rtxn_put(lm_store *s, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&s->rpool_mu);
    if (s->rpool_n == s->rpool_cap) {
        s->rpool_cap = s->rpool_cap ? 2 * s->rpool_cap : 16;
        s->rpool = xrealloc(s->rpool, s->rpool_cap * sizeof *s->rpool);
    }
    s->rpool[s->rpool_n++] = txn;
    pthread_mutex_unlock(&s->rpool_mu);
    lm__map_leave(s);
}

int lm__lookup(lm_store *s, MDB_txn *txn, const char *key, size_t klen, lm_hdr *h,
               const void **val, size_t *vlen)
{
    MDB_val k = { klen, (void *)key }, d;
    int rc = mdb_get(txn, s->kv, &k, &d);
    if (rc != 0)
        return lm__err(s, rc);
    if (d.mv_size < LM_HDR_SIZE)
        return lm__err(s, MDB_CORRUPTED);
    memcpy(h, d.mv_data, LM_HDR_SIZE);
    *val = (const char *)d.mv_data + LM_HDR_SIZE;
    *vlen = d.mv_size - LM_HDR_SIZE;
    return 0;
}

void lm__touch(lm_store *s, const char *key, size_t klen, int64_t now)
{
    uint64_t h = hash_fnv1a64(key, klen);
    lm_access *a = &s->access[h & (LM_ACCESS_SLOTS - 1)];
    atomic_store_explicit(&a->ms, now, memory_order_relaxed);
    atomic_store_explicit(&a->tag, h, memory_order_relaxed);
}

int64_t lm__last_access(lm_store *s, const char *key, size_t klen, const lm_hdr *h)
{
    uint64_t hv = hash_fnv1a64(key, klen);
    lm_access *a = &s->access[hv & (LM_ACCESS_SLOTS - 1)];
    int64_t t = h->stamp_ms;
    if (atomic_load_explicit(&a->tag, memory_order_relaxed) == hv) {
        int64_t r = atomic_load_explicit(&a->ms, memory_order_relaxed);
        if (r > t)
            t = r;
    }
    return t;
}

/* ---- eviction ---- */

/* Choose a victim among the next samples after the clock hand into best and blen.
 * Returns RAGD_ENOTFOUND when nothing is evictable. */
static int evict_pick(lm_w *w, char *best, size_t *blen)
{
    lm_store *s = w->s;
    MDB_stat st;
    int rc = mdb_stat(w->txn, s->evx, &st);
    if (rc)
        return lm__err(s, rc);
    if (st.ms_entries == 0)
        return RAGD_ENOTFOUND;
    size_t samples = st.ms_entries < LM_EVICT_SAMPLES ? st.ms_entries : LM_EVICT_SAMPLES;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(w->txn, s->evx, &cur)))
        return lm__err(s, rc);
    MDB_val k = { s->hand_len, s->hand }, d;
    rc = s->hand_len ? mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    int64_t best_score = INT64_MAX;
    *blen = 0;
    for (size_t i = 0; i < samples && rc == 0; i++) {
        lm_hdr h;
        const void *v;
        size_t n;
        if (lm__lookup(s, w->txn, k.mv_data, k.mv_size, &h, &v, &n) == 0) {
            int64_t score = lm__expired(&h, w->now)
                                ? INT64_MIN
                                : lm__last_access(s, k.mv_data, k.mv_size, &h);
            if (score < best_score || *blen == 0) {
                best_score = score;
                memcpy(best, k.mv_data, k.mv_size);
                *blen = k.mv_size;
            }
        }
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
        if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    }
    if (rc == 0 && k.mv_size <= sizeof s->hand) {
        memcpy(s->hand, k.mv_data, k.mv_size);
        s->hand_len = k.mv_size;
    } else {
        s->hand_len = 0;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lm__err(s, rc);
    return *blen ? 0 : RAGD_ENOTFOUND;
}

int lm__evict(lm_w *w, lm_acct *acct)
{
    lm_store *s = w->s;
    char key[STORE_FULL_KEY_BUF];
    size_t klen = 0;
    while (acct->evict_bytes > s->max_bytes) {
        int rc = evict_pick(w, key, &klen);
        if (rc == RAGD_ENOTFOUND)
            return 0; /* the accounting drifted: nothing left to evict */
        if (rc)
            return rc;
        lm_hdr h;
        const void *v;
        size_t n;
        if ((rc = lm__lookup(s, w->txn, key, klen, &h, &v, &n)))
            return rc;
        uint64_t sz = klen + LM_HDR_SIZE + n;
        bool dead = lm__expired(&h, w->now);
        if ((rc = lm__remove(w, key, klen, &h, n)))
            return rc;
        acct->bytes = acct->bytes > sz ? acct->bytes - sz : 0;
        acct->evict_bytes = acct->evict_bytes > sz ? acct->evict_bytes - sz : 0;
        if (dead)
            w->expired++;
        else
            w->evicted++;
    }
    return 0;
}

/* ---- write transactions ---- */

int lm__w_begin(lm_store *s, lm_w *w)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    lm__map_enter(s);
    int rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    if (rc) {
        w->txn = NULL;
        lm__map_leave(s);
        return lm__err(s, rc);
    }
    w->now = clock_wall_ms();
    return 0;
}

void lm__w_abort(lm_w *w)
{
    if (w->txn) {
        mdb_txn_abort(w->txn);
        lm__map_leave(w->s);
    }
    w->txn = NULL;
}

int lm__w_begin_at(lm_store *s, lm_w *w, const char *key, size_t klen, bool live_only,
                   lm_entry *e)
{
    int rc = lm__w_begin(s, w);
    if (rc == 0)
        rc = lm__lookup(s, w->txn, key, klen, &e->h, &e->v, &e->n);
    if (rc == 0 && live_only && lm__expired(&e->h, w->now))
        rc = RAGD_ENOTFOUND;
    return rc;
}

int lm__w_end(lm_w *w, int op_rc)
{
    if (op_rc != 0) {
        lm__w_abort(w);
        return op_rc;
    }
    return lm__w_commit(w);
}

static void acct_apply(lm_acct *a, int64_t d_bytes, int64_t d_evict)
{
    a->bytes = (int64_t)a->bytes + d_bytes < 0 ? 0 : (uint64_t)((int64_t)a->bytes + d_bytes);
    a->evict_bytes = (int64_t)a->evict_bytes + d_evict < 0
                         ? 0
                         : (uint64_t)((int64_t)a->evict_bytes + d_evict);
}

int lm__w_commit(lm_w *w)
{
    lm_store *s = w->s;
    lm_acct acct = { 0, 0 };
    MDB_val k = { 4, "acct" }, d;
    int rc = 0;
    if (w->d_bytes || w->d_evict) {
        rc = mdb_get(w->txn, s->meta, &k, &d);
        if (rc == 0 && d.mv_size == sizeof acct)
            memcpy(&acct, d.mv_data, sizeof acct);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
        acct_apply(&acct, w->d_bytes, w->d_evict);
        if (rc == 0 && s->max_bytes && acct.evict_bytes > s->max_bytes) {
            int erc = lm__evict(w, &acct);
            if (erc) {
                lm__w_abort(w);
                return erc;
            }
        }
        d.mv_size = sizeof acct;
        d.mv_data = &acct;
        if (rc == 0)
            rc = mdb_put(w->txn, s->meta, &k, &d, 0);
    }
    if (rc) {
        lm__w_abort(w);
        return lm__err(s, rc);
    }
    /* Publish the new totals while this transaction still holds LMDB's writer
     * lock: published after the commit, a slower writer could overwrite a later
     * writer's totals with its older ones. */
    uint64_t old_bytes = atomic_load(&s->acct_bytes), old_evict = atomic_load(&s->acct_evict_bytes);
    bool changed = w->d_bytes || w->d_evict;
    if (changed) {
        atomic_store(&s->acct_bytes, acct.bytes);
        atomic_store(&s->acct_evict_bytes, acct.evict_bytes);
    }
    rc = mdb_txn_commit(w->txn);
    w->txn = NULL;
    lm__map_leave(s);
    if (rc) {
        if (changed) {  /* nothing was written: put the totals back */
            atomic_store(&s->acct_bytes, old_bytes);
            atomic_store(&s->acct_evict_bytes, old_evict);
        }
        return lm__err(s, rc);
    }
    atomic_fetch_add(&s->evictions, w->evicted);
    atomic_fetch_add(&s->expired, w->expired);
    return 0;
}

static int exp_key(unsigned char *buf, int64_t at, const char *key, size_t klen)
{
    lm__be64_put(buf, (uint64_t)at);
    memcpy(buf + 8, key, klen);
    return (int)(klen + 8);
}

int lm__remove(lm_w *w, const char *key, size_t klen, const lm_hdr *h, size_t vlen)
{
    lm_store *s = w->s;
    MDB_val k = { klen, (void *)key };
    int rc = mdb_del(w->txn, s->kv, &k, NULL);
    if (rc == 0 && h->expire_at_ms) {
        unsigned char ek[8 + STORE_FULL_KEY_BUF];
        MDB_val e = { (size_t)exp_key(ek, h->expire_at_ms, key, klen), ek };
        rc = mdb_del(w->txn, s->exp, &e, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0 && (h->flags & STORE_EVICTABLE)) {
        rc = mdb_del(w->txn, s->evx, &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc)
        return lm__err(s, rc);
    int64_t sz = (int64_t)(klen + LM_HDR_SIZE + vlen);
    w->d_bytes -= sz;
    if (h->flags & STORE_EVICTABLE)
        w->d_evict -= sz;
    return 0;
}

int lm__put(lm_w *w, const char *key, size_t klen, const void *val, size_t vlen,
            int64_t expire_at_ms, unsigned flags)
{
    lm_store *s = w->s;
    lm_hdr old;
    const void *ov;
    size_t on;
    int rc = lm__lookup(s, w->txn, key, klen, &old, &ov, &on);
    if (rc == 0) {
        w->expired += lm__expired(&old, w->now);
        rc = lm__remove(w, key, klen, &old, on);
    } else if (rc == RAGD_ENOTFOUND) {
        rc = 0;
    }
    if (rc)
        return rc;
    lm_hdr h = { expire_at_ms, w->now, flags & STORE_EVICTABLE, LM_HDR_VERSION };
    MDB_val k = { klen, (void *)key }, d = { LM_HDR_SIZE + vlen, NULL };
    int mrc = mdb_put(w->txn, s->kv, &k, &d, MDB_RESERVE);
    if (mrc == 0) {
        memcpy(d.mv_data, &h, LM_HDR_SIZE);
        if (vlen)
            memcpy((char *)d.mv_data + LM_HDR_SIZE, val, vlen);
    }
    if (mrc == 0 && expire_at_ms) {
        unsigned char ek[8 + STORE_FULL_KEY_BUF];
        MDB_val e = { (size_t)exp_key(ek, expire_at_ms, key, klen), ek }, empty = { 0, NULL };
        mrc = mdb_put(w->txn, s->exp, &e, &empty, 0);
    }
    if (mrc == 0 && (flags & STORE_EVICTABLE)) {
        MDB_val empty = { 0, NULL };
        mrc = mdb_put(w->txn, s->evx, &k, &empty, 0);
    }
    if (mrc)
        return lm__err(s, mrc);
    int64_t sz = (int64_t)(klen + LM_HDR_SIZE + vlen);
    w->d_bytes += sz;
    if (flags & STORE_EVICTABLE)
        w->d_evict += sz;
    return 0;
}
