/*
 * test_embed_sched.c - the model scheduler (src/embed/sched.c) with the real
 * model: many threads get the vectors embed_encode gives for their own texts
 * and concurrent interactive requests share forward passes; interactive work
 * queued while a large bulk job runs is served before the job ends; two
 * tenants' bulk jobs take micro-batches in turn; micro-batches respect the
 * token bound; large interactive requests run as bulk; tasks run in class;
 * an interactive request arriving during a bulk forward pass parks it between
 * layers (the preemption counter) and the bulk vectors stay bit-identical.
 * Order and progress are read from the observer hook, never from wall time:
 * the hook can hold the dispatcher after a given pass while the test queues
 * more work.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "embed/sched.h"
#include "embed_fixture.h"
#include "testing.h"

#define NTHREADS 6
#define NREQ 12
#define NREF 64
#define TRACE_MAX 4096

static fx_fixture g_fx;
static embed_model *g_m;
static embed_sched *g_s;
static float *g_ref; /* direct embed_encode vectors of the first NREF fixture texts */
static pthread_barrier_t g_bar;

/* ---- the trace: what the dispatcher ran, in order ------------------------------ */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    embed_sched_batch b[TRACE_MAX];
    char tenant[TRACE_MAX][16];
    size_t n;
    size_t hold;     /* the hook holds the dispatcher after pass number hold and later */
} g_tr;

static void tr_hook(void *ud, const embed_sched_batch *b)
{
    (void)ud;
    pthread_mutex_lock(&g_tr.mu);
    if (g_tr.n < TRACE_MAX) {
        g_tr.b[g_tr.n] = *b;
        snprintf(g_tr.tenant[g_tr.n], sizeof g_tr.tenant[0], "%s", b->tenant);
        g_tr.b[g_tr.n].tenant = g_tr.tenant[g_tr.n];
    }
    size_t me = ++g_tr.n;
    pthread_cond_broadcast(&g_tr.cv);
    while (me >= g_tr.hold)
        pthread_cond_wait(&g_tr.cv, &g_tr.mu);
    pthread_mutex_unlock(&g_tr.mu);
}

static void tr_reset(size_t hold)
{
    pthread_mutex_lock(&g_tr.mu);
    g_tr.n = 0;
    g_tr.hold = hold;
    pthread_mutex_unlock(&g_tr.mu);
}

static void tr_hold(size_t hold)
{
    pthread_mutex_lock(&g_tr.mu);
    g_tr.hold = hold;
    pthread_cond_broadcast(&g_tr.cv);
    pthread_mutex_unlock(&g_tr.mu);
}

static void tr_wait_passes(size_t n)
{
    pthread_mutex_lock(&g_tr.mu);
    while (g_tr.n < n)
        pthread_cond_wait(&g_tr.cv, &g_tr.mu);
    pthread_mutex_unlock(&g_tr.mu);
}

/* Wait until the scheduler holds `queued` requests of class c (polls the
 * counters; the dispatcher is held by the hook, so the count only grows). */
static void wait_queued(embed_class c, uint64_t queued, uint64_t tenants)
{
    for (;;) {
        embed_sched_stats st;
        embed_sched_get_stats(g_s, &st);
        if (st.cls[c].queued >= queued && st.tenants >= tenants)
            return;
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

static embed_sched *mk_sched(size_t bulk_tokens, size_t interactive_max)
{
    embed_sched_opts o;
    embed_sched_default_opts(&o);
    o.bulk_batch_tokens = bulk_tokens;
    o.interactive_max_tokens = interactive_max;
    o.on_batch = tr_hook;
    embed_sched *s = NULL;
    embed_sched_create(g_m, &o, &s);
    return s;
}

/* ---- clients ------------------------------------------------------------------ */

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

/* Encode fixture texts [from, from + n) (mod NREF) as w; count wrong vectors. */
static int encode_check(const embed_work *w, size_t from, size_t n)
{
    const char **tx = calloc(n, sizeof *tx);
    size_t *ln = calloc(n, sizeof *ln);
    float *out = malloc(n * 384 * sizeof *out);
    int *nt = malloc(n * sizeof *nt), bad = 0;
    for (size_t k = 0; k < n; k++) {
        tx[k] = g_fx.t[(from + k) % NREF].s;
        ln[k] = g_fx.t[(from + k) % NREF].len;
    }
    if (embed_sched_encode(g_s, w, tx, ln, n, out, nt, NULL) != 0)
        bad++;
    for (size_t k = 0; k < n; k++) {
        size_t i = (from + k) % NREF;
        if (cosine(out + k * 384, g_ref + i * 384) < 0.99999 || (size_t)nt[k] != g_fx.t[i].nids)
            bad++;
    }
    free(tx);
    free(ln);
    free(out);
    free(nt);
    return bad;
}

typedef struct job {
    embed_work w;
    size_t from, n;
    int bad;
    pthread_t th;
} job;

static void *job_main(void *arg)
{
    job *j = arg;
    j->bad = encode_check(&j->w, j->from, j->n);
    return NULL;
}

static void job_start(job *j, embed_class c, const char *tenant, size_t from, size_t n)
{
    j->w = (embed_work){ c, tenant };
    j->from = from;
    j->n = n;
    j->bad = 0;
    pthread_create(&j->th, NULL, job_main, j);
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg, bad = 0;
    pthread_barrier_wait(&g_bar);
    for (int r = 0; r < NREQ; r++)
        bad += encode_check(NULL, (size_t)(id * 7 + r * 3), 1 + (size_t)((id + r) % 3));
    return (void *)(intptr_t)bad;
}

/* ---- cases -------------------------------------------------------------------- */

TEST(concurrent_clients)
{
    embed_sched_opts o;
    embed_sched_default_opts(&o);
    o.window_us = 2000;
    ASSERT_OK(embed_sched_create(g_m, &o, &g_s));
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
    embed_sched_stats st;
    embed_sched_get_stats(g_s, &st);
    embed_sched_destroy(g_s);
    const embed_sched_class_stats *ic = &st.cls[EMBED_INTERACTIVE];
    fprintf(stderr, "  %llu requests in %llu batches\n", (unsigned long long)ic->requests,
            (unsigned long long)ic->batches);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(ic->requests, NTHREADS * NREQ);
    ASSERT_TRUE(ic->batches < ic->requests);
    ASSERT_TRUE(ic->tokens > ic->texts * 2);
    ASSERT_EQ_INT(ic->queued, 0);
    ASSERT_EQ_INT(ic->queued_tokens, 0);
    ASSERT_EQ_INT(ic->wait.count, NTHREADS * NREQ);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].requests, 0);
}

TEST(lone_caller_and_bad_input)
{
    ASSERT_OK(embed_sched_create(g_m, NULL, &g_s));
    const char *t = g_fx.t[3].s;
    size_t l = g_fx.t[3].len;
    float out[384];
    bool tr = true;
    ASSERT_OK(embed_sched_encode(g_s, NULL, &t, &l, 1, out, NULL, &tr));
    ASSERT_TRUE(!tr);
    ASSERT_TRUE(cosine(out, g_ref + 3 * 384) > 0.99999);
    ASSERT_EQ_INT(embed_sched_encode(g_s, NULL, &t, &l, 0, out, NULL, NULL), RAGD_EINVAL);
    const char *nul = NULL;
    ASSERT_EQ_INT(embed_sched_encode(g_s, NULL, &nul, &l, 1, out, NULL, NULL), RAGD_EINVAL);
    ASSERT_EQ_INT(embed_sched_run(g_s, NULL, NULL, NULL), RAGD_EINVAL);
    embed_sched_destroy(g_s);
}

/* A large bulk job is held after its first micro-batch; an interactive encode
 * and an interactive task queued then are served by the next two passes, while
 * the bulk job still has most of its micro-batches to go. */
TEST(interactive_overtakes_bulk)
{
    tr_reset(1);
    g_s = mk_sched(64, 0);
    job bulk, inter;
    job_start(&bulk, EMBED_BULK, "ns-a", 0, 48);
    tr_wait_passes(1);
    job_start(&inter, EMBED_INTERACTIVE, NULL, 5, 2);
    wait_queued(EMBED_INTERACTIVE, 1, 0);
    tr_hold(3); /* the interactive pass runs, then the dispatcher is held again */
    pthread_join(inter.th, NULL);
    embed_sched_stats st;
    embed_sched_get_stats(g_s, &st);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].queued, 1); /* the bulk job has not returned */
    ASSERT_TRUE(st.cls[EMBED_BULK].texts < 48);
    ASSERT_EQ_INT(inter.bad, 0);
    tr_hold(SIZE_MAX);
    pthread_join(bulk.th, NULL);
    embed_sched_get_stats(g_s, &st);
    embed_sched_destroy(g_s);
    ASSERT_EQ_INT(bulk.bad, 0);
    ASSERT_EQ_INT(g_tr.b[0].cls, EMBED_BULK);
    ASSERT_EQ_INT(g_tr.b[1].cls, EMBED_INTERACTIVE);
    ASSERT_EQ_INT(g_tr.b[1].texts, 2);
    ASSERT_TRUE(g_tr.n > 4); /* the bulk job ran as many micro-batches */
    for (size_t i = 2; i < g_tr.n; i++)
        ASSERT_EQ_INT(g_tr.b[i].cls, EMBED_BULK);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].texts, 48);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].requests, 1);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].queued_tokens, 0);
    ASSERT_EQ_INT(st.tenants, 0);
}

/* Every bulk micro-batch of more than one text stays within the token bound,
 * and the texts of the job add up. */
TEST(micro_batches_respect_token_bound)
{
    tr_reset(SIZE_MAX);
    g_s = mk_sched(100, 0);
    ASSERT_EQ_INT(encode_check(&(embed_work){ EMBED_BULK, "t" }, 0, NREF), 0);
    embed_sched_destroy(g_s);
    size_t texts = 0, multi = 0;
    for (size_t i = 0; i < g_tr.n; i++) {
        ASSERT_EQ_INT(g_tr.b[i].cls, EMBED_BULK);
        ASSERT_EQ_STR(g_tr.b[i].tenant, "t");
        ASSERT_TRUE(g_tr.b[i].texts >= 1);
        if (g_tr.b[i].texts > 1) {
            ASSERT_TRUE(g_tr.b[i].tokens <= 100);
            multi++;
        }
        texts += g_tr.b[i].texts;
    }
    ASSERT_EQ_INT(texts, NREF);
    ASSERT_TRUE(multi > 0); /* short texts were packed together */
}

/* Tenant a's job is held after its first micro-batch; tenant b's job queued
 * then gets the next one, and the two alternate until one of them is done. */
TEST(two_tenants_take_turns)
{
    tr_reset(1);
    g_s = mk_sched(64, 0);
    job a, b;
    job_start(&a, EMBED_BULK, "a", 0, 24);
    tr_wait_passes(1);
    job_start(&b, EMBED_BULK, "b", 24, 24);
    wait_queued(EMBED_BULK, 2, 2);
    tr_hold(SIZE_MAX);
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    embed_sched_destroy(g_s);
    ASSERT_EQ_INT(a.bad + b.bad, 0);
    size_t last_a = 0, last_b = 0;
    for (size_t i = 0; i < g_tr.n; i++) {
        if (g_tr.tenant[i][0] == 'a')
            last_a = i;
        else
            last_b = i;
    }
    size_t both = last_a < last_b ? last_a : last_b; /* passes while both had work */
    ASSERT_TRUE(both >= 3);
    ASSERT_EQ_STR(g_tr.tenant[0], "a");
    ASSERT_EQ_STR(g_tr.tenant[1], "b");
    for (size_t i = 0; i < both; i++)
        ASSERT_TRUE(strcmp(g_tr.tenant[i], g_tr.tenant[i + 1]) != 0);
}

/* Interactive requests queued while the dispatcher is busy share one pass. */
TEST(interactive_requests_merge)
{
    tr_reset(1);
    g_s = mk_sched(256, 0);
    job first, j[4];
    job_start(&first, EMBED_INTERACTIVE, NULL, 0, 1);
    tr_wait_passes(1);
    for (int i = 0; i < 4; i++)
        job_start(&j[i], EMBED_INTERACTIVE, NULL, 10 + (size_t)i * 3, 1 + (size_t)i % 2);
    wait_queued(EMBED_INTERACTIVE, 5, 0);
    tr_hold(SIZE_MAX);
    int bad = 0;
    pthread_join(first.th, NULL);
    for (int i = 0; i < 4; i++) {
        pthread_join(j[i].th, NULL);
        bad += j[i].bad;
    }
    embed_sched_destroy(g_s);
    ASSERT_EQ_INT(bad + first.bad, 0);
    ASSERT_EQ_INT(g_tr.n, 2);
    ASSERT_EQ_INT(g_tr.b[1].requests, 4);
    ASSERT_EQ_INT(g_tr.b[1].texts, 6);
}

/* The raw vectors of fixture texts [0, NREF) encoded as one bulk request. */
typedef struct bulk_run {
    float *out;
    int rc;
    pthread_t th;
} bulk_run;

static void *bulk_main(void *arg)
{
    bulk_run *b = arg;
    const char *tx[NREF];
    size_t ln[NREF];
    for (int i = 0; i < NREF; i++) {
        tx[i] = g_fx.t[i].s;
        ln[i] = g_fx.t[i].len;
    }
    b->rc = embed_sched_encode(g_s, &(embed_work){ EMBED_BULK, "t" }, tx, ln, NREF, b->out, NULL,
                               NULL);
    return NULL;
}

/* Wait until the dispatcher has taken `n` bulk micro-batches: it releases its
 * lock only once the pass has begun, so the n-th one is running or done. */
static void wait_bulk_started(uint64_t n)
{
    for (;;) {
        embed_sched_stats st;
        embed_sched_get_stats(g_s, &st);
        if (st.cls[EMBED_BULK].wait.count >= n)
            return;
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

/* A bulk request of one long micro-batch (every text in one forward pass) is
 * running when an interactive request arrives: the pass parks at its next
 * layer boundary, the interactive request is served in between (counted as a
 * preemption), and the bulk vectors are bit-identical to the same request run
 * alone. (If the pass ended before the request arrived there is nothing to
 * count: the attempt is repeated, a few times at most.) */
TEST(interactive_preempts_a_bulk_pass)
{
    tr_reset(SIZE_MAX);
    g_s = mk_sched(1 << 20, 0);
    bulk_run ref = { malloc(NREF * 384 * sizeof(float)), 0, 0 };
    bulk_main(&ref);
    ASSERT_OK(ref.rc);
    bulk_run got = { malloc(NREF * 384 * sizeof(float)), 0, 0 };
    embed_sched_stats st;
    int bad = 0, attempts = 0;
    do {
        attempts++;
        memset(got.out, 0, NREF * 384 * sizeof(float));
        pthread_create(&got.th, NULL, bulk_main, &got);
        wait_bulk_started((uint64_t)attempts + 1);
        bad += encode_check(NULL, 5, 2);
        pthread_join(got.th, NULL);
        embed_sched_get_stats(g_s, &st);
    } while (st.preemptions == 0 && attempts < 5);
    buf_t b = BUF_INIT;
    embed_sched_metrics_render(g_s, &b);
    embed_sched_destroy(g_s);
    bool shown = strstr(b.data, "# TYPE ragd_embed_preemptions_total counter\n") &&
                 strstr(b.data, "\nragd_embed_preemptions_total ");
    buf_free(&b);
    bool same = got.rc == 0 && memcmp(got.out, ref.out, NREF * 384 * sizeof(float)) == 0;
    free(ref.out);
    free(got.out);
    fprintf(stderr, "  %llu preemption(s) in %d attempt(s)\n",
            (unsigned long long)st.preemptions, attempts);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_TRUE(st.preemptions >= 1);
    ASSERT_TRUE(same);
    ASSERT_TRUE(shown);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].batches, attempts + 1); /* one pass per request */
    ASSERT_EQ_INT(st.cls[EMBED_INTERACTIVE].requests, attempts);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].queued_tokens, 0);
    ASSERT_EQ_INT(st.cls[EMBED_INTERACTIVE].queued, 0);
}

static int task_fn(void *ud)
{
    (*(int *)ud)++;
    return 7;
}

/* An EMBED_BY_SIZE encode above interactive_max_tokens runs as bulk under its
 * tenant, a small one and an explicitly interactive large one as interactive;
 * a task returns its own result. */
TEST(large_interactive_runs_as_bulk)
{
    tr_reset(SIZE_MAX);
    g_s = mk_sched(1000, 200); /* the 339 word pieces of texts 0-15 make one micro-batch */
    ASSERT_EQ_INT(encode_check(&(embed_work){ EMBED_BY_SIZE, "user-1" }, 0, 16), 0);
    ASSERT_EQ_INT(encode_check(&(embed_work){ EMBED_BY_SIZE, "user-1" }, 0, 1), 0);
    ASSERT_EQ_INT(encode_check(&(embed_work){ EMBED_INTERACTIVE, "user-1" }, 16, 16), 0);
    int calls = 0;
    ASSERT_EQ_INT(embed_sched_run(g_s, NULL, task_fn, &calls), 7);
    ASSERT_EQ_INT(embed_sched_run(g_s, &(embed_work){ EMBED_BULK, "x" }, task_fn, &calls), 7);
    embed_sched_stats st;
    embed_sched_get_stats(g_s, &st);
    buf_t b = BUF_INIT;
    embed_sched_metrics_render(g_s, &b);
    embed_sched_destroy(g_s);
    bool shown = strstr(b.data, "ragd_model_queue_depth{class=\"interactive\"} 0\n") &&
                 strstr(b.data, "ragd_model_queue_depth{class=\"bulk\"} 0\n") &&
                 strstr(b.data, "ragd_model_queue_wait_seconds_count{class=\"bulk\"} 2\n") &&
                 strstr(b.data, "ragd_model_forward_seconds_bucket{class=\"interactive\"") &&
                 strstr(b.data, "ragd_model_demoted_total 1\n");
    buf_free(&b);
    ASSERT_TRUE(shown);
    ASSERT_EQ_INT(calls, 2);
    ASSERT_EQ_INT(st.demoted, 1);
    ASSERT_EQ_INT(st.cls[EMBED_BULK].requests, 2);
    ASSERT_EQ_INT(st.cls[EMBED_INTERACTIVE].requests, 3);
    ASSERT_EQ_INT(g_tr.b[0].cls, EMBED_BULK);
    ASSERT_EQ_INT(g_tr.b[1].cls, EMBED_INTERACTIVE);
    ASSERT_EQ_INT(g_tr.b[2].cls, EMBED_INTERACTIVE);
    ASSERT_TRUE(g_tr.b[2].tokens > 200);
    ASSERT_EQ_STR(g_tr.b[0].tenant, "user-1");
    ASSERT_TRUE(g_tr.b[g_tr.n - 1].task);
    ASSERT_EQ_INT(g_tr.b[g_tr.n - 1].cls, EMBED_BULK);
}

int main(void)
{
    char dir[512];
    ragd_error err;
    pthread_mutex_init(&g_tr.mu, NULL);
    pthread_cond_init(&g_tr.cv, NULL);
    if (fx_model_dir(dir, sizeof dir) != 0 || fx_load(&g_fx) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (embed_model_open(dir, NULL, &g_m, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    const char *tx[NREF];
    size_t ln[NREF];
    for (int i = 0; i < NREF; i++) {
        tx[i] = g_fx.t[i].s;
        ln[i] = g_fx.t[i].len;
    }
    g_ref = malloc(NREF * 384 * sizeof *g_ref);
    if (embed_encode(g_m, tx, ln, NREF, g_ref, NULL, NULL) != 0)
        return 1;
    RUN(concurrent_clients);
    RUN(lone_caller_and_bad_input);
    RUN(interactive_overtakes_bulk);
    RUN(micro_batches_respect_token_bound);
    RUN(two_tenants_take_turns);
    RUN(interactive_requests_merge);
    RUN(large_interactive_runs_as_bulk);
    RUN(interactive_preempts_a_bulk_pass);
    free(g_ref);
    embed_model_close(g_m);
    fx_free(&g_fx);
    return TEST_REPORT();
}
