/*
 * test_fusion.c - weighted (relative, max and min-max normalisation, alpha)
 * and RRF fusion arithmetic worked by hand, legs kept for explain, missing-leg
 * zeros, ties and bad input.
 */
#include "index/fusion.h"

#include <string.h>

#include "testing.h"
#include "util/err.h"

static const fusion_in sem[] = {{1, 0.9f}, {2, 0.7f}, {3, 0.5f}};
static const fusion_in kw[] = {{3, 12.0f}, {4, 8.0f}, {1, 4.0f}};

TEST(test_weighted)
{
    fusion_hit h[8];
    size_t n;
    fusion_opts o = fusion_default_opts();
    o.alpha = 0.7f;
    o.norm = FUSION_NORM_MINMAX;
    ASSERT_OK(fusion_merge(sem, 3, kw, 3, &o, h, 8, &n));
    ASSERT_EQ_INT(n, 4);
    /* norms: sem 1 ->1, 2 ->0.5, 3 ->0; kw 3 ->1, 4 ->0.5, 1 ->0
     * fused: 1: 0.7, 2: 0.35, 3: 0.3, 4: 0.15 */
    ASSERT_EQ_INT(h[0].id, 1);
    ASSERT_NEAR(h[0].score, 0.7, 1e-6);
    ASSERT_EQ_INT(h[1].id, 2);
    ASSERT_NEAR(h[1].score, 0.35, 1e-6);
    ASSERT_EQ_INT(h[2].id, 3);
    ASSERT_NEAR(h[2].score, 0.3, 1e-6);
    ASSERT_EQ_INT(h[3].id, 4);
    ASSERT_NEAR(h[3].score, 0.15, 1e-6);
    /* explain: both legs kept */
    ASSERT_EQ_INT(h[2].rank_sem, 3);
    ASSERT_EQ_INT(h[2].rank_kw, 1);
    ASSERT_NEAR(h[2].score_kw, 12.0, 1e-6);
    ASSERT_EQ_INT(h[3].rank_sem, 0);
    ASSERT_NEAR(h[3].score_sem, 0.0, 0);
    ASSERT_NEAR(h[3].norm_kw, 0.5, 1e-6);
    /* cap truncates */
    ASSERT_OK(fusion_merge(sem, 3, kw, 3, &o, h, 2, &n));
    ASSERT_EQ_INT(n, 2);
    /* one leg empty; one-element leg normalises to 1 */
    ASSERT_OK(fusion_merge(sem, 1, NULL, 0, &o, h, 8, &n));
    ASSERT_EQ_INT(n, 1);
    ASSERT_NEAR(h[0].score, 0.7, 1e-6);
}

/* Cosine kept, keyword divided by its best. A leg's last hit is not forced to
 * 0 and a weak query cannot reach a fused score of 1. */
TEST(test_relative)
{
    fusion_hit h[8];
    size_t n;
    fusion_opts o = fusion_default_opts();
    o.norm = FUSION_NORM_RELATIVE;
    o.alpha = 0.7f;
    ASSERT_OK(fusion_merge(sem, 3, kw, 3, &o, h, 8, &n));
    ASSERT_EQ_INT(n, 4);
    /* sem: 0.9, 0.7, 0.5 as they are; kw: 3 ->1, 4 ->2/3, 1 ->1/3
     * fused: 1: 0.63 + 0.1 = 0.73; 3: 0.35 + 0.3 = 0.65; 2: 0.49; 4: 0.2 */
    ASSERT_EQ_INT(h[0].id, 1);
    ASSERT_NEAR(h[0].score, 0.73, 1e-6);
    ASSERT_EQ_INT(h[1].id, 3);
    ASSERT_NEAR(h[1].score, 0.65, 1e-6);
    ASSERT_NEAR(h[1].norm_sem, 0.5, 1e-6); /* min-max gave the last hit 0 */
    ASSERT_EQ_INT(h[2].id, 2);
    ASSERT_NEAR(h[2].score, 0.49, 1e-6);
    ASSERT_EQ_INT(h[3].id, 4);
    ASSERT_NEAR(h[3].score, 0.2, 1e-6);
    /* a weak semantic-only query stays weak; negative cosine clamps to 0 */
    const fusion_in weak[] = {{7, 0.2f}, {8, -0.1f}};
    ASSERT_OK(fusion_merge(weak, 2, NULL, 0, &o, h, 8, &n));
    ASSERT_NEAR(h[0].score, 0.14, 1e-6);
    ASSERT_NEAR(h[1].score, 0.0, 0);
    /* a keyword leg of zeros contributes nothing */
    const fusion_in zero[] = {{9, 0.0f}};
    o.alpha = 0.0f;
    ASSERT_OK(fusion_merge(NULL, 0, zero, 1, &o, h, 8, &n));
    ASSERT_NEAR(h[0].score, 0.0, 0);
}

/* Each leg divided by its best score. */
TEST(test_max)
{
    fusion_hit h[8];
    size_t n;
    fusion_opts o = fusion_default_opts();
    ASSERT_EQ_INT(o.norm, FUSION_NORM_MINMAX); /* the default (BENCHMARKS.md) */
    o.norm = FUSION_NORM_MAX;
    o.alpha = 0.7f;
    ASSERT_OK(fusion_merge(sem, 3, kw, 3, &o, h, 8, &n));
    /* sem / 0.9: 1, 7/9, 5/9; kw / 12: 1, 2/3, 1/3
     * fused: 1: 0.7 + 0.1; 3: 0.7 * 5/9 + 0.3; 2: 0.7 * 7/9; 4: 0.2 */
    ASSERT_EQ_INT(h[0].id, 1);
    ASSERT_NEAR(h[0].score, 0.8, 1e-6);
    ASSERT_EQ_INT(h[1].id, 3);
    ASSERT_NEAR(h[1].score, 0.7 * 5 / 9.0 + 0.3, 1e-6);
    ASSERT_EQ_INT(h[2].id, 2);
    ASSERT_NEAR(h[2].score, 0.7 * 7 / 9.0, 1e-6);
    ASSERT_NEAR(h[3].score, 0.2, 1e-6);
    fusion_norm nm;
    ASSERT_TRUE(fusion_norm_parse("minmax", &nm) && nm == FUSION_NORM_MINMAX);
    ASSERT_TRUE(fusion_norm_parse("relative", &nm) && nm == FUSION_NORM_RELATIVE);
    ASSERT_TRUE(!fusion_norm_parse("zscore", &nm));
    ASSERT_TRUE(!strcmp(fusion_norm_name(FUSION_NORM_MAX), "max"));
}

TEST(test_rrf)
{
    fusion_hit h[8];
    size_t n;
    fusion_opts o = {.method = FUSION_RRF, .alpha = 0.5f, .rrf_k = 60.0f};
    ASSERT_OK(fusion_merge(sem, 3, kw, 3, &o, h, 8, &n));
    ASSERT_EQ_INT(n, 4);
    /* 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie -> lower id first); 2: 1/62; 4: 1/62 */
    ASSERT_EQ_INT(h[0].id, 1);
    ASSERT_EQ_INT(h[1].id, 3);
    ASSERT_NEAR(h[0].score, 1.0 / 61 + 1.0 / 63, 1e-7);
    ASSERT_NEAR(h[1].score, h[0].score, 1e-7);
    ASSERT_EQ_INT(h[2].id, 2);
    ASSERT_EQ_INT(h[3].id, 4);
    ASSERT_NEAR(h[3].score, 1.0 / 62, 1e-7);
    o.rrf_k = 0.0f;
    ASSERT_OK(fusion_merge(sem, 3, kw, 0, &o, h, 8, &n));
    ASSERT_NEAR(h[0].score, 1.0, 1e-7);
    ASSERT_NEAR(h[2].score, 1.0 / 3, 1e-7);
}

TEST(test_bad_input)
{
    fusion_hit h[2];
    size_t n;
    fusion_opts o = fusion_default_opts();
    o.alpha = 1.5f;
    ASSERT_EQ_INT(fusion_merge(sem, 3, kw, 3, &o, h, 2, &n), RAGD_EINVAL);
    o = fusion_default_opts();
    o.norm = (fusion_norm)7;
    ASSERT_EQ_INT(fusion_merge(sem, 3, kw, 3, &o, h, 2, &n), RAGD_EINVAL);
    ASSERT_EQ_INT(fusion_merge(NULL, 3, kw, 3, NULL, h, 2, &n), RAGD_EINVAL);
    ASSERT_OK(fusion_merge(NULL, 0, NULL, 0, NULL, h, 2, &n));
    ASSERT_EQ_INT(n, 0);
}

int main(void)
{
    RUN(test_weighted);
    RUN(test_relative);
    RUN(test_max);
    RUN(test_rrf);
    RUN(test_bad_input);
    return TEST_REPORT();
}
