/*
 * store_redis_int.h - the inside of the Redis backend, shared by its files and
 * nothing else: the backend's state (rs_store), its Lua scripts, and the
 * command helpers of store_redis_cmd.c that store_redis.c (key operations,
 * batches, the ops table), store_redis_scan.c (scans, pattern deletes, stats)
 * and store_redis_log.c (change logs) are built on.
 */
#ifndef RAGD_STORE_REDIS_INT_H
#define RAGD_STORE_REDIS_INT_H

#include "store/redis_cluster.h"
#include "store/redis_conn.h"
#include "store/redis_sentinel.h"
#include "store/store_int.h"

typedef struct rs_script {
    const char *src;
    char sha[41];
} rs_script;

enum { RS_INCR, RS_CAS, RS_EXPIRE, RS_LOG_APPEND, RS_NSCRIPTS };

/* Also sent inline (EVAL) inside a batch's MULTI, where NOSCRIPT cannot be retried. */
#define RS_LOG_APPEND_SRC                                                                   \
    "local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"                 \
    "local seq = 1\n"                                                                       \
    "if #last > 0 then seq = tonumber(string.match(last[1][1], '%-(%d+)$')) + 1 end\n"     \
    "redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '0-' .. string.format('%d', seq), " \
    "'d', ARGV[1])\n"                                                                       \
    "return seq\n"

typedef struct rs_store {
    rroute *route;
    struct rs_waitpool *waiters; /* connections of blocking log reads; NULL on a cluster */
    struct rs_clwait *clwait;    /* the same on a cluster (one read per slot) */
    rsent *sent;       /* redis+sentinel://: owns the pool route wraps; NULL otherwise */
    int wait_replicas; /* > 0: each write is followed by WAIT wait_replicas wait_timeout */
    char wait_args[2][16];
    rs_script scripts[RS_NSCRIPTS];
    char log_keep[24]; /* store_config.log_keep as the scripts' MAXLEN argument */
    char *match_all; /* "<escaped prefix>:*" or "*" */
    size_t match_all_len;
} rs_store;

/* Redis error reply -> RAGD_E*, its kind and text noted for the error counts. */
int rs__reply_err(const redisReply *r);

/* rroute_exec for the commands about key (NULL: any server), plus "WAIT n
 * timeout" pipelined on the same connection after a write when
 * redis_wait_replicas > 0: fewer acknowledgements than asked is
 * RAGD_ENOTDURABLE (the write stays on the master; replies are freed).
 * Caller frees each reply on success. */
int rs__exec(rs_store *s, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
             redisReply **replies);
/* rs__exec as an rs_exec_fn (ctx is the rs_store). */
int rs__exec_fn(void *ctx, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                redisReply **replies);

/* One command to the server of key (NULL: any); *out is an owned non-error
 * reply (caller frees with freeReplyObject). */
int rs__call(rs_store *s, const char *key, size_t klen, int argc, const char **argv,
             const size_t *lens, redisReply **out);

/* How one command's reply becomes the operation's result: 0 or RAGD_E*, with
 * outputs through ud. NULL = any non-error reply is success. */
typedef int (*rs_reply_fn)(const redisReply *r, void *ud);

/* One command about key (NULL: none) whose reply fn reads (and is freed). */
int rs__cmd(rs_store *s, const char *key, size_t klen, int argc, const char **argv,
            const size_t *lens, rs_reply_fn fn, void *ud);
/* "<name> <key>", the shape of most commands, as rs__cmd. */
int rs__key_cmd(rs_store *s, const char *name, const char *key, size_t klen, rs_reply_fn fn,
                void *ud);
/* Run script which by SHA, loading it with EVAL when the server does not know
 * it; its reply goes through fn as with rs__cmd. */
int rs__script(rs_store *s, int which, const char *key, size_t klen, int nargs,
               const char **args, const size_t *alens, rs_reply_fn fn, void *ud);
/* A log sequence number (an integer above 0) into *(uint64_t *)ud. */
int rs__reply_seq(const redisReply *r, void *ud);

/* The store operations of store_redis_scan.c and store_redis_log.c (impl is
 * the rs_store; contracts as store_ops in store_int.h). */
int rs__scan(void *impl, const char *prefix, size_t plen, bool with_values, store_scan_fn fn,
             void *ud);
int rs__del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted);
int rs__stats(void *impl, store_stats *out);
int rs__log_append(void *impl, const char *log, size_t loglen, const void *rec, size_t len,
                   uint64_t *seq);
int rs__log_read(void *impl, const char *log, size_t loglen, uint64_t after_seq,
                 store_log_fn fn, void *ud);
int rs__log_delete(void *impl, const char *log, size_t loglen);
int rs__log_trim(void *impl, const char *log, size_t loglen, uint64_t keep);
int rs__log_bounds(void *impl, const char *log, size_t loglen, uint64_t *first, uint64_t *last);

#endif
