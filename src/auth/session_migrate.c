/*
 * session_migrate.c - the one-time move of sessions to the key layout with a
 * hash tag. A session and its history are deleted together in one batch, which
 * on Redis Cluster needs both keys in one slot, so they are named
 * sess:{u:<owner>:<id>} and sess:{u:<owner>:<id>}:msgs (sess:{s:<id>}... without
 * an owner). Keys of the layout before (sess:u:<owner>:<id>[:msgs],
 * sess:s:<id>[:msgs]) are copied to their new names with their TTL (never over a
 * newer key) and deleted, a thousand at a time, at each start (no marker key:
 * it would show in key counts; with none left the scan finds nothing: a range
 * lookup on LMDB, a SCAN of the key space on Redis).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/session_int.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/mem.h"

#define SESS_MIGRATE_BATCH 1000

typedef struct sm_batch {
    char **keys;
    size_t n;
} sm_batch;

static int sm__collect(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    sm_batch *b = ud;
    b->keys[b->n] = xmalloc(klen + 1);
    memcpy(b->keys[b->n], key, klen);
    b->keys[b->n][klen] = '\0';
    return ++b->n == SESS_MIGRATE_BATCH;
}

int sess__rename_old(const char *old, char *out, size_t n)
{
    size_t len = strlen(old);
    const char *suffix = "";
    if (len > 5 && strcmp(old + len - 5, ":msgs") == 0) {
        suffix = ":msgs";
        len -= 5;
    }
    if ((strncmp(old, "sess:u:", 7) != 0 && strncmp(old, "sess:s:", 7) != 0) || len <= 7)
        return RAGD_EINVAL;
    /* sess:u:<owner>:<id> -> sess:{u:<owner>:<id>}, sess:s:<id> -> sess:{s:<id>} */
    int w = snprintf(out, n, "sess:{%.*s}%s", (int)(len - 5), old + 5, suffix);
    return w < 0 || (size_t)w >= n ? RAGD_ETOOBIG : 0;
}

/* Move one old key: copy with its TTL unless the new name exists, then delete. */
static int sm__move(store_t *st, const char *old)
{
    char nk[SESS_KEY_MAX + 8];
    store_value v;
    int rc = sess__rename_old(old, nk, sizeof nk);
    if (rc)
        return store_del(st, old, strlen(old)); /* too long to rename: unusable anyway */
    if ((rc = store_get(st, old, strlen(old), &v)) != 0)
        return rc == RAGD_ENOTFOUND ? 0 : rc;
    int64_t ttl = v.expire_at_ms ? v.expire_at_ms - clock_wall_ms() : 0;
    rc = ttl < 0 ? 0 : store_set(st, nk, strlen(nk), v.data, v.len, ttl > 0 ? ttl : 0, STORE_NX);
    store_value_free(&v);
    if (rc && rc != RAGD_EEXISTS)
        return rc;
    rc = store_del(st, old, strlen(old));
    return rc == RAGD_ENOTFOUND ? 0 : rc;
}

/* Move every key under prefix; *moved counts them. */
static int sm__prefix(store_t *st, const char *prefix, uint64_t *moved)
{
    sm_batch b = { xcalloc(SESS_MIGRATE_BATCH, sizeof(char *)), 0 };
    int rc;
    do {
        b.n = 0;
        rc = store_scan(st, prefix, strlen(prefix), false, sm__collect, &b);
        for (size_t i = 0; i < b.n; i++) {
            if (rc == 0)
                rc = sm__move(st, b.keys[i]);
            *moved += rc == 0;
            free(b.keys[i]);
        }
    } while (rc == 0 && b.n == SESS_MIGRATE_BATCH);
    free(b.keys);
    return rc;
}

int sess__migrate_layout(store_t *st)
{
    uint64_t moved = 0;
    int rc = sm__prefix(st, "sess:u:", &moved);
    if (rc == 0)
        rc = sm__prefix(st, "sess:s:", &moved);
    if (moved)
        log_msg(LOG_INFO, "sessions: %llu keys moved to the hash-tagged layout",
                (unsigned long long)moved);
    if (rc)
        log_msg(LOG_WARN, "sessions: moving keys to the hash-tagged layout stopped (%s); "
                "it resumes at the next start", ragd_strerror(rc));
    return rc;
}
