/*
 * threadpool.h - a fixed compute pool for data-parallel kernels (plan, then run
 * N tasks across the threads, as ggml does). The caller's thread works too, so a
 * pool of n threads starts n-1 workers. Workers spin briefly before sleeping,
 * which keeps the hand-off cheap for the many short phases of a model forward.
 */
#ifndef RAGD_THREADPOOL_H
#define RAGD_THREADPOOL_H

#include <stddef.h>

typedef struct threadpool threadpool;

/* Called once per task index in [0, ntasks); thread is in [0, nthreads). */
typedef void (*threadpool_fn)(void *ctx, size_t task, int thread);

/* Create a pool of nthreads (>= 1; 0 means the online CPU count). *out is
 * owned by the caller (threadpool_destroy). Returns 0 or RAGD_EINVAL/RAGD_EIO. */
int threadpool_create(int nthreads, threadpool **out);

/* Join the workers and free. NULL is a no-op. Not while a run is in flight. */
void threadpool_destroy(threadpool *tp);

int threadpool_size(const threadpool *tp);

/* Run fn(ctx, task, thread) for every task and return when all are done.
 * Thread-safe: concurrent runs are serialised on the pool. Tasks are taken
 * dynamically, so uneven tasks balance. */
void threadpool_run(threadpool *tp, size_t ntasks, threadpool_fn fn, void *ctx);

#endif
