/*
 * rag_kb.c - the RAG pipeline's first stage on ragd's own knowledge bases:
 * one kb_search over the requested namespaces (the knowledge base fuses the
 * keyword and semantic legs across them) with the pipeline's query vector,
 * the user's visibility and the metadata filter, returning chunks with their
 * byte spans, chunk numbers and stored vectors; rag_scope_search adds the
 * user's own items of chosen content types.
 */
#include <stdlib.h>
#include <string.h>

#include "rag/rag.h"
#include "kb/search.h"
#include "kb/user_content.h"
#include "util/mem.h"

static kb_search_type rk__type(const char *s)
{
    if (s && strcmp(s, "semantic") == 0)
        return KB_SEARCH_SEMANTIC;
    if (s && strcmp(s, "keyword") == 0)
        return KB_SEARCH_KEYWORD;
    return KB_SEARCH_HYBRID;
}

static void rk__copy(const kb_hit *k, size_t want_dim, rag_hit *h)
{
    memset(h, 0, sizeof *h);
    h->ns = xstrdup(k->ns);
    h->doc_id = xstrdup(k->doc_id);
    h->start = k->start;
    h->end = k->end;
    h->seq = k->chunk_index;
    h->text = xmalloc(k->content_len + 1);
    memcpy(h->text, k->content, k->content_len);
    h->text[k->content_len] = '\0';
    h->len = k->content_len;
    h->score = k->score;
    if (k->vector && k->dim && k->dim == want_dim) {
        h->vec = xmalloc(k->dim * sizeof *h->vec);
        memcpy(h->vec, k->vector, k->dim * sizeof *h->vec);
    }
    h->metadata = k->metadata ? cJSON_Duplicate(k->metadata, 1) : NULL;
    for (size_t i = 0; i < k->n_dups; i++) {
        if (!h->dups)
            h->dups = cJSON_CreateArray();
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "namespace", k->dups[i].ns);
        cJSON_AddStringToObject(d, "document_id", k->dups[i].doc_id);
        cJSON_AddNumberToObject(d, "chunk_index", k->dups[i].chunk_index);
        cJSON_AddItemToArray(h->dups, d);
    }
}

int rag_kb_search(void *kb, const rag_search_req *q, rag_hit **hits, size_t *n, ragd_error *err)
{
    kb_filter *f = NULL;
    int rc = kb_filter_compile(q->filter, &f, err);
    if (rc)
        return rc;
    kb_search_opts o;
    kb_search_default_opts(&o);
    o.query = q->query;
    o.qlen = strlen(q->query);
    o.vector = q->qvec;
    o.dim = q->qvec ? q->dim : 0;
    o.vector_model = kb_model(kb); /* the pipeline embeds with the loaded model */
    /* fused scores become context relevances: each leg divided by its best, so no
     * candidate is forced to 0 as min-max (search's default) would */
    o.fusion.norm = FUSION_NORM_MAX;
    o.user_id = q->user_id;
    o.type = q->qvec ? rk__type(q->strategy) : KB_SEARCH_KEYWORD;
    o.limit = q->limit;
    o.namespaces = q->namespaces;
    o.n_namespaces = q->nns;
    o.filter = kb_filter_is_empty(f) ? NULL : f;
    o.with_vectors = q->qvec != NULL;
    kb_search_result res;
    rc = kb_search(kb, &o, &res, err);
    kb_filter_destroy(f);
    if (rc)
        return rc;
    *n = res.n;
    *hits = res.n ? xmalloc(res.n * sizeof **hits) : NULL;
    for (size_t i = 0; i < res.n; i++)
        rk__copy(&res.hits[i], q->dim, &(*hits)[i]);
    kb_search_result_clear(&res);
    return 0;
}

static int rs__by_score(const void *a, const void *b)
{
    const rag_hit *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

/* The user's items of the scope's types (request filter and type filter both). */
static int rs__user_items(const rag_scope *sc, const rag_search_req *q, rag_hit **hits,
                          size_t *n, ragd_error *err)
{
    rag_search_req u = *q;
    const char *ns = sc->user_ns;
    u.namespaces = &ns;
    u.nns = 1;
    cJSON *spec = sc->ntypes ? uc_type_filter(sc->types, sc->ntypes, q->filter) : NULL;
    if (spec)
        u.filter = spec;
    int rc = rag_kb_search(sc->kb, &u, hits, n, err);
    cJSON_Delete(spec);
    return rc;
}

int rag_scope_search(void *scope, const rag_search_req *q, rag_hit **hits, size_t *n,
                     ragd_error *err)
{
    const rag_scope *sc = scope;
    const char **kbns = xmalloc((q->nns ? q->nns : 1) * sizeof *kbns);
    size_t nk = 0;
    bool user = false;
    for (size_t i = 0; i < q->nns; i++) {
        if (strcmp(q->namespaces[i], sc->user_ns))
            kbns[nk++] = q->namespaces[i];
        else
            user = q->user_id && kb_ns_exists(sc->kb, sc->user_ns);
    }
    rag_hit *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int rc = 0;
    if (nk) {
        rag_search_req k = *q;
        k.namespaces = kbns;
        k.nns = nk;
        rc = rag_kb_search(sc->kb, &k, &a, &na, err);
    }
    if (!rc && user)
        rc = rs__user_items(sc, q, &b, &nb, err);
    free(kbns);
    if (rc) {
        rag_hits_free(a, na);
        return rc;
    }
    *n = na + nb;
    *hits = *n ? xmalloc(*n * sizeof **hits) : NULL;
    if (na)
        memcpy(*hits, a, na * sizeof *a);
    if (nb)
        memcpy(*hits + na, b, nb * sizeof *b);
    free(a);
    free(b);
    if (*n)
        qsort(*hits, *n, sizeof **hits, rs__by_score);
    if (*n > q->limit) { /* free the tail's members, keep the array */
        size_t extra = *n - q->limit;
        rag_hit *tail = xmalloc(extra * sizeof *tail);
        memcpy(tail, *hits + q->limit, extra * sizeof *tail);
        rag_hits_free(tail, extra);
        *n = q->limit;
    }
    return 0;
}
