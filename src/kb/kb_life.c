/*
 * kb_life.c - a knowledge base's life: kb_open (the store's epoch, snapshots
 * loaded or namespaces rebuilt through kb_load.c, each log replayed from
 * there through kb_sync.c, then the followers of kb_repl.c), the background
 * snapshot writer and expiry sweeper (kb_expire.c), and kb_close (last
 * snapshots, followers stopped). The top of kb/'s call order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kb/kb_int.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/mem.h"

/* ---- start: replay each namespace's log from where it was loaded ---- */

/* Replay every loaded namespace's log; one whose log was trimmed meanwhile
 * is rebuilt from the store instead. */
static int kb__replay_all(kb_t *kb, ragd_error *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    kb_ns_list(kb, &names, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        kb_ns *ns = kb__ns_acquire(kb, names[i]), *fresh = NULL;
        uint64_t records = 0;
        pthread_mutex_lock(&ns->wmu);
        rc = kb__replay(kb, ns, &records);
        pthread_mutex_unlock(&ns->wmu);
        if (rc == RAGD_ECONFLICT) {
            log_msg(LOG_INFO, "knowledge bases: namespace %s: its log was trimmed during "
                    "the replay; rebuilding from the store", names[i]);
            rc = kb__load_ns(kb, names[i], NULL, false, &fresh, err);
            if (fresh) {
                strmap_put(&kb->ns, fresh->name, strlen(fresh->name), fresh);
                kb__ns_release(ns); /* the registry's reference */
                kb->rebuilds++;
            }
        } else if (rc) {
            ragd_error_set(err, rc, "namespace %s: replaying its log failed: %s", names[i],
                           ragd_strerror(rc));
        }
        kb->replayed += records;
        kb__ns_release(ns);
    }
    kb_names_free(names, n);
    return rc;
}

/* ---- snapshots ---- */

/* The log position ns's memory reflects: the follower's (every record up to
 * it applied), or without one the last commit's. Caller holds wmu. */
static int kb__ns_position(kb_t *kb, const kb_ns *ns, uint64_t *seq)
{
    if (!kb->o.repl) {
        *seq = ns->applied_seq;
        return RAGD_OK;
    }
    buf_t k = BUF_INIT;
    kb__key_log(&k, ns->name);
    int rc = repl_applied(kb->o.repl, k.data, seq);
    buf_free(&k);
    return rc;
}

/* Snapshot ns if it changed since its last one (true when written). Its
 * writers wait only while the graph and records are captured. */
static bool kb__snapshot_ns(kb_t *kb, kb_ns *ns)
{
    kb_snap_w w;
    uint64_t seq = 0;
    int rc = 1;
    pthread_mutex_lock(&ns->wmu);
    if (!ns->dropped && kb__ns_position(kb, ns, &seq) == 0 &&
        (!ns->snap_saved || seq != ns->snap_seq)) {
        rc = kb__snap_take(kb, ns, seq, &w);
        if (rc)
            kb__snap_abort(kb, &w);
    }
    pthread_mutex_unlock(&ns->wmu);
    if (rc == 1)
        return false; /* unchanged, dropped, or not followed */
    if (rc == 0)
        rc = kb__snap_commit(kb, &w);
    if (rc) {
        log_msg(LOG_WARN, "knowledge bases: namespace %s: writing its snapshot failed: %s",
                ns->name, ragd_strerror(rc));
        return false;
    }
    pthread_mutex_lock(&ns->wmu);
    if (seq > ns->snap_seq || !ns->snap_saved) {
        ns->snap_seq = seq;
        ns->snap_saved = true;
    }
    pthread_mutex_unlock(&ns->wmu);
    return true;
}

size_t kb_snapshot_all(kb_t *kb)
{
    if (!kb->o.snapshot_dir)
        return 0;
    char **names = NULL;
    size_t n = 0, wrote = 0;
    kb_ns_list(kb, &names, &n);
    for (size_t i = 0; i < n; i++) {
        kb_ns *ns = kb__ns_acquire(kb, names[i]);
        if (ns && kb__snapshot_ns(kb, ns))
            wrote++;
        kb__ns_release(ns);
    }
    kb_names_free(names, n);
    pthread_mutex_lock(&kb->rmu);
    kb->snapshots_written += wrote;
    pthread_mutex_unlock(&kb->rmu);
    return wrote;
}

/* A background thread's loop: fn(kb) every every_ms until kb_close. */
static void kb__every(kb_t *kb, int64_t every_ms, size_t (*fn)(kb_t *))
{
    pthread_mutex_lock(&kb->smu);
    while (!kb->snap_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + every_ms % 1000 * 1000000;
        ts.tv_sec += (time_t)(every_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&kb->scv, &kb->smu, &ts);
        if (kb->snap_stop)
            break;
        pthread_mutex_unlock(&kb->smu);
        fn(kb);
        pthread_mutex_lock(&kb->smu);
    }
    pthread_mutex_unlock(&kb->smu);
}

static void *kb__snap_main(void *arg)
{
    kb_t *kb = arg;
    kb__every(kb, (int64_t)kb->o.snapshot_interval_s * 1000, kb_snapshot_all);
    return NULL;
}

static void *kb__expire_main(void *arg)
{
    kb_t *kb = arg;
    kb__every(kb, kb->o.expire_interval_ms ? kb->o.expire_interval_ms : 1000, kb_expire_sweep);
    return NULL;
}

static void kb__snap_init(kb_t *kb)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&kb->scv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&kb->smu, NULL);
}

/* The snapshot writer (with a directory and an interval) and the expiry
 * sweeper (unless expire_interval_ms < 0). */
static void kb__bg_start(kb_t *kb)
{
    if (kb->o.snapshot_dir && kb->o.snapshot_interval_s > 0)
        kb->snap_running = pthread_create(&kb->snap_th, NULL, kb__snap_main, kb) == 0;
    if (kb->o.expire_interval_ms >= 0)
        kb->exp_running = pthread_create(&kb->exp_th, NULL, kb__expire_main, kb) == 0;
}

static void kb__bg_stop(kb_t *kb)
{
    pthread_mutex_lock(&kb->smu);
    kb->snap_stop = true;
    pthread_cond_broadcast(&kb->scv);
    pthread_mutex_unlock(&kb->smu);
    if (kb->snap_running)
        pthread_join(kb->snap_th, NULL);
    if (kb->exp_running)
        pthread_join(kb->exp_th, NULL);
    kb->snap_running = kb->exp_running = false;
}

int kb_open(const kb_opts *opts, kb_t **out, ragd_error *err)
{
    if (!opts || !opts->store || (opts->embed && !opts->dim))
        return ragd_error_set(err, RAGD_EINVAL, "kb_open: a store (and a dimension with an embedder) is required");
    kb_t *kb = xcalloc(1, sizeof *kb);
    kb->o = *opts;
    if (!kb->o.max_docs_per_batch)
        kb->o.max_docs_per_batch = 1000;
    if (!kb->o.embed)
        kb->o.dim = 0;
    snprintf(kb->model, sizeof kb->model, "%s", opts->model ? opts->model : "");
    kb->o.snapshot_dir = NULL;
    if (opts->snapshot_dir && *opts->snapshot_dir)
        kb->o.snapshot_dir = xstrdup(opts->snapshot_dir);  /* made by the first snapshot */
    kb->o.model = kb->model;
    pthread_rwlock_init(&kb->lock, NULL);
    pthread_mutex_init(&kb->ddl, NULL);
    pthread_mutex_init(&kb->rmu, NULL);
    kb__snap_init(kb);
    char id[33];
    kb__version_new(id);
    memcpy(kb->origin, id, 16);
    int64_t t0 = clock_mono_us();
    int rc = kb->o.repl ? kb__repl_epoch(kb, err) : RAGD_OK;
    if (!rc)
        rc = kb__load(kb, err);
    if (!rc)
        rc = kb__replay_all(kb, err);
    if (!rc && kb->o.repl)
        rc = kb__repl_start(kb, err);
    if (rc) {
        kb_close(kb);
        return rc;
    }
    kb->load_s = (double)(clock_mono_us() - t0) / 1e6;
    kb->start_keys_scanned = __atomic_load_n(&kb->keys_scanned, __ATOMIC_RELAXED);
    kb->opened = true;
    kb__bg_start(kb);
    *out = kb;
    return RAGD_OK;
}

void kb_close(kb_t *kb)
{
    if (!kb)
        return;
    kb__bg_stop(kb);
    if (kb->opened)
        kb_snapshot_all(kb); /* while followers still know their positions */
    if (kb->o.repl)
        kb__repl_stop(kb);
    size_t it = 0;
    void *v;
    while (strmap_next(&kb->ns, &it, NULL, &v))
        kb__ns_release(v);
    free((char *)kb->o.snapshot_dir);
    strmap_free(&kb->ns);
    pthread_rwlock_destroy(&kb->lock);
    pthread_mutex_destroy(&kb->ddl);
    pthread_mutex_destroy(&kb->rmu);
    pthread_mutex_destroy(&kb->smu);
    pthread_cond_destroy(&kb->scv);
    free(kb);
}

size_t kb_dim(const kb_t *kb) { return kb->o.dim; }
const char *kb_model(const kb_t *kb) { return kb->model; }
double kb_load_seconds(const kb_t *kb) { return kb->load_s; }
size_t kb_snapshots_loaded(const kb_t *kb) { return kb->snapshots_loaded; }
uint64_t kb_start_keys_scanned(const kb_t *kb) { return kb->start_keys_scanned; }

