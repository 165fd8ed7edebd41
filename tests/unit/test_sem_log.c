/*
 * test_sem_log.c - the semantic cache's change log (gateway/sem_log.c and the
 * sharing half of gateway/semantic.c): records round-trip and a damaged one
 * is refused at every length; on both stores an index rebuilt from the log
 * holds what was added and not forgotten (expired entries dropped), and on
 * Redis a second instance's index follows the first's through the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/sem_log.h"
#include "gateway/semantic.h"
#include "scratch_store.h"
#include "testing.h"
#include "util/clock.h"

#define DIM 8

static void vec_for(int i, float *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] = (float)((i * 7 + d * 3) % 11) - 5.0f + (d == i % DIM ? 9.0f : 0.0f);
}

TEST(record_round_trip_and_damage)
{
    float v[DIM];
    vec_for(3, v);
    gw_semrec r = { .op = GW_SEMREC_ADD, .skey = "llm:m:abc", .prompt = "hi there",
                    .vec = v, .dim = DIM, .expire_at_ms = 1234567890123 };
    snprintf(r.partition, sizeof r.partition, "%064d", 7);
    buf_t b = BUF_INIT;
    ASSERT_OK(gw_semrec_encode(&r, &b));
    gw_semrec d;
    ASSERT_OK(gw_semrec_decode(b.data, b.len, &d));
    ASSERT_TRUE(d.op == GW_SEMREC_ADD && strcmp(d.partition, r.partition) == 0);
    ASSERT_TRUE(strcmp(d.skey, "llm:m:abc") == 0 && strcmp(d.prompt, "hi there") == 0);
    ASSERT_TRUE(d.dim == DIM && memcmp(d.vec, v, sizeof v) == 0);
    ASSERT_EQ_INT(d.expire_at_ms, 1234567890123);
    gw_semrec_free(&d);
    for (size_t n = 0; n < b.len; n++)  /* every truncation is refused */
        ASSERT_EQ_INT(gw_semrec_decode(b.data, n, &d), RAGD_EFORMAT);
    b.data[2] = 'X';
    ASSERT_EQ_INT(gw_semrec_decode(b.data, b.len, &d), RAGD_EFORMAT);
    buf_free(&b);
    gw_semrec f = { .op = GW_SEMREC_FORGET, .skey = "llm:m:abc" };
    snprintf(f.partition, sizeof f.partition, "p1");
    ASSERT_OK(gw_semrec_encode(&f, &b));
    ASSERT_OK(gw_semrec_decode(b.data, b.len, &d));
    ASSERT_TRUE(d.op == GW_SEMREC_FORGET && d.vec == NULL && strcmp(d.skey, "llm:m:abc") == 0);
    gw_semrec_free(&d);
    buf_free(&b);
    gw_semrec bad = { .op = GW_SEMREC_ADD, .skey = "k", .prompt = "p", .vec = NULL, .dim = DIM };
    snprintf(bad.partition, sizeof bad.partition, "p1");
    ASSERT_EQ_INT(gw_semrec_encode(&bad, &b), RAGD_EINVAL);
    buf_free(&b);
}

static gw_semantic *sem_open(store_t *st, size_t max)
{
    gw_semantic_opts o = { .max_entries = max, .store = st, .dim = DIM };
    gw_semantic *s = NULL;
    if (gw_semantic_create(NULL, &o, &s))
        abort();
    return s;
}

static void sem_put(gw_semantic *s, const char *part, int i, int64_t ttl_ms)
{
    float v[DIM];
    char prompt[32], skey[32];
    vec_for(i, v);
    snprintf(prompt, sizeof prompt, "prompt %d", i);
    snprintf(skey, sizeof skey, "llm:m:%d", i);
    gw_sem_query q = { .prompt = prompt, .vec = v };
    snprintf(q.partition, sizeof q.partition, "%s", part);
    gw_semantic_insert(s, &q, skey, ttl_ms);
}

/* The skey s answers for entry i's own vector and prompt, or "" if none. */
static const char *sem_hit(gw_semantic *s, const char *part, int i)
{
    static char skey[64];
    float v[DIM], sim;
    char prompt[32];
    vec_for(i, v);
    snprintf(prompt, sizeof prompt, "prompt %d", i);
    gw_sem_query q = { .prompt = prompt, .vec = v };
    snprintf(q.partition, sizeof q.partition, "%s", part);
    if (gw_semantic_lookup(s, &q, 0.999, skey, sizeof skey, &sim))
        skey[0] = '\0';
    return skey;
}

/* Entries added, one forgotten, one that expires, then a fresh index over
 * the same store replays the log. */
static void replay_suite(store_t *st)
{
    gw_semantic *a = sem_open(st, 100);
    ASSERT_OK(gw_semantic_load(a, NULL));
    sem_put(a, "p1", 1, 0);
    sem_put(a, "p1", 2, 0);
    sem_put(a, "p2", 3, 0);
    sem_put(a, "p2", 4, 150);  /* expires soon */
    gw_semantic_forget(a, "p1", "llm:m:2");
    ASSERT_TRUE(strcmp(sem_hit(a, "p1", 1), "llm:m:1") == 0);
    ASSERT_TRUE(strcmp(sem_hit(a, "p1", 2), "") == 0);
    ASSERT_TRUE(strcmp(sem_hit(a, "p2", 4), "llm:m:4") == 0);
    int64_t end = clock_wall_ms() + 300;
    while (clock_wall_ms() < end)
        clock_sleep_ms(20);
    gw_semantic *b = sem_open(st, 100);
    uint64_t last = 0;
    ASSERT_OK(gw_semantic_load(b, &last));
    ASSERT_EQ_INT(last, 5);
    gw_semantic_stats stb;
    gw_semantic_get_stats(b, &stb);
    ASSERT_EQ_INT(stb.entries, 2);
    ASSERT_EQ_INT(stb.applied_seq, 5);
    ASSERT_TRUE(strcmp(sem_hit(b, "p1", 1), "llm:m:1") == 0);
    ASSERT_TRUE(strcmp(sem_hit(b, "p2", 3), "llm:m:3") == 0);
    ASSERT_TRUE(strcmp(sem_hit(b, "p1", 2), "") == 0);
    ASSERT_TRUE(strcmp(sem_hit(b, "p2", 4), "") == 0);
    /* a damaged record in the log is skipped and counted */
    ASSERT_OK(store_log_append(st, GW_SEMLOG, "junk", 4, NULL));
    sem_put(a, "p3", 5, 0);
    ASSERT_OK(gw_semantic_catch_up(b));
    gw_semantic_get_stats(b, &stb);
    ASSERT_EQ_INT(stb.bad_records, 1);
    ASSERT_TRUE(strcmp(sem_hit(b, "p3", 5), "llm:m:5") == 0);
    /* a bounded replay keeps the newest */
    gw_semantic *c = sem_open(st, 1);
    ASSERT_OK(gw_semantic_load(c, NULL));
    ASSERT_TRUE(strcmp(sem_hit(c, "p3", 5), "llm:m:5") == 0);
    ASSERT_EQ_INT(gw_semantic_count(c), 1);
    gw_semantic_destroy(a);
    gw_semantic_destroy(b);
    gw_semantic_destroy(c);
}

TEST(replay_lmdb)
{
    store_t *st = scratch_store_open("semlog");
    replay_suite(st);
    scratch_store_close(st);
}

static store_t *redis_open(const char *prefix)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        return NULL;
    store_config cfg;
    store_config_default(&cfg);
    cfg.url = url;
    cfg.key_prefix = prefix;
    store_t *s = NULL;
    if (store_open(&cfg, &s, NULL))
        return NULL;
    store_log_delete(s, GW_SEMLOG);
    return s;
}

TEST(replay_redis)
{
    store_t *st = redis_open("ragd_semlog_test");
    if (!st)
        SKIP("RAGD_TEST_REDIS_URL is not set (scripts/test.sh sets it): the Redis part did not run");
    replay_suite(st);
    store_log_delete(st, GW_SEMLOG);
    store_close(st);
}

TEST(second_instance_follows_on_redis)
{
    store_t *s1 = redis_open("ragd_semlog_follow"), *s2 = redis_open("ragd_semlog_follow");
    if (!s1 || !s2) {
        store_close(s1);
        store_close(s2);
        SKIP("RAGD_TEST_REDIS_URL is not set (scripts/test.sh sets it): the Redis part did not run");
    }
    gw_semantic *a = sem_open(s1, 100), *b = sem_open(s2, 100);
    ASSERT_OK(gw_semantic_load(a, NULL));
    ASSERT_OK(gw_semantic_load(b, NULL));
    sem_put(a, "p", 1, 0);
    ASSERT_TRUE(strcmp(sem_hit(b, "p", 1), "") == 0);
    ASSERT_OK(gw_semantic_catch_up(b));
    ASSERT_TRUE(strcmp(sem_hit(b, "p", 1), "llm:m:1") == 0);
    gw_semantic_forget(b, "p", "llm:m:1");    /* B saw the exact entry gone */
    ASSERT_OK(gw_semantic_catch_up(a));
    ASSERT_TRUE(strcmp(sem_hit(a, "p", 1), "") == 0);
    ASSERT_OK(gw_semantic_catch_up(b));       /* its own record: nothing changes */
    ASSERT_EQ_INT(gw_semantic_count(b), 0);
    gw_semantic_destroy(a);
    gw_semantic_destroy(b);
    store_log_delete(s1, GW_SEMLOG);
    store_close(s1);
    store_close(s2);
}

/* The log is trimmed to about twice max_entries (at least 1,024 records), and
 * a replay of what stays still holds the newest entries. */
TEST(log_is_trimmed_lmdb)
{
    store_t *st = scratch_store_open("semtrim");
    gw_semantic *a = sem_open(st, 10);
    for (int i = 0; i < 1200; i++)
        sem_put(a, "p", i, 0);
    uint64_t first = 0, last = 0;
    ASSERT_OK(store_log_bounds(st, GW_SEMLOG, &first, &last));
    ASSERT_EQ_INT(last, 1200);
    ASSERT_EQ_INT(first, 1152 - 1024 + 1);  /* trimmed at the 1,152nd append */
    gw_semantic *b = sem_open(st, 10);
    ASSERT_OK(gw_semantic_load(b, NULL));
    ASSERT_EQ_INT(gw_semantic_count(b), 10);
    ASSERT_TRUE(strcmp(sem_hit(b, "p", 1199), "llm:m:1199") == 0);
    gw_semantic_destroy(a);
    gw_semantic_destroy(b);
    scratch_store_close(st);
}

int main(void)
{
    RUN(record_round_trip_and_damage);
    RUN(replay_lmdb);
    RUN(log_is_trimmed_lmdb);
    RUN(replay_redis);
    RUN(second_instance_follows_on_redis);
    return TEST_REPORT();
}
