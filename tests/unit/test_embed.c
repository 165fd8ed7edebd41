/*
 * test_embed.c - the embedding engine against sentence-transformers: every
 * fixture text's vector has cosine >= 0.9999 to the reference in FP32 on every
 * CPU path (RAGD_CPU=portable, avx2, avx512), and >= 0.999 to FP32 in BF16
 * on AMX and on AVX512-BF16 (each where the CPU has it; a visible SKIP
 * otherwise), with a BF16 request falling back to FP32 elsewhere; plus input order, token counts, truncation flags,
 * determinism across batch sizes, the model metadata and bad model dirs.
 */
#include <math.h>
#include <stdlib.h>

#include "embed/embed.h"
#include "embed_fixture.h"
#include "cpu_levels.h"
#include "testing.h"
#include "util/cpu.h"

static fx_fixture g_fx;
static char g_dir[512];

static double cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / (sqrt(na) * sqrt(nb) + 1e-30);
}

static float *g_fp32; /* avx512 FP32 vectors of every fixture text, for the BF16 check */

/* Embed the fixture texts (with short_only, the long ones only every 4th)
 * and return the minimum cosine to ref (the sentence-transformers vectors when
 * NULL); -1 when token counts or truncation flags are off. save (may be NULL)
 * gets the vectors at their fixture index. also/also_min: a second reference. */
static double min_cosine(embed_model *m, int short_only, const float *ref, float *save,
                         const float *also, double *also_min)
{
    size_t n = 0;
    const char **tx = malloc(g_fx.n * sizeof *tx);
    size_t *ln = malloc(g_fx.n * sizeof *ln), *idx = malloc(g_fx.n * sizeof *idx);
    for (size_t i = 0; i < g_fx.n; i++) {
        if (short_only && g_fx.t[i].count > 126 && i % 4 != 0)
            continue;
        tx[n] = g_fx.t[i].s;
        ln[n] = g_fx.t[i].len;
        idx[n++] = i;
    }
    float *out = malloc(n * 384 * sizeof *out);
    int *nt = malloc(n * sizeof *nt);
    bool *tr = malloc(n * sizeof *tr);
    double mn = 2;
    if (also_min)
        *also_min = 2;
    if (embed_encode(m, tx, ln, n, out, nt, tr) == 0) {
        for (size_t k = 0; k < n; k++) {
            const float *v = out + k * 384;
            double c = cosine(v, (ref ? ref : g_fx.ref) + idx[k] * 384, 384);
            mn = c < mn ? c : mn;
            if (also) {
                c = cosine(v, also + idx[k] * 384, 384);
                *also_min = c < *also_min ? c : *also_min;
            }
            if (save)
                memcpy(save + idx[k] * 384, v, 384 * sizeof *v);
            if ((size_t)nt[k] != g_fx.t[idx[k]].nids || tr[k] != (g_fx.t[idx[k]].count > 254))
                mn = -1;
        }
    } else {
        mn = -2;
    }
    free(tx);
    free(ln);
    free(idx);
    free(out);
    free(nt);
    free(tr);
    return mn;
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

/* FP32 on one CPU level: cosine >= 0.9999 to sentence-transformers, run by
 * the kernel table `kernel`. (AMX only changes BF16, so "native" FP32 runs the
 * avx512 kernels; the engine has no AVX2 table, so a CPU capped at AVX2 runs
 * the portable one, whose SGEMM is OpenBLAS' own AVX2 code.) */
static void check_level(const char *level, const char *kernel, int short_only, float *save)
{
    embed_model *m = open_level(level, EMBED_FP32);
    ASSERT_TRUE(m != NULL);
    double mn = min_cosine(m, short_only, NULL, save, NULL, NULL);
    fprintf(stderr, "  RAGD_CPU=%s fp32 kernel %s: min cosine %.7f\n", level, embed_model_kernel(m),
            mn);
    char ran[32];
    snprintf(ran, sizeof ran, "%s", embed_model_kernel(m));
    embed_model_close(m);
    ASSERT_EQ_STR(ran, kernel);
    ASSERT_TRUE(mn >= 0.9999);
}

TEST(parity_avx512)
{
    if (!cpu_native_avx512())
        SKIP("the CPU lacks AVX-512F/BW/VL: the avx512 kernels cannot run");
    check_level("avx512", "avx512", 0, g_fp32);
}
TEST(parity_avx2) { check_level("avx2", "portable", 1, NULL); }
TEST(parity_portable) { check_level("portable", "portable", 1, NULL); }

/* BF16 on one CPU level: run by `kernel`, cosine >= 0.999 to the FP32
 * engine's vectors (the bar of issue 9); its minimum cosine to
 * sentence-transformers is reported. */
static void check_bf16(const char *level, const char *kernel)
{
    embed_model *m = open_level(level, EMBED_BF16);
    ASSERT_TRUE(m != NULL);
    char ran[32];
    snprintf(ran, sizeof ran, "%s", embed_model_kernel(m));
    bool bf16 = embed_model_precision(m) == EMBED_BF16;
    double to_st, to_fp32 = min_cosine(m, 0, g_fp32, NULL, g_fx.ref, &to_st);
    fprintf(stderr, "  RAGD_CPU=%s bf16 kernel %s: min cosine %.6f to fp32, %.6f to "
            "sentence-transformers\n", level, ran, to_fp32, to_st);
    embed_model_close(m);
    ASSERT_EQ_STR(ran, kernel);
    ASSERT_TRUE(bf16);
    ASSERT_TRUE(to_fp32 >= 0.999);
}

TEST(parity_bf16_amx)
{
    if (!cpu_native_amx_bf16())
        SKIP("the CPU lacks AMX-BF16: the amx-bf16 kernels cannot run");
    check_bf16("native", "amx-bf16");
}

/* What AMD Zen 4/5 (AVX512-BF16, no AMX) runs; here forced by RAGD_CPU=avx512,
 * which hides AMX. */
TEST(parity_bf16_avx512)
{
    if (!cpu_native_avx512_bf16())
        SKIP("the CPU lacks AVX512-BF16: the avx512-bf16 kernels cannot run");
    check_bf16("avx512", "avx512-bf16");
}

/* Without any BF16 instructions a BF16 request runs FP32 (checked on the
 * portable kernels, which every CPU runs). */
TEST(bf16_falls_back_to_fp32)
{
    embed_model *m = open_level("avx2", EMBED_BF16);
    ASSERT_TRUE(m != NULL);
    bool fp32 = embed_model_precision(m) == EMBED_FP32;
    char ran[32];
    snprintf(ran, sizeof ran, "%s", embed_model_kernel(m));
    double mn = min_cosine(m, 1, NULL, NULL, NULL, NULL);
    embed_model_close(m);
    ASSERT_TRUE(fp32);
    ASSERT_EQ_STR(ran, "portable");
    ASSERT_TRUE(mn >= 0.9999);
}

/* EMBED_AUTO on one CPU level: FP32 measured first, then every BF16 kernel
 * the level has (expect_trials in all); the kernel in effect is the chosen
 * trial's, which passed the probe bar, and the default it picked holds
 * cosine >= 0.9999 to sentence-transformers on the whole fixture (natively;
 * the forced levels check the short texts and every 4th long one, to keep the
 * sanitizer build's run short). */
static void check_auto(const char *level, size_t expect_trials, const char *bf16_kernel,
                       int short_only)
{
    embed_model *m = open_level(level, EMBED_AUTO);
    ASSERT_TRUE(m != NULL);
    embed_precision_choice ch = *embed_model_precision_choice(m);
    char ran[32];
    snprintf(ran, sizeof ran, "%s", embed_model_kernel(m));
    embed_precision in_effect = embed_model_precision(m);
    double mn = min_cosine(m, short_only, NULL, NULL, NULL, NULL);
    embed_model_close(m);
    const embed_precision_trial *chosen = NULL;
    for (size_t i = 0; i < ch.ntrials; i++) {
        fprintf(stderr, "  RAGD_CPU=%s auto trial %s on %s: min cosine %.6f, %.1f cpu-ms%s\n",
                level, embed_precision_name(ch.trial[i].precision), ch.trial[i].kernel,
                ch.trial[i].min_cosine, ch.trial[i].cpu_ms, ch.trial[i].passed ? "" : " (fails)");
        if (ch.trial[i].precision == ch.chosen)
            chosen = &ch.trial[i];
    }
    fprintf(stderr, "  RAGD_CPU=%s auto chose %s on %s in %.0f ms (%zu texts, %zu tokens); "
            "fixture min cosine %.7f\n", level, embed_precision_name(ch.chosen), ran, ch.total_ms,
            ch.probe_texts, ch.probe_tokens, mn);
    ASSERT_TRUE(ch.measured);
    ASSERT_EQ_INT(ch.ntrials, expect_trials);
    ASSERT_EQ_INT(ch.trial[0].precision, EMBED_FP32);
    ASSERT_TRUE(ch.trial[0].passed && ch.trial[0].min_cosine == 1.0);
    if (bf16_kernel)
        ASSERT_EQ_STR(ch.trial[1].kernel, bf16_kernel);
    ASSERT_TRUE(chosen != NULL && chosen->passed);
    ASSERT_EQ_INT(in_effect, ch.chosen);
    ASSERT_EQ_STR(ran, chosen->kernel);
    ASSERT_TRUE(ch.probe_tokens > 300);
    ASSERT_TRUE(mn >= 0.9999);
}

TEST(precision_auto_native)
{
    if (cpu_native_amx_bf16())
        check_auto("native", 2, "amx-bf16", 0);
    else if (cpu_native_avx512_bf16())
        check_auto("native", 2, "avx512-bf16", 0);
    else
        check_auto("native", 1, NULL, 0);
}

TEST(precision_auto_avx512)
{
    if (!cpu_native_avx512_bf16())
        SKIP("the CPU lacks AVX512-BF16: no BF16 candidate without AMX");
    check_auto("avx512", 2, "avx512-bf16", 1);
}

/* Without BF16 instructions FP32 is the only candidate. */
TEST(precision_auto_fp32_only) { check_auto("avx2", 1, NULL, 1); }

/* A configured precision is not measured. */
TEST(precision_configured)
{
    embed_model *m = open_level("native", EMBED_FP32);
    ASSERT_TRUE(m != NULL);
    const embed_precision_choice *ch = embed_model_precision_choice(m);
    bool measured = ch->measured;
    size_t nt = ch->ntrials;
    embed_precision p = ch->chosen;
    embed_model_close(m);
    ASSERT_TRUE(!measured);
    ASSERT_EQ_INT(nt, 0);
    ASSERT_EQ_INT(p, EMBED_FP32);
}

TEST(metadata_and_order)
{
    embed_model *m = open_level("native", EMBED_FP32);
    ASSERT_TRUE(m != NULL);
    ASSERT_EQ_INT(embed_model_dim(m), 384);
    ASSERT_EQ_INT(embed_model_max_tokens(m), 256);
    ASSERT_EQ_STR(embed_model_name(m), "all-MiniLM-L6-v2");
    ASSERT_TRUE(embed_model_normalized(m));
    ASSERT_TRUE(!embed_model_has_classifier(m));
    ASSERT_TRUE(embed_model_tokenizer(m) != NULL);
    /* one text alone equals the same text inside a batch, in input order */
    const char *tx[3] = {g_fx.t[5].s, g_fx.t[1].s, g_fx.t[290].s};
    size_t ln[3] = {g_fx.t[5].len, g_fx.t[1].len, g_fx.t[290].len};
    float all[3 * 384], one[384];
    ASSERT_OK(embed_encode(m, tx, ln, 3, all, NULL, NULL));
    for (int k = 0; k < 3; k++) {
        ASSERT_OK(embed_encode(m, &tx[k], &ln[k], 1, one, NULL, NULL));
        ASSERT_TRUE(cosine(one, all + k * 384, 384) > 0.99999);
    }
    double nrm = 0;
    for (int j = 0; j < 384; j++)
        nrm += all[j] * all[j];
    ASSERT_NEAR(nrm, 1.0, 1e-4);
    ASSERT_EQ_INT(embed_encode(m, tx, ln, 0, all, NULL, NULL), RAGD_EINVAL);
    float sc;
    ASSERT_EQ_INT(embed_score_pairs(m, "q", 1, tx, ln, 1, &sc, NULL), RAGD_EUNSUPPORTED);
    embed_model_close(m);
}

TEST(bad_model_dir)
{
    embed_model *m = NULL;
    ragd_error err;
    ASSERT_EQ_INT(embed_model_open("/nonexistent/model", NULL, &m, &err), RAGD_ENOTFOUND);
    ASSERT_TRUE(m == NULL);
}

TEST(precision_parse)
{
    embed_precision p;
    ASSERT_OK(embed_precision_parse("BF16", &p));
    ASSERT_EQ_INT(p, EMBED_BF16);
    ASSERT_OK(embed_precision_parse("fp32", &p));
    ASSERT_EQ_INT(p, EMBED_FP32);
    ASSERT_OK(embed_precision_parse("Auto", &p));
    ASSERT_EQ_INT(p, EMBED_AUTO);
    ASSERT_EQ_STR(embed_precision_name(EMBED_BF16), "bf16");
    ASSERT_EQ_STR(embed_precision_name(EMBED_AUTO), "auto");
    ASSERT_EQ_INT(embed_precision_parse("int4", &p), RAGD_EINVAL);
    ASSERT_EQ_INT(embed_precision_parse(NULL, &p), RAGD_EINVAL);
}

int main(void)
{
    if (fx_model_dir(g_dir, sizeof g_dir) != 0 || fx_load(&g_fx) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(precision_parse);
    RUN(bad_model_dir);
    RUN(metadata_and_order);
    g_fp32 = calloc(g_fx.n * 384, sizeof *g_fp32);
    RUN(parity_avx512);
    RUN(parity_avx2);
    RUN(parity_portable);
    RUN(parity_bf16_amx);
    RUN(parity_bf16_avx512);
    RUN(bf16_falls_back_to_fp32);
    RUN(precision_configured);
    RUN(precision_auto_native);
    RUN(precision_auto_avx512);
    RUN(precision_auto_fp32_only);
    free(g_fp32);
    fx_free(&g_fx);
    return TEST_REPORT();
}
