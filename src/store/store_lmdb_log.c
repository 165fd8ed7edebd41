/*
 * store_lmdb_log.c - append-only logs in the LMDB backend: one named database
 * ("logs") keyed by the full log name, a NUL, and the big-endian sequence number,
 * so a log's records sit together in seq order and a read is one cursor walk
 * from MDB_SET_RANGE. The next seq is the last record's plus one.
 */
#include "store/store_lmdb_int.h"

#include <string.h>

#define LM_LOG_KEY_MAX (STORE_PREFIX_MAX + 8 + STORE_KEY_MAX + 9)

/* name + '\0' + be64(seq) into buf; returns the length. */
static size_t log_key(unsigned char *buf, const char *log, size_t loglen, uint64_t seq)
{
    memcpy(buf, log, loglen);
    buf[loglen] = 0;
    lm__be64_put(buf + loglen + 1, seq);
    return loglen + 9;
}

static bool log_owns(const MDB_val *k, const char *log, size_t loglen)
{
    return k->mv_size == loglen + 9 && memcmp(k->mv_data, log, loglen) == 0 &&
           ((const unsigned char *)k->mv_data)[loglen] == 0;
}

/* The last seq of a log in txn (0 when empty). */
static int log_last(lm_store *s, MDB_txn *txn, const char *log, size_t loglen, uint64_t *last)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->logs, &cur);
    if (rc)
        return lm__err(s, rc);
    unsigned char kb[LM_LOG_KEY_MAX];
    MDB_val k = { log_key(kb, log, loglen, UINT64_MAX), kb }, d;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    if (rc == 0 && log_owns(&k, log, loglen)) { /* seq UINT64_MAX itself */
        *last = UINT64_MAX;
        mdb_cursor_close(cur);
        return 0;
    }
    rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV)
                 : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &d, MDB_LAST) : rc;
    *last = rc == 0 && log_owns(&k, log, loglen) ? lm__be64_get((unsigned char *)k.mv_data + loglen + 1)
                                                 : 0;
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : lm__err(s, rc);
}

/* Delete the records of log with seq <= upto, oldest first, in txn. */
static int log_drop_upto(lm_store *s, MDB_txn *txn, const char *log, size_t loglen,
                         uint64_t upto)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->logs, &cur);
    if (rc)
        return lm__err(s, rc);
    unsigned char kb[LM_LOG_KEY_MAX];
    MDB_val k = { log_key(kb, log, loglen, 0), kb }, d;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && log_owns(&k, log, loglen) &&
           lm__be64_get((unsigned char *)k.mv_data + loglen + 1) <= upto) {
        rc = mdb_cursor_del(cur, 0);
        if (rc == 0) { /* re-seek, as lm__log_delete does */
            k.mv_size = log_key(kb, log, loglen, 0);
            k.mv_data = kb;
            rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : lm__err(s, rc);
}

int lm__log_put(lm_store *s, MDB_txn *txn, const char *log, size_t loglen, const void *rec,
                size_t len, uint64_t *seq)
{
    uint64_t last = 0;
    int rc = log_last(s, txn, log, loglen, &last);
    if (rc == 0 && last == UINT64_MAX)
        rc = RAGD_EFULL;
    if (rc)
        return rc;
    unsigned char kb[LM_LOG_KEY_MAX];
    MDB_val k = { log_key(kb, log, loglen, last + 1), kb }, d = { len, (void *)rec };
    rc = lm__err(s, mdb_put(txn, s->logs, &k, &d, 0));
    if (rc == 0 && last + 1 > s->log_keep) /* trim: keep exactly log_keep */
        rc = log_drop_upto(s, txn, log, loglen, last + 1 - s->log_keep);
    if (rc == 0)
        *seq = last + 1;
    return rc;
}

int lm__log_append(void *impl, const char *log, size_t loglen, const void *rec, size_t len,
                   uint64_t *seq)
{
    lm_store *s = impl;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    uint64_t got = 0;
    rc = lm__log_put(s, w.txn, log, loglen, rec, len, &got);
    if (rc) {
        lm__w_abort(&w);
        return rc;
    }
    rc = lm__w_commit(&w);
    if (rc == 0)
        *seq = got;
    return rc;
}


int lm__log_trim(void *impl, const char *log, size_t loglen, uint64_t keep)
{
    lm_store *s = impl;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    uint64_t last = 0;
    rc = log_last(s, w.txn, log, loglen, &last);
    if (rc == 0 && last > keep)
        rc = log_drop_upto(s, w.txn, log, loglen, last - keep);
    return lm__w_end(&w, rc);
}

int lm__log_bounds(void *impl, const char *log, size_t loglen, uint64_t *first,
                   uint64_t *last)
{
    lm_store *s = impl;
    MDB_txn *txn;
    int rc = lm__rtxn_get(s, &txn);
    if (rc)
        return rc;
    rc = log_last(s, txn, log, loglen, last);
    MDB_cursor *cur = NULL;
    int mrc = rc == 0 ? mdb_cursor_open(txn, s->logs, &cur) : 0;
    if (rc == 0 && mrc == 0) {
        unsigned char kb[LM_LOG_KEY_MAX];
        MDB_val k = { log_key(kb, log, loglen, 0), kb }, d;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        if (mrc == 0 && log_owns(&k, log, loglen))
            *first = lm__be64_get((unsigned char *)k.mv_data + loglen + 1);
        mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
    }
    if (cur)
        mdb_cursor_close(cur);
    lm__rtxn_put(s, txn);
    return rc ? rc : lm__err(s, mrc);
}

int lm__log_read(void *impl, const char *log, size_t loglen, uint64_t after_seq,
                 store_log_fn fn, void *ud)
{
    lm_store *s = impl;
    if (after_seq == UINT64_MAX)
        return 0;
    MDB_txn *txn;
    int rc = lm__rtxn_get(s, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->logs, &cur);
    if (rc) {
        lm__rtxn_put(s, txn);
        return lm__err(s, rc);
    }
    unsigned char kb[LM_LOG_KEY_MAX];
    MDB_val k = { log_key(kb, log, loglen, after_seq + 1), kb }, d;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    while (mrc == 0 && log_owns(&k, log, loglen)) {
        uint64_t seq = lm__be64_get((unsigned char *)k.mv_data + loglen + 1);
        if (fn(ud, seq, d.mv_data, d.mv_size) != 0)
            break;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = lm__err(s, mrc);
    mdb_cursor_close(cur);
    lm__rtxn_put(s, txn);
    return rc;
}

int lm__log_delete(void *impl, const char *log, size_t loglen)
{
    lm_store *s = impl;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open(w.txn, s->logs, &cur);
    if (mrc == 0) {
        unsigned char kb[LM_LOG_KEY_MAX];
        MDB_val k = { log_key(kb, log, loglen, 0), kb }, d;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        while (mrc == 0 && log_owns(&k, log, loglen)) {
            mrc = mdb_cursor_del(cur, 0);
            if (mrc == 0) { /* re-seek: simpler than trusting the cursor after a delete */
                k.mv_size = log_key(kb, log, loglen, 0);
                k.mv_data = kb;
                mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
            }
        }
        mdb_cursor_close(cur);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        lm__w_abort(&w);
        return lm__err(s, mrc);
    }
    return lm__w_commit(&w);
}
