/*
 * store_lmdb_sweep.c - the LMDB backend's housekeeping: the maintenance thread
 * (eviction under the size budget runs at every commit, in store_lmdb_txn.c).
 * The thread deletes expired keys (the expiry index is ordered by time) every
 * sweep interval and, under the everysec policy, syncs the environment each second.
 */
#include "store/store_lmdb_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/mem.h"

#define LM_SWEEP_CHUNK 1000

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

/* lm__sweep_once, retried after the map grew when it was full. */
static int sweep__once_grow(lm_store *s, size_t limit, size_t *n)
{
    LM_GROW_RETRY(s, true, lm__sweep_once(s, limit, n));
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
                if (sweep__once_grow(s, LM_SWEEP_CHUNK, &n) != 0)
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
