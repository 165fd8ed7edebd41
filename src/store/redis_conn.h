/*
 * redis_conn.h - private to store_redis.c: Redis URLs and a pool of Redis
 * connections over ragd's own transport. Debian's hiredis 0.14 has no TLS, so
 * the pool opens the socket (and, for rediss://, an OpenSSL session) itself,
 * formats commands with redisFormatCommandArgv and feeds the bytes it reads to
 * hiredis' reply parser (redisReader). Plain TCP takes the same path.
 * redis_url.c parses URLs, redis_conn.c is the transport (rconn_*), and
 * redis_pool.c the pool on top of it (rpool_*).
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

/* rpool_create for a Redis Cluster replica that serves reads: every
 * connection sends READONLY after it connects (so the replica answers reads of
 * its master's slots instead of MOVED). Same ownership as rpool_create. */
int rpool_create_replica(const store_config *cfg, rpool **out, ragd_error *err);

/* Where a pool connects when its server moves (Sentinel): resolve() writes the
 * current master's host (NUL-terminated, < cap bytes) and port, 0 or RAGD_E*.
 * Called without the pool's lock, from any thread that opens a connection. */
typedef struct rpool_resolver {
    int (*resolve)(void *ud, char *host, size_t cap, int *port);
    void *ud;
    bool replica; /* it names a replica to read from: no ROLE "master" check */
} rpool_resolver;

/* rpool_create for a parsed URL, whose contents the pool takes (*url is left
 * empty). With res (NULL = url's host:port): the address comes from
 * res->resolve before a (re)connect after a loss; unless res->replica, every
 * new connection must answer ROLE "master" or is dropped; a READONLY or MASTERDOWN reply, or a
 * lost server, drops every connection and asks the resolver again. */
int rpool_create_at(const store_config *cfg, redis_url *url, const rpool_resolver *res,
                    rpool **out, ragd_error *err);

/* The master moved to host:port (e.g. Sentinel's +switch-master): connections
 * to the old address are dropped (those in use when released) and, if the
 * pool is down, it retries at once. Thread-safe. */
void rpool_retarget(rpool *p, const char *host, int port);

/* Stop using the current server at once (a failover is under way): every
 * connection is dropped (those in use when released) and the pool is down
 * until its resolver names a server again. Thread-safe. */
void rpool_suspend(rpool *p);

/* One connection outside any pool (a sentinel). */
typedef struct rconn rconn;
typedef struct rconn_target {
    const char *host;
    int port;
    const char *user, *password; /* NULL = no AUTH / AUTH <password> */
    int db;                      /* SELECT when > 0 */
    void *ssl_ctx;               /* SSL_CTX * for TLS, NULL = plain TCP */
    int connect_timeout_ms;
    bool readonly;               /* send READONLY (reads on a Cluster replica) */
} rconn_target;

/* Open, secure, authenticate (and PING or SELECT) one connection; err gets a
 * message. RAGD_EUNAVAIL if unreachable, RAGD_EINVAL if AUTH/SELECT is refused.
 * Caller owns *out: rconn_close(). One thread at a time per connection. */
int rconn_open(const rconn_target *t, rconn **out, char *err, size_t errlen);
/* Pipeline n commands and read n replies (as rpool_exec) within timeout_ms. */
int rconn_exec(rconn *c, size_t n, const rpool_cmd *cmds, redisReply **replies,
               int timeout_ms);
/* Send n commands pipelined without reading their replies (rconn_read them
 * later, one each): RAGD_EUNAVAIL if they cannot be written within timeout_ms
 * (c is then unusable). */
int rconn_send(rconn *c, size_t n, const rpool_cmd *cmds, int timeout_ms);
/* Read one pushed reply (pub/sub): RAGD_ETIMEOUT if none came within
 * timeout_ms (the connection stays usable), RAGD_EUNAVAIL if it is lost. Once
 * bytes arrive, the rest of the reply gets at least 100 ms. */
int rconn_read(rconn *c, redisReply **out, int timeout_ms);
/* The socket, for poll() (data already read may wait in the reader: call
 * rconn_read with timeout 0 to see it). */
int rconn_fd(const rconn *c);
void rconn_close(rconn *c);

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
