/*
 * redis_conn.h - private to store_redis.c: Redis URLs and a pool of Redis
 * connections over ragd's own transport. Debian's hiredis 0.14 has no TLS, so
 * the pool opens the socket (and, for rediss://, an OpenSSL session) itself,
 * formats commands with redisFormatCommandArgv and feeds the bytes it reads to
 * hiredis' reply parser (redisReader). Plain TCP takes the same path.
 */
#ifndef RAGD_REDIS_CONN_H
#define RAGD_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "store/store.h"

/* A parsed redis://[user[:password]@]host[:port][/db] or rediss:// URL. */
typedef struct redis_url {
    char host[256];
    int port;
    int db;
    bool tls;
    char *user;     /* NULL = none (AUTH password only); owned */
    char *password; /* NULL = no AUTH; owned */
} redis_url;

/* Parse url into *out (caller frees with redis_url_free). RAGD_EINVAL with a
 * message in err for anything malformed. Thread-safe. */
int redis_url_parse(const char *url, redis_url *out, ragd_error *err);
void redis_url_free(redis_url *u);

/* One command: argc arguments with their lengths (binary-safe). */
typedef struct rpool_cmd {
    int argc;
    const char **argv;
    const size_t *argvlen;
} rpool_cmd;

typedef struct rpool rpool;

/* Create a pool for cfg->url (pool_size connections, timeouts, TLS options).
 * Tries one connection now: an unreachable server is fine (the pool starts
 * "down" and reconnects in the background); a refused AUTH or SELECT, or a bad
 * TLS set-up, fails with err set. Caller owns *out: rpool_destroy(). */
int rpool_create(const store_config *cfg, rpool **out, ragd_error *err);
void rpool_destroy(rpool *p);

/* Send n commands pipelined on one connection and read n replies into
 * replies[] (caller frees each with freeReplyObject; error replies are replies).
 * RAGD_EUNAVAIL at once while the server is known down, or when the connection
 * fails or times out (the pool then reconnects with backoff by itself);
 * RAGD_ETIMEOUT if no connection frees up within the command timeout.
 * Thread-safe. */
int rpool_exec(rpool *p, size_t n, const rpool_cmd *cmds, redisReply **replies);

/* A connection of its own, outside the pool, for commands that block (XREAD
 * BLOCK): a follower waiting on it never starves the pool. RAGD_EUNAVAIL at
 * once while the server is known down. Caller owns *out: rpool_conn_close(). */
typedef struct rconn rconn;
int rpool_conn_open(rpool *p, rconn **out);
/* Like rpool_exec on c, with wait_ms more than the command timeout for the
 * replies (a blocking command's own timeout). After a failure c is unusable:
 * close it. Not thread-safe for one c. */
int rpool_conn_exec(rpool *p, rconn *c, size_t n, const rpool_cmd *cmds,
                    redisReply **replies, int wait_ms);
void rpool_conn_close(rconn *c);

/* Is the server believed reachable? Thread-safe, never blocks. */
bool rpool_available(rpool *p);

/* Connections re-established after a loss, and transport errors, since creation. */
uint64_t rpool_reconnects(rpool *p);
uint64_t rpool_errors(rpool *p);

#endif
