/*
 * store_lmdb_sweep.c - the LMDB backend's housekeeping: eviction under the size
 * budget and the maintenance thread. Eviction is approximate LRU by sampling, as
 * in Redis, but over LMDB order: a clock hand walks the index of STORE_EVICTABLE
 * keys (hash-named cache keys make consecutive entries a fair sample) and evicts
 * the least recently used of LM_EVICT_SAMPLES entries (expired ones first). Only
 * keys in that index can be chosen, so documents, sessions and counters never are.
 * The thread deletes expired keys (the expiry index is ordered by time) every
 * sweep interval and, under the everysec policy, syncs the environment each second.
 */
#include "store/store_lmdb_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/mem.h"

#define LM_EVICT_SAMPLES 16
#define LM_SWEEP_CHUNK 1000

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
    char key[512];
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

/* Copy up to limit expiry-index keys that are due into keys[]. */
static int sweep_collect(lm_w *w, size_t limit, unsigned char **keys, size_t *lens,
                         size_t *nk)
{
    lm_store *s = w->s;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(w->txn, s->exp, &cur);
    if (rc)
        return lm__err(s, rc);
    MDB_val k, d;
    *nk = 0;
    rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    while (rc == 0 && *nk < limit && k.mv_size > 8 &&
           (int64_t)lm__be64_get(k.mv_data) <= w->now) {
        keys[*nk] = xmalloc(k.mv_size);
        memcpy(keys[*nk], k.mv_data, k.mv_size);
        lens[(*nk)++] = k.mv_size;
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : lm__err(s, rc);
}

int lm__sweep_once(lm_store *s, size_t limit, size_t *n)
{
    *n = 0;
    lm_w w;
    int rc = lm__w_begin(s, &w);
    if (rc)
        return rc;
    unsigned char **keys = xmalloc(limit * sizeof *keys);
    size_t *lens = xmalloc(limit * sizeof *lens), nk = 0;
    rc = sweep_collect(&w, limit, keys, lens, &nk);
    for (size_t i = 0; i < nk; i++) {
        const char *key = (const char *)keys[i] + 8;
        size_t klen = lens[i] - 8;
        lm_hdr h;
        const void *v;
        size_t vn;
        if (rc == 0 && lm__lookup(s, w.txn, key, klen, &h, &v, &vn) == 0 &&
            h.expire_at_ms == (int64_t)lm__be64_get(keys[i])) {
            rc = lm__remove(&w, key, klen, &h, vn);
            w.expired++;
        } else if (rc == 0) { /* an index entry left behind: drop it alone */
            MDB_val e = { lens[i], keys[i] };
            int mrc = mdb_del(w.txn, s->exp, &e, NULL);
            rc = mrc && mrc != MDB_NOTFOUND ? lm__err(s, mrc) : 0;
        }
        free(keys[i]);
    }
    free(keys);
    free(lens);
    if (rc == 0 && nk == 0) {
        lm__w_abort(&w); /* nothing due: do not spend a commit */
        return 0;
    }
    rc = rc ? (lm__w_abort(&w), rc) : lm__w_commit(&w);
    if (rc == 0)
        *n = nk;
    return rc;
}

static void *maint_main(void *arg)
{
    lm_store *s = arg;
    int64_t now = clock_mono_us() / 1000;
    int64_t next_sweep = s->sweep_interval_ms >= 0 ? now + s->sweep_interval_ms : INT64_MAX;
    int64_t next_sync = s->fsync_policy == STORE_FSYNC_EVERYSEC ? now + 1000 : INT64_MAX;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t due = next_sweep < next_sync ? next_sweep : next_sync;
        struct timespec ts = { (time_t)(due / 1000), (long)(due % 1000) * 1000000L };
        if (clock_mono_us() / 1000 < due) {
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        now = clock_mono_us() / 1000;
        if (now >= next_sync) {
            mdb_env_sync(s->env, 1);
            next_sync = now + 1000;
        }
        if (now >= next_sweep) {
            size_t n = LM_SWEEP_CHUNK;
            while (n == LM_SWEEP_CHUNK && !s->stop)
                if (lm__g_sweep_once(s, LM_SWEEP_CHUNK, &n) != 0)
                    break;
            next_sweep = clock_mono_us() / 1000 + (s->sweep_interval_ms > 0 ? s->sweep_interval_ms : 1);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int lm__maint_start(lm_store *s)
{
    if (s->sweep_interval_ms < 0 && s->fsync_policy != STORE_FSYNC_EVERYSEC)
        return 0;
    if (pthread_create(&s->thr, NULL, maint_main, s) != 0)
        return RAGD_EINTERNAL;
    s->thr_running = true;
    return 0;
}

void lm__maint_stop(lm_store *s)
{
    if (!s->thr_running)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thr, NULL);
    s->thr_running = false;
}
