/*
 * rag.h - the RAG query pipeline: query embedding (through the embedding
 * cache) -> first-stage search per namespace with the caller's filter ->
 * merge -> re-rank the top M -> MMR near-duplicate removal -> pack under an
 * item count and a token budget, timing every stage. The knowledge bases are
 * reached through a search callback, so the pipeline does not depend on how
 * they store or index chunks.
 */
#ifndef RAGD_RAG_H
#define RAGD_RAG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/embcache.h"
#include "embed/wordpiece.h"
#include "rag/pack.h"
#include "rag/rerank.h"
#include "util/arena.h"
#include "util/err.h"

/* One first-stage hit. Filled by the search callback with malloc'd members;
 * the pipeline owns and frees them (rag_hits_free). */
typedef struct rag_hit {
    char *ns, *doc_id;
    size_t start, end;  /* byte span of text in the document */
    int64_t seq;        /* chunk number in the document, -1 if unknown */
    char *text;
    size_t len;
    float score;        /* first-stage (fused) score, higher is better */
    float *vec;         /* the chunk's embedding (dim floats) or NULL */
    cJSON *metadata;    /* document metadata or NULL */
    cJSON *dups;        /* [{namespace, document_id, chunk_index}] of chunks with the
                           same text, collapsed into this hit; NULL if none */
} rag_hit;

void rag_hits_free(rag_hit *h, size_t n);

/* The first-stage search as the pipeline asks it: every namespace at once
 * (the search merges and fuses across them). */
typedef struct rag_search_req {
    const char *const *namespaces;
    size_t nns;
    const char *query;
    const float *qvec;      /* query embedding, dim floats; NULL without a model */
    size_t dim;
    const cJSON *filter;    /* metadata filter or NULL */
    const char *user_id;    /* tenant filter or NULL */
    const char *strategy;   /* "hybrid", "semantic" or "keyword" */
    size_t limit;           /* hits wanted over all namespaces */
} rag_search_req;

/* Search callback: *hits (malloc'd array, best first, may be NULL when *n ==
 * 0) goes to the caller. Errors: RAGD_ENOTFOUND for an unknown namespace (err
 * names it), others as they come. Called from the request's thread. */
typedef int (*rag_search_fn)(void *ud, const rag_search_req *q, rag_hit **hits, size_t *n,
                             ragd_error *err);

/* The search callback over ragd's knowledge bases (kb/search.h): ud is the
 * kb_t. Hybrid/semantic searches use the given query vector; hits carry
 * their stored chunk vectors for MMR. */
int rag_kb_search(void *kb, const rag_search_req *q, rag_hit **hits, size_t *n, ragd_error *err);

/* The first stage over knowledge bases plus a user's own items: namespaces
 * other than user_ns are searched as rag_kb_search does; user_ns (when it is
 * among the request's namespaces and exists) only for items of the given
 * content types (kb/user_content.h, lenient plural match; ntypes 0 = every
 * type). Both hit lists are merged by score. */
typedef struct rag_scope {
    void *kb;                       /* kb_t, borrowed */
    const char *user_ns;            /* the user-content namespace */
    const char *const *types;       /* borrowed */
    size_t ntypes;
} rag_scope;

/* Search callback with ud = rag_scope. Thread-safe like rag_kb_search. */
int rag_scope_search(void *scope, const rag_search_req *q, rag_hit **hits, size_t *n,
                     ragd_error *err);

/* What the pipeline runs on (all borrowed). */
typedef struct rag_deps {
    embcache_t *emb;        /* query (and, without hit vectors, chunk) embeddings;
                               NULL: no model - keyword search, no MMR */
    rerank_t *rerank;       /* may be NULL: no re-ranking */
    const wordpiece *wp;    /* token counting for the budget */
    rag_search_fn search;
    void *search_ud;
    arena *scratch;         /* the request's arena for the stages' working arrays;
                               NULL: rag_query uses (and frees) its own */
} rag_deps;

typedef struct rag_request {
    const char *query;
    const char *user_id;
    const char *const *namespaces;
    size_t nns;
    const cJSON *filter;
    const char *strategy;   /* NULL = "hybrid" */
    size_t max_items;       /* context entries (0 = 5) */
    size_t max_tokens;      /* word pieces over all entries (0 = no limit) */
    size_t candidates;      /* first-stage hits (0 = max(4 x max_items, depth)) */
    bool rerank;
    rerank_params rr;       /* depth (top M) and budget */
    float min_score;        /* re-rank score cut-off (-INFINITY = none) */
    bool mmr;
    double lambda;          /* MMR relevance weight in [0, 1] */
    double dup_threshold;   /* cosine at which a chunk is a near-duplicate */
} rag_request;

/* Defaults: hybrid, 5 items, no token limit, re-rank (depth 30, 100 ms),
 * MMR with lambda 0.7 and near-duplicates at cosine >= 0.95. */
void rag_default_request(rag_request *r);

typedef struct rag_timings {
    int64_t embed_us, search_us, rerank_us, mmr_us, pack_us, total_us;
} rag_timings;

typedef struct rag_result {
    pack_result pack;       /* the context (borrows ns/doc_id from hits) */
    rag_hit *hits;          /* merged first-stage hits (owned) */
    size_t nhits;
    size_t *entry_hit;      /* per pack entry: index in hits of its best chunk */
    rag_timings t;
    bool query_cached;      /* the query embedding came from the cache */
    bool reranked;          /* a re-ranker scored candidates */
    rerank_outcome rr;
    size_t mmr_dropped;     /* near-duplicates removed */
    char strategy[96];      /* e.g. "hybrid+rerank+mmr" */
} rag_result;

/* Run the pipeline. out is owned by the caller (rag_result_free), also on
 * error. Errors: RAGD_EINVAL (no query or namespace), the search callback's
 * (RAGD_ENOTFOUND for an unknown namespace, with err), embedding errors.
 * A degraded re-ranker is not an error (out->rr.degraded). Thread-safe when
 * the dependencies are. */
int rag_query(const rag_deps *d, const rag_request *q, rag_result *out, ragd_error *err);
void rag_result_free(rag_result *r);

/* Maximal Marginal Relevance (Carbonell & Goldstein, SIGIR 1998): choose up
 * to k of n items, each time the one maximising lambda * rel[i] - (1 -
 * lambda) * max cosine to those chosen; items whose cosine to a chosen one
 * reaches dup are dropped as near-duplicates (counted in *ndup). vecs: n x
 * dim; rel in [0, 1]. out gets the chosen indices in order; returns how many.
 * Thread-safe (pure). */
size_t rag_mmr_select(const float *vecs, size_t dim, const float *rel, size_t n, double lambda,
                      double dup, size_t k, size_t *out, size_t *ndup);

#endif
