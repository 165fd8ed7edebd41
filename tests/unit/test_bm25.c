/*
 * test_bm25.c - BM25 against a brute-force model of the same formula on a
 * random corpus: exact scores, pruned top-k equal to exhaustive top-k, exact
 * N/df/avgdl through adds, deletes and id reuse, filters that still fill k,
 * explain, and concurrent searches during inserts.
 */
#include <pthread.h>
#include <stdlib.h>

#include "index/bm25.h"
#include "testing.h"
#include "util/err.h"

#define VOCAB 300
#define MAXD 1200

/* shadow model */
static int g_len[MAXD];
static int *g_terms[MAXD];
static int g_live[MAXD];
static uint64_t g_rng = 88172645463325252ull;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

static int zipf_term(void)
{
    /* skewed: term i with probability ~ 1/(i+1) */
    double u = (rnd() % 1000000) / 1000000.0;
    int t = (int)(exp(u * log(VOCAB + 1.0)) - 1.0);
    return t < 0 ? 0 : t >= VOCAB ? VOCAB - 1 : t;
}

static void term_name(int t, char *buf)
{
    sprintf(buf, "zq%dx", t); /* survives the analyzer unchanged */
}

static void add_doc(bm25 *ix, uint32_t d)
{
    int n = 1 + (int)(rnd() % 40);
    g_len[d] = n;
    free(g_terms[d]);
    g_terms[d] = malloc(n * sizeof(int));
    char *bufs = malloc((size_t)n * 16);
    const char **ptrs = malloc(n * sizeof *ptrs);
    for (int i = 0; i < n; i++) {
        g_terms[d][i] = zipf_term();
        term_name(g_terms[d][i], bufs + i * 16);
        ptrs[i] = bufs + i * 16;
    }
    int rc = bm25_add_terms(ix, d, ptrs, (size_t)n);
    (void)rc;
    g_live[d] = 1;
    free(ptrs);
    free(bufs);
}

/* Brute-force BM25 of doc d (Lucene form), stats recomputed from the shadow. */
static long g_N, g_df[5];
static double g_avg;

static void ref_prepare(const int *q, int nq)
{
    long tot = 0;
    g_N = 0;
    for (int i = 0; i < MAXD; i++)
        if (g_live[i]) {
            g_N++;
            tot += g_len[i];
        }
    g_avg = (double)tot / g_N;
    for (int j = 0; j < nq; j++) {
        g_df[j] = 0;
        for (int i = 0; i < MAXD; i++) {
            if (!g_live[i])
                continue;
            for (int x = 0; x < g_len[i]; x++)
                if (g_terms[i][x] == q[j]) {
                    g_df[j]++;
                    break;
                }
        }
    }
}

static double ref_score(int d, const int *q, int nq, double k1, double b)
{
    long N = g_N;
    double avg = g_avg, s = 0;
    for (int j = 0; j < nq; j++) {
        long df = g_df[j];
        int tf = 0;
        for (int x = 0; x < g_len[d]; x++)
            tf += g_terms[d][x] == q[j];
        if (!tf)
            continue;
        double idf = log(1.0 + (N - df + 0.5) / (df + 0.5));
        s += idf * tf / (tf + k1 * (1 - b + b * g_len[d] / avg));
    }
    return s;
}

typedef struct { int doc; double s; } rhit;

static int rhit_cmp(const void *a, const void *b)
{
    const rhit *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return x->doc - y->doc;
}

static bool filt_mod(void *ud, uint32_t d)
{
    return d % *(int *)ud == 0;
}

/* Compare bm25_search with the exhaustive reference for a random query. */
static int check_query(bm25 *ix, size_t k, int mod, double k1, double b)
{
    int q[5], nq = 1 + (int)(rnd() % 4);
    char qs[128] = "";
    for (int j = 0; j < nq; j++) {
        q[j] = zipf_term();
        for (int i = 0; i < j; i++)
            if (q[i] == q[j])
                q[j] = (q[j] + 1) % VOCAB;
        char nm[16];
        term_name(q[j], nm);
        strcat(qs, nm);
        strcat(qs, " ");
    }
    rhit *ref = malloc(MAXD * sizeof *ref);
    int nr = 0;
    ref_prepare(q, nq);
    for (int d = 0; d < MAXD; d++) {
        if (!g_live[d] || (mod && d % mod))
            continue;
        double s = ref_score(d, q, nq, k1, b);
        if (s > 0)
            ref[nr++] = (rhit){d, s};
    }
    qsort(ref, nr, sizeof *ref, rhit_cmp);
    bm25_hit out[64];
    size_t n = 0;
    bm25_search_opts o = {.k = k, .filter = mod ? filt_mod : NULL, .filter_ud = &mod};
    int bad = 0;
    if (bm25_search(ix, qs, strlen(qs), &o, out, &n) != 0)
        bad = 1;
    size_t want = (size_t)nr < k ? (size_t)nr : k;
    if (n != want)
        bad = 1;
    for (size_t i = 0; i < n && !bad; i++) {
        if (fabs(out[i].score - ref[i].s) > 1e-4 * (1 + ref[i].s))
            bad = 1;
        /* ids must agree unless the reference has a near-tie there */
        bool tie = (i > 0 && fabs(ref[i].s - ref[i - 1].s) < 1e-5) ||
                   ((int)i + 1 < nr && fabs(ref[i].s - ref[i + 1].s) < 1e-5);
        if (!tie && out[i].doc_id != (uint32_t)ref[i].doc)
            bad = 1;
        if (mod && out[i].doc_id % mod)
            bad = 1;
    }
    if (bad)
        fprintf(stderr, "  query '%s' k=%zu mod=%d: got %zu want %zu\n", qs, k, mod, n, want);
    free(ref);
    return bad;
}

static int check_stats(bm25 *ix)
{
    bm25_stats st;
    bm25_get_stats(ix, &st);
    long N = 0, tot = 0;
    for (int i = 0; i < MAXD; i++)
        if (g_live[i]) {
            N++;
            tot += g_len[i];
        }
    if ((long)st.n_docs != N || (long)st.total_len != tot)
        return 1;
    for (int t = 0; t < VOCAB; t += 7) {
        long df = 0;
        for (int i = 0; i < MAXD; i++) {
            if (!g_live[i])
                continue;
            for (int x = 0; x < g_len[i]; x++)
                if (g_terms[i][x] == t) {
                    df++;
                    break;
                }
        }
        char nm[16];
        term_name(t, nm);
        if (bm25_doc_freq(ix, nm) != (uint32_t)df)
            return 1;
    }
    return 0;
}

TEST(test_random_corpus)
{
    bm25 *ix;
    ASSERT_OK(bm25_create(NULL, NULL, &ix));
    for (uint32_t d = 0; d < 800; d++)
        add_doc(ix, d);
    ASSERT_EQ_INT(check_stats(ix), 0);
    int bad = 0;
    for (int i = 0; i < 60; i++)
        bad += check_query(ix, 1 + rnd() % 20, 0, 0.9, 0.4);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(bm25_add_doc(ix, 5, "x", 1), RAGD_EEXISTS);

    /* delete 30%, add new ids, reuse some deleted ids (out of order) */
    for (uint32_t d = 0; d < 800; d++)
        if (rnd() % 10 < 3) {
            ASSERT_OK(bm25_delete_doc(ix, d));
            g_live[d] = 0;
        }
    ASSERT_EQ_INT(bm25_delete_doc(ix, 1199), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(check_stats(ix), 0);
    for (uint32_t d = 800; d < 1000; d++)
        add_doc(ix, d);
    for (uint32_t d = 0; d < 300; d++)
        if (!g_live[d] && rnd() % 2)
            add_doc(ix, d);
    ASSERT_EQ_INT(check_stats(ix), 0);
    for (int i = 0; i < 60; i++)
        bad += check_query(ix, 1 + rnd() % 20, 0, 0.9, 0.4);
    ASSERT_EQ_INT(bad, 0);
    /* filters at 10% and 1%: still k results when k match */
    for (int i = 0; i < 30; i++)
        bad += check_query(ix, 10, 10, 0.9, 0.4);
    for (int i = 0; i < 30; i++)
        bad += check_query(ix, 5, 100, 0.9, 0.4);
    ASSERT_EQ_INT(bad, 0);
    bm25_compact(ix);
    bm25_stats st;
    bm25_get_stats(ix, &st);
    ASSERT_EQ_INT(st.n_dead_postings, 0);
    ASSERT_TRUE(st.memory_bytes > 0);
    ASSERT_EQ_INT(check_stats(ix), 0);
    for (int i = 0; i < 20; i++)
        bad += check_query(ix, 10, 0, 0.9, 0.4);
    ASSERT_EQ_INT(bad, 0);
    bm25_destroy(ix);
    for (int d = 0; d < MAXD; d++) {
        free(g_terms[d]);
        g_terms[d] = NULL;
        g_live[d] = 0;
    }
}

TEST(test_pruning_skips)
{
    /* one rare term and one term in every document: with k = 3 MaxScore must
     * stop scoring the common list once the rare term's docs fill the top k */
    bm25 *ix;
    ASSERT_OK(bm25_create(NULL, NULL, &ix));
    char text[64];
    for (uint32_t d = 0; d < 5000; d++) {
        snprintf(text, sizeof text, "common filler%u%s", d % 50, d % 500 == 0 ? " rare" : "");
        ASSERT_OK(bm25_add_doc(ix, d, text, strlen(text)));
    }
    bm25_hit out[3];
    size_t n;
    bm25_search_opts o = {.k = 3};
    /* an absurd k is refused before any buffer is sized from it */
    bm25_search_opts huge = {.k = (size_t)1 << 62};
    ASSERT_EQ_INT(bm25_search(ix, "rare common", 11, &huge, out, &n), RAGD_EINVAL);
    huge.k = BM25_K_MAX + 1;
    ASSERT_EQ_INT(bm25_search(ix, "rare common", 11, &huge, out, &n), RAGD_EINVAL);
    ASSERT_OK(bm25_search(ix, "rare common", 11, &o, out, &n));
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_INT(out[0].doc_id % 500, 0);
    bm25_stats st;
    bm25_get_stats(ix, &st);
    ASSERT_EQ_INT(st.searches, 1);
    ASSERT_EQ_INT(st.postings_seen, 5010);
    ASSERT_TRUE(st.postings_scored < st.postings_seen / 4);
    bm25_destroy(ix);
}

TEST(test_params)
{
    bm25_params p = {.k1 = 1.2f, .b = 0.75f};
    bm25 *ix;
    ASSERT_OK(bm25_create(&p, NULL, &ix));
    for (uint32_t d = 0; d < 300; d++)
        add_doc(ix, d);
    int bad = 0;
    for (int i = 0; i < 30; i++)
        bad += check_query(ix, 10, 0, 1.2, 0.75);
    ASSERT_EQ_INT(bad, 0);
    bm25_destroy(ix);
    for (int d = 0; d < MAXD; d++) {
        free(g_terms[d]);
        g_terms[d] = NULL;
        g_live[d] = 0;
    }
    p.b = 1.5f;
    ASSERT_EQ_INT(bm25_create(&p, NULL, &ix), RAGD_EINVAL);
}

static const char *exercises[] = {
    "Bench Press", "Incline Dumbbell Press", "Leg Press", "Overhead Press", "Push-ups",
    "Back Squat", "Romanian Deadlift", "Pull-ups", "Barbell Row", "Dips",
    "Lat Pulldown", "Bench Dips", "Preacher Curl", "Calf Raises", "Plank",
};

static uint32_t top_of(bm25 *ix, const char *q, bool fuzzy, size_t *n)
{
    bm25_hit out[5];
    bm25_search_opts o = {.k = 5, .fuzzy = fuzzy};
    *n = 0;
    if (bm25_search(ix, q, strlen(q), &o, out, n) != 0 || *n == 0)
        return UINT32_MAX;
    return out[0].doc_id;
}

TEST(test_fuzzy_exercises)
{
    bm25 *ix;
    ASSERT_OK(bm25_create(NULL, NULL, &ix));
    for (uint32_t i = 0; i < sizeof exercises / sizeof *exercises; i++)
        ASSERT_OK(bm25_add_doc(ix, i, exercises[i], strlen(exercises[i])));
    size_t n;
    ASSERT_EQ_INT(top_of(ix, "bench press", false, &n), 0);
    ASSERT_EQ_INT(top_of(ix, "benchpress", false, &n), UINT32_MAX);
    ASSERT_EQ_INT(top_of(ix, "benchpress", true, &n), 0);
    ASSERT_EQ_INT(top_of(ix, "bench pres", true, &n), 0);
    ASSERT_EQ_INT(top_of(ix, "bench prss", true, &n), 0);
    ASSERT_EQ_INT(top_of(ix, "Benhc Press", true, &n), 0);
    ASSERT_EQ_INT(top_of(ix, "romanain deadlfit", true, &n), 6);
    ASSERT_EQ_INT(top_of(ix, "pullups", true, &n), 7);
    /* joined in the index, split in the query */
    ASSERT_OK(bm25_add_doc(ix, 100, "Kettlebell Swing", 16));
    ASSERT_EQ_INT(top_of(ix, "kettle bell swing", true, &n), 100);
    /* explain adds up to the hit's score */
    bm25_explain_term ex[16];
    size_t ne;
    float total;
    ASSERT_OK(bm25_explain(ix, "bench pres", 10, true, 0, ex, 16, &ne, &total));
    ASSERT_EQ_INT(ne, 2);
    bm25_hit out[3];
    bm25_search_opts o = {.k = 3, .fuzzy = true};
    ASSERT_OK(bm25_search(ix, "bench pres", 10, &o, out, &n));
    ASSERT_NEAR(total, out[0].score, 1e-5);
    ASSERT_NEAR(ex[0].score + ex[1].score, total, 1e-5);
    ASSERT_EQ_INT(bm25_explain(ix, "bench", 5, false, 77, ex, 16, &ne, &total), RAGD_ENOTFOUND);
    bm25_destroy(ix);
}

TEST(test_many_terms_fuzzy_walk)
{
    /* enough distinct terms to exercise the merged sorted view and prefix skips */
    bm25 *ix;
    ASSERT_OK(bm25_create(NULL, NULL, &ix));
    char buf[64];
    const char *ptr = buf;
    for (uint32_t i = 0; i < 3000; i++) {
        sprintf(buf, "t%c%c%c%uq", 'a' + i % 26, 'a' + (i / 26) % 26, 'a' + (i / 676) % 26, i % 7);
        ASSERT_OK(bm25_add_terms(ix, i, &ptr, 1));
    }
    bm25_hit out[50];
    size_t n;
    bm25_search_opts o = {.k = 50, .fuzzy = true};
    /* "tabc3q": distance-1 neighbours exist; every hit must be within distance 1 */
    ASSERT_OK(bm25_search(ix, "tabc3q", 6, &o, out, &n));
    ASSERT_TRUE(n >= 3);
    o.fuzzy = false;
    size_t n_exact;
    ASSERT_OK(bm25_search(ix, "tabc3q", 6, &o, out, &n_exact));
    ASSERT_TRUE(n > n_exact);
    bm25_destroy(ix);
}

typedef struct {
    bm25 *ix;
    int writer;
    long bad;
} conc_arg;

static void *conc_worker(void *p)
{
    conc_arg *a = p;
    char text[128];
    for (int i = 0; i < 400; i++) {
        if (a->writer) {
            snprintf(text, sizeof text, "alpha beta doc%d gamma%d", i, i % 13);
            if (bm25_add_doc(a->ix, 1000 + (uint32_t)i, text, strlen(text)) != 0)
                a->bad++;
            if (i % 5 == 0 && bm25_delete_doc(a->ix, 1000 + (uint32_t)i) != 0)
                a->bad++;
        } else {
            bm25_hit out[10];
            size_t n;
            bm25_search_opts o = {.k = 10, .fuzzy = i % 2};
            if (bm25_search(a->ix, "alpha gamma3", 12, &o, out, &n) != 0)
                a->bad++;
            for (size_t j = 1; j < n; j++)
                if (out[j].score > out[j - 1].score)
                    a->bad++;
        }
    }
    return NULL;
}

TEST(test_concurrent)
{
    bm25 *ix;
    ASSERT_OK(bm25_create(NULL, NULL, &ix));
    conc_arg args[4] = {{ix, 1, 0}, {ix, 0, 0}, {ix, 0, 0}, {ix, 0, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, conc_worker, &args[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(args[i].bad, 0);
    bm25_stats st;
    bm25_get_stats(ix, &st);
    ASSERT_EQ_INT(st.n_docs, 320);
    ASSERT_EQ_INT(st.total_len, 320 * 4);
    ASSERT_EQ_INT(bm25_doc_freq(ix, "alpha"), 320);
    bm25_destroy(ix);
}

int main(void)
{
    RUN(test_random_corpus);
    RUN(test_pruning_skips);
    RUN(test_params);
    RUN(test_fuzzy_exercises);
    RUN(test_many_terms_fuzzy_walk);
    RUN(test_concurrent);
    return TEST_REPORT();
}
