/*
 * test_cache.c - the cache value codec (header, zstd above the threshold,
 * corrupt input), per-prefix statistics, and the cache core over a real LMDB
 * store (TTL per prefix, any number of overrides, clear by prefix and
 * pattern). Canonical JSON keys are tested in test_json.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/codec.h"
#include "cache/stats.h"
#include "testing.h"

TEST(codec_small_values_are_stored_raw)
{
    buf_t b = BUF_INIT;
    ASSERT_EQ_INT(codec_encode("hello", 5, "text/plain", 1024, &b), 0);
    codec_view v;
    char *out = NULL;
    ASSERT_OK(codec_decode(b.data, b.len, 0, &v, &out));
    ASSERT_EQ_STR(out, "hello");
    ASSERT_EQ_INT(v.raw_len, 5);
    ASSERT_EQ_STR(v.content_type, "text/plain");
    ASSERT_TRUE(!v.compressed && v.created_ms > 0);
    /* the stored payload is the value itself, the header not counted */
    ASSERT_EQ_INT(codec_stored_payload_len(b.data, b.len), 5);
    free(out);
    buf_free(&b);
}

TEST(codec_large_values_are_compressed_and_round_trip)
{
    size_t n = 100000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = "squat bench deadlift "[i % 21];
    buf_t b = BUF_INIT;
    ASSERT_EQ_INT(codec_encode(big, n, "text/plain", 1024, &b), 1);
    ASSERT_TRUE(b.len < n / 20);
    size_t sp = codec_stored_payload_len(b.data, b.len);
    ASSERT_TRUE(sp > 8 && sp < b.len);  /* compressed bytes (and their length), no header */
    codec_view v;
    char *out = NULL;
    void *stored = malloc(b.len);
    memcpy(stored, b.data, b.len);
    ASSERT_OK(codec_decode(stored, b.len, 1, &v, &out));  /* takes `stored` */
    ASSERT_TRUE(v.compressed && v.raw_len == n && memcmp(out, big, n) == 0);
    free(out);
    free(big);
    buf_free(&b);
}

TEST(codec_incompressible_values_stay_raw)
{
    size_t n = 4096;
    unsigned char *rnd = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        rnd[i] = (unsigned char)x;
    }
    buf_t b = BUF_INIT;
    ASSERT_EQ_INT(codec_encode(rnd, n, NULL, 1024, &b), 0);
    codec_view v;
    char *out = NULL;
    ASSERT_OK(codec_decode(b.data, b.len, 0, &v, &out));
    ASSERT_TRUE(memcmp(out, rnd, n) == 0 && v.content_type[0] == '\0');
    free(out);
    free(rnd);
    buf_free(&b);
}

TEST(codec_rejects_garbage_and_truncation)
{
    codec_view v;
    char *out = NULL;
    char junk[] = "not a codec value";
    ASSERT_EQ_INT(codec_decode(junk, sizeof junk, 0, &v, &out), RAGD_EFORMAT);
    buf_t b = BUF_INIT;
    char big[5000];
    memset(big, 'a', sizeof big);
    codec_encode(big, sizeof big, "x", 1024, &b);
    ASSERT_EQ_INT(codec_decode(b.data, b.len - 3, 0, &v, &out), RAGD_EFORMAT);
    ASSERT_EQ_INT(codec_decode(b.data, 5, 0, &v, &out), RAGD_EFORMAT);
    buf_free(&b);
}

TEST(stats_count_per_prefix_and_overflow_to_other)
{
    cache_stats_t *st = cache_stats_create(0);
    cache_stats_hit(st, "a");
    cache_stats_hit(st, "a");
    cache_stats_miss(st, "a");
    cache_stats_write(st, "b", 100, 10);
    char name[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "p%d", i);
        cache_stats_miss(st, name);
    }
    int n = 0;
    cache_prefix_stats *ps = cache_stats_snapshot(st, &n);
    ASSERT_TRUE(n <= 769);
    uint64_t total_miss = 0;
    int found_a = 0, found_other = 0;
    for (int i = 0; i < n; i++) {
        total_miss += ps[i].misses;
        if (!strcmp(ps[i].prefix, "a"))
            found_a = ps[i].hits == 2 && ps[i].misses == 1;
        if (!strcmp(ps[i].prefix, "_other"))
            found_other = 1;
    }
    ASSERT_TRUE(found_a && found_other);
    ASSERT_EQ_INT(total_miss, 2001);
    free(ps);
    cache_stats_destroy(st);
    /* a configured bound: 3 client prefixes, then _other; emb and llm apart */
    st = cache_stats_create(3);
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "q%d", i);
        cache_stats_hit(st, name);
    }
    cache_stats_hit(st, "emb");
    cache_stats_hit(st, "llm");
    ps = cache_stats_snapshot(st, &n);
    ASSERT_EQ_INT(n, 6);
    for (int i = 0; i < n; i++)
        if (!strcmp(ps[i].prefix, "_other"))
            ASSERT_EQ_INT(ps[i].hits, 7);
        else
            ASSERT_EQ_INT(ps[i].hits, 1);
    free(ps);
    cache_stats_destroy(st);
}

static store_t *open_store(char *dir)
{
    store_config sc;
    store_config_default(&sc);
    sc.data_dir = dir;
    sc.key_prefix = "t";
    store_t *s = NULL;
    return store_open(&sc, &s, NULL) == 0 ? s : NULL;
}

/* A cache over the store in dir (created or reopened); NULL on failure. */
static cache_t *open_cache(char *dir, store_t **s)
{
    static const cache_opts o = { 3600, 604800, 21600, 1024, 512, 0 };
    cache_t *c = NULL;
    *s = open_store(dir);
    return *s && cache_create(*s, &o, &c, NULL) == 0 ? c : NULL;
}

static void close_cache(cache_t *c, store_t *s)
{
    cache_destroy(c);
    store_close(s);
}

static int remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

TEST(cache_core_ttl_defaults_overrides_and_clearing)
{
    char dir[] = "/tmp/ragd-test-cache-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    store_t *s;
    cache_t *c = open_cache(dir, &s);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_INT(cache_prefix_ttl(c, "emb", NULL), 604800);
    ASSERT_EQ_INT(cache_prefix_ttl(c, "llm", NULL), 21600);
    ASSERT_EQ_INT(cache_prefix_ttl(c, "course", NULL), 3600);
    ASSERT_OK(cache_set_prefix_ttl(c, "course", 60));
    ASSERT_EQ_INT(cache_prefix_ttl(c, "course", NULL), 60);
    ASSERT_EQ_INT(cache_set_prefix_ttl(c, "bad prefix", 60), RAGD_EINVAL);
    for (int i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        ASSERT_OK(cache_put(c, "course", k, strlen(k), "v", 1, "text/plain", -1));
        ASSERT_OK(cache_put(c, "quiz", k, strlen(k), "v", 1, "text/plain", 0));
    }
    cache_entry e;
    ASSERT_OK(cache_get(c, "course", "k1", 2, &e));
    ASSERT_TRUE(e.ttl_ms > 0 && e.ttl_ms <= 60000);
    cache_entry_free(&e);
    ASSERT_OK(cache_get(c, "quiz", "k1", 2, &e));
    ASSERT_EQ_INT(e.ttl_ms, -1);
    cache_entry_free(&e);
    uint64_t n = 0;
    ASSERT_OK(cache_clear_pattern(c, "quiz:k[12]", &n));
    ASSERT_EQ_INT(n, 2);
    ASSERT_OK(cache_clear_prefix(c, "course", &n));
    ASSERT_EQ_INT(n, 5);
    ASSERT_EQ_INT(cache_get(c, "course", "k1", 2, &e), RAGD_ENOTFOUND);
    ASSERT_OK(cache_clear_all(c, &n));
    ASSERT_EQ_INT(n, 3);
    /* a key that passes the check always fits the store key (a 448-byte key
     * once passed max_key_bytes 512 and failed in the store) */
    char key[STORE_KEY_MAX + 1], prefix[65];
    memset(key, 'k', sizeof key);
    memset(prefix, 'p', 64);
    prefix[64] = '\0';
    ragd_error err;
    size_t room = STORE_KEY_MAX - strlen("cache:") - 64 - 1 - strlen("u:alice:");
    ASSERT_EQ_INT(cache_key_limit(c, "p", 0), 440);
    ASSERT_EQ_INT(cache_key_limit(c, prefix, 8), room);
    ASSERT_EQ_INT(cache_key_check(c, prefix, 8, key, room + 1, &err), RAGD_ETOOBIG);
    ASSERT_OK(cache_key_check(c, prefix, 8, key, room, &err));
    char skey[STORE_KEY_MAX + 8];
    snprintf(skey, sizeof skey, "u:alice:%.*s", (int)room, key);
    ASSERT_OK(cache_put(c, prefix, skey, strlen(skey), "v", 1, "text/plain", 0));
    ASSERT_EQ_INT(cache_key_check(c, "p", 0, key, 441, &err), RAGD_ETOOBIG);
    ASSERT_EQ_INT(cache_key_check(c, "p", 0, "a\x01", 2, &err), RAGD_EINVAL);
    close_cache(c, s);
    /* the override was persisted */
    c = open_cache(dir, &s);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ_INT(cache_prefix_ttl(c, "course", NULL), 60);
    close_cache(c, s);
    ASSERT_EQ_INT(remove_dir(dir), 0);
}

static void count_override(void *ud, const char *prefix, int64_t ttl)
{
    (void)prefix;
    (void)ttl;
    (*(int *)ud)++;
}

/* Every override is applied, however many there are (the 257th used to be
 * persisted and answered ok but never applied), now and after a restart. */
TEST(cache_ttl_overrides_have_no_count_limit)
{
    char dir[] = "/tmp/ragd-test-cache-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    store_t *s;
    cache_t *c = open_cache(dir, &s);
    ASSERT_TRUE(c != NULL);
    enum { N = 300 };
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N && round == 0; i++) {
            char p[16];
            snprintf(p, sizeof p, "p%d", i);
            ASSERT_OK(cache_set_prefix_ttl(c, p, 100 + i));
        }
        for (int i = 0; i < N; i++) {
            char p[16];
            snprintf(p, sizeof p, "p%d", i);
            const char *src = NULL;
            ASSERT_EQ_INT(cache_prefix_ttl(c, p, &src), 100 + i);
            ASSERT_EQ_STR(src, "override");
        }
        int count = 0;
        cache_each_ttl_override(c, count_override, &count);
        ASSERT_EQ_INT(count, N);
        close_cache(c, s);
        c = open_cache(dir, &s);  /* and again after a restart */
        ASSERT_TRUE(c != NULL);
    }
    ASSERT_OK(cache_set_prefix_ttl(c, "p299", 7));
    ASSERT_EQ_INT(cache_prefix_ttl(c, "p299", NULL), 7);
    close_cache(c, s);
    ASSERT_EQ_INT(remove_dir(dir), 0);
}

/* Two caches over one store (two instances): an override set through one is
 * written with a record on the settings log that the other applies; a
 * record it does not know is skipped; a legacy (untagged) key still loads. */
static void settings_suite(store_t *s)
{
    static const cache_opts o = { 3600, 604800, 21600, 1024, 512, 0 };
    store_log_delete(s, CACHE_SETTINGS_LOG);
    store_del(s, "cfg:{cfg}:cache_ttl:course", strlen("cfg:{cfg}:cache_ttl:course"));
    ASSERT_OK(store_set(s, "cfg:cache_ttl:old", strlen("cfg:cache_ttl:old"), "42", 2, 0, 0));
    cache_t *a = NULL, *b = NULL;
    ASSERT_OK(cache_create(s, &o, &a, NULL));
    ASSERT_OK(cache_create(s, &o, &b, NULL));
    ASSERT_EQ_INT(cache_prefix_ttl(b, "old", NULL), 42);
    uint64_t from = cache_settings_seq(b);
    ASSERT_OK(cache_set_prefix_ttl(a, "course", 120));
    ASSERT_EQ_INT(cache_prefix_ttl(a, "course", NULL), 120);
    ASSERT_EQ_INT(cache_prefix_ttl(b, "course", NULL), 3600);
    ASSERT_OK(store_log_append(s, CACHE_SETTINGS_LOG, "{\"op\":\"other\"}", 14, NULL));
    ASSERT_OK(store_log_read(s, CACHE_SETTINGS_LOG, from, cache_settings_apply, b));
    ASSERT_EQ_INT(cache_prefix_ttl(b, "course", NULL), 120);
    ASSERT_EQ_INT(cache_settings_applied(b), 2);
    uint64_t last = 0;
    ASSERT_OK(cache_settings_reload(b, &last));
    ASSERT_EQ_INT(last, from + 2);
    cache_destroy(a);
    cache_destroy(b);
    store_log_delete(s, CACHE_SETTINGS_LOG);
    store_del(s, "cfg:cache_ttl:old", strlen("cfg:cache_ttl:old"));
}

TEST(cache_settings_propagate_lmdb)
{
    char dir[] = "/tmp/ragd-test-cache-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    store_t *s = open_store(dir);
    ASSERT_TRUE(s != NULL);
    settings_suite(s);
    store_close(s);
    ASSERT_EQ_INT(remove_dir(dir), 0);
}

TEST(cache_settings_propagate_redis)
{
    const char *url = getenv("RAGD_TEST_REDIS_URL");
    if (!url || !*url)
        SKIP("RAGD_TEST_REDIS_URL is not set (scripts/test.sh sets it): the Redis part did not run");
    store_config sc;
    store_config_default(&sc);
    sc.url = url;
    sc.key_prefix = "ragd_cfgtest";
    store_t *s = NULL;
    ASSERT_OK(store_open(&sc, &s, NULL));
    settings_suite(s);
    store_close(s);
}

int main(void)
{
    RUN(codec_small_values_are_stored_raw);
    RUN(codec_large_values_are_compressed_and_round_trip);
    RUN(codec_incompressible_values_stay_raw);
    RUN(codec_rejects_garbage_and_truncation);
    RUN(stats_count_per_prefix_and_overflow_to_other);
    RUN(cache_core_ttl_defaults_overrides_and_clearing);
    RUN(cache_ttl_overrides_have_no_count_limit);
    RUN(cache_settings_propagate_lmdb);
    RUN(cache_settings_propagate_redis);
    return TEST_REPORT();
}
