/*
 * rag_kb.c - the RAG pipeline's first stage on ragd's own knowledge bases:
 * one kb_search over the requested namespaces (the knowledge base fuses the
 * keyword and semantic legs across them) with the pipeline's query vector,
 * the user's visibility and the metadata filter, returning chunks with their
 * byte spans, chunk numbers and stored vectors.
 */
#include <stdlib.h>
#include <string.h>

#include "rag/rag.h"
#include "kb/search.h"
#include "util/mem.h"

static kb_search_type rk__type(const char *s)
{
    if (s && strcmp(s, "semantic") == 0)
        return KB_SEARCH_SEMANTIC;
    if (s && strcmp(s, "keyword") == 0)
        return KB_SEARCH_KEYWORD;
    return KB_SEARCH_HYBRID;
}

static void rk__copy(const kb_hit *k, size_t dim, size_t want_dim, rag_hit *h)
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
    if (k->vector && dim && dim == want_dim) {
        h->vec = xmalloc(dim * sizeof *h->vec);
        memcpy(h->vec, k->vector, dim * sizeof *h->vec);
    }
    h->metadata = k->metadata ? cJSON_Duplicate(k->metadata, 1) : NULL;
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
        rk__copy(&res.hits[i], res.dim, q->dim, &(*hits)[i]);
    kb_search_result_clear(&res);
    return 0;
}
