/*
 * store_suite.h - the one store test suite that runs against every backend
 * (docs/STORE.md: both backends behave the same). The including test file
 * defines suite_open() (a fresh, empty store) and suite_close(), then calls
 * store_suite_run(). Tests assert on state, never on elapsed time: expiry is
 * awaited by polling with a generous deadline.
 */
#ifndef RAGD_STORE_SUITE_H
#define RAGD_STORE_SUITE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "testing.h"
#include "util/clock.h"

static store_t *suite_open(void);
static void suite_close(store_t *s);

#define S(str) (str), strlen(str)

/* Poll until store_get(key) is RAGD_ENOTFOUND or 10 s pass; returns the last rc. */
static int suite_wait_gone(store_t *s, const char *key)
{
    int64_t end = clock_mono_us() + 10 * 1000000;
    int rc;
    do {
        store_value v;
        rc = store_get(s, key, strlen(key), &v);
        if (rc == 0)
            store_value_free(&v);
        if (rc == RAGD_ENOTFOUND)
            return rc;
        clock_sleep_ms(5);
    } while (clock_mono_us() < end);
    return rc;
}

TEST(suite_basic)
{
    store_t *s = suite_open();
    store_value v;
    ASSERT_EQ_INT(store_get(s, S("k1"), &v), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_exists(s, S("k1")), RAGD_ENOTFOUND);
    ASSERT_OK(store_set(s, S("k1"), "a\0b", 3, 0, 0));
    ASSERT_OK(store_exists(s, S("k1")));
    ASSERT_OK(store_get(s, S("k1"), &v));
    ASSERT_EQ_INT(v.len, 3);
    ASSERT_TRUE(memcmp(v.data, "a\0b", 3) == 0);
    ASSERT_EQ_INT(v.expire_at_ms, 0);
    store_value_free(&v);
    ASSERT_OK(store_set(s, S("k1"), S("second"), 0, 0)); /* overwrite */
    ASSERT_OK(store_get(s, S("k1"), &v));
    ASSERT_EQ_INT(v.len, 6);
    ASSERT_TRUE(memcmp(v.data, "second", 6) == 0);
    store_value_free(&v);
    ASSERT_OK(store_set(s, S("empty"), "", 0, 0, 0));
    ASSERT_OK(store_get(s, S("empty"), &v));
    ASSERT_EQ_INT(v.len, 0);
    store_value_free(&v);
    ASSERT_OK(store_del(s, S("k1")));
    ASSERT_EQ_INT(store_del(s, S("k1")), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_get(s, S("k1"), &v), RAGD_ENOTFOUND);
    /* large binary value */
    size_t big = 1 << 20;
    unsigned char *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    ASSERT_OK(store_set(s, S("big"), buf, big, 0, 0));
    ASSERT_OK(store_get(s, S("big"), &v));
    ASSERT_EQ_INT(v.len, big);
    ASSERT_TRUE(memcmp(v.data, buf, big) == 0);
    store_value_free(&v);
    free(buf);
    ASSERT_OK(store_ping(s));
    suite_close(s);
}

TEST(suite_invalid_args)
{
    store_t *s = suite_open();
    char longkey[STORE_KEY_MAX + 2];
    memset(longkey, 'x', sizeof longkey);
    ASSERT_EQ_INT(store_set(s, "", 0, "v", 1, 0, 0), RAGD_EINVAL);
    ASSERT_EQ_INT(store_set(s, longkey, STORE_KEY_MAX + 1, "v", 1, 0, 0), RAGD_ETOOBIG);
    ASSERT_OK(store_set(s, longkey, STORE_KEY_MAX, "v", 1, 0, 0));
    ASSERT_OK(store_exists(s, longkey, STORE_KEY_MAX));
    ASSERT_EQ_INT(store_set(s, S("k"), "v", 1, -5, 0), RAGD_EINVAL);
    ASSERT_EQ_INT(store_expire(s, S("k"), -1), RAGD_EINVAL);
    store_op bad[2] = { { S("b1"), "v", 1, 0, 0 }, { S("b2"), "v", 1, 0, STORE_NX } };
    ASSERT_EQ_INT(store_batch(s, bad, 2), RAGD_EINVAL);
    ASSERT_EQ_INT(store_exists(s, S("b1")), RAGD_ENOTFOUND); /* nothing applied */
    suite_close(s);
}

TEST(suite_ttl_expiry)
{
    store_t *s = suite_open();
    int64_t ttl;
    ASSERT_OK(store_set(s, S("short"), S("v"), 150, 0));
    ASSERT_OK(store_set(s, S("long"), S("v"), 600000, 0));
    ASSERT_OK(store_set(s, S("forever"), S("v"), 0, 0));
    store_value v;
    if (store_get(s, S("long"), &v) == 0) {
        ASSERT_TRUE(v.expire_at_ms > clock_wall_ms());
        store_value_free(&v);
    }
    ASSERT_OK(store_ttl(s, S("long"), &ttl));
    ASSERT_TRUE(ttl > 0 && ttl <= 600000);
    ASSERT_OK(store_ttl(s, S("forever"), &ttl));
    ASSERT_EQ_INT(ttl, -1);
    ASSERT_EQ_INT(store_ttl(s, S("missing"), &ttl), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(suite_wait_gone(s, "short"), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_exists(s, S("short")), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_ttl(s, S("short"), &ttl), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_del(s, S("short")), RAGD_ENOTFOUND);
    ASSERT_OK(store_exists(s, S("long")));
    /* an expired key can be written again with NX */
    ASSERT_OK(store_set(s, S("short"), S("again"), 0, STORE_NX));
    ASSERT_OK(store_exists(s, S("short")));
    suite_close(s);
}

TEST(suite_expire_persist)
{
    store_t *s = suite_open();
    int64_t ttl;
    ASSERT_EQ_INT(store_expire(s, S("nokey"), 1000), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_expire(s, S("nokey"), 0), RAGD_ENOTFOUND);
    ASSERT_OK(store_set(s, S("k"), S("value"), 0, 0));
    ASSERT_OK(store_expire(s, S("k"), 500000));
    ASSERT_OK(store_ttl(s, S("k"), &ttl));
    ASSERT_TRUE(ttl > 0 && ttl <= 500000);
    ASSERT_OK(store_expire(s, S("k"), 0));
    ASSERT_OK(store_ttl(s, S("k"), &ttl));
    ASSERT_EQ_INT(ttl, -1);
    store_value v;
    ASSERT_OK(store_get(s, S("k"), &v)); /* value untouched */
    ASSERT_EQ_INT(v.len, 5);
    ASSERT_TRUE(memcmp(v.data, "value", 5) == 0);
    store_value_free(&v);
    ASSERT_OK(store_expire(s, S("k"), 100));
    ASSERT_EQ_INT(suite_wait_gone(s, "k"), RAGD_ENOTFOUND);
    suite_close(s);
}

TEST(suite_nx)
{
    store_t *s = suite_open();
    ASSERT_OK(store_set(s, S("nx"), S("first"), 0, STORE_NX));
    ASSERT_EQ_INT(store_set(s, S("nx"), S("second"), 0, STORE_NX), RAGD_EEXISTS);
    store_value v;
    ASSERT_OK(store_get(s, S("nx"), &v));
    ASSERT_TRUE(v.len == 5 && memcmp(v.data, "first", 5) == 0);
    store_value_free(&v);
    suite_close(s);
}

typedef struct incr_arg {
    store_t *s;
    int n;
    int fails;
} incr_arg;

static void *incr_worker(void *p)
{
    incr_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        int64_t out;
        if (store_incr(a->s, S("ctr:conc"), 1, 600000, &out) != 0)
            a->fails++;
    }
    return NULL;
}

TEST(suite_incr)
{
    store_t *s = suite_open();
    int64_t out, ttl;
    ASSERT_OK(store_incr(s, S("c1"), 5, 0, &out));
    ASSERT_EQ_INT(out, 5);
    ASSERT_OK(store_incr(s, S("c1"), -7, 0, &out));
    ASSERT_EQ_INT(out, -2);
    store_value v;
    ASSERT_OK(store_get(s, S("c1"), &v)); /* stored as decimal text on both backends */
    ASSERT_TRUE(v.len == 2 && memcmp(v.data, "-2", 2) == 0);
    store_value_free(&v);
    /* TTL only on creation */
    ASSERT_OK(store_incr(s, S("c2"), 1, 500000, &out));
    ASSERT_OK(store_ttl(s, S("c2"), &ttl));
    ASSERT_TRUE(ttl > 0 && ttl <= 500000);
    ASSERT_OK(store_incr(s, S("c1"), 1, 500000, &out));
    ASSERT_OK(store_ttl(s, S("c1"), &ttl));
    ASSERT_EQ_INT(ttl, -1);
    /* a counter that expires starts again from zero */
    ASSERT_OK(store_incr(s, S("c3"), 10, 100, &out));
    ASSERT_EQ_INT(suite_wait_gone(s, "c3"), RAGD_ENOTFOUND);
    ASSERT_OK(store_incr(s, S("c3"), 1, 0, &out));
    ASSERT_EQ_INT(out, 1);
    /* not an integer; overflow */
    ASSERT_OK(store_set(s, S("txt"), S("hello"), 0, 0));
    ASSERT_EQ_INT(store_incr(s, S("txt"), 1, 0, &out), RAGD_EINVAL);
    ASSERT_OK(store_set(s, S("max"), S("9223372036854775807"), 0, 0));
    ASSERT_EQ_INT(store_incr(s, S("max"), 1, 0, &out), RAGD_EINVAL);
    ASSERT_OK(store_incr(s, S("max"), -1, 0, &out));
    ASSERT_EQ_INT(out, INT64_MAX - 1);
    /* concurrency: exact total */
    enum { T = 4, N = 300 };
    pthread_t th[T];
    incr_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (incr_arg){ s, N, 0 };
        pthread_create(&th[i], NULL, incr_worker, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ_INT(args[i].fails, 0);
    }
    ASSERT_OK(store_incr(s, S("ctr:conc"), 0, 0, &out));
    ASSERT_EQ_INT(out, T * N);
    suite_close(s);
}

static void *cas_worker(void *p)
{
    incr_arg *a = p;
    for (int done = 0; done < a->n;) {
        store_value v;
        int rc = store_get(a->s, S("cas:ctr"), &v);
        if (rc != 0) {
            a->fails++;
            return NULL;
        }
        char cur[32], next[32];
        snprintf(cur, sizeof cur, "%.*s", (int)v.len, (const char *)v.data);
        store_value_free(&v);
        snprintf(next, sizeof next, "%lld", atoll(cur) + 1);
        rc = store_cas(a->s, S("cas:ctr"), cur, strlen(cur), next, strlen(next), 0, 0);
        if (rc == 0)
            done++;
        else if (rc != RAGD_ECONFLICT) {
            a->fails++;
            return NULL;
        }
    }
    return NULL;
}

TEST(suite_cas)
{
    store_t *s = suite_open();
    ASSERT_OK(store_cas(s, S("c"), NULL, 0, S("v1"), 0, 0)); /* create */
    ASSERT_EQ_INT(store_cas(s, S("c"), NULL, 0, S("v2"), 0, 0), RAGD_ECONFLICT);
    ASSERT_EQ_INT(store_cas(s, S("c"), S("zz"), S("v2"), 0, 0), RAGD_ECONFLICT);
    ASSERT_OK(store_cas(s, S("c"), S("v1"), S("v2"), 500000, 0));
    store_value v;
    ASSERT_OK(store_get(s, S("c"), &v));
    ASSERT_TRUE(v.len == 2 && memcmp(v.data, "v2", 2) == 0);
    store_value_free(&v);
    int64_t ttl;
    ASSERT_OK(store_ttl(s, S("c"), &ttl));
    ASSERT_TRUE(ttl > 0);
    ASSERT_EQ_INT(store_cas(s, S("c"), S("v1"), NULL, 0, 0, 0), RAGD_ECONFLICT);
    ASSERT_OK(store_cas(s, S("c"), S("v2"), NULL, 0, 0, 0)); /* delete */
    ASSERT_EQ_INT(store_exists(s, S("c")), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_cas(s, S("c"), S("v2"), S("v3"), 0, 0), RAGD_ECONFLICT);
    /* empty expected value is a value, not "missing" */
    ASSERT_OK(store_set(s, S("e"), "", 0, 0, 0));
    ASSERT_EQ_INT(store_cas(s, S("e"), NULL, 0, S("x"), 0, 0), RAGD_ECONFLICT);
    ASSERT_OK(store_cas(s, S("e"), "", 0, S("x"), 0, 0));
    /* concurrent read-modify-write loops */
    ASSERT_OK(store_set(s, S("cas:ctr"), S("0"), 0, 0));
    enum { T = 4, N = 100 };
    pthread_t th[T];
    incr_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (incr_arg){ s, N, 0 };
        pthread_create(&th[i], NULL, cas_worker, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ_INT(args[i].fails, 0);
    }
    ASSERT_OK(store_get(s, S("cas:ctr"), &v));
    char want[16];
    snprintf(want, sizeof want, "%d", T * N);
    ASSERT_TRUE(v.len == strlen(want) && memcmp(v.data, want, v.len) == 0);
    store_value_free(&v);
    suite_close(s);
}

TEST(suite_batch)
{
    store_t *s = suite_open();
    ASSERT_OK(store_set(s, S("old"), S("x"), 0, 0));
    store_op ops[4] = {
        { S("b:1"), S("one"), 0, 0 },
        { S("b:2"), S("two"), 500000, STORE_EVICTABLE },
        { S("old"), NULL, 0, 0, 0 },
        { S("never"), NULL, 0, 0, 0 }, /* deleting a missing key is fine */
    };
    ASSERT_OK(store_batch(s, ops, 4));
    store_value v;
    ASSERT_OK(store_get(s, S("b:1"), &v));
    ASSERT_TRUE(v.len == 3 && memcmp(v.data, "one", 3) == 0);
    store_value_free(&v);
    int64_t ttl;
    ASSERT_OK(store_ttl(s, S("b:2"), &ttl));
    ASSERT_TRUE(ttl > 0);
    ASSERT_EQ_INT(store_exists(s, S("old")), RAGD_ENOTFOUND);
    /* many ops in one batch */
    enum { N = 200 };
    store_op many[N];
    char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "m:%03d", i);
        many[i] = (store_op){ keys[i], strlen(keys[i]), keys[i], strlen(keys[i]), 0, 0 };
    }
    ASSERT_OK(store_batch(s, many, N));
    for (int i = 0; i < N; i += 37)
        ASSERT_OK(store_exists(s, keys[i], strlen(keys[i])));
    suite_close(s);
}

typedef struct scan_acc {
    int n;
    int with_vals;
    char seen[512];
    int stop_after;
} scan_acc;

static int scan_cb(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    scan_acc *a = ud;
    a->n++;
    if (val && vlen == klen && memcmp(val, key, klen) == 0)
        a->with_vals++;
    size_t used = strlen(a->seen);
    snprintf(a->seen + used, sizeof a->seen - used, "%.*s,", (int)klen, key);
    return a->stop_after && a->n >= a->stop_after;
}

TEST(suite_scan)
{
    store_t *s = suite_open();
    const char *keys[] = { "s:a:1", "s:a:2", "s:b:1", "t:1", "s:a" };
    for (size_t i = 0; i < 5; i++)
        ASSERT_OK(store_set(s, keys[i], strlen(keys[i]), keys[i], strlen(keys[i]), 0, 0));
    ASSERT_OK(store_set(s, S("s:a:dead"), S("x"), 50, 0));
    ASSERT_EQ_INT(suite_wait_gone(s, "s:a:dead"), RAGD_ENOTFOUND);
    scan_acc a = { 0 };
    ASSERT_OK(store_scan(s, S("s:a:"), true, scan_cb, &a));
    ASSERT_EQ_INT(a.n, 2);
    ASSERT_EQ_INT(a.with_vals, 2);
    ASSERT_TRUE(strstr(a.seen, "s:a:1,") && strstr(a.seen, "s:a:2,"));
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_scan(s, S("s:"), false, scan_cb, &a));
    ASSERT_EQ_INT(a.n, 4);
    ASSERT_EQ_INT(a.with_vals, 0);
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_scan(s, NULL, 0, false, scan_cb, &a)); /* all of ours */
    ASSERT_EQ_INT(a.n, 5);
    memset(&a, 0, sizeof a);
    a.stop_after = 2;
    ASSERT_OK(store_scan(s, S("s:"), false, scan_cb, &a));
    ASSERT_EQ_INT(a.n, 2);
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_scan(s, S("zzz"), false, scan_cb, &a));
    ASSERT_EQ_INT(a.n, 0);
    suite_close(s);
}

TEST(suite_del_pattern)
{
    store_t *s = suite_open();
    const char *keys[] = { "course_curriculum:1", "course_curriculum:2", "course_curriculum:3",
                           "course_x:1", "course_y:1", "other", "a*b", "axb" };
    for (size_t i = 0; i < 8; i++)
        ASSERT_OK(store_set(s, keys[i], strlen(keys[i]), "v", 1, 0, 0));
    uint64_t n = 99;
    ASSERT_OK(store_del_pattern(s, "course_curriculum:*", &n));
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_INT(store_exists(s, S("course_curriculum:2")), RAGD_ENOTFOUND);
    ASSERT_OK(store_exists(s, S("course_x:1")));
    ASSERT_OK(store_del_pattern(s, "course_[x]:?", &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_OK(store_exists(s, S("course_y:1")));
    ASSERT_OK(store_del_pattern(s, "a\\*b", &n)); /* escaped star: only the literal key */
    ASSERT_EQ_INT(n, 1);
    ASSERT_OK(store_exists(s, S("axb")));
    ASSERT_OK(store_del_pattern(s, "nomatch*", &n));
    ASSERT_EQ_INT(n, 0);
    ASSERT_OK(store_del_pattern(s, "*", &n));
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_INT(store_exists(s, S("other")), RAGD_ENOTFOUND);
    suite_close(s);
}

typedef struct log_acc {
    int n;
    uint64_t seqs[16];
    char recs[16][16];
    int stop_after;
} log_acc;

static int log_cb(void *ud, uint64_t seq, const void *rec, size_t len)
{
    log_acc *a = ud;
    if (a->n < 16) {
        a->seqs[a->n] = seq;
        snprintf(a->recs[a->n], 16, "%.*s", (int)len, (const char *)rec);
    }
    a->n++;
    return a->stop_after && a->n >= a->stop_after;
}

TEST(suite_logs)
{
    store_t *s = suite_open();
    uint64_t seq[4];
    ASSERT_OK(store_log_append(s, "docs", S("r1"), &seq[0]));
    ASSERT_OK(store_log_append(s, "docs", S("r2"), &seq[1]));
    ASSERT_OK(store_log_append(s, "docs", S("r3"), &seq[2]));
    ASSERT_OK(store_log_append(s, "other", S("o1"), &seq[3]));
    ASSERT_TRUE(seq[0] < seq[1] && seq[1] < seq[2]);
    log_acc a = { 0 };
    ASSERT_OK(store_log_read(s, "docs", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, 3);
    ASSERT_EQ_STR(a.recs[0], "r1");
    ASSERT_EQ_STR(a.recs[2], "r3");
    ASSERT_EQ_INT(a.seqs[1], seq[1]);
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_log_read(s, "docs", seq[1], log_cb, &a));
    ASSERT_EQ_INT(a.n, 1);
    ASSERT_EQ_STR(a.recs[0], "r3");
    memset(&a, 0, sizeof a);
    a.stop_after = 1;
    ASSERT_OK(store_log_read(s, "docs", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, 1);
    /* logs are not keys: scans and pattern deletes do not see them */
    scan_acc sa = { 0 };
    ASSERT_OK(store_scan(s, NULL, 0, false, scan_cb, &sa));
    ASSERT_EQ_INT(sa.n, 0);
    uint64_t n;
    ASSERT_OK(store_del_pattern(s, "*", &n));
    ASSERT_EQ_INT(n, 0);
    ASSERT_OK(store_log_delete(s, "docs"));
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_log_read(s, "docs", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, 0);
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_log_read(s, "other", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, 1);
    ASSERT_OK(store_log_append(s, "docs", S("again"), &seq[0]));
    ASSERT_TRUE(seq[0] >= 1);
    /* many records, more than one read page */
    for (int i = 0; i < 1200; i++)
        ASSERT_OK(store_log_append(s, "bulk", "x", 1, &seq[1]));
    memset(&a, 0, sizeof a);
    ASSERT_OK(store_log_read(s, "bulk", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, 1200);
    ASSERT_OK(store_log_delete(s, "bulk"));
    ASSERT_OK(store_log_delete(s, "docs"));
    ASSERT_OK(store_log_delete(s, "other"));
    suite_close(s);
}

/* A trim keeps at least the asked number of newest records (LMDB exactly
 * that many); seqs go on after it. */
TEST(suite_log_trim)
{
    store_t *s = suite_open();
    uint64_t first = 0, last = 0, seq = 0;
    for (int i = 0; i < 300; i++)
        ASSERT_OK(store_log_append(s, "trm", S("r"), &seq));
    ASSERT_EQ_INT(store_log_trim(s, "trm", 0), RAGD_EINVAL);
    ASSERT_OK(store_log_trim(s, "trm", 400));  /* fewer than keep: nothing goes */
    ASSERT_OK(store_log_bounds(s, "trm", &first, &last));
    ASSERT_TRUE(first == 1 && last == 300);
    ASSERT_OK(store_log_trim(s, "trm", 10));
    ASSERT_OK(store_log_bounds(s, "trm", &first, &last));
    ASSERT_EQ_INT(last, 300);
    ASSERT_TRUE(first > 1 && last - first + 1 >= 10);
    if (strcmp(store_backend_name(s), "lmdb") == 0)
        ASSERT_EQ_INT(first, 291);
    log_acc a = { 0 };
    ASSERT_OK(store_log_read(s, "trm", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, last - first + 1);
    ASSERT_OK(store_log_append(s, "trm", S("r"), &seq));
    ASSERT_EQ_INT(seq, 301);
    ASSERT_OK(store_log_delete(s, "trm"));
    suite_close(s);
}

/* Writes and their log record land together; a batch that fails writes
 * neither; bounds follow appends. */
TEST(suite_batch_log)
{
    store_t *s = suite_open();
    uint64_t first = 9, last = 9, seq = 0, seq2 = 0;
    ASSERT_OK(store_log_bounds(s, "chg", &first, &last));
    ASSERT_TRUE(first == 0 && last == 0);
    ASSERT_OK(store_set(s, S("bl:gone"), S("old"), 0, 0));
    store_op ops[2] = { { S("bl:a"), S("A"), 0, 0 }, { S("bl:gone"), NULL, 0, 0, 0 } };
    ASSERT_OK(store_batch_log(s, ops, 2, "chg", S("put a"), &seq));
    ASSERT_OK(store_log_append(s, "chg", S("plain"), &seq2));
    ASSERT_TRUE(seq >= 1 && seq2 == seq + 1);
    ASSERT_OK(store_batch_log(s, NULL, 0, "chg", S("record only"), &seq2));
    ASSERT_EQ_INT(seq2, seq + 2);
    store_value v;
    ASSERT_OK(store_get(s, S("bl:a"), &v));
    ASSERT_TRUE(v.len == 1 && memcmp(v.data, "A", 1) == 0);
    store_value_free(&v);
    ASSERT_EQ_INT(store_exists(s, S("bl:gone")), RAGD_ENOTFOUND);
    log_acc a = { 0 };
    ASSERT_OK(store_log_read(s, "chg", 0, log_cb, &a));
    ASSERT_EQ_INT(a.n, 3);
    ASSERT_EQ_STR(a.recs[0], "put a");
    ASSERT_EQ_STR(a.recs[2], "record only");
    ASSERT_OK(store_log_bounds(s, "chg", &first, &last));
    ASSERT_TRUE(first == seq && last == seq2);
    /* an invalid op refuses the whole batch: no key, no record */
    store_op bad[2] = { { S("bl:b"), S("B"), 0, 0 }, { "", 0, "x", 1, 0, 0 } };
    ASSERT_EQ_INT(store_batch_log(s, bad, 2, "chg", S("bad"), &seq), RAGD_EINVAL);
    ASSERT_EQ_INT(store_exists(s, S("bl:b")), RAGD_ENOTFOUND);
    ASSERT_OK(store_log_bounds(s, "chg", &first, &last));
    ASSERT_EQ_INT(last, seq2);
    ASSERT_EQ_INT(store_batch_log(s, ops, 2, "", S("x"), &seq), RAGD_EINVAL);
    ASSERT_OK(store_log_delete(s, "chg"));
    ASSERT_OK(store_del(s, S("bl:a")));
    suite_close(s);
}

/* What store_log_wait delivered: per log index, the records in order. */
typedef struct wait_acc {
    int n[2];
    char recs[2][8][16];
    uint64_t seqs[2][8];
} wait_acc;

static int wait_cb(void *ud, size_t idx, uint64_t seq, const void *rec, size_t len)
{
    wait_acc *a = ud;
    if (idx < 2 && a->n[idx] < 8) {
        a->seqs[idx][a->n[idx]] = seq;
        snprintf(a->recs[idx][a->n[idx]], 16, "%.*s", (int)len, (const char *)rec);
    }
    if (idx < 2)
        a->n[idx]++;
    return 0;
}

typedef struct waiter {
    store_t *s;
    uint64_t after[2];
    int timeout_ms, rc;
    wait_acc got;
} waiter;

static void *waiter_main(void *p)
{
    waiter *w = p;
    const char *logs[2] = { "wa", "wb" };
    w->rc = store_log_wait(w->s, logs, w->after, 2, w->timeout_ms, wait_cb, &w->got);
    return NULL;
}

/* store_log_wait: records present come at once, per log in order; an empty
 * wait times out with nothing; a waiter blocked on two logs is woken by an
 * append to either (it gets the record although its timeout is long, so it
 * was woken, not timed out), while other calls go on beside the waiters. */
TEST(suite_log_wait)
{
    store_t *s = suite_open();
    uint64_t seq;
    ASSERT_OK(store_log_append(s, "wa", S("a1"), &seq));
    ASSERT_OK(store_log_append(s, "wa", S("a2"), &seq));
    ASSERT_OK(store_log_append(s, "wb", S("b1"), &seq));
    waiter w = { .s = s, .timeout_ms = 100, .rc = -1 };
    waiter_main(&w);
    ASSERT_OK(w.rc);
    ASSERT_TRUE(w.got.n[0] == 2 && w.got.n[1] == 1);
    ASSERT_EQ_STR(w.got.recs[0][0], "a1");
    ASSERT_EQ_STR(w.got.recs[0][1], "a2");
    ASSERT_EQ_STR(w.got.recs[1][0], "b1");
    /* caught up: a short wait returns nothing */
    w = (waiter){ .s = s, .after = { 2, 1 }, .timeout_ms = 20, .rc = -1 };
    waiter_main(&w);
    ASSERT_OK(w.rc);
    ASSERT_TRUE(w.got.n[0] == 0 && w.got.n[1] == 0);
    /* three waiters blocked on both logs, woken by an append to the second */
    waiter ws[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        ws[i] = (waiter){ .s = s, .after = { 2, 1 }, .timeout_ms = 30000, .rc = -1 };
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, waiter_main, &ws[i]), 0);
    }
    clock_sleep_ms(50);
    ASSERT_OK(store_set(s, S("lw:k"), S("v"), 0, 0));
    store_op op = { S("lw:k"), NULL, 0, 0, 0 };
    ASSERT_OK(store_batch_log(s, &op, 1, "wb", S("b2"), &seq));
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ASSERT_OK(ws[i].rc);
        ASSERT_EQ_INT(ws[i].got.n[1], 1);
        ASSERT_EQ_STR(ws[i].got.recs[1][0], "b2");
        ASSERT_EQ_INT(ws[i].got.seqs[1][0], seq);
    }
    const char *bad[1] = { "" };
    uint64_t zero = 0;
    ASSERT_EQ_INT(store_log_wait(s, bad, &zero, 1, 10, wait_cb, &w.got), RAGD_EINVAL);
    ASSERT_EQ_INT(store_log_wait(s, bad, &zero, 0, 10, wait_cb, &w.got), RAGD_EINVAL);
    ASSERT_OK(store_log_delete(s, "wa"));
    ASSERT_OK(store_log_delete(s, "wb"));
    suite_close(s);
}

/* store_batch_log_if: checks and writes in one step; a failed check writes
 * nothing (no key, no record) and names its index. */
TEST(suite_batch_if)
{
    store_t *s = suite_open();
    uint64_t seq = 0, first, last;
    size_t failed = 99;
    store_op put[2] = { { S("bi:meta"), S("m1"), 0, 0 }, { S("bi:doc"), S("d1"), 0, 0 } };
    store_check missing = { S("bi:meta"), STORE_CHECK_MISSING, NULL, 0 };
    ASSERT_OK(store_batch_log_if(s, &missing, 1, put, 2, "bil", S("create"), &seq, &failed));
    ASSERT_EQ_INT(seq, 1);
    /* a second create: conflict, nothing written */
    store_op put2[1] = { { S("bi:doc"), S("d2"), 0, 0 } };
    ASSERT_EQ_INT(store_batch_log_if(s, &missing, 1, put2, 1, "bil", S("again"), &seq, &failed),
                  RAGD_ECONFLICT);
    ASSERT_EQ_INT(failed, 0);
    store_value v;
    ASSERT_OK(store_get(s, S("bi:doc"), &v));
    ASSERT_TRUE(v.len == 2 && memcmp(v.data, "d1", 2) == 0);
    store_value_free(&v);
    ASSERT_OK(store_log_bounds(s, "bil", &first, &last));
    ASSERT_EQ_INT(last, 1);
    /* replace if unchanged: the second check (equal) decides */
    store_check cas[2] = { { S("bi:meta"), STORE_CHECK_EXISTS, NULL, 0 },
                           { S("bi:doc"), STORE_CHECK_EQUAL, S("d1") } };
    store_op upd[2] = { { S("bi:doc"), S("d3"), 0, 0 }, { S("bi:old"), NULL, 0, 0, 0 } };
    ASSERT_OK(store_batch_log_if(s, cas, 2, upd, 2, "bil", S("upd"), &seq, &failed));
    ASSERT_EQ_INT(seq, 2);
    ASSERT_EQ_INT(store_batch_log_if(s, cas, 2, upd, 2, "bil", S("stale"), &seq, &failed),
                  RAGD_ECONFLICT);
    ASSERT_EQ_INT(failed, 1);
    /* without a log; the meta gone makes EXISTS fail */
    ASSERT_OK(store_del(s, S("bi:meta")));
    ASSERT_EQ_INT(store_batch_log_if(s, cas, 1, upd, 1, NULL, NULL, 0, NULL, &failed),
                  RAGD_ECONFLICT);
    store_check bad = { S("bi:x"), 9, NULL, 0 };
    ASSERT_EQ_INT(store_batch_log_if(s, &bad, 1, upd, 1, NULL, NULL, 0, NULL, NULL), RAGD_EINVAL);
    ASSERT_OK(store_log_bounds(s, "bil", &first, &last));
    ASSERT_EQ_INT(last, 2);
    ASSERT_OK(store_log_delete(s, "bil"));
    suite_close(s);
}

/* store_get_many: each key's own result, values owned by the caller. */
TEST(suite_get_many)
{
    store_t *s = suite_open();
    ASSERT_OK(store_set(s, S("gm:a"), S("A"), 0, 0));
    ASSERT_OK(store_set(s, S("gm:c"), S("CC"), 0, 0));
    const char *keys[3] = { "gm:a", "gm:b", "gm:c" };
    size_t lens[3] = { 4, 4, 4 };
    store_value v[3];
    int rcs[3];
    ASSERT_OK(store_get_many(s, keys, lens, 3, v, rcs));
    ASSERT_TRUE(rcs[0] == 0 && rcs[1] == RAGD_ENOTFOUND && rcs[2] == 0);
    ASSERT_TRUE(v[0].len == 1 && memcmp(v[0].data, "A", 1) == 0);
    ASSERT_TRUE(v[2].len == 2 && memcmp(v[2].data, "CC", 2) == 0);
    store_value_free(&v[0]);
    store_value_free(&v[2]);
    ASSERT_OK(store_get_many(s, keys, lens, 0, v, rcs));
    lens[1] = 0;
    ASSERT_EQ_INT(store_get_many(s, keys, lens, 3, v, rcs), RAGD_EINVAL);
    suite_close(s);
}

TEST(suite_stats)
{
    store_t *s = suite_open();
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "st:%d", i);
        ASSERT_OK(store_set(s, k, strlen(k), "value", 5, 0, 0));
    }
    store_stats st;
    ASSERT_OK(store_get_stats(s, &st));
    ASSERT_EQ_INT(st.keys, 10);
    ASSERT_TRUE(st.bytes_used > 0);
    ASSERT_TRUE(st.available);
    ASSERT_TRUE(strcmp(store_backend_name(s), "lmdb") == 0 ||
                strcmp(store_backend_name(s), "redis") == 0);
    /* Only Redis is shared between instances; no capability is always had. */
    ASSERT_EQ_INT(store_has(s, STORE_CAP_SHARED), strcmp(store_backend_name(s), "redis") == 0);
    ASSERT_TRUE(store_has(s, 0));
    suite_close(s);
}

/* The cases whose keys need not share a Redis Cluster slot (every one but the
 * batches, whose keys here carry no hash tag). */
static inline void store_suite_run_any_slot(void)
{
    RUN(suite_basic);
    RUN(suite_invalid_args);
    RUN(suite_ttl_expiry);
    RUN(suite_expire_persist);
    RUN(suite_nx);
    RUN(suite_incr);
    RUN(suite_cas);
    RUN(suite_scan);
    RUN(suite_del_pattern);
    RUN(suite_logs);
    RUN(suite_log_trim);
    RUN(suite_stats);
}

static inline void store_suite_run(void)
{
    store_suite_run_any_slot();
    RUN(suite_batch);
    RUN(suite_batch_log);
    RUN(suite_log_wait);
    RUN(suite_batch_if);
    RUN(suite_get_many);
}

#endif
