/*
 * store_lmdb_write.c - the LMDB backend's writes. Each public operation is one
 * write transaction (so incr, cas and batch are atomic) made of the entry
 * primitives of store_lmdb_txn.c (lm__put, lm__remove, lm__w_commit), which
 * keep the indexes and the byte accounting in step and evict at commit.
 * Durability is LMDB's: the commit syncs (always) or leaves syncing to the
 * maintenance thread (everysec) or the OS (no); a commit survives kill -9 in all.
 */
#include "store/store_lmdb_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define LM_PATTERN_CHUNK 512

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
    int rc;
    if (flags & STORE_NX) {
        lm_entry e;
        rc = lm__w_begin_at(s, &w, key, klen, true, &e);
        rc = rc == 0 ? RAGD_EEXISTS : rc == RAGD_ENOTFOUND && w.txn ? 0 : rc;
    } else {
        rc = lm__w_begin(s, &w);
    }
    if (rc == 0)
        rc = lm__put(&w, key, klen, val, vlen, expire_at(&w, ttl_ms), flags);
    return lm__w_end(&w, rc);
}

int lm__del(void *impl, const char *key, size_t klen)
{
    lm_w w;
    lm_entry e;
    int rc = lm__w_begin_at(impl, &w, key, klen, false, &e);
    if (rc == 0) {
        bool dead = lm__expired(&e.h, w.now);
        rc = lm__remove(&w, key, klen, &e.h, e.n);
        if (rc == 0 && dead) {
            w.expired++;
            rc = lm__w_commit(&w);
            return rc ? rc : RAGD_ENOTFOUND;
        }
    }
    return lm__w_end(&w, rc);
}

int lm__expire(void *impl, const char *key, size_t klen, int64_t ttl_ms)
{
    lm_w w;
    lm_entry e;
    int rc = lm__w_begin_at(impl, &w, key, klen, true, &e);
    if (rc == 0) {
        /* e.v points into the txn's pages, which lm__put may change: copy it. */
        void *copy = xmalloc(e.n ? e.n : 1);
        memcpy(copy, e.v, e.n);
        rc = lm__put(&w, key, klen, copy, e.n, expire_at(&w, ttl_ms), e.h.flags);
        free(copy);
    }
    return lm__w_end(&w, rc);
}

int lm__incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
             int64_t *out)
{
    lm_w w;
    lm_entry e;
    int rc = lm__w_begin_at(impl, &w, key, klen, true, &e);
    int64_t cur = 0, at = expire_at(&w, ttl_ms);
    unsigned flags = 0;
    if (rc == 0) {
        at = e.h.expire_at_ms;
        flags = e.h.flags;
        if (!store__parse_i64(e.v, e.n, &cur))
            rc = RAGD_EINVAL;
    } else if (rc == RAGD_ENOTFOUND && w.txn) {
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
    rc = lm__w_end(&w, rc);
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
    lm_entry e;
    int rc = lm__w_begin_at(s, &w, key, klen, true, &e);
    bool found = rc == 0;
    if (rc == 0 || (rc == RAGD_ENOTFOUND && w.txn)) {
        bool match = expect ? found && e.n == elen && memcmp(e.v, expect, elen) == 0 : !found;
        rc = match ? 0 : RAGD_ECONFLICT;
    }
    if (rc == 0 && val) {
        rc = lm__put(&w, key, klen, val, vlen, expire_at(&w, ttl_ms), flags);
    } else if (rc == 0 && found) {
        rc = lm__remove(&w, key, klen, &e.h, e.n);
    }
    return lm__w_end(&w, rc);
}

/* Evaluate a batch's checks in txn: RAGD_ECONFLICT with *failed at the first
 * that fails. */
static int batch_checks(lm_store *s, MDB_txn *txn, const store_check *checks, size_t nc,
                        size_t *failed)
{
    for (size_t i = 0; i < nc; i++) {
        const store_check *c = &checks[i];
        lm_entry e;
        int rc = lm__lookup(s, txn, c->key, c->klen, &e.h, &e.v, &e.n);
        if (rc && rc != RAGD_ENOTFOUND)
            return rc;
        bool found = rc == 0;
        bool ok = c->kind == STORE_CHECK_MISSING  ? !found
                  : c->kind == STORE_CHECK_EXISTS ? found
                                                  : found && e.n == c->vlen &&
                                                        (c->vlen == 0 || memcmp(e.v, c->val, c->vlen) == 0);
        if (!ok) {
            *failed = i;
            return RAGD_ECONFLICT;
        }
    }
    return 0;
}

int lm__batch(void *impl, const store_check *checks, size_t nc, size_t *failed,
              const store_op *ops, size_t n, const char *log, size_t loglen, const void *rec,
              size_t len, uint64_t *seq)
{
    lm_store *s = impl;
    for (size_t i = 0; i < n; i++)
        if (ops[i].val && too_big(s, ops[i].klen, ops[i].vlen, ops[i].flags))
            return RAGD_ETOOBIG;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc == 0)
        rc = batch_checks(s, w.txn, checks, nc, failed);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const store_op *op = &ops[i];
        if (op->val) {
            rc = lm__put(&w, op->key, op->klen, op->val, op->vlen, expire_at(&w, op->ttl_ms),
                         op->flags);
        } else {
            lm_entry e;
            rc = lm__lookup(s, w.txn, op->key, op->klen, &e.h, &e.v, &e.n);
            if (rc == 0)
                rc = lm__remove(&w, op->key, op->klen, &e.h, e.n);
            else if (rc == RAGD_ENOTFOUND)
                rc = 0;
        }
    }
    if (rc == 0 && log)
        rc = lm__log_put(s, w.txn, log, loglen, rec, len, seq);
    return lm__w_end(&w, rc);
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
    rc = lm__w_end(&w, rc);
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
