/*
 * fusion.h - merging a semantic and a keyword result list into one ranking:
 * weighted fusion (alpha * semantic + (1 - alpha) * keyword after each leg is
 * normalised to [0, 1], a document missing from a list gets 0 from it) or
 * Reciprocal Rank Fusion (Cormack, Clarke & Buettcher,
 * SIGIR 2009: sum of 1 / (k + rank), rank from 1). Each merged hit keeps both
 * legs' rank and score for `explain`.
 */
#ifndef RAGD_INDEX_FUSION_H
#define RAGD_INDEX_FUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fusion_method {
    FUSION_WEIGHTED = 0,
    FUSION_RRF = 1,
} fusion_method;

/* One leg's hit; a leg is given best first. Ids are the caller's (e.g.
 * namespace << 32 | chunk id); a repeated id within one leg keeps its first. */
/* How weighted fusion maps a leg's scores to [0, 1] (docs/BENCHMARKS.md has
 * the measurements behind the default):
 * - FUSION_NORM_MAX: each leg divided by its best score, so the best of a leg
 *   scores 1 and the others keep their ratio to it (a leg's last hit is not
 *   forced to 0, and a score means the same whatever else the leg returned).
 * - FUSION_NORM_RELATIVE: the semantic leg keeps its cosine (clamped to
 *   [0, 1]), the keyword leg is divided by its best: a query whose best cosine
 *   is 0.2 cannot reach a fused score near 1, for thresholds across queries.
 * - FUSION_NORM_MINMAX (default): (s - min) / (max - min) per leg, the seeds'
 *   algorithm (the last hit of a leg scores 0; all-equal scores normalise to
 *   1); the best ranking measured on both retrieval sets, but its scores do
 *   not carry a threshold across queries (use MAX or RELATIVE for that). */
typedef enum fusion_norm {
    FUSION_NORM_MAX = 0,
    FUSION_NORM_RELATIVE = 1,
    FUSION_NORM_MINMAX = 2,
} fusion_norm;

/* "max" | "relative" | "minmax" -> *out; false for anything else. */
bool fusion_norm_parse(const char *s, fusion_norm *out);
const char *fusion_norm_name(fusion_norm n);

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
    float norm_sem;      /* normalised leg scores (weighted only, fusion_norm) */
    float norm_kw;
} fusion_hit;

typedef struct fusion_opts {
    fusion_method method;
    float alpha;  /* weighted: semantic weight in [0, 1], default 0.5 */
    fusion_norm norm; /* weighted: leg normalisation, default minmax */
    float rrf_k;  /* RRF constant, default 60 */
} fusion_opts;

fusion_opts fusion_default_opts(void);

/* Merge sem[0..n_sem) and kw[0..n_kw) into out (room for cap), best first
 * (ties: lower id first); *n_out = min(cap, distinct ids). Returns 0 or
 * RAGD_EINVAL.
 * Pure function: thread-safe, no allocation kept. */
int fusion_merge(const fusion_in *sem, size_t n_sem, const fusion_in *kw, size_t n_kw,
                 const fusion_opts *opts, fusion_hit *out, size_t cap, size_t *n_out);

#endif
