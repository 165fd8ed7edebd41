/*
 * test_hnsw.c - HNSW recall against the exact scan on random and clustered
 * data, deletes (recall holds, deleted never returned, re-insert), filtered
 * search filling k at 10% and 1% selectivity, int8 traversal, snapshot
 * round-trip, other metrics and concurrent inserts with searches.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "index/flat.h"
#include "index/hnsw.h"
#include "testing.h"
#include "util/err.h"

#define DIM 24
#define N 1500
#define NQ 60

static float *g_data, *g_queries;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static double gauss(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    double u1 = ((g_rng >> 11) + 1.0) / 9007199254740993.0;
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    double u2 = (g_rng >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static void make_data(bool clustered)
{
    free(g_data);
    free(g_queries);
    g_data = malloc(sizeof(float) * N * DIM);
    g_queries = malloc(sizeof(float) * NQ * DIM);
    float centers[20][DIM];
    for (int c = 0; c < 20; c++)
        for (int j = 0; j < DIM; j++)
            centers[c][j] = (float)gauss() * 3.0f;
    for (int i = 0; i < N + NQ; i++) {
        float *v = i < N ? g_data + i * DIM : g_queries + (i - N) * DIM;
        int c = (int)(g_rng % 20);
        for (int j = 0; j < DIM; j++)
            v[j] = (float)gauss() + (clustered ? centers[c][j] : 0.0f);
    }
}

static bool filt_mod(void *ud, uint32_t id)
{
    return id % *(uint32_t *)ud == 0;
}

static bool filt_none(void *ud, uint32_t id)
{
    (void)ud;
    (void)id;
    return false;
}

/* recall@k of ix against exact search over the same live set */
static double recall(hnsw *ix, flat *fx, size_t k, vec_filter_fn f, void *ud, hnsw_mode mode, int *bad)
{
    long hit = 0, tot = 0;
    vec_hit a[64], b[64];
    for (int qi = 0; qi < NQ; qi++) {
        size_t na, nb;
        hnsw_search_opts o = {.k = k, .filter = f, .filter_ud = ud, .n_match = -1, .mode = mode};
        if (hnsw_search(ix, g_queries + qi * DIM, &o, a, &na) != 0 ||
            flat_search(fx, g_queries + qi * DIM, k, f, ud, b, &nb) != 0) {
            (*bad)++;
            continue;
        }
        if (na != nb)
            (*bad)++;
        for (size_t i = 0; i < na; i++) {
            if (!hnsw_contains(ix, a[i].id) || (f && !f(ud, a[i].id)))
                (*bad)++;
            if (i && a[i].score > a[i - 1].score + 1e-6)
                (*bad)++;
            for (size_t j = 0; j < nb; j++)
                if (a[i].id == b[j].id) {
                    hit++;
                    break;
                }
        }
        tot += (long)nb;
    }
    return tot ? (double)hit / tot : 1.0;
}

static void build(hnsw **ix, flat **fx, vec_metric m, bool int8)
{
    hnsw_params p = hnsw_default_params(DIM);
    p.metric = m;
    p.M = 12;
    p.ef_construction = 60;
    p.ef_search = 64;
    p.int8 = int8;
    hnsw_create(&p, ix);
    flat_create(DIM, m, fx);
    for (uint32_t i = 0; i < N; i++) {
        hnsw_insert(*ix, i, g_data + i * DIM);
        flat_add(*fx, i, g_data + i * DIM);
    }
}

TEST(test_recall_random_and_clustered)
{
    for (int clustered = 0; clustered < 2; clustered++) {
        make_data(clustered);
        hnsw *ix;
        flat *fx;
        build(&ix, &fx, VEC_COSINE, false);
        ASSERT_EQ_INT(hnsw_count(ix), N);
        ASSERT_EQ_INT(hnsw_insert(ix, 5, g_data), RAGD_EEXISTS);
        int bad = 0;
        double r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad);
        fprintf(stderr, "  recall@10 %s: %.3f\n", clustered ? "clustered" : "random", r);
        ASSERT_EQ_INT(bad, 0);
        ASSERT_TRUE(r >= 0.95);
        hnsw_stats st;
        hnsw_get_stats(ix, &st);
        ASSERT_TRUE(st.memory_bytes > (uint64_t)N * DIM * 4);
        ASSERT_TRUE(st.graph_searches == NQ);
        hnsw_destroy(ix);
        flat_destroy(fx);
    }
}

TEST(test_deletes)
{
    make_data(true);
    hnsw *ix;
    flat *fx;
    build(&ix, &fx, VEC_COSINE, false);
    for (uint32_t i = 0; i < N; i++)
        if (i % 10 < 3) {
            ASSERT_OK(hnsw_delete(ix, i));
            ASSERT_OK(flat_delete(fx, i));
        }
    ASSERT_EQ_INT(hnsw_delete(ix, 0), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(hnsw_count(ix), N - N * 3 / 10);
    int bad = 0;
    double r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad); /* also checks none deleted */
    fprintf(stderr, "  recall@10 after deleting 30%%: %.3f\n", r);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_TRUE(r >= 0.95);
    /* querying with a deleted vector itself never returns it */
    vec_hit h[10];
    size_t n;
    hnsw_search_opts o = {.k = (size_t)1 << 62, .n_match = -1, .mode = HNSW_EXACT};
    ASSERT_EQ_INT(hnsw_search(ix, g_data + 1 * DIM, &o, h, &n), RAGD_EINVAL); /* absurd k */
    o.k = 10;
    o.ef = VEC_K_MAX + 1;
    ASSERT_EQ_INT(hnsw_search(ix, g_data + 1 * DIM, &o, h, &n), RAGD_EINVAL); /* absurd ef */
    o.ef = 0;
    o.mode = HNSW_GRAPH;
    ASSERT_OK(hnsw_search(ix, g_data + 1 * DIM, &o, h, &n));
    for (size_t i = 0; i < n; i++)
        ASSERT_TRUE(h[i].id % 10 >= 3);
    /* re-insert deleted ids with new vectors */
    for (uint32_t i = 0; i < 200; i++)
        if (i % 10 < 3) {
            ASSERT_OK(hnsw_insert(ix, i, g_data + (N - 1 - i) * DIM));
            ASSERT_OK(flat_add(fx, i, g_data + (N - 1 - i) * DIM));
        }
    r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_TRUE(r >= 0.95);
    hnsw_stats st;
    hnsw_get_stats(ix, &st);
    ASSERT_EQ_INT(st.deleted, N * 3 / 10 - 60);
    /* vacuum: tombstones unlinked, recall holds, freed ids insert afresh */
    hnsw_delete(ix, 0); /* make sure a low id (maybe the entry's region) goes too */
    flat_delete(fx, 0);
    size_t live = hnsw_count(ix);
    ASSERT_OK(hnsw_vacuum(ix));
    hnsw_get_stats(ix, &st);
    ASSERT_EQ_INT(st.deleted, 0);
    ASSERT_EQ_INT(hnsw_count(ix), live);
    r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad);
    fprintf(stderr, "  recall@10 after vacuum: %.3f\n", r);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_TRUE(r >= 0.95);
    ASSERT_OK(hnsw_insert(ix, 0, g_data));
    ASSERT_OK(flat_add(fx, 0, g_data));
    ASSERT_EQ_INT(hnsw_count(ix), live + 1);
    hnsw_destroy(ix);
    flat_destroy(fx);
}

TEST(test_filtered)
{
    make_data(true);
    hnsw *ix;
    flat *fx;
    build(&ix, &fx, VEC_COSINE, false);
    uint32_t mods[2] = {10, 100}; /* 10% and 1% selectivity */
    for (int m = 0; m < 2; m++) {
        for (int mode = HNSW_AUTO; mode <= HNSW_GRAPH; mode++) {
            int bad = 0;
            double r = recall(ix, fx, 10, filt_mod, &mods[m], (hnsw_mode)mode, &bad);
            fprintf(stderr, "  filtered 1/%u %s: recall %.3f\n", mods[m], mode ? "graph" : "auto", r);
            ASSERT_EQ_INT(bad, 0); /* includes: k results whenever k match */
            ASSERT_TRUE(r >= 0.9);
        }
    }
    /* nothing matches: empty, not an error */
    vec_hit h[10];
    size_t n = 99;
    hnsw_search_opts o = {.k = 10, .filter = filt_none, .n_match = -1, .mode = HNSW_GRAPH};
    ASSERT_OK(hnsw_search(ix, g_queries, &o, h, &n));
    ASSERT_EQ_INT(n, 0);
    /* caller-supplied match count drives the automatic choice */
    hnsw_stats before, after;
    hnsw_get_stats(ix, &before);
    o.filter = filt_mod;
    uint32_t m100 = 100;
    o.filter_ud = &m100;
    o.n_match = 20;
    o.mode = HNSW_AUTO;
    ASSERT_OK(hnsw_search(ix, g_queries, &o, h, &n));
    hnsw_get_stats(ix, &after);
    ASSERT_EQ_INT(after.exact_searches, before.exact_searches + 1);
    ASSERT_EQ_INT(n, 10);
    hnsw_destroy(ix);
    flat_destroy(fx);
}

TEST(test_int8_and_metrics)
{
    make_data(true);
    hnsw *ix;
    flat *fx;
    build(&ix, &fx, VEC_COSINE, true);
    int bad = 0;
    double r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad);
    fprintf(stderr, "  int8 recall@10: %.3f\n", r);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_TRUE(r >= 0.9);
    /* scores are exact float cosines after re-scoring */
    vec_hit h[5];
    size_t n;
    hnsw_search_opts o = {.k = 5, .n_match = -1, .mode = HNSW_GRAPH};
    ASSERT_OK(hnsw_search(ix, g_queries, &o, h, &n));
    vec_hit e[1];
    size_t ne;
    ASSERT_OK(flat_search(fx, g_queries, 1, filt_mod, &(uint32_t){1}, e, &ne));
    ASSERT_EQ_INT(h[0].id, e[0].id);
    ASSERT_NEAR(h[0].score, e[0].score, 1e-5);
    hnsw_destroy(ix);
    flat_destroy(fx);
    for (int m = VEC_IP; m <= VEC_L2; m++) {
        build(&ix, &fx, (vec_metric)m, false);
        r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad);
        fprintf(stderr, "  metric %d recall@10: %.3f\n", m, r);
        ASSERT_EQ_INT(bad, 0);
        ASSERT_TRUE(r >= 0.9);
        hnsw_destroy(ix);
        flat_destroy(fx);
    }
    hnsw_params p = hnsw_default_params(DIM);
    p.metric = VEC_L2;
    p.int8 = true;
    ASSERT_EQ_INT(hnsw_create(&p, &ix), RAGD_EINVAL);
}

TEST(test_persist)
{
    make_data(false);
    hnsw *ix;
    flat *fx;
    build(&ix, &fx, VEC_COSINE, false);
    for (uint32_t i = 0; i < N; i += 7)
        hnsw_delete(ix, i);
    char path[] = "/tmp/ragd_hnsw_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    ASSERT_OK(hnsw_save(ix, path));
    hnsw *ld;
    ASSERT_OK(hnsw_load(path, &ld));
    ASSERT_EQ_INT(hnsw_count(ld), hnsw_count(ix));
    for (int qi = 0; qi < NQ; qi++) {
        vec_hit a[10], b[10];
        size_t na, nb;
        hnsw_search_opts o = {.k = 10, .n_match = -1, .mode = HNSW_GRAPH};
        ASSERT_OK(hnsw_search(ix, g_queries + qi * DIM, &o, a, &na));
        ASSERT_OK(hnsw_search(ld, g_queries + qi * DIM, &o, b, &nb));
        ASSERT_EQ_INT(na, nb);
        for (size_t i = 0; i < na; i++) {
            ASSERT_EQ_INT(a[i].id, b[i].id);
            ASSERT_TRUE(a[i].score == b[i].score);
        }
    }
    /* the loaded index keeps working: insert and delete */
    ASSERT_OK(hnsw_insert(ld, N + 5, g_queries));
    ASSERT_OK(hnsw_delete(ld, 1));
    hnsw_destroy(ld);
    /* corrupt file -> EFORMAT; missing -> ENOTFOUND */
    FILE *f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(0x7f, f);
    fputc(0x7f, f);
    fputc(0x7f, f);
    fclose(f);
    ASSERT_OK(truncate(path, 5000));
    ASSERT_EQ_INT(hnsw_load(path, &ld), RAGD_EFORMAT);
    unlink(path);
    ASSERT_EQ_INT(hnsw_load(path, &ld), RAGD_ENOTFOUND);
    hnsw_destroy(ix);
    flat_destroy(fx);
}

typedef struct {
    hnsw *ix;
    int writer;
    long bad;
} conc_arg;

static void *conc_worker(void *p)
{
    conc_arg *a = p;
    for (int i = 0; i < N / 2; i++) {
        if (a->writer) {
            uint32_t id = (uint32_t)(a->writer - 1) + 2u * (uint32_t)i;
            if (hnsw_insert(a->ix, id, g_data + id * DIM) != 0)
                a->bad++;
            if (id % 50 == 0 && hnsw_delete(a->ix, id) != 0)
                a->bad++;
        } else {
            vec_hit h[10];
            size_t n;
            hnsw_search_opts o = {.k = 10, .n_match = -1, .mode = HNSW_GRAPH};
            if (hnsw_search(a->ix, g_queries + (i % NQ) * DIM, &o, h, &n) != 0)
                a->bad++;
            for (size_t j = 0; j < n; j++)
                if (h[j].id % 50 == 0 && !hnsw_contains(a->ix, h[j].id))
                    a->bad++; /* raced with its delete; must at least not repeat */
        }
    }
    return NULL;
}

TEST(test_concurrent)
{
    make_data(true);
    hnsw_params p = hnsw_default_params(DIM);
    p.M = 12;
    p.ef_construction = 80;
    hnsw *ix;
    ASSERT_OK(hnsw_create(&p, &ix));
    conc_arg args[4] = {{ix, 1, 0}, {ix, 2, 0}, {ix, 0, 0}, {ix, 0, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, conc_worker, &args[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ_INT(args[0].bad + args[1].bad, 0);
    ASSERT_EQ_INT(hnsw_count(ix), N - N / 50);
    flat *fx;
    flat_create(DIM, VEC_COSINE, &fx);
    for (uint32_t i = 0; i < N; i++)
        if (i % 50)
            flat_add(fx, i, g_data + i * DIM);
    int bad = 0;
    double r = recall(ix, fx, 10, NULL, NULL, HNSW_GRAPH, &bad);
    fprintf(stderr, "  recall@10 after concurrent build: %.3f\n", r);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_TRUE(r >= 0.95);
    hnsw_destroy(ix);
    flat_destroy(fx);
}

int main(void)
{
    RUN(test_recall_random_and_clustered);
    RUN(test_deletes);
    RUN(test_filtered);
    RUN(test_int8_and_metrics);
    RUN(test_persist);
    RUN(test_concurrent);
    free(g_data);
    free(g_queries);
    return TEST_REPORT();
}
