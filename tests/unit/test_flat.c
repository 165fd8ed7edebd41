/*
 * test_flat.c - the exact scan index against a scalar brute force: cosine
 * normalisation, top-k order, filter, delete and re-add, other metrics.
 */
#include <stdlib.h>

#include "index/flat.h"
#include "testing.h"
#include "util/err.h"

static bool even(void *ud, uint32_t id)
{
    (void)ud;
    return id % 2 == 0;
}

TEST(test_flat_exact)
{
    enum { D = 19, n = 300 };
    float *v = malloc(sizeof(float) * n * D);
    for (int i = 0; i < n * D; i++)
        v[i] = (float)rand() / RAND_MAX - 0.5f;
    flat *fx;
    ASSERT_OK(flat_create(D, VEC_COSINE, &fx));
    for (uint32_t i = 0; i < n; i++)
        ASSERT_OK(flat_add(fx, i, v + i * D));
    ASSERT_EQ_INT(flat_add(fx, 3, v), RAGD_EEXISTS);
    ASSERT_EQ_INT(flat_count(fx), n);
    const float *q = v + 17 * D;
    vec_hit h[10];
    size_t nh;
    ASSERT_OK(flat_search(fx, q, 10, NULL, NULL, h, &nh));
    ASSERT_EQ_INT(nh, 10);
    ASSERT_EQ_INT(h[0].id, 17);
    ASSERT_NEAR(h[0].score, 1.0, 1e-5);
    /* brute-force cosine of the 10th hit, and nothing better left out */
    double qq = 0;
    for (int j = 0; j < D; j++)
        qq += q[j] * q[j];
    int better = 0;
    for (int i = 0; i < n; i++) {
        double d = 0, vv = 0;
        for (int j = 0; j < D; j++) {
            d += q[j] * v[i * D + j];
            vv += v[i * D + j] * v[i * D + j];
        }
        double c = d / sqrt(qq * vv);
        if (i == (int)h[9].id)
            ASSERT_NEAR(h[9].score, c, 1e-5);
        better += c > h[9].score + 1e-6;
    }
    ASSERT_EQ_INT(better, 9);
    for (size_t i = 1; i < nh; i++)
        ASSERT_TRUE(h[i].score <= h[i - 1].score);
    ASSERT_OK(flat_search(fx, q, 10, even, NULL, h, &nh));
    ASSERT_EQ_INT(nh, 10);
    for (size_t i = 0; i < nh; i++)
        ASSERT_EQ_INT(h[i].id % 2, 0);
    ASSERT_OK(flat_delete(fx, 17));
    ASSERT_EQ_INT(flat_delete(fx, 17), RAGD_ENOTFOUND);
    ASSERT_OK(flat_search(fx, q, 10, NULL, NULL, h, &nh));
    ASSERT_TRUE(h[0].id != 17);
    ASSERT_OK(flat_add(fx, 17, q));
    ASSERT_OK(flat_search(fx, q, 10, NULL, NULL, h, &nh));
    ASSERT_EQ_INT(h[0].id, 17);
    ASSERT_TRUE(flat_memory(fx) >= (size_t)n * D * 4);
    flat_destroy(fx);

    ASSERT_OK(flat_create(D, VEC_L2, &fx));
    for (uint32_t i = 0; i < n; i++)
        ASSERT_OK(flat_add(fx, i * 3, v + i * D));
    ASSERT_OK(flat_search(fx, v + 5 * D, 3, NULL, NULL, h, &nh));
    ASSERT_EQ_INT(h[0].id, 15);
    ASSERT_NEAR(h[0].score, 0.0, 1e-6);
    /* an absurd k (k * sizeof would wrap) is refused, never sized */
    ASSERT_EQ_INT(flat_search(fx, v, (size_t)1 << 62, NULL, NULL, h, &nh), RAGD_EINVAL);
    ASSERT_EQ_INT(flat_search(fx, v, VEC_K_MAX + 1, NULL, NULL, h, &nh), RAGD_EINVAL);
    flat_destroy(fx);
    ASSERT_EQ_INT(flat_create(0, VEC_IP, &fx), RAGD_EINVAL);
    free(v);
}

int main(void)
{
    RUN(test_flat_exact);
    return TEST_REPORT();
}
