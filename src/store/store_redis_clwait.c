/*
 * store_redis_clwait.c - store_log_wait on Redis Cluster. One XREAD cannot
 * name streams of several slots, so the logs are grouped by slot and each group
 * blocks in its own XREAD BLOCK on a connection of its own to the slot's master
 * (never one of the shared pool's, so followers cannot starve requests); the
 * call poll()s them all. When one answers with records, the reads still blocked
 * are released with CLIENT UNBLOCK (sent through the node's pool) and their
 * replies read as well, so every connection is back in step and what raced in
 * is delivered too. An idle follower thus costs one XREAD per slot per wait
 * instead of one per log every few milliseconds. A group that answers an error
 * (MOVED while a slot migrates) or loses its connection is read once more
 * through the router (rs__log_poll), which follows redirections and refreshes
 * the slot map.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_redis_int.h"
#include "util/clock.h"
#include "util/mem.h"

#define RS_CLW_IDLE_MAX 64
#define RS_CLW_COUNT "512"  /* STORE_LOG_WAIT_MAX */
#define RS_CLW_REPLY_MS 1000 /* an answer's grace after BLOCK or UNBLOCK */
#define RS_CLW_RETRY_MS 10    /* a failed group's read through the router */

/* A connection for blocking reads, with its CLIENT ID for CLIENT UNBLOCK. */
typedef struct rs_clw_conn {
    rpool *pool;
    rconn *c;
    char id[24];
} rs_clw_conn;

struct rs_clwait {
    rroute *rt;
    pthread_mutex_t mu; /* guards idle, nidle */
    rs_clw_conn idle[RS_CLW_IDLE_MAX];
    int nidle;
};

/* One slot's logs and its read in flight. */
typedef struct rs_clw_group {
    size_t *idx; /* the logs' indices in the caller's arrays (borrowed) */
    size_t n;
    rs_clw_conn conn; /* conn.c NULL: none (no master, or lost) */
    redisReply *reply;
    bool failed; /* read again through the router */
} rs_clw_group;

struct rs_clwait *rs__clwait_create(rroute *rt)
{
    struct rs_clwait *w = xcalloc(1, sizeof *w);
    w->rt = rt;
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void rs__clwait_destroy(struct rs_clwait *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nidle; i++)
        rpool_conn_close(w->idle[i].c);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* An idle connection to pool's server, or a new one with its CLIENT ID. */
static int rs__clw_acquire(struct rs_clwait *w, rpool *pool, rs_clw_conn *out)
{
    pthread_mutex_lock(&w->mu);
    for (int i = w->nidle - 1; i >= 0; i--) {
        if (w->idle[i].pool == pool) {
            *out = w->idle[i];
            w->idle[i] = w->idle[--w->nidle];
            pthread_mutex_unlock(&w->mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&w->mu);
    rconn *c;
    int rc = rpool_conn_open(pool, &c);
    if (rc)
        return rc;
    const char *argv[2] = { "CLIENT", "ID" };
    size_t lens[2] = { 6, 2 };
    rpool_cmd cmd = { 2, argv, lens };
    redisReply *r = NULL;
    rc = rpool_conn_exec(pool, c, 1, &cmd, &r, 0);
    if (rc == 0 && r->type != REDIS_REPLY_INTEGER)
        rc = RAGD_EIO;
    if (rc == 0)
        snprintf(out->id, sizeof out->id, "%lld", r->integer);
    if (r)
        freeReplyObject(r);
    if (rc) {
        rpool_conn_close(c);
        return rc;
    }
    out->pool = pool;
    out->c = c;
    return 0;
}

/* Back to the idle set (closed when unhealthy or the set is full). */
static void rs__clw_release(struct rs_clwait *w, rs_clw_conn *k, bool healthy)
{
    if (!k->c)
        return;
    pthread_mutex_lock(&w->mu);
    if (healthy && w->nidle < RS_CLW_IDLE_MAX) {
        w->idle[w->nidle++] = *k;
        k->c = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (k->c)
        rpool_conn_close(k->c);
    k->c = NULL;
}

/* Group the logs by slot: *groups in the order of each slot's first log, their
 * indices in *idx (caller frees both); returns how many groups. */
static size_t rs__clw_group(const char *const *logs, const size_t *lens, size_t n,
                            rs_clw_group **groups, size_t **idxs)
{
    unsigned *slot = xmalloc(n * sizeof *slot);
    size_t *idx = xmalloc(n * sizeof *idx), ng = 0, k = 0;
    bool *taken = xcalloc(n, sizeof *taken);
    rs_clw_group *g = xcalloc(n, sizeof *g);
    for (size_t i = 0; i < n; i++)
        slot[i] = rcluster_slot(logs[i], lens[i]);
    for (size_t i = 0; i < n; i++) {
        if (taken[i])
            continue;
        g[ng].idx = idx + k;
        for (size_t j = i; j < n; j++)
            if (!taken[j] && slot[j] == slot[i]) {
                taken[j] = true;
                idx[k++] = j;
                g[ng].n++;
            }
        ng++;
    }
    free(taken);
    free(slot);
    *groups = g;
    *idxs = idx;
    return ng;
}

/* Send group g's XREAD BLOCK on a connection of its own to its slot's master. */
static void rs__clw_send(struct rs_clwait *w, rs_clw_group *g, const char *const *logs,
                         const size_t *lens, const uint64_t *after, int timeout_ms)
{
    rpool *pool = rroute_pool(w->rt, logs[g->idx[0]], lens[g->idx[0]]);
    if (!pool || rs__clw_acquire(w, pool, &g->conn) != 0) {
        g->failed = true;
        return;
    }
    size_t argc = 6 + 2 * g->n;
    const char **argv = xmalloc(argc * sizeof *argv);
    size_t *alen = xmalloc(argc * sizeof *alen);
    char (*ids)[32] = xmalloc(g->n * sizeof *ids), block[24];
    snprintf(block, sizeof block, "%d", timeout_ms > 0 ? timeout_ms : 1);
    const char *head[6] = { "XREAD", "COUNT", RS_CLW_COUNT, "BLOCK", block, "STREAMS" };
    for (size_t i = 0; i < 6; i++) {
        argv[i] = head[i];
        alen[i] = strlen(head[i]);
    }
    for (size_t i = 0; i < g->n; i++) {
        size_t l = g->idx[i];
        snprintf(ids[i], sizeof ids[i], "0-%" PRIu64, after[l]);
        argv[6 + i] = logs[l];
        alen[6 + i] = lens[l];
        argv[6 + g->n + i] = ids[i];
        alen[6 + g->n + i] = strlen(ids[i]);
    }
    rpool_cmd cmd = { (int)argc, argv, alen };
    if (rconn_send(g->conn.c, 1, &cmd, RS_CLW_REPLY_MS) != 0) {
        rs__clw_release(w, &g->conn, false);
        g->failed = true;
    }
    free(ids);
    free(alen);
    free(argv);
}

/* Read group g's reply (waiting up to wait_ms); a lost connection fails it. */
static void rs__clw_read(struct rs_clwait *w, rs_clw_group *g, int wait_ms)
{
    if (!g->conn.c || g->reply)
        return;
    if (rconn_read(g->conn.c, &g->reply, wait_ms) != 0) {
        g->reply = NULL;
        rs__clw_release(w, &g->conn, false);
        g->failed = true;
        return;
    }
    if (g->reply->type == REDIS_REPLY_ERROR) /* MOVED, CLUSTERDOWN...: the router's turn */
        g->failed = true;
    rs__clw_release(w, &g->conn, true);
}

/* Wait until one group answers or the deadline passes; true if one did. */
static bool rs__clw_poll(struct rs_clwait *w, rs_clw_group *g, size_t ng, int64_t deadline)
{
    struct pollfd *pfd = xmalloc(ng * sizeof *pfd);
    size_t *of = xmalloc(ng * sizeof *of), np = 0;
    bool any = false;
    for (size_t i = 0; i < ng; i++)
        if (g[i].conn.c) {
            pfd[np] = (struct pollfd){ rconn_fd(g[i].conn.c), POLLIN, 0 };
            of[np++] = i;
        }
    while (np && !any) {
        int64_t left = deadline - clock_mono_us() / 1000;
        int k = poll(pfd, np, left > 0 ? (int)left : 0);
        if (k == 0)
            break;
        for (size_t p = 0; k > 0 && p < np; p++)
            if (pfd[p].revents) {
                rs__clw_read(w, &g[of[p]], RS_CLW_REPLY_MS);
                any = true;
            }
    }
    free(of);
    free(pfd);
    return any;
}

/* Release the reads still blocked (CLIENT UNBLOCK on their node) and read
 * their replies: a nil, or records that raced in. */
static void rs__clw_unblock(struct rs_clwait *w, rs_clw_group *g, size_t ng)
{
    for (size_t i = 0; i < ng; i++) {
        if (!g[i].conn.c || g[i].reply)
            continue;
        const char *argv[3] = { "CLIENT", "UNBLOCK", g[i].conn.id };
        size_t lens[3] = { 6, 7, strlen(g[i].conn.id) };
        rpool_cmd cmd = { 3, argv, lens };
        redisReply *r = NULL;
        if (rpool_exec(g[i].conn.pool, 1, &cmd, &r) == 0)
            freeReplyObject(r);
    }
    for (size_t i = 0; i < ng; i++)
        rs__clw_read(w, &g[i], RS_CLW_REPLY_MS);
}

/* The caller's callback, with a group's log index mapped back to the caller's. */
typedef struct rs_clw_ctx {
    store_log_multi_fn fn;
    void *ud;
    const size_t *idx;
    size_t delivered;
    bool stop;
} rs_clw_ctx;

static int rs__clw_one(void *ud, size_t i, uint64_t seq, const void *rec, size_t len)
{
    rs_clw_ctx *c = ud;
    c->delivered++;
    c->stop = c->fn(c->ud, c->idx[i], seq, rec, len) != 0;
    return c->stop;
}

/* Deliver every group's records in group order; failed groups are read again
 * through the router (for a few ms, so a slot in migration that answers ASK at
 * once is not asked in a tight loop). Returns the first error when nothing came. */
static int rs__clw_deliver(struct rs_clwait *w, rs_clw_group *g, size_t ng,
                           const char *const *logs, const size_t *lens, const uint64_t *after,
                           store_log_multi_fn fn, void *ud)
{
    rs_clw_ctx ctx = { fn, ud, NULL, 0, false };
    int err = 0;
    for (size_t i = 0; i < ng && !ctx.stop; i++) {
        const char **names = xmalloc(g[i].n * sizeof *names);
        size_t *nl = xmalloc(g[i].n * sizeof *nl);
        uint64_t *na = xmalloc(g[i].n * sizeof *na);
        for (size_t k = 0; k < g[i].n; k++) {
            names[k] = logs[g[i].idx[k]];
            nl[k] = lens[g[i].idx[k]];
            na[k] = after[g[i].idx[k]];
        }
        ctx.idx = g[i].idx;
        int rc = g[i].failed ? rs__log_poll(w->rt, names, nl, na, g[i].n, RS_CLW_RETRY_MS,
                                            rs__clw_one, &ctx)
                             : g[i].reply ? rs__wait_reply(g[i].reply, names, nl, g[i].n,
                                                           rs__clw_one, &ctx)
                                          : 0;
        err = err ? err : rc;
        free(na);
        free(nl);
        free(names);
    }
    return ctx.delivered ? 0 : err;
}

/* Did any group answer something other than a timeout, or fail? Then the
 * reads still blocked are released rather than waited out. */
static bool rs__clw_answered(const rs_clw_group *g, size_t ng)
{
    for (size_t i = 0; i < ng; i++)
        if (g[i].failed || (g[i].reply && g[i].reply->type != REDIS_REPLY_NIL))
            return true;
    return false;
}

/* Close every connection still in flight (its reply would come out of step). */
static void rs__clw_drop(struct rs_clwait *w, rs_clw_group *g, size_t ng)
{
    for (size_t i = 0; i < ng; i++)
        rs__clw_release(w, &g[i].conn, false);
}

int rs__log_wait_cluster(struct rs_clwait *w, const char *const *logs, const size_t *lens,
                         const uint64_t *after, size_t n, int timeout_ms, store_log_multi_fn fn,
                         void *ud)
{
    rs_clw_group *g;
    size_t *idx;
    size_t ng = rs__clw_group(logs, lens, n, &g, &idx);
    bool sent = true;
    for (size_t i = 0; i < ng && sent; i++) {
        rs__clw_send(w, &g[i], logs, lens, after, timeout_ms);
        sent = !g[i].failed;
    }
    int rc;
    int64_t deadline = clock_mono_us() / 1000 + (timeout_ms > 0 ? timeout_ms : 0) + RS_CLW_REPLY_MS;
    if (!sent) {
        /* No master for a slot, or no connection of its own (refused CLIENT ID,
         * a node down): the non-blocking rounds, which wait as long. */
        rs__clw_drop(w, g, ng);
        rc = rs__log_poll(w->rt, logs, lens, after, n, timeout_ms, fn, ud);
    } else if (!rs__clw_poll(w, g, ng, deadline)) {
        rs__clw_drop(w, g, ng); /* not even a timeout's nil came back */
        rc = RAGD_EUNAVAIL;
    } else {
        if (rs__clw_answered(g, ng))
            rs__clw_unblock(w, g, ng);
        else
            for (size_t i = 0; i < ng; i++) /* timed out together: their nils are due */
                rs__clw_read(w, &g[i], RS_CLW_REPLY_MS);
        rc = rs__clw_deliver(w, g, ng, logs, lens, after, fn, ud);
    }
    for (size_t i = 0; i < ng; i++)
        if (g[i].reply)
            freeReplyObject(g[i].reply);
    free(idx);
    free(g);
    return rc;
}
