/*
 * search.h - hybrid search over knowledge-base namespaces, the in-process API
 * behind POST /api/v1/search/hybrid and the RAG pipeline. Per namespace the
 * keyword leg (BM25, optional fuzzy) and the semantic leg (HNSW, or an exact
 * scan when the filter is selective) run with the ownership + metadata filter
 * applied during the index search, so `limit` results come back whenever that
 * many chunks match; legs of all namespaces are merged by score, then fused
 * (weighted or RRF, index/fusion.h). Each namespace is searched with a query
 * vector of its own model (embedded once per model) or the caller's vector of
 * its dimension. Chunks whose text is identical to a
 * better-ranked hit's collapse into it (kb_hit.dups lists where they are).
 *
 * Visibility: a search with user_id sees chunks of documents owned by that
 * user and of ownerless (shared) documents; without user_id only shared ones.
 *
 * Threading: kb_search is thread-safe and holds the namespaces' read locks
 * only while searching and copying results. Results are owned copies, valid
 * after the namespaces change.
 */
#ifndef RAGD_RAG_SEARCH_H
#define RAGD_RAG_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index/bm25.h"
#include "index/fusion.h"
#include "kb/kb.h"

typedef enum kb_search_type {
    KB_SEARCH_HYBRID = 0,
    KB_SEARCH_SEMANTIC = 1,
    KB_SEARCH_KEYWORD = 2,
} kb_search_type;

typedef struct kb_search_opts {
    const char *query;            /* text; required unless semantic with vector */
    size_t qlen;
    const float *vector;          /* query vector (dim floats) or NULL: used in the
                                     namespaces of that dimension (and of vector_model,
                                     when set); the others embed `query` with their
                                     own model, once per model */
    size_t dim;
    const char *vector_model;     /* the model vector came from, or NULL (the caller's) */
    const char *user_id;          /* NULL: shared documents only */
    kb_search_type type;
    size_t limit;                 /* results wanted (>= 1) */
    bool has_threshold;
    float threshold;              /* drop results whose final score is below */
    const char *const *namespaces;/* NULL / 0: every namespace */
    size_t n_namespaces;
    const kb_filter *filter;      /* metadata filter or NULL */
    fusion_opts fusion;           /* hybrid: method, alpha, rrf_k */
    bool fuzzy;                   /* keyword leg typo tolerance */
    size_t candidates;            /* per-leg depth before fusion; 0 = max(2*limit, 50) */
    uint32_t ef_search;           /* 0 = each namespace's hnsw_ef_search */
    bool with_vectors;            /* copy each hit's stored vector (for MMR) */
    bool explain;                 /* fill per-term BM25 breakdowns */
} kb_search_opts;

/* Defaults: hybrid, limit 10, RRF-free weighted fusion alpha 0.5, rrf_k 60. */
void kb_search_default_opts(kb_search_opts *o);

/* Where else an identical chunk text was found (collapsed into one hit). */
typedef struct kb_hit_ref {
    char ns[KB_NS_NAME_MAX + 1];
    char *doc_id;                 /* owned */
    uint32_t chunk_index;
} kb_hit_ref;

typedef struct kb_hit {
    char ns[KB_NS_NAME_MAX + 1];
    char *doc_id;                 /* owned */
    uint32_t chunk_index;         /* position of the chunk in its document */
    uint32_t start, end;          /* byte span in the document text */
    char *content;                /* chunk text (owned, NUL-terminated) */
    size_t content_len;
    char *user_id;                /* owner or NULL */
    cJSON *metadata;              /* owned copy of the document's metadata */
    float score;                  /* final score (fused for hybrid) */
    uint32_t rank_sem, rank_kw;   /* 1-based rank in each merged leg, 0 = absent */
    float score_sem, score_kw;    /* cosine similarity / BM25 score (0 if absent) */
    float norm_sem, norm_kw;      /* weighted fusion's normalised leg scores */
    float *vector;                /* with_vectors: dim floats (owned), else NULL */
    size_t dim;                   /* length of vector (its namespace's dimension) */
    bm25_explain_term *terms;     /* explain + keyword match: owned array */
    size_t n_terms;
    kb_hit_ref *dups;             /* lower-ranked chunks with the same text (owned) */
    size_t n_dups;
} kb_hit;

typedef struct kb_search_result {
    kb_hit *hits;                 /* best first */
    size_t n;
    size_t dim;                   /* with_vectors: the query vector's (or the loaded
                                     model's) dimension; each hit says its own */
    bool bad_dim;                 /* RAGD_EINVAL because no namespace searched has the
                                     dimension of the caller's vector */
    double embed_ms, keyword_ms, semantic_ms, fusion_ms, total_ms;
    size_t keyword_candidates, semantic_candidates;
} kb_search_result;

/* Largest limit and candidates a search takes (RAGD_EINVAL above), whatever
 * the caller checked: buffers are sized from them. */
#define KB_SEARCH_DEPTH_MAX ((size_t)1 << 20)

/* Search. *res is filled (caller releases with kb_search_result_clear).
 * Errors: RAGD_ENOTFOUND (a namespace; err names it), RAGD_EINVAL (neither
 * query nor vector, limit 0 or limit / candidates above KB_SEARCH_DEPTH_MAX,
 * a caller's vector whose dimension no namespace searched has: res->bad_dim),
 * RAGD_EUNAVAIL (a semantic leg that no namespace can run: no model, no
 * vector), embedding errors (a provider's: RAGD_EUPSTREAM, or RAGD_EUNAVAIL
 * with its circuit open). */
int kb_search(kb_t *kb, const kb_search_opts *opts, kb_search_result *res, ragd_error *err);
void kb_search_result_clear(kb_search_result *res);

/* Append ragd_search_duration_seconds (the latency of the searches that
 * succeeded, by mode: keyword, semantic, hybrid) to b. Thread-safe. */
void kb_search_metrics_render(kb_t *kb, buf_t *b);

/* Append the per-namespace gauges ragd_namespace_documents, ragd_namespace_chunks and
 * ragd_namespace_memory_bytes {namespace} to b (kb_ns_metrics.c): the max_values
 * largest namespaces by documents have their own series, the rest (and one
 * named "_other") are summed under namespace="_other". Thread-safe. */
void kb_ns_metrics_render(kb_t *kb, size_t max_values, buf_t *b);

#endif
