/*
 * kb_repl.c - knowledge bases as replicas of what the store holds, when many
 * instances share one Redis (docs/ARCHITECTURE.md, "Replication"). Through
 * repl.h this instance follows kb:nslog (namespace create / update / drop)
 * and each namespace's kb:{<ns>}:log (document writes). A record written by
 * another instance is applied by re-reading the keys it names and going
 * through the same publish paths as a local write; this instance's own
 * records are skipped (it applied them when it wrote them: read-your-writes).
 * A log that lost records (trimmed past this follower, or went back) reloads
 * the namespace from the store; an epoch key that vanished or changed (Redis
 * flushed or replaced) drops every replica and reloads what the store holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/threadpool.h"

#define KB_APPLY_DOCS 512    /* documents synced per pass of a batch (one wmu hold) */
#define KB_APPLY_PAR_MIN 64  /* documents from which a batch's HNSW inserts run in parallel */

/* What one namespace's follower knows (freed after repl_unfollow). */
typedef struct kb_follow {
    kb_t *kb;
    char name[KB_NS_NAME_MAX + 1];
} kb_follow;

/* A parsed record: op, namespace (nslog) or ids (a namespace's log), origin. */
typedef struct kb_rec {
    cJSON *root;
    const char *op, *ns, *origin, *ver;
    const cJSON *ids;
} kb_rec;

static int kb__rec_parse(const void *rec, size_t len, kb_rec *out)
{
    memset(out, 0, sizeof *out);
    if (json_parse_stored(rec, len, &out->root) || !cJSON_IsObject(out->root)) {
        cJSON_Delete(out->root);
        out->root = NULL;
        return RAGD_EFORMAT;
    }
    out->op = json_get_str(out->root, "op");
    out->ns = json_get_str(out->root, "ns");
    out->origin = json_get_str(out->root, "origin");
    out->ver = json_get_str(out->root, "ver");
    out->ids = json_get_arr(out->root, "ids");
    return out->op ? RAGD_OK : RAGD_EFORMAT;
}

static bool kb__rec_mine(const kb_t *kb, const kb_rec *r)
{
    return r->origin && strcmp(r->origin, kb->origin) == 0;
}

static void kb__count_rebuild(kb_t *kb)
{
    pthread_mutex_lock(&kb->rmu);
    kb->rebuilds++;
    pthread_mutex_unlock(&kb->rmu);
}


/* ---- a namespace's log ---- */

/* The documents a batch of records names: each id once (pointing into the
 * parsed records, kept until the batch is done), and the version token of the
 * batch's last record. */
typedef struct kb_batch {
    cJSON **roots;
    size_t nroots;
    const char **ids;
    size_t n, cap;
    strmap seen;
    const char *ver;
    uint64_t ver_seq;
} kb_batch;

/* Add a record's ids (another instance's document write) to b. */
static void kb__batch_add(kb_t *kb, kb_batch *b, const repl_rec *rec)
{
    kb_rec r;
    if (kb__rec_parse(rec->data, rec->len, &r)) {
        cJSON_Delete(r.root);
        return; /* malformed: names nothing */
    }
    b->roots[b->nroots++] = r.root;
    if (r.ver && strlen(r.ver) == 32) {
        b->ver = r.ver;
        b->ver_seq = rec->seq;
    }
    if (kb__rec_mine(kb, &r) || !r.ids)
        return; /* ours (applied when written), or not a document write */
    const cJSON *it;
    cJSON_ArrayForEach(it, r.ids) {
        if (!cJSON_IsString(it) ||
            strmap_get(&b->seen, it->valuestring, strlen(it->valuestring)))
            continue;
        strmap_put(&b->seen, it->valuestring, strlen(it->valuestring), b);
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 64;
            b->ids = xrealloc(b->ids, b->cap * sizeof *b->ids);
        }
        b->ids[b->n++] = it->valuestring;
    }
}

static void kb__batch_free(kb_batch *b)
{
    for (size_t i = 0; i < b->nroots; i++)
        cJSON_Delete(b->roots[i]);
    free(b->roots);
    free(b->ids);
    strmap_free(&b->seen);
}

/* Sync b's documents into ns, KB_APPLY_DOCS at a time, each pass under wmu
 * (a local writer waits for one pass at most; searches wait only for the
 * pointer swaps of one pass). HNSW inserts of a batch of at least
 * KB_APPLY_PAR_MIN documents run on a pool of load_threads. */
static int kb__batch_sync(kb_t *kb, kb_ns *ns, const kb_batch *b)
{
    threadpool *tp = NULL;
    if (b->n >= KB_APPLY_PAR_MIN && kb->o.load_threads != 1)
        threadpool_create(kb->o.load_threads, &tp);
    int rc = 0;
    for (size_t at = 0; at < b->n && rc == 0; at += KB_APPLY_DOCS) {
        size_t m = b->n - at < KB_APPLY_DOCS ? b->n - at : KB_APPLY_DOCS;
        pthread_mutex_lock(&ns->wmu);
        if (!ns->dropped)
            rc = kb__docs_sync_tp(kb, ns, b->ids + at, m, tp);
        pthread_mutex_unlock(&ns->wmu);
    }
    threadpool_destroy(tp);
    if (rc || !b->ver)
        return rc;
    pthread_mutex_lock(&ns->wmu); /* a later write of this instance's own keeps its token */
    if (!ns->dropped && b->ver_seq > ns->applied_seq)
        memcpy(ns->version, b->ver, 33);
    pthread_mutex_unlock(&ns->wmu);
    return rc;
}

/* A batch of a namespace's log: every document its records name is re-read
 * (one pipelined read for all, one for their chunks) and published in one
 * pass. Applying it twice is harmless: a sync only brings memory to the store. */
static int kb__log_apply_batch(void *ud, const repl_rec *recs, size_t n)
{
    kb_follow *f = ud;
    kb_t *kb = f->kb;
    kb_batch b = { .roots = xmalloc(n * sizeof *b.roots), .seen = STRMAP_INIT };
    for (size_t i = 0; i < n; i++)
        kb__batch_add(kb, &b, &recs[i]);
    int rc = 0;
    kb_ns *ns = b.n || b.ver ? kb__ns_acquire(kb, f->name) : NULL;
    if (ns)
        rc = kb__batch_sync(kb, ns, &b);
    kb__ns_release(ns);
    kb__batch_free(&b);
    return rc;
}

/* Load namespace name from the store and put it in the registry (replacing
 * the one there); forget it when the store no longer has it. */
static int kb__ns_reload(kb_t *kb, const char *name)
{
    kb_ns *fresh = NULL;
    ragd_error err;
    int rc = kb__load_ns(kb, name, NULL, false, &fresh, &err);
    if (rc) {
        log_msg(LOG_WARN, "replication: %s", err.msg);
        return rc;
    }
    if (fresh) {
        kb__ns_register(kb, fresh);
        return 0;
    }
    kb_ns *ns = kb__ns_acquire(kb, name);
    if (ns) {
        kb__ns_forget(kb, ns);
        kb__ns_release(ns);
    }
    return 0;
}

static int kb__log_gap(void *ud, const char *log, uint64_t applied, uint64_t first,
                       uint64_t last, uint64_t *resume)
{
    kb_follow *f = ud;
    (void)log, (void)applied, (void)first;
    char name[KB_NS_NAME_MAX + 1];
    kb_t *kb = f->kb;
    memcpy(name, f->name, sizeof name); /* the reload may free f */
    *resume = last;
    int rc = kb__ns_reload(kb, name);
    if (rc == 0)
        kb__count_rebuild(kb);
    return rc;
}

/* ---- the registry's hooks ---- */

/* Stop following name's log. Never waits for the follower thread (callers
 * may hold a namespace's wmu, which a callback may need): the context is
 * retired, freed at close. */
static void kb__hook_removed(kb_t *kb, const char *name)
{
    pthread_mutex_lock(&kb->rmu);
    kb_follow *f = strmap_del(&kb->followed, name, strlen(name));
    if (f) {
        kb->retired = xrealloc(kb->retired, (kb->n_retired + 1) * sizeof *kb->retired);
        kb->retired[kb->n_retired++] = f;
    }
    pthread_mutex_unlock(&kb->rmu);
    if (!f)
        return;
    buf_t k = BUF_INIT;
    kb__key_log(&k, name);
    repl_unfollow_nowait(kb->o.repl, k.data);
    buf_free(&k);
}

static void kb__hook_added(kb_t *kb, kb_ns *ns)
{
    kb__hook_removed(kb, ns->name); /* a reload follows again from its new position */
    kb_follow *f = xcalloc(1, sizeof *f);
    f->kb = kb;
    memcpy(f->name, ns->name, sizeof f->name);
    buf_t k = BUF_INIT;
    kb__key_log(&k, ns->name);
    pthread_mutex_lock(&kb->rmu);
    bool stopping = kb->stopping;
    if (!stopping)
        strmap_put(&kb->followed, f->name, strlen(f->name), f);
    pthread_mutex_unlock(&kb->rmu);
    if (!stopping)
        repl_follow_batch(kb->o.repl, k.data, kb__log_apply_batch, kb__log_gap, f, ns->log_seq);
    else
        free(f);
    buf_free(&k);
}

/* ---- the namespaces' log ---- */

static int kb__nslog_apply(void *ud, uint64_t seq, const void *data, size_t len)
{
    kb_t *kb = ud;
    (void)seq;
    kb_rec r;
    if (kb__rec_parse(data, len, &r) || kb__rec_mine(kb, &r) || !r.ns || !kb_ns_name_ok(r.ns)) {
        cJSON_Delete(r.root);
        return 0;
    }
    int rc = 0;
    kb_ns *ns = kb__ns_acquire(kb, r.ns);
    if (strcmp(r.op, "create") == 0 && !ns) {
        rc = kb__ns_reload(kb, r.ns);
    } else if (strcmp(r.op, "update") == 0 && ns) {
        pthread_mutex_lock(&ns->wmu);
        int arc = kb__ns_meta_adopt(kb, ns);
        rc = arc == RAGD_ENOTFOUND ? 0 : arc; /* its drop follows */
        pthread_mutex_unlock(&ns->wmu);
    } else if (strcmp(r.op, "drop") == 0 && ns) {
        kb__ns_forget(kb, ns);
        if (kb->o.snapshot_dir)
            kb__snap_remove(r.ns, kb->o.snapshot_dir);
    }
    kb__ns_release(ns);
    cJSON_Delete(r.root);
    return rc;
}

/* Make the registry match the store's namespaces: new ones load, gone ones
 * leave; ones in both are left to their own logs. */
static int kb__ns_resync(kb_t *kb)
{
    char **names = NULL, **mine = NULL;
    size_t n = 0, m = 0;
    int rc = kb__store_names(kb, &names, &n);
    if (rc)
        return rc;
    strmap in_store = STRMAP_INIT;
    for (size_t i = 0; i < n; i++) {
        strmap_put(&in_store, names[i], strlen(names[i]), names[i]);
        if (!kb_ns_exists(kb, names[i]))
            rc = rc ? rc : kb__ns_reload(kb, names[i]);
    }
    kb_ns_list(kb, &mine, &m);
    for (size_t i = 0; i < m; i++) {
        kb_ns *ns = strmap_get(&in_store, mine[i], strlen(mine[i])) ? NULL
                                                                      : kb__ns_acquire(kb, mine[i]);
        if (ns)
            kb__ns_forget(kb, ns);
        kb__ns_release(ns);
    }
    strmap_free(&in_store);
    kb_names_free(mine, m);
    kb__names_free(names, n);
    return rc;
}

static int kb__nslog_gap(void *ud, const char *log, uint64_t applied, uint64_t first,
                         uint64_t last, uint64_t *resume)
{
    kb_t *kb = ud;
    (void)log, (void)applied, (void)first;
    *resume = last;
    int rc = kb__ns_resync(kb);
    if (rc == 0)
        kb__count_rebuild(kb);
    return rc;
}

/* ---- the store's epoch ---- */

static int kb__epoch_first(void *ud, uint64_t seq, const void *rec, size_t len)
{
    (void)seq;
    snprintf(ud, 65, "%.*s", (int)(len < 64 ? len : 64), (const char *)rec);
    return 1; /* the first record is the epoch */
}

/* The store's epoch: the first record of KB_EPOCH_LOG ("" when the log is
 * missing). Instances starting together may both append; all read the first. */
static int kb__epoch_read(kb_t *kb, char out[65])
{
    out[0] = '\0';
    return store_log_read(kb->o.store, KB_EPOCH_LOG, 0, kb__epoch_first, out);
}

/* Read the epoch, writing a fresh one first when missing. */
static int kb__epoch_get(kb_t *kb, char out[65])
{
    int rc = kb__epoch_read(kb, out);
    if (rc == 0 && !out[0]) {
        char fresh[33];
        kb__version_new(fresh);
        uint64_t seq;
        rc = store_log_append(kb->o.store, KB_EPOCH_LOG, fresh, 32, &seq);
        /* not confirmed by enough replicas (redis_wait_replicas) is still written on
         * the master: the epoch is what it holds, and a failover that loses it is a
         * reset the followers detect */
        if (rc == 0 || rc == RAGD_ENOTDURABLE)
            rc = kb__epoch_read(kb, out);
    }
    return rc == 0 && !out[0] ? RAGD_EIO : rc;
}

int kb__repl_epoch(kb_t *kb, ragd_error *err)
{
    int rc = kb__epoch_get(kb, kb->epoch);
    return rc ? ragd_error_set(err, rc, "knowledge bases: reading the store's epoch failed: %s",
                               ragd_strerror(rc))
              : RAGD_OK;
}

/* The store was reset: every replica goes, what the store holds comes back. */
static void kb__reset(kb_t *kb, const char *why)
{
    log_msg(LOG_ERROR, "replication: %s; knowledge bases are dropped from memory and "
            "reloaded from what the store holds now", why);
    char **mine = NULL;
    size_t m = 0;
    kb_ns_list(kb, &mine, &m);
    for (size_t i = 0; i < m; i++) {
        kb_ns *ns = kb__ns_acquire(kb, mine[i]);
        if (ns)
            kb__ns_forget(kb, ns);
        kb__ns_release(ns);
    }
    kb_names_free(mine, m);
    kb__ns_resync(kb);
    pthread_mutex_lock(&kb->rmu);
    kb->resets++;
    kb->reset_at_ms = clock_wall_ms();
    snprintf(kb->reason, sizeof kb->reason, "%s", why);
    pthread_mutex_unlock(&kb->rmu);
}

static void kb__epoch_tick(void *ud)
{
    kb_t *kb = ud;
    char seen[65];
    if (kb__epoch_read(kb, seen) != 0 || strcmp(seen, kb->epoch) == 0)
        return; /* unreachable (the follower reports it) or unchanged */
    const char *why = !seen[0]
                          ? "the store's epoch key is gone: Redis lost its data (flushed, or "
                            "restarted without persistence)"
                          : "the store's epoch key changed: another or a restored Redis answers";
    char now[65];
    if (kb__epoch_get(kb, now) != 0)
        return;
    memcpy(kb->epoch, now, sizeof now);
    kb__reset(kb, why);
}

/* ---- start / stop / status ---- */

int kb__repl_start(kb_t *kb, ragd_error *err)
{
    kb->hooks.ns_added = kb__hook_added;
    kb->hooks.ns_removed = kb__hook_removed;
    size_t it = 0;
    void *v;
    while (strmap_next(&kb->ns, &it, NULL, &v))
        kb__hook_added(kb, v);
    int rc = repl_follow_gap(kb->o.repl, KB_NSLOG, kb__nslog_apply, kb__nslog_gap, kb,
                             kb->nslog_seq);
    if (rc == 0)
        rc = repl_tick_add(kb->o.repl, kb__epoch_tick, kb);
    return rc ? ragd_error_set(err, rc, "knowledge bases: cannot follow %s: %s", KB_NSLOG,
                               ragd_strerror(rc))
              : RAGD_OK;
}

void kb__repl_stop(kb_t *kb)
{
    pthread_mutex_lock(&kb->rmu);
    kb->stopping = true;
    pthread_mutex_unlock(&kb->rmu);
    repl_tick_remove(kb->o.repl, kb__epoch_tick, kb);
    repl_unfollow(kb->o.repl, KB_NSLOG);
    size_t it = 0;
    const char *name;
    void *v;
    buf_t k = BUF_INIT;
    while (strmap_next(&kb->followed, &it, &name, &v)) {
        buf_reset(&k);
        kb__key_log(&k, name);
        repl_unfollow(kb->o.repl, k.data); /* waits out its callbacks */
        free(v);
    }
    buf_free(&k);
    strmap_free(&kb->followed);
    for (size_t i = 0; i < kb->n_retired; i++)
        free(kb->retired[i]);
    free(kb->retired);
    kb->retired = NULL;
    kb->n_retired = 0;
    kb->hooks.ns_added = NULL;
    kb->hooks.ns_removed = NULL;
}

void kb_repl_status_get(kb_t *kb, kb_repl_status *out)
{
    memset(out, 0, sizeof *out);
    out->following = kb->o.repl != NULL;
    pthread_mutex_lock(&kb->rmu);
    out->rebuilds = kb->rebuilds;
    out->replayed = kb->replayed;
    out->snapshots_loaded = kb->snapshots_loaded;
    out->snapshots_written = kb->snapshots_written;
    out->resets = kb->resets;
    out->reset_at_ms = kb->reset_at_ms;
    if (kb->reset_at_ms && clock_wall_ms() - kb->reset_at_ms < KB_RESET_DEGRADED_MS)
        snprintf(out->degraded, sizeof out->degraded, "%s", kb->reason);
    pthread_mutex_unlock(&kb->rmu);
}
