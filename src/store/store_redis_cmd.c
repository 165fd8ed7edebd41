/*
 * store_redis_cmd.c - how the Redis backend sends a command and reads its
 * reply: error replies mapped to RAGD_E* codes (and counted by kind), WAIT
 * after each write when redis_wait_replicas > 0, one command with a reply
 * decoder, and Lua scripts sent as EVALSHA with an EVAL fallback on NOSCRIPT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_redis_int.h"
#include "util/mem.h"

/* Redis error reply -> RAGD_E*, its kind and text noted for the error counts. */
int rs__reply_err(const redisReply *r)
{
    const char *m = r->str ? r->str : "";
    store__err_detail(store__err_classify(m, strlen(m)), m, strlen(m));
    if (strncmp(m, "OOM", 3) == 0)
        return RAGD_EFULL;
    if (strncmp(m, "WRONGTYPE", 9) == 0 || strstr(m, "not an integer") ||
        strstr(m, "overflow"))
        return RAGD_EINVAL;
    if (strncmp(m, "LOADING", 7) == 0 || strncmp(m, "BUSY", 4) == 0 ||
        strncmp(m, "MASTERDOWN", 10) == 0 || strncmp(m, "READONLY", 8) == 0 ||
        strncmp(m, "NOAUTH", 6) == 0)
        return RAGD_EUNAVAIL;
    return RAGD_EIO;
}

/* Commands that write (scripts all write but the rate limiter's, which runs
 * elsewhere): with redis_wait_replicas these are followed by WAIT. */
static bool rs__is_write(const rpool_cmd *c)
{
    static const char *const w[] = { "SET", "DEL", "UNLINK", "EVALSHA", "EVAL", "MULTI" };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (c->argvlen[0] == strlen(w[i]) && memcmp(c->argv[0], w[i], c->argvlen[0]) == 0)
            return true;
    return false;
}

/* Did any of n replies fail on its own (then WAIT's answer does not matter)? */
static bool rs__any_error(size_t n, redisReply **r)
{
    for (size_t i = 0; i < n; i++)
        if (r[i]->type == REDIS_REPLY_ERROR)
            return true;
    return false;
}

/* rpool_exec, plus "WAIT n timeout" pipelined on the same connection after a
 * write when redis_wait_replicas > 0: fewer acknowledgements than asked is
 * RAGD_ENOTDURABLE (the write stays on the master; replies are freed). */
int rs__exec(rs_store *s, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                    redisReply **replies)
{
    if (s->wait_replicas <= 0 || !rs__is_write(&cmds[0]))
        return rroute_exec(s->route, key, klen, n, cmds, replies);
    const char *wargv[3] = { "WAIT", s->wait_args[0], s->wait_args[1] };
    size_t wlen[3] = { 4, strlen(s->wait_args[0]), strlen(s->wait_args[1]) };
    rpool_cmd *all = xmalloc((n + 1) * sizeof *all);
    redisReply **r = xmalloc((n + 1) * sizeof *r);
    memcpy(all, cmds, n * sizeof *all);
    all[n] = (rpool_cmd){ 3, wargv, wlen };
    int rc = rroute_exec(s->route, key, klen, n + 1, all, r);
    if (rc == 0) {
        long long acked = r[n]->type == REDIS_REPLY_INTEGER ? r[n]->integer : -1;
        if (acked < s->wait_replicas && !rs__any_error(n, r)) {
            char msg[128];
            int len = snprintf(msg, sizeof msg, "WAIT: %lld of %d replicas acknowledged in %s ms",
                               acked < 0 ? 0 : acked, s->wait_replicas, s->wait_args[1]);
            store__err_detail(STORE_ERRK_NOT_DURABLE, msg, (size_t)len);
            for (size_t i = 0; i < n; i++)
                freeReplyObject(r[i]);
            rc = RAGD_ENOTDURABLE;
        } else {
            memcpy(replies, r, n * sizeof *r);
        }
        freeReplyObject(r[n]);
    }
    free(r);
    free(all);
    return rc;
}

/* rs__exec as an rs_exec_fn (the batch with checks in store_redis_log.c). */
int rs__exec_fn(void *ctx, const char *key, size_t klen, size_t n, const rpool_cmd *cmds,
                       redisReply **replies)
{
    return rs__exec(ctx, key, klen, n, cmds, replies);
}

/* An exec's outcome: an error reply becomes its RAGD_E* code (and is freed). */
static int rs__check(int rc, redisReply *r)
{
    if (rc == 0 && r->type == REDIS_REPLY_ERROR) {
        rc = rs__reply_err(r);
        freeReplyObject(r);
    }
    return rc;
}

/* One command to the server of key (NULL: any); *out is an owned non-error reply. */
int rs__call(rs_store *s, const char *key, size_t klen, int argc, const char **argv,
                    const size_t *lens, redisReply **out)
{
    rpool_cmd cmd = { argc, argv, lens };
    redisReply *r = NULL;
    int rc = rs__exec(s, key, klen, 1, &cmd, &r);
    rc = rs__check(rc, r);
    if (rc == 0)
        *out = r;
    return rc;
}

/* Pass an owned reply through fn and free it. */
static int rs__finish(redisReply *r, rs_reply_fn fn, void *ud)
{
    int rc = fn ? fn(r, ud) : 0;
    freeReplyObject(r);
    return rc;
}

/* One command about key (NULL: none) whose reply fn reads (the reply is freed here). */
int rs__cmd(rs_store *s, const char *key, size_t klen, int argc, const char **argv,
                   const size_t *lens, rs_reply_fn fn, void *ud)
{
    redisReply *r = NULL;
    int rc = rs__call(s, key, klen, argc, argv, lens, &r);
    return rc ? rc : rs__finish(r, fn, ud);
}

/* "<name> <key>", the shape of most commands. */
int rs__key_cmd(rs_store *s, const char *name, const char *key, size_t klen,
                       rs_reply_fn fn, void *ud)
{
    const char *argv[2] = { name, key };
    size_t lens[2] = { strlen(name), klen };
    return rs__cmd(s, key, klen, 2, argv, lens, fn, ud);
}

/* Run a script by SHA, loading it with EVAL when the server does not know it;
 * its reply goes through fn as with rs__cmd. */
int rs__script(rs_store *s, int which, const char *key, size_t klen, int nargs,
                      const char **args, const size_t *alens, rs_reply_fn fn, void *ud)
{
    const char *argv[12];
    size_t lens[12];
    argv[0] = "EVALSHA";
    argv[1] = s->scripts[which].sha;
    argv[2] = "1";
    argv[3] = key;
    lens[0] = 7;
    lens[1] = 40;
    lens[2] = 1;
    lens[3] = klen;
    for (int i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
        lens[4 + i] = alens[i];
    }
    rpool_cmd cmd = { 4 + nargs, argv, lens };
    redisReply *r = NULL;
    int rc = rs__exec(s, key, klen, 1, &cmd, &r);
    if (rc == 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r); /* each server has its own script cache */
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = s->scripts[which].src;
        lens[1] = strlen(argv[1]);
        rc = rs__exec(s, key, klen, 1, &cmd, &r);
    }
    rc = rs__check(rc, r);
    return rc ? rc : rs__finish(r, fn, ud);
}

/* A log sequence number (an integer above 0). */
int rs__reply_seq(const redisReply *r, void *ud)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer <= 0)
        return RAGD_EIO;
    *(uint64_t *)ud = (uint64_t)r->integer;
    return 0;
}
