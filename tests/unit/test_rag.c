/*
 * test_rag.c - the RAG pipeline on a fake knowledge base: MMR selection and
 * its near-duplicate cut, then rag_query end to end with a search callback
 * over two in-memory namespaces, an embedding cache over a temporary LMDB
 * store whose vectors come from a bag-of-words hash (so equal texts are
 * equal vectors), and the cosine re-ranker: merge order, re-ranking, MMR,
 * limits, the query-embedding cache, unknown namespaces and disabled stages.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/embcache.h"
#include "rag/rag.h"
#include "store/store.h"
#include "rag_fixture.h"
#include "testing.h"
#include "util/hash.h"

#define DIM 384

static store_t *g_store;
static cache_t *g_cache;
static embcache_t *g_emb;
static rerank_t *g_rr;
static wordpiece *g_wp;
static char g_tmp[64] = "/tmp/ragd-test-rag-XXXXXX";

/* Bag of lower-cased words hashed into DIM buckets, unit length. */
static int bow_embed(void *ud, const embed_work *w, const char *const *texts,
                     const size_t *lens, size_t n, float *out, int *ntokens, bool *truncated)
{
    (void)ud;
    (void)w;
    for (size_t i = 0; i < n; i++) {
        float *v = out + i * DIM;
        memset(v, 0, DIM * sizeof *v);
        size_t j = 0, words = 0;
        while (j < lens[i]) {
            while (j < lens[i] && !isalpha((unsigned char)texts[i][j]))
                j++;
            uint64_t h = 1469598103934665603ull;
            size_t k = j;
            while (k < lens[i] && isalpha((unsigned char)texts[i][k]))
                h = (h ^ (uint64_t)tolower((unsigned char)texts[i][k++])) * 1099511628211ull;
            if (k > j) {
                v[h % DIM] += 1.0f;
                words++;
            }
            j = k;
        }
        double ss = 0;
        for (size_t d = 0; d < DIM; d++)
            ss += (double)v[d] * v[d];
        for (size_t d = 0; d < DIM && ss > 0; d++)
            v[d] /= (float)sqrt(ss);
        if (ntokens)
            ntokens[i] = (int)words + 2;
        if (truncated)
            truncated[i] = false;
    }
    return 0;
}

typedef struct fake_doc {
    const char *ns, *id, *text;
    float score;
} fake_doc;

static const fake_doc DOCS[] = {
    {"strength", "squat", "Squats build strong legs and glutes.", 0.9f},
    {"strength", "bench", "Bench press trains the chest and triceps.", 0.8f},
    {"strength", "squat-copy", "Squats build strong legs and glutes.", 0.7f},
    {"strength", "rows", "Rows train the upper back.", 0.2f},
    {"nutrition", "protein", "Protein after training helps legs recover.", 0.85f},
    {"nutrition", "water", "Drink water during long runs.", 0.1f},
};
static int g_calls;
static const char *g_rows_vec_text; /* when set: the "rows" hit carries this text's vector */

static int fake_search(void *ud, const rag_search_req *q, rag_hit **hits, size_t *n,
                       ragd_error *err)
{
    (void)ud;
    g_calls++;
    for (size_t k = 0; k < q->nns; k++)
        if (strcmp(q->namespaces[k], "strength") != 0 && strcmp(q->namespaces[k], "nutrition") != 0)
            return ragd_error_set(err, RAGD_ENOTFOUND, "namespace '%s' does not exist",
                                  q->namespaces[k]);
    *hits = calloc(8, sizeof **hits);
    *n = 0;
    for (size_t k = 0; k < q->nns; k++) {
        for (size_t i = 0; i < sizeof DOCS / sizeof DOCS[0] && *n < q->limit; i++) {
            if (strcmp(DOCS[i].ns, q->namespaces[k]) != 0)
                continue;
            rag_hit *h = &(*hits)[(*n)++];
            h->ns = strdup(DOCS[i].ns);
            h->doc_id = strdup(DOCS[i].id);
            h->text = strdup(DOCS[i].text);
            h->len = strlen(h->text);
            h->start = 0;
            h->end = h->len;
            h->seq = 0;
            h->score = DOCS[i].score;
            if (g_rows_vec_text && strcmp(DOCS[i].id, "rows") == 0) {
                size_t l = strlen(g_rows_vec_text);
                h->vec = malloc(DIM * sizeof *h->vec);
                bow_embed(NULL, NULL, &g_rows_vec_text, &l, 1, h->vec, NULL, NULL);
            }
        }
    }
    return 0;
}

static rag_deps deps(bool with_rerank)
{
    return (rag_deps){g_emb, with_rerank ? g_rr : NULL, g_wp, fake_search, NULL, NULL};
}

TEST(mmr_prefers_diversity_and_drops_duplicates)
{
    float v[4 * 2] = {1, 0, 1, 0, 0.8f, 0.6f, 0, 1};
    float rel[4] = {1.0f, 0.95f, 0.9f, 0.5f};
    size_t out[4], ndup = 9;
    /* item 1 equals item 0: dropped; lambda 0.3 favours the orthogonal item 3 */
    size_t m = rag_mmr_select(v, 2, rel, 4, 0.3, 0.99, 4, out, &ndup);
    ASSERT_EQ_INT(m, 3);
    ASSERT_EQ_INT(ndup, 1);
    ASSERT_EQ_INT(out[0], 0);
    ASSERT_EQ_INT(out[1], 3);
    ASSERT_EQ_INT(out[2], 2);
    /* lambda 1: pure relevance order (duplicates still cut) */
    m = rag_mmr_select(v, 2, rel, 4, 1.0, 0.99, 4, out, &ndup);
    ASSERT_EQ_INT(m, 3);
    ASSERT_EQ_INT(out[1], 2);
    /* k bounds the count */
    ASSERT_EQ_INT(rag_mmr_select(v, 2, rel, 4, 0.5, 2.0, 2, out, NULL), 2);
    ASSERT_EQ_INT(rag_mmr_select(v, 2, rel, 0, 0.5, 2.0, 2, out, NULL), 0);
}

TEST(pipeline_end_to_end)
{
    const char *ns[2] = {"strength", "nutrition"};
    rag_request q;
    rag_default_request(&q);
    q.query = "which exercise builds strong legs";
    q.namespaces = ns;
    q.nns = 2;
    q.max_items = 3;
    rag_deps d = deps(true);
    rag_result r;
    ragd_error err;
    ASSERT_OK(rag_query(&d, &q, &r, &err));
    ASSERT_EQ_INT(r.nhits, 6);
    ASSERT_TRUE(r.reranked && r.rr.scored == 6);
    ASSERT_EQ_INT(r.mmr_dropped, 1); /* the copied squat text */
    ASSERT_EQ_STR(r.strategy, "hybrid+rerank+mmr");
    ASSERT_TRUE(!r.query_cached);
    ASSERT_EQ_INT(r.pack.n, 3);
    ASSERT_EQ_STR(r.pack.e[0].doc_id, "squat");
    for (size_t i = 0; i < r.pack.n; i++) {
        ASSERT_TRUE(strcmp(r.pack.e[i].doc_id, "squat-copy") != 0);
        ASSERT_TRUE(strcmp(r.hits[r.entry_hit[i]].doc_id, r.pack.e[i].doc_id) == 0);
    }
    ASSERT_TRUE(r.t.total_us >= r.t.search_us && r.t.rerank_us >= 0 && r.t.pack_us >= 0);
    rag_result_free(&r);
    /* the same query again, its working arrays in a caller's arena (as a
     * request's): its embedding comes from the cache, the answer is the same */
    arena scratch = ARENA_INIT;
    d.scratch = &scratch;
    ASSERT_OK(rag_query(&d, &q, &r, &err));
    ASSERT_TRUE(r.query_cached);
    ASSERT_TRUE(arena_used(&scratch) > 0);
    ASSERT_EQ_INT(r.mmr_dropped, 1);
    ASSERT_EQ_INT(r.pack.n, 3);
    ASSERT_EQ_STR(r.pack.e[0].doc_id, "squat");
    rag_result_free(&r);
    arena_destroy(&scratch);
}

TEST(without_rerank_and_mmr_fused_order_is_kept)
{
    const char *ns[2] = {"nutrition", "strength"};
    rag_request q;
    rag_default_request(&q);
    q.query = "rows for the back";
    q.namespaces = ns;
    q.nns = 2;
    q.rerank = false;
    q.mmr = false;
    q.max_items = 10;
    rag_deps d = deps(true);
    rag_result r;
    ragd_error err;
    ASSERT_OK(rag_query(&d, &q, &r, &err));
    ASSERT_EQ_STR(r.strategy, "hybrid");
    ASSERT_TRUE(!r.reranked);
    ASSERT_EQ_INT(r.pack.n, 6); /* nothing merged: distinct documents */
    const char *want[6] = {"squat", "protein", "bench", "squat-copy", "rows", "water"};
    for (size_t i = 0; i < 6; i++)
        ASSERT_EQ_STR(r.pack.e[i].doc_id, want[i]);
    ASSERT_NEAR(r.pack.e[0].relevance, 0.9, 1e-6);
    rag_result_free(&r);
}

TEST(token_budget_and_min_score)
{
    const char *ns[1] = {"strength"};
    rag_request q;
    rag_default_request(&q);
    q.query = "squats legs";
    q.namespaces = ns;
    q.nns = 1;
    q.max_tokens = 12;
    rag_deps d = deps(true);
    rag_result r;
    ragd_error err;
    ASSERT_OK(rag_query(&d, &q, &r, &err));
    ASSERT_TRUE(r.pack.total_tokens <= 12 && r.pack.n >= 1);
    rag_result_free(&r);
    q.max_tokens = 0;
    q.min_score = 0.99f; /* cosine: nothing is that close */
    ASSERT_OK(rag_query(&d, &q, &r, &err));
    ASSERT_EQ_INT(r.pack.n, 0);
    rag_result_free(&r);
}

/* The cosine fallback scores a hit by its stored vector when it has one. */
TEST(cosine_rerank_uses_hit_vectors)
{
    const char *ns[1] = {"strength"};
    rag_request q;
    rag_default_request(&q);
    q.query = "heavy barbell movements";
    q.namespaces = ns;
    q.nns = 1;
    q.mmr = false;
    g_rows_vec_text = "heavy barbell movements";
    rag_deps d = deps(true);
    rag_result r;
    ragd_error err;
    int rc = rag_query(&d, &q, &r, &err);
    g_rows_vec_text = NULL;
    ASSERT_OK(rc);
    ASSERT_TRUE(r.pack.n >= 1);
    ASSERT_EQ_STR(r.pack.e[0].doc_id, "rows");
    ASSERT_NEAR(r.pack.e[0].relevance, 1.0, 1e-5);
    rag_result_free(&r);
}

TEST(errors)
{
    const char *ns[2] = {"strength", "nope"};
    rag_request q;
    rag_default_request(&q);
    q.query = "x";
    q.namespaces = ns;
    q.nns = 2;
    rag_deps d = deps(false);
    rag_result r;
    ragd_error err;
    ASSERT_EQ_INT(rag_query(&d, &q, &r, &err), RAGD_ENOTFOUND);
    ASSERT_TRUE(strstr(err.msg, "'nope'") != NULL);
    rag_result_free(&r);
    q.nns = 0;
    ASSERT_EQ_INT(rag_query(&d, &q, &r, &err), RAGD_EINVAL);
    rag_result_free(&r);
}

static int setup(void)
{
    char vocab[600];
    ragd_error err;
    if (rag_fx_vocab(vocab, sizeof vocab) != 0)
        return -1;
    if (wordpiece_open(vocab, NULL, &g_wp, &err) != 0 || !mkdtemp(g_tmp))
        return -1;
    store_config sc;
    store_config_default(&sc);
    sc.data_dir = g_tmp;
    cache_opts co = {3600, 3600, 3600, 1024, 512, 0};
    if (store_open(&sc, &g_store, &err) || cache_create(g_store, &co, &g_cache, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    embcache_create(g_cache, "bow", DIM, 3600, bow_embed, NULL, &g_emb);
    rerank_opts ro;
    rerank_default_opts(&ro);
    ro.fallback = g_emb;
    return rerank_create(&ro, &g_rr, &err);
}

int main(void)
{
    if (setup() != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(mmr_prefers_diversity_and_drops_duplicates);
    RUN(pipeline_end_to_end);
    RUN(without_rerank_and_mmr_fused_order_is_kept);
    RUN(token_budget_and_min_score);
    RUN(cosine_rerank_uses_hit_vectors);
    RUN(errors);
    rerank_destroy(g_rr);
    embcache_destroy(g_emb);
    cache_destroy(g_cache);
    store_close(g_store);
    wordpiece_close(g_wp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return TEST_REPORT();
}
