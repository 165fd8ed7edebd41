/*
 * embcache.h - the embedding cache: a batch of texts is looked up text by
 * text under emb:<model>:<sha256(text)>, only the misses are computed (in one
 * batch), written back with CACHE_EMBEDDING_TTL, and the vectors are returned
 * in input order. A store outage makes every text a miss and skips the writes.
 */
#ifndef RAGD_EMBCACHE_H
#define RAGD_EMBCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/cache.h"
#include "embed/sched.h"
#include "util/err.h"

/* How vectors are computed on a miss: n texts into out (n * dim floats), with
 * the token count (incl. specials) and truncation flag of each, as work of
 * w's class and tenant (never NULL; a remote compute may ignore it).
 * Thread-safe. */
typedef int (*embcache_compute_fn)(void *ud, const embed_work *w, const char *const *texts,
                                   const size_t *lens, size_t n, float *out, int *ntokens,
                                   bool *truncated);

typedef struct embcache embcache_t;

/* model_key names the model in keys (e.g. "all-MiniLM-L6-v2"); the cache and
 * compute context are borrowed and must outlive the embcache. Caller owns *out. */
int embcache_create(cache_t *cache, const char *model_key, size_t dim, int64_t ttl_s,
                    embcache_compute_fn compute, void *compute_ud, embcache_t **out);
void embcache_destroy(embcache_t *ec);

/* Per-text outcome of one call; arrays of n entries owned by the caller. */
typedef struct embcache_info {
    int *ntokens;       /* may be NULL */
    bool *truncated;    /* may be NULL */
    bool *cached;       /* may be NULL: true where the vector came from the cache */
    size_t hits, misses;
} embcache_info;

/* Embed n texts into out (n * dim floats, input order) as interactive work
 * (a query, a lookup, a small embedding call). Thread-safe. */
int embcache_embed(embcache_t *ec, const char *const *texts, const size_t *lens, size_t n,
                   float *out, embcache_info *info);

/* embcache_embed with the misses computed as work of w's class and tenant
 * (embed/sched.h): document ingestion, warm-up and large embedding calls pass
 * EMBED_BULK so queries are served first. w NULL = interactive. */
int embcache_embed_as(embcache_t *ec, const embed_work *w, const char *const *texts,
                      const size_t *lens, size_t n, float *out, embcache_info *info);

size_t embcache_dim(const embcache_t *ec);
const char *embcache_model(const embcache_t *ec);

#endif
