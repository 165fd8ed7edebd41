/*
 * kb_ns.c - the namespace registry: create / update / drop (persisted under
 * kb:{<ns>}:meta, each with its record on the namespaces' log kb:nslog in the
 * same atomic step, so other instances follow), listing, statistics and
 * centroids. A namespace's own data lives in kb_ns_obj.c, its settings in
 * kb_settings.c; kb_open and kb_close are in kb_life.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kb/kb_int.h"
#include "util/clock.h"
#include "util/mem.h"

/* ---- registry ---- */

kb_ns *kb__ns_acquire(kb_t *kb, const char *name)
{
    pthread_rwlock_rdlock(&kb->lock);
    kb_ns *ns = name ? strmap_get(&kb->ns, name, strlen(name)) : NULL;
    if (ns)
        __atomic_add_fetch(&ns->refs, 1, __ATOMIC_ACQ_REL);
    pthread_rwlock_unlock(&kb->lock);
    return ns;
}

void kb__ns_forget(kb_t *kb, kb_ns *ns)
{
    bool was = false;
    pthread_rwlock_wrlock(&kb->lock);
    if (strmap_get(&kb->ns, ns->name, strlen(ns->name)) == ns) {
        strmap_del(&kb->ns, ns->name, strlen(ns->name));
        __atomic_sub_fetch(&ns->refs, 1, __ATOMIC_ACQ_REL); /* the registry's; caller holds one */
        was = true;
    }
    ns->dropped = true;
    pthread_rwlock_unlock(&kb->lock);
    if (was && kb->hooks.ns_removed)
        kb->hooks.ns_removed(kb, ns->name);
}

void kb__ns_register(kb_t *kb, kb_ns *ns)
{
    pthread_rwlock_wrlock(&kb->lock);
    kb_ns *old = strmap_put(&kb->ns, ns->name, strlen(ns->name), ns);
    if (old)
        old->dropped = true;
    pthread_rwlock_unlock(&kb->lock);
    kb__ns_release(old); /* the registry's reference */
    if (kb->hooks.ns_added)
        kb->hooks.ns_added(kb, ns);
}

int kb__ns_check_live(kb_t *kb, kb_ns *ns)
{
    if (ns->dropped)
        return RAGD_ENOTFOUND;
    if (!store_has(kb->o.store, STORE_CAP_SHARED))
        return RAGD_OK; /* one process per store: memory is the truth */
    buf_t k = BUF_INIT;
    kb__key_meta(&k, ns->name);
    int rc = store_exists(kb->o.store, k.data, k.len);
    buf_free(&k);
    if (rc != RAGD_ENOTFOUND)
        return rc;
    kb__ns_forget(kb, ns);
    return RAGD_ENOTFOUND;
}

/* ---- namespace operations ---- */

/* Write ns's meta record with op's record on kb:nslog, after check (the
 * record missing, or equal to ns->meta): RAGD_ECONFLICT otherwise. A create
 * adds ns to the registry of names in the same step (kb_reg.c). */
static int kb__meta_write(kb_t *kb, kb_ns *ns, const char *op, int check, const buf_t *k,
                          const buf_t *v)
{
    buf_t rec = BUF_INIT;
    kb__nslog_record(&rec, op, ns->name, kb->origin);
    store_check c = { k->data, k->len, check, ns->meta.data, ns->meta.len };
    store_op w = { k->data, k->len, v->data, v->len, 0, 0 };
    uint64_t seq;
    int rc = check == STORE_CHECK_MISSING
                 ? kb__reg_write(kb, ns->name, true, &c, &w, &rec)
                 : store_batch_log_if(kb->o.store, &c, 1, &w, 1, KB_NSLOG, rec.data, rec.len,
                                      &seq, NULL);
    buf_free(&rec);
    return rc;
}

/* Create ns's meta record only if no instance has (RAGD_EEXISTS otherwise),
 * logged on kb:nslog in the same step; on success ns->meta holds it and
 * ns->log_seq where its log stood just before. */
static int kb__meta_create(kb_t *kb, kb_ns *ns)
{
    buf_t k = BUF_INIT, v = BUF_INIT;
    kb__key_log(&k, ns->name);
    uint64_t first = 0;
    int rc = store_log_bounds(kb->o.store, k.data, &first, &ns->log_seq);
    ns->applied_seq = ns->log_seq;
    buf_reset(&k);
    kb__key_meta(&k, ns->name);
    kb__meta_encode(ns->name, ns->created_ms, &ns->st, 1, &v);
    if (rc == 0)
        rc = kb__meta_write(kb, ns, "create", STORE_CHECK_MISSING, &k, &v);
    if (rc == RAGD_ECONFLICT)
        rc = RAGD_EEXISTS;
    if (rc == 0) {
        ns->meta_version = 1;
        buf_reset(&ns->meta);
        buf_append(&ns->meta, v.data, v.len);
    }
    buf_free(&k);
    buf_free(&v);
    return rc;
}

/* After a lost compare-and-set, take the settings another instance stored
 * (so that a retry can succeed). RAGD_ENOTFOUND when the record is gone.
 * Caller holds wmu. */
int kb__ns_meta_adopt(kb_t *kb, kb_ns *ns)
{
    buf_t k = BUF_INIT;
    kb__key_meta(&k, ns->name);
    store_value v;
    int rc = store_get(kb->o.store, k.data, k.len, &v);
    buf_free(&k);
    if (rc)
        return rc;
    kb_ns_settings st;
    int64_t created;
    uint64_t ver;
    rc = kb__meta_decode(kb, v.data, v.len, &st, &created, &ver);
    if (rc == 0) {
        pthread_rwlock_wrlock(&ns->lock);
        kb_ns_settings old = ns->st;
        ns->st = st;
        if (ns->hn)
            hnsw_set_ef_search(ns->hn, st.hnsw_ef_search);
        pthread_rwlock_unlock(&ns->lock);
        kb_ns_settings_clear(&old);
        ns->meta_version = ver;
        buf_reset(&ns->meta);
        buf_append(&ns->meta, v.data, v.len);
    }
    store_value_free(&v);
    return rc;
}

/* Write settings s as the next version of ns's meta record, compare-and-set
 * against the record this instance last saw: RAGD_ECONFLICT when another
 * instance changed it since (ns then holds that instance's settings).
 * Caller holds wmu. */
static int kb__meta_update(kb_t *kb, kb_ns *ns, const kb_ns_settings *s, ragd_error *err)
{
    buf_t k = BUF_INIT, v = BUF_INIT;
    kb__key_meta(&k, ns->name);
    kb__meta_encode(ns->name, ns->created_ms, s, ns->meta_version + 1, &v);
    int rc = kb__meta_write(kb, ns, "update", STORE_CHECK_EQUAL, &k, &v);
    if (rc == 0) {
        ns->meta_version++;
        buf_reset(&ns->meta);
        buf_append(&ns->meta, v.data, v.len);
    } else if (rc == RAGD_ECONFLICT) {
        int arc = kb__ns_meta_adopt(kb, ns);
        if (arc == RAGD_ENOTFOUND)
            rc = ragd_error_set(err, RAGD_ENOTFOUND, "namespace '%s' does not exist", ns->name);
        else
            ragd_error_set(err, rc, "namespace '%s' settings were changed by another writer "
                           "(now version %llu): re-read them and retry", ns->name,
                           (unsigned long long)ns->meta_version);
    } else {
        ragd_error_set(err, rc, "store write failed: %s", ragd_strerror(rc));
    }
    buf_free(&k);
    buf_free(&v);
    return rc;
}

/* A provider model's dimension (asked of the resolver, which may ask the
 * provider), checked against the one the settings declare. */
static int kb__settle_model(kb_t *kb, kb_ns *ns, ragd_error *err)
{
    kb_ns_settings *st = &ns->st;
    if (!st->model[0] || kb__is_local_model(kb, st->model))
        return RAGD_OK;
    kb_embedder e;
    int rc = kb__embedder(kb, st, &e, err);
    if (rc)
        return rc;
    if (st->dim && st->dim != e.dim)
        return ragd_error_set(err, RAGD_EINVAL, "'dimension' %u differs from %zu, the dimension "
                              "of '%s'", st->dim, e.dim, st->model);
    st->dim = (uint32_t)e.dim;
    return RAGD_OK;
}

int kb_ns_create(kb_t *kb, const char *name, const kb_ns_settings *settings, ragd_error *err)
{
    if (!kb_ns_name_ok(name))
        return ragd_error_set(err, RAGD_EINVAL,
                              "namespace names are 1-%d characters of A-Z a-z 0-9 _ - .",
                              KB_NS_NAME_MAX);
    kb_ns_settings def;
    kb_ns_settings_default(kb, &def);
    kb_ns *ns = kb__ns_new(name, settings ? settings : &def, clock_wall_ms());
    kb_ns_settings_clear(&def);
    int src = kb__settle_model(kb, ns, err);
    if (src) {
        kb__ns_release(ns);
        return src;
    }
    pthread_mutex_lock(&kb->ddl);
    pthread_rwlock_wrlock(&kb->lock);
    int rc = RAGD_OK;
    if (strmap_get(&kb->ns, name, strlen(name)) ||
        (rc = kb__meta_create(kb, ns)) == RAGD_EEXISTS) /* another instance's, maybe */
        rc = ragd_error_set(err, RAGD_EEXISTS, "namespace '%s' already exists", name);
    else if (rc)
        ragd_error_set(err, rc, "namespace '%s': store write failed: %s", name, ragd_strerror(rc));
    pthread_rwlock_unlock(&kb->lock);
    if (rc == 0)
        kb__ns_register(kb, ns);
    pthread_mutex_unlock(&kb->ddl);
    if (rc)
        kb__ns_release(ns);
    return rc;
}

int kb_ns_update(kb_t *kb, const char *name, const kb_ns_settings *s, ragd_error *err)
{
    kb_ns *ns = kb__ns_acquire(kb, name);
    if (!ns)
        return ragd_error_set(err, RAGD_ENOTFOUND, "namespace '%s' does not exist", name);
    pthread_mutex_lock(&ns->wmu);
    const kb_ns_settings *o = &ns->st;
    int rc = RAGD_OK;
    if (s->chunk_size != o->chunk_size || s->chunk_overlap != o->chunk_overlap ||
        s->bm25_k1 != o->bm25_k1 || s->bm25_b != o->bm25_b || s->hnsw_m != o->hnsw_m ||
        s->hnsw_ef_construction != o->hnsw_ef_construction || strcmp(s->model, o->model) ||
        s->dim != o->dim || s->metric != o->metric) {
        rc = ragd_error_set(err, RAGD_EINVAL, "only description, examples and hnsw_ef_search "
                            "can change after creation (re-create the namespace for the others)");
    } else if ((rc = kb__meta_update(kb, ns, s, err)) == 0) {
        pthread_rwlock_wrlock(&ns->lock);
        kb_ns_settings old = ns->st;
        kb_ns_settings_copy(&ns->st, s);
        if (ns->hn)
            hnsw_set_ef_search(ns->hn, s->hnsw_ef_search);
        pthread_rwlock_unlock(&ns->lock);
        kb_ns_settings_clear(&old);
    }
    pthread_mutex_unlock(&ns->wmu);
    kb__ns_release(ns);
    return rc;
}

int kb_ns_drop(kb_t *kb, const char *name, uint64_t *docs)
{
    pthread_mutex_lock(&kb->ddl);
    pthread_rwlock_wrlock(&kb->lock);
    kb_ns *ns = name ? strmap_del(&kb->ns, name, strlen(name)) : NULL;
    pthread_rwlock_unlock(&kb->lock);
    if (!ns) {
        pthread_mutex_unlock(&kb->ddl);
        return RAGD_ENOTFOUND;
    }
    pthread_mutex_lock(&ns->wmu);
    ns->dropped = true;
    if (docs)
        *docs = ns->docs.count;
    /* meta first, with the drop on kb:nslog and out of the registry in the
     * same step: a crash half-way leaves keys a restart ignores */
    buf_t k = BUF_INIT, rec = BUF_INIT;
    kb__key_meta(&k, ns->name);
    store_op del = { .key = k.data, .klen = k.len };
    kb__nslog_record(&rec, "drop", ns->name, kb->origin);
    int rc = kb__reg_write(kb, ns->name, false, NULL, &del, &rec);
    buf_free(&rec);
    buf_reset(&k);
    kb__key_prefix(&k, ns->name, "*");
    uint64_t n = 0;
    if (!rc)
        rc = store_del_pattern(kb->o.store, k.data, &n);
    buf_reset(&k);
    kb__key_log(&k, ns->name);
    if (!rc)
        rc = store_log_delete(kb->o.store, k.data);
    buf_free(&k);
    if (kb->o.snapshot_dir)
        kb__snap_remove(ns->name, kb->o.snapshot_dir);
    pthread_mutex_unlock(&ns->wmu);
    pthread_mutex_unlock(&kb->ddl);
    if (kb->hooks.ns_removed)
        kb->hooks.ns_removed(kb, ns->name);
    kb__ns_release(ns);
    return rc;
}

bool kb_ns_exists(kb_t *kb, const char *name)
{
    kb_ns *ns = kb__ns_acquire(kb, name);
    kb__ns_release(ns);
    return ns != NULL;
}

int kb_ns_get_info(kb_t *kb, const char *name, kb_ns_info *out)
{
    kb_ns *ns = kb__ns_acquire(kb, name);
    if (!ns)
        return RAGD_ENOTFOUND;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&ns->lock);
    snprintf(out->name, sizeof out->name, "%s", ns->name);
    kb_ns_settings_copy(&out->settings, &ns->st);
    out->created_ms = ns->created_ms;
    out->documents = ns->docs.count;
    out->chunks = ns->n_chunks;
    out->text_bytes = ns->text_bytes;
    out->dim = ns->dim;
    if (ns->bm) {
        bm25_stats bs;
        bm25_get_stats(ns->bm, &bs);
        out->bm25_terms = bs.n_terms;
        out->bm25_postings = bs.n_postings;
        out->bm25_bytes = bs.memory_bytes;
    }
    if (ns->hn) {
        hnsw_stats hs;
        hnsw_get_stats(ns->hn, &hs);
        out->hnsw_vectors = hs.count;
        out->hnsw_deleted = hs.deleted;
        out->hnsw_bytes = hs.memory_bytes;
    }
    pthread_rwlock_unlock(&ns->lock);
    kb__ns_release(ns);
    return RAGD_OK;
}

void kb_ns_info_clear(kb_ns_info *info)
{
    kb_ns_settings_clear(&info->settings);
}

static int kb__cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int kb_ns_list(kb_t *kb, char ***names, size_t *n)
{
    pthread_rwlock_rdlock(&kb->lock);
    size_t cnt = kb->ns.count, i = 0, it = 0;
    char **v = xmalloc((cnt ? cnt : 1) * sizeof *v);
    const char *k;
    while (strmap_next(&kb->ns, &it, &k, NULL))
        v[i++] = xstrdup(k);
    pthread_rwlock_unlock(&kb->lock);
    qsort(v, cnt, sizeof *v, kb__cmp_str);
    *names = v;
    *n = cnt;
    return RAGD_OK;
}

void kb_names_free(char **names, size_t n)
{
    kb__names_free(names, n);
}

int kb_ns_centroid(kb_t *kb, const char *name, float *out, size_t dim)
{
    kb_ns *ns = kb__ns_acquire(kb, name);
    if (!ns)
        return RAGD_ENOTFOUND;
    int rc = RAGD_OK;
    pthread_rwlock_rdlock(&ns->lock);
    if (!ns->vsum || !ns->n_vec)
        rc = RAGD_ENOTFOUND;
    else if (dim != ns->dim)
        rc = RAGD_EINVAL;
    else
        for (size_t i = 0; i < dim; i++)
            out[i] = (float)(ns->vsum[i] / (double)ns->n_vec);
    pthread_rwlock_unlock(&ns->lock);
    kb__ns_release(ns);
    return rc;
}
