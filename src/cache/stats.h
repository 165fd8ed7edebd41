/*
 * stats.h - cache statistics per prefix (hits, misses, writes, raw and stored
 * bytes), counted since start and shared by the generic cache, the embedding
 * cache and the gateway. Prefixes beyond the configured bound are counted
 * under "_other" so memory and metric cardinality stay bounded whatever
 * clients send.
 */
#ifndef RAGD_CACHE_STATS_H
#define RAGD_CACHE_STATS_H

#include <stdint.h>

typedef struct cache_stats cache_stats_t;

/* One prefix's counters. Inside the table each field is only touched
 * atomically (relaxed adds and loads); callers get snapshots. */
typedef struct cache_prefix_stats {
    char prefix[72];
    uint64_t hits, misses, writes, skipped_writes;
    uint64_t raw_bytes, stored_bytes;   /* of writes: before and after compression */
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

#endif
