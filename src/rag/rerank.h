/*
 * rerank.h - ragd's re-ranking service: scores (query, passage) pairs with one
 * of three scorers, chosen once from configuration and never hidden from the
 * caller: a remote re-ranker in the Cohere/Jina/TEI /rerank shape, a local
 * BERT cross-encoder (the embedding engine's classification head), or, with
 * neither configured, the embedding model's cosine (named "cosine:<model>").
 * Scoring runs in batches in the candidates' input order and stops early when
 * the next batch would overrun a latency budget, so callers get the best
 * first-stage candidates re-scored and the rest left in their order.
 */
#ifndef RAGD_RERANK_H
#define RAGD_RERANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cache/embcache.h"
#include "embed/embed.h"
#include "embed/sched.h"
#include "util/err.h"

typedef struct rerank rerank_t;

typedef enum rerank_kind {
    RERANK_REMOTE = 0,        /* a /rerank HTTP provider */
    RERANK_CROSS_ENCODER = 1, /* local BERT with a classification head */
    RERANK_COSINE = 2,        /* fallback: embedding cosine similarity */
} rerank_kind;

typedef enum rerank_wire {
    RERANK_WIRE_COHERE = 0, /* {model, query, documents, top_n} -> {results:[{index,
                               relevance_score}]} (Cohere, Jina, Voyage, vLLM) */
    RERANK_WIRE_TEI = 1,    /* {query, texts} -> [{index, score}] (HF TEI) */
} rerank_wire;

typedef struct rerank_remote_opts {
    const char *url;     /* full endpoint URL; NULL or "" = no remote */
    const char *api_key; /* sent as "Authorization: Bearer"; may be NULL */
    const char *model;   /* model name sent to the provider; may be NULL */
    rerank_wire wire;
    int timeout_ms;      /* whole-call limit when the request has no budget */
} rerank_remote_opts;

typedef struct rerank_opts {
    const char *model_dir;       /* local cross-encoder directory; NULL/"" = none */
    embed_precision precision;   /* of the local cross-encoder */
    int threads;                 /* its compute threads (0 = CPUs) */
    rerank_remote_opts remote;   /* wins over model_dir when url is set */
    embcache_t *fallback;        /* cosine fallback, borrowed; may be NULL */
    embed_sched *sched;          /* the model scheduler the cross-encoder's passes go
                                    through as interactive work (borrowed, must
                                    outlive the service); NULL = run them directly */
    size_t batch;                /* pairs per forward pass (0 = 16) */
} rerank_opts;

/* Fill o with defaults: nothing configured (cosine fallback), FP32, batch 16,
 * remote timeout 10 s, Cohere wire shape. */
void rerank_default_opts(rerank_opts *o);

/* Build the service. A local model_dir must hold a cross-encoder (a model with
 * a classification head): RAGD_EFORMAT otherwise. *out is owned by the caller
 * (rerank_destroy); fallback must outlive it. Not thread-safe (start-up). */
int rerank_create(const rerank_opts *o, rerank_t **out, ragd_error *err);
void rerank_destroy(rerank_t *r); /* NULL is a no-op */

/* Fill ro from the config file's "reranker" section {url, api_key_env, model,
 * format: "cohere"|"jina"|"tei", timeout_ms} (NULL: nothing to do). The key is
 * read from the environment variable api_key_env names. ro's strings borrow
 * from sec and the environment. RAGD_EINVAL with err naming the bad field. */
int rerank_remote_opts_parse(const cJSON *sec, rerank_remote_opts *ro, ragd_error *err);

rerank_kind rerank_get_kind(const rerank_t *r);
const char *rerank_kind_name(rerank_kind k); /* "remote", "cross-encoder", "cosine" */

/* The name reported in responses' `model` field (borrowed for r's lifetime):
 * the cross-encoder directory's name, the remote model (or URL host), or
 * "cosine:<embedding model>" for the fallback. */
const char *rerank_model_name(const rerank_t *r);

/* False when nothing can score: the cosine fallback without an embedding model. */
bool rerank_ready(const rerank_t *r);

/* Limits of one scoring call. */
typedef struct rerank_params {
    size_t depth;   /* score at most this many leading candidates (0 = all) */
    int budget_ms;  /* stop before a batch that would end past it (0 = none);
                       the first batch always runs */
    const float *const *vecs; /* cosine fallback: the candidates' embeddings when
                                 known (vecs[i] may be NULL; NULL = none), so they
                                 are not embedded again; other scorers ignore it */
} rerank_params;

/* What one scoring call did. */
typedef struct rerank_outcome {
    size_t scored;      /* candidates [0, scored) have scores */
    bool by_budget;     /* stopped early by the latency budget */
    bool degraded;      /* the remote re-ranker failed: nothing was scored */
    char reason[240];   /* why degraded (no secrets) */
    size_t tokens;      /* word pieces the local model read (0 for remote) */
    int64_t elapsed_us;
} rerank_outcome;

/* Score query against docs[0..n) (UTF-8, lens in bytes) into scores (n
 * floats; entries at and past out->scored are set to NAN). A remote failure
 * is not an error: it returns 0 with out->degraded set. Errors: RAGD_EINVAL
 * (n == 0, NULL text), RAGD_EUNAVAIL (!rerank_ready), engine errors.
 * Thread-safe; local model work is serialised on the model's compute pool. */
int rerank_score(rerank_t *r, const char *query, size_t qlen, const char *const *docs,
                 const size_t *lens, size_t n, const rerank_params *p, float *scores,
                 rerank_outcome *out);

/* The result order: scored candidates by score (descending, ties by input
 * order) then the unscored ones in input order; scored candidates below
 * min_score are dropped (pass -INFINITY for none). order must hold n entries;
 * returns how many it filled. Thread-safe (pure). */
size_t rerank_order(const float *scores, size_t n, size_t scored, float min_score,
                    size_t *order);

#endif
