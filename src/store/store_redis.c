/*
 * store_redis.c - the Redis backend: every store operation as Redis commands
 * over the pool in redis_pool.c (or the cluster router). Plain commands where
 * one suffices (GET+PTTL pipelined, SET ... PX [NX], DEL, PTTL), Lua scripts
 * for multi-step atomic operations (incr with a TTL on creation, cas,
 * expire/persist, log append) sent through store_redis_cmd.c; MULTI/EXEC for
 * batches; the ops table and opening. Scans, pattern deletes and stats are in
 * store_redis_scan.c, change logs (a Stream per log, ids "0-<seq>") in
 * store_redis_log.c. Keys are readable with redis-cli --scan.
 */
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/store_redis_int.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/mem.h"

static const char *const rs__script_src[RS_NSCRIPTS] = {
    /* KEYS[1] counter; ARGV delta, ttl_ms. TTL only when the key is created;
     * the value comes back as a string so int64 survives Lua's doubles. */
    "local existed = redis.call('EXISTS', KEYS[1])\n"
    "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if existed == 0 and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return redis.call('GET', KEYS[1])\n",
    /* ARGV has_expect, expect, has_val, val, ttl_ms. 1 = written, 0 = conflict. */
    "local cur = redis.call('GET', KEYS[1])\n"
    "if ARGV[1] == '1' then\n"
    "  if cur ~= ARGV[2] then return 0 end\n"
    "elseif cur then return 0 end\n"
    "if ARGV[3] == '1' then\n"
    "  if ARGV[5] ~= '0' then redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])\n"
    "  else redis.call('SET', KEYS[1], ARGV[4]) end\n"
    "elseif cur then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n",
    /* ARGV ttl_ms (0 = persist). 0 = no such key. */
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "else redis.call('PERSIST', KEYS[1]) end\n"
    "return 1\n",
    /* KEYS[1] stream; ARGV record, keep. Ids are 0-<seq>; trims to about keep
     * entries (MAXLEN ~); returns seq. */
    RS_LOG_APPEND_SRC,
};

/* ---- replies ---- */

/* An integer above 0 (EXISTS, DEL), else RAGD_ENOTFOUND. */
static int rs__reply_positive(const redisReply *r, void *ud)
{
    (void)ud;
    return r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? 0 : RAGD_ENOTFOUND;
}

/* A script's 1 = done; anything else is the code *(int *)ud. */
static int rs__reply_one(const redisReply *r, void *ud)
{
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? 0 : *(const int *)ud;
}

/* SET's reply: nil when NX found the key. */
static int rs__reply_set(const redisReply *r, void *ud)
{
    (void)ud;
    return r->type == REDIS_REPLY_NIL ? RAGD_EEXISTS : 0;
}

/* PTTL's reply into *(int64_t *)ud: -1 = no expiry, at least 1 otherwise. */
static int rs__reply_ttl(const redisReply *r, void *ud)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer == -2)
        return RAGD_ENOTFOUND;
    *(int64_t *)ud = r->integer == -1 ? -1 : r->integer > 0 ? r->integer : 1;
    return 0;
}

/* An int64 sent back as a string (so it survives Lua's doubles). */
static int rs__reply_i64_str(const redisReply *r, void *ud)
{
    int64_t v;
    if (r->type != REDIS_REPLY_STRING || !store__parse_i64(r->str, r->len, &v))
        return RAGD_EIO;
    *(int64_t *)ud = v;
    return 0;
}
/* ---- operations ---- */

static int rs__ping(void *impl)
{
    const char *argv[1] = { "PING" };
    size_t lens[1] = { 4 };
    int rc = rs__cmd(impl, NULL, 0, 1, argv, lens, NULL, NULL);
    return rc == RAGD_ETIMEOUT ? RAGD_EUNAVAIL : rc;
}

static int rs__health(void *impl, char *reason, size_t n)
{
    return rroute_check(((rs_store *)impl)->route, reason, n);
}

/* GET + PTTL of key, from a replica when stale and redis_read_replicas allow. */
static int rs__get_from(rs_store *s, const char *key, size_t klen, store_value *out, bool stale)
{
    const char *get[2] = { "GET", key }, *pttl[2] = { "PTTL", key };
    size_t glen[2] = { 3, klen }, plen[2] = { 4, klen };
    rpool_cmd cmds[2] = { { 2, get, glen }, { 2, pttl, plen } };
    redisReply *r[2];
    int rc = stale ? rroute_exec_read(s->route, key, klen, 2, cmds, r)
                   : rs__exec(s, key, klen, 2, cmds, r);
    if (rc)
        return rc;
    if (r[0]->type == REDIS_REPLY_ERROR) {
        rc = rs__reply_err(r[0]);
    } else if (r[0]->type != REDIS_REPLY_STRING) {
        rc = RAGD_ENOTFOUND;
    } else {
        void *buf = malloc(r[0]->len ? r[0]->len : 1);
        if (!buf) {
            rc = RAGD_ENOMEM;
        } else {
            memcpy(buf, r[0]->str, r[0]->len);
            out->data = buf;
            out->len = r[0]->len;
            long long ttl = r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : -1;
            out->expire_at_ms = ttl >= 0 ? clock_wall_ms() + ttl : 0;
        }
    }
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rc;
}

static int rs__get(void *impl, const char *key, size_t klen, store_value *out)
{
    return rs__get_from(impl, key, klen, out, false);
}

static int rs__get_stale(void *impl, const char *key, size_t klen, store_value *out)
{
    return rs__get_from(impl, key, klen, out, true);
}

static int rs__get_many(void *impl, const char *const *keys, const size_t *klens, size_t n,
                        store_value *out, int *rcs)
{
    rs_store *s = impl;
    rpool_cmd *cmds = xcalloc(n ? n : 1, sizeof *cmds);
    const char **argv = xmalloc(2 * (n ? n : 1) * sizeof *argv);
    size_t *lens = xmalloc(2 * (n ? n : 1) * sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        argv[2 * i] = "GET", lens[2 * i] = 3;
        argv[2 * i + 1] = keys[i], lens[2 * i + 1] = klens[i];
        cmds[i] = (rpool_cmd){ 2, argv + 2 * i, lens + 2 * i };
    }
    redisReply **r = xcalloc(n ? n : 1, sizeof *r);
    /* One pipeline to the node of the first key: callers read keys of one
     * namespace (one hash tag); on a cluster, keys of other slots go one by one. */
    bool one_slot = true;
    if (n > 1 && rroute_is_cluster(s->route)) {
        unsigned slot0 = rcluster_slot(keys[0], klens[0]);
        for (size_t i = 1; i < n && one_slot; i++)
            one_slot = rcluster_slot(keys[i], klens[i]) == slot0;
    }
    int rc = 0;
    if (n && one_slot)
        rc = rroute_exec(s->route, keys[0], klens[0], n, cmds, r);
    for (size_t i = 0; n && !one_slot && i < n; i++)
        if ((rc = rroute_exec(s->route, keys[i], klens[i], 1, &cmds[i], &r[i])) != 0) {
            for (size_t k = 0; k < i; k++)
                freeReplyObject(r[k]);
            break;
        }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        out[i] = (store_value){ 0 };
        if (r[i]->type == REDIS_REPLY_ERROR)
            rcs[i] = rs__reply_err(r[i]);
        else if (r[i]->type != REDIS_REPLY_STRING)
            rcs[i] = RAGD_ENOTFOUND;
        else {
            out[i].data = xmalloc(r[i]->len ? r[i]->len : 1);
            memcpy(out[i].data, r[i]->str, r[i]->len);
            out[i].len = r[i]->len;
            rcs[i] = 0;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        freeReplyObject(r[i]);
    free(r);
    free(lens);
    free(argv);
    free(cmds);
    return rc;
}

static int rs__exists(void *impl, const char *key, size_t klen)
{
    return rs__key_cmd(impl, "EXISTS", key, klen, rs__reply_positive, NULL);
}

/* Fill argv for SET key val [PX ttl] [NX]; returns argc. ttlbuf holds the digits. */
static int rs__set_args(const char **argv, size_t *lens, const char *key, size_t klen,
                    const void *val, size_t vlen, int64_t ttl_ms, bool nx, char ttlbuf[24])
{
    int n = 0;
    argv[n] = "SET";
    lens[n++] = 3;
    argv[n] = key;
    lens[n++] = klen;
    argv[n] = val;
    lens[n++] = vlen;
    if (ttl_ms > 0) {
        argv[n] = "PX";
        lens[n++] = 2;
        lens[n] = (size_t)snprintf(ttlbuf, 24, "%" PRId64, ttl_ms);
        argv[n++] = ttlbuf;
    }
    if (nx) {
        argv[n] = "NX";
        lens[n++] = 2;
    }
    return n;
}

static int rs__set(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
                  int64_t ttl_ms, unsigned flags)
{
    const char *argv[6];
    size_t lens[6];
    char ttlbuf[24];
    int argc = rs__set_args(argv, lens, key, klen, val, vlen, ttl_ms, flags & STORE_NX, ttlbuf);
    return rs__cmd(impl, key, klen, argc, argv, lens, rs__reply_set, NULL);
}

static int rs__del(void *impl, const char *key, size_t klen)
{
    return rs__key_cmd(impl, "DEL", key, klen, rs__reply_positive, NULL);
}

static int rs__ttl(void *impl, const char *key, size_t klen, int64_t *ttl_ms)
{
    return rs__key_cmd(impl, "PTTL", key, klen, rs__reply_ttl, ttl_ms);
}

static int rs__expire(void *impl, const char *key, size_t klen, int64_t ttl_ms)
{
    char buf[24];
    const char *args[1] = { buf };
    size_t lens[1] = { (size_t)snprintf(buf, sizeof buf, "%" PRId64, ttl_ms) };
    int missing = RAGD_ENOTFOUND;
    return rs__script(impl, RS_EXPIRE, key, klen, 1, args, lens, rs__reply_one, &missing);
}

static int rs__incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
                   int64_t *out)
{
    char d[24], t[24];
    const char *args[2] = { d, t };
    size_t lens[2] = { (size_t)snprintf(d, sizeof d, "%" PRId64, delta),
                       (size_t)snprintf(t, sizeof t, "%" PRId64, ttl_ms) };
    return rs__script(impl, RS_INCR, key, klen, 2, args, lens, rs__reply_i64_str, out);
}

static int rs__cas(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
                  const void *val, size_t vlen, int64_t ttl_ms, unsigned flags)
{
    (void)flags; /* eviction on Redis is the server's maxmemory policy */
    char t[24];
    const char *args[5] = { expect ? "1" : "0", expect ? expect : "", val ? "1" : "0",
                            val ? val : "", t };
    size_t lens[5] = { 1, expect ? elen : 0, 1, val ? vlen : 0,
                       (size_t)snprintf(t, sizeof t, "%" PRId64, ttl_ms) };
    int conflict = RAGD_ECONFLICT;
    return rs__script(impl, RS_CAS, key, klen, 5, args, lens, rs__reply_one, &conflict);
}
/* One op of a batch as SET or DEL into a, l; returns argc. */
static int rs__op_args(const store_op *op, const char **a, size_t *l, char *ttl)
{
    if (op->val)
        return rs__set_args(a, l, op->key, op->klen, op->val, op->vlen, op->ttl_ms, false, ttl);
    a[0] = "DEL";
    l[0] = 3;
    a[1] = op->key;
    l[1] = op->klen;
    return 2;
}

/* EXEC's reply: any error inside is the batch's error; with a log, the last
 * element is the appended record's seq. */
static int rs__exec_reply(const redisReply *last, bool has_log, uint64_t *seq)
{
    if (last->type == REDIS_REPLY_ERROR)
        return rs__reply_err(last);
    if (last->type != REDIS_REPLY_ARRAY)
        return RAGD_EIO;
    for (size_t i = 0; i < last->elements; i++)
        if (last->element[i]->type == REDIS_REPLY_ERROR)
            return rs__reply_err(last->element[i]);
    if (!has_log)
        return 0;
    return last->elements ? rs__reply_seq(last->element[last->elements - 1], seq) : RAGD_EIO;
}

/* The key a batch is routed by (its first op's, else its first check's, else
 * the log's). On a cluster MULTI/EXEC and scripts cannot span slots: a batch
 * whose writes and checks lie in several slots is refused with RAGD_EINVAL (and
 * a log line naming two of them) before anything is sent, rather than half
 * applied. A log in another slot than the writes sets *split: the writes are
 * applied (atomically, with their checks) and the record appended right after,
 * two steps instead of one (only the namespaces' log kb:nslog is written so). */
static int rs__batch_key(rs_store *s, const store_check *checks, size_t nchecks,
                         const store_op *ops, size_t n, const char *log, size_t loglen,
                         const char **key, size_t *klen, bool *split)
{
    *key = n ? ops[0].key : nchecks ? checks[0].key : log;
    *klen = n ? ops[0].klen : nchecks ? checks[0].klen : loglen;
    *split = false;
    if (!rroute_is_cluster(s->route))
        return 0;
    unsigned slot = rcluster_slot(*key, *klen);
    for (size_t i = 0; i < n + nchecks; i++) {
        const char *k = i < n ? ops[i].key : checks[i - n].key;
        size_t kl = i < n ? ops[i].klen : checks[i - n].klen;
        if (rcluster_slot(k, kl) != slot) {
            log_msg(LOG_WARN, "redis cluster: batch refused: keys %.*s and %.*s lie in different "
                    "slots (give them one hash tag)", (int)*klen, *key, (int)kl, k);
            return RAGD_EINVAL;
        }
    }
    *split = log && (n || nchecks) && rcluster_slot(log, loglen) != slot;
    return 0;
}
static int rs__batch(void *impl, const store_check *checks, size_t nchecks, size_t *failed,
                     const store_op *ops, size_t n, const char *log, size_t loglen,
                     const void *rec, size_t len, uint64_t *seq)
{
    rs_store *s = impl;
    const char *rkey;
    size_t rklen;
    bool split;
    int brc = rs__batch_key(s, checks, nchecks, ops, n, log, loglen, &rkey, &rklen, &split);
    if (brc)
        return brc;
    if (split) {
        uint64_t none;
        brc = rs__batch(impl, checks, nchecks, failed, ops, n, NULL, 0, NULL, 0, &none);
        return brc ? brc : rs__log_append(impl, log, loglen, rec, len, seq);
    }
    if (nchecks)
        return rs__batch_if(rs__exec_fn, s, s->log_keep, rkey, rklen, checks, nchecks, failed,
                            ops, n, log, loglen, rec, len, seq);
    size_t nc = n + 2 + (log ? 1 : 0); /* MULTI, ops, [EVAL], EXEC */
    rpool_cmd *cmds = xcalloc(nc, sizeof *cmds);
    const char **argv = xmalloc(6 * (n + 1) * sizeof *argv);
    size_t *lens = xmalloc(6 * (n + 1) * sizeof *lens);
    char (*ttl)[24] = xmalloc((n + 1) * sizeof *ttl);
    static const char *multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
    static const size_t multi_len[1] = { 5 }, exec_len[1] = { 4 };
    cmds[0] = (rpool_cmd){ 1, multi, multi_len };
    for (size_t i = 0; i < n; i++) {
        int argc = rs__op_args(&ops[i], argv + 6 * i, lens + 6 * i, ttl[i]);
        cmds[i + 1] = (rpool_cmd){ argc, argv + 6 * i, lens + 6 * i };
    }
    if (log) {
        const char **a = argv + 6 * n;
        size_t *l = lens + 6 * n;
        a[0] = "EVAL", l[0] = 4;
        a[1] = RS_LOG_APPEND_SRC, l[1] = strlen(RS_LOG_APPEND_SRC);
        a[2] = "1", l[2] = 1;
        a[3] = log, l[3] = loglen;
        a[4] = rec, l[4] = len;
        a[5] = s->log_keep, l[5] = strlen(s->log_keep);
        cmds[n + 1] = (rpool_cmd){ 6, a, l };
    }
    cmds[nc - 1] = (rpool_cmd){ 1, exec, exec_len };
    redisReply **r = xcalloc(nc, sizeof *r);
    int rc = rs__exec(s, rkey, rklen, nc, cmds, r);
    if (rc == 0) {
        rc = rs__exec_reply(r[nc - 1], log != NULL, seq);
        for (size_t i = 0; i < nc; i++)
            freeReplyObject(r[i]);
    }
    free(r);
    free(ttl);
    free(lens);
    free(argv);
    free(cmds);
    return rc;
}
static void rs__close(void *impl)
{
    rs_store *s = impl;
    rs__waitpool_destroy(s->waiters);
    rs__clwait_destroy(s->clwait);
    rroute_destroy(s->route);
    if (s->sent)
        rsent_destroy(s->sent); /* and its pool */
    free(s->match_all);
    free(s);
}

static int rs__log_wait_op(void *impl, const char *const *logs, const size_t *lens,
                           const uint64_t *after, size_t n, int timeout_ms,
                           store_log_multi_fn fn, void *ud)
{
    rs_store *s = impl;
    if (rroute_is_cluster(s->route)) /* also a redis:// URL that turned out one */
        return rs__log_wait_cluster(s->clwait, logs, lens, after, n, timeout_ms, fn, ud);
    if (!s->waiters)
        return rs__log_poll(s->route, logs, lens, after, n, timeout_ms, fn, ud);
    return rs__log_wait(s->waiters, logs, lens, after, n, timeout_ms, fn, ud);
}

static int rs__ratelimit_op(void *impl, const char *key, size_t klen, const store_rl_params *p,
                            store_rl_result *out)
{
    return rs__ratelimit(((rs_store *)impl)->route, key, klen, p, out);
}

static const store_ops rs__ops = {
    .name = "redis",
    .caps = STORE_CAP_SHARED,
    .close = rs__close,
    .ping = rs__ping,
    .check = rs__health,
    .get = rs__get,
    .get_stale = rs__get_stale,
    .exists = rs__exists,
    .get_many = rs__get_many,
    .set = rs__set,
    .del = rs__del,
    .ttl = rs__ttl,
    .expire = rs__expire,
    .incr = rs__incr,
    .cas = rs__cas,
    .scan = rs__scan,
    .del_pattern = rs__del_pattern,
    .batch = rs__batch,
    .log_append = rs__log_append,
    .log_read = rs__log_read,
    .log_delete = rs__log_delete,
    .log_wait = rs__log_wait_op,
    .log_bounds = rs__log_bounds,
    .log_trim = rs__log_trim,
    .stats = rs__stats,
    .ratelimit = rs__ratelimit_op,
};

int store_redis_open(const store_config *cfg, const char *key_prefix, const store_ops **ops,
                     void **impl, ragd_error *err)
{
    rs_store *s = xcalloc(1, sizeof *s);
    for (int i = 0; i < RS_NSCRIPTS; i++) {
        unsigned char d[SHA_DIGEST_LENGTH];
        s->scripts[i].src = rs__script_src[i];
        SHA1((const unsigned char *)rs__script_src[i], strlen(rs__script_src[i]), d);
        hash_hex(d, SHA_DIGEST_LENGTH, s->scripts[i].sha);
    }
    size_t plen = strlen(key_prefix);
    s->match_all = xmalloc(2 * plen + 3);
    s->match_all_len = store__glob_escape(key_prefix, plen, s->match_all);
    if (plen)
        s->match_all[s->match_all_len++] = ':';
    s->match_all[s->match_all_len++] = '*';
    s->wait_replicas = cfg->wait_replicas;
    int wait_ms = cfg->wait_timeout_ms > 0 ? cfg->wait_timeout_ms : 1000;
    snprintf(s->wait_args[0], sizeof s->wait_args[0], "%d", cfg->wait_replicas);
    snprintf(s->log_keep, sizeof s->log_keep, "%" PRIu64,
             cfg->log_keep ? cfg->log_keep : (uint64_t)STORE_LOG_KEEP);
    snprintf(s->wait_args[1], sizeof s->wait_args[1], "%d", wait_ms);
    store_config pc = *cfg; /* a command's deadline covers its WAIT */
    if (s->wait_replicas > 0)
        pc.command_timeout_ms = (cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : 1000) +
                                wait_ms;
    rpool *spool = NULL;
    int rc = rsent_is_url(cfg->url) ? rsent_create(&pc, &s->sent, &spool, err)
                                    : rroute_create(&pc, &s->route, err);
    if (rc == 0 && s->sent)
        rc = rroute_wrap(spool, &s->route);
    rpool *replica = NULL;
    if (rc == 0 && s->sent && cfg->read_replicas &&
        (rc = rsent_replica_pool(s->sent, &pc, &replica, err)) == 0)
        rroute_set_replica(s->route, replica);
    if (rc) {
        rroute_destroy(s->route);
        rsent_destroy(s->sent); /* and its pools */
        free(s->match_all);
        free(s);
        return rc;
    }
    rpool *single;
    if (!rroute_is_cluster(s->route) && rroute_masters(s->route, &single, 1) == 1)
        s->waiters = rs__waitpool_create(single);
    s->clwait = rs__clwait_create(s->route);
    *ops = &rs__ops;
    *impl = s;
    return 0;
}
