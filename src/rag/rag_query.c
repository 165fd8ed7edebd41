/*
 * rag_query.c - the RAG pipeline's stages in order, each timed: the query
 * embedding (cached), first-stage search per namespace, merge by fused score,
 * re-ranking of the top M (the rest keep their search order below), MMR over
 * the leading pool, and packing under the item and token limits. Stages pass
 * an order of hit indices along; the hits themselves never move.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag/rag.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/mem.h"

#define RAG_DEFAULT_ITEMS 5
/* Candidates per context item asked for, in the first-stage search and in the
 * MMR pool: enough for re-ranking and diversity to choose from without
 * scoring the whole corpus (a deeper re-rank depth widens both). */
#define RAG_CANDIDATES_PER_ITEM 4

void rag_default_request(rag_request *r)
{
    memset(r, 0, sizeof *r);
    r->strategy = "hybrid";
    r->max_items = RAG_DEFAULT_ITEMS;
    r->rerank = true;
    r->rr.depth = 30;
    r->rr.budget_ms = 100;
    r->min_score = -INFINITY;
    r->mmr = true;
    r->lambda = 0.7;
    r->dup_threshold = 0.95;
}

void rag_hits_free(rag_hit *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++) {
        free(h[i].ns);
        free(h[i].doc_id);
        free(h[i].text);
        free(h[i].vec);
        cJSON_Delete(h[i].metadata);
        cJSON_Delete(h[i].dups);
    }
    free(h);
}

static size_t rq__items(const rag_request *q)
{
    return q->max_items ? q->max_items : RAG_DEFAULT_ITEMS;
}

/* Candidates to search for and to diversify over (see RAG_CANDIDATES_PER_ITEM). */
static size_t rq__pool(const rag_request *q)
{
    size_t pool = RAG_CANDIDATES_PER_ITEM * rq__items(q);
    if (q->rerank && q->rr.depth > pool)
        pool = q->rr.depth;
    return pool;
}

/* The first-stage search over every namespace at once. */
static int rq__search(const rag_deps *d, const rag_request *q, const float *qvec,
                      rag_result *out, ragd_error *err)
{
    size_t limit = q->candidates ? q->candidates : rq__pool(q);
    const char *strategy = q->strategy ? q->strategy : "hybrid";
    if (!qvec)
        strategy = "keyword";
    rag_search_req sr = {q->namespaces, q->nns, q->query, qvec, d->emb ? embcache_dim(d->emb) : 0,
                         q->filter, q->user_id, strategy, limit};
    return d->search(d->search_ud, &sr, &out->hits, &out->nhits, err);
}

/* Merge: hit indices by fused score (ties in the search's order). */
static void rq__merge(const rag_result *out, size_t *order)
{
    for (size_t i = 0; i < out->nhits; i++)
        order[i] = i;
    /* a stable insertion sort: hits arrive per namespace already ranked */
    for (size_t i = 1; i < out->nhits; i++) {
        size_t v = order[i], j = i;
        while (j > 0) {
            const rag_hit *x = &out->hits[v], *y = &out->hits[order[j - 1]];
            if (!(x->score > y->score))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* Min-max of v[0..n) into [lo, hi] (hi when all equal). */
static void rq__scale(const float *v, size_t n, float lo, float hi, float *out)
{
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        mn = v[i] < mn ? v[i] : mn;
        mx = v[i] > mx ? v[i] : mx;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = mx > mn ? lo + (hi - lo) * (v[i] - mn) / (mx - mn) : hi;
}

/* Re-rank the leading hits; rewrites order (and *n after min_score) and fills
 * rel (per position: relevance for responses) and key (per position, in [0, 1]
 * for MMR: re-scored positions above the others). */
static int rq__rerank(const rag_deps *d, const rag_request *q, arena *a, rag_result *out,
                      size_t *order, size_t *n, float *rel, float *key)
{
    size_t m = *n;
    float *fused = arena_alloc(a, m * sizeof *fused);
    for (size_t i = 0; i < m; i++)
        fused[i] = out->hits[order[i]].score;
    if (!q->rerank || !d->rerank || m == 0 || !rerank_ready(d->rerank)) {
        memcpy(rel, fused, m * sizeof *rel);
        rq__scale(fused, m, 0.0f, 1.0f, key);
        return 0;
    }
    const char **texts = arena_alloc(a, m * sizeof *texts);
    const float **vecs = arena_alloc(a, m * sizeof *vecs);
    size_t *lens = arena_alloc(a, m * sizeof *lens), *pos = arena_alloc(a, m * sizeof *pos);
    float *s = arena_alloc(a, m * sizeof *s);
    for (size_t i = 0; i < m; i++) {
        texts[i] = out->hits[order[i]].text;
        lens[i] = out->hits[order[i]].len;
        vecs[i] = out->hits[order[i]].vec;
    }
    rerank_params p = q->rr;
    p.vecs = vecs;
    if (!p.depth)
        p.depth = m;
    int rc = rerank_score(d->rerank, q->query, strlen(q->query), texts, lens, m, &p, s, &out->rr);
    if (rc == 0) {
        out->reranked = out->rr.scored > 0;
        size_t k = rerank_order(s, m, out->rr.scored, q->min_score, pos);
        size_t *old = arena_alloc(a, m * sizeof *old);
        memcpy(old, order, m * sizeof *old);
        size_t nsc = 0;
        for (size_t j = 0; j < k; j++) {
            order[j] = old[pos[j]];
            bool sc = pos[j] < out->rr.scored;
            rel[j] = sc ? s[pos[j]] : fused[pos[j]];
            key[j] = sc ? s[pos[j]] : fused[pos[j]];
            nsc += sc;
        }
        rq__scale(key, nsc, 0.5f, 1.0f, key);
        rq__scale(key + nsc, k - nsc, 0.0f, nsc ? 0.49f : 1.0f, key + nsc);
        *n = k;
    }
    return rc;
}

/* MMR over the leading pool of order; the tail keeps its place after it. */
static int rq__mmr(const rag_deps *d, const rag_request *q, arena *a, rag_result *out,
                   size_t *order, size_t *n, float *rel, float *key)
{
    if (!d->emb)
        return 0;
    size_t pool = rq__pool(q);
    if (pool > *n)
        pool = *n;
    if (pool < 2)
        return 0;
    size_t dim = embcache_dim(d->emb);
    float *v = arena_alloc(a, pool * dim * sizeof *v);
    const char **texts = arena_alloc(a, pool * sizeof *texts);
    size_t *lens = arena_alloc(a, pool * sizeof *lens), *idx = arena_alloc(a, pool * sizeof *idx);
    size_t need = 0;
    for (size_t i = 0; i < pool; i++) {
        const rag_hit *h = &out->hits[order[i]];
        if (h->vec) {
            memcpy(v + i * dim, h->vec, dim * sizeof *v);
        } else {
            texts[need] = h->text;
            lens[need] = h->len;
            idx[need++] = i;
        }
    }
    float *ev = need ? arena_alloc(a, need * dim * sizeof *ev) : NULL;
    int rc = need ? embcache_embed(d->emb, texts, lens, need, ev, &(embcache_info){0}) : 0;
    for (size_t j = 0; rc == 0 && j < need; j++)
        memcpy(v + idx[j] * dim, ev + j * dim, dim * sizeof *v);
    if (rc == 0) {
        size_t *sel = arena_alloc(a, pool * sizeof *sel), ndup = 0;
        size_t m = rag_mmr_select(v, dim, key, pool, q->lambda, q->dup_threshold, pool, sel,
                                  &ndup);
        size_t *o2 = arena_alloc(a, *n * sizeof *o2);
        float *r2 = arena_alloc(a, *n * sizeof *r2), *k2 = arena_alloc(a, *n * sizeof *k2);
        for (size_t j = 0; j < m; j++) {
            o2[j] = order[sel[j]];
            r2[j] = rel[sel[j]];
            k2[j] = key[sel[j]];
        }
        for (size_t j = pool; j < *n; j++, m++) {
            o2[m] = order[j];
            r2[m] = rel[j];
            k2[m] = key[j];
        }
        memcpy(order, o2, m * sizeof *order);
        memcpy(rel, r2, m * sizeof *rel);
        memcpy(key, k2, m * sizeof *key);
        out->mmr_dropped = ndup;
        *n = m;
    }
    return rc;
}

static void rq__pack(const rag_deps *d, const rag_request *q, arena *a, rag_result *out,
                     const size_t *order, size_t n, const float *rel)
{
    pack_item *it = arena_alloc(a, n * sizeof *it);
    for (size_t i = 0; i < n; i++) {
        const rag_hit *h = &out->hits[order[i]];
        it[i] = (pack_item){h->ns, h->doc_id, h->start, h->end, h->seq, h->text, h->len, rel[i]};
    }
    pack_opts po;
    pack_default_opts(&po);
    po.max_items = rq__items(q);
    po.max_tokens = q->max_tokens;
    pack_context(d->wp, it, n, &po, &out->pack);
    out->entry_hit = xmalloc((out->pack.n ? out->pack.n : 1) * sizeof *out->entry_hit);
    for (size_t e = 0; e < out->pack.n; e++) {
        const pack_entry *pe = &out->pack.e[e];
        out->entry_hit[e] = order[0];
        for (size_t i = 0; i < n; i++) {
            const rag_hit *h = &out->hits[order[i]];
            if (h->ns == pe->ns && h->doc_id == pe->doc_id && h->start >= pe->start &&
                h->start <= pe->end) {
                out->entry_hit[e] = order[i];
                break;
            }
        }
    }
}

static void rq__strategy(const rag_deps *d, const rag_request *q, rag_result *out)
{
    const char *s = !d->emb ? "keyword" : q->strategy ? q->strategy : "hybrid";
    snprintf(out->strategy, sizeof out->strategy, "%s%s%s", s, out->reranked ? "+rerank" : "",
             q->mmr && d->emb ? "+mmr" : "");
}

int rag_query(const rag_deps *d, const rag_request *q, rag_result *out, ragd_error *err)
{
    memset(out, 0, sizeof *out);
    if (err)
        ragd_error_clear(err);
    if (!q->query || !*q->query || q->nns == 0)
        return ragd_error_set(err, RAGD_EINVAL, "a query and at least one namespace are needed");
    arena local = ARENA_INIT, *a = d->scratch ? d->scratch : &local;
    int64_t t0 = clock_mono_us(), t = t0;
    size_t qlen = strlen(q->query);
    float *qvec = d->emb ? arena_alloc(a, embcache_dim(d->emb) * sizeof *qvec) : NULL;
    bool cached = false;
    embcache_info info = {.cached = &cached};
    int rc = d->emb ? embcache_embed(d->emb, &q->query, &qlen, 1, qvec, &info) : 0;
    out->query_cached = cached;
    out->t.embed_us = clock_mono_us() - t;
    t = clock_mono_us();
    if (rc == 0)
        rc = rq__search(d, q, qvec, out, err);
    out->t.search_us = clock_mono_us() - t;
    size_t n = out->nhits, *order = arena_alloc(a, n * sizeof *order);
    float *rel = arena_alloc(a, n * sizeof *rel), *key = arena_alloc(a, n * sizeof *key);
    if (rc == 0) {
        rq__merge(out, order);
        t = clock_mono_us();
        rc = rq__rerank(d, q, a, out, order, &n, rel, key);
        out->t.rerank_us = clock_mono_us() - t;
    }
    if (rc == 0 && q->mmr) {
        t = clock_mono_us();
        rc = rq__mmr(d, q, a, out, order, &n, rel, key);
        out->t.mmr_us = clock_mono_us() - t;
    }
    if (rc == 0) {
        t = clock_mono_us();
        rq__pack(d, q, a, out, order, n, rel);
        out->t.pack_us = clock_mono_us() - t;
        rq__strategy(d, q, out);
    } else if (err && !err->msg[0]) {
        ragd_error_set(err, rc, "RAG query failed: %s", ragd_strerror(rc));
    }
    out->t.total_us = clock_mono_us() - t0;
    arena_destroy(&local);
    return rc;
}

void rag_result_free(rag_result *r)
{
    pack_result_free(&r->pack);
    rag_hits_free(r->hits, r->nhits);
    free(r->entry_hit);
    memset(r, 0, sizeof *r);
}
