/*
 * repl.c - the follower thread behind repl.h. Each turn it takes a snapshot
 * of the followed logs, re-reads the bounds of those due a check (lag, lost
 * records), then blocks in one store_log_wait over all of them. What the wait
 * delivers is copied per log into the turn's pending batch and applied when
 * the wait returns (or earlier, before a gap or when the batch is full): a
 * batch follower gets the batch in one call, a record follower one call per
 * record. Locks: mu guards the follower table and counters; amu is held
 * around every apply and gap callback, so repl_unfollow from another thread
 * can wait out a running callback. Followers that leave go to a dead list that
 * only the thread frees (its snapshot may still point at them).
 */
#include "repl/repl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/mem.h"

typedef struct repl_f {
    char *log;
    store_log_fn apply;  /* one of apply and batch */
    repl_batch_fn batch;
    repl_gap_fn gap;
    void *ud;
    uint64_t applied, last, applied_n; /* mu */
    int64_t behind_us;                 /* mu: when lag was first seen; 0 = caught up */
    int64_t checked_us;                /* thread only: last bounds check; 0 = due */
    atomic_bool gone;
    struct repl_f *next_dead;
} repl_f;

struct repl {
    repl_opts o;
    pthread_t th;
    pthread_mutex_t mu;  /* guards fs, n, cap, dead, stop, counters */
    pthread_cond_t cv;   /* stop, or a new follower */
    pthread_mutex_t amu; /* held around callbacks */
    repl_f **fs;
    size_t n, cap;
    repl_f *dead;
    bool stop, connected;
    int64_t down_us;
    repl_tick_fn ticks[REPL_TICKS_MAX];
    void *tick_ud[REPL_TICKS_MAX];
    int nticks;
    int64_t ticked_us;   /* thread only */
    uint64_t applied_total, gaps_total, errors_total;
};

/* Records of one log delivered this turn and not applied yet: their bytes in
 * data (record i at off[i]), pointed to by recs[i].data once the batch is
 * applied (data may move while it grows). */
typedef struct repl_pend {
    buf_t data;
    repl_rec *recs;
    size_t *off;
    size_t n, cap;
} repl_pend;

/* One turn's view: the followers waited on, their positions, failures, and
 * each one's pending batch. */
typedef struct repl_turn {
    repl_t *r;
    repl_f **fs;
    const char **names;
    uint64_t *after;
    bool *failed;
    repl_pend *pend;
    size_t n;
} repl_turn;

void repl_opts_default(repl_opts *o)
{
    memset(o, 0, sizeof *o);
    o->wait_ms = 250;
    o->check_every_ms = 1000;
    o->retry_ms = 100;
}

static bool repl__on_thread(const repl_t *r)
{
    return pthread_equal(pthread_self(), r->th);
}

/* With mu held: the follower of log, or NULL. */
static repl_f *repl__find(repl_t *r, const char *log, size_t *at)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->fs[i]->log, log) == 0) {
            if (at)
                *at = i;
            return r->fs[i];
        }
    return NULL;
}

/* With mu held: refresh f's lag after its applied or last seq moved. */
static void repl__lag_update(repl_f *f)
{
    if (f->last > f->applied) {
        if (!f->behind_us)
            f->behind_us = clock_mono_us();
    } else {
        f->behind_us = 0;
    }
}

/* With mu held: sleep up to ms unless stopping. */
static void repl__sleep(repl_t *r, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (int64_t)ms * 1000000LL;
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    if (!r->stop)
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

/* ---- lost records ---- */

/* Records lost between applied and the log's bounds: ask the gap callback
 * (or skip them) and move the position; false when the callback failed (it is
 * asked again later). Thread only, amu held. */
static bool repl__gap(repl_t *r, repl_f *f, uint64_t applied, uint64_t first, uint64_t last)
{
    uint64_t resume = last < applied ? 0 : first - 1;
    bool back = last < applied;
    log_msg(LOG_WARN, "replication: log %s %s (applied %llu, log holds %llu..%llu)%s", f->log,
            back ? "went back" : "was trimmed past this follower",
            (unsigned long long)applied, (unsigned long long)first, (unsigned long long)last,
            f->gap ? ": rebuilding" : ": records skipped");
    if (f->gap && f->gap(f->ud, f->log, applied, first, last, &resume) != 0) {
        pthread_mutex_lock(&r->mu);
        r->errors_total++;
        pthread_mutex_unlock(&r->mu);
        f->checked_us = 0; /* ask again next turn */
        return false;
    }
    pthread_mutex_lock(&r->mu);
    f->applied = resume;
    f->last = last > resume ? last : resume;
    repl__lag_update(f);
    r->gaps_total++;
    pthread_mutex_unlock(&r->mu);
    return true;
}

/* Re-read the bounds of a follower due a check. Thread only. */
static void repl__check(repl_t *r, repl_f *f, int64_t now)
{
    if (f->checked_us && now - f->checked_us < (int64_t)r->o.check_every_ms * 1000)
        return;
    pthread_mutex_lock(&r->mu);
    uint64_t applied = f->applied; /* read before the bounds: see repl_mark_applied */
    pthread_mutex_unlock(&r->mu);
    uint64_t first = 0, last = 0;
    if (store_log_bounds(r->o.store, f->log, &first, &last) != 0)
        return; /* the wait reports the store's state */
    f->checked_us = now;
    bool lost = last < applied || (first > 0 && first > applied + 1);
    if (!lost) {
        pthread_mutex_lock(&r->mu);
        if (last > f->last)
            f->last = last;
        repl__lag_update(f);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    pthread_mutex_lock(&r->amu);
    if (!atomic_load(&f->gone))
        repl__gap(r, f, applied, first, last);
    pthread_mutex_unlock(&r->amu);
}

/* ---- the wait ---- */

/* With mu held: f applied records up to seq (count of them). */
static void repl__advance(repl_t *r, repl_f *f, uint64_t seq, size_t count)
{
    f->applied = seq > f->applied ? seq : f->applied;
    f->applied_n += count;
    r->applied_total += count;
    repl__lag_update(f);
}

/* Apply the pending batch of follower idx (records at or below its position
 * skipped): one batch call, or one call per record. A refusal marks the
 * follower failed for this turn; its records come again in a later one.
 * Thread only. */
static void repl__flush(repl_turn *t, size_t idx)
{
    repl_pend *p = &t->pend[idx];
    repl_t *r = t->r;
    repl_f *f = t->fs[idx];
    if (!p->n)
        return;
    for (size_t i = 0; i < p->n; i++)
        p->recs[i].data = p->data.data + p->off[i];
    pthread_mutex_lock(&r->amu);
    pthread_mutex_lock(&r->mu);
    size_t from = 0;
    while (from < p->n && p->recs[from].seq <= f->applied)
        from++;
    pthread_mutex_unlock(&r->mu);
    int rc = 0;
    if (atomic_load(&f->gone) || from == p->n) {
        /* left meanwhile, or applied already (repl_mark_applied) */
    } else if (f->batch) {
        rc = f->batch(f->ud, p->recs + from, p->n - from);
        pthread_mutex_lock(&r->mu);
        if (rc == 0)
            repl__advance(r, f, p->recs[p->n - 1].seq, p->n - from);
        pthread_mutex_unlock(&r->mu);
    } else {
        for (size_t i = from; i < p->n && rc == 0; i++) {
            rc = f->apply(f->ud, p->recs[i].seq, p->recs[i].data, p->recs[i].len);
            pthread_mutex_lock(&r->mu);
            if (rc == 0)
                repl__advance(r, f, p->recs[i].seq, 1);
            pthread_mutex_unlock(&r->mu);
        }
    }
    if (rc != 0) {
        t->failed[idx] = true;
        pthread_mutex_lock(&r->mu);
        r->errors_total++;
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_unlock(&r->amu);
    p->n = 0;
    buf_reset(&p->data);
}

/* One record from store_log_wait, added to its follower's pending batch
 * unless the follower failed this turn or already has it. Seqs of a log
 * follow each other, so a record past the last one held + 1 means the ones
 * between were trimmed away while this follower was behind: that is a gap,
 * handled (after the records before it are applied) before the record. */
static int repl__deliver(void *ud, size_t idx, uint64_t seq, const void *rec, size_t len)
{
    repl_turn *t = ud;
    repl_t *r = t->r;
    repl_f *f = t->fs[idx];
    repl_pend *p = &t->pend[idx];
    if (p->n && seq > p->recs[p->n - 1].seq + 1)
        repl__flush(t, idx);
    if (t->failed[idx])
        return 0;
    pthread_mutex_lock(&r->mu);
    uint64_t have = p->n ? p->recs[p->n - 1].seq : f->applied;
    pthread_mutex_unlock(&r->mu);
    if (seq > have + 1) {
        pthread_mutex_lock(&r->amu);
        bool ok = atomic_load(&f->gone) || repl__gap(r, f, have, seq, seq);
        pthread_mutex_unlock(&r->amu);
        if (!ok) {
            t->failed[idx] = true;
            return 0;
        }
    }
    pthread_mutex_lock(&r->mu);
    bool skip = atomic_load(&f->gone) || seq <= f->applied;
    if (seq > f->last)
        f->last = seq;
    repl__lag_update(f);
    pthread_mutex_unlock(&r->mu);
    if (skip)
        return 0;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->recs = xrealloc(p->recs, p->cap * sizeof *p->recs);
        p->off = xrealloc(p->off, p->cap * sizeof *p->off);
    }
    p->off[p->n] = p->data.len;
    p->recs[p->n++] = (repl_rec){ seq, NULL, len };
    buf_append(&p->data, rec, len);
    if (p->data.len >= REPL_BATCH_BYTES)
        repl__flush(t, idx);
    return 0;
}

/* With mu held: note whether the store answered; one log line per change. */
static void repl__connected(repl_t *r, bool ok)
{
    if (ok == r->connected)
        return;
    r->connected = ok;
    if (!ok) {
        r->down_us = clock_mono_us();
        log_msg(LOG_WARN, "replication: the store is unreachable; followers wait for it");
    } else {
        log_msg(LOG_INFO, "replication: the store is reachable again after %lld ms; "
                "followers resume", (long long)((clock_mono_us() - r->down_us) / 1000));
    }
}

/* With mu held: free followers that left (no snapshot holds them now). */
static void repl__reap(repl_t *r)
{
    while (r->dead) {
        repl_f *f = r->dead;
        r->dead = f->next_dead;
        free(f->log);
        free(f);
    }
}

/* One turn with mu held on entry and exit: checks, then one wait. */
static void repl__turn(repl_t *r)
{
    repl_turn t = { r, NULL, NULL, NULL, NULL, NULL, r->n };
    t.fs = xmalloc(t.n * sizeof *t.fs);
    memcpy(t.fs, r->fs, t.n * sizeof *t.fs);
    pthread_mutex_unlock(&r->mu);
    int64_t now = clock_mono_us();
    for (size_t i = 0; i < t.n; i++)
        repl__check(r, t.fs[i], now);
    t.names = xmalloc(t.n * sizeof *t.names);
    t.after = xmalloc(t.n * sizeof *t.after);
    t.failed = xcalloc(t.n, sizeof *t.failed);
    t.pend = xcalloc(t.n, sizeof *t.pend);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < t.n; i++) {
        t.names[i] = t.fs[i]->log;
        t.after[i] = t.fs[i]->applied;
    }
    pthread_mutex_unlock(&r->mu);
    int rc = store_log_wait(r->o.store, t.names, t.after, t.n, r->o.wait_ms, repl__deliver, &t);
    for (size_t i = 0; i < t.n; i++) {
        if (!t.failed[i])
            repl__flush(&t, i);
        buf_free(&t.pend[i].data);
        free(t.pend[i].recs);
        free(t.pend[i].off);
    }
    free(t.pend);
    pthread_mutex_lock(&r->mu);
    repl__connected(r, rc == 0);
    bool failed = rc != 0;
    for (size_t i = 0; i < t.n; i++)
        failed |= t.failed[i];
    if (rc != 0)
        r->errors_total++;
    free(t.failed);
    free(t.after);
    free(t.names);
    free(t.fs);
    if (failed)
        repl__sleep(r, r->o.retry_ms);
}

/* With mu held: run the ticks when due (mu released around them). */
static void repl__tick(repl_t *r)
{
    int64_t now = clock_mono_us();
    if (r->nticks == 0 || now - r->ticked_us < (int64_t)r->o.check_every_ms * 1000)
        return;
    r->ticked_us = now;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&r->amu);
    for (int i = 0;; i++) { /* a tick removed meanwhile is not called */
        pthread_mutex_lock(&r->mu);
        repl_tick_fn fn = i < r->nticks ? r->ticks[i] : NULL;
        void *ud = i < r->nticks ? r->tick_ud[i] : NULL;
        pthread_mutex_unlock(&r->mu);
        if (!fn)
            break;
        fn(ud);
    }
    pthread_mutex_unlock(&r->amu);
    pthread_mutex_lock(&r->mu);
}

static void *repl__main(void *arg)
{
    repl_t *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        repl__reap(r);
        repl__tick(r);
        if (r->stop)
            break;
        if (r->n == 0)
            repl__sleep(r, r->o.wait_ms);
        else
            repl__turn(r);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- public ---- */

int repl_create(const repl_opts *o, repl_t **out)
{
    if (!o || !o->store || !out)
        return RAGD_EINVAL;
    repl_t *r = xcalloc(1, sizeof *r);
    r->o = *o;
    repl_opts def;
    repl_opts_default(&def);
    if (r->o.wait_ms <= 0)
        r->o.wait_ms = def.wait_ms;
    if (r->o.check_every_ms <= 0)
        r->o.check_every_ms = def.check_every_ms;
    if (r->o.retry_ms <= 0)
        r->o.retry_ms = def.retry_ms;
    r->connected = true;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->amu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->th, NULL, repl__main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->amu);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return RAGD_EINTERNAL;
    }
    *out = r;
    return 0;
}

void repl_destroy(repl_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    for (size_t i = 0; i < r->n; i++) {
        r->fs[i]->next_dead = r->dead;
        r->dead = r->fs[i];
    }
    repl__reap(r);
    free(r->fs);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->amu);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int repl__follow(repl_t *r, const char *log, store_log_fn apply, repl_batch_fn batch,
                        repl_gap_fn gap, void *ud, uint64_t from_seq)
{
    if (!r || !log || !*log || strlen(log) > STORE_KEY_MAX || (!apply && !batch))
        return RAGD_EINVAL;
    pthread_mutex_lock(&r->mu);
    if (repl__find(r, log, NULL)) {
        pthread_mutex_unlock(&r->mu);
        return RAGD_EEXISTS;
    }
    repl_f *f = xcalloc(1, sizeof *f);
    f->log = xstrdup(log);
    f->apply = apply;
    f->batch = batch;
    f->gap = gap;
    f->ud = ud;
    f->applied = f->last = from_seq;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->fs = xrealloc(r->fs, r->cap * sizeof *r->fs);
    }
    r->fs[r->n++] = f;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int repl_follow_gap(repl_t *r, const char *log, store_log_fn apply, repl_gap_fn gap, void *ud,
                    uint64_t from_seq)
{
    return repl__follow(r, log, apply, NULL, gap, ud, from_seq);
}

int repl_follow_batch(repl_t *r, const char *log, repl_batch_fn apply, repl_gap_fn gap, void *ud,
                      uint64_t from_seq)
{
    return repl__follow(r, log, NULL, apply, gap, ud, from_seq);
}

int repl_follow(repl_t *r, const char *log, store_log_fn apply, void *ud, uint64_t from_seq)
{
    return repl_follow_gap(r, log, apply, NULL, ud, from_seq);
}

int repl_tick_add(repl_t *r, repl_tick_fn fn, void *ud)
{
    if (!r || !fn)
        return RAGD_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = r->nticks < REPL_TICKS_MAX ? 0 : RAGD_EFULL;
    if (rc == 0) {
        r->ticks[r->nticks] = fn;
        r->tick_ud[r->nticks++] = ud;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Wait out a callback that may be running (unless we are that callback). */
static void repl__wait_callbacks(repl_t *r)
{
    if (!repl__on_thread(r)) {
        pthread_mutex_lock(&r->amu);
        pthread_mutex_unlock(&r->amu);
    }
}

int repl_tick_remove(repl_t *r, repl_tick_fn fn, void *ud)
{
    pthread_mutex_lock(&r->mu);
    int at = -1;
    for (int i = 0; i < r->nticks && at < 0; i++)
        if (r->ticks[i] == fn && r->tick_ud[i] == ud)
            at = i;
    if (at >= 0) {
        for (int i = at; i + 1 < r->nticks; i++) {
            r->ticks[i] = r->ticks[i + 1];
            r->tick_ud[i] = r->tick_ud[i + 1];
        }
        r->nticks--;
    }
    pthread_mutex_unlock(&r->mu);
    if (at < 0)
        return RAGD_ENOTFOUND;
    repl__wait_callbacks(r);
    return 0;
}

int repl_unfollow(repl_t *r, const char *log)
{
    int rc = repl_unfollow_nowait(r, log);
    if (rc == 0)
        repl__wait_callbacks(r);
    return rc;
}

int repl_unfollow_nowait(repl_t *r, const char *log)
{
    if (!r || !log)
        return RAGD_EINVAL;
    pthread_mutex_lock(&r->mu);
    size_t at = 0;
    repl_f *f = repl__find(r, log, &at);
    if (!f) {
        pthread_mutex_unlock(&r->mu);
        return RAGD_ENOTFOUND;
    }
    atomic_store(&f->gone, true);
    r->fs[at] = r->fs[--r->n];
    f->next_dead = r->dead;
    r->dead = f;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int repl_applied(repl_t *r, const char *log, uint64_t *seq)
{
    pthread_mutex_lock(&r->mu);
    repl_f *f = repl__find(r, log, NULL);
    if (f)
        *seq = f->applied;
    pthread_mutex_unlock(&r->mu);
    return f ? 0 : RAGD_ENOTFOUND;
}

int repl_mark_applied(repl_t *r, const char *log, uint64_t seq)
{
    pthread_mutex_lock(&r->mu);
    repl_f *f = repl__find(r, log, NULL);
    if (f && seq > f->applied) {
        f->applied = seq;
        if (seq > f->last)
            f->last = seq;
        repl__lag_update(f);
    }
    pthread_mutex_unlock(&r->mu);
    return f ? 0 : RAGD_ENOTFOUND;
}

/* With mu held: one follower's public view. */
static void repl__log_info(const repl_f *f, int64_t now, repl_log_info *out)
{
    memset(out, 0, sizeof *out);
    strncpy(out->log, f->log, sizeof out->log - 1);
    out->applied_seq = f->applied;
    out->last_seq = f->last;
    out->lag_entries = f->last > f->applied ? f->last - f->applied : 0;
    out->lag_ms = f->behind_us ? (now - f->behind_us) / 1000 : 0;
    out->applied = f->applied_n;
}

void repl_info_get(repl_t *r, repl_info *out)
{
    memset(out, 0, sizeof *out);
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&r->mu);
    out->logs = r->n;
    for (size_t i = 0; i < r->n; i++) {
        repl_log_info li;
        repl__log_info(r->fs[i], now, &li);
        if (li.lag_entries > out->max_lag_entries)
            out->max_lag_entries = li.lag_entries;
        if (li.lag_ms > out->max_lag_ms)
            out->max_lag_ms = li.lag_ms;
    }
    out->applied_total = r->applied_total;
    out->gaps_total = r->gaps_total;
    out->errors_total = r->errors_total;
    out->connected = r->connected;
    pthread_mutex_unlock(&r->mu);
}

size_t repl_logs_get(repl_t *r, repl_log_info *out, size_t cap)
{
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    for (size_t i = 0; i < n && i < cap; i++)
        repl__log_info(r->fs[i], now, &out[i]);
    pthread_mutex_unlock(&r->mu);
    return n;
}
