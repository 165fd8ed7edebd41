/*
 * stats.h - cache statistics per prefix (hits, misses, writes, raw and stored
 * bytes), counted since start and shared by the generic cache, the embedding
 * cache and the gateway. Prefixes beyond the configured bound are counted
 * under "_other" so memory and metric cardinality stay bounded whatever
 * clients send.
 */
#ifndef RAGD_CACHE_STATS_H
#define RAGD_CACHE_STATS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cache_stats cache_stats_t;

/* One prefix's counters. Inside the table each field is only touched
 * atomically (relaxed adds and loads); callers get snapshots. */
typedef struct cache_prefix_stats {
    char prefix[72];
    uint64_t hits, misses, writes, skipped_writes;
    uint64_t raw_bytes, stored_bytes;   /* of writes: payload bytes before and after
                                           compression (the entry header not counted) */
} cache_prefix_stats;

/* At most max_prefixes distinct client prefixes get their own counters (0 or
 * more than the table holds: 765); the internal "emb" and "llm" always do.
 * Caller owns the result: cache_stats_destroy(). */
cache_stats_t *cache_stats_create(int max_prefixes);
void cache_stats_destroy(cache_stats_t *st);

/* Counters; thread-safe, lock-free after a prefix's first use. */
void cache_stats_hit(cache_stats_t *st, const char *prefix);
void cache_stats_miss(cache_stats_t *st, const char *prefix);
void cache_stats_write(cache_stats_t *st, const char *prefix, uint64_t raw, uint64_t stored);
void cache_stats_skipped_write(cache_stats_t *st, const char *prefix);

/* Snapshot of every prefix into a malloc'd array (caller frees); *n gets the
 * count. Thread-safe. */
cache_prefix_stats *cache_stats_snapshot(cache_stats_t *st, int *n);

/* The classes the dashboard and the efficiency rating group prefixes into:
 * LLM responses (the gateway's "llm"), embeddings ("emb"), and every client
 * prefix of the generic cache. */
typedef enum cache_class { CACHE_CLASS_LLM, CACHE_CLASS_EMB, CACHE_CLASS_GENERIC,
                           CACHE_CLASS_N } cache_class;
cache_class cache_stats_class(const char *prefix);
extern const char *const cache_class_names[CACHE_CLASS_N]; /* "llm", "embeddings", "generic" */

/* Lookups a rating needs before it says more than "insufficient data". */
#define CACHE_STATS_MIN_LOOKUPS 100

/* Is a prefix being filled for the first time? Its misses are compulsory
 * (nothing to hit yet) rather than a sign of a bad TTL: fewer hits than
 * writes, and nearly every write (>= 90%) still present as a live key, so
 * entries are new rather than re-fetched after expiry. keys < 0: unknown
 * (never filling). */
bool cache_stats_filling(const cache_prefix_stats *p, int64_t keys);

/* The efficiency rating: over LLM responses when they have at least
 * CACHE_STATS_MIN_LOOKUPS lookups, else over every prefix not being filled.
 * keys[i] is ps[i]'s live key count or -1 (NULL: all unknown). */
typedef struct cache_efficiency {
    const char *rating;  /* static: excellent (>= 80%), good (>= 60%), needs improvement,
                            insufficient data (fewer lookups than the minimum), no data */
    const char *basis;   /* static: "llm" or "all" */
    uint64_t hits, lookups;
    double hit_rate;     /* hits / lookups over the basis, 0 without lookups */
} cache_efficiency;
void cache_stats_efficiency(const cache_prefix_stats *ps, const int64_t *keys, int n,
                            cache_efficiency *out);

#endif
