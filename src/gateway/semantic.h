/*
 * semantic.h - the semantic cache: answers to prompts that mean the same.
 * Only requests that qualify use it (chat, temperature <= a maximum, no tools,
 * one choice, a last message from the user). The last user message is
 * embedded (through the embedding cache); everything else that shapes the
 * answer - model, parameters, system prompt, earlier turns, scope - is hashed
 * into a partition, so two conversations or two users never share an answer.
 * A hit is the nearest prompt of the partition with cosine similarity >= the
 * threshold that also passes a guard: numbers, negations and quoted strings
 * of the two prompts must agree. Entries point at exact-cache entries, which
 * hold the answers, and expire with them.
 *
 * Shared: with a store, each entry added or forgotten here is also a record
 * on the store log GW_SEMLOG (sem_log.h); gw_semantic_load replays that log
 * at start and gw_semantic_apply (a store_log_fn) applies the records other
 * instances append, so every instance's index follows the same entries.
 */
#ifndef RAGD_GW_SEMANTIC_H
#define RAGD_GW_SEMANTIC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "cache/embcache.h"
#include "gateway/sem_index.h"
#include "store/store.h"
#include "util/err.h"

typedef struct gw_semantic gw_semantic;

typedef struct gw_semantic_opts {
    size_t max_entries;     /* entries kept; when full the oldest (expired first) leave */
    size_t hnsw_threshold;  /* partition size from which HNSW serves it; 0 = default */
    store_t *store;         /* borrowed; NULL = in memory only, not shared */
    size_t dim;             /* vector dimension when emb is NULL (tests) */
} gw_semantic_opts;

/* emb (may be NULL: then gw_semantic_prepare refuses every call, and vectors
 * are the caller's) and o->store are borrowed and must outlive it. Does not
 * read the log: call gw_semantic_load. Caller owns *out. */
int gw_semantic_create(embcache_t *emb, const gw_semantic_opts *o, gw_semantic **out);
void gw_semantic_destroy(gw_semantic *s);

/* A qualifying call, ready to look up and insert. */
typedef struct gw_sem_query {
    char partition[65];
    char *prompt;      /* the last user message, owned */
    float *vec;        /* its embedding, owned */
} gw_sem_query;

void gw_sem_query_free(gw_sem_query *q);

/* Does the call qualify (see above)? Pure: no embedding. */
bool gw_semantic_qualifies(const cJSON *body, int endpoint, double max_temperature);

/* Fill q for a qualifying call: partition and embedding, computed as work of
 * w's class (embed/sched.h: a live call is interactive, a warm-up bulk; NULL =
 * interactive). RAGD_EINVAL if it does not qualify, else the embedder's error.
 * Thread-safe. */
int gw_semantic_prepare(gw_semantic *s, const cJSON *body, int endpoint, const char *scope,
                        double max_temperature, const embed_work *w, gw_sem_query *q);

/* The nearest prompt in q's partition with similarity >= threshold that
 * passes the guard: its exact-cache key into skey and its similarity into
 * *sim. RAGD_ENOTFOUND if none. Thread-safe. */
int gw_semantic_lookup(gw_semantic *s, const gw_sem_query *q, double threshold, char *skey,
                       size_t n, float *sim);

/* Up to k entries of partition nearest to vec with similarity >= threshold,
 * best first, without the guard (gw_semidx_search: *more set when entries
 * beyond k may be within the threshold too; the caller frees each
 * hits[i].skey). The standalone semantic cache's lookup. Thread-safe. */
int gw_semantic_search(gw_semantic *s, const char *partition, const float *vec, double threshold,
                       size_t k, gw_semidx_hit *hits, size_t *n, bool *more);

/* The vectors' dimension. */
size_t gw_semantic_dim(const gw_semantic *s);

/* The embedding cache it embeds prompts through (NULL in tests). */
embcache_t *gw_semantic_embedder(const gw_semantic *s);

/* Index q's prompt as answered by the exact entry skey, which expires in
 * ttl_ms (0 = never), and announce it on the log. Thread-safe. */
void gw_semantic_insert(gw_semantic *s, const gw_sem_query *q, const char *skey, int64_t ttl_ms);

/* Drop an entry whose exact entry is gone, and announce it. Thread-safe. */
void gw_semantic_forget(gw_semantic *s, const char *partition, const char *skey);

/* Apply one log record (a store_log_fn; ud is the gw_semantic): add or drop
 * the entry it names; an expired entry, a record that does not decode or
 * vectors of another dimension are skipped (counted). Always returns 0.
 * Records seq as applied. Thread-safe. */
int gw_semantic_apply(void *ud, uint64_t seq, const void *rec, size_t len);

/* Empty the index and replay the whole log; *last_seq (may be NULL) gets the
 * last record's seq, from which a follower goes on. Without a store: empties
 * the index. Thread-safe. */
int gw_semantic_load(gw_semantic *s, uint64_t *last_seq);

/* Apply the log's records after the last applied one. Thread-safe. */
int gw_semantic_catch_up(gw_semantic *s);

typedef struct gw_semantic_stats {
    uint64_t entries, partitions, hnsw_partitions, max_entries;
    uint64_t evictions;        /* left for room, oldest first */
    uint64_t expired;          /* expired entries dropped to make room */
    uint64_t applied_seq;      /* last log record applied */
    uint64_t applied;          /* log records applied since start */
    uint64_t bad_records;      /* log records that did not decode */
    uint64_t announce_errors;  /* entries the log did not take (store down) */
} gw_semantic_stats;

void gw_semantic_get_stats(gw_semantic *s, gw_semantic_stats *out);

/* The guard: true when numbers, negations and quoted strings agree. */
bool gw_semantic_guard(const char *a, const char *b);

/* Prompts indexed now. */
size_t gw_semantic_count(gw_semantic *s);

#endif
