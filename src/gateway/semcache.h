/*
 * semcache.h - the standalone semantic cache (RedisVL's SemanticCache
 * semantics) for calls that do not go through the gateway: named caches of
 * (prompt, response, metadata, filters) entries, looked up by the cosine
 * distance of the prompt's embedding. It shares the gateway's semantic index
 * (semantic.h): a cache is one partition per (owner, name), so entries are
 * on the same log, followed by every instance and replayed at start; the
 * entries themselves are store values beside the exact cache's, under
 *   semc:<partition>:<id>   (JSON, expiring with the entry's TTL)
 * where id is the first 32 hex digits of SHA-256(prompt, filters): storing
 * the same prompt with the same filters again updates the entry (RedisVL's
 * entry id). Filters of a check are post-filters over the nearest entries.
 */
#ifndef RAGD_GW_SEMCACHE_H
#define RAGD_GW_SEMCACHE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "embed/sched.h"
#include "gateway/semantic.h"
#include "kb/kb_filter.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct gw_semcache gw_semcache;

#define GW_SEMCACHE_ID_LEN 32
#define GW_SEMCACHE_MAX_RESULTS 100

/* Create over a borrowed semantic index and cache (both outlive it). Caller
 * owns *out (gw_semcache_destroy). */
int gw_semcache_create(gw_semantic *sem, cache_t *cache, gw_semcache **out);
void gw_semcache_destroy(gw_semcache *sc);

/* The vectors' dimension (a caller's vector must have it). */
size_t gw_semcache_dim(const gw_semcache *sc);

/* The partition of cache name for owner ("" = shared data): its 64 hex
 * digits into out. Pure. */
void gw_semcache_partition(const char *owner, const char *name, char out[65]);

/* An entry to store; everything borrowed for the call. */
typedef struct gw_semcache_entry {
    const char *prompt;       /* non-empty */
    const char *response;
    const float *vec;         /* dim floats, or NULL: the prompt is embedded */
    const cJSON *metadata;    /* any JSON value, or NULL */
    const cJSON *filters;     /* an object of filterable fields, or NULL */
    int64_t ttl_ms;           /* 0 = never expires */
} gw_semcache_entry;

/* Store e in the partition (embedding its prompt as work w when e->vec is
 * NULL) and announce it on the semantic log; id gets its id. An update keeps
 * the entry's inserted_at. Errors: the embedder's, RAGD_EUNAVAIL (store
 * down), RAGD_ENOTSUP (no embedding model and no vector). Thread-safe. */
int gw_semcache_store(gw_semcache *sc, const char *partition, const gw_semcache_entry *e,
                      const embed_work *w, char id[GW_SEMCACHE_ID_LEN + 1]);

/* A lookup; everything borrowed for the call. */
typedef struct gw_semcache_query {
    const char *prompt;       /* embedded when vec is NULL */
    const float *vec;         /* dim floats, or NULL */
    double distance_threshold;/* cosine distance (1 - similarity) of a hit, in [0, 2] */
    size_t num_results;       /* 1..GW_SEMCACHE_MAX_RESULTS */
    const kb_filter *filter;  /* over the entries' filters; NULL = all */
} gw_semcache_query;

/* The entries of the partition within the distance, nearest first, into
 * *hits (a JSON array the caller owns): {id, prompt, response,
 * vector_distance, metadata, filters, inserted_at, updated_at}. An entry
 * whose value is gone is forgotten. Counts a hit or a miss. Thread-safe. */
int gw_semcache_check(gw_semcache *sc, const char *partition, const gw_semcache_query *q,
                      const embed_work *w, cJSON **hits);

/* Drop the entry id of the partition. RAGD_ENOTFOUND if it is not there,
 * RAGD_EINVAL for an id that is not 32 hex digits. Thread-safe. */
int gw_semcache_drop(gw_semcache *sc, const char *partition, const char *id);

/* Drop every entry of the partition that f accepts (NULL = all: clear);
 * *n gets how many. Thread-safe. */
int gw_semcache_delete(gw_semcache *sc, const char *partition, const kb_filter *f, uint64_t *n);

/* Prometheus samples (ragd_semantic_cache_api_*) and the stats object's
 * counters (into o). Thread-safe. */
void gw_semcache_metrics(gw_semcache *sc, buf_t *b);
void gw_semcache_stats_json(gw_semcache *sc, cJSON *o);

#endif
