/*
 * store_int.h - the guts behind store.h: the table of backend functions (like
 * Redis' dictType) and the store handle that owns one backend instance.
 * store.c validates arguments and prepends the global prefix, so every backend
 * function below receives full keys ("<prefix>:<key>") and full log names.
 */
#ifndef RAGD_STORE_INT_H
#define RAGD_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "store/store.h"

/* Size of a buffer for a backend's full key "<prefix>:<key>" (room to spare). */
#define STORE_FULL_KEY_BUF (STORE_PREFIX_MAX + 16 + STORE_KEY_MAX)

/* A backend. impl is the backend's own handle. Keys are full keys. */
typedef struct store_ops {
    const char *name;
    unsigned caps;             /* STORE_CAP_* bits */
    void (*close)(void *impl);
    int (*ping)(void *impl);
    /* Optional: ping with a reason (store_check); NULL = ping. */
    int (*check)(void *impl, char *reason, size_t n);
    int (*get)(void *impl, const char *key, size_t klen, store_value *out);
    /* Optional: store_get_stale on a full key; NULL = get. */
    int (*get_stale)(void *impl, const char *key, size_t klen, store_value *out);
    int (*exists)(void *impl, const char *key, size_t klen);
    /* store_get_many on full keys; NULL = get one key after the other */
    int (*get_many)(void *impl, const char *const *keys, const size_t *klens, size_t n,
                    store_value *out, int *rcs);
    int (*set)(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
               int64_t ttl_ms, unsigned flags);
    int (*del)(void *impl, const char *key, size_t klen);
    int (*ttl)(void *impl, const char *key, size_t klen, int64_t *ttl_ms);
    int (*expire)(void *impl, const char *key, size_t klen, int64_t ttl_ms);
    int (*incr)(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
                int64_t *out);
    int (*cas)(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
               const void *val, size_t vlen, int64_t ttl_ms, unsigned flags);
    /* Visits full keys starting with prefix (which includes the global prefix). */
    int (*scan)(void *impl, const char *prefix, size_t plen, bool with_values,
                store_scan_fn fn, void *ud);
    /* pattern is a glob over full keys (global prefix escaped and prepended). */
    int (*del_pattern)(void *impl, const char *pattern, size_t patlen, uint64_t *deleted);
    /* checks first (RAGD_ECONFLICT, *failed = the index, nothing written);
     * log == NULL: no record; else rec is appended to log in the same step. */
    int (*batch)(void *impl, const store_check *checks, size_t nc, size_t *failed,
                 const store_op *ops, size_t n, const char *log, size_t loglen,
                 const void *rec, size_t len, uint64_t *seq);
    int (*log_append)(void *impl, const char *log, size_t loglen, const void *rec,
                      size_t len, uint64_t *seq);
    int (*log_read)(void *impl, const char *log, size_t loglen, uint64_t after_seq,
                    store_log_fn fn, void *ud);
    int (*log_delete)(void *impl, const char *log, size_t loglen);
    int (*log_trim)(void *impl, const char *log, size_t loglen, uint64_t keep);
    /* Blocking multi-log read (store_log_wait) on full log names; NULL = the
     * front's in-process wait (store.c), woken by appends through this store. */
    int (*log_wait)(void *impl, const char *const *logs, const size_t *loglens,
                    const uint64_t *after, size_t n, int timeout_ms, store_log_multi_fn fn,
                    void *ud);
    int (*log_bounds)(void *impl, const char *log, size_t loglen, uint64_t *first,
                      uint64_t *last);
    int (*stats)(void *impl, store_stats *out);
    /* Rate-limit decision on a full key (store_lmdb_rl.c, store_redis_rl.c). */
    int (*ratelimit)(void *impl, const char *key, size_t klen, const store_rl_params *p,
                     store_rl_result *out);
} store_ops;

/* Store failures that show (store_errs.c): counts per kind, a rate-limited
 * log, and whether writes are being refused. mu guards the non-atomic fields. */
typedef struct store_errs {
    _Atomic uint64_t count[STORE_ERRK_N];
    _Atomic bool refusing;
    pthread_mutex_t mu;
    int64_t logged_at_us[STORE_ERRK_N];
    uint64_t held[STORE_ERRK_N];   /* log lines held back since the last one */
    int64_t refused_at_us;
    char reason[160];
} store_errs;

struct store {
    const store_ops *ops;
    void *impl;
    char prefix[STORE_PREFIX_MAX + 2];  /* "<prefix>:" or "" */
    size_t prefix_len;
    pthread_mutex_t log_mu;  /* guards log_gen */
    pthread_cond_t log_cv;   /* broadcast when a record is appended through this store */
    uint64_t log_gen;        /* appends through this store so far */
    store_errs errs;
};

void store__errs_init(store_errs *e);
void store__errs_deinit(store_errs *e);

/* After a backend call: count, log and remember rc if it is a store error
 * (taking this thread's detail from store__err_detail); a successful write
 * ends a refusal. Returns rc. Thread-safe. */
int store__note(store_errs *e, int rc, bool write);

/* For backends: the kind and server text of the error the current call is
 * about to return (thread-local; taken by store__note on the same thread). */
void store__err_detail(int kind, const char *text, size_t len);

/* The kind of a Redis error reply's text (READONLY..., OOM..., MOVED...). */
int store__err_classify(const char *text, size_t len);

bool store__errs_refusing(store_errs *e, char *reason, size_t cap);
void store__errs_counts(store_errs *e, uint64_t *by_kind, uint64_t *total);

/* Backend constructors: fill *ops and *impl or return an error with err set. */
int store_lmdb_open(const store_config *cfg, const store_ops **ops, void **impl,
                    ragd_error *err);
int store_redis_open(const store_config *cfg, const char *key_prefix, const store_ops **ops,
                     void **impl, ragd_error *err);

/* The rate-limit algorithms in C over a text state (store_rl.c), shared by
 * backends that run them in their own transaction (the Redis script mirrors
 * them in Lua). state/slen: the stored state, NULL = none. now_us: wall clock.
 * Writes the new state (NUL-terminated) into out_state (>= STORE_RL_STATE_MAX
 * bytes) and its TTL into *ttl_ms; *write is false when nothing changed. */
#define STORE_RL_STATE_MAX 96
void store__rl_decide(const store_rl_params *p, const char *state, size_t slen,
                      int64_t now_us, char *out_state, int64_t *ttl_ms, bool *write,
                      store_rl_result *out);

/* Backend rate-limit entry points. */
int lm__ratelimit(void *impl, const char *key, size_t klen, const store_rl_params *p,
                  store_rl_result *out);
/* The Redis one runs through the backend's router (store_redis_rl.c). */
struct rroute;
int rs__ratelimit(struct rroute *route, const char *key, size_t klen, const store_rl_params *p,
                  store_rl_result *out);

/* Redis Streams (store_redis_log.c). rs__log_entries visits the entries of an
 * XRANGE/XREAD entry array in order (stops when fn returns non-zero); *next
 * gets the last visited seq. A waitpool holds the connections of blocking
 * reads apart from pool; rs__log_wait is the Redis store_log_wait. */
struct redisReply;
struct rs_waitpool;
struct rpool;
struct rpool_cmd;
int rs__log_entries(const struct redisReply *r, store_log_fn fn, void *ud, uint64_t *next);
struct rs_waitpool *rs__waitpool_create(struct rpool *pool);
void rs__waitpool_destroy(struct rs_waitpool *w);
int rs__log_wait(struct rs_waitpool *w, const char *const *logs, const size_t *lens,
                 const uint64_t *after, size_t n, int timeout_ms, store_log_multi_fn fn,
                 void *ud);

/* An XREAD reply (nil, or [[stream, [entries]], ...]) delivered through fn
 * with the index of each stream among logs[0..n). */
int rs__wait_reply(const struct redisReply *r, const char *const *logs, const size_t *lens,
                   size_t n, store_log_multi_fn fn, void *ud);

/* Reading logs of several slots without blocking: each log is read on its own
 * node, and the call sleeps a few ms between empty rounds until timeout_ms
 * (store_redis_log.c; timeout_ms 0 = one round). MOVED is followed. */
struct rroute;
int rs__log_poll(struct rroute *rt, const char *const *logs, const size_t *lens,
                 const uint64_t *after, size_t n, int timeout_ms, store_log_multi_fn fn,
                 void *ud);

/* store_log_wait on Redis Cluster, where one XREAD cannot name streams of
 * several slots: one XREAD BLOCK per slot, each on a connection of its own to
 * its master, kept in a small idle set (store_redis_clwait.c). Thread-safe. */
struct rs_clwait;
struct rs_clwait *rs__clwait_create(struct rroute *rt);
void rs__clwait_destroy(struct rs_clwait *w);
int rs__log_wait_cluster(struct rs_clwait *w, const char *const *logs, const size_t *lens,
                         const uint64_t *after, size_t n, int timeout_ms, store_log_multi_fn fn,
                         void *ud);

/* The Redis batch with checks: one Lua script (store_redis_log.c), sent to the
 * node of rkey (every key must share its slot on a cluster) through exec, the
 * store's command runner (which adds WAIT after writes when asked). */
typedef int (*rs_exec_fn)(void *ctx, const char *key, size_t klen, size_t n,
                          const struct rpool_cmd *cmds, struct redisReply **replies);
int rs__batch_if(rs_exec_fn exec, void *ctx, const char *keep, const char *rkey, size_t rklen,
                 const store_check *checks, size_t nc, size_t *failed, const store_op *ops,
                 size_t n, const char *log, size_t loglen, const void *rec, size_t len,
                 uint64_t *seq);

/* Glob matching with Redis' MATCH syntax (* ? [abc] [^a] [a-z] \x), binary-safe.
 * Implemented in store_glob.c; thread-safe, no allocation. */
bool store__glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* The literal bytes a glob's matches must start with (escapes resolved) into
 * out (capacity >= plen); returns their length. */
size_t store__glob_literal_prefix(const char *pat, size_t plen, char *out);

/* Escape glob metacharacters of s into out (capacity >= 2*len); returns length. */
size_t store__glob_escape(const char *s, size_t len, char *out);

/* Parse a canonical decimal int64 ("-12"); false if v is anything else. */
bool store__parse_i64(const void *v, size_t len, int64_t *out);

#endif
