/*
 * redis_cluster.c - the router between the Redis backend and its servers. One
 * server: every call goes straight to its pool. Redis Cluster: a slot map
 * (16384 node indices, read without a lock, written slot by slot with relaxed
 * atomics, so a reader sees each slot's old or new owner), a node table that
 * only grows (pools live until rroute_destroy, so a pointer read from it stays
 * valid), and the redirection rules of the Redis Cluster specification: MOVED
 * updates the slot and refreshes the map from CLUSTER SLOTS, ASK sends ASKING
 * first, TRYAGAIN waits and resends. A redis:// URL turns into a cluster when
 * INFO cluster says so at start, or at the first MOVED reply.
 */
#include "store/redis_cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"
#include "util/clock.h"
#include "util/mem.h"

#define RCL_MAX_NODES 128
#define RCL_NO_NODE 0xFFFFu
#define RCL_REDIRECTS 5
#define RCL_REFRESH_MIN_MS 100
#define RCL_TRYAGAIN_MS 20

typedef struct rcl_node {
    char host[256];
    int port;
    rpool *pool;
    _Atomic bool master; /* owns slots in the last map read */
    rpool *_Atomic ro;   /* READONLY pool for replica reads; created once, under nodes_mu */
} rcl_node;

struct rroute {
    store_config cfg; /* the caller's, for each node's pool (url replaced) */
    rcluster_url url;
    int node_pool_size;
    rpool *single; /* the pool of a plain URL (node 0 once it turns out a cluster) */
    bool borrowed; /* single belongs to the caller (Sentinel's pool): not destroyed here */
    bool read_replicas; /* redis_read_replicas: rroute_exec_read may ask a replica */
    rpool *replica;     /* a single server's replica to read from (borrowed), or NULL */
    _Atomic bool cluster;

    pthread_mutex_t nodes_mu; /* serialises adding nodes */
    rcl_node *nodes[RCL_MAX_NODES];
    _Atomic size_t nnodes;
    _Atomic uint16_t slot[RCLUSTER_SLOTS];
    _Atomic uint16_t rslot[RCLUSTER_SLOTS]; /* a replica of each slot (read_replicas) */
    _Atomic bool covered; /* every slot had a master in the last map read */

    pthread_mutex_t refresh_mu; /* one map refresh at a time */
    _Atomic int64_t refreshed_ms;
    _Atomic uint64_t moved, ask, replica_reads;
};

static int64_t rcl__now_ms(void)
{
    return clock_mono_us() / 1000;
}

static void rcl__free_replies(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        freeReplyObject(r[i]);
}

/* ---- nodes --------------------------------------------------------------- */

/* With nodes_mu held: append a node owning pool. -1 when the table is full. */
static int rcl__node_add(rroute *rt, const char *host, int port, rpool *pool)
{
    size_t n = atomic_load(&rt->nnodes);
    if (n == RCL_MAX_NODES)
        return -1;
    rcl_node *nd = xcalloc(1, sizeof *nd);
    snprintf(nd->host, sizeof nd->host, "%s", host);
    nd->port = port;
    nd->pool = pool;
    rt->nodes[n] = nd;
    atomic_store(&rt->nnodes, n + 1);
    return (int)n;
}

/* The settings of a pool for node host:port: the caller's, with the node's URL
 * (written into url) and the per-node pool size. */
static store_config rcl__node_cfg(rroute *rt, const char *host, int port, char *url, size_t cap)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, cap, "%s%s%s%s:%d", rt->url.head, v6 ? "[" : "", host, v6 ? "]" : "", port);
    store_config cfg = rt->cfg;
    cfg.url = url;
    cfg.pool_size = rt->node_pool_size;
    return cfg;
}

/* The index of node host:port, creating its pool when it is new (-1 if that
 * fails: table full, or the node refuses AUTH). */
static int rcl__node(rroute *rt, const char *host, int port)
{
    pthread_mutex_lock(&rt->nodes_mu);
    size_t n = atomic_load(&rt->nnodes);
    for (size_t i = 0; i < n; i++) {
        if (rt->nodes[i]->port == port && strcmp(rt->nodes[i]->host, host) == 0) {
            pthread_mutex_unlock(&rt->nodes_mu);
            return (int)i;
        }
    }
    char url[600];
    store_config cfg = rcl__node_cfg(rt, host, port, url, sizeof url);
    rpool *pool = NULL;
    ragd_error err = { 0 };
    int idx = -1;
    if (n < RCL_MAX_NODES && rpool_create(&cfg, &pool, &err) == 0) {
        idx = rcl__node_add(rt, host, port, pool);
    } else {
        log_msg(LOG_WARN, "redis cluster: cannot use node %s:%d: %s", host, port,
                err.msg[0] ? err.msg : "too many nodes");
    }
    pthread_mutex_unlock(&rt->nodes_mu);
    return idx;
}

/* The index of replica host:port with its READONLY pool (created when new),
 * or -1. */
static int rcl__replica(rroute *rt, const char *host, int port)
{
    int idx = rcl__node(rt, host, port);
    if (idx < 0 || atomic_load(&rt->nodes[idx]->ro))
        return idx;
    pthread_mutex_lock(&rt->nodes_mu);
    rcl_node *nd = rt->nodes[idx];
    if (!atomic_load(&nd->ro)) {
        char url[600];
        store_config cfg = rcl__node_cfg(rt, host, port, url, sizeof url);
        rpool *ro = NULL;
        ragd_error err = { 0 };
        if (rpool_create_replica(&cfg, &ro, &err) == 0)
            atomic_store(&nd->ro, ro);
        else
            log_msg(LOG_WARN, "redis cluster: cannot read from replica %s:%d: %s", host, port,
                    err.msg);
    }
    bool ok = atomic_load(&nd->ro) != NULL;
    pthread_mutex_unlock(&rt->nodes_mu);
    return ok ? idx : -1;
}

/* ---- slot map -------------------------------------------------------------- */

/* Ask node idx for CLUSTER SLOTS and install the map it gives. */
static int rcl__load_map(rroute *rt, size_t idx)
{
    rcl_node *nd = rt->nodes[idx];
    const char *argv[2] = { "CLUSTER", "SLOTS" };
    size_t lens[2] = { 7, 5 };
    rpool_cmd cmd = { 2, argv, lens };
    redisReply *r = NULL;
    int rc = rpool_exec(nd->pool, 1, &cmd, &r);
    if (rc)
        return rc;
    rcluster_range *ranges = NULL;
    size_t nr = 0;
    rc = rcluster_slots_parse(r, nd->host, &ranges, &nr);
    freeReplyObject(r);
    if (rc)
        return rc;
    uint16_t *map = xmalloc(RCLUSTER_SLOTS * sizeof *map);
    for (size_t s = 0; s < RCLUSTER_SLOTS; s++)
        map[s] = RCL_NO_NODE;
    for (size_t i = 0; i < nr; i++) {
        int owner = rcl__node(rt, ranges[i].host, ranges[i].port);
        for (int s = ranges[i].start; owner >= 0 && s <= ranges[i].end; s++)
            map[s] = (uint16_t)owner;
        int rep = rt->read_replicas && ranges[i].rport
                      ? rcl__replica(rt, ranges[i].rhost, ranges[i].rport) : -1;
        for (int s = ranges[i].start; s <= ranges[i].end; s++)
            atomic_store_explicit(&rt->rslot[s], rep < 0 ? RCL_NO_NODE : (uint16_t)rep,
                                  memory_order_relaxed);
    }
    free(ranges);
    bool covered = true, is_master[RCL_MAX_NODES] = { false };
    for (size_t s = 0; s < RCLUSTER_SLOTS; s++) {
        atomic_store_explicit(&rt->slot[s], map[s], memory_order_relaxed);
        covered = covered && map[s] != RCL_NO_NODE;
        if (map[s] != RCL_NO_NODE)
            is_master[map[s]] = true;
    }
    free(map);
    size_t n = atomic_load(&rt->nnodes);
    for (size_t i = 0; i < n; i++)
        atomic_store(&rt->nodes[i]->master, is_master[i]);
    atomic_store(&rt->covered, covered);
    return 0;
}

/* Re-read the map from the first node that answers, masters first, then the
 * seeds. Skipped (false) when another refresh ran in the last
 * RCL_REFRESH_MIN_MS, unless force. true when a map was read. */
static bool rcl__refresh(rroute *rt, bool force)
{
    if (!force && rcl__now_ms() - atomic_load(&rt->refreshed_ms) < RCL_REFRESH_MIN_MS)
        return false;
    pthread_mutex_lock(&rt->refresh_mu);
    bool ok = false;
    if (force || rcl__now_ms() - atomic_load(&rt->refreshed_ms) >= RCL_REFRESH_MIN_MS) {
        size_t n = atomic_load(&rt->nnodes);
        for (int pass = 0; pass < 2 && !ok; pass++)
            for (size_t i = 0; i < n && !ok; i++)
                if (atomic_load(&rt->nodes[i]->master) == (pass == 0) &&
                    rpool_available(rt->nodes[i]->pool))
                    ok = rcl__load_map(rt, i) == 0;
        for (size_t i = 0; i < rt->url.nseeds && !ok; i++) {
            int idx = rcl__node(rt, rt->url.seeds[i].host, rt->url.seeds[i].port);
            ok = idx >= 0 && rcl__load_map(rt, (size_t)idx) == 0;
        }
        atomic_store(&rt->refreshed_ms, rcl__now_ms());
    }
    pthread_mutex_unlock(&rt->refresh_mu);
    return ok;
}

/* The node serving slot (slot < 0: any reachable master), or -1. */
static int rcl__owner(rroute *rt, int slot)
{
    if (slot >= 0) {
        unsigned v = atomic_load_explicit(&rt->slot[slot], memory_order_relaxed);
        return v == RCL_NO_NODE ? -1 : (int)v;
    }
    size_t n = atomic_load(&rt->nnodes);
    int fallback = -1;
    for (size_t i = 0; i < n; i++) {
        if (!atomic_load(&rt->nodes[i]->master))
            continue;
        if (rpool_available(rt->nodes[i]->pool))
            return (int)i;
        fallback = fallback < 0 ? (int)i : fallback;
    }
    return fallback;
}

/* ---- redirections ---------------------------------------------------------- */

/* The first MOVED/ASK among n replies (into *rd), or TRYAGAIN as -1, or
 * RCLUSTER_NONE. Only error replies are looked at. */
static int rcl__redirected(redisReply **r, size_t n, rcluster_redirect *rd)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i]->type != REDIS_REPLY_ERROR)
            continue;
        int kind = rcluster_redirect_parse(r[i]->str, r[i]->len, rd);
        if (kind != RCLUSTER_NONE)
            return kind;
        if (strncmp(r[i]->str, "TRYAGAIN", 8) == 0)
            return -1;
    }
    return RCLUSTER_NONE;
}

/* ASKING, then the n commands, on pool; replies[] gets the n commands' replies. */
static int rcl__exec_asking(rpool *pool, size_t n, const rpool_cmd *cmds, redisReply **replies)
{
    static const char *asking[1] = { "ASKING" };
    static const size_t asking_len[1] = { 6 };
    rpool_cmd *all = xmalloc((n + 1) * sizeof *all);
    redisReply **r = xmalloc((n + 1) * sizeof *r);
    all[0] = (rpool_cmd){ 1, asking, asking_len };
    memcpy(all + 1, cmds, n * sizeof *cmds);
    int rc = rpool_exec(pool, n + 1, all, r);
    if (rc == 0) {
        freeReplyObject(r[0]);
        memcpy(replies, r + 1, n * sizeof *r);
    }
    free(r);
    free(all);
    return rc;
}

/* Act on a redirection: MOVED points the slot at its new owner (and refreshes
 * the map), ASK returns the node to ask once. -1 when the named node is unusable. */
static int rcl__follow(rroute *rt, int kind, const rcluster_redirect *rd, int *asking)
{
    if (kind < 0) {
        struct timespec ts = { 0, RCL_TRYAGAIN_MS * 1000000L };
        nanosleep(&ts, NULL);
        return 0;
    }
    int idx = rcl__node(rt, rd->host, rd->port);
    if (idx < 0)
        return -1;
    if (kind == RCLUSTER_ASK) {
        atomic_fetch_add(&rt->ask, 1);
        *asking = idx;
        return 0;
    }
    atomic_fetch_add(&rt->moved, 1);
    atomic_store_explicit(&rt->slot[rd->slot], (uint16_t)idx, memory_order_relaxed);
    atomic_store(&rt->nodes[idx]->master, true);
    rcl__refresh(rt, false);
    return 0;
}

static int rcl__exec_cluster(rroute *rt, int slot, size_t n, const rpool_cmd *cmds,
                             redisReply **replies)
{
    int asking = -1;
    for (int attempt = 0;; attempt++) {
        int idx = asking >= 0 ? asking : rcl__owner(rt, slot);
        if (idx < 0 && rcl__refresh(rt, false))
            idx = rcl__owner(rt, slot);
        if (idx < 0)
            return RAGD_EUNAVAIL; /* the slot has no master */
        rpool *pool = rt->nodes[idx]->pool;
        int rc = asking >= 0 ? rcl__exec_asking(pool, n, cmds, replies)
                             : rpool_exec(pool, n, cmds, replies);
        asking = -1;
        if (rc) {
            /* The master may have been replaced by a replica: look again. */
            if (rc != RAGD_EUNAVAIL || attempt > 0 || !rcl__refresh(rt, false) ||
                rcl__owner(rt, slot) == idx)
                return rc;
            continue;
        }
        rcluster_redirect rd;
        int kind = rcl__redirected(replies, n, &rd);
        if (kind == RCLUSTER_NONE || attempt >= RCL_REDIRECTS)
            return 0;
        rcl__free_replies(replies, n);
        if (rcl__follow(rt, kind, &rd, &asking) != 0)
            return RAGD_EUNAVAIL;
    }
}

/* A plain URL's server answered MOVED: from now on it is a cluster. */
static void rcl__become_cluster(rroute *rt)
{
    pthread_mutex_lock(&rt->nodes_mu);
    if (!atomic_load(&rt->cluster)) {
        rcl__node_add(rt, rt->url.seeds[0].host, rt->url.seeds[0].port, rt->single);
        atomic_store(&rt->nodes[0]->master, true);
        for (size_t s = 0; s < RCLUSTER_SLOTS; s++)
            atomic_store_explicit(&rt->slot[s], 0, memory_order_relaxed);
        atomic_store(&rt->cluster, true);
        log_msg(LOG_INFO, "redis: %s:%d is a cluster node; routing by slot",
                rt->url.seeds[0].host, rt->url.seeds[0].port);
    }
    pthread_mutex_unlock(&rt->nodes_mu);
    rcl__refresh(rt, true);
}

int rroute_exec(rroute *rt, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                redisReply **replies)
{
    if (!atomic_load_explicit(&rt->cluster, memory_order_relaxed)) {
        rcluster_redirect rd;
        int rc = rpool_exec(rt->single, n, cmds, replies);
        if (rc || rt->url.nseeds == 0 || rcl__redirected(replies, n, &rd) <= RCLUSTER_NONE)
            return rc;
        rcl__free_replies(replies, n);
        rcl__become_cluster(rt);
    }
    return rcl__exec_cluster(rt, key ? (int)rcluster_slot(key, klen) : -1, n, cmds, replies);
}

/* Did any of n replies fail (an error of its own or a redirection)? */
static bool rcl__any_error(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i]->type == REDIS_REPLY_ERROR)
            return true;
    return false;
}

/* The replica pool to read key from: a cluster's for the key's slot, or a
 * single server's (Sentinel); NULL = none. */
static rpool *rcl__read_pool(rroute *rt, const char *key, size_t klen)
{
    if (!atomic_load_explicit(&rt->cluster, memory_order_relaxed))
        return rt->replica;
    unsigned v = atomic_load_explicit(&rt->rslot[rcluster_slot(key, klen)], memory_order_relaxed);
    return v == RCL_NO_NODE ? NULL : atomic_load(&rt->nodes[v]->ro);
}

int rroute_exec_read(rroute *rt, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                     redisReply **replies)
{
    if (key && rt->read_replicas) {
        rpool *ro = rcl__read_pool(rt, key, klen);
        if (ro && rpool_available(ro) && rpool_exec(ro, n, cmds, replies) == 0) {
            if (!rcl__any_error(replies, n)) {
                atomic_fetch_add(&rt->replica_reads, 1);
                return 0;
            }
            rcl__free_replies(replies, n); /* MOVED (a slot moved), LOADING...: the master */
        }
    }
    return rroute_exec(rt, key, klen, n, cmds, replies);
}

/* ---- life ------------------------------------------------------------------ */

/* Does the server of a plain URL run in cluster mode (INFO cluster)? */
static bool rcl__probe(rpool *pool)
{
    const char *argv[2] = { "INFO", "cluster" };
    size_t lens[2] = { 4, 7 };
    rpool_cmd cmd = { 2, argv, lens };
    redisReply *r = NULL;
    if (rpool_exec(pool, 1, &cmd, &r) != 0)
        return false;
    bool yes = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_enabled:1") != NULL;
    freeReplyObject(r);
    return yes;
}

int rroute_create(const store_config *cfg, rroute **out, ragd_error *err)
{
    rroute *rt = xcalloc(1, sizeof *rt);
    int rc = 0;
    rt->cfg = *cfg;
    rt->read_replicas = cfg->read_replicas;
    int size = cfg->pool_size > 0 ? cfg->pool_size : 8;
    rt->node_pool_size = size / 2 > 2 ? size / 2 : 2;
    pthread_mutex_init(&rt->nodes_mu, NULL);
    pthread_mutex_init(&rt->refresh_mu, NULL);
    for (size_t s = 0; s < RCLUSTER_SLOTS; s++) {
        atomic_init(&rt->slot[s], RCL_NO_NODE);
        atomic_init(&rt->rslot[s], RCL_NO_NODE);
    }
    if (rcluster_url_is_cluster(cfg->url)) {
        rc = rcluster_url_parse(cfg->url, &rt->url, err);
        atomic_store(&rt->cluster, rc == 0);
        for (size_t i = 0; i < rt->url.nseeds && rc == 0; i++)
            if (rcl__node(rt, rt->url.seeds[i].host, rt->url.seeds[i].port) < 0)
                rc = ragd_error_set(err, RAGD_EINVAL, "Redis Cluster: cannot use seed %s:%d",
                                    rt->url.seeds[i].host, rt->url.seeds[i].port);
        if (rc == 0)
            rcl__refresh(rt, true);
    } else {
        /* Whatever URL the pool takes; only redis:// and rediss:// ones can turn
         * out to be a cluster node (their host and port are the first seed). */
        ragd_error ignored;
        rc = rpool_create(cfg, &rt->single, err);
        if (rc == 0 && rcluster_url_parse(cfg->url, &rt->url, &ignored) == 0 &&
            rcl__probe(rt->single))
            rcl__become_cluster(rt);
    }
    if (rc) {
        rroute_destroy(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

int rroute_wrap(rpool *pool, rroute **out)
{
    rroute *rt = xcalloc(1, sizeof *rt);
    pthread_mutex_init(&rt->nodes_mu, NULL);
    pthread_mutex_init(&rt->refresh_mu, NULL);
    for (size_t s = 0; s < RCLUSTER_SLOTS; s++)
        atomic_init(&rt->slot[s], RCL_NO_NODE);
    rt->single = pool;
    rt->borrowed = true;
    *out = rt;
    return 0;
}

void rroute_set_replica(rroute *rt, rpool *replica)
{
    rt->replica = replica;
    rt->read_replicas = replica != NULL;
}

void rroute_destroy(rroute *rt)
{
    if (!rt)
        return;
    size_t n = atomic_load(&rt->nnodes);
    for (size_t i = 0; i < n; i++) {
        if (rt->nodes[i]->pool != rt->single)
            rpool_destroy(rt->nodes[i]->pool);
        if (atomic_load(&rt->nodes[i]->ro))
            rpool_destroy(atomic_load(&rt->nodes[i]->ro));
        free(rt->nodes[i]);
    }
    if (!rt->borrowed)
        rpool_destroy(rt->single);
    rcluster_url_free(&rt->url);
    pthread_mutex_destroy(&rt->nodes_mu);
    pthread_mutex_destroy(&rt->refresh_mu);
    free(rt);
}

/* ---- state ----------------------------------------------------------------- */

rpool *rroute_pool(rroute *rt, const char *key, size_t klen)
{
    if (!atomic_load(&rt->cluster))
        return rt->single;
    int idx = rcl__owner(rt, (int)rcluster_slot(key, klen));
    if (idx < 0 && rcl__refresh(rt, false))
        idx = rcl__owner(rt, (int)rcluster_slot(key, klen));
    return idx < 0 ? NULL : rt->nodes[idx]->pool;
}

bool rroute_is_cluster(rroute *rt)
{
    return atomic_load(&rt->cluster);
}

size_t rroute_masters(rroute *rt, rpool **out, size_t max)
{
    if (!atomic_load(&rt->cluster)) {
        if (max == 0)
            return 0;
        out[0] = rt->single;
        return 1;
    }
    size_t n = atomic_load(&rt->nnodes), k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        if (atomic_load(&rt->nodes[i]->master))
            out[k++] = rt->nodes[i]->pool;
    return k;
}

bool rroute_available(rroute *rt)
{
    if (!atomic_load(&rt->cluster))
        return rpool_available(rt->single);
    if (!atomic_load(&rt->covered))
        return false;
    size_t n = atomic_load(&rt->nnodes);
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&rt->nodes[i]->master) && !rpool_available(rt->nodes[i]->pool))
            return false;
    return true;
}

/* Sum of one pool counter over every pool. */
static uint64_t rcl__sum(rroute *rt, uint64_t (*get)(rpool *))
{
    if (!atomic_load(&rt->cluster))
        return get(rt->single);
    uint64_t sum = 0;
    size_t n = atomic_load(&rt->nnodes);
    for (size_t i = 0; i < n; i++)
        sum += get(rt->nodes[i]->pool);
    return sum;
}

uint64_t rroute_reconnects(rroute *rt)
{
    return rcl__sum(rt, rpool_reconnects);
}

uint64_t rroute_errors(rroute *rt)
{
    return rcl__sum(rt, rpool_errors);
}

uint64_t rroute_moved(rroute *rt)
{
    return atomic_load(&rt->moved);
}

uint64_t rroute_ask(rroute *rt)
{
    return atomic_load(&rt->ask);
}

uint64_t rroute_replica_reads(rroute *rt)
{
    return atomic_load(&rt->replica_reads);
}

/* CLUSTER INFO of one master: 0 when it answers cluster_state:ok. */
static int rcl__check_node(rcl_node *nd, char *reason, size_t n)
{
    const char *argv[2] = { "CLUSTER", "INFO" };
    size_t lens[2] = { 7, 4 };
    rpool_cmd cmd = { 2, argv, lens };
    redisReply *r = NULL;
    if (rpool_exec(nd->pool, 1, &cmd, &r) != 0) {
        snprintf(reason, n, "Redis Cluster master %.100s:%d is unreachable", nd->host, nd->port);
        return RAGD_EUNAVAIL;
    }
    int rc = 0;
    if (r->type != REDIS_REPLY_STRING || !strstr(r->str, "cluster_state:ok")) {
        snprintf(reason, n, "Redis Cluster master %.100s:%d reports cluster_state:fail", nd->host,
                 nd->port);
        rc = RAGD_EUNAVAIL;
    }
    freeReplyObject(r);
    return rc;
}

int rroute_check(rroute *rt, char *reason, size_t n)
{
    if (!atomic_load(&rt->cluster)) {
        const char *argv[1] = { "PING" };
        size_t lens[1] = { 4 };
        rpool_cmd cmd = { 1, argv, lens };
        redisReply *r = NULL;
        int rc = rpool_exec(rt->single, 1, &cmd, &r);
        if (rc == 0)
            freeReplyObject(r);
        else
            snprintf(reason, n, "Redis is unreachable");
        return rc ? RAGD_EUNAVAIL : 0;
    }
    rcl__refresh(rt, false);
    size_t uncovered = 0, masters = 0, answered = 0;
    for (size_t s = 0; s < RCLUSTER_SLOTS; s++)
        uncovered += atomic_load_explicit(&rt->slot[s], memory_order_relaxed) == RCL_NO_NODE;
    if (uncovered)
        snprintf(reason, n, "Redis Cluster: %zu of %d slots have no master", uncovered,
                 RCLUSTER_SLOTS);
    size_t nn = atomic_load(&rt->nnodes);
    for (size_t i = 0; i < nn; i++) {
        if (!atomic_load(&rt->nodes[i]->master))
            continue;
        masters++;
        char why[256];
        int rc = rcl__check_node(rt->nodes[i], why, sizeof why);
        answered += rc != RAGD_EUNAVAIL || strstr(why, "cluster_state") != NULL;
        if (rc && !reason[0])
            snprintf(reason, n, "%s", why);
    }
    if (answered == 0) {
        if (!reason[0] || masters == 0)
            snprintf(reason, n, "Redis Cluster: no master answers");
        return RAGD_EUNAVAIL;
    }
    return 0;
}
