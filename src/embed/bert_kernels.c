/*
 * bert_kernels.c - the portable kernel table (OpenBLAS SGEMM plus scalar
 * epilogue, LayerNorm, softmax, GELU with libm's erf) and the BF16 weight
 * packing for AMX. The vector tables (bert_kernels_x86.c) reuse its FP32 GEMM
 * and epilogue for tails; bert_load.c chooses the table.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "embed/bert_int.h"
#include "util/mem.h"

static float bk__gelu1(float x, int kind)
{
    if (kind == 1)
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

void bert__epilogue_portable(const bert_gemm_args *g, float *c, size_t ldc, size_t rows, int c0,
                             int c1)
{
    const float *bias = g->l->b;
    for (size_t i = 0; i < rows; i++) {
        float *row = c + i * ldc;
        const float *r = g->resid ? g->resid + i * g->ldc : NULL;
        for (int j = c0; j < c1; j++) {
            float v = row[j] + bias[j];
            if (r)
                v += r[j];
            if (g->gelu)
                v = bk__gelu1(v, g->gelu);
            row[j] = v;
        }
    }
}

void bert__gemm_fp32(const bert_gemm_args *g, void *scratch)
{
    const bert_linear *l = g->l;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->rows, g->c1 - g->c0, l->k, 1.0f,
                g->a, (int)g->lda, l->w + (size_t)g->c0 * l->k, l->k, 0.0f, g->c + g->c0,
                (int)g->ldc);
}

static void bk__gemm(const bert_gemm_args *g, void *scratch)
{
    bert__gemm_fp32(g, scratch);
    bert__epilogue_portable(g, g->c, g->ldc, g->rows, g->c0, g->c1);
}

static void bk__layernorm(float *x, size_t n, const float *g, const float *b, float eps)
{
    float mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (float)n;
    for (size_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float rstd = 1.0f / sqrtf(var / (float)n + eps);
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

static void bk__softmax(float *x, size_t n)
{
    float mx = x[0], sum = 0;
    for (size_t i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

static void bk__gelu(float *x, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++)
        x[i] = bk__gelu1(x[i], kind);
}

const bert_kernels bert__kernels_portable = {
    "portable", bk__gemm, bk__layernorm, bk__softmax, bk__gelu, 0, 0,
};

static uint16_t bk__to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

/* B tile (16 rows x 16 column pairs) for columns n0..n0+15, inputs k0..k0+31:
 * row r holds, per output column j, W[n0+j][k0+2r] and W[n0+j][k0+2r+1]. Tiles
 * are stored column block by column block, K blocks contiguous. */
uint16_t *bert__pack_bf16(const float *w, int n, int k)
{
    uint16_t *p = xmalloc((size_t)n * k * sizeof *p);
    int kb = k / 32;
    for (int nb = 0; nb < n / 16; nb++)
        for (int b = 0; b < kb; b++) {
            uint16_t *t = p + ((size_t)nb * kb + b) * 512;
            for (int r = 0; r < 16; r++)
                for (int j = 0; j < 16; j++) {
                    const float *src = w + (size_t)(nb * 16 + j) * k + b * 32 + 2 * r;
                    t[r * 32 + 2 * j] = bk__to_bf16(src[0]);
                    t[r * 32 + 2 * j + 1] = bk__to_bf16(src[1]);
                }
        }
    return p;
}
