/*
 * test_cache_stats.c - the cache's statistics (src/cache/stats.c): counters
 * per prefix, prefix classes, which prefixes count as being filled for the
 * first time, and the efficiency rating's basis and minimum sample.
 */
#include <stdlib.h>
#include <string.h>

#include "cache/stats.h"
#include "testing.h"

static cache_prefix_stats ps_make(const char *prefix, uint64_t hits, uint64_t misses,
                                  uint64_t writes)
{
    cache_prefix_stats p;
    memset(&p, 0, sizeof p);
    snprintf(p.prefix, sizeof p.prefix, "%s", prefix);
    p.hits = hits;
    p.misses = misses;
    p.writes = writes;
    return p;
}

TEST(classes_follow_the_internal_prefixes)
{
    ASSERT_EQ_INT(cache_stats_class("llm"), CACHE_CLASS_LLM);
    ASSERT_EQ_INT(cache_stats_class("emb"), CACHE_CLASS_EMB);
    ASSERT_EQ_INT(cache_stats_class("lesson"), CACHE_CLASS_GENERIC);
    ASSERT_EQ_STR(cache_class_names[CACHE_CLASS_EMB], "embeddings");
}

TEST(a_prefix_filled_for_the_first_time_is_recognised)
{
    cache_prefix_stats ingest = ps_make("emb", 5, 1000, 1000);
    ASSERT_TRUE(cache_stats_filling(&ingest, 1000));   /* every write is a live new key */
    ASSERT_TRUE(!cache_stats_filling(&ingest, 200));   /* entries expired: a TTL problem */
    ASSERT_TRUE(!cache_stats_filling(&ingest, -1));    /* keys unknown */
    cache_prefix_stats reused = ps_make("llm", 1270, 1000, 1000);
    ASSERT_TRUE(!cache_stats_filling(&reused, 1000));  /* more hits than writes */
    cache_prefix_stats idle = ps_make("x", 0, 0, 0);
    ASSERT_TRUE(!cache_stats_filling(&idle, 0));
}

TEST(rating_ignores_filling_prefixes_and_headlines_llm)
{
    /* the case: an ingest's first-time embeddings next to LLM responses at 56% */
    cache_prefix_stats ps[2] = { ps_make("emb", 10, 5000, 5000), ps_make("llm", 560, 440, 440) };
    int64_t keys[2] = { 5000, 440 };
    cache_efficiency e;
    cache_stats_efficiency(ps, keys, 2, &e);
    ASSERT_EQ_STR(e.basis, "llm");
    ASSERT_EQ_INT(e.lookups, 1000);
    ASSERT_NEAR(e.hit_rate, 0.56, 1e-9);
    ASSERT_EQ_STR(e.rating, "needs improvement");
    /* without LLM traffic: the generic prefix is rated, the filling one left out */
    cache_prefix_stats gs[2] = { ps_make("emb", 10, 5000, 5000), ps_make("lesson", 90, 10, 10) };
    cache_stats_efficiency(gs, keys, 2, &e);
    ASSERT_EQ_STR(e.basis, "all");
    ASSERT_EQ_INT(e.lookups, 100);
    ASSERT_EQ_STR(e.rating, "excellent");
}

TEST(rating_needs_a_minimum_number_of_lookups)
{
    cache_prefix_stats one = ps_make("lesson", 1, 0, 1);
    int64_t keys[1] = { 1 };
    cache_efficiency e;
    cache_stats_efficiency(&one, keys, 1, &e);
    ASSERT_EQ_STR(e.rating, "insufficient data");   /* was "excellent" after a single hit */
    cache_stats_efficiency(&one, keys, 0, &e);
    ASSERT_EQ_STR(e.rating, "no data");
    cache_prefix_stats enough = ps_make("lesson", 70, CACHE_STATS_MIN_LOOKUPS - 70, 10);
    cache_stats_efficiency(&enough, keys, 1, &e);
    ASSERT_EQ_STR(e.rating, "good");
}

TEST(counters_accumulate_per_prefix_and_overflow_to_other)
{
    cache_stats_t *st = cache_stats_create(1);
    cache_stats_hit(st, "a");
    cache_stats_miss(st, "a");
    cache_stats_write(st, "a", 100, 40);
    cache_stats_hit(st, "b");  /* beyond the bound: counted under _other */
    int n = 0;
    cache_prefix_stats *ps = cache_stats_snapshot(st, &n);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(ps[i].prefix, "a")) {
            ASSERT_EQ_INT(ps[i].hits, 1);
            ASSERT_EQ_INT(ps[i].raw_bytes, 100);
            ASSERT_EQ_INT(ps[i].stored_bytes, 40);
            seen++;
        } else if (!strcmp(ps[i].prefix, "_other")) {
            ASSERT_EQ_INT(ps[i].hits, 1);
            seen++;
        }
    }
    ASSERT_EQ_INT(seen, 2);
    free(ps);
    cache_stats_destroy(st);
}

int main(void)
{
    RUN(classes_follow_the_internal_prefixes);
    RUN(a_prefix_filled_for_the_first_time_is_recognised);
    RUN(rating_ignores_filling_prefixes_and_headlines_llm);
    RUN(rating_needs_a_minimum_number_of_lookups);
    RUN(counters_accumulate_per_prefix_and_overflow_to_other);
    return TEST_REPORT();
}
