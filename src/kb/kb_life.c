/*
 * kb_life.c - a knowledge base's life: kb_open (the store's epoch, the rebuild
 * through kb_load.c, then the followers of kb_repl.c) and kb_close (followers
 * stopped first, then HNSW snapshots). The top of kb/'s call order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kb/kb_int.h"
#include "util/clock.h"
#include "util/mem.h"

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
    if (opts->snapshot_dir && *opts->snapshot_dir) {
        mkdir(opts->snapshot_dir, 0700);
        kb->o.snapshot_dir = xstrdup(opts->snapshot_dir);
    }
    kb->o.model = kb->model;
    pthread_rwlock_init(&kb->lock, NULL);
    pthread_mutex_init(&kb->ddl, NULL);
    pthread_mutex_init(&kb->rmu, NULL);
    char id[33];
    kb__version_new(id);
    memcpy(kb->origin, id, 16);
    int64_t t0 = clock_mono_us();
    int rc = kb->o.repl ? kb__repl_epoch(kb, err) : RAGD_OK;
    if (!rc)
        rc = kb__load(kb, err);
    if (!rc && kb->o.repl)
        rc = kb__repl_start(kb, err);
    if (rc) {
        kb_close(kb);
        return rc;
    }
    kb->load_s = (double)(clock_mono_us() - t0) / 1e6;
    *out = kb;
    return RAGD_OK;
}

/* Snapshot one namespace at close (best effort: without it a restart
 * rebuilds). A namespace never written since this version of the layout has
 * no version token yet: give it one first. */
static void kb__close_snapshot(kb_t *kb, kb_ns *ns)
{
    if (!ns->hn)
        return;
    if (!ns->version[0]) {
        char ver[33];
        buf_t k = BUF_INIT;
        kb__version_new(ver);
        kb__key_version(&k, ns->name);
        if (store_set(kb->o.store, k.data, k.len, ver, 32, 0, 0) == 0)
            memcpy(ns->version, ver, sizeof ver);
        buf_free(&k);
    }
    kb__snap_save(ns, kb->o.snapshot_dir);
}

void kb_close(kb_t *kb)
{
    if (!kb)
        return;
    if (kb->o.repl)
        kb__repl_stop(kb);
    size_t it = 0;
    void *v;
    while (strmap_next(&kb->ns, &it, NULL, &v)) {
        if (kb->o.snapshot_dir)
            kb__close_snapshot(kb, v);
        kb__ns_release(v);
    }
    free((char *)kb->o.snapshot_dir);
    strmap_free(&kb->ns);
    pthread_rwlock_destroy(&kb->lock);
    pthread_mutex_destroy(&kb->ddl);
    pthread_mutex_destroy(&kb->rmu);
    free(kb);
}

size_t kb_dim(const kb_t *kb) { return kb->o.dim; }
const char *kb_model(const kb_t *kb) { return kb->model; }
double kb_load_seconds(const kb_t *kb) { return kb->load_s; }
size_t kb_snapshots_loaded(const kb_t *kb) { return kb->snapshots_loaded; }

