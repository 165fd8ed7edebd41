/*
 * cache.h - the cache core over the store: values encoded by codec.h
 * (content type, zstd), TTL per prefix (defaults by content type, changeable at
 * run time and persisted), per-prefix statistics, and clearing by prefix, glob
 * pattern or all. The generic cache API, the embedding cache and the gateway
 * all store through it, so compression, stats and store-outage handling are
 * written once.
 *
 * Store key layout (readable in `redis-cli --scan`, under the global prefix):
 *   cache:<prefix>:<key>   generic cache entries
 *   emb:<model>:<hash>     embedding cache (stats prefix "emb")
 *   llm:<model>:<hash>     gateway responses (stats prefix "llm")
 *   semc:<partition>:<id>  the semantic-cache API's entries (gateway/semcache.h;
 *                          stats prefix "semcache")
 *   cfg:{cfg}:cache_ttl:<prefix> persisted TTL overrides (older versions:
 *                          cfg:cache_ttl:<prefix>, still read)
 *
 * Settings propagate: each TTL override is written with a record on the
 * store log CACHE_SETTINGS_LOG in one atomic step (the keys and the log share
 * the hash tag {cfg}); every instance's follower applies the records
 * (cache_settings_apply), so an override set on one instance holds on all.
 */
#ifndef RAGD_CACHE_H
#define RAGD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/stats.h"
#include "store/store.h"
#include "util/err.h"

typedef struct cache cache_t;

typedef struct cache_opts {
    int64_t default_ttl_s;
    int64_t embedding_ttl_s;
    int64_t response_ttl_s;
    size_t compress_threshold;
    size_t max_key_bytes;
    int max_prefixes;   /* prefixes with their own statistics (0 = the most) */
} cache_opts;

/* Create over a borrowed store (must outlive the cache); loads the persisted
 * TTL overrides (a store outage at start is not an error). Caller owns *out. */
int cache_create(store_t *store, const cache_opts *opts, cache_t **out, ragd_error *err);
void cache_destroy(cache_t *c);

/* Borrowed; valid for the cache's life. */
cache_stats_t *cache_stats(cache_t *c);
store_t *cache_store(cache_t *c);
const cache_opts *cache_options(const cache_t *c);

/* true if prefix is 1-64 chars of [A-Za-z0-9_.-]. */
bool cache_prefix_valid(const char *prefix);

/* The longest key the generic cache takes under prefix for a caller whose
 * user namespace ("u:<user>:" or "") is ns_len bytes: max_key_bytes, lowered
 * so that the store key "cache:<prefix>:<namespace><key>" fits STORE_KEY_MAX. */
size_t cache_key_limit(const cache_t *c, const char *prefix, size_t ns_len);

/* Check a key: non-empty, at most cache_key_limit(c, prefix, ns_len) bytes
 * (RAGD_ETOOBIG, the message names that limit), valid UTF-8, no control
 * characters (RAGD_EINVAL). A key that passes is always accepted by the store. */
int cache_key_check(const cache_t *c, const char *prefix, size_t ns_len, const char *key, size_t n,
                    ragd_error *err);

/* TTL in seconds for a prefix (0 = no expiry) and where it came from
 * ("override", "embedding", "response", "default"). Thread-safe. */
int64_t cache_prefix_ttl(cache_t *c, const char *prefix, const char **source);

/* Set and persist a prefix's TTL override. */
int cache_set_prefix_ttl(cache_t *c, const char *prefix, int64_t ttl_s);

/* The settings log (docs/ARCHITECTURE.md "Replication"); records are JSON
 * {"op":"cache_ttl","prefix":...,"ttl":seconds}. */
#define CACHE_SETTINGS_LOG "cfg:{cfg}"

/* Apply one settings record (a store_log_fn; ud is the cache_t): records it
 * does not know are skipped. Always returns 0. Thread-safe. */
int cache_settings_apply(void *ud, uint64_t seq, const void *rec, size_t len);

/* Read the persisted overrides again (after records were lost to the log's
 * trimming, or a store outage at start); *last_seq (may be NULL) gets the
 * settings log's last seq, read before the keys, from which a follower goes
 * on. Thread-safe. */
int cache_settings_reload(cache_t *c, uint64_t *last_seq);

/* The settings log's last seq as of the last successful load (at create). */
uint64_t cache_settings_seq(const cache_t *c);

/* Settings records applied since start. Thread-safe. */
uint64_t cache_settings_applied(cache_t *c);

/* List overrides: calls fn for each (prefix, ttl_s). */
void cache_each_ttl_override(cache_t *c, void (*fn)(void *ud, const char *prefix, int64_t ttl),
                             void *ud);

/* A decoded entry; release with cache_entry_free(). */
typedef struct cache_entry {
    char *data;              /* NUL-terminated payload, owned */
    size_t len;
    char content_type[128];
    int64_t created_ms;
    int64_t ttl_ms;          /* remaining, -1 = no expiry */
    bool compressed;
} cache_entry;

void cache_entry_free(cache_entry *e);

/* Low-level get/put by full store key, counting under stats_prefix. A value
 * that does not decode is a miss (and is deleted). Misses return
 * RAGD_ENOTFOUND; a store outage returns RAGD_EUNAVAIL and counts a miss. */
int cache_get_raw(cache_t *c, const char *skey, size_t sklen, const char *stats_prefix,
                  cache_entry *out);
/* ttl_ms 0 = no expiry. Entries are evictable under the store's budget. On a
 * store outage returns RAGD_EUNAVAIL and counts a skipped write. */
int cache_put_raw(cache_t *c, const char *skey, size_t sklen, const char *stats_prefix,
                  const void *data, size_t len, const char *content_type, int64_t ttl_ms);

/* Generic cache API: key "cache:<prefix>:<key>". ttl_s < 0 = prefix default.
 * cache_get reads with store_get_stale (redis_read_replicas: maybe a replica). */
int cache_get(cache_t *c, const char *prefix, const char *key, size_t klen, cache_entry *out);
int cache_put(cache_t *c, const char *prefix, const char *key, size_t klen, const void *data,
              size_t len, const char *content_type, int64_t ttl_s);
int cache_del(cache_t *c, const char *prefix, const char *key, size_t klen);

/* Clear one prefix ("emb" and "llm" name the internal caches), a glob over
 * "<prefix>:<key>" names, or every cache entry (not documents, sessions or
 * settings). *n gets the number of keys removed. */
int cache_clear_prefix(cache_t *c, const char *prefix, uint64_t *n);
int cache_clear_pattern(cache_t *c, const char *pattern, uint64_t *n);
int cache_clear_all(cache_t *c, uint64_t *n);

/* Count live keys per prefix: fn(ud, prefix, count) once per prefix. */
int cache_count_keys(cache_t *c, void (*fn)(void *ud, const char *prefix, uint64_t n),
                     void *ud);
/* The same over generic entries only, and with under (non-NULL) only those
 * whose key starts with it (a user's namespace "u:<user>:", or "u:<tenant>/"
 * for a tenant's users): a per-user view. */
int cache_count_keys_under(cache_t *c, const char *under,
                           void (*fn)(void *ud, const char *prefix, uint64_t n), void *ud);

#endif
