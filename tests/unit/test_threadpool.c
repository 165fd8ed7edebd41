/*
 * test_threadpool.c - the compute pool: every task of a run runs exactly once
 * with a thread index in range, the run returns only when all are done (their
 * writes visible), a pool of one runs on the caller, many short runs in a row
 * (the spin/sleep hand-off), and runs from several threads at once are each
 * completed (they are serialised on the pool). Uses atomics, no timing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "testing.h"
#include "util/err.h"
#include "util/threadpool.h"

typedef struct job {
    atomic_int *hits;      /* per task */
    int nthreads;
    atomic_int bad_thread; /* a thread index out of range was seen */
    atomic_int caller_only;
    pthread_t caller;
    long *out;             /* plain writes, checked after the run */
} job;

static void task(void *ctx, size_t t, int thread)
{
    job *j = ctx;
    atomic_fetch_add(&j->hits[t], 1);
    if (thread < 0 || thread >= j->nthreads)
        atomic_store(&j->bad_thread, 1);
    if (!pthread_equal(pthread_self(), j->caller))
        atomic_store(&j->caller_only, 0);
    if (j->out)
        j->out[t] = (long)t * 3;
}

static void job_init(job *j, size_t n, int nthreads, long *out)
{
    memset(j, 0, sizeof *j);
    j->hits = calloc(n, sizeof *j->hits);
    j->nthreads = nthreads;
    j->caller = pthread_self();
    atomic_store(&j->caller_only, 1);
    j->out = out;
}

TEST(every_task_once_and_results_visible)
{
    threadpool *tp = NULL;
    ASSERT_OK(threadpool_create(4, &tp));
    ASSERT_EQ_INT(threadpool_size(tp), 4);
    size_t n = 10007;
    long *out = calloc(n, sizeof *out);
    job j;
    job_init(&j, n, 4, out);
    threadpool_run(tp, n, task, &j);
    for (size_t t = 0; t < n; t++) {
        ASSERT_EQ_INT(atomic_load(&j.hits[t]), 1);
        ASSERT_EQ_INT(out[t], (long)t * 3);
    }
    ASSERT_TRUE(!atomic_load(&j.bad_thread));
    threadpool_run(tp, 0, task, &j);  /* no tasks: returns at once, calls nothing */
    for (size_t t = 0; t < n; t++)
        ASSERT_EQ_INT(atomic_load(&j.hits[t]), 1);
    free(j.hits);
    free(out);
    threadpool_destroy(tp);
    threadpool_destroy(NULL);
}

TEST(a_pool_of_one_runs_on_the_caller)
{
    threadpool *tp = NULL;
    ASSERT_OK(threadpool_create(1, &tp));
    job j;
    job_init(&j, 100, 1, NULL);
    threadpool_run(tp, 100, task, &j);
    for (int t = 0; t < 100; t++)
        ASSERT_EQ_INT(atomic_load(&j.hits[t]), 1);
    ASSERT_TRUE(atomic_load(&j.caller_only));
    free(j.hits);
    threadpool_destroy(tp);
    /* 0 = one thread per online CPU */
    ASSERT_OK(threadpool_create(0, &tp));
    ASSERT_TRUE(threadpool_size(tp) >= 1);
    threadpool_destroy(tp);
    ASSERT_EQ_INT(threadpool_create(5000, &tp), RAGD_EINVAL);
}

TEST(many_short_runs)
{
    threadpool *tp = NULL;
    ASSERT_OK(threadpool_create(3, &tp));
    job j;
    job_init(&j, 7, 3, NULL);
    int want[7] = { 0 };
    for (int r = 0; r < 20000; r++) {
        size_t k = 1 + (size_t)(r % 7);
        threadpool_run(tp, k, task, &j);
        for (size_t t = 0; t < k; t++)
            want[t]++;
    }
    for (int t = 0; t < 7; t++)
        ASSERT_EQ_INT(atomic_load(&j.hits[t]), want[t]);
    ASSERT_TRUE(!atomic_load(&j.bad_thread));
    free(j.hits);
    threadpool_destroy(tp);
}

typedef struct runner {
    threadpool *tp;
    job j;
} runner;

static void *run_many(void *arg)
{
    runner *r = arg;
    for (int k = 0; k < 200; k++)
        threadpool_run(r->tp, 64, task, &r->j);
    return NULL;
}

TEST(concurrent_runs_are_each_completed)
{
    threadpool *tp = NULL;
    ASSERT_OK(threadpool_create(3, &tp));
    enum { R = 4 };
    runner rs[R];
    pthread_t th[R];
    for (int i = 0; i < R; i++) {
        rs[i].tp = tp;
        job_init(&rs[i].j, 64, 3, NULL);
        ASSERT_TRUE(pthread_create(&th[i], NULL, run_many, &rs[i]) == 0);
    }
    for (int i = 0; i < R; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < R; i++) {
        for (int t = 0; t < 64; t++)
            ASSERT_EQ_INT(atomic_load(&rs[i].j.hits[t]), 200);
        ASSERT_TRUE(!atomic_load(&rs[i].j.bad_thread));
        free(rs[i].j.hits);
    }
    threadpool_destroy(tp);
}

int main(void)
{
    RUN(every_task_once_and_results_visible);
    RUN(a_pool_of_one_runs_on_the_caller);
    RUN(many_short_runs);
    RUN(concurrent_runs_are_each_completed);
    return TEST_REPORT();
}
