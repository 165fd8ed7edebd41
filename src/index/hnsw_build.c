/*
 * hnsw_build.c - HNSW construction: create/destroy, segment allocation, level
 * draws, the neighbour-selection heuristic (Algorithm 4) and INSERT
 * (Algorithm 1 of Malkov & Yashunin), safe with concurrent inserts/searches.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw_int.h"
#include "util/err.h"
#include "util/mem.h"

hnsw_params hnsw_default_params(uint32_t dim)
{
    return (hnsw_params){.dim = dim, .metric = VEC_COSINE, .M = 16, .ef_construction = 200,
                         .ef_search = 64, .int8 = false, .seed = 0x5eed};
}

hnsw_params hnsw_get_params(const hnsw *ix)
{
    hnsw_params p = ix->p;
    p.ef_search = __atomic_load_n(&ix->ef_search, __ATOMIC_RELAXED);
    return p;
}

void hnsw_set_ef_search(hnsw *ix, uint32_t ef)
{
    __atomic_store_n(&ix->ef_search, ef ? ef : 1, __ATOMIC_RELAXED);
}

int hnsw_create(const hnsw_params *params, hnsw **out)
{
    if (!params || !out || params->dim == 0 || params->dim > 65536 || params->M < 2 ||
        params->M > 256 || params->metric > VEC_L2 || (params->int8 && params->metric == VEC_L2))
        return RAGD_EINVAL;
    hnsw *ix = xcalloc(1, sizeof *ix);
    ix->p = *params;
    if (ix->p.ef_construction < ix->p.M)
        ix->p.ef_construction = ix->p.M;
    ix->ef_search = ix->p.ef_search ? ix->p.ef_search : 64;
    ix->M0 = 2 * ix->p.M;
    ix->stride = ((size_t)ix->p.dim * sizeof(float) + (ix->M0 + 1) * sizeof(uint32_t) + 63) & ~(size_t)63;
    ix->mult = 1.0 / log((double)ix->p.M);
    ix->k = vec_kernels_get();
    ix->entry = UINT32_MAX;
    ix->max_level = -1;
    ix->rng = ix->p.seed;
    pthread_mutex_init(&ix->seg_lock, NULL);
    pthread_mutex_init(&ix->ep_lock, NULL);
    pthread_mutex_init(&ix->vis_lock, NULL);
    *out = ix;
    return 0;
}

static void hnsw__seg_free(hnsw_seg *sg)
{
    if (!sg)
        return;
    for (uint32_t i = 0; i < sg->size; i++)
        free(sg->upper[i]);
    free(sg->nodes_raw);
    free(sg->codes);
    free(sg->scales);
    free(sg->upper);
    free(sg->level);
    free(sg->flags);
    free(sg->locks);
    free(sg);
}

void hnsw_destroy(hnsw *ix)
{
    if (!ix)
        return;
    for (int s = 0; s < HNSW_MAX_SEGS; s++)
        hnsw__seg_free(ix->segs[s]);
    for (size_t i = 0; i < ix->vis_n; i++) {
        free(ix->vis[i]->tags);
        free(ix->vis[i]);
    }
    free(ix->vis);
    pthread_mutex_destroy(&ix->seg_lock);
    pthread_mutex_destroy(&ix->ep_lock);
    pthread_mutex_destroy(&ix->vis_lock);
    free(ix);
}

hnsw_seg *hnsw__seg_alloc(hnsw *ix, uint32_t id, uint32_t *off)
{
    uint32_t s = hnsw__seg_of(id, off);
    hnsw_seg *sg = __atomic_load_n(&ix->segs[s], __ATOMIC_ACQUIRE);
    if (sg)
        return sg;
    pthread_mutex_lock(&ix->seg_lock);
    sg = ix->segs[s];
    if (!sg) {
        uint32_t n = s == 0 ? HNSW_SEG0 : HNSW_SEG0 << (s - 1);
        size_t dim = ix->p.dim;
        sg = calloc(1, sizeof *sg);
        if (sg) { /* calloc: big segments come zeroed from mmap, touched lazily */
            sg->size = n;
            sg->nodes_raw = calloc(1, (size_t)n * ix->stride + 64);
            sg->nodes = (char *)(((uintptr_t)sg->nodes_raw + 63) & ~(uintptr_t)63);
            sg->upper = calloc(n, sizeof *sg->upper);
            sg->level = calloc(n, 1);
            sg->flags = calloc(n, 1);
            sg->locks = calloc(n, 1);
            bool ok = sg->nodes_raw && sg->upper && sg->level && sg->flags && sg->locks;
            if (ok && ix->p.int8) {
                sg->codes = malloc((size_t)n * dim);
                sg->scales = calloc(n, sizeof *sg->scales);
                ok = sg->codes && sg->scales;
            }
            if (!ok) {
                sg->size = 0;
                hnsw__seg_free(sg);
                sg = NULL;
            }
        }
        if (!sg) {
            pthread_mutex_unlock(&ix->seg_lock);
            return NULL;
        }
        __atomic_store_n(&ix->segs[s], sg, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ix->seg_lock);
    return sg;
}

void hnsw__bump_limit(hnsw *ix, uint32_t id)
{
    uint32_t cur = __atomic_load_n(&ix->id_limit, __ATOMIC_RELAXED);
    while (cur < id + 1 &&
           !__atomic_compare_exchange_n(&ix->id_limit, &cur, id + 1, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}

float hnsw__dist_nodes(const hnsw *ix, uint32_t a, uint32_t b)
{
    return hnsw__dist_q(ix, hnsw__vec(ix, a), b);
}

size_t hnsw__select_heuristic(const hnsw *ix, vec_cand *c, size_t n, size_t m)
{
    if (n <= m)
        return n;
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < m; i++) {
        bool good = true;
        for (size_t j = 0; j < kept; j++) {
            if (hnsw__dist_nodes(ix, c[i].id, c[j].id) < c[i].d) {
                good = false;
                break;
            }
        }
        if (good)
            c[kept++] = c[i];
    }
    return kept;
}

/* Link `id` into neighbour n's list at level (n's lock held inside). */
static void hnsw__connect(hnsw *ix, uint32_t n, uint32_t id, float d, int level)
{
    uint32_t cap = level ? ix->p.M : ix->M0;
    uint32_t buf[2 * 256 + 2];
    hnsw__lock(ix, n);
    uint32_t cnt = hnsw__read_links(ix, n, level, buf);
    for (uint32_t i = 0; i < cnt; i++) {
        if (buf[i] == id) {
            hnsw__unlock(ix, n);
            return;
        }
    }
    if (cnt < cap) {
        uint32_t *l = hnsw__links(ix, n, level);
        /* release: a reader holding an older, longer count may load this entry */
        __atomic_store_n(&l[1 + cnt], id, __ATOMIC_RELEASE);
        __atomic_store_n(&l[0], cnt + 1, __ATOMIC_RELEASE);
        hnsw__unlock(ix, n);
        return;
    }
    vec_cand c[2 * 256 + 2];
    for (uint32_t i = 0; i < cnt; i++)
        c[i] = (vec_cand){hnsw__dist_nodes(ix, n, buf[i]), buf[i]};
    c[cnt] = (vec_cand){d, id};
    qsort(c, cnt + 1, sizeof *c, hnsw__cmp_cand);
    size_t kept = hnsw__select_heuristic(ix, c, cnt + 1, cap);
    for (size_t i = 0; i < kept; i++)
        buf[i] = c[i].id;
    hnsw__write_links(ix, n, level, buf, (uint32_t)kept);
    hnsw__unlock(ix, n);
}

static int hnsw__draw_level(hnsw *ix)
{
    uint64_t z = __atomic_add_fetch(&ix->rng, 0x9E3779B97F4A7C15ull, __ATOMIC_RELAXED);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double u = ((double)(z >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    int l = (int)(-log(u) * ix->mult);
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL - 1 : l;
}

/* Store v (prepared) and its code in the node; level's lists allocated. */
static void hnsw__write_node(hnsw *ix, hnsw_seg *sg, uint32_t off, const float *v, int level, bool fresh)
{
    size_t dim = ix->p.dim;
    float *dst = (float *)(sg->nodes + (size_t)off * ix->stride);
    memcpy(dst, v, dim * sizeof *dst);
    if (ix->p.metric == VEC_COSINE)
        vec_normalize_f32(dst, dim);
    if (ix->p.int8)
        sg->scales[off] = vec_quantize_i8(dst, sg->codes + (size_t)off * dim, dim);
    if (fresh) {
        sg->level[off] = (uint8_t)level;
        if (level > 0)
            sg->upper[off] = xcalloc((size_t)level * (ix->p.M + 1), sizeof(uint32_t));
    }
}

/* Algorithm 1: connect node id (already stored at `level`) into the graph. */
static void hnsw__link(hnsw *ix, uint32_t id, int level)
{
    pthread_mutex_lock(&ix->ep_lock);
    uint32_t ep = ix->entry;
    int top = ix->max_level;
    bool raise = level > top;
    if (ep == UINT32_MAX) {
        ix->entry = id;
        ix->max_level = level;
        pthread_mutex_unlock(&ix->ep_lock);
        return;
    }
    if (!raise) /* a node that raises the top keeps ep_lock so no other does */
        pthread_mutex_unlock(&ix->ep_lock);
    const float *q = hnsw__vec(ix, id);
    hnsw_ctx c;
    hnsw__ctx_init(ix, &c, q, ix->p.ef_construction);
    /* construction uses exact float distances and never links to tombstones */
    ep = hnsw__descend(ix, &c, ep, top, level);
    for (int lc = level < top ? level : top; lc >= 0; lc--) {
        hnsw__search_layer(ix, &c, ep, ix->p.ef_construction, lc);
        size_t n = c.n_res;
        vec_cand *w = c.res;
        for (size_t i = 0; i < n; i++)
            if (w[i].id == id) /* a re-inserted node may find itself */
                w[i--] = w[--n];
        qsort(w, n, sizeof *w, hnsw__cmp_cand);
        if (n)
            ep = w[0].id;
        size_t m = hnsw__select_heuristic(ix, w, n, lc ? ix->p.M : ix->M0);
        uint32_t ids[2 * 256 + 2];
        for (size_t i = 0; i < m; i++)
            ids[i] = w[i].id;
        hnsw__lock(ix, id);
        hnsw__write_links(ix, id, lc, ids, (uint32_t)m);
        hnsw__unlock(ix, id);
        for (size_t i = 0; i < m; i++)
            hnsw__connect(ix, w[i].id, id, w[i].d, lc);
    }
    hnsw__ctx_deinit(ix, &c);
    if (raise) {
        ix->entry = id;
        ix->max_level = level;
        pthread_mutex_unlock(&ix->ep_lock);
    }
}

int hnsw_insert(hnsw *ix, uint32_t id, const float *v)
{
    if (!ix || !v || id == UINT32_MAX)
        return RAGD_EINVAL;
    uint32_t off;
    hnsw_seg *sg = hnsw__seg_alloc(ix, id, &off);
    if (!sg)
        return RAGD_ENOMEM;
    hnsw__lock(ix, id);
    uint8_t fl = __atomic_load_n(&sg->flags[off], __ATOMIC_ACQUIRE);
    if ((fl & HNSW_PRESENT) && !(fl & HNSW_DELETED)) {
        hnsw__unlock(ix, id);
        return RAGD_EEXISTS;
    }
    bool fresh = !(fl & HNSW_PRESENT);
    int level = fresh ? hnsw__draw_level(ix) : sg->level[off];
    hnsw__write_node(ix, sg, off, v, level, fresh);
    if (!fresh) { /* re-insert of a tombstone: start its lists afresh */
        for (int l = 0; l <= level; l++)
            hnsw__write_links(ix, id, l, NULL, 0);
        __atomic_sub_fetch(&ix->deleted, 1, __ATOMIC_RELAXED);
    }
    hnsw__bump_limit(ix, id);
    __atomic_store_n(&sg->flags[off], HNSW_PRESENT, __ATOMIC_RELEASE);
    hnsw__unlock(ix, id);
    hnsw__link(ix, id, level);
    __atomic_add_fetch(&ix->count, 1, __ATOMIC_RELAXED);
    return 0;
}

bool hnsw_contains(hnsw *ix, uint32_t id)
{
    return hnsw__flags(ix, id) == HNSW_PRESENT;
}

int hnsw_get_vector(hnsw *ix, uint32_t id, float *out)
{
    if (!ix || !out)
        return RAGD_EINVAL;
    if (hnsw__flags(ix, id) != HNSW_PRESENT)
        return RAGD_ENOTFOUND;
    memcpy(out, hnsw__vec(ix, id), ix->p.dim * sizeof *out);
    return 0;
}

size_t hnsw_count(hnsw *ix)
{
    return (size_t)__atomic_load_n(&ix->count, __ATOMIC_RELAXED);
}

void hnsw_get_stats(hnsw *ix, hnsw_stats *st)
{
    memset(st, 0, sizeof *st);
    st->count = __atomic_load_n(&ix->count, __ATOMIC_RELAXED);
    st->deleted = __atomic_load_n(&ix->deleted, __ATOMIC_RELAXED);
    pthread_mutex_lock(&ix->ep_lock);
    st->max_level = ix->max_level < 0 ? 0 : (uint32_t)ix->max_level;
    pthread_mutex_unlock(&ix->ep_lock);
    st->exact_searches = __atomic_load_n(&ix->n_exact, __ATOMIC_RELAXED);
    st->graph_searches = __atomic_load_n(&ix->n_graph, __ATOMIC_RELAXED);
    uint64_t m = sizeof *ix;
    for (int s = 0; s < HNSW_MAX_SEGS; s++) {
        hnsw_seg *sg = __atomic_load_n(&ix->segs[s], __ATOMIC_ACQUIRE);
        if (!sg)
            continue;
        uint64_t n = sg->size;
        m += sizeof *sg + n * ix->stride + n * (sizeof(uint32_t *) + 3);
        if (sg->codes)
            m += n * ix->p.dim + n * 4;
        for (uint32_t i = 0; i < sg->size; i++)
            m += (uint64_t)sg->level[i] * (ix->p.M + 1) * 4;
    }
    pthread_mutex_lock(&ix->vis_lock);
    for (size_t i = 0; i < ix->vis_n; i++)
        m += (uint64_t)ix->vis[i]->cap * 4;
    pthread_mutex_unlock(&ix->vis_lock);
    st->memory_bytes = m;
}
