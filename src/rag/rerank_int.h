/*
 * rerank_int.h - the re-ranking service's guts shared by rerank.c (service,
 * local and cosine scorers, ordering) and rerank_remote.c (the HTTP client of
 * /rerank providers).
 */
#ifndef RAGD_RERANK_INT_H
#define RAGD_RERANK_INT_H

#include <stdatomic.h>

#include "rag/rerank.h"

struct rerank {
    rerank_kind kind;
    char *name;                  /* reported model name */
    embed_model *ce;             /* RERANK_CROSS_ENCODER */
    embcache_t *fallback;        /* RERANK_COSINE (borrowed) */
    embed_sched *sched;          /* RERANK_CROSS_ENCODER passes go through it (borrowed) */
    size_t batch;
    /* remote */
    char *url, *api_key, *model;
    rerank_wire wire;
    int timeout_ms;
    /* learned cost of one pair in microseconds (EWMA), 0 until measured;
       plans the first batch under a budget */
    _Atomic int64_t pair_us;
};

/* libcurl's process-wide set-up and tear-down (reference-counted by curl;
 * called from rerank_create/rerank_destroy of a remote, at start-up). */
void rerank__remote_global(bool up);

/* Remote scoring of docs[0..n) within timeout_ms. On any failure (transport,
 * status, malformed answer) returns 0 with out->degraded and out->reason set
 * and scores untouched. Thread-safe (one curl handle per call). */
int rerank__remote_score(rerank_t *r, const char *query, size_t qlen, const char *const *docs,
                         const size_t *lens, size_t n, int timeout_ms, float *scores,
                         rerank_outcome *out);

/* Parse a provider's answer (Cohere/Jina {results:[{index, relevance_score}]}
 * or TEI [{index, score}]) into scores[0..n). Every index must be in range and
 * every candidate scored. RAGD_EFORMAT with reason (size cap) otherwise. */
int rerank__remote_parse(const char *body, size_t len, size_t n, float *scores, char *reason,
                         size_t cap);

#endif
