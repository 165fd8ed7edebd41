/*
 * store_redis_log.c - Redis Streams as change logs: the parser of stream
 * entries shared with store_redis.c's XRANGE reads, store_log_wait's XREAD
 * BLOCK over many streams at once, and batches with checks and a log record
 * in one Lua script. A blocked XREAD holds its connection for the whole wait,
 * so waits run on connections of their own (kept in a small idle set here),
 * never on the shared pool's: followers cannot starve requests. The store's
 * log operations (append, read by XRANGE, delete, trim, bounds) end the file.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_redis_int.h"
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
int rs__wait_reply(const redisReply *r, const char *const *logs, const size_t *lens,
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

/* rs__log_poll's delivery: the index of the log in the caller's array. */
typedef struct rs_poll_ctx {
    store_log_multi_fn fn;
    void *ud;
    size_t idx;
    size_t delivered;
} rs_poll_ctx;

static int rs__poll_one(void *ud, size_t idx, uint64_t seq, const void *rec, size_t len)
{
    rs_poll_ctx *c = ud;
    (void)idx;
    c->delivered++;
    return c->fn(c->ud, c->idx, seq, rec, len);
}

#define RS_POLL_SLEEP_MS 10

int rs__log_poll(rroute *rt, const char *const *logs, const size_t *lens, const uint64_t *after,
                 size_t n, int timeout_ms, store_log_multi_fn fn, void *ud)
{
    rs_poll_ctx ctx = { fn, ud, 0, 0 };
    for (int waited = 0;; waited += RS_POLL_SLEEP_MS) {
        for (size_t i = 0; i < n; i++) {
            char id[32];
            snprintf(id, sizeof id, "0-%" PRIu64, after[i]);
            const char *argv[6] = { "XREAD", "COUNT", RS_WAIT_COUNT_STR, "STREAMS", logs[i], id };
            size_t alen[6] = { 5, 5, strlen(RS_WAIT_COUNT_STR), 7, lens[i], strlen(id) };
            rpool_cmd cmd = { 6, argv, alen };
            redisReply *r = NULL;
            int rc = rroute_exec(rt, logs[i], lens[i], 1, &cmd, &r);
            if (rc)
                return rc;
            ctx.idx = i;
            rc = rs__wait_reply(r, logs + i, lens + i, 1, rs__poll_one, &ctx);
            freeReplyObject(r);
            if (rc)
                return rc;
        }
        if (ctx.delivered || waited >= timeout_ms)
            return 0;
        struct timespec ts = { 0, RS_POLL_SLEEP_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* ---- batches with checks ---- */

/* KEYS: checks' keys, ops' keys, [log]. ARGV: nc, nops, has_log, rec, keep,
 * then kind + value per check, then is_set + value + ttl_ms per op. Returns
 * {0, seq} once written, {-1, index} when a check fails (nothing written). */
#define RS_BATCH_IF_SRC                                                                      \
    "local nc, no = tonumber(ARGV[1]), tonumber(ARGV[2])\n"                                  \
    "local a = 6\n"                                                                          \
    "for i = 1, nc do\n"                                                                     \
    "  local kind, want = ARGV[a], ARGV[a + 1]\n"                                            \
    "  a = a + 2\n"                                                                          \
    "  local cur = redis.call('GET', KEYS[i])\n"                                             \
    "  if (kind == '1' and cur) or (kind == '2' and not cur) or\n"                           \
    "     (kind == '3' and cur ~= want) then return {-1, i - 1} end\n"                       \
    "end\n"                                                                                  \
    "for i = 1, no do\n"                                                                     \
    "  local k = KEYS[nc + i]\n"                                                             \
    "  if ARGV[a] == '1' then\n"                                                             \
    "    if ARGV[a + 2] ~= '0' then redis.call('SET', k, ARGV[a + 1], 'PX', ARGV[a + 2])\n" \
    "    else redis.call('SET', k, ARGV[a + 1]) end\n"                                       \
    "  else redis.call('DEL', k) end\n"                                                      \
    "  a = a + 3\n"                                                                          \
    "end\n"                                                                                  \
    "if ARGV[3] ~= '1' then return {0, 0} end\n"                                             \
    "local log = KEYS[nc + no + 1]\n"                                                        \
    "local last = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)\n"                      \
    "local seq = 1\n"                                                                        \
    "if #last > 0 then seq = tonumber(string.match(last[1][1], '%-(%d+)$')) + 1 end\n"      \
    "redis.call('XADD', log, 'MAXLEN', '~', ARGV[5], '0-' .. string.format('%d', seq), "     \
    "'d', ARGV[4])\n"                                                                        \
    "return {0, seq}\n"

/* The script's reply into *seq / *failed. */
static int rs__batch_if_reply(const redisReply *r, size_t *failed, uint64_t *seq)
{
    if (r->type == REDIS_REPLY_ERROR)
        return strstr(r->str, "OOM") ? RAGD_EFULL
               : strstr(r->str, "WRONGTYPE") ? RAGD_EINVAL : RAGD_EIO;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER)
        return RAGD_EIO;
    if (r->element[0]->integer != 0) {
        *failed = (size_t)r->element[1]->integer;
        return RAGD_ECONFLICT;
    }
    if (r->element[1]->integer > 0)
        *seq = (uint64_t)r->element[1]->integer;
    return 0;
}

int rs__batch_if(rs_exec_fn exec, void *ctx, const char *keep, const char *rkey, size_t rklen,
                 const store_check *checks, size_t nc, size_t *failed, const store_op *ops,
                 size_t n, const char *log, size_t loglen, const void *rec, size_t len,
                 uint64_t *seq)
{
    size_t nkeys = nc + n + (log ? 1 : 0);
    size_t argc = 3 + nkeys + 5 + 2 * nc + 3 * n;
    const char **argv = xmalloc(argc * sizeof *argv);
    size_t *al = xmalloc(argc * sizeof *al);
    char (*num)[24] = xmalloc((4 + n) * sizeof *num);
    size_t k = 0;
#define RS_ARG(p, l) (argv[k] = (p), al[k] = (l), k++)
    snprintf(num[0], sizeof num[0], "%zu", nkeys);
    snprintf(num[1], sizeof num[1], "%zu", nc);
    snprintf(num[2], sizeof num[2], "%zu", n);
    snprintf(num[3], sizeof num[3], "%s", keep);
    RS_ARG("EVAL", 4);
    RS_ARG(RS_BATCH_IF_SRC, strlen(RS_BATCH_IF_SRC));
    RS_ARG(num[0], strlen(num[0]));
    for (size_t i = 0; i < nc; i++)
        RS_ARG(checks[i].key, checks[i].klen);
    for (size_t i = 0; i < n; i++)
        RS_ARG(ops[i].key, ops[i].klen);
    if (log)
        RS_ARG(log, loglen);
    RS_ARG(num[1], strlen(num[1]));
    RS_ARG(num[2], strlen(num[2]));
    RS_ARG(log ? "1" : "0", 1);
    RS_ARG(rec ? rec : "", rec ? len : 0);
    RS_ARG(num[3], strlen(num[3]));
    for (size_t i = 0; i < nc; i++) {
        static const char *const kinds[4] = { "0", "1", "2", "3" };
        RS_ARG(kinds[checks[i].kind & 3], 1);
        RS_ARG(checks[i].val ? checks[i].val : "", checks[i].val ? checks[i].vlen : 0);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(num[4 + i], sizeof num[4 + i], "%lld", (long long)ops[i].ttl_ms);
        RS_ARG(ops[i].val ? "1" : "0", 1);
        RS_ARG(ops[i].val ? ops[i].val : "", ops[i].val ? ops[i].vlen : 0);
        RS_ARG(num[4 + i], strlen(num[4 + i]));
    }
#undef RS_ARG
    rpool_cmd cmd = { (int)k, argv, al };
    redisReply *r = NULL;
    int rc = exec(ctx, rkey, rklen, 1, &cmd, &r);
    if (rc == 0) {
        rc = rs__batch_if_reply(r, failed, seq);
        freeReplyObject(r);
    }
    free(num);
    free(al);
    free(argv);
    return rc;
}

/* ---- the log operations of the store ---- */

int rs__log_append(void *impl, const char *log, size_t loglen, const void *rec,
                         size_t len, uint64_t *seq)
{
    rs_store *s = impl;
    const char *args[2] = { rec, s->log_keep };
    size_t lens[2] = { len, strlen(s->log_keep) };
    return rs__script(impl, RS_LOG_APPEND, log, loglen, 2, args, lens, rs__reply_seq, seq);
}

int rs__log_read(void *impl, const char *log, size_t loglen, uint64_t after_seq,
                       store_log_fn fn, void *ud)
{
    const uint64_t page = 512;
    for (;;) {
        if (after_seq == UINT64_MAX)
            return 0;
        char start[32];
        snprintf(start, sizeof start, "0-%" PRIu64, after_seq + 1);
        const char *argv[6] = { "XRANGE", log, start, "+", "COUNT", "512" };
        size_t lens[6] = { 6, loglen, strlen(start), 1, 5, 3 };
        redisReply *r = NULL;
        int rc = rs__call(impl, log, loglen, 6, argv, lens, &r);
        if (rc)
            return rc;
        uint64_t next = 0;
        rc = r->type == REDIS_REPLY_ARRAY ? rs__log_entries(r, fn, ud, &next) : RAGD_EIO;
        bool more = rc == 0 && next && r->elements == page;
        freeReplyObject(r);
        if (!more)
            return rc;
        after_seq = next;
    }
}

int rs__log_delete(void *impl, const char *log, size_t loglen)
{
    return rs__key_cmd(impl, "UNLINK", log, loglen, NULL, NULL);
}

/* The seq of the one entry of an XRANGE/XREVRANGE ... COUNT 1 reply (0 = none). */
static uint64_t rs__edge_seq(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements < 1 ||
        r->element[0]->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const redisReply *id = r->element[0]->element[0];
    const char *dash = memchr(id->str, '-', id->len);
    return dash ? strtoull(dash + 1, NULL, 10) : 0;
}

int rs__log_trim(void *impl, const char *log, size_t loglen, uint64_t keep)
{
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)keep);
    const char *argv[5] = { "XTRIM", log, "MAXLEN", "~", n };
    size_t lens[5] = { 5, loglen, 6, 1, strlen(n) };
    return rs__cmd(impl, log, loglen, 5, argv, lens, NULL, NULL);
}

int rs__log_bounds(void *impl, const char *log, size_t loglen, uint64_t *first,
                          uint64_t *last)
{
    rs_store *s = impl;
    const char *fa[6] = { "XRANGE", log, "-", "+", "COUNT", "1" };
    const char *la[6] = { "XREVRANGE", log, "+", "-", "COUNT", "1" };
    size_t fl[6] = { 6, loglen, 1, 1, 5, 1 }, ll[6] = { 9, loglen, 1, 1, 5, 1 };
    rpool_cmd cmds[2] = { { 6, fa, fl }, { 6, la, ll } };
    redisReply *r[2] = { NULL, NULL };
    int rc = rs__exec(s, log, loglen, 2, cmds, r);
    if (rc)
        return rc;
    if (r[0]->type == REDIS_REPLY_ERROR || r[1]->type == REDIS_REPLY_ERROR)
        rc = rs__reply_err(r[0]->type == REDIS_REPLY_ERROR ? r[0] : r[1]);
    else {
        *first = rs__edge_seq(r[0]);
        *last = rs__edge_seq(r[1]);
    }
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rc;
}
