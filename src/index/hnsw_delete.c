/*
 * hnsw_delete.c - deleting from HNSW. The node becomes a tombstone (never
 * returned, still walkable, so in-links from anywhere stay valid), and every
 * out-neighbour that linked back to it gets its list rebuilt from its other
 * links plus the deleted node's links, with the Algorithm 4 heuristic - the
 * repair hnswlib and pgvector's vacuum do - so the graph stays navigable.
 * The id may later be re-inserted (hnsw_insert reuses the node), and
 * hnsw_vacuum unlinks all tombstones at once and frees their lists.
 */
#include <stdlib.h>

#include "index/hnsw_int.h"
#include "util/err.h"

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

/* Rebuild live node n's list at level if it links to tombstones: its live
 * links plus the live links of those tombstones, through Algorithm 4. */
static void hnsw__vacuum_list(hnsw *ix, uint32_t n, int level)
{
    uint32_t cap = level ? ix->p.M : ix->M0;
    uint32_t cur[2 * 256 + 2], xs[2 * 256 + 2];
    uint32_t cnt = hnsw__read_links(ix, n, level, cur);
    bool dirty = false;
    for (uint32_t i = 0; i < cnt && !dirty; i++)
        dirty = hnsw__flags(ix, cur[i]) != HNSW_PRESENT;
    if (!dirty)
        return;
    size_t nc = 0, ccap = 64;
    vec_cand *c = malloc(ccap * sizeof *c);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t src[2 * 256 + 2], ns = 1;
        src[0] = cur[i];
        if (hnsw__flags(ix, cur[i]) != HNSW_PRESENT)
            ns = hnsw__read_links(ix, cur[i], level, src);
        for (uint32_t j = 0; j < ns; j++) {
            uint32_t e = src[j];
            if (e == n || hnsw__flags(ix, e) != HNSW_PRESENT || hnsw__level(ix, e) < level)
                continue;
            bool dup = false;
            for (size_t k = 0; k < nc && !dup; k++)
                dup = c[k].id == e;
            if (dup)
                continue;
            if (nc == ccap)
                c = realloc(c, (ccap *= 2) * sizeof *c);
            c[nc++] = (vec_cand){hnsw__dist_nodes(ix, n, e), e};
        }
    }
    qsort(c, nc, sizeof *c, hnsw__cmp_cand);
    size_t kept = hnsw__select_heuristic(ix, c, nc, cap);
    for (size_t i = 0; i < kept; i++)
        xs[i] = c[i].id;
    hnsw__lock(ix, n);
    hnsw__write_links(ix, n, level, xs, (uint32_t)kept);
    hnsw__unlock(ix, n);
    free(c);
}

int hnsw_vacuum(hnsw *ix)
{
    if (!ix)
        return RAGD_EINVAL;
    uint32_t lim = __atomic_load_n(&ix->id_limit, __ATOMIC_ACQUIRE);
    for (uint32_t id = 0; id < lim; id++)
        if (hnsw__flags(ix, id) == HNSW_PRESENT)
            for (int l = 0; l <= hnsw__level(ix, id); l++)
                hnsw__vacuum_list(ix, id, l);
    /* a new entry point if the old one is a tombstone: a live node of top level */
    uint32_t entry = UINT32_MAX;
    int top = -1;
    for (uint32_t id = 0; id < lim; id++)
        if (hnsw__flags(ix, id) == HNSW_PRESENT && hnsw__level(ix, id) > top) {
            top = hnsw__level(ix, id);
            entry = id;
        }
    if (ix->entry != UINT32_MAX && hnsw__flags(ix, ix->entry) == HNSW_PRESENT) {
        entry = ix->entry;
        top = ix->max_level;
    }
    for (uint32_t id = 0; id < lim; id++) {
        if (hnsw__flags(ix, id) != (HNSW_PRESENT | HNSW_DELETED))
            continue;
        uint32_t off;
        hnsw_seg *sg = hnsw__seg(ix, id, &off);
        hnsw__write_links(ix, id, 0, NULL, 0);
        free(sg->upper[off]);
        sg->upper[off] = NULL;
        sg->level[off] = 0;
        __atomic_store_n(&sg->flags[off], 0, __ATOMIC_RELEASE);
    }
    ix->entry = entry;
    ix->max_level = top;
    ix->deleted = 0;
    return 0;
}
