/*
 * kb_load.c - the rebuild at start: namespaces are found by their
 * kb:<ns>:meta keys, documents and chunks read back through the record
 * formats of kb_store.c, then BM25 is refilled from the document texts and
 * HNSW loaded from a snapshot (kb_snap.c) still valid for the namespace's
 * version, or rebuilt from the stored vectors on all cores - no model call
 * is needed to come back after a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
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
    bool mapped;        /* slots come from a snapshot's map (doc->chunks) */
} kb_load_ns;

typedef struct kb_names {
    char **v;
    size_t n, cap;
} kb_names;

static int kb__scan_meta(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    kb_names *names = ud;
    if (klen < 9 || memcmp(key + klen - 5, ":meta", 5) != 0)
        return 0;
    size_t nl = klen - 3 - 5;
    if (nl == 0 || nl > KB_NS_NAME_MAX || memchr(key + 3, ':', nl))
        return 0;
    if (names->n == names->cap) {
        names->cap = names->cap ? names->cap * 2 : 16;
        names->v = xrealloc(names->v, names->cap * sizeof *names->v);
    }
    names->v[names->n++] = xstrndup(key + 3, nl);
    return 0;
}

static int kb__scan_doc(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    kb_load_ns *l = ud;
    kb_doc *d;
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
    bool taken = d && seq < d->n_chunks && d->chunks[seq] != UINT32_MAX;
    if (!d || seq >= d->n_chunks || end > d->len || taken != l->mapped ||
        (taken && ns->slots[d->chunks[seq]].doc)) {
        l->bad++;
        return 0;
    }
    uint32_t id;
    if (l->mapped)
        id = d->chunks[seq];
    else
        kb__slots_take(ns, &id, 1);
    ns->slots[id] = (kb_slot){ d, start, end, pieces, (uint32_t)seq };
    d->chunks[seq] = id;
    ns->n_chunks++;
    if (!l->mapped && dim && dim == ns->st.dim && (!l->dim || dim == l->dim)) {
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
    threadpool_run(tp, (l->n + 63) / 64, kb__load_insert, l);
    for (size_t i = 0; i < l->n; i++)
        kb__vsum_add(ns, l->vecs + i * l->dim, 1.0);
}

static int kb__load_ns(kb_t *kb, const char *name, threadpool *tp, ragd_error *err)
{
    buf_t k = BUF_INIT;
    kb__key_meta(&k, name);
    store_value v;
    int rc = store_get(kb->o.store, k.data, k.len, &v);
    if (rc) {
        buf_free(&k);
        return rc == RAGD_ENOTFOUND ? RAGD_OK : ragd_error_set(err, rc, "namespace %s: %s", name, ragd_strerror(rc));
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
    kb_load_ns l = { .kb = kb, .ns = kb__ns_new(name, &st, created) };
    kb_ns_settings_clear(&st);
    l.ns->meta_version = mver;
    buf_append(&l.ns->meta, v.data, v.len);
    store_value_free(&v);
    buf_reset(&k);
    kb__key_version(&k, name);
    if (store_get(kb->o.store, k.data, k.len, &v) == 0) {
        if (v.len == 32)
            memcpy(l.ns->version, v.data, 32);
        store_value_free(&v);
    }
    buf_reset(&k);
    buf_printf(&k, "kb:%s:doc:", name);
    rc = store_scan(kb->o.store, k.data, k.len, true, kb__scan_doc, &l);
    buf_reset(&k);
    buf_printf(&k, "kb:%s:chunk:", name);
    l.prefix_len = k.len;
    size_t mapped = rc ? 0 : kb__snap_map(l.ns, kb->o.snapshot_dir);
    l.mapped = mapped > 0;
    if (!rc)
        rc = store_scan(kb->o.store, k.data, k.len, true, kb__scan_chunk, &l);
    if (!rc && l.mapped && (l.bad || !kb__snap_finish(l.ns, kb->o.snapshot_dir, mapped))) {
        kb__snap_reset(l.ns); /* the snapshot does not match: rebuild */
        l.mapped = false;
        l.bad = 0;
        rc = store_scan(kb->o.store, k.data, k.len, true, kb__scan_chunk, &l);
    }
    buf_free(&k);
    if (!rc && l.mapped) {
        kb->snapshots_loaded++;
        kb__load_bm25(l.ns);
    } else if (!rc) {
        kb__load_index(&l, tp);
    }
    free(l.ids);
    free(l.vecs);
    if (rc) {
        kb__ns_release(l.ns);
        return ragd_error_set(err, rc, "namespace %s: reading the store failed: %s", name,
                              ragd_strerror(rc));
    }
    strmap_put(&kb->ns, name, strlen(name), l.ns);
    return RAGD_OK;
}

int kb__load(kb_t *kb, ragd_error *err)
{
    kb_names names = { 0 };
    int rc = store_scan(kb->o.store, "kb:", 3, false, kb__scan_meta, &names);
    if (rc) {
        free(names.v);
        return ragd_error_set(err, rc, "knowledge bases: scanning the store failed: %s",
                              ragd_strerror(rc));
    }
    threadpool *tp = NULL;
    if (names.n)
        threadpool_create(kb->o.load_threads, &tp);
    for (size_t i = 0; i < names.n && !rc; i++)
        rc = kb__load_ns(kb, names.v[i], tp, err);
    threadpool_destroy(tp);
    for (size_t i = 0; i < names.n; i++)
        free(names.v[i]);
    free(names.v);
    return rc;
}
