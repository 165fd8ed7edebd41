/*
 * rerank.c - the re-ranking service: picks the scorer at start (remote, local
 * cross-encoder, or the embedding cosine fallback), scores candidates batch by
 * batch in their input order under a count and a latency budget, and orders
 * the result. The cost of one pair is learned as a moving average, so the
 * first batch of a call is already sized to the budget.
 */
#include "rag/rerank_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/vec_kernels.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/mem.h"

#define RERANK_DEFAULT_BATCH 16

void rerank_default_opts(rerank_opts *o)
{
    memset(o, 0, sizeof *o);
    o->precision = EMBED_FP32;
    o->batch = RERANK_DEFAULT_BATCH;
    o->remote.wire = RERANK_WIRE_COHERE;
    o->remote.timeout_ms = 10000;
}

/* The host part of a URL, for the model name of a remote without one. */
static char *rr__host(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int rr__open_local(rerank_t *r, const rerank_opts *o, ragd_error *err)
{
    embed_opts eo;
    embed_default_opts(&eo);
    eo.precision = o->precision;
    eo.threads = o->threads;
    ragd_error merr;
    int rc = embed_model_open(o->model_dir, &eo, &r->ce, &merr);
    if (rc)
        return ragd_error_set(err, rc, "rerank_model_dir %s: %s", o->model_dir, merr.msg);
    if (!embed_model_has_classifier(r->ce))
        return ragd_error_set(err, RAGD_EFORMAT,
                              "rerank_model_dir %s: not a cross-encoder (no classifier.weight: "
                              "a sequence-classification model is needed)", o->model_dir);
    r->kind = RERANK_CROSS_ENCODER;
    r->name = xstrdup(embed_model_name(r->ce));
    return 0;
}

int rerank_create(const rerank_opts *o, rerank_t **out, ragd_error *err)
{
    rerank_t *r = xcalloc(1, sizeof *r);
    r->batch = o->batch ? o->batch : RERANK_DEFAULT_BATCH;
    r->fallback = o->fallback;
    r->sched = o->sched;
    int rc = 0;
    if (o->remote.url && *o->remote.url) {
        r->kind = RERANK_REMOTE;
        r->url = xstrdup(o->remote.url);
        r->api_key = o->remote.api_key ? xstrdup(o->remote.api_key) : NULL;
        r->model = o->remote.model && *o->remote.model ? xstrdup(o->remote.model) : NULL;
        r->wire = o->remote.wire;
        r->timeout_ms = o->remote.timeout_ms > 0 ? o->remote.timeout_ms : 10000;
        r->name = r->model ? xstrdup(r->model) : rr__host(r->url);
        rerank__remote_global(true);
    } else if (o->model_dir && *o->model_dir) {
        rc = rr__open_local(r, o, err);
    } else {
        r->kind = RERANK_COSINE;
        buf_t b = BUF_INIT;
        buf_printf(&b, "cosine:%s", o->fallback ? embcache_model(o->fallback) : "none");
        r->name = buf_detach(&b, NULL);
    }
    if (rc) {
        rerank_destroy(r);
        return rc;
    }
    *out = r;
    return 0;
}

void rerank_destroy(rerank_t *r)
{
    if (!r)
        return;
    if (r->kind == RERANK_REMOTE)
        rerank__remote_global(false);
    embed_model_close(r->ce);
    free(r->name);
    free(r->url);
    free(r->api_key);
    free(r->model);
    free(r);
}

rerank_kind rerank_get_kind(const rerank_t *r) { return r->kind; }
const char *rerank_model_name(const rerank_t *r) { return r->name; }

const char *rerank_kind_name(rerank_kind k)
{
    return k == RERANK_REMOTE ? "remote" : k == RERANK_CROSS_ENCODER ? "cross-encoder" : "cosine";
}

bool rerank_ready(const rerank_t *r)
{
    return r->kind != RERANK_COSINE || r->fallback != NULL;
}

/* Pieces the cross-encoder reads for one pair (specials included, capped). */
static size_t rr__pair_tokens(const rerank_t *r, size_t qn, const char *d, size_t len)
{
    size_t n = qn + wordpiece_count(embed_model_tokenizer(r->ce), d, len) + 3;
    size_t cap = embed_model_max_tokens(r->ce);
    return n < cap ? n : cap;
}

/* Cosine of docs[0..k) to the query vector q; known vectors (vecs, may be
 * NULL) are used as they are, the others come from the embedding cache. */
static int rr__cosine_batch(rerank_t *r, const float *q, const char *const *docs,
                            const size_t *lens, const float *const *vecs, size_t k,
                            float *scores)
{
    size_t dim = embcache_dim(r->fallback), m = 0;
    float *v = xmalloc(k * dim * sizeof *v);
    const char **t = xmalloc(k * sizeof *t);
    size_t *l = xmalloc(k * sizeof *l), *at = xmalloc(k * sizeof *at);
    for (size_t i = 0; i < k; i++) {
        if (vecs && vecs[i]) {
            scores[i] = vec_cosine_f32(q, vecs[i], dim);
        } else {
            t[m] = docs[i];
            l[m] = lens[i];
            at[m++] = i;
        }
    }
    int rc = m ? embcache_embed(r->fallback, t, l, m, v, &(embcache_info){0}) : 0;
    for (size_t j = 0; rc == 0 && j < m; j++)
        scores[at[j]] = vec_cosine_f32(q, v + j * dim, dim);
    free(v);
    free(t);
    free(l);
    free(at);
    return rc;
}

/* One cross-encoder pass as a scheduler task: the CPU it needs is the one
 * the embeddings use, so it waits its turn as interactive work. */
typedef struct rr__pairs {
    embed_model *ce;
    const char *query;
    size_t qlen;
    const char *const *docs;
    const size_t *lens;
    size_t n;
    float *scores;
} rr__pairs;

static int rr__pairs_run(void *ud)
{
    rr__pairs *p = ud;
    return embed_score_pairs(p->ce, p->query, p->qlen, p->docs, p->lens, p->n, p->scores, NULL);
}

static int rr__cross_batch(rerank_t *r, const char *query, size_t qlen, const char *const *docs,
                           const size_t *lens, size_t k, float *scores)
{
    rr__pairs p = { r->ce, query, qlen, docs, lens, k, scores };
    return r->sched ? embed_sched_run(r->sched, NULL, rr__pairs_run, &p) : rr__pairs_run(&p);
}

/* How many of the next `want` pairs fit the rest of the budget; 0 = stop. */
static size_t rr__fit(const rerank_t *r, int64_t per_us, size_t done, size_t want,
                      int budget_ms, int64_t elapsed_us)
{
    if (budget_ms <= 0)
        return want;
    if (per_us <= 0)
        per_us = atomic_load_explicit(&r->pair_us, memory_order_relaxed);
    if (per_us <= 0)
        return want;
    int64_t left = (int64_t)budget_ms * 1000 - elapsed_us;
    size_t fit = left > 0 ? (size_t)(left / per_us) : 0;
    if (fit == 0 && done == 0)
        fit = 1; /* the first batch always runs */
    return fit < want ? fit : want;
}

static void rr__learn(rerank_t *r, int64_t us, size_t k)
{
    int64_t per = us / (int64_t)k + 1;
    int64_t old = atomic_load_explicit(&r->pair_us, memory_order_relaxed);
    atomic_store_explicit(&r->pair_us, old ? (old * 3 + per) / 4 : per, memory_order_relaxed);
}

/* Local scorers (cross-encoder or cosine) batch by batch under the budget. */
static int rr__local(rerank_t *r, const char *query, size_t qlen, const char *const *docs,
                     const size_t *lens, size_t depth, const rerank_params *p, float *scores,
                     rerank_outcome *out, int64_t t0)
{
    float *qv = NULL;
    size_t qn = 0;
    int rc = 0;
    if (r->kind == RERANK_COSINE) {
        qv = xmalloc(embcache_dim(r->fallback) * sizeof *qv);
        rc = embcache_embed(r->fallback, &query, &qlen, 1, qv, &(embcache_info){0});
    } else {
        qn = wordpiece_count(embed_model_tokenizer(r->ce), query, qlen);
    }
    int budget_ms = p ? p->budget_ms : 0;
    const float *const *vecs = p ? p->vecs : NULL;
    int64_t call_per = 0, spent = 0;
    size_t i = 0;
    while (rc == 0 && i < depth) {
        size_t want = depth - i < r->batch ? depth - i : r->batch;
        size_t k = rr__fit(r, call_per, i, want, budget_ms, clock_mono_us() - t0);
        if (k == 0) {
            out->by_budget = true;
            break;
        }
        int64_t b0 = clock_mono_us();
        if (r->kind == RERANK_COSINE) {
            rc = rr__cosine_batch(r, qv, docs + i, lens + i, vecs ? vecs + i : NULL, k,
                                  scores + i);
        } else {
            rc = rr__cross_batch(r, query, qlen, docs + i, lens + i, k, scores + i);
            for (size_t j = i; rc == 0 && j < i + k; j++)
                out->tokens += rr__pair_tokens(r, qn, docs[j], lens[j]);
        }
        int64_t us = clock_mono_us() - b0;
        if (rc == 0) {
            rr__learn(r, us, k);
            spent += us;
            i += k;
            call_per = spent / (int64_t)i + 1;
        }
    }
    if (rc == 0 && i < depth && budget_ms > 0)
        out->by_budget = true;
    out->scored = rc == 0 ? i : 0;
    free(qv);
    return rc;
}

int rerank_score(rerank_t *r, const char *query, size_t qlen, const char *const *docs,
                 const size_t *lens, size_t n, const rerank_params *p, float *scores,
                 rerank_outcome *out)
{
    if (n == 0 || !query || !docs || !lens)
        return RAGD_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!docs[i])
            return RAGD_EINVAL;
    if (!rerank_ready(r))
        return RAGD_EUNAVAIL;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        scores[i] = NAN;
    size_t depth = p && p->depth && p->depth < n ? p->depth : n;
    int budget_ms = p ? p->budget_ms : 0;
    int64_t t0 = clock_mono_us();
    int rc;
    if (r->kind == RERANK_REMOTE) {
        int tmo = budget_ms > 0 ? budget_ms : r->timeout_ms;
        rc = rerank__remote_score(r, query, qlen, docs, lens, depth, tmo, scores, out);
        out->scored = rc == 0 && !out->degraded ? depth : 0;
    } else {
        rc = rr__local(r, query, qlen, docs, lens, depth, p, scores, out, t0);
    }
    out->elapsed_us = clock_mono_us() - t0;
    return rc;
}

typedef struct rr__ent {
    float s;
    size_t i;
} rr__ent;

static int rr__cmp(const void *a, const void *b)
{
    const rr__ent *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

size_t rerank_order(const float *scores, size_t n, size_t scored, float min_score,
                    size_t *order)
{
    rr__ent *e = xmalloc((scored ? scored : 1) * sizeof *e);
    size_t k = 0;
    for (size_t i = 0; i < scored && i < n; i++)
        if (!isnan(scores[i]) && scores[i] >= min_score)
            e[k++] = (rr__ent){scores[i], i};
    qsort(e, k, sizeof *e, rr__cmp);
    size_t m = 0;
    for (size_t j = 0; j < k; j++)
        order[m++] = e[j].i;
    for (size_t i = scored; i < n; i++)
        order[m++] = i;
    free(e);
    return m;
}
