/*
 * fusion.h - merging a semantic and a keyword result list into one ranking:
 * weighted fusion (min-max normalise each list, then alpha * semantic +
 * (1 - alpha) * keyword, a document missing from a list gets 0 from it) or
 * Reciprocal Rank Fusion (Cormack, Clarke & Buettcher, SIGIR 2009: sum of
 * 1 / (k + rank), rank from 1). Each merged hit keeps both legs' rank and
 * score for `explain`.
 */
#ifndef RAGD_INDEX_FUSION_H
#define RAGD_INDEX_FUSION_H

#include <stddef.h>
#include <stdint.h>

typedef enum fusion_method {
    FUSION_WEIGHTED = 0,
    FUSION_RRF = 1,
} fusion_method;

/* One leg's hit; a leg is given best first. Ids are the caller's (e.g.
 * namespace << 32 | chunk id); a repeated id within one leg keeps its first. */
typedef struct fusion_in {
    uint64_t id;
    float score;
} fusion_in;

typedef struct fusion_hit {
    uint64_t id;
    float score;         /* fused score, higher is better */
    uint32_t rank_sem;   /* 1-based rank in the semantic list, 0 if absent */
    uint32_t rank_kw;    /* 1-based rank in the keyword list, 0 if absent */
    float score_sem;     /* raw leg scores (0 if absent) */
    float score_kw;
    float norm_sem;      /* min-max normalised leg scores (weighted only) */
    float norm_kw;
} fusion_hit;

typedef struct fusion_opts {
    fusion_method method;
    float alpha;  /* weighted: semantic weight in [0, 1], default 0.5 */
    float rrf_k;  /* RRF constant, default 60 */
} fusion_opts;

fusion_opts fusion_default_opts(void);

/* Merge sem[0..n_sem) and kw[0..n_kw) into out (room for cap), best first
 * (ties: lower id first); *n_out = min(cap, distinct ids). A list whose
 * scores are all equal normalises to 1. Returns 0 or RAGD_EINVAL.
 * Pure function: thread-safe, no allocation kept. */
int fusion_merge(const fusion_in *sem, size_t n_sem, const fusion_in *kw, size_t n_kw,
                 const fusion_opts *opts, fusion_hit *out, size_t cap, size_t *n_out);

#endif
