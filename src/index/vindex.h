/*
 * vindex.h - a namespace's vector index: starts as an exact flat scan (cheap
 * for the many small namespaces) and turns into an HNSW graph once it holds
 * more than flat_max vectors; a search on the graph still falls back to an
 * exact scan by itself when the filter is selective (hnsw.h). The namespace
 * layer talks to this facade only.
 */
#ifndef RAGD_INDEX_VINDEX_H
#define RAGD_INDEX_VINDEX_H

#include "index/hnsw.h"

typedef struct vindex vindex;

typedef struct vindex_params {
    hnsw_params hnsw;  /* dim, metric, M, ef_construction, ef_search, int8 */
    size_t flat_max;   /* become a graph above this many vectors; default 2000 */
} vindex_params;

vindex_params vindex_default_params(uint32_t dim);

/* Create an empty (flat) index. Caller destroys. */
int vindex_create(const vindex_params *params, vindex **out);
void vindex_destroy(vindex *vx);

/* Add a copy of v as id (dense caller ids). RAGD_EEXISTS if live. The add
 * that crosses flat_max builds the graph (searches wait for it). Thread-safe. */
int vindex_add(vindex *vx, uint32_t id, const float *v);

/* Delete id; RAGD_ENOTFOUND if not live. Thread-safe. */
int vindex_delete(vindex *vx, uint32_t id);

/* k best live ids accepted by opts->filter, best first (see hnsw_search;
 * opts->mode and ef apply in graph mode). Thread-safe, concurrent. */
int vindex_search(vindex *vx, const float *q, const hnsw_search_opts *opts, vec_hit *out, size_t *n_out);

size_t vindex_count(vindex *vx);
bool vindex_is_graph(vindex *vx);
size_t vindex_memory(vindex *vx);

/* Snapshot to path (a flat index is written as a graph). Not concurrent with
 * writers. vindex_load returns a graph-mode index. */
int vindex_save(vindex *vx, const char *path);
int vindex_load(const char *path, size_t flat_max, vindex **out);

#endif
