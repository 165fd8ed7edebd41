/*
 * vec_kernels.c - the distance kernels. Portable C loops (4 accumulators so
 * the compiler can vectorise), AVX2/FMA and AVX-512 paths compiled with
 * per-function target attributes (the project is never built -march=native),
 * and a table per level; vec_kernels_get() picks the best the CPU allows.
 */
#include "index/vec_kernels.h"

#include <immintrin.h>
#include <math.h>

#include "util/cpu.h"

/* ---- portable ---- */

static float k_dot_portable(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float k_l2sq_portable(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

static int32_t k_dot_i8_portable(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

#if defined(__x86_64__)
/* ---- AVX2 + FMA ---- */

__attribute__((target("avx2,fma"))) static float k__hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static float k_dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = k__hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) static float k_l2sq_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
    }
    float s = k__hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

__attribute__((target("avx2"))) static int32_t k_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    int32_t r = _mm_cvtsi128_si32(s);
    for (; i < n; i++)
        r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}

/* ---- AVX-512 ---- */

__attribute__((target("avx512f"))) static float k_dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    s0 = _mm512_add_ps(s0, s1);
    if (i + 16 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(s0);
}

__attribute__((target("avx512f"))) static float k_l2sq_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    s0 = _mm512_add_ps(s0, s1);
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    return _mm512_reduce_add_ps(s0);
}

/* s8 x s8 with VNNI's u8 x s8 vpdpbusd: (a + 128) . b - 128 * sum(b). */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int32_t
k_dot_i8_vnni(const int8_t *a, const int8_t *b, size_t n)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80), ones = _mm512_set1_epi8(1);
    __m512i acc = _mm512_setzero_si512(), sb = _mm512_setzero_si512();
    size_t i = 0;
    for (; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        __m512i x = _mm512_maskz_loadu_epi8(m, a + i), y = _mm512_maskz_loadu_epi8(m, b + i);
        __m512i xu = _mm512_xor_si512(x, bias); /* a + 128 as u8; y is 0 past n */
        acc = _mm512_dpbusd_epi32(acc, xu, y);
        sb = _mm512_dpbusd_epi32(sb, ones, y);
    }
    return _mm512_reduce_add_epi32(acc) - 128 * _mm512_reduce_add_epi32(sb);
}

/* AVX-512BW without VNNI: widen to 16 bits and vpmaddwd. */
__attribute__((target("avx512f,avx512bw"))) static int32_t
k_dot_i8_avx512bw(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i acc = _mm512_setzero_si512();
    size_t i = 0;
    for (; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        __m512i x = _mm512_maskz_loadu_epi8(m, a + i), y = _mm512_maskz_loadu_epi8(m, b + i);
        __m512i xl = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(x));
        __m512i yl = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(y));
        __m512i xh = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(x, 1));
        __m512i yh = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(y, 1));
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xl, yl));
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xh, yh));
    }
    return _mm512_reduce_add_epi32(acc);
}
#endif

static const vec_kernels k_portable = {k_dot_portable, k_l2sq_portable, k_dot_i8_portable, VEC_PORTABLE,
                                       "portable"};
#if defined(__x86_64__)
static const vec_kernels k_avx2 = {k_dot_avx2, k_l2sq_avx2, k_dot_i8_avx2, VEC_AVX2, "avx2"};
static const vec_kernels k_avx512_vnni = {k_dot_avx512, k_l2sq_avx512, k_dot_i8_vnni, VEC_AVX512,
                                          "avx512-vnni"};
static const vec_kernels k_avx512_bw = {k_dot_avx512, k_l2sq_avx512, k_dot_i8_avx512bw, VEC_AVX512,
                                        "avx512"};
#endif

const vec_kernels *vec_kernels_for(vec_level level)
{
    const cpu_features_t *f = cpu_features();
    switch (level) {
    case VEC_PORTABLE:
        return &k_portable;
#if defined(__x86_64__)
    case VEC_AVX2:
        return f->avx2 && f->fma ? &k_avx2 : NULL;
    case VEC_AVX512:
        if (!f->avx512f || !f->avx512bw)
            return NULL;
        return f->avx512_vnni ? &k_avx512_vnni : &k_avx512_bw;
    case VEC_AVX512_NOVNNI:
        return f->avx512f && f->avx512bw ? &k_avx512_bw : NULL;
#endif
    default:
        (void)f;
        return NULL;
    }
}

static const vec_kernels *g_k;  /* the chosen table (atomic, release/acquire) */

void vec_kernels_reset(void)
{
    const vec_kernels *k = vec_kernels_for(VEC_AVX512);
    if (!k)
        k = vec_kernels_for(VEC_AVX2);
    if (!k)
        k = &k_portable;
    __atomic_store_n(&g_k, k, __ATOMIC_RELEASE);
}

const vec_kernels *vec_kernels_get(void)
{
    const vec_kernels *k = __atomic_load_n(&g_k, __ATOMIC_ACQUIRE);
    if (!k) {
        vec_kernels_reset();
        k = __atomic_load_n(&g_k, __ATOMIC_ACQUIRE);
    }
    return k;
}

float vec_dot_f32(const float *a, const float *b, size_t n)
{
    return vec_kernels_get()->dot_f32(a, b, n);
}

float vec_l2sq_f32(const float *a, const float *b, size_t n)
{
    return vec_kernels_get()->l2sq_f32(a, b, n);
}

int32_t vec_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    return vec_kernels_get()->dot_i8(a, b, n);
}

float vec_cosine_f32(const float *a, const float *b, size_t n)
{
    const vec_kernels *k = vec_kernels_get();
    float na = k->dot_f32(a, a, n), nb = k->dot_f32(b, b, n);
    if (na <= 0.0f || nb <= 0.0f)
        return 0.0f;
    return k->dot_f32(a, b, n) / sqrtf(na * nb);
}

float vec_normalize_f32(float *v, size_t n)
{
    float norm = sqrtf(vec_dot_f32(v, v, n));
    if (norm > 0.0f) {
        float inv = 1.0f / norm;
        for (size_t i = 0; i < n; i++)
            v[i] *= inv;
    }
    return norm;
}

float vec_quantize_i8(const float *v, int8_t *q, size_t n)
{
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(v[i]) > mx)
            mx = fabsf(v[i]);
    if (mx == 0.0f) {
        for (size_t i = 0; i < n; i++)
            q[i] = 0;
        return 0.0f;
    }
    float scale = mx / 127.0f, inv = 127.0f / mx;
    for (size_t i = 0; i < n; i++) {
        long r = lrintf(v[i] * inv);
        q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    return scale;
}
