/*
 * test_embed_batcher.c - many threads submit through one embed_batcher at
 * once: every caller gets the vectors embed_encode gives for its own texts, in
 * its order, with its token counts, and concurrent requests share batches.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "embed/batcher.h"
#include "embed_fixture.h"
#include "testing.h"

#define NTHREADS 6
#define NREQ 12

static fx_fixture g_fx;
static embed_model *g_m;
static embed_batcher *g_b;
static float *g_ref; /* direct embed_encode vectors of the first 64 fixture texts */
static pthread_barrier_t g_bar;

static double cosine(const float *a, const float *b)
{
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < 384; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg, bad = 0;
    pthread_barrier_wait(&g_bar);
    for (int r = 0; r < NREQ; r++) {
        size_t n = 1 + (size_t)((id + r) % 3), idx[3];
        const char *tx[3];
        size_t ln[3];
        for (size_t k = 0; k < n; k++) {
            idx[k] = (size_t)(id * 7 + r * 3 + (int)k) % 64;
            tx[k] = g_fx.t[idx[k]].s;
            ln[k] = g_fx.t[idx[k]].len;
        }
        float out[3 * 384];
        int nt[3];
        if (embed_batcher_encode(g_b, tx, ln, n, out, nt, NULL) != 0)
            bad++;
        for (size_t k = 0; k < n; k++) {
            if (cosine(out + k * 384, g_ref + idx[k] * 384) < 0.99999)
                bad++;
            if ((size_t)nt[k] != g_fx.t[idx[k]].nids)
                bad++;
        }
    }
    return (void *)(intptr_t)bad;
}

TEST(concurrent_clients)
{
    embed_batcher_opts o;
    embed_batcher_default_opts(&o);
    o.window_us = 2000;
    ASSERT_OK(embed_batcher_create(g_m, &o, &g_b));
    pthread_barrier_init(&g_bar, NULL, NTHREADS);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, client, (void *)(intptr_t)i);
    intptr_t bad = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        bad += (intptr_t)rv;
    }
    pthread_barrier_destroy(&g_bar);
    embed_batcher_stats st;
    embed_batcher_get_stats(g_b, &st);
    embed_batcher_destroy(g_b);
    fprintf(stderr, "  %llu requests in %llu batches\n", (unsigned long long)st.requests,
            (unsigned long long)st.batches);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(st.requests, NTHREADS * NREQ);
    ASSERT_TRUE(st.batches < st.requests);
    ASSERT_TRUE(st.tokens > st.texts * 2);
}

TEST(lone_caller_and_bad_input)
{
    ASSERT_OK(embed_batcher_create(g_m, NULL, &g_b));
    const char *t = g_fx.t[3].s;
    size_t l = g_fx.t[3].len;
    float out[384];
    bool tr = true;
    ASSERT_OK(embed_batcher_encode(g_b, &t, &l, 1, out, NULL, &tr));
    ASSERT_TRUE(!tr);
    ASSERT_TRUE(cosine(out, g_ref + 3 * 384) > 0.99999);
    ASSERT_EQ_INT(embed_batcher_encode(g_b, &t, &l, 0, out, NULL, NULL), RAGD_EINVAL);
    const char *nul = NULL;
    ASSERT_EQ_INT(embed_batcher_encode(g_b, &nul, &l, 1, out, NULL, NULL), RAGD_EINVAL);
    embed_batcher_destroy(g_b);
}

int main(void)
{
    char dir[512];
    ragd_error err;
    if (fx_model_dir(dir, sizeof dir) != 0 || fx_load(&g_fx) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (embed_model_open(dir, NULL, &g_m, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    const char *tx[64];
    size_t ln[64];
    for (int i = 0; i < 64; i++) {
        tx[i] = g_fx.t[i].s;
        ln[i] = g_fx.t[i].len;
    }
    g_ref = malloc(64 * 384 * sizeof *g_ref);
    if (embed_encode(g_m, tx, ln, 64, g_ref, NULL, NULL) != 0)
        return 1;
    RUN(concurrent_clients);
    RUN(lone_caller_and_bad_input);
    free(g_ref);
    embed_model_close(g_m);
    fx_free(&g_fx);
    return TEST_REPORT();
}
