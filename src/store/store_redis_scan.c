/*
 * store_redis_scan.c - the Redis backend's operations over many keys: scans
 * by prefix (SCAN MATCH ... TYPE string, values by MGET), pattern deletes
 * (UNLINK per SCAN batch) and stats (INFO, key counts); on a cluster each
 * visits every master (redis_scan.c).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_redis_int.h"
#include "util/mem.h"

typedef struct rs_scan_ctx {
    rs_store *s;
    store_scan_fn fn;
    void *ud;
    bool with_values;
} rs_scan_ctx;

/* The commands about one batch of SCAN's keys from node (rscan_keys_cmd);
 * an error reply to the whole becomes its RAGD_E* code. */
static int rs__keys_cmd(rs_store *s, rpool *node, const char *multi, const char *one,
                        const redisReply *keys, rscan_reply *out)
{
    int rc = rscan_keys_cmd(s->route, node, multi, one, keys, out);
    if (rc == 0 && out->multi && out->multi->type == REDIS_REPLY_ERROR) {
        rc = rs__reply_err(out->multi);
        rscan_reply_free(out);
    }
    return rc;
}

/* Hand each key of a SCAN batch, with its value when asked (MGET), to the
 * caller's fn. 1 = the caller asked to stop. */
static int rs__scan_batch(rpool *node, const redisReply *keys, void *ud)
{
    rs_scan_ctx *sc = ud;
    rscan_reply vals = { 0 };
    int rc = sc->with_values ? rs__keys_cmd(sc->s, node, "MGET", "GET", keys, &vals) : 0;
    for (size_t i = 0; rc == 0 && i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        const redisReply *v = sc->with_values ? rscan_reply_at(&vals, i) : NULL;
        if (!sc->with_values)
            rc = sc->fn(sc->ud, k->str, k->len, NULL, 0) ? 1 : 0;
        else if (v && v->type == REDIS_REPLY_STRING)
            rc = sc->fn(sc->ud, k->str, k->len, v->str, v->len) ? 1 : 0;
        /* else it expired or was deleted since SCAN saw it */
    }
    rscan_reply_free(&vals);
    return rc;
}

int rs__scan(void *impl, const char *prefix, size_t plen, bool with_values,
                    store_scan_fn fn, void *ud)
{
    rs_store *s = impl;
    char *pat = xmalloc(2 * plen + 2);
    size_t n = store__glob_escape(prefix, plen, pat);
    pat[n++] = '*';
    rs_scan_ctx sc = { s, fn, ud, with_values };
    int rc = rscan_keys(s->route, pat, n, rs__scan_batch, &sc);
    free(pat);
    return rc;
}

typedef struct rs_unlink_ctx {
    rs_store *s;
    uint64_t *deleted;
} rs_unlink_ctx;

/* UNLINK the batch, adding the count to *deleted. */
static int rs__unlink_batch(rpool *node, const redisReply *keys, void *ud)
{
    rs_unlink_ctx *uc = ud;
    uint64_t *deleted = uc->deleted;
    rscan_reply r;
    int rc = rs__keys_cmd(uc->s, node, "UNLINK", "UNLINK", keys, &r);
    for (size_t i = 0; rc == 0 && i < (r.multi ? 1 : r.n); i++) {
        const redisReply *one = r.multi ? r.multi : r.each[i];
        if (one->type == REDIS_REPLY_INTEGER)
            *deleted += (uint64_t)one->integer;
    }
    if (rc == 0)
        rscan_reply_free(&r);
    return rc;
}

int rs__del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted)
{
    rs_store *s = impl;
    *deleted = 0;
    rs_unlink_ctx uc = { s, deleted };
    return rscan_keys(s->route, pattern, patlen, rs__unlink_batch, &uc);
}

static uint64_t rs__info_field(const char *info, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = info; (p = strstr(p, name)) != NULL; p += n)
        if ((p == info || p[-1] == '\n') && p[n] == ':')
            return strtoull(p + n + 1, NULL, 10);
    return 0;
}

static int rs__count_batch(rpool *node, const redisReply *keys, void *ud)
{
    (void)node;
    *(uint64_t *)ud += keys->elements;
    return 0;
}

/* The server's memory and key-removal counters from INFO, added to *out (a
 * cluster: summed over its masters). */
static void rs__stats_info(rs_store *s, store_stats *out)
{
    rpool *nodes[128];
    size_t n = rroute_masters(s->route, nodes, 128);
    for (size_t i = 0; i < n; i++) {
        const char *argv[1] = { "INFO" };
        size_t lens[1] = { 4 };
        rpool_cmd cmd = { 1, argv, lens };
        redisReply *r = NULL;
        if (rpool_exec(nodes[i], 1, &cmd, &r) != 0)
            continue;
        if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
            out->bytes_used += rs__info_field(r->str, "used_memory");
            out->max_bytes += rs__info_field(r->str, "maxmemory");
            out->evictions += rs__info_field(r->str, "evicted_keys");
            out->expired += rs__info_field(r->str, "expired_keys");
        }
        freeReplyObject(r);
    }
}

int rs__stats(void *impl, store_stats *out)
{
    rs_store *s = impl;
    out->reconnects = rroute_reconnects(s->route);
    out->errors = rroute_errors(s->route);
    out->moved = rroute_moved(s->route);
    out->ask = rroute_ask(s->route);
    out->replica_reads = rroute_replica_reads(s->route);
    out->available = rroute_available(s->route);
    if (!out->available)
        return 0; /* stats still answer while Redis is down */
    rs__stats_info(s, out);
    uint64_t keys = 0;
    int rc = rscan_keys(s->route, s->match_all, s->match_all_len, rs__count_batch, &keys);
    out->keys = keys;
    out->available = rroute_available(s->route);
    return rc == RAGD_EUNAVAIL || rc == RAGD_ETIMEOUT ? 0 : rc;
}
