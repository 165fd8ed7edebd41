/*
 * test_bert.c - the encoder's parkable passes (src/embed/bert_forward.c): a
 * pass on a workspace of its own, parked after every phase of every encoder
 * layer while other passes run in between (on a second workspace, and on the
 * model's own), gives vectors bit-identical to the same pass run straight through, and so do the
 * passes run in between; on every kernel table the CPU has (portable and
 * AVX-512 FP32, AVX512-BF16 and AMX BF16; a visible SKIP for the ones it
 * lacks). The engine has no INT8 kernels, so there is no INT8 case.
 */
#include <stdlib.h>
#include <string.h>

#include "embed/bert.h"
#include "embed_fixture.h"
#include "cpu_levels.h"
#include "testing.h"
#include "util/cpu.h"

#define DIM 384

static fx_fixture g_fx;
static char g_dir[512];

/* A packed batch of fixture texts [from, from + n). */
typedef struct fx_batch {
    bert_batch b;
    int32_t *ids;
    size_t *off;
} fx_batch;

static void batch_make(fx_batch *fb, size_t from, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += g_fx.t[from + i].nids;
    fb->ids = malloc(total * sizeof *fb->ids);
    fb->off = malloc((n + 1) * sizeof *fb->off);
    fb->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const fx_text *t = &g_fx.t[from + i];
        memcpy(fb->ids + fb->off[i], t->ids, t->nids * sizeof *fb->ids);
        fb->off[i + 1] = fb->off[i] + t->nids;
    }
    fb->b = (bert_batch){ n, fb->ids, NULL, fb->off };
}

static void batch_free(fx_batch *fb)
{
    free(fb->ids);
    free(fb->off);
}

/* What the yield callback runs: at odd boundaries a large batch on the second
 * workspace (larger than the parked one, so sharing would overwrite it), at
 * even ones a small batch on the model's own workspace; each compared with its
 * straight-through vectors. */
typedef struct interloper {
    bert_model *m;
    bert_workspace *ws;
    const fx_batch *big, *small;
    const float *big_ref, *small_ref;
    float *out;
    int yields, wrong;
} interloper;

static void interlope(void *ud)
{
    interloper *x = ud;
    bool odd = x->yields++ % 2 == 0;
    const fx_batch *fb = odd ? x->big : x->small;
    bert_run r = { x->ws, NULL, NULL };
    if (bert_encode_pooled(x->m, odd ? &r : NULL, &fb->b, BERT_POOL_MEAN, true, x->out) != 0 ||
        memcmp(x->out, odd ? x->big_ref : x->small_ref, fb->b.n * DIM * sizeof(float)) != 0)
        x->wrong++;
}

/* One kernel table: open at `level` and precision p, check it ran `kernel`,
 * then park a pass after every layer and compare bit for bit. */
static void check_parked(const char *level, bert_precision p, const char *kernel)
{
    setenv("RAGD_CPU", level, 1);
    cpu_features_reset();
    bert_opts o = { p, 0 };
    bert_model *m = NULL;
    ragd_error err;
    ASSERT_OK(bert_open(g_dir, &o, &m, &err));
    char ran[32];
    snprintf(ran, sizeof ran, "%s", bert_kernel_name(m));
    fx_batch bulk, big, small;
    batch_make(&bulk, 53, 7);   /* 3 to 102 word pieces, 145 in all */
    batch_make(&big, 25, 6);    /* 228 word pieces */
    batch_make(&small, 60, 2);
    float *ref = malloc(bulk.b.n * DIM * sizeof *ref), *got = malloc(bulk.b.n * DIM * sizeof *got);
    float *big_ref = malloc(big.b.n * DIM * sizeof *big_ref);
    float *small_ref = malloc(small.b.n * DIM * sizeof *small_ref);
    float *scratch = malloc(big.b.n * DIM * sizeof *scratch);
    ASSERT_OK(bert_encode_pooled(m, NULL, &bulk.b, BERT_POOL_MEAN, true, ref));
    ASSERT_OK(bert_encode_pooled(m, NULL, &big.b, BERT_POOL_MEAN, true, big_ref));
    ASSERT_OK(bert_encode_pooled(m, NULL, &small.b, BERT_POOL_MEAN, true, small_ref));
    bert_workspace *ws_bulk = bert_workspace_create(), *ws_int = bert_workspace_create();
    interloper x = { m, ws_int, &big, &small, big_ref, small_ref, scratch, 0, 0 };
    bert_run run = { ws_bulk, interlope, &x };
    int rc = bert_encode_pooled(m, &run, &bulk.b, BERT_POOL_MEAN, true, got);
    bool same = rc == 0 && memcmp(got, ref, bulk.b.n * DIM * sizeof *got) == 0;
    /* the parked workspace is reused: a second parked pass is as exact */
    x.yields = 0;
    rc |= bert_encode_pooled(m, &run, &bulk.b, BERT_POOL_MEAN, true, got);
    same = same && rc == 0 && memcmp(got, ref, bulk.b.n * DIM * sizeof *got) == 0;
    int layers = bert_get_config(m)->layers;
    fprintf(stderr, "  RAGD_CPU=%s %s kernel %s: %d yields, %s\n", level,
            p == BERT_BF16 ? "bf16" : "fp32", ran, x.yields, same ? "bit-identical" : "DIFFERENT");
    bert_workspace_destroy(ws_bulk);
    bert_workspace_destroy(ws_int);
    bert_close(m);
    batch_free(&bulk);
    batch_free(&big);
    batch_free(&small);
    free(ref);
    free(got);
    free(big_ref);
    free(small_ref);
    free(scratch);
    ASSERT_EQ_STR(ran, kernel);
    ASSERT_EQ_INT(x.yields, layers * BERT_YIELDS_PER_LAYER);
    ASSERT_EQ_INT(x.wrong, 0);
    ASSERT_TRUE(same);
}

TEST(parked_portable) { check_parked("portable", BERT_FP32, "portable"); }

TEST(parked_avx512)
{
    if (!cpu_native_avx512())
        SKIP("the CPU lacks AVX-512F/BW/VL: the avx512 kernels cannot run");
    check_parked("avx512", BERT_FP32, "avx512");
}

TEST(parked_bf16_avx512)
{
    if (!cpu_native_avx512_bf16())
        SKIP("the CPU lacks AVX512-BF16: the avx512-bf16 kernels cannot run");
    check_parked("avx512", BERT_BF16, "avx512-bf16");
}

TEST(parked_bf16_amx)
{
    if (!cpu_native_amx_bf16())
        SKIP("the CPU lacks AMX-BF16: the amx-bf16 kernels cannot run");
    check_parked("native", BERT_BF16, "amx-bf16");
}

/* Without a workspace of its own a pass is never parked: yield is ignored. */
TEST(own_workspace_never_parks)
{
    unsetenv("RAGD_CPU");
    cpu_features_reset();
    bert_model *m = NULL;
    ragd_error err;
    ASSERT_OK(bert_open(g_dir, NULL, &m, &err));
    fx_batch small;
    batch_make(&small, 60, 2);
    float out[2 * DIM];
    interloper x = { 0 };
    bert_run run = { NULL, interlope, &x };
    int rc = bert_encode_pooled(m, &run, &small.b, BERT_POOL_MEAN, true, out);
    batch_free(&small);
    bert_close(m);
    ASSERT_OK(rc);
    ASSERT_EQ_INT(x.yields, 0);
}

int main(void)
{
    if (fx_model_dir(g_dir, sizeof g_dir) != 0 || fx_load(&g_fx) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(parked_portable);
    RUN(parked_avx512);
    RUN(parked_bf16_avx512);
    RUN(parked_bf16_amx);
    RUN(own_workspace_never_parks);
    fx_free(&g_fx);
    return TEST_REPORT();
}
