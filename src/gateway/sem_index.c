/*
 * sem_index.c - the semantic cache's bounded index (sem_index.h): a table of
 * partitions by name, each with its entries by dense id (ids of removed
 * entries are reused, so an HNSW graph's tombstones never pile up), a map
 * from exact-cache key to entry, and a flat scan or an HNSW graph over the
 * vectors; one age list across partitions orders entries for eviction.
 */
#include "gateway/sem_index.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/flat.h"
#include "index/hnsw.h"
#include "util/mem.h"
#include "util/strmap.h"

#define SEMIDX_CANDIDATES 4
#define SEMIDX_EF_CONSTRUCTION 64
#define SEMIDX_MIGRATE_STEP 8  /* vectors moved into the graph per insert */

typedef struct sem_part sem_part;

typedef struct sem_ent {
    sem_part *part;
    uint32_t id;
    char *skey, *prompt;
    int64_t expire_at_ms;
    struct sem_ent *older, *younger;  /* the age list */
} sem_ent;

struct sem_part {
    char name[65];
    flat *flat;              /* searched while the partition is small */
    hnsw *graph;             /* from the threshold: filled while flat still serves
                                (ids below migrated are in both), then alone */
    size_t migrated;
    sem_ent **ents;          /* by id; NULL = free */
    size_t nids, cap;        /* ids handed out, room in ents */
    uint32_t *free_ids;      /* ids to hand out again (stack) */
    size_t nfree;
    size_t live;
    strmap by_skey;          /* skey -> sem_ent */
};

struct gw_semidx {
    size_t dim, max, threshold;
    pthread_rwlock_t lock;
    strmap parts;            /* name -> sem_part */
    sem_ent *oldest, *youngest;
    uint64_t total, evictions, expired, hnsw_parts;
};

int gw_semidx_create(const gw_semidx_opts *o, gw_semidx **out)
{
    if (o->dim == 0)
        return RAGD_EINVAL;
    gw_semidx *ix = xcalloc(1, sizeof *ix);
    ix->dim = o->dim;
    ix->max = o->max_entries;
    ix->threshold = o->hnsw_threshold ? o->hnsw_threshold : GW_SEMIDX_HNSW_THRESHOLD;
    pthread_rwlock_init(&ix->lock, NULL);
    *out = ix;
    return RAGD_OK;
}

static void semidx__part_free(sem_part *p)
{
    for (size_t i = 0; i < p->nids; i++) {
        if (p->ents[i]) {
            free(p->ents[i]->skey);
            free(p->ents[i]->prompt);
            free(p->ents[i]);
        }
    }
    free(p->ents);
    free(p->free_ids);
    strmap_free(&p->by_skey);
    flat_destroy(p->flat);
    hnsw_destroy(p->graph);
    free(p);
}

/* Free every partition; the caller holds the write lock (or is the owner). */
static void semidx__free_all(gw_semidx *ix)
{
    void *v;
    for (size_t it = 0; strmap_next(&ix->parts, &it, NULL, &v);)
        semidx__part_free(v);
    strmap_free(&ix->parts);
    memset(&ix->parts, 0, sizeof ix->parts);
    ix->oldest = ix->youngest = NULL;
    ix->total = ix->hnsw_parts = 0;
}

void gw_semidx_destroy(gw_semidx *ix)
{
    if (!ix)
        return;
    semidx__free_all(ix);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

void gw_semidx_clear(gw_semidx *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    semidx__free_all(ix);
    pthread_rwlock_unlock(&ix->lock);
}

/* ---- the age list ---------------------------------------------------------- */

static void semidx__unlink(gw_semidx *ix, sem_ent *e)
{
    if (e->older)
        e->older->younger = e->younger;
    else
        ix->oldest = e->younger;
    if (e->younger)
        e->younger->older = e->older;
    else
        ix->youngest = e->older;
    e->older = e->younger = NULL;
}

static void semidx__push_young(gw_semidx *ix, sem_ent *e)
{
    e->older = ix->youngest;
    e->younger = NULL;
    if (ix->youngest)
        ix->youngest->younger = e;
    else
        ix->oldest = e;
    ix->youngest = e;
}

/* ---- partitions --------------------------------------------------------------- */

/* Does the graph hold (or must it hold) id? */
static bool semidx__in_graph(const sem_part *p, uint32_t id)
{
    return p->graph && (!p->flat || id < p->migrated);
}

static int semidx__vec_add(sem_part *p, uint32_t id, const float *v)
{
    int rc = p->flat ? flat_add(p->flat, id, v) : 0;
    if (rc == 0 && semidx__in_graph(p, id)) {
        rc = hnsw_insert(p->graph, id, v);
        if (rc && p->flat)
            flat_delete(p->flat, id);
    }
    return rc;
}

static void semidx__vec_del(sem_part *p, uint32_t id)
{
    if (semidx__in_graph(p, id))
        hnsw_delete(p->graph, id);
    if (p->flat)
        flat_delete(p->flat, id);
}

/* The partition reached the threshold: start its HNSW graph. The vectors move
 * in a few per insert (semidx__migrate), so no insert holds the lock for the
 * whole build; the scan serves until the graph has them all. */
static void semidx__start_graph(gw_semidx *ix, sem_part *p)
{
    hnsw_params hp = hnsw_default_params((uint32_t)ix->dim);
    hp.ef_construction = SEMIDX_EF_CONSTRUCTION;
    if (hnsw_create(&hp, &p->graph))
        p->graph = NULL;  /* stays flat: slower, still right */
    p->migrated = 0;
}

static void semidx__migrate(gw_semidx *ix, sem_part *p)
{
    float *v = xmalloc(ix->dim * sizeof *v);
    for (int k = 0; k < SEMIDX_MIGRATE_STEP && p->migrated < p->nids; k++) {
        uint32_t id = (uint32_t)p->migrated++;
        if (p->ents[id] && flat_get(p->flat, id, v) == 0)
            hnsw_insert(p->graph, id, v);
    }
    free(v);
    if (p->migrated >= p->nids) {
        flat_destroy(p->flat);
        p->flat = NULL;
        ix->hnsw_parts++;
    }
}

static sem_part *semidx__part_get(gw_semidx *ix, const char *name, bool create)
{
    sem_part *p = strmap_get(&ix->parts, name, strlen(name));
    if (p || !create)
        return p;
    p = xcalloc(1, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (flat_create(ix->dim, VEC_COSINE, &p->flat)) {
        free(p);
        return NULL;
    }
    strmap_put(&ix->parts, p->name, strlen(p->name), p);
    return p;
}

static uint32_t semidx__take_id(sem_part *p)
{
    if (p->nfree)
        return p->free_ids[--p->nfree];
    if (p->nids == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->ents = xrealloc(p->ents, p->cap * sizeof *p->ents);
    }
    p->ents[p->nids] = NULL;
    return (uint32_t)p->nids++;
}

static void semidx__give_id(sem_part *p, uint32_t id)
{
    p->ents[id] = NULL;
    if (p->nfree % 64 == 0)
        p->free_ids = xrealloc(p->free_ids, (p->nfree + 64) * sizeof *p->free_ids);
    p->free_ids[p->nfree++] = id;
}

/* Remove e everywhere and free it; an emptied partition goes too. */
static void semidx__drop(gw_semidx *ix, sem_ent *e)
{
    sem_part *p = e->part;
    semidx__unlink(ix, e);
    strmap_del(&p->by_skey, e->skey, strlen(e->skey));
    semidx__vec_del(p, e->id);
    semidx__give_id(p, e->id);
    free(e->skey);
    free(e->prompt);
    free(e);
    p->live--;
    ix->total--;
    if (p->live == 0) {
        strmap_del(&ix->parts, p->name, strlen(p->name));
        if (p->graph && !p->flat)
            ix->hnsw_parts--;
        semidx__part_free(p);
    }
}

static bool semidx__expired(const sem_ent *e, int64_t now_ms)
{
    return e->expire_at_ms > 0 && e->expire_at_ms <= now_ms;
}

/* Room for one more: expired entries at the old end leave, then the oldest. */
static void semidx__make_room(gw_semidx *ix, int64_t now_ms)
{
    while (ix->oldest && semidx__expired(ix->oldest, now_ms)) {
        semidx__drop(ix, ix->oldest);
        ix->expired++;
    }
    while (ix->oldest && ix->total >= ix->max) {
        semidx__drop(ix, ix->oldest);
        ix->evictions++;
    }
}

/* ---- add, remove, lookup --------------------------------------------------------- */

static int semidx__insert(gw_semidx *ix, const gw_semidx_entry *in, int64_t now_ms)
{
    sem_part *p = semidx__part_get(ix, in->partition, false);
    sem_ent *e = p ? strmap_get(&p->by_skey, in->skey, strlen(in->skey)) : NULL;
    if (e) {  /* known: refresh */
        e->expire_at_ms = in->expire_at_ms;
        semidx__unlink(ix, e);
        semidx__push_young(ix, e);
        return RAGD_OK;
    }
    semidx__make_room(ix, now_ms);
    p = semidx__part_get(ix, in->partition, true);
    if (!p)
        return RAGD_ENOMEM;
    uint32_t id = semidx__take_id(p);
    int rc = semidx__vec_add(p, id, in->vec);
    if (rc) {
        semidx__give_id(p, id);
        if (p->live == 0) {
            strmap_del(&ix->parts, p->name, strlen(p->name));
            semidx__part_free(p);
        }
        return rc;
    }
    e = xcalloc(1, sizeof *e);
    e->part = p;
    e->id = id;
    e->skey = xstrdup(in->skey);
    e->prompt = xstrdup(in->prompt);
    e->expire_at_ms = in->expire_at_ms;
    p->ents[id] = e;
    strmap_put(&p->by_skey, e->skey, strlen(e->skey), e);
    semidx__push_young(ix, e);
    p->live++;
    ix->total++;
    if (!p->graph && p->live >= ix->threshold)
        semidx__start_graph(ix, p);
    if (p->graph && p->flat)
        semidx__migrate(ix, p);
    return RAGD_OK;
}

int gw_semidx_add(gw_semidx *ix, const gw_semidx_entry *e, int64_t now_ms)
{
    if (!e->partition || strlen(e->partition) > 64 || !e->skey || !e->prompt || !e->vec)
        return RAGD_EINVAL;
    if (e->expire_at_ms > 0 && e->expire_at_ms <= now_ms)
        return RAGD_ENOTFOUND;
    if (ix->max == 0)
        return RAGD_EFULL;
    pthread_rwlock_wrlock(&ix->lock);
    int rc = semidx__insert(ix, e, now_ms);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int gw_semidx_remove(gw_semidx *ix, const char *partition, const char *skey)
{
    int rc = RAGD_ENOTFOUND;
    pthread_rwlock_wrlock(&ix->lock);
    sem_part *p = semidx__part_get(ix, partition, false);
    sem_ent *e = p ? strmap_get(&p->by_skey, skey, strlen(skey)) : NULL;
    if (e) {
        semidx__drop(ix, e);
        rc = RAGD_OK;
    }
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

static int semidx__search(sem_part *p, const float *vec, size_t k, vec_hit *hits, size_t *nh)
{
    if (p->flat)
        return flat_search(p->flat, vec, k, NULL, NULL, hits, nh);
    hnsw_search_opts so = { .k = k, .n_match = -1, .mode = HNSW_AUTO };
    return hnsw_search(p->graph, vec, &so, hits, nh);
}

int gw_semidx_lookup(gw_semidx *ix, const char *partition, const float *vec, double threshold,
                     int64_t now_ms, gw_semidx_accept_fn accept, void *ud, char *skey, size_t n,
                     float *sim)
{
    int rc = RAGD_ENOTFOUND;
    pthread_rwlock_rdlock(&ix->lock);
    sem_part *p = semidx__part_get(ix, partition, false);
    vec_hit hits[SEMIDX_CANDIDATES];
    size_t nh = 0;
    if (p && semidx__search(p, vec, SEMIDX_CANDIDATES, hits, &nh) == 0) {
        for (size_t i = 0; i < nh && hits[i].score >= threshold; i++) {
            const sem_ent *e = hits[i].id < p->nids ? p->ents[hits[i].id] : NULL;
            if (!e || semidx__expired(e, now_ms) || (accept && !accept(ud, e->prompt)))
                continue;
            snprintf(skey, n, "%s", e->skey);
            *sim = hits[i].score;
            rc = RAGD_OK;
            break;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int gw_semidx_search(gw_semidx *ix, const char *partition, const float *vec, double threshold,
                     size_t k, int64_t now_ms, gw_semidx_hit *hits, size_t *n, bool *more)
{
    *n = 0;
    if (more)
        *more = false;
    if (k == 0 || k > GW_SEMIDX_K_MAX)
        return RAGD_EINVAL;
    vec_hit *vh = NULL;
    size_t nh = 0;
    int rc = RAGD_OK;
    pthread_rwlock_rdlock(&ix->lock);
    sem_part *p = semidx__part_get(ix, partition, false);
    if (p) {
        if (k > p->live)  /* more than the partition holds: all of it */
            k = p->live;
        vh = xmalloc(k * sizeof *vh);
        rc = semidx__search(p, vec, k, vh, &nh);
    }
    for (size_t i = 0; rc == 0 && i < nh && vh[i].score >= threshold; i++) {
        const sem_ent *e = vh[i].id < p->nids ? p->ents[vh[i].id] : NULL;
        if (!e || semidx__expired(e, now_ms))
            continue;
        hits[*n].skey = xstrdup(e->skey);
        hits[(*n)++].sim = vh[i].score;
    }
    if (more && rc == 0 && p && nh == k && k < p->live && vh[nh - 1].score >= threshold)
        *more = true;
    pthread_rwlock_unlock(&ix->lock);
    free(vh);
    return rc;
}

void gw_semidx_get_stats(gw_semidx *ix, gw_semidx_stats *out)
{
    pthread_rwlock_rdlock(&ix->lock);
    out->entries = ix->total;
    out->partitions = ix->parts.count;
    out->hnsw_partitions = ix->hnsw_parts;
    out->evictions = ix->evictions;
    out->expired = ix->expired;
    out->max_entries = ix->max;
    pthread_rwlock_unlock(&ix->lock);
}
