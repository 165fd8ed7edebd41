/*
 * vec_types.h - the types shared by the vector indexes (flat, hnsw):
 * metric, hit, filter callback, and a small (distance, id) heap used by every
 * top-k loop. Distances are "smaller is closer"; hits carry a similarity.
 */
#ifndef RAGD_INDEX_VEC_TYPES_H
#define RAGD_INDEX_VEC_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vec_metric {
    VEC_COSINE = 0, /* vectors normalised on insert; score = cosine similarity */
    VEC_IP = 1,     /* raw inner product; score = dot */
    VEC_L2 = 2,     /* score = -squared L2 distance */
} vec_metric;

/* Largest k (and ef) a vector search takes; larger is RAGD_EINVAL. A
 * defence in depth: k * sizeof(hit) stays far from overflow in every buffer
 * sized from k, whatever a caller passes. */
#define VEC_K_MAX ((size_t)1 << 24)

typedef struct vec_hit {
    uint32_t id;
    float score; /* similarity: higher is better */
} vec_hit;

/* Caller's filter: true accepts id. Called from the searching thread during
 * the search, under the index's internal locks: it must not call back into
 * the same index. */
typedef bool (*vec_filter_fn)(void *ud, uint32_t id);

/* (distance, id) pair and binary heaps over them. */
typedef struct vec_cand {
    float d;
    uint32_t id;
} vec_cand;

/* Heap order: is a above b? The max-heap keeps the largest d on top (ties:
 * larger id on top, so the kept set prefers lower ids); the min-heap the
 * smallest d. max is a constant at every call, so each use compiles to its
 * own comparison. */
static inline bool vec__above(const vec_cand *a, const vec_cand *b, bool max)
{
    if (max)
        return a->d > b->d || (a->d == b->d && a->id > b->id);
    return a->d < b->d;
}

static inline void vec__heap_push(vec_cand *h, size_t *n, vec_cand x, bool max)
{
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!vec__above(&x, &h[p], max))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static inline void vec__heap_pop(vec_cand *h, size_t *n, bool max)
{
    vec_cand x = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, c = l;
        if (l >= m)
            break;
        if (r < m && vec__above(&h[r], &h[l], max))
            c = r;
        if (!vec__above(&h[c], &x, max))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static inline void vec_maxheap_push(vec_cand *h, size_t *n, vec_cand x)
{
    vec__heap_push(h, n, x, true);
}

static inline void vec_maxheap_pop(vec_cand *h, size_t *n)
{
    vec__heap_pop(h, n, true);
}

static inline void vec_minheap_push(vec_cand *h, size_t *n, vec_cand x)
{
    vec__heap_push(h, n, x, false);
}

static inline void vec_minheap_pop(vec_cand *h, size_t *n)
{
    vec__heap_pop(h, n, false);
}

/* Keep the k closest: push x into max-heap h (capacity k). */
static inline void vec_topk_offer(vec_cand *h, size_t *n, size_t k, vec_cand x)
{
    if (*n < k) {
        vec_maxheap_push(h, n, x);
    } else if (vec__above(&h[0], &x, true)) {
        vec_maxheap_pop(h, n);
        vec_maxheap_push(h, n, x);
    }
}

/* Drain max-heap h into out (closest first) as hits of the metric. */
static inline size_t vec_topk_drain(vec_cand *h, size_t n, vec_metric m, vec_hit *out)
{
    size_t cnt = n;
    while (n) {
        vec_cand top = h[0];
        vec_maxheap_pop(h, &n);
        out[n].id = top.id;
        out[n].score = m == VEC_COSINE ? 1.0f - top.d : -top.d;
    }
    return cnt;
}

#endif
