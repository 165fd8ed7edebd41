/*
 * hnsw_search.c - HNSW queries: greedy descent through the upper layers,
 * SEARCH-LAYER (Algorithm 2) at layer 0 and K-NN-SEARCH (Algorithm 5) of
 * Malkov & Yashunin. Filters are applied during traversal: every node is
 * walked, only accepted ones enter the result set, so k results come back
 * whenever k match. When the filter is selective (estimated by sampling, or
 * given by the caller) an exact scan is cheaper and is used instead.
 */
#include <stdlib.h>
#include <string.h>

#include "index/hnsw_int.h"
#include "util/err.h"
#include "util/mem.h"

/* Software prefetch: the first HNSW_PF_LINES cache lines of the vector
 * HNSW_PF_AHEAD neighbours ahead (measured on 100k x 384-d: fetching whole
 * vectors stalls on fill buffers; too little leaves latency exposed). */
#define HNSW_PF_AHEAD 3
#define HNSW_PF_LINES 8

/* ---- visited lists (pooled; epoch tags avoid clearing) ---- */

static hnsw_visited *hnsw__vis_get(hnsw *ix)
{
    hnsw_visited *v = NULL;
    pthread_mutex_lock(&ix->vis_lock);
    if (ix->vis_n)
        v = ix->vis[--ix->vis_n];
    pthread_mutex_unlock(&ix->vis_lock);
    if (!v)
        v = xcalloc(1, sizeof *v);
    if (++v->epoch == 0) {
        memset(v->tags, 0, (size_t)v->cap * sizeof *v->tags);
        v->epoch = 1;
    }
    return v;
}

static void hnsw__vis_put(hnsw *ix, hnsw_visited *v)
{
    pthread_mutex_lock(&ix->vis_lock);
    if (ix->vis_n == ix->vis_cap) {
        ix->vis_cap = ix->vis_cap ? ix->vis_cap * 2 : 4;
        ix->vis = xrealloc(ix->vis, ix->vis_cap * sizeof *ix->vis);
    }
    ix->vis[ix->vis_n++] = v;
    pthread_mutex_unlock(&ix->vis_lock);
}

/* Mark id visited; true if it already was. */
static inline bool hnsw__visit(hnsw_visited *v, uint32_t id)
{
    if (id >= v->cap) {
        uint32_t nc = v->cap ? v->cap : 1024;
        while (nc <= id)
            nc = nc > UINT32_MAX / 2 ? UINT32_MAX : nc * 2;
        v->tags = xrealloc(v->tags, (size_t)nc * sizeof *v->tags);
        memset(v->tags + v->cap, 0, (size_t)(nc - v->cap) * sizeof *v->tags);
        v->cap = nc;
    }
    if (v->tags[id] == v->epoch)
        return true;
    v->tags[id] = v->epoch;
    return false;
}

/* ---- context ---- */

/* qsort order of candidates: distance ascending, then id. */
int hnsw__cmp_cand(const void *a, const void *b)
{
    const vec_cand *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

void hnsw__ctx_init(hnsw *ix, hnsw_ctx *c, const float *q, size_t ef)
{
    memset(c, 0, sizeof *c);
    c->q = q;
    c->check_flags = __atomic_load_n(&ix->deleted, __ATOMIC_ACQUIRE) != 0;
    c->vis = hnsw__vis_get(ix);
    c->cand_cap = ef * 4 + 64;
    c->res_cap = ef + 1;
    c->cand = xmalloc(c->cand_cap * sizeof *c->cand);
    c->res = xmalloc(c->res_cap * sizeof *c->res);
}

void hnsw__ctx_deinit(hnsw *ix, hnsw_ctx *c)
{
    hnsw__vis_put(ix, c->vis);
    free(c->cand);
    free(c->res);
}

static inline float hnsw__dist(const hnsw *ix, const hnsw_ctx *c, uint32_t id)
{
    if (c->qc) {
        uint32_t off;
        hnsw_seg *sg = hnsw__seg(ix, id, &off);
        float dot = c->qs * sg->scales[off] *
                    (float)ix->k->dot_i8(c->qc, sg->codes + (size_t)off * ix->p.dim, ix->p.dim);
        return ix->p.metric == VEC_COSINE ? 1.0f - dot : -dot;
    }
    return hnsw__dist_q(ix, c->q, id);
}

static inline void hnsw__prefetch(const hnsw *ix, const hnsw_ctx *c, uint32_t id)
{
    const char *p = c->qc ? (const char *)hnsw__code(ix, id) : (const char *)hnsw__vec(ix, id);
    size_t bytes = c->qc ? ix->p.dim : ix->p.dim * sizeof(float);
    for (size_t o = 0; o < bytes && o < HNSW_PF_LINES * 64u; o += 64)
        __builtin_prefetch(p + o);
}

static inline bool hnsw__accept(const hnsw *ix, const hnsw_ctx *c, uint32_t id)
{
    if (c->check_flags && hnsw__flags(ix, id) != HNSW_PRESENT)
        return false;
    return !c->filter || c->filter(c->filter_ud, id);
}

uint32_t hnsw__descend(const hnsw *ix, hnsw_ctx *c, uint32_t ep, int top, int stop)
{
    float d = hnsw__dist(ix, c, ep);
    for (int l = top; l > stop; l--) {
        bool changed = true;
        while (changed) {
            changed = false;
            if (hnsw__level(ix, ep) < l)
                break;
            uint32_t n = hnsw__read_links(ix, ep, l, c->nbuf);
            for (uint32_t i = 0; i < n; i++) {
                float dn = hnsw__dist(ix, c, c->nbuf[i]);
                if (dn < d) {
                    d = dn;
                    ep = c->nbuf[i];
                    changed = true;
                }
            }
        }
    }
    return ep;
}

static void hnsw__cand_push(hnsw_ctx *c, size_t *n, vec_cand x)
{
    if (*n == c->cand_cap) {
        c->cand_cap *= 2;
        c->cand = xrealloc(c->cand, c->cand_cap * sizeof *c->cand);
    }
    vec_minheap_push(c->cand, n, x);
}

void hnsw__search_layer(const hnsw *ix, hnsw_ctx *c, uint32_t ep, size_t ef, int level)
{
    if (c->res_cap < ef + 1) {
        c->res_cap = ef + 1;
        c->res = xrealloc(c->res, c->res_cap * sizeof *c->res);
    }
    if (++c->vis->epoch == 0) {
        memset(c->vis->tags, 0, (size_t)c->vis->cap * sizeof *c->vis->tags);
        c->vis->epoch = 1;
    }
    size_t nc = 0, nr = 0;
    float d = hnsw__dist(ix, c, ep);
    hnsw__visit(c->vis, ep);
    hnsw__cand_push(c, &nc, (vec_cand){d, ep});
    if (hnsw__accept(ix, c, ep))
        vec_maxheap_push(c->res, &nr, (vec_cand){d, ep});
    while (nc) {
        vec_cand cur = c->cand[0];
        if (nr == ef && cur.d > c->res[0].d)
            break;
        vec_minheap_pop(c->cand, &nc);
        uint32_t n = hnsw__read_links(ix, cur.id, level, c->nbuf);
        uint32_t m = 0; /* unvisited neighbours */
        for (uint32_t i = 0; i < n; i++)
            if (!hnsw__visit(c->vis, c->nbuf[i]))
                c->nbuf[m++] = c->nbuf[i];
        for (uint32_t i = 0; i < m && i < HNSW_PF_AHEAD; i++)
            hnsw__prefetch(ix, c, c->nbuf[i]);
        for (uint32_t i = 0; i < m; i++) {
            uint32_t e = c->nbuf[i];
            if (i + HNSW_PF_AHEAD < m) /* fetch ahead while this one is scored */
                hnsw__prefetch(ix, c, c->nbuf[i + HNSW_PF_AHEAD]);
            float de = hnsw__dist(ix, c, e);
            if (nr < ef || de < c->res[0].d) {
                hnsw__cand_push(c, &nc, (vec_cand){de, e});
                if (hnsw__accept(ix, c, e)) {
                    vec_maxheap_push(c->res, &nr, (vec_cand){de, e});
                    if (nr > ef)
                        vec_maxheap_pop(c->res, &nr);
                }
            }
        }
    }
    c->n_res = nr;
}

/* ---- exact scan ---- */

static size_t hnsw__exact(hnsw *ix, const float *q, const hnsw_search_opts *o, vec_hit *out)
{
    vec_cand *h = xmalloc(o->k * sizeof *h);
    size_t n = 0;
    uint32_t lim = __atomic_load_n(&ix->id_limit, __ATOMIC_ACQUIRE);
    for (int s = 0; s < HNSW_MAX_SEGS; s++) {
        hnsw_seg *sg = __atomic_load_n(&ix->segs[s], __ATOMIC_ACQUIRE);
        if (!sg)
            continue;
        uint32_t base = s == 0 ? 0 : HNSW_SEG0 << (s - 1);
        for (uint32_t off = 0; off < sg->size && base + off < lim; off++) {
            if (__atomic_load_n(&sg->flags[off], __ATOMIC_ACQUIRE) != HNSW_PRESENT)
                continue;
            uint32_t id = base + off;
            if (o->filter && !o->filter(o->filter_ud, id))
                continue;
            vec_topk_offer(h, &n, o->k, (vec_cand){hnsw__dist_q(ix, q, id), id});
        }
    }
    n = vec_topk_drain(h, n, ix->p.metric, out);
    free(h);
    return n;
}

/* Estimated ids the filter accepts: the caller's count, or a sample. */
static double hnsw__estimate_matches(hnsw *ix, const hnsw_search_opts *o, uint64_t live)
{
    if (!o->filter)
        return (double)live;
    if (o->n_match >= 0)
        return (double)o->n_match;
    uint32_t lim = __atomic_load_n(&ix->id_limit, __ATOMIC_ACQUIRE);
    uint64_t x = 0x243F6A8885A308D3ull ^ lim;
    int seen = 0, ok = 0;
    for (int tries = 0; tries < 2048 && seen < 256; tries++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t id = (uint32_t)(x % lim);
        if (hnsw__flags(ix, id) != HNSW_PRESENT)
            continue;
        seen++;
        ok += o->filter(o->filter_ud, id);
    }
    return seen ? (double)live * ok / seen : (double)live;
}

/* The cost model's constants (costs in distance computations). */
#define HNSW_SMALL_SLACK 256           /* up to 2*ef + this many live ids: always scan */
#define HNSW_MIN_SELECTIVITY 1e-4      /* floor on the estimate, so 0 stays finite */
#define HNSW_FILTER_TESTS_PER_DIST 16.0 /* filter tests that cost one distance */

/* Cost model: a graph search computes about ef * M0 (layer-0 links) distances
 * / selectivity; an exact scan tests every id with the filter and computes
 * the matches' distances. */
static bool hnsw__prefer_exact(hnsw *ix, const hnsw_search_opts *o, size_t ef, uint64_t live)
{
    if (o->mode == HNSW_EXACT)
        return true;
    if (o->mode == HNSW_GRAPH)
        return false;
    if (live <= 2 * ef + HNSW_SMALL_SLACK)
        return true;
    if (!o->filter)
        return false;
    double m = hnsw__estimate_matches(ix, o, live);
    double sel = m / (double)live;
    if (sel < HNSW_MIN_SELECTIVITY)
        sel = HNSW_MIN_SELECTIVITY;
    double graph = (double)ef * ix->M0 / sel;
    double exact = m + (double)live / HNSW_FILTER_TESTS_PER_DIST;
    return exact <= graph;
}

static size_t hnsw__graph(hnsw *ix, const float *q, const hnsw_search_opts *o, size_t ef, vec_hit *out)
{
    pthread_mutex_lock(&ix->ep_lock);
    uint32_t ep = ix->entry;
    int top = ix->max_level;
    pthread_mutex_unlock(&ix->ep_lock);
    if (ep == UINT32_MAX)
        return 0;
    hnsw_ctx c;
    hnsw__ctx_init(ix, &c, q, ef);
    int8_t *qc = NULL;
    if (ix->p.int8) {
        qc = xmalloc(ix->p.dim);
        c.qs = vec_quantize_i8(q, qc, ix->p.dim);
        c.qc = qc;
    }
    c.filter = o->filter;
    c.filter_ud = o->filter_ud;
    ep = hnsw__descend(ix, &c, ep, top, 0);
    hnsw__search_layer(ix, &c, ep, ef, 0);
    size_t n = c.n_res;
    if (qc) /* exact float re-scoring of the int8 candidates */
        for (size_t i = 0; i < n; i++)
            c.res[i].d = hnsw__dist_q(ix, q, c.res[i].id);
    qsort(c.res, n, sizeof *c.res, hnsw__cmp_cand);
    if (n > o->k)
        n = o->k;
    for (size_t i = 0; i < n; i++) {
        out[i].id = c.res[i].id;
        out[i].score = ix->p.metric == VEC_COSINE ? 1.0f - c.res[i].d : -c.res[i].d;
    }
    free(qc);
    hnsw__ctx_deinit(ix, &c);
    return n;
}

int hnsw_search(hnsw *ix, const float *q, const hnsw_search_opts *o, vec_hit *out, size_t *n_out)
{
    if (!ix || !q || !o || !o->k || o->k > VEC_K_MAX || o->ef > VEC_K_MAX || !out || !n_out ||
        o->mode > HNSW_EXACT)
        return RAGD_EINVAL;
    size_t ef = o->ef ? o->ef : __atomic_load_n(&ix->ef_search, __ATOMIC_RELAXED);
    if (ef < o->k)
        ef = o->k;
    float qbuf[512], *qn = NULL;
    if (ix->p.metric == VEC_COSINE) {
        qn = ix->p.dim <= 512 ? qbuf : xmalloc(ix->p.dim * sizeof *qn);
        memcpy(qn, q, ix->p.dim * sizeof *qn);
        vec_normalize_f32(qn, ix->p.dim);
        q = qn;
    }
    uint64_t live = __atomic_load_n(&ix->count, __ATOMIC_RELAXED);
    if (hnsw__prefer_exact(ix, o, ef, live)) {
        __atomic_add_fetch(&ix->n_exact, 1, __ATOMIC_RELAXED);
        *n_out = hnsw__exact(ix, q, o, out);
    } else {
        __atomic_add_fetch(&ix->n_graph, 1, __ATOMIC_RELAXED);
        *n_out = hnsw__graph(ix, q, o, ef, out);
    }
    if (qn != qbuf)
        free(qn);
    return 0;
}
