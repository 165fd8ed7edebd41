/*
 * store_lmdb_write.c - the LMDB backend's writes. Each public operation is one
 * write transaction (so incr, cas and batch are atomic), in which lm__put and
 * lm__remove keep the expiry index, the evictable-key index and the byte
 * accounting in step with the main table; the commit evicts down to the budget.
 * Durability is LMDB's: the commit syncs (always) or leaves syncing to the
 * maintenance thread (everysec) or the OS (no); a commit survives kill -9 in all.
 */
#include "store/store_lmdb_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/mem.h"

#define LM_PATTERN_CHUNK 512

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

/* Finish an operation: commit when op_rc is 0, else abort and pass op_rc on. */
static int w_finish(lm_w *w, int op_rc)
{
    if (op_rc != 0) {
        lm__w_abort(w);
        return op_rc;
    }
    return lm__w_commit(w);
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
        unsigned char ek[8 + 512];
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
        unsigned char ek[8 + 512];
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

/* Look up a live entry inside a write txn; an expired one reads as missing. */
static int w_lookup_live(lm_w *w, const char *key, size_t klen, lm_hdr *h, const void **v,
                         size_t *n)
{
    int rc = lm__lookup(w->s, w->txn, key, klen, h, v, n);
    if (rc == 0 && lm__expired(h, w->now))
        return RAGD_ENOTFOUND;
    return rc;
}

static int64_t expire_at(const lm_w *w, int64_t ttl_ms)
{
    return ttl_ms > 0 ? w->now + ttl_ms : 0;
}

static int too_big(lm_store *s, size_t klen, size_t vlen, unsigned flags)
{
    return s->max_bytes && (flags & STORE_EVICTABLE) &&
           klen + LM_HDR_SIZE + vlen > s->max_bytes;
}

int lm__set(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
            int64_t ttl_ms, unsigned flags)
{
    lm_store *s = impl;
    if (too_big(s, klen, vlen, flags))
        return RAGD_ETOOBIG;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    if (flags & STORE_NX) {
        lm_hdr h;
        const void *v;
        size_t n;
        rc = w_lookup_live(&w, key, klen, &h, &v, &n);
        rc = rc == 0 ? RAGD_EEXISTS : rc == RAGD_ENOTFOUND ? 0 : rc;
    }
    if (rc == 0)
        rc = lm__put(&w, key, klen, val, vlen, expire_at(&w, ttl_ms), flags);
    return w_finish(&w, rc);
}

int lm__del(void *impl, const char *key, size_t klen)
{
    lm_store *s = impl;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    lm_hdr h;
    const void *v;
    size_t n;
    rc = lm__lookup(s, w.txn, key, klen, &h, &v, &n);
    if (rc == 0) {
        bool dead = lm__expired(&h, w.now);
        rc = lm__remove(&w, key, klen, &h, n);
        if (rc == 0 && dead) {
            w.expired++;
            rc = lm__w_commit(&w);
            return rc ? rc : RAGD_ENOTFOUND;
        }
    }
    return w_finish(&w, rc);
}

int lm__expire(void *impl, const char *key, size_t klen, int64_t ttl_ms)
{
    lm_store *s = impl;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    lm_hdr h;
    const void *v;
    size_t n;
    rc = w_lookup_live(&w, key, klen, &h, &v, &n);
    if (rc == 0) {
        /* v points into the txn's pages, which lm__put may change: copy it. */
        void *copy = xmalloc(n ? n : 1);
        memcpy(copy, v, n);
        rc = lm__put(&w, key, klen, copy, n, expire_at(&w, ttl_ms), h.flags);
        free(copy);
    }
    return w_finish(&w, rc);
}

int lm__incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
             int64_t *out)
{
    lm_store *s = impl;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    lm_hdr h;
    const void *v;
    size_t n;
    int64_t cur = 0, at = expire_at(&w, ttl_ms);
    unsigned flags = 0;
    rc = w_lookup_live(&w, key, klen, &h, &v, &n);
    if (rc == 0) {
        at = h.expire_at_ms;
        flags = h.flags;
        if (!store__parse_i64(v, n, &cur))
            rc = RAGD_EINVAL;
    } else if (rc == RAGD_ENOTFOUND) {
        rc = 0;
    }
    int64_t sum = 0;
    if (rc == 0 && __builtin_add_overflow(cur, delta, &sum))
        rc = RAGD_EINVAL;
    if (rc == 0) {
        char buf[24];
        int len = snprintf(buf, sizeof buf, "%" PRId64, sum);
        rc = lm__put(&w, key, klen, buf, (size_t)len, at, flags);
    }
    rc = w_finish(&w, rc);
    if (rc == 0)
        *out = sum;
    return rc;
}

int lm__cas(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
            const void *val, size_t vlen, int64_t ttl_ms, unsigned flags)
{
    lm_store *s = impl;
    if (val && too_big(s, klen, vlen, flags))
        return RAGD_ETOOBIG;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    lm_hdr h;
    const void *v;
    size_t n;
    rc = w_lookup_live(&w, key, klen, &h, &v, &n);
    bool found = rc == 0;
    if (rc == 0 || rc == RAGD_ENOTFOUND) {
        bool match = expect ? found && n == elen && memcmp(v, expect, elen) == 0 : !found;
        rc = match ? 0 : RAGD_ECONFLICT;
    }
    if (rc == 0 && val) {
        rc = lm__put(&w, key, klen, val, vlen, expire_at(&w, ttl_ms), flags);
    } else if (rc == 0 && found) {
        rc = lm__remove(&w, key, klen, &h, n);
    }
    return w_finish(&w, rc);
}

int lm__batch(void *impl, const store_op *ops, size_t n)
{
    lm_store *s = impl;
    for (size_t i = 0; i < n; i++)
        if (ops[i].val && too_big(s, ops[i].klen, ops[i].vlen, ops[i].flags))
            return RAGD_ETOOBIG;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const store_op *op = &ops[i];
        if (op->val) {
            rc = lm__put(&w, op->key, op->klen, op->val, op->vlen, expire_at(&w, op->ttl_ms),
                         op->flags);
        } else {
            lm_hdr h;
            const void *v;
            size_t vn;
            rc = lm__lookup(s, w.txn, op->key, op->klen, &h, &v, &vn);
            if (rc == 0)
                rc = lm__remove(&w, op->key, op->klen, &h, vn);
            else if (rc == RAGD_ENOTFOUND)
                rc = 0;
        }
    }
    if (rc && w.txn == NULL)
        return rc;
    return w_finish(&w, rc);
}

/* One chunk of del_pattern: delete up to LM_PATTERN_CHUNK matches at or after
 * *from (a malloc'd key that is advanced); *done when the range is exhausted. */
static int pattern_chunk(lm_store *s, const char *pat, size_t patlen, const char *lit,
                         size_t litlen, char **from, size_t *fromlen, bool *done,
                         uint64_t *deleted)
{
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    char *keys[LM_PATTERN_CHUNK];
    size_t lens[LM_PATTERN_CHUNK], nk = 0, scanned = 0;
    MDB_cursor *cur;
    rc = mdb_cursor_open(w.txn, s->kv, &cur);
    if (rc) {
        lm__w_abort(&w);
        return lm__err(s, rc);
    }
    MDB_val k = { *fromlen, *from }, d;
    int mrc = *fromlen ? mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE)
                       : mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    *done = true;
    while (mrc == 0 && k.mv_size >= litlen && memcmp(k.mv_data, lit, litlen) == 0) {
        if (nk == LM_PATTERN_CHUNK || scanned == 16 * LM_PATTERN_CHUNK) {
            free(*from); /* resume here in the next transaction */
            *from = xmalloc(k.mv_size);
            memcpy(*from, k.mv_data, k.mv_size);
            *fromlen = k.mv_size;
            *done = false;
            break;
        }
        scanned++;
        if (store__glob_match(pat, patlen, k.mv_data, k.mv_size)) {
            keys[nk] = xmalloc(k.mv_size);
            memcpy(keys[nk], k.mv_data, k.mv_size);
            lens[nk++] = k.mv_size;
        }
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = lm__err(s, mrc);
    uint64_t live = 0;
    for (size_t i = 0; i < nk; i++) {
        lm_hdr h;
        const void *v;
        size_t vn;
        if (rc == 0 && lm__lookup(s, w.txn, keys[i], lens[i], &h, &v, &vn) == 0) {
            bool dead = lm__expired(&h, w.now);
            live += !dead;
            w.expired += dead;
            rc = lm__remove(&w, keys[i], lens[i], &h, vn);
        }
        free(keys[i]);
    }
    rc = w_finish(&w, rc);
    if (rc == 0)
        *deleted += live;
    return rc;
}

int lm__del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted)
{
    lm_store *s = impl;
    char *lit = xmalloc(patlen + 1);
    size_t litlen = store__glob_literal_prefix(pattern, patlen, lit);
    char *from = xmalloc(litlen + 1);
    memcpy(from, lit, litlen);
    size_t fromlen = litlen;
    bool done = false;
    int rc = 0;
    *deleted = 0;
    while (!done && rc == 0)
        rc = pattern_chunk(s, pattern, patlen, lit, litlen, &from, &fromlen, &done, deleted);
    free(from);
    free(lit);
    return rc;
}
