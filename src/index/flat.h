/*
 * flat.h - exact vector search: vectors kept densely by caller id and scanned
 * with the SIMD kernels into a top-k heap, the caller's filter applied per id.
 * Used where sets stay small (the gateway's semantic cache partitions); the
 * HNSW search (hnsw.h) runs its own exact scan for very selective filters.
 */
#ifndef RAGD_INDEX_FLAT_H
#define RAGD_INDEX_FLAT_H

#include "index/vec_types.h"

typedef struct flat flat;

/* Empty index of dim-dimensional vectors. Caller destroys. No allocation
 * beyond the handle until the first add. */
int flat_create(size_t dim, vec_metric metric, flat **out);
void flat_destroy(flat *fx);

/* Store a copy of v under id (dense caller ids; cosine normalises).
 * RAGD_EEXISTS if present. Thread-safe (write lock). */
int flat_add(flat *fx, uint32_t id, const float *v);

/* Remove id (RAGD_ENOTFOUND if absent). Thread-safe (write lock). */
int flat_delete(flat *fx, uint32_t id);

/* Exact top-k (best first) into out[0..*n_out); fewer only when fewer pass
 * the filter. RAGD_EINVAL when k is 0 or above VEC_K_MAX. Thread-safe:
 * concurrent searches share a read lock. */
int flat_search(flat *fx, const float *q, size_t k, vec_filter_fn filter, void *ud, vec_hit *out,
                size_t *n_out);

/* Copy id's stored vector (normalised for cosine) into out[dim].
 * RAGD_ENOTFOUND if absent. Thread-safe. */
int flat_get(flat *fx, uint32_t id, float *out);

/* Number of vectors stored. Thread-safe. */
size_t flat_count(flat *fx);

/* Visit every stored (id, vector) in id order (vector borrowed for the call).
 * Holds the read lock; fn must not call into fx. Returns fn's first non-zero. */
int flat_foreach(flat *fx, int (*fn)(void *ud, uint32_t id, const float *v), void *ud);

/* Approximate heap bytes. Thread-safe. */
size_t flat_memory(flat *fx);

/* Distance between q and v under metric m (smaller is closer), for vectors
 * already prepared (cosine: both unit length). Thread-safe. */
float flat_distance(vec_metric m, const float *q, const float *v, size_t dim);

#endif
