/*
 * test_bm25_persist.c - bm25_save / bm25_load: a loaded index answers every
 * query (plain and fuzzy) with the same ids and scores and the same
 * statistics as the one saved, after deletes and id reuse; it keeps working
 * (add, delete, search); truncated, damaged or other-version bytes are
 * RAGD_EFORMAT, never a crash.
 */
#include <stdlib.h>

#include "index/bm25.h"
#include "testing.h"
#include "util/err.h"

static const char *WORDS[] = { "bench", "squat", "deadlift", "press", "row", "lunge", "curl",
                               "plank", "dip", "pull", "push", "carry", "swing", "snatch",
                               "clean", "jerk", "thruster", "burpee", "sprint", "jump" };
#define NW (sizeof WORDS / sizeof *WORDS)

static void text_of(uint32_t d, char *out, size_t cap)
{
    size_t at = 0;
    at += (size_t)snprintf(out + at, cap - at, "u%uq", d);
    for (uint32_t k = 0; k < 3 + d % 9; k++)
        at += (size_t)snprintf(out + at, cap - at, " %s", WORDS[(d * 7 + k * k) % NW]);
}

/* An index of n documents, some deleted, some ids reused. */
static bm25 *corpus(uint32_t n)
{
    bm25 *ix = NULL;
    bm25_create(NULL, NULL, &ix);
    char t[256];
    for (uint32_t d = 0; d < n; d++) {
        text_of(d, t, sizeof t);
        bm25_add_doc(ix, d, t, strlen(t));
    }
    for (uint32_t d = 0; d < n; d += 5)
        bm25_delete_doc(ix, d);
    for (uint32_t d = 0; d < n; d += 10) { /* reused with other text */
        text_of(d + 1000, t, sizeof t);
        bm25_add_doc(ix, d, t, strlen(t));
    }
    return ix;
}

static int same_results(bm25 *a, bm25 *b, const char *q, bool fuzzy)
{
    bm25_hit ha[20], hb[20];
    size_t na = 0, nb = 0;
    bm25_search_opts o = { .k = 20, .fuzzy = fuzzy };
    if (bm25_search(a, q, strlen(q), &o, ha, &na) || bm25_search(b, q, strlen(q), &o, hb, &nb))
        return 0;
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (ha[i].doc_id != hb[i].doc_id || fabsf(ha[i].score - hb[i].score) > 1e-5f)
            return 0;
    return 1;
}

TEST(test_round_trip)
{
    bm25 *ix = corpus(400), *back = NULL;
    buf_t b = BUF_INIT;
    bm25_save(ix, &b);
    ASSERT_OK(bm25_load(b.data, b.len, 400, NULL, NULL, &back));
    bm25_stats s1, s2;
    bm25_get_stats(ix, &s1);
    bm25_get_stats(back, &s2);
    ASSERT_EQ_INT(s2.n_docs, s1.n_docs);
    ASSERT_EQ_INT(s2.total_len, s1.total_len);
    ASSERT_EQ_INT(s2.n_terms, s1.n_terms);
    ASSERT_EQ_INT(s2.n_postings, s1.n_postings - s1.n_dead_postings);
    ASSERT_EQ_INT(s2.n_dead_postings, 0);
    const char *qs[] = { "bench press", "u17q", "u1010q squat", "deadlift clean jerk",
                         "benchpress", "snach", "nothing" };
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        ASSERT_TRUE(same_results(ix, back, qs[i], false));
        ASSERT_TRUE(same_results(ix, back, qs[i], true));
    }
    ASSERT_EQ_INT(bm25_doc_freq(back, "squat"), bm25_doc_freq(ix, "squat"));
    /* the loaded index keeps working: delete, reuse, add */
    char t[256];
    for (uint32_t d = 1; d < 400; d += 7) {
        ASSERT_EQ_INT(bm25_delete_doc(back, d), bm25_delete_doc(ix, d));
        text_of(d + 2000, t, sizeof t);
        bm25_add_doc(ix, d, t, strlen(t));
        ASSERT_OK(bm25_add_doc(back, d, t, strlen(t)));
    }
    ASSERT_EQ_INT(bm25_add_doc(back, 2, "x", 1), RAGD_EEXISTS);
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++)
        ASSERT_TRUE(same_results(ix, back, qs[i], true));
    ASSERT_TRUE(same_results(ix, back, "u2009q", false));
    buf_free(&b);
    bm25_destroy(ix);
    bm25_destroy(back);
}

TEST(test_empty)
{
    bm25 *ix = NULL, *back = NULL;
    ASSERT_OK(bm25_create(NULL, NULL, &ix));
    buf_t b = BUF_INIT;
    bm25_save(ix, &b);
    ASSERT_OK(bm25_load(b.data, b.len, 400, NULL, NULL, &back));
    ASSERT_OK(bm25_add_doc(back, 3, "bench press", 11));
    ASSERT_EQ_INT(bm25_doc_freq(back, "bench"), 1);
    buf_free(&b);
    bm25_destroy(ix);
    bm25_destroy(back);
}

TEST(test_bad_bytes)
{
    bm25 *ix = corpus(60), *back = NULL;
    buf_t b = BUF_INIT;
    bm25_save(ix, &b);
    for (size_t n = 0; n < b.len; n += (n < 64 ? 1 : 13)) /* every truncation */
        ASSERT_EQ_INT(bm25_load(b.data, n, 400, NULL, NULL, &back), RAGD_EFORMAT);
    ASSERT_TRUE(back == NULL);
    uint32_t v = 2; /* another version */
    memcpy(b.data + 4, &v, 4);
    ASSERT_EQ_INT(bm25_load(b.data, b.len, 400, NULL, NULL, &back), RAGD_EFORMAT);
    v = 1;
    memcpy(b.data + 4, &v, 4);
    ASSERT_EQ_INT(bm25_load(b.data, b.len, 59, NULL, NULL, &back), RAGD_EFORMAT); /* id 59 */
    ASSERT_OK(bm25_load(b.data, b.len, 400, NULL, NULL, &back));
    bm25_destroy(back);
    back = NULL;
    uint64_t rng = 7;
    for (int i = 0; i < 3000; i++) { /* damaged words: rejected or a consistent index */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t at = 16 + (size_t)(rng >> 33) % ((b.len - 16) / 4) * 4;
        uint32_t old, bad = (uint32_t)(rng >> 7) % 3 ? (uint32_t)(rng >> 20) : 0xFFFFFFFFu;
        memcpy(&old, b.data + at, 4);
        memcpy(b.data + at, &bad, 4);
        if (bm25_load(b.data, b.len, 400, NULL, NULL, &back) == RAGD_OK) {
            bm25_hit h[5];
            size_t n = 0;
            bm25_search_opts o = { .k = 5, .fuzzy = true };
            ASSERT_OK(bm25_search(back, "bench press", 11, &o, h, &n));
            bm25_destroy(back);
            back = NULL;
        }
        memcpy(b.data + at, &old, 4);
    }
    buf_free(&b);
    bm25_destroy(ix);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_empty);
    RUN(test_bad_bytes);
    return TEST_REPORT();
}
