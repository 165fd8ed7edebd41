/*
 * store.h - ragd's one storage interface (docs/STORE.md).
 *
 * Two backends sit behind a table of function pointers (store_int.h), chosen at
 * open time from the URL: store_lmdb (embedded, durable, default) and
 * store_redis (hiredis, shared by many ragd instances). Both behave the same and
 * one test suite runs on both. Keys are byte strings given without the global
 * prefix; the store prepends "<prefix>:" so ragd can share a Redis with others.
 * Values are opaque bytes (compression and content types live in cache/).
 *
 * Every function is thread-safe and returns 0 or a negative RAGD_E* code.
 * When a backend is unreachable, calls return RAGD_EUNAVAIL quickly.
 */
#ifndef RAGD_STORE_H
#define RAGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct store store_t;

enum store_fsync { STORE_FSYNC_ALWAYS, STORE_FSYNC_EVERYSEC, STORE_FSYNC_NO };

typedef struct store_config {
    const char *url;          /* NULL/"" = LMDB in data_dir; "redis://", "rediss://",
                                 "redis+sentinel://", "rediss+sentinel://" */
    const char *data_dir;     /* LMDB directory (created if missing) */
    const char *key_prefix;   /* global prefix, e.g. "ragd" (no trailing ':') */
    uint64_t max_bytes;       /* LMDB size budget for evictable entries; 0 = map size */
    uint64_t map_size;        /* LMDB map size (virtual), default 8 GiB */
    uint64_t map_max;         /* LMDB: the map doubles when it fills, up to this;
                                 0 or <= map_size = never grows */
    int fsync_policy;         /* enum store_fsync, LMDB only */
    int pool_size;            /* Redis connections, default 8 */
    int connect_timeout_ms;   /* Redis, default 1000 */
    int command_timeout_ms;   /* Redis, default 1000 */
    int sweep_interval_ms;    /* active expiry sweep period, default 1000; <0 disables */
    const char *tls_ca_file;  /* rediss:// CA bundle; NULL = system default */
    bool tls_insecure;        /* rediss:// skip certificate verification (tests only) */
    const char *tls_cert_file; /* rediss:// client certificate (PEM chain) for servers
                                  with tls-auth-clients yes; NULL = none */
    const char *tls_key_file;  /* its private key (PEM); NULL = in tls_cert_file */
    const char *sentinel_user;     /* redis+sentinel://: AUTH for the sentinels (the URL's */
    const char *sentinel_password; /* credentials are the data nodes'); NULL = none */
    int wait_replicas;        /* Redis: each write waits for this many replicas (WAIT) */
    int wait_timeout_ms;      /* ... for at most this long, then RAGD_EUNAVAIL; default 1000 */
    bool read_replicas;       /* Redis Cluster or Sentinel: store_get_stale may read a replica */
    uint64_t log_keep;        /* records each log keeps (store_log_append); 0 = default
                                 STORE_LOG_KEEP */
} store_config;

/* Limits shared by both backends (LMDB keys are at most 511 bytes with their
 * index overhead): a key or log name longer than STORE_KEY_MAX, or a global
 * prefix longer than STORE_PREFIX_MAX, is refused with RAGD_ETOOBIG / RAGD_EINVAL.
 * Empty keys are RAGD_EINVAL. */
#define STORE_KEY_MAX 448
#define STORE_PREFIX_MAX 32

/* Size of a buffer that holds any key store_* accepts, with its NUL: callers
 * building keys use it rather than a size of their own. */
#define STORE_KEY_BUF (STORE_KEY_MAX + 1)

/* Defaults for every field (url NULL = LMDB). */
void store_config_default(store_config *cfg);

/* Flags for store_set / store_cas. */
#define STORE_EVICTABLE 0x1u   /* a cache entry: may be evicted under the size budget */
#define STORE_NX        0x2u   /* only if the key does not exist (RAGD_EEXISTS otherwise) */

/* An owned value returned by store_get; release with store_value_free(). */
typedef struct store_value {
    void *data;
    size_t len;
    int64_t expire_at_ms;  /* 0 = no expiry */
} store_value;

void store_value_free(store_value *v);

/* Open a store. On success *out is owned by the caller: store_close() it.
 * err gets a message naming the problem (bad URL, unreachable data dir, ...).
 * A Redis store opens even when Redis is down (it reconnects by itself). */
int store_open(const store_config *cfg, store_t **out, ragd_error *err);
void store_close(store_t *s);

/* "lmdb" or "redis" (for logs and statistics; ask store_has for behaviour). */
const char *store_backend_name(const store_t *s);

/* Capabilities of a backend, for store_has. */
#define STORE_CAP_SHARED 0x1u  /* one store serves many ragd instances (Redis): a key
                                  written by one instance is seen by the others */

/* true if the backend has every capability in caps (STORE_CAP_* bits). */
bool store_has(const store_t *s, unsigned caps);

/* 0 when the backend answers, RAGD_EUNAVAIL otherwise; LMDB: RAGD_EFULL while
 * the store is full (store_stats.full). */
int store_ping(store_t *s);

/* store_ping with a one-line reason in reason[n]. Not 0: the reason it is
 * down. 0 with a non-empty reason: serving, but degraded (Redis Cluster: some
 * slots without a master, or a master unreachable or in cluster_state:fail,
 * while other masters answer). Thread-safe; several round trips on a cluster
 * (for /health, not per request). */
int store_health(store_t *s, char *reason, size_t n);

/* Get a live value. RAGD_ENOTFOUND if missing or expired. On success the
 * caller owns out->data (store_value_free). Counts an access for LRU. */
int store_get(store_t *s, const char *key, size_t klen, store_value *out);

/* store_get for a reader that accepts a stale answer (the generic cache): with
 * redis_read_replicas on Redis Cluster or Sentinel it may be answered by a
 * replica (of the key's slot), so a value written moments ago may still be
 * missing or old there (Redis replication is asynchronous); elsewhere exactly
 * store_get. */
int store_get_stale(store_t *s, const char *key, size_t klen, store_value *out);

/* Get n keys at once (Redis: one pipelined round trip of GETs; LMDB: one
 * after the other). rcs[i] gets each key's result (0, RAGD_ENOTFOUND, ...)
 * and out[i] its value when 0 (caller frees each with store_value_free;
 * expire_at_ms is not read: 0). Returns 0 when the call as a whole worked,
 * else its error (nothing to free). */
int store_get_many(store_t *s, const char *const *keys, const size_t *klens, size_t n,
                   store_value *out, int *rcs);

/* Does a live key exist? 0 yes, RAGD_ENOTFOUND no. */
int store_exists(store_t *s, const char *key, size_t klen);

/* Set key to val with ttl_ms (0 = no expiry). flags: STORE_EVICTABLE, STORE_NX.
 * Returns once the write is durable per the fsync policy. */
int store_set(store_t *s, const char *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms, unsigned flags);

/* Delete a key. RAGD_ENOTFOUND if it did not exist. */
int store_del(store_t *s, const char *key, size_t klen);

/* Remaining TTL in ms into *ttl_ms (-1 = no expiry). RAGD_ENOTFOUND if missing. */
int store_ttl(store_t *s, const char *key, size_t klen, int64_t *ttl_ms);

/* Set a new TTL on an existing key (0 = persist). RAGD_ENOTFOUND if missing. */
int store_expire(store_t *s, const char *key, size_t klen, int64_t ttl_ms);

/* Atomically add delta to the integer at key (missing = 0) and store the sum in
 * *out. A newly created counter gets ttl_ms (0 = none); an existing one keeps its
 * TTL. RAGD_EINVAL if the value is not an integer. */
int store_incr(store_t *s, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
               int64_t *out);

/* Compare-and-set: if the current value equals expect (expect == NULL: key must
 * be missing), write val with ttl_ms (val == NULL: delete) and return 0;
 * otherwise RAGD_ECONFLICT and nothing changes. The basis of atomic
 * read-modify-write (rate limits) on both backends. */
int store_cas(store_t *s, const char *key, size_t klen, const void *expect, size_t elen,
              const void *val, size_t vlen, int64_t ttl_ms, unsigned flags);

/* Called for each live key under a prefix; key excludes the global prefix.
 * Borrowed pointers valid only during the call. Return non-zero to stop. */
typedef int (*store_scan_fn)(void *ud, const char *key, size_t klen,
                             const void *val, size_t vlen);

/* Visit live keys that start with prefix (plen 0 = all of ragd's keys).
 * with_values: pass values too (else val=NULL, vlen=0). Order unspecified.
 * The callback must not call back into the store for writes. */
int store_scan(store_t *s, const char *prefix, size_t plen, bool with_values,
               store_scan_fn fn, void *ud);

/* Delete every key matching a glob pattern (Redis MATCH syntax: * ? [..]),
 * pattern applied to keys without the global prefix. *deleted gets the count. */
int store_del_pattern(store_t *s, const char *pattern, uint64_t *deleted);

/* One write of a batch. val == NULL means delete. */
typedef struct store_op {
    const char *key;
    size_t klen;
    const void *val;
    size_t vlen;
    int64_t ttl_ms;
    unsigned flags;
} store_op;

/* Apply all ops atomically (LMDB: one transaction; Redis: MULTI/EXEC). */
int store_batch(store_t *s, const store_op *ops, size_t n);

/* store_batch plus one record appended to log in the same atomic step (LMDB:
 * the same write transaction; Redis: the same MULTI/EXEC), so a replica that
 * follows the log never sees the writes without their record or the reverse.
 * n may be 0 (the record alone). *seq gets the record's number. */
int store_batch_log(store_t *s, const store_op *ops, size_t n, const char *log,
                    const void *rec, size_t len, uint64_t *seq);

/* A condition of store_batch_log_if on one key's live value. */
enum store_check_kind {
    STORE_CHECK_MISSING = 1, /* the key must not exist */
    STORE_CHECK_EXISTS,      /* the key must exist (any value) */
    STORE_CHECK_EQUAL,       /* the key must hold exactly val/vlen */
};

typedef struct store_check {
    const char *key;
    size_t klen;
    int kind;        /* enum store_check_kind */
    const void *val; /* STORE_CHECK_EQUAL only */
    size_t vlen;
} store_check;

/* store_batch_log after conditions, all in one atomic step (LMDB: the same
 * write transaction; Redis: one Lua script, so on a Cluster every key and the
 * log must hash to one slot). When a check fails nothing is written, *failed
 * (may be NULL) gets its index and the result is RAGD_ECONFLICT. log may be
 * NULL (no record; seq untouched). The basis of compare-and-set on groups of
 * keys: create-if-missing with its log record, replace-if-unchanged. */
int store_batch_log_if(store_t *s, const store_check *checks, size_t nc, const store_op *ops,
                       size_t n, const char *log, const void *rec, size_t len, uint64_t *seq,
                       size_t *failed);

/* Append-only log per name (the change logs replicas follow, docs/REPLICATION.md).
 * LMDB: ordered records; Redis: a Stream. *seq gets the new record's number,
 * strictly increasing per log. Each append trims the log to about the last
 * store_config.log_keep records (default STORE_LOG_KEEP; Redis: XADD MAXLEN ~,
 * so at least that many stay; LMDB: exactly that many), which bounds how far
 * back a reader can catch up. */
#define STORE_LOG_KEEP 100000
int store_log_append(store_t *s, const char *log, const void *rec, size_t len,
                     uint64_t *seq);

/* Visit records with seq > after_seq in order. Borrowed data. Stop on non-zero. */
typedef int (*store_log_fn)(void *ud, uint64_t seq, const void *rec, size_t len);
int store_log_read(store_t *s, const char *log, uint64_t after_seq, store_log_fn fn,
                   void *ud);

/* A record delivered by store_log_wait: idx is its log's index in logs[].
 * Borrowed data, valid during the call. Return non-zero to stop delivering. */
typedef int (*store_log_multi_fn)(void *ud, size_t idx, uint64_t seq, const void *rec,
                                  size_t len);

/* Records delivered per log by one store_log_wait call at most. */
#define STORE_LOG_WAIT_MAX 512

/* Follow n logs at once: deliver, in order per log, the records with seq >
 * after[i] (at most STORE_LOG_WAIT_MAX per log); when there are none, block up
 * to timeout_ms until one is appended, then deliver. Returns 0 whether or not
 * anything came (a timeout is not an error). Redis: XREAD BLOCK on a connection
 * of its own, outside the shared pool, so a follower never holds a pooled
 * connection while it waits; a second waiter gets another connection. LMDB:
 * the records appended through this store_t wake the waiter (a second process
 * on the same data directory is refused, so no other writer exists).
 * Thread-safe; n >= 1; RAGD_EUNAVAIL while Redis is down. */
int store_log_wait(store_t *s, const char *const *logs, const uint64_t *after, size_t n,
                   int timeout_ms, store_log_multi_fn fn, void *ud);

/* Trim log to about its last keep records (keep >= 1; Redis: XTRIM MAXLEN ~,
 * so at least keep stay; LMDB: exactly keep), for a log that needs fewer
 * than STORE_LOG_KEEP. RAGD_EINVAL for keep 0. */
int store_log_trim(store_t *s, const char *log, uint64_t keep);

/* Drop a whole log. */
int store_log_delete(store_t *s, const char *log);

/* The first (oldest kept) and last seq of a log into *first / *last; both 0
 * when the log is empty or missing. A reader whose position is below first-1
 * has lost records to trimming and must rebuild from the keys. */
int store_log_bounds(store_t *s, const char *log, uint64_t *first, uint64_t *last);

/* Rate-limit decisions, atomic on both backends (LMDB: one write transaction;
 * Redis: one Lua script using the server's clock, so many ragd instances on one
 * Redis agree). The state of one limiter lives under one key with a TTL.
 *   STORE_RL_FIXED    fixed window aligned to multiples of window_ms (INCR+EXPIRE)
 *   STORE_RL_SLIDING  sliding window: previous window weighted by its overlap
 *   STORE_RL_GCRA     GCRA, the token bucket as a theoretical arrival time
 *                     (Brandur Leach, "Rate limiting, Cells, and GCRA", 2015)
 * A request of `cost` units is allowed when it fits; only allowed requests are
 * counted. With force set the cost is applied whatever the state (negative
 * refunds), which is how a reservation is reconciled with real usage. */
enum store_rl_algo { STORE_RL_FIXED = 1, STORE_RL_SLIDING, STORE_RL_GCRA };

typedef struct store_rl_params {
    int algo;            /* enum store_rl_algo */
    int64_t limit;       /* units per window, >= 1 */
    int64_t window_ms;   /* >= 1 */
    int64_t burst;       /* GCRA bucket size; 0 = limit */
    int64_t cost;        /* units of this request (>= 0, any sign with force) */
    bool force;
} store_rl_params;

typedef struct store_rl_result {
    bool allowed;
    int64_t limit;           /* the limit to advertise (GCRA: the burst) */
    int64_t remaining;       /* units left now, >= 0 */
    int64_t reset_after_ms;  /* until the window ends / the bucket is full */
    int64_t retry_after_ms;  /* when denied: wait before a retry can pass; -1 = never
                                (cost above the limit); 0 when allowed */
} store_rl_result;

/* Decide (and count) one request against the limiter at key. RAGD_EINVAL for
 * bad params; RAGD_EUNAVAIL when the backend is down. Thread-safe. */
int store_ratelimit(store_t *s, const char *key, size_t klen, const store_rl_params *p,
                    store_rl_result *out);

/* Kinds of store errors (every failure that is not a miss, a conflict or bad
 * input), counted in store_stats.errors_by_kind and ragd_store_errors_total. */
enum store_err_kind {
    STORE_ERRK_UNAVAILABLE, /* the server cannot be reached or the connection broke */
    STORE_ERRK_TIMEOUT,     /* no answer / no free connection in time */
    STORE_ERRK_READONLY,    /* READONLY: a replica refused a write */
    STORE_ERRK_MASTERDOWN,  /* MASTERDOWN: a replica lost its master */
    STORE_ERRK_MOVED,       /* MOVED / ASK / CLUSTERDOWN / CROSSSLOT: cluster routing */
    STORE_ERRK_OOM,         /* OOM: Redis' maxmemory with noeviction */
    STORE_ERRK_FULL,        /* LMDB map or disk full */
    STORE_ERRK_NOT_DURABLE, /* WAIT: fewer replicas acknowledged the write than asked */
    STORE_ERRK_IO,          /* an I/O or backend failure (LMDB, an unparsable reply) */
    STORE_ERRK_OTHER,       /* any other error reply (its text is logged) */
    STORE_ERRK_N
};

/* "unavailable", "timeout", "readonly", ... ; "?" out of range. Thread-safe. */
const char *store_err_kind_name(int kind);

/* Why the store refuses writes now: true with reason (the server's error text,
 * e.g. "READONLY You can't write against a read only replica.") when the last
 * write was refused with READONLY, MASTERDOWN or OOM within the last 30 s and
 * no write succeeded since. Thread-safe. */
bool store_refusing_writes(store_t *s, char *reason, size_t cap);

typedef struct store_stats {
    uint64_t keys;          /* live keys (approximate on Redis: DBSIZE-like count of ours) */
    uint64_t bytes_used;    /* bytes of keys+values (LMDB) or used_memory (Redis) */
    uint64_t max_bytes;     /* the budget, 0 = none */
    uint64_t evictions;     /* entries evicted by the budget since start */
    uint64_t expired;       /* entries removed by expiry since start */
    uint64_t errors;        /* store errors since start (the sum of errors_by_kind) */
    uint64_t errors_by_kind[STORE_ERRK_N];
    uint64_t reconnects;    /* Redis reconnections since start */
    uint64_t moved, ask;    /* Redis Cluster MOVED / ASK redirections followed */
    uint64_t replica_reads; /* Redis: store_get_stale reads a replica answered */
    uint64_t map_bytes;     /* LMDB: the map size now (it grows up to map_max); 0 on Redis */
    bool available;         /* backend reachable now */
    bool full;              /* the last write failed for lack of space (map at its
                               maximum or the disk full); cleared by a write that fits */
} store_stats;

int store_get_stats(store_t *s, store_stats *out);

#endif
