/*
 * test_sem_index.c - the semantic cache's bounded index (gateway/sem_index.c):
 * it keeps learning past max_entries (oldest and expired leave first), a
 * removed entry lowers the count, partitions stay apart, a partition that
 * grows past the threshold moves to HNSW while it keeps answering, and
 * concurrent adds and lookups stay consistent.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/sem_index.h"
#include "testing.h"

#define DIM 16

/* A deterministic unit-ish vector for seed i (distinct directions). */
static void vec_for(uint32_t i, float *v)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    for (int d = 0; d < DIM; d++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        v[d] = (float)((x * 0x2545f4914f6cdd1dull) >> 40) / (float)(1 << 24) - 0.5f;
    }
}

static int add(gw_semidx *ix, const char *part, uint32_t i, int64_t expire, int64_t now)
{
    float v[DIM];
    char skey[32], prompt[32];
    vec_for(i, v);
    snprintf(skey, sizeof skey, "llm:m:%u", i);
    snprintf(prompt, sizeof prompt, "prompt %u", i);
    gw_semidx_entry e = { part, skey, prompt, v, expire };
    return gw_semidx_add(ix, &e, now);
}

/* Does the exact vector of i find its own entry in part? */
static bool finds(gw_semidx *ix, const char *part, uint32_t i, int64_t now)
{
    float v[DIM], sim;
    char skey[64], want[32];
    vec_for(i, v);
    snprintf(want, sizeof want, "llm:m:%u", i);
    return gw_semidx_lookup(ix, part, v, 0.999, now, NULL, NULL, skey, sizeof skey, &sim) == 0 &&
           strcmp(skey, want) == 0;
}

static gw_semidx *make(size_t max, size_t threshold)
{
    gw_semidx_opts o = { .dim = DIM, .max_entries = max, .hnsw_threshold = threshold };
    gw_semidx *ix = NULL;
    if (gw_semidx_create(&o, &ix))
        abort();
    return ix;
}

TEST(keeps_learning_past_max_entries)
{
    gw_semidx *ix = make(5, 0);
    for (uint32_t i = 0; i < 50; i++)
        ASSERT_OK(add(ix, "p", i, 0, 1000));
    gw_semidx_stats st;
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 5);
    ASSERT_EQ_INT(st.evictions, 45);
    for (uint32_t i = 45; i < 50; i++)
        ASSERT_TRUE(finds(ix, "p", i, 1000));
    ASSERT_TRUE(!finds(ix, "p", 44, 1000));
    gw_semidx_destroy(ix);
}

TEST(remove_lowers_the_count_and_frees_room)
{
    gw_semidx *ix = make(3, 0);
    for (uint32_t i = 0; i < 3; i++)
        ASSERT_OK(add(ix, "p", i, 0, 1000));
    for (uint32_t i = 0; i < 3; i++) {
        char skey[32];
        snprintf(skey, sizeof skey, "llm:m:%u", i);
        ASSERT_OK(gw_semidx_remove(ix, "p", skey));
    }
    ASSERT_EQ_INT(gw_semidx_remove(ix, "p", "llm:m:0"), RAGD_ENOTFOUND);
    gw_semidx_stats st;
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 0);
    ASSERT_EQ_INT(st.partitions, 0);
    for (uint32_t i = 10; i < 13; i++)
        ASSERT_OK(add(ix, "p", i, 0, 1000));
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 3);
    ASSERT_EQ_INT(st.evictions, 0);
    ASSERT_TRUE(finds(ix, "p", 12, 1000));
    gw_semidx_destroy(ix);
}

TEST(expired_entries_leave_first_and_never_answer)
{
    gw_semidx *ix = make(3, 0);
    ASSERT_OK(add(ix, "p", 0, 2000, 1000));  /* expires at 2000 */
    ASSERT_OK(add(ix, "p", 1, 0, 1000));
    ASSERT_OK(add(ix, "p", 2, 0, 1000));
    ASSERT_TRUE(finds(ix, "p", 0, 1500));
    ASSERT_TRUE(!finds(ix, "p", 0, 2000));   /* expired: not served */
    ASSERT_EQ_INT(add(ix, "p", 9, 1500, 1600), RAGD_ENOTFOUND); /* already expired */
    ASSERT_OK(add(ix, "p", 3, 0, 2500));
    gw_semidx_stats st;
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 3);
    ASSERT_EQ_INT(st.expired, 1);
    ASSERT_EQ_INT(st.evictions, 0);
    ASSERT_TRUE(finds(ix, "p", 1, 2500) && finds(ix, "p", 3, 2500));
    gw_semidx_destroy(ix);
}

TEST(refresh_makes_an_entry_young_again)
{
    gw_semidx *ix = make(3, 0);
    for (uint32_t i = 0; i < 3; i++)
        ASSERT_OK(add(ix, "p", i, 0, 1000));
    ASSERT_OK(add(ix, "p", 0, 0, 1000));    /* the same key again: refreshed */
    ASSERT_OK(add(ix, "p", 3, 0, 1000));    /* evicts 1, the oldest now */
    ASSERT_TRUE(finds(ix, "p", 0, 1000));
    ASSERT_TRUE(!finds(ix, "p", 1, 1000));
    gw_semidx_stats st;
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 3);
    gw_semidx_destroy(ix);
}

static bool reject_all(void *ud, const char *prompt)
{
    (void)ud, (void)prompt;
    return false;
}

TEST(partitions_and_the_accept_callback)
{
    gw_semidx *ix = make(100, 0);
    ASSERT_OK(add(ix, "a", 1, 0, 1000));
    ASSERT_TRUE(finds(ix, "a", 1, 1000));
    ASSERT_TRUE(!finds(ix, "b", 1, 1000));
    float v[DIM], sim;
    char skey[64];
    vec_for(1, v);
    ASSERT_EQ_INT(gw_semidx_lookup(ix, "a", v, 0, 1000, reject_all, NULL, skey, sizeof skey, &sim),
                  RAGD_ENOTFOUND);
    gw_semidx_destroy(ix);
}

TEST(a_large_partition_moves_to_hnsw_and_keeps_answering)
{
    gw_semidx *ix = make(100000, 64);
    gw_semidx_stats st;
    for (uint32_t i = 0; i < 600; i++) {
        ASSERT_OK(add(ix, "big", i, 0, 1000));
        if (i % 50 == 0)  /* during the move too */
            ASSERT_TRUE(finds(ix, "big", i, 1000));
        if (i % 7 == 3) {
            char skey[32];
            snprintf(skey, sizeof skey, "llm:m:%u", i - 3);
            ASSERT_OK(gw_semidx_remove(ix, "big", skey));
        }
    }
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.hnsw_partitions, 1);
    size_t found = 0, want = 0;
    for (uint32_t i = 0; i < 600; i++) {
        bool removed = i % 7 == 0 && i + 3 < 600;
        if (removed) {
            ASSERT_TRUE(!finds(ix, "big", i, 1000));
            continue;
        }
        want++;
        found += finds(ix, "big", i, 1000);
    }
    ASSERT_TRUE(found * 100 >= want * 95);  /* HNSW recall */
    ASSERT_EQ_INT(st.entries, want);
    /* emptying it frees the partition and its graph */
    for (uint32_t i = 0; i < 600; i++) {
        char skey[32];
        snprintf(skey, sizeof skey, "llm:m:%u", i);
        gw_semidx_remove(ix, "big", skey);
    }
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 0);
    ASSERT_EQ_INT(st.hnsw_partitions, 0);
    ASSERT_EQ_INT(st.partitions, 0);
    gw_semidx_destroy(ix);
}

static void *adder(void *ud)
{
    gw_semidx *ix = ud;
    for (uint32_t i = 0; i < 2000; i++)
        add(ix, i % 2 ? "x" : "y", i, 0, 1000);
    return NULL;
}

static void *looker(void *ud)
{
    gw_semidx *ix = ud;
    for (uint32_t i = 0; i < 2000; i++)
        finds(ix, i % 2 ? "x" : "y", i, 1000);
    return NULL;
}

TEST(concurrent_adds_and_lookups)
{
    gw_semidx *ix = make(300, 100);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, i % 2 ? adder : looker, ix);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    gw_semidx_stats st;
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 300);
    ASSERT_TRUE(finds(ix, "x", 1999, 1000));
    gw_semidx_clear(ix);
    gw_semidx_get_stats(ix, &st);
    ASSERT_EQ_INT(st.entries, 0);
    gw_semidx_destroy(ix);
}

/* search: the k nearest above the threshold, best first, expired skipped,
 * on the scan and on the graph alike. */
static void check_search(size_t threshold)
{
    gw_semidx *ix = make(10000, threshold);
    float q[DIM];
    vec_for(7, q);
    for (uint32_t i = 0; i < 3000; i++) {
        float v[DIM];
        char skey[32];
        vec_for(i < 3 ? 7 : i + 100, v);
        if (i < 3)
            v[i] += 0.05f * (float)(i + 1);  /* near q, increasingly far */
        snprintf(skey, sizeof skey, "k%u", i);
        gw_semidx_entry e = { "p", skey, "x", v, i == 1 ? 2000 : 0 };
        if (gw_semidx_add(ix, &e, 1000))
            abort();
    }
    gw_semidx_hit hits[4];
    size_t n = 0;
    bool more = true;
    ASSERT_OK(gw_semidx_search(ix, "p", q, 0.9, 4, 1000, hits, &n, &more));
    ASSERT_EQ_INT(n, 3);
    ASSERT_TRUE(!more);  /* the radius was exhausted before k */
    ASSERT_EQ_STR(hits[0].skey, "k0");
    ASSERT_EQ_STR(hits[1].skey, "k1");
    ASSERT_EQ_STR(hits[2].skey, "k2");
    ASSERT_TRUE(hits[0].sim >= hits[1].sim && hits[1].sim >= hits[2].sim && hits[2].sim >= 0.9f);
    for (size_t i = 0; i < n; i++)
        free(hits[i].skey);
    ASSERT_OK(gw_semidx_search(ix, "p", q, 0.9, 4, 2000, hits, &n, NULL));  /* k1 expired */
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_STR(hits[1].skey, "k2");
    for (size_t i = 0; i < n; i++)
        free(hits[i].skey);
    ASSERT_OK(gw_semidx_search(ix, "p", q, 0.9, 2, 2000, hits, &n, &more));
    ASSERT_EQ_INT(n, 1);  /* k1 expired still took a place */
    ASSERT_TRUE(more);    /* and k2 lies beyond the two read */
    free(hits[0].skey);
    ASSERT_OK(gw_semidx_search(ix, "p", q, 0.0, 4, 1000, hits, &n, &more));
    ASSERT_TRUE(n == 4 && more);
    for (size_t i = 0; i < n; i++)
        free(hits[i].skey);
    ASSERT_OK(gw_semidx_search(ix, "other", q, 0.0, 4, 1000, hits, &n, NULL));
    ASSERT_EQ_INT(n, 0);
    ASSERT_TRUE(gw_semidx_search(ix, "p", q, 0.0, 0, 1000, hits, &n, NULL) == RAGD_EINVAL);
    gw_semidx_destroy(ix);
}

TEST(search_returns_the_k_nearest_above_the_threshold)
{
    check_search(0);      /* 3,000 entries: past the default threshold, an HNSW graph */
    check_search(100000); /* stays a scan */
}

int main(void)
{
    RUN(keeps_learning_past_max_entries);
    RUN(remove_lowers_the_count_and_frees_room);
    RUN(expired_entries_leave_first_and_never_answer);
    RUN(refresh_makes_an_entry_young_again);
    RUN(partitions_and_the_accept_callback);
    RUN(a_large_partition_moves_to_hnsw_and_keeps_answering);
    RUN(concurrent_adds_and_lookups);
    RUN(search_returns_the_k_nearest_above_the_threshold);
    return TEST_REPORT();
}
