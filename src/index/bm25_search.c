/*
 * bm25_search.c - BM25 queries: the query is analysed, optionally expanded
 * (fuzzy terms, compound joins and splits), then scored document-at-a-time
 * with MaxScore (Turtle & Flood 1995): lists sorted by score upper bound, the
 * low ones "non-essential" once their summed bound cannot beat the k-th best,
 * so only essential lists drive the iteration and the rest are probed by
 * galloping search. The caller's filter is checked for every candidate that
 * would enter the top k, so filtered queries still fill k when k match.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/bm25_int.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct qterm {
    uint32_t t;
    float w;
} qterm;

typedef struct qbuild {
    const bm25 *ix;
    qterm *v;
    size_t n, cap;
    size_t qlen; /* length of the term being expanded (for weights) */
} qbuild;

static void qb__add(qbuild *qb, uint32_t t, float w, bool sum)
{
    for (size_t i = 0; i < qb->n; i++) {
        if (qb->v[i].t == t) {
            if (sum)
                qb->v[i].w += w;
            else if (w > qb->v[i].w)
                qb->v[i].w = w;
            return;
        }
    }
    if (qb->n == qb->cap) {
        qb->cap = qb->cap ? qb->cap * 2 : 16;
        qb->v = xrealloc(qb->v, qb->cap * sizeof *qb->v);
    }
    qb->v[qb->n++] = (qterm){t, w};
}

static uint32_t qb__live(const bm25 *ix, const char *s, size_t len)
{
    uint32_t t = bm25__lookup(ix, s, len);
    return (t != UINT32_MAX && ix->terms[t].df > 0) ? t : UINT32_MAX;
}

static void qb__visit(void *ud, uint32_t t, int dist)
{
    qbuild *qb = ud;
    float w = 1.0f - (float)dist / (float)qb->qlen;
    qb__add(qb, t, w < 0.3f ? 0.3f : w, false);
}

static int qb__maxd(size_t len)
{
    return len >= 8 ? 2 : len >= 4 ? 1 : 0;
}

static void qb__fuzzy(qbuild *qb, const char *s, size_t len)
{
    int maxd = qb__maxd(len);
    if (!maxd)
        return;
    qb->qlen = len;
    bm25__fuzzy_walk(qb->ix, s, len, maxd, qb__visit, qb);
}

/* Split s into two index terms (each >= 2 bytes) when s itself is not one. */
static void qb__split(qbuild *qb, const char *s, size_t len)
{
    if (len < 5 || qb__live(qb->ix, s, len) != UINT32_MAX)
        return;
    for (size_t i = 2; i + 2 <= len; i++) {
        uint32_t a = qb__live(qb->ix, s, i), b = qb__live(qb->ix, s + i, len - i);
        if (a != UINT32_MAX && b != UINT32_MAX) {
            qb__add(qb, a, 0.9f, false);
            qb__add(qb, b, 0.9f, false);
        }
    }
}

/* Expand analysed tokens into weighted index terms. Caller holds the read lock. */
static void qb__build(qbuild *qb, const analyzer_tokens *tk, bool fuzzy)
{
    for (size_t i = 0; i < tk->n; i++) {
        uint32_t t = qb__live(qb->ix, analyzer_token(tk, i), tk->len[i]);
        if (t != UINT32_MAX)
            qb__add(qb, t, 1.0f, true);
    }
    if (!fuzzy)
        return;
    char join[160];
    for (size_t i = 0; i < tk->n; i++) {
        const char *s = analyzer_token(tk, i);
        qb__fuzzy(qb, s, tk->len[i]);
        qb__split(qb, s, tk->len[i]);
        if (i + 1 < tk->n && tk->len[i] + tk->len[i + 1] < sizeof join) {
            size_t jl = tk->len[i] + tk->len[i + 1];
            memcpy(join, s, tk->len[i]);
            memcpy(join + tk->len[i], analyzer_token(tk, i + 1), tk->len[i + 1]);
            uint32_t t = qb__live(qb->ix, join, jl);
            if (t != UINT32_MAX)
                qb__add(qb, t, 1.0f, false);
            qb__fuzzy(qb, join, jl);
        }
    }
}

static float bm25__idf(const bm25 *ix, uint32_t df)
{
    double n = (double)ix->n_docs;
    return (float)log(1.0 + (n - df + 0.5) / (df + 0.5));
}

/* ---- MaxScore ---- */

typedef struct cursor {
    const uint32_t *docs, *tfs;
    uint32_t pos, len;
    float widf, ub;
} cursor;

static int cursor__cmp_ub(const void *a, const void *b)
{
    float x = ((const cursor *)a)->ub, y = ((const cursor *)b)->ub;
    return (x > y) - (x < y);
}

/* Move c to its first posting >= target (galloping, then binary search). */
static void cursor__seek(cursor *c, uint32_t target)
{
    if (c->pos >= c->len || c->docs[c->pos] >= target)
        return;
    uint32_t lo = c->pos, step = 1, hi = lo + 1;
    while (hi < c->len && c->docs[hi] < target) {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    if (hi > c->len)
        hi = c->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->docs[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    c->pos = lo;
}

/* Min-heap of hits: the worst (lowest score, then highest id) on top. */
static bool hit__worse(const bm25_hit *a, const bm25_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->doc_id > b->doc_id);
}

static void heap__down(bm25_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && hit__worse(&h[l], &h[m]))
            m = l;
        if (r < n && hit__worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        bm25_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap__push(bm25_hit *h, size_t *n, bm25_hit x)
{
    size_t i = (*n)++;
    h[i] = x;
    while (i && hit__worse(&h[i], &h[(i - 1) / 2])) {
        bm25_hit t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* Sort the heap's contents best first, in place. */
static void heap__sort(bm25_hit *h, size_t n)
{
    for (size_t m = n; m > 1; m--) {
        bm25_hit t = h[0];
        h[0] = h[m - 1];
        h[m - 1] = t;
        heap__down(h, m - 1, 0);
    }
}

typedef struct ms_ctx {
    const bm25 *ix;
    cursor *c;
    float *prefix;      /* prefix[i] = sum of ub[0..i] */
    size_t nc;
    float c0, c1;       /* K(dl) = c0 + c1 * dl */
    const bm25_search_opts *o;
    uint64_t scored;    /* postings scored */
} ms_ctx;

static inline float ms__contrib(ms_ctx *m, const cursor *c, uint32_t d)
{
    m->scored++;
    float tf = (float)c->tfs[c->pos];
    return c->widf * tf / (tf + m->c0 + m->c1 * (float)m->ix->doc_len[d]);
}

static size_t ms__run(ms_ctx *m, bm25_hit *heap)
{
    size_t hn = 0, k = m->o->k, ne = 0;
    float theta = 0.0f;
    cursor *c = m->c;
    for (;;) {
        uint32_t d = UINT32_MAX;
        for (size_t i = ne; i < m->nc; i++)
            if (c[i].pos < c[i].len && c[i].docs[c[i].pos] < d)
                d = c[i].docs[c[i].pos];
        if (d == UINT32_MAX)
            break;
        bool live = bm25__is_live(m->ix, d);
        float s = 0.0f;
        for (size_t i = ne; i < m->nc; i++) {
            if (c[i].pos < c[i].len && c[i].docs[c[i].pos] == d) {
                if (live)
                    s += ms__contrib(m, &c[i], d);
                c[i].pos++;
            }
        }
        if (!live)
            continue;
        size_t i = ne;
        for (; i > 0; i--) {
            if (hn == k && s + m->prefix[i - 1] < theta)
                break;
            cursor__seek(&c[i - 1], d);
            if (c[i - 1].pos < c[i - 1].len && c[i - 1].docs[c[i - 1].pos] == d)
                s += ms__contrib(m, &c[i - 1], d);
        }
        if (i > 0 || s <= 0.0f)
            continue;
        bm25_hit x = {d, s};
        if (hn == k && !hit__worse(&heap[0], &x))
            continue;
        if (m->o->filter && !m->o->filter(m->o->filter_ud, d))
            continue;
        if (hn == k) {
            heap[0] = x;
            heap__down(heap, hn, 0);
        } else {
            heap__push(heap, &hn, x);
        }
        if (hn == k) {
            theta = heap[0].score;
            while (ne < m->nc && m->prefix[ne] < theta)
                ne++;
        }
    }
    return hn;
}

static int bm25__search_locked(bm25 *ix, const analyzer_tokens *tk, const bm25_search_opts *o,
                               bm25_hit *out, size_t *n_out)
{
    qbuild qb = {.ix = ix};
    qb__build(&qb, tk, o->fuzzy);
    *n_out = 0;
    if (qb.n == 0 || ix->n_docs == 0) {
        free(qb.v);
        return 0;
    }
    double avgdl = (double)ix->total_len / (double)ix->n_docs;
    ms_ctx m = {.ix = ix, .nc = 0, .o = o};
    m.c0 = ix->p.k1 * (1.0f - ix->p.b);
    m.c1 = avgdl > 0 ? (float)(ix->p.k1 * ix->p.b / avgdl) : 0.0f;
    m.c = xmalloc(qb.n * sizeof *m.c);
    m.prefix = xmalloc(qb.n * sizeof *m.prefix);
    for (size_t i = 0; i < qb.n; i++) {
        const bm25_term *bt = &ix->terms[qb.v[i].t];
        if (!bt->len)
            continue;
        cursor *c = &m.c[m.nc++];
        c->docs = bt->docs;
        c->tfs = bt->tfs;
        c->pos = 0;
        c->len = bt->len;
        c->widf = qb.v[i].w * bm25__idf(ix, bt->df);
        float mt = (float)bt->max_tf;
        c->ub = c->widf * mt / (mt + m.c0 + m.c1 * (float)bt->min_dl) * 1.0001f;
    }
    qsort(m.c, m.nc, sizeof *m.c, cursor__cmp_ub);
    float acc = 0.0f;
    for (size_t i = 0; i < m.nc; i++)
        m.prefix[i] = acc += m.c[i].ub;
    size_t n = ms__run(&m, out);
    heap__sort(out, n);
    uint64_t seen = 0;
    for (size_t i = 0; i < m.nc; i++)
        seen += m.c[i].len;
    __atomic_add_fetch(&ix->n_searches, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&ix->n_scored, m.scored, __ATOMIC_RELAXED);
    __atomic_add_fetch(&ix->n_seen, seen, __ATOMIC_RELAXED);
    *n_out = n;
    free(m.c);
    free(m.prefix);
    free(qb.v);
    return 0;
}

int bm25_search(bm25 *ix, const char *query, size_t qlen, const bm25_search_opts *opts,
                bm25_hit *out, size_t *n_out)
{
    if (!ix || !opts || opts->k == 0 || opts->k > BM25_K_MAX || !out || !n_out || (!query && qlen))
        return RAGD_EINVAL;
    analyzer_tokens tk;
    analyzer_tokens_init(&tk);
    int rc = analyzer_analyze(ix->an, query, qlen, &tk);
    if (rc == 0) {
        pthread_rwlock_rdlock(&ix->lock);
        rc = bm25__search_locked(ix, &tk, opts, out, n_out);
        pthread_rwlock_unlock(&ix->lock);
    }
    analyzer_tokens_free(&tk);
    return rc;
}

/* tf of doc d in term t (binary search), 0 if absent. */
static uint32_t bm25__tf(const bm25_term *bt, uint32_t d)
{
    uint32_t lo = 0, hi = bt->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (bt->docs[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < bt->len && bt->docs[lo] == d ? bt->tfs[lo] : 0;
}

int bm25_explain(bm25 *ix, const char *query, size_t qlen, bool fuzzy, uint32_t doc_id,
                 bm25_explain_term *out, size_t cap, size_t *n_out, float *total)
{
    if (!ix || !n_out || !total || (!out && cap) || (!query && qlen))
        return RAGD_EINVAL;
    analyzer_tokens tk;
    analyzer_tokens_init(&tk);
    int rc = analyzer_analyze(ix->an, query, qlen, &tk);
    if (rc) {
        analyzer_tokens_free(&tk);
        return rc;
    }
    pthread_rwlock_rdlock(&ix->lock);
    *n_out = 0;
    *total = 0.0f;
    if (!bm25__is_live(ix, doc_id)) {
        rc = RAGD_ENOTFOUND;
    } else {
        qbuild qb = {.ix = ix};
        qb__build(&qb, &tk, fuzzy);
        double avgdl = (double)ix->total_len / (double)ix->n_docs;
        float c0 = ix->p.k1 * (1.0f - ix->p.b);
        float c1 = avgdl > 0 ? (float)(ix->p.k1 * ix->p.b / avgdl) : 0.0f;
        for (size_t i = 0; i < qb.n; i++) {
            const bm25_term *bt = &ix->terms[qb.v[i].t];
            uint32_t tf = bm25__tf(bt, doc_id);
            if (!tf)
                continue;
            float idf = bm25__idf(ix, bt->df);
            float widf = qb.v[i].w * idf, ftf = (float)tf;
            float sc = widf * ftf / (ftf + c0 + c1 * (float)ix->doc_len[doc_id]);
            *total += sc;
            if (*n_out < cap) {
                bm25_explain_term *e = &out[(*n_out)++];
                snprintf(e->term, sizeof e->term, "%s", bm25__term_str(ix, qb.v[i].t));
                e->weight = qb.v[i].w;
                e->tf = tf;
                e->df = bt->df;
                e->idf = idf;
                e->score = sc;
            }
        }
        free(qb.v);
    }
    pthread_rwlock_unlock(&ix->lock);
    analyzer_tokens_free(&tk);
    return rc;
}
