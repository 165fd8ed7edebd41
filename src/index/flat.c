/*
 * flat.c - exact scan index. Vectors live in one array indexed by id with a
 * presence bitmap; a search walks every present id, asks the filter, computes
 * the distance with the dispatched kernel and keeps a k-sized max-heap.
 */
#include "index/flat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "index/vec_kernels.h"
#include "util/err.h"
#include "util/mem.h"

struct flat {
    size_t dim;
    vec_metric metric;
    pthread_rwlock_t lock;
    float *vecs;       /* cap * dim */
    uint64_t *present; /* bitmap */
    uint32_t cap;
    size_t count;
};

int flat_create(size_t dim, vec_metric metric, flat **out)
{
    if (!out || dim == 0 || dim > 65536 || metric > VEC_L2)
        return RAGD_EINVAL;
    flat *fx = xcalloc(1, sizeof *fx);
    fx->dim = dim;
    fx->metric = metric;
    pthread_rwlock_init(&fx->lock, NULL);
    *out = fx;
    return 0;
}

void flat_destroy(flat *fx)
{
    if (!fx)
        return;
    free(fx->vecs);
    free(fx->present);
    pthread_rwlock_destroy(&fx->lock);
    free(fx);
}

static bool flat__has(const flat *fx, uint32_t id)
{
    return id < fx->cap && (fx->present[id >> 6] >> (id & 63)) & 1;
}

float flat_distance(vec_metric m, const float *q, const float *v, size_t dim)
{
    const vec_kernels *k = vec_kernels_get();
    switch (m) {
    case VEC_COSINE:
        return 1.0f - k->dot_f32(q, v, dim);
    case VEC_IP:
        return -k->dot_f32(q, v, dim);
    default:
        return k->l2sq_f32(q, v, dim);
    }
}

int flat_add(flat *fx, uint32_t id, const float *v)
{
    if (!fx || !v || id == UINT32_MAX)
        return RAGD_EINVAL;
    pthread_rwlock_wrlock(&fx->lock);
    if (flat__has(fx, id)) {
        pthread_rwlock_unlock(&fx->lock);
        return RAGD_EEXISTS;
    }
    if (id >= fx->cap) {
        uint32_t nc = fx->cap ? fx->cap : 16;
        while (nc <= id)
            nc = nc > UINT32_MAX / 2 ? UINT32_MAX : nc * 2;
        fx->vecs = xrealloc(fx->vecs, (size_t)nc * fx->dim * sizeof *fx->vecs);
        size_t ow = ((size_t)fx->cap + 63) / 64, nw = ((size_t)nc + 63) / 64;
        fx->present = xrealloc(fx->present, nw * sizeof *fx->present);
        memset(fx->present + ow, 0, (nw - ow) * sizeof *fx->present);
        fx->cap = nc;
    }
    float *dst = fx->vecs + (size_t)id * fx->dim;
    memcpy(dst, v, fx->dim * sizeof *dst);
    if (fx->metric == VEC_COSINE)
        vec_normalize_f32(dst, fx->dim);
    fx->present[id >> 6] |= 1ull << (id & 63);
    fx->count++;
    pthread_rwlock_unlock(&fx->lock);
    return 0;
}

int flat_delete(flat *fx, uint32_t id)
{
    if (!fx)
        return RAGD_EINVAL;
    pthread_rwlock_wrlock(&fx->lock);
    int rc = RAGD_ENOTFOUND;
    if (flat__has(fx, id)) {
        fx->present[id >> 6] &= ~(1ull << (id & 63));
        fx->count--;
        rc = 0;
    }
    pthread_rwlock_unlock(&fx->lock);
    return rc;
}

int flat_search(flat *fx, const float *q, size_t k, vec_filter_fn filter, void *ud, vec_hit *out,
                size_t *n_out)
{
    if (!fx || !q || !k || k > VEC_K_MAX || !out || !n_out)
        return RAGD_EINVAL;
    float *qn = NULL;
    if (fx->metric == VEC_COSINE) {
        qn = xmalloc(fx->dim * sizeof *qn);
        memcpy(qn, q, fx->dim * sizeof *qn);
        vec_normalize_f32(qn, fx->dim);
        q = qn;
    }
    vec_cand *h = xmalloc(k * sizeof *h);
    size_t n = 0;
    pthread_rwlock_rdlock(&fx->lock);
    size_t words = ((size_t)fx->cap + 63) / 64;
    for (size_t w = 0; w < words; w++) {
        uint64_t bits = fx->present[w];
        while (bits) {
            uint32_t id = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            bits &= bits - 1;
            if (filter && !filter(ud, id))
                continue;
            float d = flat_distance(fx->metric, q, fx->vecs + (size_t)id * fx->dim, fx->dim);
            vec_topk_offer(h, &n, k, (vec_cand){d, id});
        }
    }
    pthread_rwlock_unlock(&fx->lock);
    *n_out = vec_topk_drain(h, n, fx->metric, out);
    free(h);
    free(qn);
    return 0;
}

int flat_get(flat *fx, uint32_t id, float *out)
{
    pthread_rwlock_rdlock(&fx->lock);
    bool has = flat__has(fx, id);
    if (has)
        memcpy(out, fx->vecs + (size_t)id * fx->dim, fx->dim * sizeof *out);
    pthread_rwlock_unlock(&fx->lock);
    return has ? RAGD_OK : RAGD_ENOTFOUND;
}

size_t flat_count(flat *fx)
{
    pthread_rwlock_rdlock(&fx->lock);
    size_t n = fx->count;
    pthread_rwlock_unlock(&fx->lock);
    return n;
}

int flat_foreach(flat *fx, int (*fn)(void *ud, uint32_t id, const float *v), void *ud)
{
    int rc = 0;
    pthread_rwlock_rdlock(&fx->lock);
    for (uint32_t id = 0; id < fx->cap && rc == 0; id++)
        if (flat__has(fx, id))
            rc = fn(ud, id, fx->vecs + (size_t)id * fx->dim);
    pthread_rwlock_unlock(&fx->lock);
    return rc;
}

size_t flat_memory(flat *fx)
{
    pthread_rwlock_rdlock(&fx->lock);
    size_t m = sizeof *fx + (size_t)fx->cap * fx->dim * sizeof(float) + ((size_t)fx->cap + 63) / 64 * 8;
    pthread_rwlock_unlock(&fx->lock);
    return m;
}
