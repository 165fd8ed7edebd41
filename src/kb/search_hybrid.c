/*
 * search_hybrid.c - kb_search: pick each namespace's query vector (the
 * caller's, or the query embedded once per model through that model's
 * embedding cache), run the keyword and semantic legs in
 * every requested namespace with the visibility + metadata filter as the
 * indexes' filter callback, merge each leg across namespaces by score, fuse
 * (index/fusion.h), apply the threshold and copy the winners out while the
 * namespaces are still read-locked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "kb/search.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/mem.h"

void kb_search_default_opts(kb_search_opts *o)
{
    memset(o, 0, sizeof *o);
    o->type = KB_SEARCH_HYBRID;
    o->limit = 10;
    o->fusion = fusion_default_opts();
}

/* What a search may see in one namespace. */
typedef struct search_scope {
    kb_ns *ns;
    const char *user;
    const kb_filter *filter;
    int64_t now_ms;       /* a document expired by then is never a result */
} search_scope;

/* The index filter: published chunk, not expired, visible to the user,
 * metadata passes. */
static bool search__accept(void *ud, uint32_t id)
{
    const search_scope *sc = ud;
    if (id >= sc->ns->n_slots)
        return false;
    const kb_doc *d = sc->ns->slots[id].doc;
    if (!d || kb__doc_expired(d, sc->now_ms))
        return false;
    if (d->user_id && (!sc->user || strcmp(d->user_id, sc->user) != 0))
        return false;
    return kb_filter_match(sc->filter, d->metadata);
}

static int search__cmp_in(const void *a, const void *b)
{
    const fusion_in *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Growable leg list. */
typedef struct search_leg {
    fusion_in *v;
    size_t n, cap;
} search_leg;

static void search__leg_push(search_leg *l, uint64_t id, float score)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (fusion_in){ id, score };
}

static void search__leg_finish(search_leg *l, size_t keep)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, search__cmp_in);
    if (l->n > keep)
        l->n = keep;
}

static bool search__blank(const char *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (q[i] != ' ' && q[i] != '\t' && q[i] != '\n' && q[i] != '\r')
            return false;
    return true;
}

/* Take a reference to every namespace asked for (all when none named). */
static int search__namespaces(kb_t *kb, const kb_search_opts *o, kb_ns ***out, size_t *n,
                              ragd_error *err)
{
    char **names = NULL;
    size_t cnt = o->n_namespaces;
    if (!o->namespaces || !cnt)
        kb_ns_list(kb, &names, &cnt);
    kb_ns **v = xcalloc(cnt ? cnt : 1, sizeof *v);
    size_t k = 0;
    int rc = RAGD_OK;
    for (size_t i = 0; i < cnt && !rc; i++) {
        const char *name = names ? names[i] : o->namespaces[i];
        bool dup = false;
        for (size_t j = 0; j < k; j++)
            dup = dup || !strcmp(v[j]->name, name ? name : "");
        if (dup)
            continue;
        if (!(v[k] = kb__ns_acquire(kb, name)))
            rc = names ? RAGD_OK /* dropped meanwhile */
                       : ragd_error_set(err, RAGD_ENOTFOUND, "namespace '%s' does not exist",
                                        name ? name : "");
        else
            k++;
    }
    if (names)
        kb_names_free(names, cnt);
    if (rc) {
        for (size_t j = 0; j < k; j++)
            kb__ns_release(v[j]);
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return RAGD_OK;
}

static int search__check(const kb_search_opts *o, ragd_error *err)
{
    if (!o->limit)
        return ragd_error_set(err, RAGD_EINVAL, "limit must be at least 1");
    if (o->limit > KB_SEARCH_DEPTH_MAX || o->candidates > KB_SEARCH_DEPTH_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "limit and candidates must be at most %zu",
                              KB_SEARCH_DEPTH_MAX);
    bool has_text = o->query && o->qlen && !search__blank(o->query, o->qlen);
    if (!has_text && !(o->type != KB_SEARCH_KEYWORD && o->vector))
        return ragd_error_set(err, RAGD_EINVAL, "the query is empty");
    return RAGD_OK;
}

/* The query vectors of one search: the caller's, and the query embedded by
 * each model of the namespaces searched (once per model). */
typedef struct search_qvs {
    const float **per_ns;     /* nn entries: the vector namespace i is searched with */
    struct { char model[KB_MODEL_NAME_MAX]; float *v; } *emb;
    size_t n_emb;
} search_qvs;

static void search__qvs_free(search_qvs *q)
{
    for (size_t i = 0; i < q->n_emb; i++)
        free(q->emb[i].v);
    free(q->emb);
    free(q->per_ns);
}

/* The query embedded by the model of settings st (once per model). */
static int search__embed_for(kb_t *kb, const kb_search_opts *o, const kb_ns_settings *st,
                             search_qvs *q, const float **out, ragd_error *err)
{
    for (size_t j = 0; j < q->n_emb; j++)
        if (!strcmp(q->emb[j].model, st->model)) {
            *out = q->emb[j].v;
            return RAGD_OK;
        }
    kb_embedder e;
    int rc = kb__embedder(kb, st, &e, err);
    if (rc)
        return rc;
    if (e.dim != st->dim)
        return RAGD_OK; /* a model whose vectors do not fit: no semantic leg here */
    float *v = xmalloc(e.dim * sizeof *v);
    const char *t = o->query;
    size_t tl = o->qlen;
    if ((rc = e.fn(e.ud, KB_EMBED_QUERY, "", &t, &tl, 1, v))) {
        free(v);
        return ragd_error_set(err, rc, "embedding the query with %s%s failed: %s",
                              e.remote ? "the provider model " : "", st->model, ragd_strerror(rc));
    }
    q->emb = xrealloc(q->emb, (q->n_emb + 1) * sizeof *q->emb);
    snprintf(q->emb[q->n_emb].model, sizeof q->emb[q->n_emb].model, "%s", st->model);
    q->emb[q->n_emb++].v = v;
    *out = v;
    return RAGD_OK;
}

/* Pick (or embed) the query vector of every namespace; see search.h. */
static int search__qvecs(kb_t *kb, const kb_search_opts *o, kb_ns **nss, size_t nn,
                         search_qvs *q, kb_search_result *res, ragd_error *err)
{
    q->per_ns = xcalloc(nn ? nn : 1, sizeof *q->per_ns);
    if (o->type == KB_SEARCH_KEYWORD)
        return RAGD_OK;
    bool has_text = o->query && o->qlen && !search__blank(o->query, o->qlen);
    bool fits = false, any = false;
    int rc = RAGD_OK;
    char dims[96] = "";       /* the dimensions seen, for a mismatch's message */
    size_t dl = 0;
    for (size_t i = 0; i < nn && !rc; i++) {
        kb_ns_settings st;
        pthread_rwlock_rdlock(&nss[i]->lock);
        st = nss[i]->st; /* model, dim: fixed at creation */
        pthread_rwlock_unlock(&nss[i]->lock);
        st.description = NULL;
        st.examples = NULL;
        st.n_examples = 0;
        if (o->vector && o->dim == st.dim &&
            (!o->vector_model || !strcmp(o->vector_model, st.model))) {
            q->per_ns[i] = o->vector;
            fits = true;
        } else if (has_text && st.model[0] && st.dim) {
            rc = search__embed_for(kb, o, &st, q, &q->per_ns[i], err);
        }
        any = any || q->per_ns[i];
        char one[16];
        snprintf(one, sizeof one, " %u,", st.dim);
        if (st.dim && !strstr(dims, one) && dl + strlen(one) < sizeof dims)
            dl += (size_t)snprintf(dims + dl, sizeof dims - dl, "%s", one);
    }
    if (rc)
        return rc;
    if (o->vector && !o->vector_model && !fits && nn) {
        res->bad_dim = true;
        if (dl)
            dims[dl - 1] = '\0';
        return ragd_error_set(err, RAGD_EINVAL, "the vector has %zu dimensions; the namespaces "
                              "searched take%s", o->dim, dl ? dims : " none");
    }
    if (!any && nn && (o->type == KB_SEARCH_SEMANTIC || !has_text))
        return ragd_error_set(err, RAGD_EUNAVAIL, "semantic search needs an embedding model or "
                              "a query vector of the namespaces' dimension");
    return RAGD_OK;
}

/* Run both legs in every namespace (read locks held by the caller). */
static void search__legs(kb_ns **nss, size_t nn, const kb_search_opts *o, const float **qvs,
                         size_t cand, search_leg *kw, search_leg *sem, kb_search_result *res)
{
    void *hits = xmalloc(cand * (sizeof(bm25_hit) > sizeof(vec_hit) ? sizeof(bm25_hit)
                                                                     : sizeof(vec_hit)));
    int64_t t = clock_mono_us(), now = clock_wall_ms();
    bool has_text = o->query && o->qlen && !search__blank(o->query, o->qlen);
    for (size_t i = 0; o->type != KB_SEARCH_SEMANTIC && has_text && i < nn; i++) {
        search_scope sc = { nss[i], o->user_id, o->filter, now };
        if (!nss[i]->bm)
            continue;
        bm25_search_opts bo = { .k = cand, .fuzzy = o->fuzzy, .filter = search__accept,
                                .filter_ud = &sc };
        size_t n = 0;
        bm25_search(nss[i]->bm, o->query, o->qlen, &bo, hits, &n);
        for (size_t j = 0; j < n; j++)
            search__leg_push(kw, (uint64_t)i << 32 | ((bm25_hit *)hits)[j].doc_id,
                             ((bm25_hit *)hits)[j].score);
    }
    search__leg_finish(kw, cand);
    int64_t t2 = clock_mono_us();
    res->keyword_ms = (double)(t2 - t) / 1000.0;
    for (size_t i = 0; o->type != KB_SEARCH_KEYWORD && i < nn; i++) {
        search_scope sc = { nss[i], o->user_id, o->filter, now };
        if (!nss[i]->hn || !qvs[i] || nss[i]->dim != nss[i]->st.dim)
            continue;
        /* ef at least four times the candidates wanted: ef near k loses recall at depth. */
        uint32_t ef = o->ef_search ? o->ef_search : nss[i]->st.hnsw_ef_search;
        if (ef < 4 * cand)
            ef = (uint32_t)(4 * cand);
        hnsw_search_opts ho = { .k = cand, .ef = ef, .filter = search__accept,
                                .filter_ud = &sc, .n_match = -1, .mode = HNSW_AUTO };
        size_t n = 0;
        hnsw_search(nss[i]->hn, qvs[i], &ho, hits, &n);
        for (size_t j = 0; j < n; j++)
            search__leg_push(sem, (uint64_t)i << 32 | ((vec_hit *)hits)[j].id,
                             ((vec_hit *)hits)[j].score);
    }
    search__leg_finish(sem, cand);
    res->semantic_ms = (double)(clock_mono_us() - t2) / 1000.0;
    res->keyword_candidates = kw->n;
    res->semantic_candidates = sem->n;
    free(hits);
}

/* Fuse (or take the one leg), threshold, cut to limit. */
static size_t search__fuse(const kb_search_opts *o, const search_leg *kw, const search_leg *sem,
                           fusion_hit **out)
{
    size_t cap = kw->n + sem->n, n = 0;
    fusion_hit *f = xcalloc(cap ? cap : 1, sizeof *f);
    if (o->type == KB_SEARCH_HYBRID) {
        fusion_merge(sem->v, sem->n, kw->v, kw->n, &o->fusion, f, cap, &n);
    } else {
        const search_leg *l = o->type == KB_SEARCH_KEYWORD ? kw : sem;
        for (size_t i = 0; i < l->n; i++, n++) {
            f[n].id = l->v[i].id;
            f[n].score = l->v[i].score;
            if (o->type == KB_SEARCH_KEYWORD) {
                f[n].rank_kw = (uint32_t)i + 1;
                f[n].score_kw = l->v[i].score;
            } else {
                f[n].rank_sem = (uint32_t)i + 1;
                f[n].score_sem = l->v[i].score;
            }
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!o->has_threshold || f[i].score >= o->threshold)
            f[k++] = f[i];
    *out = f;
    return k;
}

/* Copy a fused hit out of its namespace (read lock held). */
static void search__materialize(kb_ns **nss, const kb_search_opts *o, const fusion_hit *f,
                                kb_hit *h)
{
    kb_ns *ns = nss[f->id >> 32];
    uint32_t id = (uint32_t)f->id;
    const kb_slot *s = &ns->slots[id];
    const kb_doc *d = s->doc;
    snprintf(h->ns, sizeof h->ns, "%s", ns->name);
    h->doc_id = xstrdup(d->id);
    h->chunk_index = s->seq;
    h->start = s->start;
    h->end = s->end;
    h->content_len = s->end - s->start;
    h->content = xstrndup(d->text + s->start, h->content_len);
    h->user_id = d->user_id ? xstrdup(d->user_id) : NULL;
    h->metadata = cJSON_Duplicate(d->metadata, 1);
    h->score = f->score;
    h->rank_sem = f->rank_sem;
    h->rank_kw = f->rank_kw;
    h->score_sem = f->score_sem;
    h->score_kw = f->score_kw;
    h->norm_sem = f->norm_sem;
    h->norm_kw = f->norm_kw;
    if (o->with_vectors && ns->hn && hnsw_contains(ns->hn, id)) {
        h->dim = ns->dim;
        h->vector = xmalloc(h->dim * sizeof *h->vector);
        if (hnsw_get_vector(ns->hn, id, h->vector)) {
            free(h->vector);
            h->vector = NULL;
            h->dim = 0;
        }
    }
    if (o->explain && h->rank_kw && ns->bm) {
        h->terms = xcalloc(32, sizeof *h->terms);
        float total = 0;
        bm25_explain(ns->bm, o->query, o->qlen, o->fuzzy, id, h->terms, 32, &h->n_terms, &total);
    }
}

/* The text span of a fused hit (read lock held). */
static const char *search__text(kb_ns **nss, const fusion_hit *f, size_t *len)
{
    const kb_slot *s = &nss[f->id >> 32]->slots[(uint32_t)f->id];
    *len = s->end - s->start;
    return s->doc->text + s->start;
}

/* The hit among out[0..n) whose text is t[0..len), or NULL. */
static kb_hit *search__same_text(const char *t, size_t len, uint64_t hash,
                                 const uint64_t *hashes, kb_hit *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hashes[i] == hash && out[i].content_len == len && !memcmp(out[i].content, t, len))
            return &out[i];
    return NULL;
}

static void search__add_dup(kb_ns **nss, const fusion_hit *f, kb_hit *h)
{
    const kb_slot *s = &nss[f->id >> 32]->slots[(uint32_t)f->id];
    h->dups = xrealloc(h->dups, (h->n_dups + 1) * sizeof *h->dups);
    kb_hit_ref *r = &h->dups[h->n_dups++];
    snprintf(r->ns, sizeof r->ns, "%s", nss[f->id >> 32]->name);
    r->doc_id = xstrdup(s->doc->id);
    r->chunk_index = s->seq;
}

/* Materialise up to limit hits from f[0..n), collapsing identical texts
 * (same hash, then compared) into the first; returns the hits written. */
static size_t search__collect(kb_ns **nss, const kb_search_opts *o, const fusion_hit *f,
                              size_t n, kb_hit *out)
{
    uint64_t *hashes = xmalloc((o->limit ? o->limit : 1) * sizeof *hashes);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *t = search__text(nss, &f[i], &len);
        uint64_t h = hash_fnv1a64(t, len);
        kb_hit *same = search__same_text(t, len, h, hashes, out, k);
        if (same) {
            search__add_dup(nss, &f[i], same);
        } else if (k < o->limit) {
            hashes[k] = h;
            search__materialize(nss, o, &f[i], &out[k++]);
        }
    }
    free(hashes);
    return k;
}

int kb_search(kb_t *kb, const kb_search_opts *o, kb_search_result *res, ragd_error *err)
{
    int64_t t0 = clock_mono_us();
    memset(res, 0, sizeof *res);
    int rc = search__check(o, err);
    kb_ns **nss = NULL;
    size_t nn = 0;
    if (rc || (rc = search__namespaces(kb, o, &nss, &nn, err)))
        return rc;
    search_qvs q = { 0 };
    rc = search__qvecs(kb, o, nss, nn, &q, res, err);
    res->embed_ms = (double)(clock_mono_us() - t0) / 1000.0;
    if (!rc) {
        size_t cand = o->candidates ? o->candidates
                      : o->type == KB_SEARCH_HYBRID ? (2 * o->limit > 50 ? 2 * o->limit : 50)
                                                    : o->limit;
        if (cand < o->limit)
            cand = o->limit;
        search_leg kw = { 0 }, sem = { 0 };
        for (size_t i = 0; i < nn; i++)
            pthread_rwlock_rdlock(&nss[i]->lock);
        search__legs(nss, nn, o, q.per_ns, cand, &kw, &sem, res);
        int64_t tf = clock_mono_us();
        fusion_hit *f = NULL;
        size_t n = search__fuse(o, &kw, &sem, &f);
        size_t want = n < o->limit ? n : o->limit;
        res->hits = xcalloc(want ? want : 1, sizeof *res->hits);
        res->n = search__collect(nss, o, f, n, res->hits);
        res->dim = o->with_vectors ? (o->vector ? o->dim : kb->o.dim) : 0;
        for (size_t i = 0; i < nn; i++)
            pthread_rwlock_unlock(&nss[i]->lock);
        res->fusion_ms = (double)(clock_mono_us() - tf) / 1000.0;
        free(f);
        free(kw.v);
        free(sem.v);
    }
    search__qvs_free(&q);
    for (size_t i = 0; i < nn; i++)
        kb__ns_release(nss[i]);
    free(nss);
    int64_t took = clock_mono_us() - t0;
    res->total_ms = (double)took / 1000.0;
    if (!rc && (unsigned)o->type < 3)
        metrics_hist_observe(&kb->search_latency[o->type], took);
    return rc;
}

void kb_search_metrics_render(kb_t *kb, buf_t *b)
{
    static const char *const modes[] = { "hybrid", "semantic", "keyword" };
    metrics_family(b, "ragd_search_duration_seconds", "histogram",
                   "knowledge-base searches that succeeded, by mode (RAG retrieval included)");
    buf_t labels = BUF_INIT;
    for (int m = 0; m < 3; m++) {
        buf_reset(&labels);
        metrics_label(&labels, "mode", modes[m]);
        metrics_hist_render(b, "ragd_search_duration_seconds", labels.data,
                            &kb->search_latency[m]);
    }
    buf_free(&labels);
}

void kb_search_result_clear(kb_search_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        kb_hit *h = &res->hits[i];
        free(h->doc_id);
        free(h->content);
        free(h->user_id);
        cJSON_Delete(h->metadata);
        free(h->vector);
        free(h->terms);
        for (size_t d = 0; d < h->n_dups; d++)
            free(h->dups[d].doc_id);
        free(h->dups);
    }
    free(res->hits);
    memset(res, 0, sizeof *res);
}
