/*
 * test_memtrim.c - the periodic heap trim: the thread trims while heap is
 * allocated and freed from other threads, stops promptly, refuses a zero
 * interval, and the heap figures are consistent (held >= in use; under ASan,
 * whose allocator glibc's figures do not see, both may be zero).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testing.h"
#include "util/err.h"
#include "util/memtrim.h"

/* Scattered allocations and frees, as HTTP threads make them. */
static void *churn(void *arg)
{
    (void)arg;
    enum { N = 4000 };
    void **p = calloc(N, sizeof *p);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            p[i] = malloc((size_t)(64 + (i * 7919) % 4000));
            memset(p[i], i & 0xff, 64);
        }
        for (int i = 0; i < N; i += 2)
            free(p[i]);
        for (int i = 1; i < N; i += 2)
            free(p[i]);
    }
    free(p);
    return NULL;
}

TEST(trims_while_other_threads_churn)
{
    memtrim *t = NULL;
    ASSERT_OK(memtrim_start(5, &t));
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, churn, NULL), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    /* progress, not time: wait (boundedly) for two trims */
    for (int i = 0; i < 2000 && memtrim_count(t) < 2; i++)
        usleep(5000);
    ASSERT_TRUE(memtrim_count(t) >= 2);
    memtrim_stop(t);
}

TEST(heap_figures_are_consistent)
{
    size_t used = 1, held = 1;
    void *big = malloc(8 << 20);
    memset(big, 1, 8 << 20);
    memtrim_heap(&used, &held);
    ASSERT_TRUE(held >= used);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    ASSERT_TRUE(used >= (size_t)(8 << 20));
#endif
    free(big);
}

TEST(bad_interval_and_null)
{
    memtrim *t = NULL;
    ASSERT_EQ_INT(memtrim_start(0, &t), RAGD_EINVAL);
    ASSERT_TRUE(t == NULL);
    memtrim_stop(NULL);
}

int main(void)
{
    RUN(trims_while_other_threads_churn);
    RUN(heap_figures_are_consistent);
    RUN(bad_interval_and_null);
    return TEST_REPORT();
}
