/*
 * hnsw_delete.c - deleting from HNSW. The node becomes a tombstone (never
 * returned, still walkable, so in-links from anywhere stay valid), and every
 * out-neighbour that linked back to it gets its list rebuilt from its other
 * links plus the deleted node's links, with the Algorithm 4 heuristic - the
 * repair hnswlib and pgvector's vacuum do - so the graph stays navigable.
 * The id may later be re-inserted (hnsw_insert reuses the node).
 */
#include <stdlib.h>

#include "index/hnsw_int.h"
#include "util/err.h"

static int hnsw__cmp_cand(const void *a, const void *b)
{
    const vec_cand *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Rebuild n's list at level without x, offering x's neighbours xs[0..nx). */
static void hnsw__repair(hnsw *ix, uint32_t n, uint32_t x, const uint32_t *xs, uint32_t nx, int level)
{
    uint32_t cap = level ? ix->p.M : ix->M0;
    uint32_t cur[2 * 256 + 2];
    vec_cand c[4 * 256 + 4];
    hnsw__lock(ix, n);
    uint32_t cnt = hnsw__read_links(ix, n, level, cur);
    bool linked = false;
    for (uint32_t i = 0; i < cnt; i++)
        linked |= cur[i] == x;
    if (!linked) {
        hnsw__unlock(ix, n);
        return;
    }
    size_t nc = 0;
    for (uint32_t i = 0; i < cnt; i++)
        if (cur[i] != x)
            c[nc++] = (vec_cand){hnsw__dist_nodes(ix, n, cur[i]), cur[i]};
    for (uint32_t i = 0; i < nx; i++) {
        uint32_t e = xs[i];
        if (e == n || e == x || hnsw__flags(ix, e) != HNSW_PRESENT || hnsw__level(ix, e) < level)
            continue;
        bool dup = false;
        for (uint32_t j = 0; j < cnt && !dup; j++)
            dup = cur[j] == e;
        if (!dup)
            c[nc++] = (vec_cand){hnsw__dist_nodes(ix, n, e), e};
    }
    qsort(c, nc, sizeof *c, hnsw__cmp_cand);
    size_t kept = hnsw__select_heuristic(ix, c, nc, cap);
    for (size_t i = 0; i < kept; i++)
        cur[i] = c[i].id;
    hnsw__write_links(ix, n, level, cur, (uint32_t)kept);
    hnsw__unlock(ix, n);
}

int hnsw_delete(hnsw *ix, uint32_t id)
{
    if (!ix)
        return RAGD_EINVAL;
    if (hnsw__flags(ix, id) == 0)
        return RAGD_ENOTFOUND;
    uint32_t off;
    hnsw_seg *sg = hnsw__seg(ix, id, &off);
    hnsw__lock(ix, id);
    if (__atomic_load_n(&sg->flags[off], __ATOMIC_ACQUIRE) != HNSW_PRESENT) {
        hnsw__unlock(ix, id);
        return RAGD_ENOTFOUND;
    }
    __atomic_store_n(&sg->flags[off], HNSW_PRESENT | HNSW_DELETED, __ATOMIC_RELEASE);
    hnsw__unlock(ix, id);
    __atomic_sub_fetch(&ix->count, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&ix->deleted, 1, __ATOMIC_RELAXED);
    int top = hnsw__level(ix, id);
    uint32_t xs[2 * 256 + 2];
    for (int l = 0; l <= top; l++) {
        uint32_t nx = hnsw__read_links(ix, id, l, xs);
        for (uint32_t i = 0; i < nx; i++)
            hnsw__repair(ix, xs[i], id, xs, nx, l);
    }
    return 0;
}
