/*
 * threadpool.c - workers wait for a new generation number (spin, then a
 * condition variable), join the run unless the caller already closed it, grab
 * task indices from an atomic counter and count themselves done. The caller
 * works too and, once the tasks are gone, closes the run and waits only for
 * workers that joined: a worker that is descheduled or asleep (the machine may
 * be shared) never delays a run it did not take part in.
 */
#include "util/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"

#define TP_SPIN 4000
#define TP_CLOSED 0x80000000u

#if defined(__x86_64__) || defined(__i386__)
#define tp__relax() __builtin_ia32_pause()
#else
#define tp__relax() __asm__ volatile("" ::: "memory")
#endif

struct threadpool {
    int n;
    pthread_t *th;
    pthread_mutex_t run_lock; /* one run at a time */
    pthread_mutex_t mu;       /* guards gen/quit for the sleepers */
    pthread_cond_t cv;
    unsigned gen;             /* bumped per run (atomic) */
    int quit;                 /* atomic (sleepers read it under mu) */
    threadpool_fn fn;
    void *ctx;
    size_t ntasks;
    size_t next;              /* next task (atomic) */
    unsigned state;           /* workers joined | TP_CLOSED (atomic) */
    unsigned done;            /* joined workers finished (atomic) */
};

typedef struct tp__arg {
    threadpool *tp;
    int id;
} tp__arg;

static void tp__work(threadpool *tp, int id)
{
    size_t t;
    while ((t = __atomic_fetch_add(&tp->next, 1, __ATOMIC_RELAXED)) < tp->ntasks)
        tp->fn(tp->ctx, t, id);
}

static void *tp__main(void *varg)
{
    tp__arg *a = varg;
    threadpool *tp = a->tp;
    int id = a->id;
    free(a);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = __atomic_load_n(&tp->gen, __ATOMIC_ACQUIRE)) == seen &&
               !__atomic_load_n(&tp->quit, __ATOMIC_ACQUIRE) && spins < TP_SPIN) {
            tp__relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&tp->mu);
            while ((g = __atomic_load_n(&tp->gen, __ATOMIC_ACQUIRE)) == seen && !tp->quit)
                pthread_cond_wait(&tp->cv, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (__atomic_load_n(&tp->quit, __ATOMIC_ACQUIRE))
            return NULL;
        seen = g;
        unsigned st = __atomic_load_n(&tp->state, __ATOMIC_ACQUIRE);
        while (!(st & TP_CLOSED) && !__atomic_compare_exchange_n(&tp->state, &st, st + 1, 0,
                                                                  __ATOMIC_ACQ_REL,
                                                                  __ATOMIC_ACQUIRE))
            ;
        if (st & TP_CLOSED)
            continue;
        tp__work(tp, id);
        __atomic_fetch_add(&tp->done, 1, __ATOMIC_ACQ_REL);
    }
}

int threadpool_create(int nthreads, threadpool **out)
{
    if (nthreads <= 0)
        nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads <= 0 || nthreads > 1024)
        return RAGD_EINVAL;
    threadpool *tp = xcalloc(1, sizeof *tp);
    tp->n = nthreads;
    tp->th = xcalloc((size_t)nthreads, sizeof *tp->th);
    pthread_mutex_init(&tp->run_lock, NULL);
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    for (int i = 1; i < nthreads; i++) {
        tp__arg *a = xmalloc(sizeof *a);
        a->tp = tp;
        a->id = i;
        if (pthread_create(&tp->th[i], NULL, tp__main, a) != 0) {
            free(a);
            tp->n = i;
            threadpool_destroy(tp);
            return RAGD_EIO;
        }
    }
    *out = tp;
    return 0;
}

void threadpool_destroy(threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    __atomic_store_n(&tp->quit, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n; i++)
        pthread_join(tp->th[i], NULL);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
    pthread_mutex_destroy(&tp->run_lock);
    free(tp->th);
    free(tp);
}

int threadpool_size(const threadpool *tp)
{
    return tp->n;
}

void threadpool_run(threadpool *tp, size_t ntasks, threadpool_fn fn, void *ctx)
{
    if (ntasks == 0)
        return;
    pthread_mutex_lock(&tp->run_lock);
    if (tp->n == 1 || ntasks == 1) {
        for (size_t t = 0; t < ntasks; t++)
            fn(ctx, t, 0);
        pthread_mutex_unlock(&tp->run_lock);
        return;
    }
    tp->fn = fn;
    tp->ctx = ctx;
    tp->ntasks = ntasks;
    __atomic_store_n(&tp->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tp->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tp->state, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&tp->mu);
    __atomic_fetch_add(&tp->gen, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    tp__work(tp, 0);
    unsigned joined = __atomic_fetch_or(&tp->state, TP_CLOSED, __ATOMIC_ACQ_REL) & ~TP_CLOSED;
    for (int spins = 0; __atomic_load_n(&tp->done, __ATOMIC_ACQUIRE) < joined; spins++) {
        if (spins < 2000)
            tp__relax();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&tp->run_lock);
}
