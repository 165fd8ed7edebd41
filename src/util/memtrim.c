/*
 * memtrim.c - the periodic malloc_trim thread and heap figures (memtrim.h).
 */
#include "util/memtrim.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "util/err.h"
#include "util/mem.h"

struct memtrim {
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int interval_ms;
    bool stop;
    unsigned long trims;  /* under mu */
};

static void memtrim__trim(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

static void *memtrim__main(void *arg)
{
    memtrim *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += t->interval_ms / 1000;
        ts.tv_nsec += (long)(t->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!t->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->mu);
        memtrim__trim();
        pthread_mutex_lock(&t->mu);
        t->trims++;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int memtrim_start(int interval_ms, memtrim **out)
{
    if (interval_ms <= 0)
        return RAGD_EINVAL;
    memtrim *t = xcalloc(1, sizeof *t);
    t->interval_ms = interval_ms;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thr, NULL, memtrim__main, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return RAGD_EIO;
    }
    *out = t;
    return RAGD_OK;
}

void memtrim_stop(memtrim *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thr, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

unsigned long memtrim_count(const memtrim *t)
{
    memtrim *m = (memtrim *)t;
    pthread_mutex_lock(&m->mu);
    unsigned long n = m->trims;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void memtrim_heap(size_t *in_use, size_t *held)
{
    *in_use = *held = 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    *in_use = mi.uordblks + mi.hblkhd;
    *held = mi.arena + mi.hblkhd;
#endif
}
