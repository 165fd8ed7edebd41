/*
 * redis_cluster.h - private to the Redis backend: a router that sends each
 * command to the Redis server that holds its key. On a single server it is a
 * thin pass-through to one rpool. On Redis Cluster (a redis:// URL to any node
 * answering INFO cluster with cluster_enabled:1, a MOVED reply, or the seeds of
 * redis+cluster://h1:p1,h2:p2) it keeps the slot map (CLUSTER SLOTS), a smaller
 * pool per master, follows MOVED (refreshing the map) and ASK (ASKING first),
 * and reports uncovered slots and unreachable masters.
 */
#ifndef RAGD_REDIS_CLUSTER_H
#define RAGD_REDIS_CLUSTER_H

#include "store/redis_conn.h"

#define RCLUSTER_SLOTS 16384

/* The hash slot of a key per the Redis Cluster spec: CRC16 (XMODEM) of the key,
 * or of the text between the first '{' and the next '}' when that is not empty
 * (a hash tag), modulo 16384. Thread-safe. */
unsigned rcluster_slot(const char *key, size_t klen);

/* A redirection error reply: "MOVED <slot> <host>:<port>" or "ASK ...". */
enum { RCLUSTER_NONE = 0, RCLUSTER_MOVED = 1, RCLUSTER_ASK = 2 };
typedef struct rcluster_redirect {
    int slot;
    char host[256];
    int port;
} rcluster_redirect;

/* Parse an error reply's text. Returns RCLUSTER_MOVED or RCLUSTER_ASK with *out
 * filled, or RCLUSTER_NONE for any other text (out untouched). */
int rcluster_redirect_parse(const char *msg, size_t len, rcluster_redirect *out);

/* One range of a CLUSTER SLOTS reply: slots start..end served by host:port,
 * with a replica at rhost:rport (rport 0: none). */
typedef struct rcluster_range {
    int start, end;
    char host[256];
    int port;
    char rhost[256];
    int rport;
} rcluster_range;

/* Parse a CLUSTER SLOTS reply into *out (caller frees with free()), taking
 * each range's master and its first replica. An empty host (Redis 7's "unknown endpoint") becomes
 * default_host. RAGD_EIO for a reply of another shape. */
int rcluster_slots_parse(const redisReply *r, const char *default_host, rcluster_range **out,
                         size_t *n);

/* The seeds of redis[s]+cluster://[user[:password]@]h1[:p1][,h2[:p2]...][/0]. */
typedef struct rcluster_url {
    char *head;             /* "redis://" or "rediss://" plus the user info and '@' as
                               written (escapes kept): the start of each node's URL */
    size_t nseeds;
    rcluster_range *seeds;  /* host and port of each seed (start/end unused) */
} rcluster_url;

/* Parse url (also plain redis[s]:// URLs, giving one seed). RAGD_EINVAL with a
 * message for anything malformed, or a database other than 0 in a cluster URL.
 * Caller frees with rcluster_url_free. */
int rcluster_url_parse(const char *url, rcluster_url *out, ragd_error *err);
void rcluster_url_free(rcluster_url *u);

/* true if url has the redis+cluster:// or rediss+cluster:// scheme. */
bool rcluster_url_is_cluster(const char *url);

typedef struct rroute rroute;

/* Create a router for cfg->url. Any URL rpool_create takes gets one pool of
 * cfg->pool_size connections, and a redis:// or rediss:// one is asked INFO
 * cluster (MOVED later has the same effect); a cluster (detected or given) gets a
 * pool of max(2, pool_size / 2) connections per master, created as the map
 * names them. Fails like rpool_create (bad URL, refused AUTH); an unreachable
 * server or cluster is fine (it starts down). Caller owns *out: rroute_destroy(). */
int rroute_create(const store_config *cfg, rroute **out, ragd_error *err);
/* A single-server router over pool, which stays the caller's (a Sentinel set's
 * pool follows its master by itself and is never a cluster). */
int rroute_wrap(rpool *pool, rroute **out);
void rroute_destroy(rroute *rt);
/* Reads of rroute_exec_read go to replica (a Sentinel set's replica pool,
 * which stays the caller's), on a router of rroute_wrap. Call before the
 * router is shared between threads. */
void rroute_set_replica(rroute *rt, rpool *replica);

/* Send n commands pipelined to the master of key's slot (key NULL: any master)
 * and read n replies, as rpool_exec. A MOVED reply (to any of the n) updates
 * the map and resends them all to the new owner; ASK resends them once after
 * ASKING on the named node; TRYAGAIN waits a little and resends. After a few
 * redirections the last replies are returned as they are. RAGD_EUNAVAIL when
 * the slot has no reachable master. Thread-safe. */
int rroute_exec(rroute *rt, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                redisReply **replies);

/* rroute_exec for read-only commands about key that may be answered stale:
 * with redis_read_replicas on a cluster, sent to a replica of key's slot
 * (READONLY connections); on a single-server router, to the pool given to
 * rroute_set_replica. A replica unreachable or answering any error (MOVED
 * while its slot moves, LOADING, MASTERDOWN...) sends them to the master as
 * rroute_exec. Otherwise exactly rroute_exec. Thread-safe. */
int rroute_exec_read(rroute *rt, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                     redisReply **replies);

/* The pool of the master of key's slot as the map has it now (single server:
 * its pool), for connections of one's own (rpool_conn_open); NULL when the
 * slot has no master. The pool stays valid until rroute_destroy. Thread-safe. */
rpool *rroute_pool(rroute *rt, const char *key, size_t klen);

/* Is this a cluster (detected or configured)? Never changes back. */
bool rroute_is_cluster(rroute *rt);

/* The pools of the masters that own slots now (single server: its pool), at
 * most max; returns how many. Pools stay valid until rroute_destroy. */
size_t rroute_masters(rroute *rt, rpool **out, size_t max);

/* Every master reachable and, on a cluster, every slot covered. Never blocks. */
bool rroute_available(rroute *rt);

/* Sums over every pool since creation (see rpool_reconnects / rpool_errors),
 * and the MOVED and ASK redirections followed. */
uint64_t rroute_reconnects(rroute *rt);
uint64_t rroute_errors(rroute *rt);
uint64_t rroute_moved(rroute *rt);
uint64_t rroute_ask(rroute *rt);
/* Reads answered by a replica (rroute_exec_read). */
uint64_t rroute_replica_reads(rroute *rt);

/* Health, asked now. A single server: 0 or RAGD_EUNAVAIL (PING). A cluster:
 * 0 with reason[0] == '\0' when every slot is covered by a reachable master
 * whose CLUSTER INFO says cluster_state:ok; 0 with the first problem found in
 * reason[] while some masters still answer (slots without a master, a master
 * unreachable or reporting cluster_state:fail); RAGD_EUNAVAIL when none does.
 * reason[0] must be '\0' on entry. Thread-safe. */
int rroute_check(rroute *rt, char *reason, size_t n);

/* ---- SCAN on every master (redis_scan.c) ---- */

/* Called with each batch of keys SCAN returned from node (an array reply of
 * strings, borrowed for the call). Non-zero stops the scan: > 0 quietly. */
typedef int (*rscan_fn)(rpool *node, const redisReply *keys, void *ud);

/* SCAN <cursor> MATCH pat COUNT 1000 TYPE string to the end on every master
 * (a single server: on it), handing each non-empty batch to fn. Not a snapshot
 * (SCAN's own guarantees, per master). 0, fn's negative code, or RAGD_E*. */
int rscan_keys(rroute *rt, const char *pat, size_t patlen, rscan_fn fn, void *ud);

/* The replies about one batch of keys from node: a single server answers one
 * "<multi> key..." (MGET's array, UNLINK's count) in multi; a cluster answers
 * "<one> key" per key (the keys of a batch lie in many slots), pipelined on
 * node, in each[i], a key that moved meanwhile being sent again through the
 * router. Free with rscan_reply_free. */
typedef struct rscan_reply {
    redisReply *multi;
    redisReply **each;
    size_t n;
} rscan_reply;

int rscan_keys_cmd(rroute *rt, rpool *node, const char *multi, const char *one,
                   const redisReply *keys, rscan_reply *out);
/* The reply about key i (NULL if the server sent fewer). Borrowed. */
const redisReply *rscan_reply_at(const rscan_reply *r, size_t i);
void rscan_reply_free(rscan_reply *r);

#endif
