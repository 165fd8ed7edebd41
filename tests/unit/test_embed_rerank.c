/*
 * test_embed_rerank.c - the cross-encoder path (sequence-classification head)
 * on a constructed tiny BERT (tests/fixtures/rerank_tiny, written with its
 * reference scores by make_tiny_cross_fixture.py): pair token ids equal to the HF
 * tokenizer's, and scores/logits equal to sentence-transformers' CrossEncoder
 * on every CPU path (BF16 within a looser bound).
 */
#include <math.h>
#include <stdlib.h>

#include "embed/embed.h"
#include "embed_fixture.h"
#include "cpu_levels.h"
#include "testing.h"
#include "util/cpu.h"

typedef struct pair_ref {
    char *q, *d;
    double score, logit;
    int32_t ids[128];
    size_t nids;
} pair_ref;

static pair_ref g_p[64];
static size_t g_np;
static int g_maxlen;
static char g_dir[600];

static int load_ref(void)
{
    char dir[512], path[600];
    size_t len;
    fx__dir(dir, sizeof dir);
    snprintf(g_dir, sizeof g_dir, "%s/rerank_tiny", dir);
    snprintf(path, sizeof path, "%s/tiny_cross_ref.json", dir);
    char *js = fx__slurp(path, &len);
    if (!js)
        return -1;
    cJSON *root = cJSON_Parse(js);
    free(js);
    g_maxlen = cJSON_GetObjectItem(root, "max_length")->valueint;
    cJSON *pairs = cJSON_GetObjectItem(root, "pairs"), *sc = cJSON_GetObjectItem(root, "scores");
    cJSON *lg = cJSON_GetObjectItem(root, "logits"), *ids = cJSON_GetObjectItem(root, "ids");
    for (cJSON *p = pairs->child; p && g_np < 64; p = p->next, g_np++) {
        pair_ref *r = &g_p[g_np];
        r->q = strdup(cJSON_GetArrayItem(p, 0)->valuestring);
        r->d = strdup(cJSON_GetArrayItem(p, 1)->valuestring);
        r->score = cJSON_GetArrayItem(sc, (int)g_np)->valuedouble;
        r->logit = cJSON_GetArrayItem(lg, (int)g_np)->valuedouble;
        for (cJSON *v = cJSON_GetArrayItem(ids, (int)g_np)->child; v && r->nids < 128; v = v->next)
            r->ids[r->nids++] = v->valueint;
    }
    cJSON_Delete(root);
    return 0;
}

static embed_model *open_tiny(const char *level, embed_precision p)
{
    setenv("RAGD_CPU", level, 1);
    cpu_features_reset();
    embed_opts o;
    embed_default_opts(&o);
    o.precision = p;
    o.max_tokens = (size_t)g_maxlen;
    embed_model *m = NULL;
    ragd_error err;
    if (embed_model_open(g_dir, &o, &m, &err) != 0)
        fprintf(stderr, "  open %s: %s\n", g_dir, err.msg);
    return m;
}

TEST(pair_ids_match_reference)
{
    embed_model *m = open_tiny("native", EMBED_FP32);
    ASSERT_TRUE(m != NULL);
    ASSERT_TRUE(embed_model_has_classifier(m));
    ASSERT_EQ_INT(embed_model_num_labels(m), 1);
    int32_t ids[128], tt[128];
    for (size_t i = 0; i < g_np; i++) {
        size_t n;
        ASSERT_OK(wordpiece_encode_pair(embed_model_tokenizer(m), g_p[i].q, strlen(g_p[i].q),
                                        g_p[i].d, strlen(g_p[i].d), (size_t)g_maxlen, ids, tt, &n,
                                        NULL));
        ASSERT_EQ_INT(n, g_p[i].nids);
        ASSERT_EQ_INT(memcmp(ids, g_p[i].ids, n * sizeof *ids), 0);
    }
    embed_model_close(m);
}

/* Scores on one CPU level, run by the kernel table `kernel`. */
static void check_scores(const char *level, const char *kernel, embed_precision p, double tol)
{
    embed_model *m = open_tiny(level, p);
    ASSERT_TRUE(m != NULL);
    if (strcmp(embed_model_kernel(m), kernel) != 0) {
        fprintf(stderr, "  RAGD_CPU=%s ran kernel %s, expected %s\n", level,
                embed_model_kernel(m), kernel);
        embed_model_close(m);
        ASSERT_TRUE(0);
    }
    double worst = 0;
    for (size_t i = 0; i < g_np; i++) {
        const char *d = g_p[i].d;
        size_t dl = strlen(d);
        float s, lg;
        ASSERT_OK(embed_score_pairs(m, g_p[i].q, strlen(g_p[i].q), &d, &dl, 1, &s, &lg));
        double e = fabs(lg - g_p[i].logit);
        worst = e > worst ? e : worst;
        ASSERT_NEAR(s, g_p[i].score, tol);
        ASSERT_NEAR(lg, g_p[i].logit, tol * 4);
    }
    /* a batch of documents for one query gives the same scores as one by one */
    const char *docs[2] = {g_p[0].d, g_p[1].d};
    size_t lens[2] = {strlen(docs[0]), strlen(docs[1])};
    float s2[2];
    ASSERT_OK(embed_score_pairs(m, g_p[0].q, strlen(g_p[0].q), docs, lens, 2, s2, NULL));
    ASSERT_NEAR(s2[0], g_p[0].score, tol);
    ASSERT_NEAR(s2[1], g_p[1].score, tol);
    fprintf(stderr, "  RAGD_CPU=%s %s kernel %s: max |logit error| %.2e\n", level,
            p == EMBED_BF16 ? "bf16" : "fp32", embed_model_kernel(m), worst);
    embed_model_close(m);
}

TEST(scores_avx512)
{
    if (!cpu_native_avx512())
        SKIP("the CPU lacks AVX-512F/BW/VL: the avx512 kernels cannot run");
    check_scores("avx512", "avx512", EMBED_FP32, 2e-5);
}
TEST(scores_portable) { check_scores("portable", "portable", EMBED_FP32, 2e-5); }
TEST(scores_bf16)
{
    if (cpu_native_amx_bf16()) {
        check_scores("native", "amx-bf16", EMBED_BF16, 5e-3);
        return;
    }
    if (cpu_native_avx512_bf16()) {
        check_scores("native", "avx512-bf16", EMBED_BF16, 5e-3);
        return;
    }
    const char *fallback = cpu_native_avx512() ? "avx512" : "portable";
    check_scores("native", fallback, EMBED_BF16, 2e-5);
    if (!t__cur_failed)
        SKIP("the CPU lacks AVX512-BF16: bf16 ran as fp32 on the %s kernels (checked)", fallback);
}

/* The AVX512-BF16 kernels (AMD Zen 4/5), forced by hiding AMX. */
TEST(scores_bf16_avx512)
{
    if (!cpu_native_avx512_bf16())
        SKIP("the CPU lacks AVX512-BF16: the avx512-bf16 kernels cannot run");
    check_scores("avx512", "avx512-bf16", EMBED_BF16, 5e-3);
}

int main(void)
{
    if (load_ref() != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(pair_ids_match_reference);
    RUN(scores_avx512);
    RUN(scores_portable);
    RUN(scores_bf16);
    RUN(scores_bf16_avx512);
    for (size_t i = 0; i < g_np; i++) {
        free(g_p[i].q);
        free(g_p[i].d);
    }
    return TEST_REPORT();
}
