/*
 * test_rerank.c - the cross-encoder engine against transformers: on every
 * pair of tests/fixtures/rerank_ref.json (written by make_rerank_fixture.py)
 * ragd's pair encoding gives the reference input ids and token types, and its
 * score matches BertForSequenceClassification's within 1e-4 on every CPU path;
 * BF16 stays close. Then the re-ranking service on that model: scores equal
 * the engine's, the count and budget limits, result ordering, the remote
 * answer parser, and the errors of a bad model directory.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "embed/embed.h"
#include "embed/sched.h"
#include "rag/rerank.h"
#include "rag/rerank_int.h"
#include "testing.h"
#include "util/cpu.h"

typedef struct ref_pair {
    const char *q, *p;
    int32_t *ids;
    size_t nids, type1_from;
    double logit, score;
} ref_pair;

static cJSON *g_root;
static ref_pair *g_pairs;
static size_t g_n, g_max_len;
static char g_dir[600];

static int load_fixture(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s", __FILE__);
    for (int k = 0; k < 2; k++)
        *strrchr(path, '/') = '\0';
    strcat(path, "/fixtures/rerank_ref.json");
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture %s missing\n", path);
        return -1;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    g_root = cJSON_ParseWithLength(buf, got);
    free(buf);
    const cJSON *pairs = cJSON_GetObjectItem(g_root, "pairs");
    g_max_len = (size_t)cJSON_GetObjectItem(g_root, "max_length")->valueint;
    g_n = (size_t)cJSON_GetArraySize(pairs);
    g_pairs = calloc(g_n, sizeof *g_pairs);
    size_t i = 0;
    for (const cJSON *e = pairs->child; e; e = e->next, i++) {
        ref_pair *r = &g_pairs[i];
        r->q = cJSON_GetObjectItem(e, "query")->valuestring;
        r->p = cJSON_GetObjectItem(e, "passage")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(e, "ids");
        r->nids = (size_t)cJSON_GetArraySize(ids);
        r->ids = malloc(r->nids * sizeof *r->ids);
        size_t k = 0;
        for (const cJSON *v = ids->child; v; v = v->next)
            r->ids[k++] = (int32_t)v->valueint;
        r->type1_from = (size_t)cJSON_GetObjectItem(e, "type1_from")->valueint;
        r->logit = cJSON_GetObjectItem(e, "logit")->valuedouble;
        r->score = cJSON_GetObjectItem(e, "score")->valuedouble;
    }
    return 0;
}

/* The test cross-encoder built by tests/fixtures/make_rerank_model.py. */
static int find_model(void)
{
    const char *env = getenv("RAGD_RERANK_TEST_MODEL_DIR");
    const char *cache = getenv("RAGD_MODEL_CACHE");
    if (env && *env)
        snprintf(g_dir, sizeof g_dir, "%s", env);
    else if (cache && *cache)
        snprintf(g_dir, sizeof g_dir, "%s/ragd-test-cross-encoder", cache);
    else
        snprintf(g_dir, sizeof g_dir, "%s/.cache/ragd/models/ragd-test-cross-encoder",
                 getenv("HOME") ? getenv("HOME") : "");
    char probe[700];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/model.safetensors", g_dir);
    if (stat(probe, &st) != 0) {
        fprintf(stderr, "MODEL MISSING: %s. Run scripts/setup.sh (it builds the test "
                "cross-encoder with tests/fixtures/make_rerank_model.py).\n", probe);
        return -1;
    }
    return 0;
}

static embed_model *open_level(const char *level, embed_precision p)
{
    setenv("RAGD_CPU", level, 1);
    cpu_features_reset();
    embed_opts o;
    embed_default_opts(&o);
    o.precision = p;
    embed_model *m = NULL;
    ragd_error err;
    if (embed_model_open(g_dir, &o, &m, &err) != 0)
        fprintf(stderr, "  open: %s\n", err.msg);
    return m;
}

TEST(pair_encoding_matches_transformers)
{
    embed_model *m = open_level("native", EMBED_FP32);
    ASSERT_TRUE(m != NULL);
    ASSERT_EQ_INT(embed_model_max_tokens(m), g_max_len);
    const wordpiece *wp = embed_model_tokenizer(m);
    int32_t *ids = malloc(g_max_len * sizeof *ids), *tt = malloc(g_max_len * sizeof *tt);
    size_t bad = 0, truncated = 0;
    for (size_t i = 0; i < g_n; i++) {
        size_t n = 0;
        bool tr = false;
        const ref_pair *r = &g_pairs[i];
        wordpiece_encode_pair(wp, r->q, strlen(r->q), r->p, strlen(r->p), g_max_len, ids, tt, &n,
                              &tr);
        truncated += tr;
        bool same = n == r->nids && memcmp(ids, r->ids, n * sizeof *ids) == 0;
        for (size_t k = 0; same && k < n; k++)
            same = tt[k] == (k >= r->type1_from ? 1 : 0);
        if (!same && bad++ < 3)
            fprintf(stderr, "  pair %zu differs (%zu vs %zu ids)\n", i, n, r->nids);
    }
    free(ids);
    free(tt);
    embed_model_close(m);
    fprintf(stderr, "  %zu pairs, %zu truncated at %zu\n", g_n, truncated, g_max_len);
    ASSERT_TRUE(truncated >= 10);
    ASSERT_EQ_INT(bad, 0);
}

/* Which pairs a run scores: the sanitizer build is slow, so the native path
 * takes every pair under 160 pieces plus 4 of the truncated ones (>= 100
 * pairs; tests/e2e/test_rerank.py scores all of them over HTTP on the release
 * build), the other paths the short pairs of the first 8 queries. */
enum { PICK_MAIN = 0, PICK_SMALL = 1 };

static bool picked(size_t i, size_t group, size_t *longs, int mode)
{
    if (g_pairs[i].nids < 160)
        return mode == PICK_MAIN || group < 8;
    return mode == PICK_MAIN && (*longs)++ < 4;
}

/* Score the picked pairs (grouped by query, as a re-ranker calls) and return
 * the count and the largest score and logit differences to the reference. */
static int score_all(embed_model *m, int mode, size_t *count, double *max_ds, double *max_dl)
{
    *max_ds = *max_dl = 0;
    *count = 0;
    size_t group = 0, longs = 0, *idx = malloc(g_n * sizeof *idx);
    const char **docs = malloc(g_n * sizeof *docs);
    size_t *lens = malloc(g_n * sizeof *lens);
    float *s = malloc(g_n * sizeof *s), *lg = malloc(g_n * sizeof *lg);
    int rc = 0;
    for (size_t i = 0; i < g_n && rc == 0; group++) {
        size_t j = i, k = 0;
        for (; j < g_n && strcmp(g_pairs[j].q, g_pairs[i].q) == 0; j++)
            if (picked(j, group, &longs, mode)) {
                idx[k] = j;
                docs[k] = g_pairs[j].p;
                lens[k++] = strlen(g_pairs[j].p);
            }
        if (k)
            rc = embed_score_pairs(m, g_pairs[i].q, strlen(g_pairs[i].q), docs, lens, k, s, lg);
        for (size_t t = 0; rc == 0 && t < k; t++) {
            double ds = fabs(s[t] - g_pairs[idx[t]].score);
            double dl = fabs(lg[t] - g_pairs[idx[t]].logit);
            *max_ds = ds > *max_ds ? ds : *max_ds;
            *max_dl = dl > *max_dl ? dl : *max_dl;
        }
        *count += k;
        i = j;
    }
    free(idx);
    free(docs);
    free(lens);
    free(s);
    free(lg);
    return rc;
}

static void check_level(const char *level, int mode)
{
    embed_model *m = open_level(level, EMBED_FP32);
    ASSERT_TRUE(m != NULL);
    ASSERT_TRUE(embed_model_has_classifier(m));
    ASSERT_EQ_INT(embed_model_num_labels(m), 1);
    double ds, dl;
    size_t n;
    int rc = score_all(m, mode, &n, &ds, &dl);
    fprintf(stderr, "  RAGD_CPU=%s kernel %s, %zu pairs: max |score diff| %.2e, max |logit "
            "diff| %.2e\n", level, embed_model_kernel(m), n, ds, dl);
    embed_model_close(m);
    ASSERT_OK(rc);
    ASSERT_TRUE(mode != PICK_MAIN || n >= 100);
    ASSERT_TRUE(ds <= 1e-4);
    ASSERT_TRUE(dl <= 5e-4);
}

TEST(scores_native) { check_level("native", PICK_MAIN); }
TEST(scores_avx512) { check_level("avx512", PICK_SMALL); }
TEST(scores_avx2) { check_level("avx2", PICK_SMALL); }
TEST(scores_portable) { check_level("portable", PICK_SMALL); }

TEST(scores_bf16)
{
    embed_model *m = open_level("native", EMBED_BF16);
    ASSERT_TRUE(m != NULL);
    double ds, dl;
    size_t n;
    ASSERT_OK(score_all(m, PICK_SMALL, &n, &ds, &dl));
    fprintf(stderr, "  bf16 kernel %s: max |score diff| %.2e, max |logit diff| %.2e\n",
            embed_model_kernel(m), ds, dl);
    bool bf16 = embed_model_precision(m) == EMBED_BF16;
    embed_model_close(m);
    ASSERT_TRUE(ds <= (bf16 ? 2e-2 : 1e-4));
}

static rerank_t *open_service(void)
{
    setenv("RAGD_CPU", "native", 1);
    cpu_features_reset();
    rerank_opts o;
    rerank_default_opts(&o);
    o.model_dir = g_dir;
    o.batch = 4;
    rerank_t *r = NULL;
    ragd_error err;
    if (rerank_create(&o, &r, &err) != 0)
        fprintf(stderr, "  rerank_create: %s\n", err.msg);
    return r;
}

/* The first query's pairs (and their reference scores). */
static size_t first_group(const char ***docs, size_t **lens)
{
    size_t k = 0;
    while (k < g_n && strcmp(g_pairs[k].q, g_pairs[0].q) == 0)
        k++;
    *docs = malloc(k * sizeof **docs);
    *lens = malloc(k * sizeof **lens);
    for (size_t t = 0; t < k; t++) {
        (*docs)[t] = g_pairs[t].p;
        (*lens)[t] = strlen(g_pairs[t].p);
    }
    return k;
}

TEST(service_scores_and_depth)
{
    rerank_t *r = open_service();
    ASSERT_TRUE(r != NULL);
    ASSERT_EQ_INT(rerank_get_kind(r), RERANK_CROSS_ENCODER);
    ASSERT_EQ_STR(rerank_model_name(r), "ragd-test-cross-encoder");
    ASSERT_TRUE(rerank_ready(r));
    const char **docs;
    size_t *lens, k = first_group(&docs, &lens);
    float *s = malloc(k * sizeof *s);
    rerank_outcome out;
    rerank_params p = {0, 0, NULL};
    int rc = rerank_score(r, g_pairs[0].q, strlen(g_pairs[0].q), docs, lens, k, &p, s, &out);
    double worst = 0;
    for (size_t t = 0; rc == 0 && t < k; t++)
        worst = fmax(worst, fabs(s[t] - g_pairs[t].score));
    size_t scored_all = out.scored, tokens = out.tokens;
    p.depth = 3;
    int rc2 = rerank_score(r, g_pairs[0].q, strlen(g_pairs[0].q), docs, lens, k, &p, s, &out);
    bool tail_nan = isnan(s[3]) && !isnan(s[2]);
    free(s);
    free(docs);
    free(lens);
    rerank_destroy(r);
    ASSERT_OK(rc);
    ASSERT_EQ_INT(scored_all, k);
    ASSERT_TRUE(worst <= 1e-4);
    ASSERT_TRUE(tokens > k * 3);
    ASSERT_OK(rc2);
    ASSERT_EQ_INT(out.scored, 3);
    ASSERT_TRUE(!out.by_budget);
    ASSERT_TRUE(tail_nan);
}

/* With a model scheduler, every cross-encoder pass runs on its dispatcher as
 * an interactive task (sharing the CPU in turn with embeddings), same scores. */
TEST(service_passes_go_through_the_scheduler)
{
    embed_model *m = NULL;
    embed_sched *sched = NULL;
    ragd_error err;
    ASSERT_OK(embed_model_open(g_dir, NULL, &m, &err));
    ASSERT_OK(embed_sched_create(m, NULL, &sched));
    rerank_opts o;
    rerank_default_opts(&o);
    o.model_dir = g_dir;
    o.batch = 4;
    o.sched = sched;
    rerank_t *r = NULL;
    int rc = rerank_create(&o, &r, &err);
    const char **docs;
    size_t *lens, k = first_group(&docs, &lens);
    float *sc = malloc(k * sizeof *sc);
    rerank_outcome out;
    if (rc == 0)
        rc = rerank_score(r, g_pairs[0].q, strlen(g_pairs[0].q), docs, lens, k, NULL, sc, &out);
    double worst = 0;
    for (size_t t = 0; rc == 0 && t < k; t++)
        worst = fmax(worst, fabs(sc[t] - g_pairs[t].score));
    embed_sched_stats st;
    embed_sched_get_stats(sched, &st);
    free(sc);
    free(docs);
    free(lens);
    rerank_destroy(r);
    embed_sched_destroy(sched);
    embed_model_close(m);
    ASSERT_OK(rc);
    ASSERT_EQ_INT(out.scored, k);
    ASSERT_TRUE(worst <= 1e-4);
    ASSERT_EQ_INT(st.cls[EMBED_INTERACTIVE].batches, (k + 3) / 4);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].batches, 0);
}

/* A 1 ms budget cannot hold more than the first batch of long pairs (a BERT
 * forward over 4 pairs of ~500 pieces takes far longer than 1 ms). */
TEST(service_budget_stops_after_first_batch)
{
    rerank_t *r = open_service();
    ASSERT_TRUE(r != NULL);
    const char *docs[24];
    size_t lens[24], n = 0;
    for (size_t i = 0; i < g_n && n < 24; i++)
        if (g_pairs[i].nids == g_max_len) {
            docs[n] = g_pairs[i].p;
            lens[n++] = strlen(g_pairs[i].p);
        }
    float s[24];
    rerank_outcome out;
    rerank_params p = {0, 1, NULL};
    int rc = rerank_score(r, "protein", 7, docs, lens, n, &p, s, &out);
    rerank_destroy(r);
    ASSERT_OK(rc);
    ASSERT_TRUE(n >= 12);
    ASSERT_TRUE(out.scored >= 1 && out.scored <= 4);
    ASSERT_TRUE(out.by_budget);
}

TEST(service_errors)
{
    rerank_t *r = open_service();
    ASSERT_TRUE(r != NULL);
    float s[1];
    rerank_outcome out;
    const char *d[1] = {NULL};
    size_t l[1] = {0};
    ASSERT_EQ_INT(rerank_score(r, "q", 1, d, l, 1, NULL, s, &out), RAGD_EINVAL);
    ASSERT_EQ_INT(rerank_score(r, "q", 1, d, l, 0, NULL, s, &out), RAGD_EINVAL);
    rerank_destroy(r);

    /* an embedding model (no head) is refused as a cross-encoder */
    const char *cache = getenv("RAGD_MODEL_CACHE");
    char emb[600];
    if (cache && *cache)
        snprintf(emb, sizeof emb, "%s/all-MiniLM-L6-v2", cache);
    else
        snprintf(emb, sizeof emb, "%s/.cache/ragd/models/all-MiniLM-L6-v2", getenv("HOME"));
    rerank_opts o;
    rerank_default_opts(&o);
    o.model_dir = emb;
    ragd_error err;
    ASSERT_EQ_INT(rerank_create(&o, &r, &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "not a cross-encoder") != NULL);
    o.model_dir = "/nonexistent/model";
    ASSERT_TRUE(rerank_create(&o, &r, &err) != 0);
    ASSERT_TRUE(strstr(err.msg, "/nonexistent/model") != NULL);

    /* nothing configured and no embedding model: cosine, not ready */
    rerank_default_opts(&o);
    ASSERT_OK(rerank_create(&o, &r, &err));
    ASSERT_EQ_INT(rerank_get_kind(r), RERANK_COSINE);
    ASSERT_EQ_STR(rerank_model_name(r), "cosine:none");
    ASSERT_TRUE(!rerank_ready(r));
    d[0] = "x";
    l[0] = 1;
    ASSERT_EQ_INT(rerank_score(r, "q", 1, d, l, 1, NULL, s, &out), RAGD_EUNAVAIL);
    rerank_destroy(r);
}

TEST(order_scored_then_unscored)
{
    float s[6] = {0.2f, 0.9f, 0.5f, 0.9f, NAN, NAN};
    size_t o[6];
    size_t m = rerank_order(s, 6, 4, -INFINITY, o);
    ASSERT_EQ_INT(m, 6);
    ASSERT_EQ_INT(o[0], 1); /* tie 0.9: input order */
    ASSERT_EQ_INT(o[1], 3);
    ASSERT_EQ_INT(o[2], 2);
    ASSERT_EQ_INT(o[3], 0);
    ASSERT_EQ_INT(o[4], 4);
    ASSERT_EQ_INT(o[5], 5);
    m = rerank_order(s, 6, 4, 0.5f, o); /* drops 0.2; unscored stay */
    ASSERT_EQ_INT(m, 5);
    ASSERT_EQ_INT(o[2], 2);
    ASSERT_EQ_INT(o[3], 4);
    m = rerank_order(s, 6, 0, 0.99f, o); /* nothing scored: input order */
    ASSERT_EQ_INT(m, 6);
    ASSERT_EQ_INT(o[0], 0);
}

TEST(remote_answer_parser)
{
    float s[3];
    char why[200];
    const char *cohere = "{\"id\":\"x\",\"results\":[{\"index\":2,\"relevance_score\":0.9},"
                         "{\"index\":0,\"relevance_score\":0.5},{\"index\":1,"
                         "\"relevance_score\":0.1}],\"meta\":{}}";
    ASSERT_OK(rerank__remote_parse(cohere, strlen(cohere), 3, s, why, sizeof why));
    ASSERT_NEAR(s[0], 0.5, 1e-6);
    ASSERT_NEAR(s[2], 0.9, 1e-6);
    const char *tei = "[{\"index\":1,\"score\":-2.5},{\"index\":0,\"score\":3},"
                      "{\"index\":2,\"score\":0}]";
    ASSERT_OK(rerank__remote_parse(tei, strlen(tei), 3, s, why, sizeof why));
    ASSERT_NEAR(s[1], -2.5, 1e-6);
    const char *missing = "{\"results\":[{\"index\":0,\"relevance_score\":0.5}]}";
    ASSERT_EQ_INT(rerank__remote_parse(missing, strlen(missing), 3, s, why, sizeof why),
                  RAGD_EFORMAT);
    ASSERT_TRUE(strstr(why, "unscored") != NULL);
    const char *range = "[{\"index\":7,\"score\":1}]";
    ASSERT_EQ_INT(rerank__remote_parse(range, strlen(range), 3, s, why, sizeof why),
                  RAGD_EFORMAT);
    ASSERT_EQ_INT(rerank__remote_parse("<html>", 6, 3, s, why, sizeof why), RAGD_EFORMAT);
    ASSERT_EQ_INT(rerank__remote_parse("{\"data\":1}", 10, 3, s, why, sizeof why), RAGD_EFORMAT);
}

/* A remote on a closed loopback port degrades (never an error, never scores). */
TEST(remote_unreachable_degrades)
{
    rerank_opts o;
    rerank_default_opts(&o);
    o.remote.url = "http://127.0.0.1:9/rerank";
    o.remote.model = "rerank-test";
    o.remote.timeout_ms = 2000;
    rerank_t *r = NULL;
    ragd_error err;
    ASSERT_OK(rerank_create(&o, &r, &err));
    ASSERT_EQ_INT(rerank_get_kind(r), RERANK_REMOTE);
    ASSERT_EQ_STR(rerank_model_name(r), "rerank-test");
    const char *d[2] = {"a", "b"};
    size_t l[2] = {1, 1};
    float s[2];
    rerank_outcome out;
    int rc = rerank_score(r, "q", 1, d, l, 2, NULL, s, &out);
    rerank_destroy(r);
    ASSERT_OK(rc);
    ASSERT_TRUE(out.degraded);
    ASSERT_EQ_INT(out.scored, 0);
    ASSERT_TRUE(isnan(s[0]) && isnan(s[1]));
    ASSERT_TRUE(strstr(out.reason, "unreachable") != NULL);
}

int main(void)
{
    if (find_model() != 0 || load_fixture() != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(pair_encoding_matches_transformers);
    RUN(scores_native);
    RUN(scores_avx512);
    RUN(scores_avx2);
    RUN(scores_portable);
    RUN(scores_bf16);
    RUN(service_scores_and_depth);
    RUN(service_passes_go_through_the_scheduler);
    RUN(service_budget_stops_after_first_batch);
    RUN(service_errors);
    RUN(order_scored_then_unscored);
    RUN(remote_answer_parser);
    RUN(remote_unreachable_degrades);
    for (size_t i = 0; i < g_n; i++)
        free(g_pairs[i].ids);
    free(g_pairs);
    cJSON_Delete(g_root);
    return TEST_REPORT();
}
