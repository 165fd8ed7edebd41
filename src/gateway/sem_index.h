/*
 * sem_index.h - the semantic cache's in-memory index: prompts' embeddings in
 * partitions (a partition = everything but the last user message, hashed),
 * each entry pointing at the exact-cache key that holds the answer. Bounded:
 * at most max_entries entries; when full, expired entries at the old end go
 * first, then the oldest. A partition is an exact (flat) scan while small and
 * becomes an HNSW graph (index/hnsw.h) once it reaches hnsw_threshold entries,
 * where a scan stops being cheap (docs/GATEWAY.md gives the measurement).
 *
 * Thread-safety: every function is thread-safe. One rwlock guards the
 * partition table, the entries and the age list; lookups share it, adds and
 * removes take it alone (each is O(1) plus one index insert or delete).
 */
#ifndef RAGD_GW_SEM_INDEX_H
#define RAGD_GW_SEM_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct gw_semidx gw_semidx;

/* Below this many entries a partition is scanned; at it, it becomes HNSW. */
#define GW_SEMIDX_HNSW_THRESHOLD 2048

typedef struct gw_semidx_opts {
    size_t dim;             /* vector dimension (> 0) */
    size_t max_entries;     /* entries kept (0 = the index stays empty) */
    size_t hnsw_threshold;  /* 0 = GW_SEMIDX_HNSW_THRESHOLD */
} gw_semidx_opts;

/* Create an empty index. Caller owns *out (gw_semidx_destroy). RAGD_EINVAL
 * for dim 0. */
int gw_semidx_create(const gw_semidx_opts *o, gw_semidx **out);
void gw_semidx_destroy(gw_semidx *ix);

/* One entry as the caller gives it (all borrowed for the call). */
typedef struct gw_semidx_entry {
    const char *partition;  /* at most 64 characters */
    const char *skey;       /* the exact-cache key holding the answer */
    const char *prompt;     /* the last user message (for the guard) */
    const float *vec;       /* dim floats */
    int64_t expire_at_ms;   /* wall clock; 0 = never */
} gw_semidx_entry;

/* Add e (copies everything), or refresh the entry of the same (partition,
 * skey): new expiry, youngest again. An entry already expired at now_ms is
 * not added (RAGD_ENOTFOUND). Makes room first as described above. */
int gw_semidx_add(gw_semidx *ix, const gw_semidx_entry *e, int64_t now_ms);

/* Remove the entry (partition, skey). RAGD_ENOTFOUND if absent. */
int gw_semidx_remove(gw_semidx *ix, const char *partition, const char *skey);

/* Drop every entry (a rebuild starts from here). */
void gw_semidx_clear(gw_semidx *ix);

/* A candidate's prompt is acceptable to the caller (the guard). */
typedef bool (*gw_semidx_accept_fn)(void *ud, const char *prompt);

/* The nearest live (unexpired at now_ms) entry of partition with similarity
 * >= threshold that accept (NULL: any) takes, among the few nearest: its skey
 * into skey[n] and similarity into *sim. RAGD_ENOTFOUND if none. */
int gw_semidx_lookup(gw_semidx *ix, const char *partition, const float *vec, double threshold,
                     int64_t now_ms, gw_semidx_accept_fn accept, void *ud, char *skey, size_t n,
                     float *sim);

/* One neighbour found by gw_semidx_search. */
typedef struct gw_semidx_hit {
    char *skey;             /* owned by the caller (free) */
    float sim;              /* cosine similarity */
} gw_semidx_hit;

/* Up to k (1..GW_SEMIDX_K_MAX) live entries of partition nearest to vec with
 * similarity >= threshold, best first, into hits[0..*n) (room for k). No
 * guard. A k at or above the partition's size reads all of it (an HNSW graph
 * then answers with its exact scan). *more (may be NULL) is set when the
 * search stopped at k with its k-th neighbour still within the threshold, so
 * entries beyond may qualify too; false means every live entry within the
 * threshold was read. The caller frees each hits[i].skey. */
#define GW_SEMIDX_K_MAX ((size_t)1 << 24)
int gw_semidx_search(gw_semidx *ix, const char *partition, const float *vec, double threshold,
                     size_t k, int64_t now_ms, gw_semidx_hit *hits, size_t *n, bool *more);

typedef struct gw_semidx_stats {
    uint64_t entries;          /* in the index now */
    uint64_t partitions;       /* partitions now */
    uint64_t hnsw_partitions;  /* of which HNSW graphs */
    uint64_t evictions;        /* entries that left for room (oldest first) */
    uint64_t expired;          /* expired entries dropped to make room */
    uint64_t max_entries;
} gw_semidx_stats;

void gw_semidx_get_stats(gw_semidx *ix, gw_semidx_stats *out);

#endif
