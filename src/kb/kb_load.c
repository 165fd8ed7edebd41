/*
 * kb_load.c - namespaces at start: listed by the registry (kb_reg.c; one
 * read), each loaded from its snapshot (kb_snap.c) when one is usable - no read of its
 * documents from the store; kb__replay then applies what its log holds since -
 * or rebuilt: documents and chunks read back through the record formats of
 * kb_store.c, BM25 refilled from the texts and HNSW built from the stored
 * vectors on all cores (no model call is needed to come back after a
 * restart). A store without a registry is checked for data in the layout
 * before hash tags (kb:<ns>:...), moved to kb:{<ns>}:..., scanned for its
 * kb:{<ns>}:meta keys and given a registry: later starts scan nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "obs/log.h"
#include "util/mem.h"
#include "util/threadpool.h"

typedef struct kb_load_ns {
    kb_t *kb;
    kb_ns *ns;
    size_t prefix_len;
    uint32_t *ids;      /* slot of each loaded vector */
    float *vecs;        /* their vectors, dim each */
    size_t n, cap;
    uint32_t dim;
    uint64_t bad;       /* records that did not parse or fit */
} kb_load_ns;

static int kb__scan_doc(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    kb_load_ns *l = ud;
    kb_doc *d;
    (void)key, (void)klen;
    __atomic_add_fetch(&l->kb->keys_scanned, 1, __ATOMIC_RELAXED);
    if (kb__doc_decode(val, vlen, &d)) {
        l->bad++;
        return 0;
    }
    kb_doc *prev = strmap_put(&l->ns->docs, d->id, strlen(d->id), d);
    kb__doc_free(prev);
    l->ns->text_bytes += d->len;
    return 0;
}

static int kb__scan_chunk(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    kb_load_ns *l = ud;
    kb_ns *ns = l->ns;
    __atomic_add_fetch(&l->kb->keys_scanned, 1, __ATOMIC_RELAXED);
    const char *rest = key + l->prefix_len;
    const char *colon = memrchr(rest, ':', klen - l->prefix_len);
    uint32_t start, end, pieces, dim;
    const float *v;
    if (!colon || kb__chunk_decode(val, vlen, &start, &end, &pieces, &dim, &v)) {
        l->bad++;
        return 0;
    }
    kb_doc *d = strmap_get(&ns->docs, rest, (size_t)(colon - rest));
    unsigned long seq = strtoul(colon + 1, NULL, 10);
    if (!d || seq >= d->n_chunks || end > d->len || d->chunks[seq] != UINT32_MAX) {
        l->bad++;
        return 0;
    }
    uint32_t id;
    kb__slots_take(ns, &id, 1);
    ns->slots[id] = (kb_slot){ d, start, end, pieces, (uint32_t)seq };
    d->chunks[seq] = id;
    ns->n_chunks++;
    if (dim && dim == ns->st.dim && (!l->dim || dim == l->dim)) {
        l->dim = dim;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 1024;
            l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
            l->vecs = xrealloc(l->vecs, l->cap * dim * sizeof *l->vecs);
        }
        l->ids[l->n] = id;
        memcpy(l->vecs + l->n * dim, v, dim * sizeof *v);
        l->n++;
    }
    return 0;
}

static void kb__load_insert(void *ctx, size_t task, int thread)
{
    kb_load_ns *l = ctx;
    size_t lo = task * 64, hi = lo + 64 < l->n ? lo + 64 : l->n;
    for (size_t i = lo; i < hi; i++)
        hnsw_insert(l->ns->hn, l->ids[i], l->vecs + i * l->dim);
}

static void kb__load_bm25(kb_ns *ns)
{
    for (uint32_t id = 0; id < ns->n_slots; id++) {
        kb_slot *s = &ns->slots[id];
        if (s->doc)
            bm25_add_doc(kb__ns_bm25(ns), id, s->doc->text + s->start, s->end - s->start);
    }
}

/* Index every chunk loaded into l->ns (HNSW from the stashed vectors). */
static void kb__load_index(kb_load_ns *l, threadpool *tp)
{
    kb_ns *ns = l->ns;
    kb__load_bm25(ns);
    if (!l->n || !kb__ns_hnsw(ns, l->dim))
        return;
    if (tp)
        threadpool_run(tp, (l->n + 63) / 64, kb__load_insert, l);
    else
        for (size_t t = 0; t < (l->n + 63) / 64; t++)
            kb__load_insert(l, t, 0);
    for (size_t i = 0; i < l->n; i++)
        kb__vsum_add(ns, l->vecs + i * l->dim, 1.0);
}

/* Load ns from its snapshot (true); false
 * when there is none, or it cannot be used: then why is logged (info) and
 * counted as a rebuild. first/last: the namespace log's bounds. */
static bool kb__load_snap(kb_t *kb, kb_ns *ns, uint64_t first, uint64_t last)
{
    uint64_t seq = 0;
    const char *why = NULL;
    int rc = kb->o.snapshot_dir ? kb__snap_load(kb, ns, first, last, &seq, &why)
                                : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND)
        return false;
    if (rc) {
        log_msg(LOG_INFO, "knowledge bases: namespace %s: snapshot not used, rebuilding "
                "from the store: %s", ns->name, why);
        pthread_mutex_lock(&kb->rmu);
        kb->rebuilds++;
        pthread_mutex_unlock(&kb->rmu);
        return false;
    }
    ns->log_seq = ns->applied_seq = seq;
    kb->snapshots_loaded++;
    return true;
}

/* Read ns's documents and chunks from the store and build its indexes. */
static int kb__load_scan(kb_t *kb, kb_ns *ns, threadpool *tp)
{
    kb_load_ns l = { .kb = kb, .ns = ns };
    buf_t k = BUF_INIT;
    kb__key_prefix(&k, ns->name, "doc:");
    int rc = store_scan(kb->o.store, k.data, k.len, true, kb__scan_doc, &l);
    buf_reset(&k);
    kb__key_prefix(&k, ns->name, "chunk:");
    l.prefix_len = k.len;
    if (!rc)
        rc = store_scan(kb->o.store, k.data, k.len, true, kb__scan_chunk, &l);
    buf_free(&k);
    if (!rc)
        kb__load_index(&l, tp);
    free(l.ids);
    free(l.vecs);
    return rc;
}

/* ns's meta record (settings, created, version) and version token. *out =
 * NULL when the meta record is missing. */
static int kb__load_meta(kb_t *kb, const char *name, kb_ns **out, ragd_error *err)
{
    buf_t k = BUF_INIT;
    kb__key_meta(&k, name);
    store_value v;
    int rc = store_get(kb->o.store, k.data, k.len, &v);
    if (rc) {
        buf_free(&k);
        return rc == RAGD_ENOTFOUND ? RAGD_OK
                                    : ragd_error_set(err, rc, "namespace %s: %s", name,
                                                     ragd_strerror(rc));
    }
    kb_ns_settings st;
    int64_t created;
    uint64_t mver = 0;
    rc = kb__meta_decode(kb, v.data, v.len, &st, &created, &mver);
    if (rc) {
        store_value_free(&v);
        buf_free(&k);
        return ragd_error_set(err, rc, "namespace %s: malformed settings record", name);
    }
    kb_ns *ns = kb__ns_new(name, &st, created);
    kb_ns_settings_clear(&st);
    ns->meta_version = mver;
    buf_append(&ns->meta, v.data, v.len);
    store_value_free(&v);
    buf_reset(&k);
    kb__key_version(&k, name);
    if (store_get(kb->o.store, k.data, k.len, &v) == 0) {
        if (v.len == 32)
            memcpy(ns->version, v.data, 32);
        store_value_free(&v);
    }
    buf_free(&k);
    *out = ns;
    return RAGD_OK;
}

int kb__load_ns(kb_t *kb, const char *name, threadpool *tp, bool use_snap, kb_ns **out,
                ragd_error *err)
{
    *out = NULL;
    buf_t k = BUF_INIT;
    uint64_t first = 0, log_seq = 0;
    kb__key_log(&k, name);
    int rc = store_log_bounds(kb->o.store, k.data, &first, &log_seq);
    buf_free(&k);
    if (rc)
        return ragd_error_set(err, rc, "namespace %s: %s", name, ragd_strerror(rc));
    kb_ns *ns = NULL;
    rc = kb__load_meta(kb, name, &ns, err);
    if (rc || !ns)
        return rc;
    if (use_snap && kb__load_snap(kb, ns, first, log_seq)) {
        kb__expiry_scan(ns);
        *out = ns;
        return RAGD_OK;
    }
    ns->log_seq = ns->applied_seq = log_seq;
    rc = kb__load_scan(kb, ns, tp);
    if (rc) {
        kb__ns_release(ns);
        return ragd_error_set(err, rc, "namespace %s: reading the store failed: %s", name,
                              ragd_strerror(rc));
    }
    kb__expiry_scan(ns);
    *out = ns;
    return RAGD_OK;
}

/* ---- the layout before hash tags (kb:<ns>:...) ---- */

/* Keys of the old layout, to move. */
typedef struct kb_old {
    kb_t *kb;
    char **keys;
    size_t *klens;
    size_t n, cap;
} kb_old;

static int kb__scan_old(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    kb_old *o = ud;
    (void)val, (void)vlen;
    __atomic_add_fetch(&o->kb->keys_scanned, 1, __ATOMIC_RELAXED);
    if (klen < 5 || key[3] == '{')
        return 0;
    const char *colon = memchr(key + 3, ':', klen - 3);
    if (!colon || colon == key + 3 || (size_t)(colon - key - 3) > KB_NS_NAME_MAX)
        return 0;
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 256;
        o->keys = xrealloc(o->keys, o->cap * sizeof *o->keys);
        o->klens = xrealloc(o->klens, o->cap * sizeof *o->klens);
    }
    o->keys[o->n] = xstrndup(key, klen);
    o->klens[o->n] = klen;
    o->n++;
    return 0;
}

/* Move keys [at, at+m) of o to kb:{<ns>}:... in one batch (values read in
 * one round trip; write new, delete old; a key gone meanwhile is skipped). */
static int kb__migrate_batch(kb_t *kb, const kb_old *o, size_t at, size_t m)
{
    store_op *ops = xcalloc(2 * m, sizeof *ops);
    buf_t *nk = xcalloc(m, sizeof *nk);
    store_value *vals = xcalloc(m, sizeof *vals);
    int *rcs = xcalloc(m, sizeof *rcs);
    int rc = store_get_many(kb->o.store, (const char *const *)o->keys + at, o->klens + at, m,
                            vals, rcs);
    size_t nops = 0;
    for (size_t i = 0; rc == 0 && i < m; i++) {
        if (rcs[i] == RAGD_ENOTFOUND)
            continue;
        if ((rc = rcs[i]) != 0)
            break;
        const char *k = o->keys[at + i];
        const char *colon = memchr(k + 3, ':', o->klens[at + i] - 3);
        buf_printf(&nk[i], "kb:{%.*s}%s", (int)(colon - k - 3), k + 3, colon);
        ops[nops++] = (store_op){ nk[i].data, nk[i].len, vals[i].data, vals[i].len, 0, 0 };
        ops[nops++] = (store_op){ .key = k, .klen = o->klens[at + i] };
    }
    if (rc == 0 && nops)
        rc = store_batch(kb->o.store, ops, nops);
    for (size_t i = 0; i < m; i++) {
        buf_free(&nk[i]);
        if (rcs[i] == 0)
            store_value_free(&vals[i]);
    }
    free(rcs);
    free(vals);
    free(nk);
    free(ops);
    return rc;
}

/* Data written before the hash-tagged layout (kb:<ns>:meta, ...) moves once to
 * kb:{<ns>}:... at start, in batches of 128 keys (each new key written with
 * its old one's delete). The scan reads keys only; it runs when the store has
 * no registry yet (kb__load_names). */
static int kb__migrate(kb_t *kb, ragd_error *err)
{
    kb_old o = { .kb = kb };
    int rc = store_scan(kb->o.store, "kb:", 3, false, kb__scan_old, &o);
    for (size_t at = 0; rc == 0 && at < o.n; at += 128)
        rc = kb__migrate_batch(kb, &o, at, o.n - at < 128 ? o.n - at : 128);
    if (rc == 0 && o.n)
        log_msg(LOG_INFO, "knowledge bases: moved %zu keys to the hash-tagged layout "
                "(kb:{<namespace>}:...)", o.n);
    for (size_t i = 0; i < o.n; i++)
        free(o.keys[i]);
    free(o.keys);
    free(o.klens);
    return rc ? ragd_error_set(err, rc, "knowledge bases: moving keys to the hash-tagged "
                               "layout failed: %s", ragd_strerror(rc))
              : RAGD_OK;
}

/* The namespaces' names: the registry's (one read). A store without one
 * (data of an older ragd; a new or emptied store) has its old layout moved,
 * its meta keys scanned and the registry written from them, once. */
static int kb__load_names(kb_t *kb, char ***names, size_t *n, ragd_error *err)
{
    bool listed = false;
    int rc = kb__reg_list(kb, names, n, &listed);
    if (rc == 0 && listed)
        return RAGD_OK;
    if (rc == 0 && (rc = kb__migrate(kb, err)) != 0)
        return rc;
    if (rc == 0 && (rc = kb__scan_names(kb, names, n)) == 0 &&
        (rc = kb__reg_init(kb, *names, *n)) != 0) {
        kb__names_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc ? ragd_error_set(err, rc, "knowledge bases: listing the namespaces failed: %s",
                               ragd_strerror(rc))
              : RAGD_OK;
}

int kb__load(kb_t *kb, ragd_error *err)
{
    uint64_t first = 0;
    int rc = store_log_bounds(kb->o.store, KB_NSLOG, &first, &kb->nslog_seq);
    if (rc)
        return ragd_error_set(err, rc, "knowledge bases: reading %s failed: %s", KB_NSLOG,
                              ragd_strerror(rc));
    char **names = NULL;
    size_t n = 0;
    rc = kb__load_names(kb, &names, &n, err);
    if (rc)
        return rc;
    threadpool *tp = NULL;
    if (n)
        threadpool_create(kb->o.load_threads, &tp);
    for (size_t i = 0; i < n && !rc; i++) {
        kb_ns *ns = NULL;
        rc = kb__load_ns(kb, names[i], tp, true, &ns, err);
        if (ns)
            strmap_put(&kb->ns, ns->name, strlen(ns->name), ns);
    }
    threadpool_destroy(tp);
    kb__names_free(names, n);
    return rc;
}
