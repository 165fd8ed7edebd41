/*
 * hnsw.h - Hierarchical Navigable Small World graph (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using HNSW
 * graphs", TPAMI 2018) for one namespace's vectors: concurrent inserts and
 * searches, deletes that keep the graph navigable, filtered search that still
 * fills k (switching to an exact scan when the filter is selective), optional
 * int8 traversal with exact float re-scoring, and file snapshots.
 *
 * Ids are the caller's dense uint32 ids (the namespace's chunk ids); storage
 * grows in doubling segments, so an empty index costs a few hundred bytes.
 */
#ifndef RAGD_INDEX_HNSW_H
#define RAGD_INDEX_HNSW_H

#include "index/vec_types.h"

typedef struct hnsw hnsw;

typedef struct hnsw_params {
    uint32_t dim;
    vec_metric metric;        /* VEC_COSINE (default), VEC_IP or VEC_L2 */
    uint32_t M;               /* links per node on upper layers (layer 0: 2M); default 16 */
    uint32_t ef_construction; /* default 200 */
    uint32_t ef_search;       /* default 64 */
    bool int8;                /* traverse with int8 codes, re-score with floats */
    uint64_t seed;            /* level generator seed */
} hnsw_params;

typedef enum hnsw_mode {
    HNSW_AUTO = 0, /* graph, or exact scan when the filter is selective */
    HNSW_GRAPH,    /* always the graph */
    HNSW_EXACT,    /* always the exact scan */
} hnsw_mode;

typedef struct hnsw_search_opts {
    size_t k;              /* results wanted (>= 1) */
    uint32_t ef;           /* 0: the index's ef_search; raised to k if smaller */
    vec_filter_fn filter;  /* NULL: all live ids */
    void *filter_ud;
    int64_t n_match;       /* ids the filter accepts if the caller knows, else -1 */
    hnsw_mode mode;
} hnsw_search_opts;

typedef struct hnsw_stats {
    uint64_t count;        /* live vectors */
    uint64_t deleted;      /* tombstoned nodes still in the graph */
    uint32_t max_level;
    uint64_t memory_bytes; /* vectors, codes, links, bookkeeping */
    uint64_t exact_searches, graph_searches; /* how searches were served */
} hnsw_stats;

/* Defaults for dim: cosine, M 16, ef_construction 200, ef_search 64, float. */
hnsw_params hnsw_default_params(uint32_t dim);

/* Create an empty index. Caller destroys. */
int hnsw_create(const hnsw_params *params, hnsw **out);
void hnsw_destroy(hnsw *ix);

/* Insert a copy of v as id (Algorithm 1 with the Algorithm 4 heuristic).
 * RAGD_EEXISTS if id is live; a deleted id is re-inserted with the new vector.
 * Thread-safe: any number of inserts and searches may run at once. */
int hnsw_insert(hnsw *ix, uint32_t id, const float *v);

/* Delete id: it is never returned again; the neighbours that linked to it are
 * re-linked among its own neighbours (Algorithm 4) so the graph stays
 * navigable; the node stays as a tombstone that searches may pass through.
 * RAGD_ENOTFOUND if not live. Thread-safe. */
int hnsw_delete(hnsw *ix, uint32_t id);

/* Unlink every tombstone: live nodes that link to one get their lists
 * rebuilt (Algorithm 4 over their live links and the tombstone's), a new
 * entry point is chosen if needed, tombstones' lists are freed and their ids
 * become free (stats.deleted drops to 0). Not thread-safe: no other call on
 * ix may run meanwhile. */
int hnsw_vacuum(hnsw *ix);

/* k nearest live ids accepted by the filter, best first, into out (room for
 * opts->k). Returns k whenever at least k ids match. RAGD_EINVAL when k is 0
 * or k or ef is above VEC_K_MAX. Thread-safe. */
int hnsw_search(hnsw *ix, const float *q, const hnsw_search_opts *opts, vec_hit *out, size_t *n_out);

/* True if id is live. Thread-safe. */
bool hnsw_contains(hnsw *ix, uint32_t id);

/* Copy id's stored vector (normalised for cosine) into out[dim]. */
int hnsw_get_vector(hnsw *ix, uint32_t id, float *out);

/* Live count. Thread-safe. */
size_t hnsw_count(hnsw *ix);

void hnsw_get_stats(hnsw *ix, hnsw_stats *st);
hnsw_params hnsw_get_params(const hnsw *ix);

/* Change ef_search at run time. Thread-safe. */
void hnsw_set_ef_search(hnsw *ix, uint32_t ef);

/* Write a snapshot (graph, vectors, tombstones) to path atomically (temp file
 * + rename). Must not run concurrently with inserts/deletes (searches are
 * fine). Returns 0 or RAGD_EIO. */
int hnsw_save(hnsw *ix, const char *path);
/* hnsw_save without the fsync, for a caller that syncs the file itself later
 * (outside the lock that keeps writers away while the graph is written). */
int hnsw_save_nosync(hnsw *ix, const char *path);

/* Load a snapshot written by hnsw_save. Caller destroys *out. RAGD_EFORMAT
 * on a malformed file, RAGD_EIO / RAGD_ENOTFOUND on I/O errors. */
int hnsw_load(const char *path, hnsw **out);

#endif
