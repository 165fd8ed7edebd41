/*
 * hnsw_int.h - the guts of the HNSW index shared by hnsw_build.c,
 * hnsw_search.c, hnsw_delete.c and hnsw_persist.c.
 *
 * Nodes live in segments of doubling size (64, 64, 128, 256, ... nodes) that
 * are allocated on first use and published with a release store, so ids map
 * to memory without a global lock and without moving anything. Concurrency
 * (as hnswlib): writers of a node's link list take that node's spinlock;
 * readers take no lock - a list is a count (stored with release) and ids
 * (each a node already published), so a reader sees an old or a new list,
 * never an invalid id. The entry point and top level are under ep_lock.
 */
#ifndef RAGD_INDEX_HNSW_INT_H
#define RAGD_INDEX_HNSW_INT_H

#include <pthread.h>

#include "index/hnsw.h"
#include "index/vec_kernels.h"

#define HNSW_SEG0 64u
#define HNSW_MAX_SEGS 28
#define HNSW_MAX_LEVEL 16

enum { HNSW_PRESENT = 1, HNSW_DELETED = 2 };

typedef struct hnsw_seg {
    uint32_t size;
    void *nodes_raw;  /* allocation behind nodes (which is 64-byte aligned) */
    char *nodes;      /* size * stride: per node its vector, then its layer-0
                         list [count, ids...] (adjacent, as in hnswlib) */
    int8_t *codes;    /* size * dim, int8 mode */
    float *scales;    /* size, int8 mode */
    uint32_t **upper; /* size: levels 1..L as L * (M + 1) */
    uint8_t *level;
    uint8_t *flags;   /* HNSW_PRESENT | HNSW_DELETED, atomic */
    uint8_t *locks;   /* spinlocks guarding writes of the node's lists */
} hnsw_seg;

typedef struct hnsw_visited {
    uint32_t *tags;
    uint32_t cap, epoch;
} hnsw_visited;

struct hnsw {
    hnsw_params p;
    uint32_t M0;           /* layer-0 max links (2M) */
    size_t stride;         /* bytes per node in a segment (multiple of 64) */
    double mult;           /* level multiplier 1/ln(M) */
    const vec_kernels *k;
    hnsw_seg *segs[HNSW_MAX_SEGS];
    pthread_mutex_t seg_lock; /* allocation of segments */
    pthread_mutex_t ep_lock;  /* entry, max_level */
    uint32_t entry;           /* UINT32_MAX when empty */
    int max_level;
    uint32_t id_limit;        /* 1 + largest id ever inserted (atomic) */
    uint64_t count, deleted;  /* atomic */
    uint64_t rng;             /* atomic counter for level draws */
    uint32_t ef_search;       /* atomic */
    uint64_t n_exact, n_graph; /* searches served each way (atomic) */
    pthread_mutex_t vis_lock; /* pool of visited lists */
    hnsw_visited **vis;
    size_t vis_n, vis_cap;
};

static inline uint32_t hnsw__seg_of(uint32_t id, uint32_t *off)
{
    if (id < HNSW_SEG0) {
        *off = id;
        return 0;
    }
    uint32_t s = 32u - (uint32_t)__builtin_clz(id >> 6);
    *off = id - (HNSW_SEG0 << (s - 1));
    return s;
}

/* Segment of id if allocated, else NULL (acquire). */
static inline hnsw_seg *hnsw__seg(const hnsw *ix, uint32_t id, uint32_t *off)
{
    uint32_t s = hnsw__seg_of(id, off);
    return __atomic_load_n(&ix->segs[s], __ATOMIC_ACQUIRE);
}

static inline uint8_t hnsw__flags(const hnsw *ix, uint32_t id)
{
    if (id >= __atomic_load_n(&ix->id_limit, __ATOMIC_ACQUIRE))
        return 0;
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    return sg ? __atomic_load_n(&sg->flags[off], __ATOMIC_ACQUIRE) : 0;
}

static inline const float *hnsw__vec(const hnsw *ix, uint32_t id)
{
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    return (const float *)(sg->nodes + (size_t)off * ix->stride);
}

static inline const int8_t *hnsw__code(const hnsw *ix, uint32_t id)
{
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    return sg->codes + (size_t)off * ix->p.dim;
}

/* Link list of id at level: [count, ids...]. */
static inline uint32_t *hnsw__links(const hnsw *ix, uint32_t id, int level)
{
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    if (level == 0)
        return (uint32_t *)(sg->nodes + (size_t)off * ix->stride + (size_t)ix->p.dim * sizeof(float));
    return sg->upper[off] + (size_t)(level - 1) * (ix->p.M + 1);
}

static inline int hnsw__level(const hnsw *ix, uint32_t id)
{
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    return sg->level[off];
}

static inline uint8_t *hnsw__lockp(const hnsw *ix, uint32_t id)
{
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    return &sg->locks[off];
}

static inline void hnsw__lock(const hnsw *ix, uint32_t id)
{
    uint8_t *l = hnsw__lockp(ix, id);
    while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static inline void hnsw__unlock(const hnsw *ix, uint32_t id)
{
    __atomic_clear(hnsw__lockp(ix, id), __ATOMIC_RELEASE);
}

/* Lock-free copy of a link list into out (room for M0); returns the count.
 * Each id is read with acquire, pairing with the release that stored it: a
 * reader that finds an id has the writes made before it was linked (its
 * vector) visible, even when a pruned list kept its count and the count's
 * acquire paired with an older store. On x86 both are plain moves. */
static inline uint32_t hnsw__read_links(const hnsw *ix, uint32_t id, int level, uint32_t *out)
{
    const uint32_t *l = hnsw__links(ix, id, level);
    uint32_t n = __atomic_load_n(&l[0], __ATOMIC_ACQUIRE);
    uint32_t cap = level ? ix->p.M : ix->M0;
    if (n > cap)
        n = cap;
    for (uint32_t i = 0; i < n; i++)
        out[i] = __atomic_load_n(&l[1 + i], __ATOMIC_ACQUIRE);
    return n;
}

/* Replace a link list (caller holds the node's lock). */
static inline void hnsw__write_links(const hnsw *ix, uint32_t id, int level, const uint32_t *ids, uint32_t n)
{
    uint32_t *l = hnsw__links(ix, id, level);
    for (uint32_t i = 0; i < n; i++)
        __atomic_store_n(&l[1 + i], ids[i], __ATOMIC_RELEASE);
    __atomic_store_n(&l[0], n, __ATOMIC_RELEASE);
}

/* Exact distance between a prepared query and a node / two stored nodes. */
static inline float hnsw__dist_q(const hnsw *ix, const float *q, uint32_t id)
{
    const float *v = hnsw__vec(ix, id);
    switch (ix->p.metric) {
    case VEC_COSINE:
        return 1.0f - ix->k->dot_f32(q, v, ix->p.dim);
    case VEC_IP:
        return -ix->k->dot_f32(q, v, ix->p.dim);
    default:
        return ix->k->l2sq_f32(q, v, ix->p.dim);
    }
}

float hnsw__dist_nodes(const hnsw *ix, uint32_t a, uint32_t b);

/* qsort order of candidates: distance ascending, then id. */
int hnsw__cmp_cand(const void *a, const void *b);

/* Algorithm 4 (SELECT-NEIGHBORS-HEURISTIC, no extension, no kept pruned):
 * c[0..n) sorted by distance ascending on entry; keeps at most m in c,
 * returns how many. */
size_t hnsw__select_heuristic(const hnsw *ix, vec_cand *c, size_t n, size_t m);

/* Search context of one thread for one call. */
typedef struct hnsw_ctx {
    const float *q;       /* prepared query (normalised for cosine) */
    const int8_t *qc;     /* int8 code of q, or NULL for float traversal */
    float qs;             /* its scale */
    hnsw_visited *vis;
    vec_cand *cand, *res; /* candidate min-heap, result max-heap */
    size_t cand_cap, res_cap, n_res;
    uint32_t nbuf[2 * 256 + 2];
    vec_filter_fn filter; /* results: live (not deleted) ids the filter accepts */
    void *filter_ud;
    bool check_flags;     /* false when nothing is deleted: every linked node is live */
} hnsw_ctx;

void hnsw__ctx_init(hnsw *ix, hnsw_ctx *c, const float *q, size_t ef);
void hnsw__ctx_deinit(hnsw *ix, hnsw_ctx *c);

/* Greedy descent (ef = 1) from ep through levels top..stop+1; returns the id. */
uint32_t hnsw__descend(const hnsw *ix, hnsw_ctx *c, uint32_t ep, int top, int stop);

/* Algorithm 2 (SEARCH-LAYER) from ep at level; results (accepted nodes only)
 * in c->res as a max-heap of c->n_res <= ef entries. */
void hnsw__search_layer(const hnsw *ix, hnsw_ctx *c, uint32_t ep, size_t ef, int level);

/* Node allocation helpers used by insert and load (NULL: out of memory). */
hnsw_seg *hnsw__seg_alloc(hnsw *ix, uint32_t id, uint32_t *off);
void hnsw__bump_limit(hnsw *ix, uint32_t id);

#endif
