/*
 * kb_ns_obj.c - one namespace in memory: its struct's life (created holding
 * the registry's reference, freed with the last one), the documents it owns,
 * its lazily created indexes, the centroid sum, the pool of dense chunk
 * slot ids the indexes share and the min-heap of its documents' expiries.
 * Knows nothing of the store or the registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "util/mem.h"

void kb__doc_free(kb_doc *d)
{
    if (!d)
        return;
    free(d->id);
    free(d->text);
    free(d->user_id);
    cJSON_Delete(d->metadata);
    free(d->chunks);
    free(d);
}

kb_ns *kb__ns_new(const char *name, const kb_ns_settings *st, int64_t created_ms)
{
    kb_ns *ns = xcalloc(1, sizeof *ns);
    snprintf(ns->name, sizeof ns->name, "%s", name);
    kb_ns_settings_copy(&ns->st, st);
    ns->created_ms = created_ms;
    ns->refs = 1;
    pthread_mutex_init(&ns->wmu, NULL);
    pthread_rwlock_init(&ns->lock, NULL);
    pthread_mutex_init(&ns->emu, NULL);
    return ns;
}

static void kb__ns_free(kb_ns *ns)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&ns->docs, &it, NULL, &v))
        kb__doc_free(v);
    strmap_free(&ns->docs);
    bm25_destroy(ns->bm);
    hnsw_destroy(ns->hn);
    free(ns->slots);
    free(ns->free_ids);
    free(ns->vsum);
    kb_ns_settings_clear(&ns->st);
    buf_free(&ns->meta);
    for (size_t i = 0; i < ns->n_exp; i++)
        free(ns->exp[i].id);
    free(ns->exp);
    pthread_mutex_destroy(&ns->emu);
    pthread_mutex_destroy(&ns->wmu);
    pthread_rwlock_destroy(&ns->lock);
    free(ns);
}

void kb__ns_release(kb_ns *ns)
{
    if (ns && __atomic_sub_fetch(&ns->refs, 1, __ATOMIC_ACQ_REL) == 0)
        kb__ns_free(ns);
}

bm25 *kb__ns_bm25(kb_ns *ns)
{
    if (!ns->bm) {
        bm25_params p = { ns->st.bm25_k1, ns->st.bm25_b };
        bm25_create(&p, NULL, &ns->bm);
    }
    return ns->bm;
}

hnsw *kb__ns_hnsw(kb_ns *ns, uint32_t dim)
{
    if (!ns->hn && dim) {
        hnsw_params p = hnsw_default_params(dim);
        p.M = ns->st.hnsw_m;
        p.ef_construction = ns->st.hnsw_ef_construction;
        p.ef_search = ns->st.hnsw_ef_search;
        p.metric = ns->st.metric;
        if (hnsw_create(&p, &ns->hn) == 0) {
            ns->dim = dim;
            ns->vsum = xcalloc(dim, sizeof *ns->vsum);
        }
    }
    return ns->hn;
}

void kb__vsum_add(kb_ns *ns, const float *v, double sign)
{
    if (!ns->vsum || !v)
        return;
    for (uint32_t i = 0; i < ns->dim; i++)
        ns->vsum[i] += sign * v[i];
    ns->n_vec = sign > 0 ? ns->n_vec + 1 : ns->n_vec - 1;
}

/* ---- slot ids ---- */

void kb__slots_take(kb_ns *ns, uint32_t *ids, size_t n)
{
    pthread_rwlock_wrlock(&ns->lock);
    for (size_t i = 0; i < n; i++) {
        if (ns->n_free) {
            ids[i] = ns->free_ids[--ns->n_free];
        } else {
            if (ns->n_slots == ns->cap_slots) {
                ns->cap_slots = ns->cap_slots ? ns->cap_slots * 2 : 64;
                ns->slots = xrealloc(ns->slots, ns->cap_slots * sizeof *ns->slots);
            }
            ids[i] = ns->n_slots++;
        }
        memset(&ns->slots[ids[i]], 0, sizeof ns->slots[ids[i]]);
    }
    pthread_rwlock_unlock(&ns->lock);
}

void kb__slots_give(kb_ns *ns, const uint32_t *ids, size_t n)
{
    if (ns->n_free + n > ns->cap_free) {
        ns->cap_free = (ns->n_free + (uint32_t)n) * 2;
        ns->free_ids = xrealloc(ns->free_ids, ns->cap_free * sizeof *ns->free_ids);
    }
    for (size_t i = n; i-- > 0;)
        if (ids[i] != UINT32_MAX)
            ns->free_ids[ns->n_free++] = ids[i];
}

/* ---- the expiry heap (a binary min-heap on at) ---- */

static void kb__exp_swap(kb_exp *a, kb_exp *b)
{
    kb_exp t = *a;
    *a = *b;
    *b = t;
}

static void kb__exp_push(kb_ns *ns, int64_t at, const char *id)
{
    if (ns->n_exp == ns->cap_exp) {
        ns->cap_exp = ns->cap_exp ? 2 * ns->cap_exp : 16;
        ns->exp = xrealloc(ns->exp, ns->cap_exp * sizeof *ns->exp);
    }
    size_t i = ns->n_exp++;
    ns->exp[i] = (kb_exp){ at, xstrdup(id) };
    while (i && ns->exp[(i - 1) / 2].at > ns->exp[i].at) {
        kb__exp_swap(&ns->exp[(i - 1) / 2], &ns->exp[i]);
        i = (i - 1) / 2;
    }
}

/* Remove the root (the caller took its id). */
static void kb__exp_pop(kb_ns *ns)
{
    ns->exp[0] = ns->exp[--ns->n_exp];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ns->n_exp && ns->exp[l].at < ns->exp[m].at)
            m = l;
        if (r < ns->n_exp && ns->exp[r].at < ns->exp[m].at)
            m = r;
        if (m == i)
            break;
        kb__exp_swap(&ns->exp[i], &ns->exp[m]);
        i = m;
    }
}

/* The heap rebuilt from the documents (emu held; docs stable: the caller
 * holds wmu or owns ns alone). */
static void kb__exp_rebuild(kb_ns *ns)
{
    for (size_t i = 0; i < ns->n_exp; i++)
        free(ns->exp[i].id);
    ns->n_exp = 0;
    size_t it = 0;
    void *v;
    while (strmap_next(&ns->docs, &it, NULL, &v)) {
        const kb_doc *d = v;
        if (d->expires_at)
            kb__exp_push(ns, d->expires_at, d->id);
    }
}

void kb__expiry_note(kb_ns *ns, const kb_doc *d)
{
    if (!d->expires_at)
        return;
    pthread_mutex_lock(&ns->emu);
    /* replaced documents leave stale entries: past twice the documents, start over */
    if (ns->n_exp >= 2 * ns->docs.count + 64)
        kb__exp_rebuild(ns);
    else
        kb__exp_push(ns, d->expires_at, d->id);
    pthread_mutex_unlock(&ns->emu);
}

void kb__expiry_scan(kb_ns *ns)
{
    pthread_mutex_lock(&ns->emu);
    kb__exp_rebuild(ns);
    pthread_mutex_unlock(&ns->emu);
}

size_t kb__expiry_due(kb_ns *ns, int64_t now_s, char ***ids)
{
    size_t n = 0, cap = 0;
    *ids = NULL;
    pthread_mutex_lock(&ns->emu);
    while (ns->n_exp && ns->exp[0].at <= now_s) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            *ids = xrealloc(*ids, cap * sizeof **ids);
        }
        (*ids)[n++] = ns->exp[0].id;
        kb__exp_pop(ns);
    }
    pthread_mutex_unlock(&ns->emu);
    return n;
}
