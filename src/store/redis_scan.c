/*
 * redis_scan.c - key scans over every master. SCAN walks one server, so a scan
 * of a cluster walks each master that owns slots in turn; the per-key commands
 * that follow (MGET for values, UNLINK for pattern deletes) cannot span slots
 * on a cluster and go one per key, pipelined on the node the keys came from.
 */
#include <stdlib.h>
#include <string.h>

#include "store/redis_cluster.h"
#include "util/mem.h"

#define RSC_COUNT "1000"
#define RSC_MAX_MASTERS 128

/* SCAN one node to the end. > 0: fn asked to stop. */
static int rsc__node(rpool *node, const char *pat, size_t patlen, rscan_fn fn, void *ud)
{
    char cursor[32] = "0";
    do {
        const char *argv[8] = { "SCAN", cursor, "MATCH", pat, "COUNT", RSC_COUNT, "TYPE", "string" };
        size_t lens[8] = { 4, strlen(cursor), 5, patlen, 5, strlen(RSC_COUNT), 4, 6 };
        rpool_cmd cmd = { 8, argv, lens };
        redisReply *r = NULL;
        int rc = rpool_exec(node, 1, &cmd, &r);
        if (rc)
            return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return RAGD_EIO;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        rc = r->element[1]->elements ? fn(node, r->element[1], ud) : 0;
        freeReplyObject(r);
        if (rc)
            return rc;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int rscan_keys(rroute *rt, const char *pat, size_t patlen, rscan_fn fn, void *ud)
{
    rpool *nodes[RSC_MAX_MASTERS];
    size_t n = rroute_masters(rt, nodes, RSC_MAX_MASTERS);
    if (n == 0)
        return RAGD_EUNAVAIL;
    for (size_t i = 0; i < n; i++) {
        int rc = rsc__node(nodes[i], pat, patlen, fn, ud);
        if (rc)
            return rc > 0 ? 0 : rc;
    }
    return 0;
}

/* One multi-key command on a single server. */
static int rsc__multi(rpool *node, const char *name, const redisReply *keys, rscan_reply *out)
{
    size_t n = keys->elements + 1;
    const char **argv = xmalloc(n * sizeof *argv);
    size_t *lens = xmalloc(n * sizeof *lens);
    argv[0] = name;
    lens[0] = strlen(name);
    for (size_t i = 0; i < keys->elements; i++) {
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    rpool_cmd cmd = { (int)n, argv, lens };
    int rc = rpool_exec(node, 1, &cmd, &out->multi);
    free(argv);
    free(lens);
    return rc;
}

/* One command per key, pipelined on node; redirected ones again via the router. */
static int rsc__each(rroute *rt, rpool *node, const char *name, const redisReply *keys,
                     rscan_reply *out)
{
    size_t n = keys->elements;
    rpool_cmd *cmds = xmalloc(n * sizeof *cmds);
    const char **argv = xmalloc(2 * n * sizeof *argv);
    size_t *lens = xmalloc(2 * n * sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        argv[2 * i] = name;
        lens[2 * i] = strlen(name);
        argv[2 * i + 1] = keys->element[i]->str;
        lens[2 * i + 1] = keys->element[i]->len;
        cmds[i] = (rpool_cmd){ 2, argv + 2 * i, lens + 2 * i };
    }
    out->each = xcalloc(n, sizeof *out->each);
    int rc = rpool_exec(node, n, cmds, out->each);
    out->n = rc == 0 ? n : 0;
    rcluster_redirect rd;
    for (size_t i = 0; i < out->n && rc == 0; i++) {
        redisReply *r = out->each[i];
        if (r->type != REDIS_REPLY_ERROR || !rcluster_redirect_parse(r->str, r->len, &rd))
            continue;
        freeReplyObject(r);
        out->each[i] = NULL;
        rc = rroute_exec(rt, argv[2 * i + 1], lens[2 * i + 1], 1, &cmds[i], &out->each[i]);
        if (rc)
            out->n = i; /* each[i] holds nothing; those after i are freed below */
        for (size_t j = i + 1; rc && j < n; j++)
            freeReplyObject(out->each[j]);
    }
    free(cmds);
    free(argv);
    free(lens);
    return rc;
}

int rscan_keys_cmd(rroute *rt, rpool *node, const char *multi, const char *one,
                   const redisReply *keys, rscan_reply *out)
{
    memset(out, 0, sizeof *out);
    int rc = rroute_is_cluster(rt) ? rsc__each(rt, node, one, keys, out)
                                   : rsc__multi(node, multi, keys, out);
    if (rc)
        rscan_reply_free(out);
    return rc;
}

const redisReply *rscan_reply_at(const rscan_reply *r, size_t i)
{
    if (r->multi)
        return r->multi->type == REDIS_REPLY_ARRAY && i < r->multi->elements
                   ? r->multi->element[i]
                   : NULL;
    return i < r->n ? r->each[i] : NULL;
}

void rscan_reply_free(rscan_reply *r)
{
    if (r->multi)
        freeReplyObject(r->multi);
    for (size_t i = 0; i < r->n; i++)
        freeReplyObject(r->each[i]);
    free(r->each);
    memset(r, 0, sizeof *r);
}
