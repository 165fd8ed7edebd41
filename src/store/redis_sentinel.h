/*
 * redis_sentinel.h - private to store_redis.c: Redis Sentinel. Parses
 * redis+sentinel:// URLs, asks the sentinels where the master is (SENTINEL
 * get-master-addr-by-name) for a connection pool (redis_conn.h) whenever it
 * (re)connects, and follows +switch-master on a sentinel from its own thread so
 * the pool re-targets the moment a failover is announced.
 */
#ifndef RAGD_REDIS_SENTINEL_H
#define RAGD_REDIS_SENTINEL_H

#include "store/redis_conn.h"

#define RSENT_MAX 16          /* sentinels in one URL */
#define RSENT_NAME_MAX 128    /* master-name length */
#define RSENT_DEFAULT_PORT 26379

/* A parsed redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/<master-name>[/db]
 * (rediss+sentinel:// = TLS to the data nodes). */
typedef struct rsent_url {
    int n;
    struct {
        char host[256];
        int port;
    } sentinels[RSENT_MAX];
    char master[RSENT_NAME_MAX + 1];
    redis_url data; /* credentials, db and TLS of the data nodes (host unused); owned */
} rsent_url;

/* true if url has a redis+sentinel:// or rediss+sentinel:// scheme. */
bool rsent_is_url(const char *url);

/* Parse url into *out (caller frees with rsent_url_free). RAGD_EINVAL with a
 * message for anything malformed. Thread-safe. */
int rsent_url_parse(const char *url, rsent_url *out, ragd_error *err);
void rsent_url_free(rsent_url *u);

typedef struct rsent rsent;

/* Parse cfg->url, create the data nodes' pool (*pool, owned by *out: do not
 * destroy it yourself) whose master address comes from the sentinels, and start
 * the +switch-master watcher. Sentinel credentials: cfg->sentinel_user and
 * cfg->sentinel_password (none by default). Sentinels that cannot be reached
 * are fine (the store opens "down"); a master name that the reachable
 * sentinels do not know fails with RAGD_EINVAL. Caller owns *out: rsent_destroy(). */
int rsent_create(const store_config *cfg, rsent **out, rpool **pool, ragd_error *err);

/* Stop the watcher, destroy the pool, free. */
void rsent_destroy(rsent *s);

/* Ask the sentinels (each in turn, last good first) for the master's address.
 * RAGD_EUNAVAIL if none answers with one. Thread-safe. */
int rsent_master(rsent *s, char *host, size_t cap, int *port);

/* A pool for reads from a replica of the master (redis_read_replicas): its
 * address is the first replica the sentinels name as up with its link to the
 * master up (SENTINEL REPLICAS), asked again whenever the pool reconnects; no
 * ROLE check (a replica promoted meanwhile is only fresher). The pool starts
 * down when no replica is named. Owned by s (rsent_destroy), like the master's
 * pool; call once, before other threads use s. */
int rsent_replica_pool(rsent *s, const store_config *cfg, rpool **out, ragd_error *err);

/* +switch-master events seen since creation. Thread-safe. */
uint64_t rsent_switches(rsent *s);

#endif
