/*
 * test_vec_kernels.c - every kernel path the CPU has (portable, AVX2,
 * AVX-512/VNNI) against a double-precision scalar reference, on odd lengths
 * that hit every tail, plus quantisation and RAGD_CPU capping.
 */
#include <stdlib.h>

#include "index/vec_kernels.h"
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

TEST(test_all_paths)
{
    static const size_t lens[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 384, 385, 1000};
    float *a = malloc(1024 * sizeof *a), *b = malloc(1024 * sizeof *b);
    int8_t *qa = malloc(1024), *qb = malloc(1024);
    for (int i = 0; i < 1024; i++) {
        a[i] = frand();
        b[i] = frand();
        qa[i] = (int8_t)(rand() % 255 - 127);
        qb[i] = (int8_t)(rand() % 256 - 128);
    }
    int paths = 0;
    for (int lv = VEC_PORTABLE; lv <= VEC_AVX512_NOVNNI; lv++) {
        const vec_kernels *k = vec_kernels_for((vec_level)lv);
        if (!k)
            continue;
        paths++;
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            size_t n = lens[li];
            ASSERT_NEAR(k->dot_f32(a, b, n), ref_dot(a, b, n), 1e-4 * n);
            ASSERT_NEAR(k->l2sq_f32(a, b, n), ref_l2(a, b, n), 1e-4 * n);
            int32_t r = 0;
            for (size_t i = 0; i < n; i++)
                r += qa[i] * qb[i];
            ASSERT_EQ_INT(k->dot_i8(qa, qb, n), r);
            /* extremes: -128 * -128 must not overflow any path */
            int8_t m1[70], m2[70];
            memset(m1, -128, sizeof m1);
            memset(m2, -128, sizeof m2);
            ASSERT_EQ_INT(k->dot_i8(m1, m2, 70), 70 * 16384);
        }
    }
    ASSERT_TRUE(paths >= 1);
    free(a);
    free(b);
    free(qa);
    free(qb);
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
    RUN(test_all_paths);
    RUN(test_cap_env);
    RUN(test_cosine_quantize);
    return TEST_REPORT();
}
