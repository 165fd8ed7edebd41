/*
 * bert_kernels_x86.c - AVX-512 and AMX kernels for the BERT forward pass:
 * vector exp and erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7) for softmax
 * and GELU, LayerNorm, the GEMM epilogue, an FP32 GEMM on packed panels, a
 * BF16 GEMM on AVX512-BF16 dot products (vdpbf16ps, for CPUs without AMX such
 * as AMD Zen 4/5) and a BF16 GEMM on AMX tiles (2x2 blocks of 16x16 FP32
 * accumulators). Both BF16 GEMMs read the same weights, pre-packed in AMX
 * B-tile order, and round activations to BF16 per call. Compiled per function
 * with target attributes and chosen at run time, so the build needs no -march.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "embed/bert_int.h"
#include "util/mem.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
/* the register-blocked micro-kernel relies on full unrolling and scalar
 * replacement of its accumulator array, so it is optimised even in -O1
 * (sanitizer) builds */
#define VX_HOT __attribute__((optimize("O2")))
#define AVXBF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

AVX512 static inline __m512 vx__exp(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-103.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

AVX512 static inline __m512 vx__erf(__m512 x)
{
    __m512 ax = _mm512_abs_ps(x);
    __m512 d = _mm512_fmadd_ps(ax, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
    __m512 t = _mm512_rcp14_ps(d); /* one Newton step: ~1e-8 relative */
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = vx__exp(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), ax));
    __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    /* copy the sign of x */
    return _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(y),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
}

AVX512 static inline __m512 vx__gelu(__m512 x, int kind)
{
    __m512 half = _mm512_mul_ps(x, _mm512_set1_ps(0.5f)), e;
    if (kind == 1) {
        e = vx__erf(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
    } else { /* tanh(u) = 1 - 2 / (exp(2u) + 1) */
        __m512 u = _mm512_mul_ps(
            _mm512_set1_ps(0.7978845608028654f),
            _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(x, x), x), _mm512_set1_ps(0.044715f), x));
        __m512 ex = vx__exp(_mm512_add_ps(u, u));
        e = _mm512_sub_ps(_mm512_set1_ps(1.0f),
                          _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(ex, _mm512_set1_ps(1.0f))));
    }
    return _mm512_fmadd_ps(half, e, half);
}

static inline __mmask16 vx__tail(size_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* dst[j] = gelu?(src[j] + bias[j] + resid[j]) for j < n (resid may be NULL). */
AVX512 static void vx__epi_row(float *dst, const float *src, const float *bias, const float *resid,
                               size_t n, int gelu)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = vx__tail(n - j);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, src + j), _mm512_maskz_loadu_ps(m, bias + j));
        if (resid)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, resid + j));
        if (gelu)
            v = vx__gelu(v, gelu);
        _mm512_mask_storeu_ps(dst + j, m, v);
    }
}

AVX512 static void vx__gemm(const bert_gemm_args *g, void *scratch)
{
    bert__gemm_fp32(g, scratch);
    size_t w = (size_t)(g->c1 - g->c0);
    for (size_t i = 0; i < g->rows; i++) {
        float *row = g->c + i * g->ldc + g->c0;
        vx__epi_row(row, row, g->l->b + g->c0, g->resid ? g->resid + i * g->ldc + g->c0 : NULL, w,
                    g->gelu);
    }
}

AVX512 static void vx__layernorm(float *x, size_t n, const float *g, const float *b, float eps)
{
    __m512 s = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16)
        s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(vx__tail(n - j), x + j));
    float mean = _mm512_reduce_add_ps(s) / (float)n;
    __m512 mv = _mm512_set1_ps(mean), q = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = vx__tail(n - j);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + j), mv);
        q = _mm512_fmadd_ps(d, d, q);
    }
    float rstd = 1.0f / sqrtf(_mm512_reduce_add_ps(q) / (float)n + eps);
    __m512 rv = _mm512_set1_ps(rstd);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = vx__tail(n - j);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv), rv);
        d = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, g + j), _mm512_maskz_loadu_ps(m, b + j));
        _mm512_mask_storeu_ps(x + j, m, d);
    }
}

AVX512 static void vx__softmax(float *x, size_t n)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (size_t j = 0; j < n; j += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), vx__tail(n - j), x + j));
    __m512 mv = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), s = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = vx__tail(n - j);
        __m512 e = vx__exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv));
        e = _mm512_maskz_mov_ps(m, e);
        s = _mm512_add_ps(s, e);
        _mm512_mask_storeu_ps(x + j, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = vx__tail(n - j);
        _mm512_mask_storeu_ps(x + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), inv));
    }
}

AVX512 static void vx__gelu_arr(float *x, size_t n, int kind)
{
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = vx__tail(n - j);
        _mm512_mask_storeu_ps(x + j, m, vx__gelu(_mm512_maskz_loadu_ps(m, x + j), kind));
    }
}

/* ---- FP32 GEMM on pre-packed weights ----
 * W [n, k] is packed in panels of 32 output columns, each k rows of 32 floats,
 * so the micro-kernel streams one panel while 12 rows of A are broadcast:
 * 24 accumulators, 24 FMAs per 2 panel loads, and the epilogue (bias,
 * residual, GELU) is applied from registers. */
#define VX_MR 12

float *bert__pack_fp32(const float *w, int n, int k)
{
    float *p = xmalloc((size_t)n * k * sizeof *p);
    for (int n0 = 0; n0 < n; n0 += 32)
        for (int kk = 0; kk < k; kk++)
            for (int j = 0; j < 32; j++)
                p[(size_t)n0 * k + (size_t)kk * 32 + j] = w[(size_t)(n0 + j) * k + kk];
    return p;
}

/* The micro-kernels' epilogue, from registers: rows [0, mr) of the 32-column
 * accumulator block get bias [+ residual] [GELU] and are stored to c. */
AVX512 VX_HOT static inline __attribute__((always_inline)) void
vx__store_block(const int mr, __m512 acc[VX_MR][2], const float *bias, const float *resid,
                size_t ldr, float *c, size_t ldc, int gelu)
{
    __m512 bs0 = _mm512_loadu_ps(bias), bs1 = _mm512_loadu_ps(bias + 16);
#pragma GCC unroll 12
    for (int r = 0; r < VX_MR; r++)
        if (r < mr) {
            __m512 v0 = _mm512_add_ps(acc[r][0], bs0), v1 = _mm512_add_ps(acc[r][1], bs1);
            if (resid) {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(resid + (size_t)r * ldr));
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(resid + (size_t)r * ldr + 16));
            }
            if (gelu) {
                v0 = vx__gelu(v0, gelu);
                v1 = vx__gelu(v1, gelu);
            }
            _mm512_storeu_ps(c + (size_t)r * ldc, v0);
            _mm512_storeu_ps(c + (size_t)r * ldc + 16, v1);
        }
}

AVX512 VX_HOT static inline __attribute__((always_inline)) void
vx__micro(const int mr, const float *a, size_t lda, const float *b, int k, const float *bias,
          const float *resid, size_t ldr, float *c, size_t ldc, int gelu)
{
    __m512 acc[VX_MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < VX_MR; r++)
        if (r < mr)
            acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(b + (size_t)p * 32), b1 = _mm512_loadu_ps(b + (size_t)p * 32 + 16);
#pragma GCC unroll 12
        for (int r = 0; r < VX_MR; r++)
            if (r < mr) {
                __m512 av = _mm512_set1_ps(a[(size_t)r * lda + p]);
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            }
    }
    vx__store_block(mr, acc, bias, resid, ldr, c, ldc, gelu);
}

/* A switch over mr = 1..VX_MR calling micro(mr, args...) with a constant mr,
 * so each case is fully unrolled with its accumulators in registers. */
#define VX_MICRO_CASE(n, micro, ...) \
    case n:                          \
        micro(n, __VA_ARGS__);       \
        break;
#define VX_MICRO_SWITCH(mr, micro, ...)                                                  \
    switch (mr) {                                                                        \
        VX_MICRO_CASE(1, micro, __VA_ARGS__) VX_MICRO_CASE(2, micro, __VA_ARGS__)        \
        VX_MICRO_CASE(3, micro, __VA_ARGS__) VX_MICRO_CASE(4, micro, __VA_ARGS__)        \
        VX_MICRO_CASE(5, micro, __VA_ARGS__) VX_MICRO_CASE(6, micro, __VA_ARGS__)        \
        VX_MICRO_CASE(7, micro, __VA_ARGS__) VX_MICRO_CASE(8, micro, __VA_ARGS__)        \
        VX_MICRO_CASE(9, micro, __VA_ARGS__) VX_MICRO_CASE(10, micro, __VA_ARGS__)       \
        VX_MICRO_CASE(11, micro, __VA_ARGS__) VX_MICRO_CASE(12, micro, __VA_ARGS__)      \
    }

AVX512 VX_HOT static void vx__micro_any(int mr, const float *a, size_t lda, const float *b, int k,
                                 const float *bias, const float *resid, size_t ldr, float *c,
                                 size_t ldc, int gelu)
{
    VX_MICRO_SWITCH(mr, vx__micro, a, lda, b, k, bias, resid, ldr, c, ldc, gelu)
}

AVX512 static void vx__gemm_packed(const bert_gemm_args *g, void *scratch)
{
    const bert_linear *l = g->l;
    if (!l->wpf || g->c0 % 32 || g->c1 % 32) {
        vx__gemm(g, scratch);
        return;
    }
    for (int n0 = g->c0; n0 < g->c1; n0 += 32) {
        const float *b = l->wpf + (size_t)n0 * l->k;
        for (size_t m0 = 0; m0 < g->rows; m0 += VX_MR) {
            int mr = g->rows - m0 < VX_MR ? (int)(g->rows - m0) : VX_MR;
            vx__micro_any(mr, g->a + m0 * g->lda, g->lda, b, l->k, l->b + n0,
                          g->resid ? g->resid + m0 * g->ldc + n0 : NULL, g->ldc,
                          g->c + m0 * g->ldc + n0, g->ldc, g->gelu);
        }
    }
}

const bert_kernels bert__kernels_avx512 = {
    "avx512", vx__gemm_packed, vx__layernorm, vx__softmax, vx__gelu_arr, 0, 1,
};

/* ---- BF16 GEMM on AVX512-BF16 dot products ----
 * The packed B tiles hold, per 16 output columns, k/2 rows of 16 (W[j][p],
 * W[j][p+1]) pairs, contiguous over K: exactly the operand of vdpbf16ps with a
 * broadcast (A[r][p], A[r][p+1]) pair. The micro-kernel is the FP32 one's
 * shape (12 rows x 32 columns, 24 accumulators), each instruction doing two
 * multiply-adds per lane, so twice the FP32 work per instruction. */

/* Round rows [0, rows) of a (lda) to BF16 in dst (rows_p x k), zero padding rows. */
AVXBF16 static void vb__convert_a(const float *a, size_t lda, size_t rows, size_t rows_p, int k,
                                  uint16_t *dst)
{
    for (size_t i = 0; i < rows; i++)
        for (int j = 0; j < k; j += 16) {
            __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(a + i * lda + j));
            _mm256_storeu_si256((__m256i *)(dst + i * (size_t)k + j), (__m256i)h);
        }
    memset(dst + rows * (size_t)k, 0, (rows_p - rows) * (size_t)k * sizeof *dst);
}

AVXBF16 VX_HOT static inline __attribute__((always_inline)) void
vb__micro(const int mr, const uint16_t *a, const uint16_t *b0, const uint16_t *b1, int k,
          const float *bias, const float *resid, size_t ldr, float *c, size_t ldc, int gelu)
{
    __m512 acc[VX_MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < VX_MR; r++)
        if (r < mr)
            acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 2) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(b0 + (size_t)p * 16);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(b1 + (size_t)p * 16);
#pragma GCC unroll 12
        for (int r = 0; r < VX_MR; r++)
            if (r < mr) {
                int32_t pair;
                memcpy(&pair, a + (size_t)r * k + p, sizeof pair);
                __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, w0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, w1);
            }
    }
    vx__store_block(mr, acc, bias, resid, ldr, c, ldc, gelu);
}

AVXBF16 VX_HOT static void vb__micro_any(int mr, const uint16_t *a, const uint16_t *b0,
                                         const uint16_t *b1, int k, const float *bias,
                                         const float *resid, size_t ldr, float *c, size_t ldc,
                                         int gelu)
{
    VX_MICRO_SWITCH(mr, vb__micro, a, b0, b1, k, bias, resid, ldr, c, ldc, gelu)
}

AVXBF16 static void vb__gemm(const bert_gemm_args *g, void *scratch)
{
    const bert_linear *l = g->l;
    int k = l->k;
    if (!l->wp || g->c0 % 32 || g->c1 % 32 || g->rows * (size_t)k * 2 > BERT_GEMM_SCRATCH) {
        vx__gemm(g, scratch);
        return;
    }
    uint16_t *abuf = scratch;
    vb__convert_a(g->a, g->lda, g->rows, g->rows, k, abuf);
    size_t panel = (size_t)k * 16; /* one 16-column block of packed B */
    for (int n0 = g->c0; n0 < g->c1; n0 += 32) {
        const uint16_t *b0 = l->wp + (size_t)(n0 / 16) * panel;
        for (size_t m0 = 0; m0 < g->rows; m0 += VX_MR) {
            int mr = g->rows - m0 < VX_MR ? (int)(g->rows - m0) : VX_MR;
            vb__micro_any(mr, abuf + m0 * (size_t)k, b0, b0 + panel, k, l->b + n0,
                          g->resid ? g->resid + m0 * g->ldc + n0 : NULL, g->ldc,
                          g->c + m0 * g->ldc + n0, g->ldc, g->gelu);
        }
    }
}

const bert_kernels bert__kernels_avx512_bf16 = {
    "avx512-bf16", vb__gemm, vx__layernorm, vx__softmax, vx__gelu_arr, 1, 0,
};

/* ---- AMX BF16 GEMM ---- */

typedef struct amx__cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx__cfg;

AMX static void amx__config(void)
{
    amx__cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.colsb[t] = 64;
        c.rows[t] = 16;
    }
    __asm__ volatile("" : : "r"(&c) : "memory"); /* keep the stores: GCC may drop them */
    _tile_loadconfig(&c);
}

/* One block of 16 or 32 rows (tall) times 16 or 32 columns (two) into cb
 * (32 x 32 floats, row stride 32). */
AMX static void amx__block(const uint16_t *a, int k, const uint16_t *b0, const uint16_t *b1,
                           float *cb, int two, int tall)
{
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    size_t sa = (size_t)k * 2;
    const uint16_t *a1 = a + 16 * (size_t)k;
    if (tall && two) {
        for (int kb = 0; kb < k / 32; kb++) {
            _tile_loadd(4, a + kb * 32, sa);
            _tile_loadd(5, a1 + kb * 32, sa);
            _tile_loadd(6, b0 + (size_t)kb * 512, 64);
            _tile_loadd(7, b1 + (size_t)kb * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
        }
    } else {
        for (int kb = 0; kb < k / 32; kb++) {
            _tile_loadd(4, a + kb * 32, sa);
            _tile_loadd(6, b0 + (size_t)kb * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            if (tall) {
                _tile_loadd(5, a1 + kb * 32, sa);
                _tile_dpbf16ps(2, 5, 6);
            }
            if (two) {
                _tile_loadd(7, b1 + (size_t)kb * 512, 64);
                _tile_dpbf16ps(1, 4, 7);
            }
        }
    }
    _tile_stored(0, cb, 128);
    if (tall)
        _tile_stored(2, cb + 16 * 32, 128);
    if (two)
        _tile_stored(1, cb + 16, 128);
    if (tall && two)
        _tile_stored(3, cb + 16 * 32 + 16, 128);
}

AMX static void amx__gemm(const bert_gemm_args *g, void *scratch)
{
    const bert_linear *l = g->l;
    int k = l->k;
    size_t rows_p = (g->rows + 31) & ~(size_t)31;
    size_t need = rows_p * (size_t)k * 2 + 32 * 32 * sizeof(float);
    if (!l->wp || g->c0 % 16 || g->c1 % 16 || need > BERT_GEMM_SCRATCH) {
        vx__gemm(g, scratch);
        return;
    }
    float *cb = scratch;
    uint16_t *abuf = (uint16_t *)(cb + 32 * 32);
    vb__convert_a(g->a, g->lda, g->rows, rows_p, k, abuf);
    amx__config();
    size_t kb = (size_t)k / 32;
    /* column panels outside: a 32-column panel of B (K x 32 BF16) stays in L1
     * while every 32-row block of A streams past it from L2 */
    for (int n0 = g->c0; n0 < g->c1; n0 += 32) {
        int two = n0 + 32 <= g->c1;
        const uint16_t *b0 = l->wp + (size_t)(n0 / 16) * kb * 512;
        for (size_t m0 = 0; m0 < rows_p; m0 += 32) {
            size_t mr = g->rows - m0 < 32 ? g->rows - m0 : 32;
            amx__block(abuf + m0 * (size_t)k, k, b0, b0 + kb * 512, cb, two, mr > 16);
            for (size_t i = 0; i < mr; i++) {
                size_t r = m0 + i;
                vx__epi_row(g->c + r * g->ldc + n0, cb + i * 32, l->b + n0,
                            g->resid ? g->resid + r * g->ldc + n0 : NULL, two ? 32 : 16, g->gelu);
            }
        }
    }
    _tile_release();
}

const bert_kernels bert__kernels_amx = {
    "amx-bf16", amx__gemm, vx__layernorm, vx__softmax, vx__gelu_arr, 1, 0,
};
#endif
