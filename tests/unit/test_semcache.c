/*
 * test_semcache.c - the standalone semantic cache (gateway/semcache.c) over a
 * real LMDB store and the shared semantic index, with the caller's vectors:
 * partitions by owner and name, store/check with the distance threshold,
 * num_results and filters, updates that keep the id, drop, delete by
 * filter and clear, an entry whose value is gone, a second index replaying
 * the log (a restart or another instance) and the counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "gateway/semcache.h"
#include "gateway/semantic.h"
#include "kb/kb_filter.h"
#include "store/store.h"
#include "testing.h"

#define DIM 8

typedef struct world {
    char dir[64];
    store_t *store;
    cache_t *cache;
    gw_semantic *sem;
    gw_semcache *sc;
} world;

/* hnsw_threshold 0: the default (partitions stay flat in these tests). */
static int world_open_with(world *w, size_t hnsw_threshold)
{
    static const cache_opts co = { 3600, 604800, 21600, 1024, 512, 0 };
    snprintf(w->dir, sizeof w->dir, "/tmp/ragd-test-semcache-XXXXXX");
    if (!mkdtemp(w->dir))
        return -1;
    store_config sc;
    store_config_default(&sc);
    sc.data_dir = w->dir;
    sc.key_prefix = "t";
    gw_semantic_opts so = { .max_entries = 1000, .dim = DIM, .hnsw_threshold = hnsw_threshold };
    if (store_open(&sc, &w->store, NULL) || cache_create(w->store, &co, &w->cache, NULL))
        return -1;
    so.store = w->store;
    if (gw_semantic_create(NULL, &so, &w->sem) || gw_semantic_load(w->sem, NULL))
        return -1;
    return gw_semcache_create(w->sem, w->cache, &w->sc);
}

static int world_open(world *w)
{
    return world_open_with(w, 0);
}

static void world_close(world *w)
{
    gw_semcache_destroy(w->sc);
    gw_semantic_destroy(w->sem);
    cache_destroy(w->cache);
    store_close(w->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->dir);
}

/* Axis i, tilted towards axis 7 by t (t = 0: exactly the axis). */
static void axis(int i, float t, float v[DIM])
{
    memset(v, 0, DIM * sizeof *v);
    v[i] = 1.0f;
    v[7] += t;
}

static int put(world *w, const char *part, const char *prompt, const float *v,
               const char *filters_json, int64_t ttl_ms, char id[GW_SEMCACHE_ID_LEN + 1])
{
    cJSON *f = filters_json ? cJSON_Parse(filters_json) : NULL;
    gw_semcache_entry e = { .prompt = prompt, .response = "answer", .vec = v, .filters = f,
                            .ttl_ms = ttl_ms };
    int rc = gw_semcache_store(w->sc, part, &e, NULL, id);
    cJSON_Delete(f);
    return rc;
}

/* The ids of a check's hits, comma-separated, into out. */
static int ids_of(world *w, const char *part, const float *v, double dist, size_t k,
                  const char *filter_json, char *out, size_t n)
{
    kb_filter *f = NULL;
    cJSON *spec = filter_json ? cJSON_Parse(filter_json) : NULL;
    if (spec && kb_filter_compile(spec, &f, NULL))
        abort();
    cJSON_Delete(spec);
    gw_semcache_query q = { .vec = v, .distance_threshold = dist, .num_results = k, .filter = f };
    cJSON *hits = NULL;
    int rc = gw_semcache_check(w->sc, part, &q, NULL, &hits);
    kb_filter_destroy(f);
    out[0] = '\0';
    for (const cJSON *h = hits ? hits->child : NULL; h; h = h->next) {
        const char *p = cJSON_GetObjectItem(h, "prompt")->valuestring;
        snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "," : "", p);
    }
    cJSON_Delete(hits);
    return rc;
}

TEST(partitions_depend_on_owner_and_name)
{
    char a[65], b[65], c[65], a2[65];
    gw_semcache_partition("alice", "faq", a);
    gw_semcache_partition("bob", "faq", b);
    gw_semcache_partition("alice", "faq2", c);
    gw_semcache_partition("alice", "faq", a2);
    ASSERT_EQ_INT(strlen(a), 64);
    ASSERT_TRUE(strcmp(a, b) != 0 && strcmp(a, c) != 0);
    ASSERT_EQ_STR(a, a2);
    gw_semcache_partition("", "alicefaq", b);  /* no concatenation aliasing */
    gw_semcache_partition("alicef", "aq", c);
    ASSERT_TRUE(strcmp(b, c) != 0);
}

TEST(check_orders_bounds_and_filters)
{
    world w;
    ASSERT_OK(world_open(&w));
    char id[GW_SEMCACHE_ID_LEN + 1], out[256];
    float v[DIM], q[DIM];
    axis(0, 0.0f, q);
    const char *names[3] = { "near", "mid", "far" };
    const char *tags[3] = { "{\"lang\":\"en\"}", "{\"lang\":\"de\"}", "{\"lang\":\"en\"}" };
    for (int i = 0; i < 3; i++) {
        axis(0, 0.2f * (float)(i + 1), v);  /* distances about 0.02, 0.07, 0.14 */
        ASSERT_OK(put(&w, "p", names[i], v, tags[i], 0, id));
    }
    axis(1, 0.0f, v);
    ASSERT_OK(put(&w, "p", "orthogonal", v, NULL, 0, id));
    axis(0, 0.0f, v);
    ASSERT_OK(put(&w, "other", "elsewhere", v, NULL, 0, id));
    ASSERT_OK(ids_of(&w, "p", q, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "near,mid");
    ASSERT_OK(ids_of(&w, "p", q, 0.5, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "near,mid,far");
    ASSERT_OK(ids_of(&w, "p", q, 0.5, 2, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "near,mid");
    ASSERT_OK(ids_of(&w, "p", q, 0.5, 10, "{\"lang\":\"en\"}", out, sizeof out));
    ASSERT_EQ_STR(out, "near,far");
    ASSERT_OK(ids_of(&w, "p", q, 0.01, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "");
    ASSERT_OK(ids_of(&w, "p", q, 2.0, 10, NULL, out, sizeof out));  /* everything */
    ASSERT_EQ_STR(out, "near,mid,far,orthogonal");
    gw_semcache_query bad = { .vec = q, .num_results = 0 };
    cJSON *hits;
    ASSERT_TRUE(gw_semcache_check(w.sc, "p", &bad, NULL, &hits) == RAGD_EINVAL);
    world_close(&w);
}

/* 300 entries tagged A crowd the query; one tagged B lies within the
 * threshold but behind all of them: a check filtered on B finds it (the
 * filter is exact, as RedisVL's pre-filter), whether the partition is a flat
 * scan or an HNSW graph. */
static void filtered_check_reaches_past_the_crowd(size_t hnsw_threshold)
{
    world w;
    ASSERT_OK(world_open_with(&w, hnsw_threshold));
    char id[GW_SEMCACHE_ID_LEN + 1], prompt[32], out[256];
    float v[DIM], q[DIM];
    for (int i = 0; i < 300; i++) {
        axis(0, 0.001f * (float)i, v);  /* distances below 0.05 */
        snprintf(prompt, sizeof prompt, "crowd-%d", i);
        ASSERT_OK(put(&w, "p", prompt, v, "{\"tenant\":\"A\"}", 0, id));
    }
    axis(0, 0.6f, v);  /* distance about 0.14 */
    ASSERT_OK(put(&w, "p", "lone", v, "{\"tenant\":\"B\"}", 0, id));
    axis(0, 0.0f, q);
    ASSERT_OK(ids_of(&w, "p", q, 0.2, 3, "{\"tenant\":\"B\"}", out, sizeof out));
    ASSERT_EQ_STR(out, "lone");
    ASSERT_OK(ids_of(&w, "p", q, 0.1, 3, "{\"tenant\":\"B\"}", out, sizeof out));
    ASSERT_EQ_STR(out, "");  /* beyond the threshold: still a miss */
    ASSERT_OK(ids_of(&w, "p", q, 0.2, 2, "{\"tenant\":\"A\"}", out, sizeof out));
    ASSERT_EQ_STR(out, "crowd-0,crowd-1");
    ASSERT_OK(ids_of(&w, "p", q, 0.2, 2, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "crowd-0,crowd-1");
    world_close(&w);
}

TEST(a_filtered_check_reaches_past_the_crowd_flat)
{
    filtered_check_reaches_past_the_crowd(0);
}

TEST(a_filtered_check_reaches_past_the_crowd_hnsw)
{
    filtered_check_reaches_past_the_crowd(64);
}

TEST(an_update_keeps_the_id_and_moves_the_vector)
{
    world w;
    ASSERT_OK(world_open(&w));
    char a[GW_SEMCACHE_ID_LEN + 1], b[GW_SEMCACHE_ID_LEN + 1], c[GW_SEMCACHE_ID_LEN + 1];
    float v[DIM];
    axis(2, 0.0f, v);
    ASSERT_OK(put(&w, "p", "same", v, NULL, 0, a));
    axis(3, 0.0f, v);  /* the same prompt with a new vector: moves */
    ASSERT_OK(put(&w, "p", "same", v, NULL, 0, b));
    ASSERT_EQ_STR(a, b);
    ASSERT_OK(put(&w, "p", "same", v, "{\"k\":\"v\"}", 0, c));  /* other filters: other id */
    ASSERT_TRUE(strcmp(a, c) != 0);
    char out[128];
    axis(2, 0.0f, v);
    ASSERT_OK(ids_of(&w, "p", v, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "");
    axis(3, 0.0f, v);
    ASSERT_OK(ids_of(&w, "p", v, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "same,same");
    world_close(&w);
}

TEST(drop_delete_and_clear)
{
    world w;
    ASSERT_OK(world_open(&w));
    char a[GW_SEMCACHE_ID_LEN + 1], b[GW_SEMCACHE_ID_LEN + 1], id[GW_SEMCACHE_ID_LEN + 1];
    float v[DIM], out_v[DIM];
    char out[128];
    axis(0, 0.0f, v);
    ASSERT_OK(put(&w, "p", "a", v, "{\"t\":\"x\"}", 0, a));
    axis(1, 0.0f, v);
    ASSERT_OK(put(&w, "p", "b", v, "{\"t\":\"y\"}", 0, b));
    axis(2, 0.0f, v);
    ASSERT_OK(put(&w, "p", "c", v, "{\"t\":\"y\"}", 0, id));
    ASSERT_OK(put(&w, "q", "c", v, "{\"t\":\"y\"}", 0, id));
    ASSERT_OK(gw_semcache_drop(w.sc, "p", a));
    ASSERT_TRUE(gw_semcache_drop(w.sc, "p", a) == RAGD_ENOTFOUND);
    ASSERT_TRUE(gw_semcache_drop(w.sc, "p", "XYZ") == RAGD_EINVAL);
    axis(0, 0.0f, out_v);
    ASSERT_OK(ids_of(&w, "p", out_v, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "");
    kb_filter *f;
    cJSON *spec = cJSON_Parse("{\"t\":\"y\"}");
    ASSERT_OK(kb_filter_compile(spec, &f, NULL));
    cJSON_Delete(spec);
    uint64_t n = 0;
    ASSERT_OK(gw_semcache_delete(w.sc, "p", f, &n));
    kb_filter_destroy(f);
    ASSERT_EQ_INT(n, 2);
    ASSERT_OK(ids_of(&w, "q", v, 0.1, 10, NULL, out, sizeof out));  /* other partition kept */
    ASSERT_EQ_STR(out, "c");
    ASSERT_OK(gw_semcache_delete(w.sc, "q", NULL, &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_OK(ids_of(&w, "q", v, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "");
    cJSON *st = cJSON_CreateObject();
    gw_semcache_stats_json(w.sc, st);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "deletes")->valuedouble, 4);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "stores")->valuedouble, 4);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "misses")->valuedouble, 2);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "hits")->valuedouble, 1);
    cJSON_Delete(st);
    world_close(&w);
}

TEST(a_gone_value_is_forgotten_and_the_log_replays)
{
    world w;
    ASSERT_OK(world_open(&w));
    char a[GW_SEMCACHE_ID_LEN + 1], b[GW_SEMCACHE_ID_LEN + 1], out[128];
    float v[DIM], u[DIM];
    axis(4, 0.0f, v);
    axis(5, 0.0f, u);
    ASSERT_OK(put(&w, "p", "kept", v, NULL, 0, a));
    ASSERT_OK(put(&w, "p", "lost", u, NULL, 0, b));
    char skey[128];
    snprintf(skey, sizeof skey, "semc:p:%s", b);
    ASSERT_OK(store_del(w.store, skey, strlen(skey)));  /* evicted under the store's budget */
    ASSERT_EQ_INT(gw_semantic_count(w.sem), 2);
    ASSERT_OK(ids_of(&w, "p", u, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "");
    ASSERT_EQ_INT(gw_semantic_count(w.sem), 1);  /* forgotten */
    /* another index over the same store (a restart, another instance) */
    gw_semantic_opts so = { .max_entries = 1000, .dim = DIM, .store = w.store };
    gw_semantic *sem2;
    gw_semcache *sc2;
    ASSERT_OK(gw_semantic_create(NULL, &so, &sem2));
    ASSERT_OK(gw_semantic_load(sem2, NULL));
    ASSERT_OK(gw_semcache_create(sem2, w.cache, &sc2));
    ASSERT_EQ_INT(gw_semantic_count(sem2), 1);
    gw_semcache_query q = { .vec = v, .distance_threshold = 0.1, .num_results = 1 };
    cJSON *hits;
    ASSERT_OK(gw_semcache_check(sc2, "p", &q, NULL, &hits));
    ASSERT_EQ_INT(cJSON_GetArraySize(hits), 1);
    ASSERT_EQ_STR(cJSON_GetObjectItem(hits->child, "id")->valuestring, a);
    cJSON_Delete(hits);
    /* no model and no vector: refused */
    q.vec = NULL;
    q.prompt = "text";
    ASSERT_TRUE(gw_semcache_check(sc2, "p", &q, NULL, &hits) == RAGD_EUNSUPPORTED);
    gw_semcache_destroy(sc2);
    gw_semantic_destroy(sem2);
    world_close(&w);
}

TEST(an_expired_entry_is_not_a_hit)
{
    world w;
    ASSERT_OK(world_open(&w));
    char id[GW_SEMCACHE_ID_LEN + 1], out[64];
    float v[DIM];
    axis(6, 0.0f, v);
    ASSERT_OK(put(&w, "p", "brief", v, NULL, 1, id));  /* 1 ms */
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    ASSERT_OK(ids_of(&w, "p", v, 0.1, 10, NULL, out, sizeof out));
    ASSERT_EQ_STR(out, "");
    world_close(&w);
}

int main(void)
{
    RUN(partitions_depend_on_owner_and_name);
    RUN(check_orders_bounds_and_filters);
    RUN(a_filtered_check_reaches_past_the_crowd_flat);
    RUN(a_filtered_check_reaches_past_the_crowd_hnsw);
    RUN(an_update_keeps_the_id_and_moves_the_vector);
    RUN(drop_delete_and_clear);
    RUN(a_gone_value_is_forgotten_and_the_log_replays);
    RUN(an_expired_entry_is_not_a_hit);
    return TEST_REPORT();
}
