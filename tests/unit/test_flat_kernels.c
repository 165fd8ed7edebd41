/*
 * test_flat_kernels.c - every kernel path the CPU has (portable, AVX2,
 * AVX-512/VNNI) against a double-precision scalar reference, on odd lengths
 * that hit every tail (each path asserted to be the one that ran; paths the
 * CPU lacks are skipped visibly), plus quantisation and RAGD_CPU capping.
 */
#include <stdlib.h>

#include "index/vec_kernels.h"
#include "cpu_levels.h"
#include "testing.h"
#include "util/cpu.h"

static double ref_dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double ref_l2(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static float frand(void)
{
    return (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
}

static float g_a[1024], g_b[1024];
static int8_t g_qa[1024], g_qb[1024];

/* One path against the reference on lengths that hit every tail. */
static void check_path(const vec_kernels *k)
{
    static const size_t lens[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 384, 385, 1000};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        size_t n = lens[li];
        ASSERT_NEAR(k->dot_f32(g_a, g_b, n), ref_dot(g_a, g_b, n), 1e-4 * n);
        ASSERT_NEAR(k->l2sq_f32(g_a, g_b, n), ref_l2(g_a, g_b, n), 1e-4 * n);
        int32_t r = 0;
        for (size_t i = 0; i < n; i++)
            r += g_qa[i] * g_qb[i];
        ASSERT_EQ_INT(k->dot_i8(g_qa, g_qb, n), r);
        /* extremes: -128 * -128 must not overflow any path */
        int8_t m1[70], m2[70];
        memset(m1, -128, sizeof m1);
        memset(m2, -128, sizeof m2);
        ASSERT_EQ_INT(k->dot_i8(m1, m2, 70), 70 * 16384);
    }
}

/* The kernels of one level: SKIP when the CPU lacks it, else assert that
 * the table handed out is the one named `kernel` and check it. */
static void check_level(vec_level lv, const char *what, const char *kernel)
{
    cpu_native();
    vec_kernels_reset();
    const vec_kernels *k = vec_kernels_for(lv);
    if (!k)
        SKIP("the CPU lacks %s: that kernel path cannot run", what);
    fprintf(stderr, "  %s: kernels %s\n", what, k->name);
    ASSERT_EQ_STR(k->name, kernel);
    check_path(k);
}

TEST(test_path_portable) { check_level(VEC_PORTABLE, "portable", "portable"); }
TEST(test_path_avx2) { check_level(VEC_AVX2, "AVX2+FMA", "avx2"); }
TEST(test_path_avx512)
{
    check_level(VEC_AVX512, "AVX-512F/BW", cpu_native()->avx512_vnni ? "avx512-vnni" : "avx512");
}
TEST(test_path_avx512_novnni) { check_level(VEC_AVX512_NOVNNI, "AVX-512F/BW", "avx512"); }

/* The path picked at run time is the best one the CPU has. */
TEST(test_best_path_picked)
{
    const cpu_features_t *f = cpu_native();
    vec_kernels_reset();
    vec_level want = f->avx512f && f->avx512bw ? VEC_AVX512 : f->avx2 && f->fma ? VEC_AVX2
                                                                                 : VEC_PORTABLE;
    ASSERT_EQ_INT(vec_kernels_get()->level, want);
}

TEST(test_cap_env)
{
    setenv("RAGD_CPU", "portable", 1);
    cpu_features_reset();
    vec_kernels_reset();
    ASSERT_EQ_INT(vec_kernels_get()->level, VEC_PORTABLE);
    ASSERT_TRUE(vec_kernels_for(VEC_AVX2) == NULL);
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {5, 4, 3, 2, 1};
    ASSERT_NEAR(vec_dot_f32(a, b, 5), 35, 1e-6);
    unsetenv("RAGD_CPU");
    cpu_features_reset();
    vec_kernels_reset();
    ASSERT_NEAR(vec_dot_f32(a, b, 5), 35, 1e-6);
    ASSERT_NEAR(vec_l2sq_f32(a, b, 5), 40, 1e-6);
}

TEST(test_cosine_quantize)
{
    float a[4] = {3, 0, 4, 0}, b[4] = {3, 0, 4, 0}, z[4] = {0};
    ASSERT_NEAR(vec_cosine_f32(a, b, 4), 1.0, 1e-6);
    ASSERT_NEAR(vec_cosine_f32(a, z, 4), 0.0, 1e-9);
    ASSERT_NEAR(vec_normalize_f32(a, 4), 5.0, 1e-6);
    ASSERT_NEAR(a[0], 0.6, 1e-6);
    float v[384], w[384];
    int8_t qv[384], qw[384];
    for (int i = 0; i < 384; i++) {
        v[i] = frand();
        w[i] = frand();
    }
    vec_normalize_f32(v, 384);
    vec_normalize_f32(w, 384);
    float sv = vec_quantize_i8(v, qv, 384), sw = vec_quantize_i8(w, qw, 384);
    double approx = (double)sv * sw * vec_dot_i8(qv, qw, 384);
    ASSERT_NEAR(approx, ref_dot(v, w, 384), 0.01);
    ASSERT_NEAR(vec_quantize_i8(z, qv, 4), 0.0, 0);
}

int main(void)
{
    for (int i = 0; i < 1024; i++) {
        g_a[i] = frand();
        g_b[i] = frand();
        g_qa[i] = (int8_t)(rand() % 255 - 127);
        g_qb[i] = (int8_t)(rand() % 256 - 128);
    }
    RUN(test_path_portable);
    RUN(test_path_avx2);
    RUN(test_path_avx512);
    RUN(test_path_avx512_novnni);
    RUN(test_best_path_picked);
    RUN(test_cap_env);
    RUN(test_cosine_quantize);
    return TEST_REPORT();
}
