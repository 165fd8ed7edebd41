/*
 * store_redis_log.c - following Redis Streams: the parser of stream entries
 * shared with store_redis.c's XRANGE reads, and store_log_wait's XREAD BLOCK
 * over many streams at once. A blocked XREAD holds its connection for the
 * whole wait, so waits run on connections of their own (kept in a small idle
 * set here), never on the shared pool's: followers cannot starve requests.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/redis_conn.h"
#include "store/store_int.h"
#include "util/mem.h"

#define RS_WAIT_IDLE_MAX 4
#define RS_WAIT_COUNT_STR "512" /* STORE_LOG_WAIT_MAX */

struct rs_waitpool {
    rpool *pool;
    pthread_mutex_t mu; /* guards idle, nidle */
    rconn *idle[RS_WAIT_IDLE_MAX];
    int nidle;
};

int rs__log_entries(const struct redisReply *r, store_log_fn fn, void *ud, uint64_t *next)
{
    *next = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            return RAGD_EIO;
        const char *dash = memchr(e->element[0]->str, '-', e->element[0]->len);
        uint64_t seq = dash ? strtoull(dash + 1, NULL, 10) : 0;
        const redisReply *f = e->element[1];
        const char *data = "";
        size_t dlen = 0;
        if (f->type == REDIS_REPLY_ARRAY && f->elements >= 2 &&
            f->element[1]->type == REDIS_REPLY_STRING) {
            data = f->element[1]->str;
            dlen = f->element[1]->len;
        }
        if (fn(ud, seq, data, dlen) != 0)
            return 0;
        *next = seq;
    }
    return 0;
}

struct rs_waitpool *rs__waitpool_create(rpool *pool)
{
    struct rs_waitpool *w = xcalloc(1, sizeof *w);
    w->pool = pool;
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void rs__waitpool_destroy(struct rs_waitpool *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nidle; i++)
        rpool_conn_close(w->idle[i]);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static int rs__wait_acquire(struct rs_waitpool *w, rconn **out)
{
    pthread_mutex_lock(&w->mu);
    rconn *c = w->nidle ? w->idle[--w->nidle] : NULL;
    pthread_mutex_unlock(&w->mu);
    if (c) {
        *out = c;
        return 0;
    }
    return rpool_conn_open(w->pool, out);
}

static void rs__wait_release(struct rs_waitpool *w, rconn *c, bool healthy)
{
    pthread_mutex_lock(&w->mu);
    if (healthy && w->nidle < RS_WAIT_IDLE_MAX) {
        w->idle[w->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (c)
        rpool_conn_close(c);
}

/* One log's delivery: the caller's callback with its log's index. */
typedef struct rs_wait_ctx {
    store_log_multi_fn fn;
    void *ud;
    size_t idx;
    bool stop;
} rs_wait_ctx;

static int rs__wait_one(void *ud, uint64_t seq, const void *rec, size_t len)
{
    rs_wait_ctx *c = ud;
    c->stop = c->fn(c->ud, c->idx, seq, rec, len) != 0;
    return c->stop;
}

/* XREAD's reply: nil on timeout, else [[stream, [entries]], ...]. */
static int rs__wait_reply(const redisReply *r, const char *const *logs, const size_t *lens,
                          size_t n, store_log_multi_fn fn, void *ud)
{
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type == REDIS_REPLY_ERROR)
        return RAGD_EIO;
    if (r->type != REDIS_REPLY_ARRAY)
        return RAGD_EIO;
    rs_wait_ctx ctx = { fn, ud, 0, false };
    for (size_t i = 0; i < r->elements && !ctx.stop; i++) {
        const redisReply *s = r->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
            s->element[0]->type != REDIS_REPLY_STRING || s->element[1]->type != REDIS_REPLY_ARRAY)
            return RAGD_EIO;
        ctx.idx = n;
        for (size_t k = 0; k < n && ctx.idx == n; k++)
            if (lens[k] == s->element[0]->len && memcmp(logs[k], s->element[0]->str, lens[k]) == 0)
                ctx.idx = k;
        if (ctx.idx == n)
            return RAGD_EIO;
        uint64_t next;
        int rc = rs__log_entries(s->element[1], rs__wait_one, &ctx, &next);
        if (rc)
            return rc;
    }
    return 0;
}

int rs__log_wait(struct rs_waitpool *w, const char *const *logs, const size_t *lens,
                 const uint64_t *after, size_t n, int timeout_ms, store_log_multi_fn fn,
                 void *ud)
{
    size_t argc = 6 + 2 * n;
    const char **argv = xmalloc(argc * sizeof *argv);
    size_t *alen = xmalloc(argc * sizeof *alen);
    char (*ids)[32] = xmalloc(n * sizeof *ids);
    char block[24];
    snprintf(block, sizeof block, "%d", timeout_ms > 0 ? timeout_ms : 1);
    const char *head[6] = { "XREAD", "COUNT", RS_WAIT_COUNT_STR, "BLOCK", block, "STREAMS" };
    for (size_t i = 0; i < 6; i++) {
        argv[i] = head[i];
        alen[i] = strlen(head[i]);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "0-%" PRIu64, after[i]);
        argv[6 + i] = logs[i];
        alen[6 + i] = lens[i];
        argv[6 + n + i] = ids[i];
        alen[6 + n + i] = strlen(ids[i]);
    }
    rconn *c = NULL;
    int rc = rs__wait_acquire(w, &c);
    redisReply *r = NULL;
    if (rc == 0) {
        rpool_cmd cmd = { (int)argc, argv, alen };
        rc = rpool_conn_exec(w->pool, c, 1, &cmd, &r, timeout_ms);
        rs__wait_release(w, c, rc == 0);
    }
    if (rc == 0) {
        rc = rs__wait_reply(r, logs, lens, n, fn, ud);
        freeReplyObject(r);
    }
    free(ids);
    free(alen);
    free(argv);
    return rc;
}
