/*
 * test_repl.c - the log follower (src/repl/) on both stores: records applied
 * in order from a given position, new appends followed, a follower added and
 * removed from inside an apply callback, a failed apply offered again, a log
 * that went back (deleted, as after a Redis flush) handed to the gap callback,
 * a batch follower getting every record one wait returned in one call (a
 * refused batch offered again whole, from its first record), and the
 * counters /health reads. LMDB in a scratch directory; Redis at
 * RAGD_TEST_REDIS_URL (skipped without it). Waits poll with a bounded number
 * of tries; nothing asserts elapsed time.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repl/repl.h"
#include "scratch_store.h"
#include "testing.h"
#include "util/clock.h"

#define S(str) (str), strlen(str)

/* What a follower saw. */
typedef struct seen {
    repl_t *r;
    atomic_int n;
    char recs[64][24];
    uint64_t seqs[64];
    atomic_int fail_next; /* refuse this many applies */
    atomic_int gaps;
} seen;

static int apply_cb(void *ud, uint64_t seq, const void *rec, size_t len)
{
    seen *s = ud;
    if (atomic_load(&s->fail_next) > 0) {
        atomic_fetch_sub(&s->fail_next, 1);
        return RAGD_EUNAVAIL;
    }
    int i = atomic_load(&s->n);
    if (i < 64) {
        snprintf(s->recs[i], sizeof s->recs[i], "%.*s", (int)len, (const char *)rec);
        s->seqs[i] = seq;
    }
    atomic_store(&s->n, i + 1);
    return 0;
}

/* A control log: "follow:<log>" / "unfollow:<log>" from inside a callback. */
static seen g_child;

static int control_cb(void *ud, uint64_t seq, const void *rec, size_t len)
{
    seen *s = ud;
    char log[64];
    if (len > 7 && memcmp(rec, "follow:", 7) == 0) {
        snprintf(log, sizeof log, "%.*s", (int)(len - 7), (const char *)rec + 7);
        if (repl_follow(s->r, log, apply_cb, &g_child, 0) != 0)
            return RAGD_EIO;
    } else if (len > 9 && memcmp(rec, "unfollow:", 9) == 0) {
        snprintf(log, sizeof log, "%.*s", (int)(len - 9), (const char *)rec + 9);
        if (repl_unfollow(s->r, log) != 0)
            return RAGD_EIO;
    }
    return apply_cb(ud, seq, rec, len);
}

static int gap_cb(void *ud, const char *log, uint64_t applied, uint64_t first, uint64_t last,
                  uint64_t *resume)
{
    seen *s = ud;
    (void)log;
    (void)applied;
    (void)first;
    atomic_fetch_add(&s->gaps, 1);
    *resume = last < applied ? 0 : last;
    return 0;
}

/* Poll until *n >= want (at most ~20 s of tries). */
static bool wait_count(atomic_int *n, int want)
{
    for (int i = 0; i < 4000 && atomic_load(n) < want; i++)
        clock_sleep_ms(5);
    return atomic_load(n) >= want;
}

static repl_t *open_repl(store_t *st)
{
    repl_opts o;
    repl_opts_default(&o);
    o.store = st;
    o.wait_ms = 50;
    o.check_every_ms = 20;
    o.retry_ms = 10;
    repl_t *r = NULL;
    if (repl_create(&o, &r) != 0)
        abort();
    return r;
}

static void follow_basic(store_t *st)
{
    uint64_t seq;
    for (int i = 1; i <= 3; i++) {
        char rec[16];
        snprintf(rec, sizeof rec, "r%d", i);
        ASSERT_OK(store_log_append(st, "rt:a", S(rec), &seq));
    }
    repl_t *r = open_repl(st);
    seen a = { .r = r };
    ASSERT_OK(repl_follow(r, "rt:a", apply_cb, &a, 1)); /* from after seq 1 */
    ASSERT_EQ_INT(repl_follow(r, "rt:a", apply_cb, &a, 0), RAGD_EEXISTS);
    ASSERT_TRUE(wait_count(&a.n, 2));
    ASSERT_EQ_STR(a.recs[0], "r2");
    ASSERT_EQ_STR(a.recs[1], "r3");
    /* new records follow; a refused apply is offered again, in order */
    atomic_store(&a.fail_next, 2);
    ASSERT_OK(store_log_append(st, "rt:a", S("r4"), &seq));
    ASSERT_OK(store_log_append(st, "rt:a", S("r5"), &seq));
    ASSERT_TRUE(wait_count(&a.n, 4));
    ASSERT_EQ_STR(a.recs[2], "r4");
    ASSERT_EQ_STR(a.recs[3], "r5");
    uint64_t applied = 0;
    ASSERT_OK(repl_applied(r, "rt:a", &applied));
    ASSERT_EQ_INT(applied, seq);
    repl_info info;
    repl_info_get(r, &info);
    ASSERT_EQ_INT(info.logs, 1);
    ASSERT_EQ_INT(info.applied_total, 4);
    ASSERT_TRUE(info.errors_total >= 2);
    ASSERT_TRUE(info.connected);
    repl_log_info li[2];
    ASSERT_EQ_INT(repl_logs_get(r, li, 2), 1);
    ASSERT_EQ_STR(li[0].log, "rt:a");
    ASSERT_EQ_INT(li[0].applied_seq, seq);
    ASSERT_EQ_INT(li[0].lag_entries, 0);
    /* a position never moves backwards */
    ASSERT_OK(repl_mark_applied(r, "rt:a", seq - 1));
    ASSERT_OK(repl_applied(r, "rt:a", &applied));
    ASSERT_EQ_INT(applied, seq);
    ASSERT_EQ_INT(repl_mark_applied(r, "rt:none", seq), RAGD_ENOTFOUND);
    ASSERT_OK(repl_unfollow(r, "rt:a"));
    ASSERT_EQ_INT(repl_unfollow(r, "rt:a"), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(repl_applied(r, "rt:a", &applied), RAGD_ENOTFOUND);
    repl_destroy(r);
    ASSERT_OK(store_log_delete(st, "rt:a"));
}

/* Followers added and removed by records of a control log (as kb follows a
 * namespace's log when its creation is replicated). */
static void follow_from_callback(store_t *st)
{
    repl_t *r = open_repl(st);
    seen ctl = { .r = r };
    memset(&g_child, 0, sizeof g_child);
    uint64_t seq;
    ASSERT_OK(store_log_append(st, "rt:child", S("c1"), &seq));
    ASSERT_OK(repl_follow(r, "rt:ctl", control_cb, &ctl, 0));
    ASSERT_OK(store_log_append(st, "rt:ctl", S("follow:rt:child"), &seq));
    ASSERT_TRUE(wait_count(&g_child.n, 1));
    ASSERT_EQ_STR(g_child.recs[0], "c1");
    ASSERT_OK(store_log_append(st, "rt:child", S("c2"), &seq));
    ASSERT_TRUE(wait_count(&g_child.n, 2));
    ASSERT_OK(store_log_append(st, "rt:ctl", S("unfollow:rt:child"), &seq));
    ASSERT_TRUE(wait_count(&ctl.n, 2));
    ASSERT_EQ_INT(repl_applied(r, "rt:child", &seq), RAGD_ENOTFOUND);
    /* the child's later records are not applied: a record on the control
     * log after them shows the thread went past them */
    ASSERT_OK(store_log_append(st, "rt:child", S("c3"), &seq));
    ASSERT_OK(store_log_append(st, "rt:ctl", S("marker"), &seq));
    ASSERT_TRUE(wait_count(&ctl.n, 3));
    ASSERT_EQ_INT(atomic_load(&g_child.n), 2);
    repl_destroy(r);
    ASSERT_OK(store_log_delete(st, "rt:ctl"));
    ASSERT_OK(store_log_delete(st, "rt:child"));
}

/* A log that holds less than was applied (deleted and written again, as after
 * a flush): the gap callback rebuilds, then records follow from its resume. */
static void follow_gap(store_t *st)
{
    uint64_t seq;
    for (int i = 0; i < 3; i++)
        ASSERT_OK(store_log_append(st, "rt:g", S("old"), &seq));
    repl_t *r = open_repl(st);
    seen g = { .r = r };
    ASSERT_OK(repl_follow_gap(r, "rt:g", apply_cb, gap_cb, &g, 50));
    ASSERT_TRUE(wait_count(&g.gaps, 1));
    ASSERT_TRUE(wait_count(&g.n, 3)); /* resumed from 0: the three records */
    ASSERT_OK(store_log_delete(st, "rt:g"));
    ASSERT_OK(store_log_append(st, "rt:g", S("new1"), &seq));
    ASSERT_TRUE(wait_count(&g.gaps, 2));
    ASSERT_TRUE(wait_count(&g.n, 4));
    ASSERT_EQ_STR(g.recs[3], "new1");
    repl_info info;
    repl_info_get(r, &info);
    ASSERT_TRUE(info.gaps_total >= 2);
    /* without a gap callback: a log that went back is followed from its start */
    seen d = { .r = r };
    ASSERT_OK(repl_follow(r, "rt:d", apply_cb, &d, 9));
    ASSERT_OK(store_log_append(st, "rt:d", S("d1"), &seq));
    ASSERT_TRUE(wait_count(&d.n, 1));
    ASSERT_EQ_STR(d.recs[0], "d1");
    repl_destroy(r);
    ASSERT_OK(store_log_delete(st, "rt:g"));
    ASSERT_OK(store_log_delete(st, "rt:d"));
}

/* What a batch follower saw: the size of each batch applied, its records. */
typedef struct batches {
    atomic_int n, recs, calls;
    int sizes[16];
    char rec[64][24];
    atomic_int fail_next;
} batches;

static int batch_cb(void *ud, const repl_rec *recs, size_t n)
{
    batches *b = ud;
    atomic_fetch_add(&b->calls, 1);
    if (atomic_load(&b->fail_next) > 0) {
        atomic_fetch_sub(&b->fail_next, 1);
        return RAGD_EUNAVAIL;
    }
    int at = atomic_load(&b->recs);
    for (size_t i = 0; i < n && at + (int)i < 64; i++)
        snprintf(b->rec[at + i], sizeof b->rec[at + i], "%llu:%.*s",
                 (unsigned long long)recs[i].seq, (int)recs[i].len, (const char *)recs[i].data);
    int k = atomic_load(&b->n);
    if (k < 16)
        b->sizes[k] = (int)n;
    atomic_store(&b->recs, at + (int)n);
    atomic_store(&b->n, k + 1);
    return 0;
}

/* Records already in the log come as one batch; a refused batch is offered
 * again from its first record, and the position moves only once applied. */
static void follow_batch(store_t *st)
{
    uint64_t seq, first = 0;
    for (int i = 1; i <= 4; i++) {
        char rec[16];
        snprintf(rec, sizeof rec, "b%d", i);
        ASSERT_OK(store_log_append(st, "rt:b", S(rec), &seq));
        first = first ? first : seq;
    }
    repl_t *r = open_repl(st);
    batches b = { 0 };
    atomic_store(&b.fail_next, 2);
    ASSERT_OK(repl_follow_batch(r, "rt:b", batch_cb, NULL, &b, first)); /* after b1 */
    ASSERT_EQ_INT(repl_follow_batch(r, "rt:b", batch_cb, NULL, &b, 0), RAGD_EEXISTS);
    ASSERT_TRUE(wait_count(&b.n, 1));
    ASSERT_EQ_INT(atomic_load(&b.calls), 3); /* refused twice, then applied */
    ASSERT_EQ_INT(b.sizes[0], 3);
    char want[24];
    snprintf(want, sizeof want, "%llu:b2", (unsigned long long)(first + 1));
    ASSERT_EQ_STR(b.rec[0], want);
    snprintf(want, sizeof want, "%llu:b4", (unsigned long long)seq);
    ASSERT_EQ_STR(b.rec[2], want);
    uint64_t applied = 0;
    ASSERT_OK(repl_applied(r, "rt:b", &applied));
    ASSERT_EQ_INT(applied, seq);
    /* later records follow */
    ASSERT_OK(store_log_append(st, "rt:b", S("b6"), &seq));
    ASSERT_TRUE(wait_count(&b.recs, 4));
    snprintf(want, sizeof want, "%llu:b6", (unsigned long long)seq);
    ASSERT_EQ_STR(b.rec[3], want);
    repl_info info;
    repl_info_get(r, &info);
    ASSERT_EQ_INT(info.applied_total, 4);
    ASSERT_TRUE(info.errors_total >= 2);
    repl_destroy(r);
    ASSERT_OK(store_log_delete(st, "rt:b"));
}

static void run_all(store_t *st)
{
    follow_batch(st);
    follow_basic(st);
    follow_from_callback(st);
    follow_gap(st);
}

TEST(repl_lmdb)
{
    store_t *st = scratch_store_open("repl");
    run_all(st);
    scratch_store_close(st);
}

TEST(repl_redis)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL not set");
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "trepl%d", (int)getpid());
    cfg.key_prefix = prefix;
    cfg.pool_size = 2;
    store_t *st = NULL;
    ASSERT_OK(store_open(&cfg, &st, NULL));
    run_all(st);
    store_close(st);
}

TEST(repl_args)
{
    repl_opts o;
    repl_opts_default(&o);
    repl_t *r = NULL;
    ASSERT_EQ_INT(repl_create(&o, &r), RAGD_EINVAL);
    store_t *st = scratch_store_open("repl_args");
    o.store = st;
    ASSERT_OK(repl_create(&o, &r));
    ASSERT_EQ_INT(repl_follow(r, "", apply_cb, NULL, 0), RAGD_EINVAL);
    ASSERT_EQ_INT(repl_follow(r, "x", NULL, NULL, 0), RAGD_EINVAL);
    ASSERT_EQ_INT(repl_follow_batch(r, "x", NULL, NULL, NULL, 0), RAGD_EINVAL);
    ASSERT_EQ_INT(repl_unfollow(r, "x"), RAGD_ENOTFOUND);
    repl_destroy(r);
    scratch_store_close(st);
}

int main(void)
{
    RUN(repl_args);
    RUN(repl_lmdb);
    RUN(repl_redis);
    return TEST_REPORT();
}
