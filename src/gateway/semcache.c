/*
 * semcache.c - the standalone semantic cache (semcache.h): store, check,
 * drop and delete entries of a named cache. The vectors live in the shared
 * semantic index (one partition per cache and owner, announced on its log);
 * each entry's prompt, response, metadata and filters is a JSON value in
 * the store under semc:<partition>:<id>, expiring with the entry.
 */
#include "gateway/semcache.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/strmap.h"

#define SEMC_STATS_PREFIX "semcache"
#define SEMC_SKEY_MAX (5 + 64 + 1 + GW_SEMCACHE_ID_LEN + 1)
/* With a filter, this many neighbours per result wanted are read first, so
 * that entries the filter refuses usually still leave enough (the search
 * widens when they do not: gw_semcache_check). */
#define SEMC_FILTER_OVERFETCH 8
#define SEMC_FILTER_MIN_CANDIDATES 64

struct gw_semcache {
    gw_semantic *sem;
    cache_t *cache;
    uint64_t hits, misses, stores, deletes;  /* counters (atomic) */
};

int gw_semcache_create(gw_semantic *sem, cache_t *cache, gw_semcache **out)
{
    if (!sem || !cache)
        return RAGD_EINVAL;
    gw_semcache *sc = xcalloc(1, sizeof *sc);
    sc->sem = sem;
    sc->cache = cache;
    *out = sc;
    return RAGD_OK;
}

void gw_semcache_destroy(gw_semcache *sc)
{
    free(sc);
}

size_t gw_semcache_dim(const gw_semcache *sc)
{
    return gw_semantic_dim(sc->sem);
}

void gw_semcache_partition(const char *owner, const char *name, char out[65])
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "semcache\x1f");
    buf_puts(&b, owner);
    buf_putc(&b, '\x1f');
    buf_puts(&b, name);
    hash_sha256_hex(b.data, b.len, out);
    buf_free(&b);
}

static void semc__skey(const char *partition, const char *id, char out[SEMC_SKEY_MAX])
{
    snprintf(out, SEMC_SKEY_MAX, "semc:%s:%s", partition, id);
}

/* The vector of a prompt or query: the caller's (copied) or its prompt's
 * embedding. Caller frees *out. */
static int semc__vector(gw_semcache *sc, const float *given, const char *prompt,
                        const embed_work *w, float **out)
{
    size_t dim = gw_semantic_dim(sc->sem);
    float *v = xmalloc(dim * sizeof *v);
    int rc = RAGD_OK;
    if (given) {
        memcpy(v, given, dim * sizeof *v);
    } else {
        embcache_t *emb = gw_semantic_embedder(sc->sem);
        const char *texts[1] = { prompt };
        size_t lens[1] = { prompt ? strlen(prompt) : 0 };
        rc = !emb || !prompt ? RAGD_EUNSUPPORTED
                             : embcache_embed_as(emb, w, texts, lens, 1, v, NULL);
    }
    if (rc)
        free(v);
    else
        *out = v;
    return rc;
}

/* ---- store ------------------------------------------------------------------- */

/* RedisVL's entry id: a hash of the prompt and the filters. */
static void semc__entry_id(const gw_semcache_entry *e, char id[GW_SEMCACHE_ID_LEN + 1])
{
    buf_t b = BUF_INIT;
    buf_puts(&b, e->prompt);
    buf_putc(&b, '\x1f');
    if (e->filters)
        json_canonical(e->filters, &b);
    char hex[65];
    hash_sha256_hex(b.data, b.len, hex);
    buf_free(&b);
    memcpy(id, hex, GW_SEMCACHE_ID_LEN);
    id[GW_SEMCACHE_ID_LEN] = '\0';
}

/* The stored entry, parsed (NULL when absent or unreadable). */
static cJSON *semc__load(gw_semcache *sc, const char *skey, int *rc)
{
    cache_entry ce;
    *rc = cache_get_raw(sc->cache, skey, strlen(skey), SEMC_STATS_PREFIX, &ce);
    if (*rc)
        return NULL;
    cJSON *v = NULL;
    if (json_parse_stored(ce.data, ce.len, &v) || !cJSON_IsObject(v)) {
        cJSON_Delete(v);
        v = NULL;
        *rc = RAGD_ENOTFOUND;
    }
    cache_entry_free(&ce);
    return v;
}

static cJSON *semc__entry_json(const gw_semcache_entry *e, const char *id, double inserted,
                               double updated)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "prompt", e->prompt);
    cJSON_AddStringToObject(o, "response", e->response);
    cJSON_AddItemToObject(o, "metadata", e->metadata ? cJSON_Duplicate(e->metadata, true)
                                                     : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "filters", e->filters ? cJSON_Duplicate(e->filters, true)
                                                   : cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "inserted_at", inserted);
    cJSON_AddNumberToObject(o, "updated_at", updated);
    return o;
}

int gw_semcache_store(gw_semcache *sc, const char *partition, const gw_semcache_entry *e,
                      const embed_work *w, char id[GW_SEMCACHE_ID_LEN + 1])
{
    float *vec;
    int rc = semc__vector(sc, e->vec, e->prompt, w, &vec);
    if (rc)
        return rc;
    char eid[GW_SEMCACHE_ID_LEN + 1], skey[SEMC_SKEY_MAX];
    semc__entry_id(e, eid);
    semc__skey(partition, eid, skey);
    double now = (double)clock_wall_ms() / 1000.0, inserted = now;
    int grc;
    cJSON *old = semc__load(sc, skey, &grc);
    if (old)
        json_get_num(old, "inserted_at", 0, 1e12, &inserted);
    cJSON *o = semc__entry_json(e, eid, inserted, now);
    buf_t b = BUF_INIT;
    json_write(o, &b);
    cJSON_Delete(o);
    rc = cache_put_raw(sc->cache, skey, strlen(skey), SEMC_STATS_PREFIX, b.data, b.len,
                       "application/json", e->ttl_ms);
    buf_free(&b);
    if (rc == 0 && old)
        gw_semantic_forget(sc->sem, partition, skey);  /* the vector may have changed */
    cJSON_Delete(old);
    if (rc == 0) {
        gw_sem_query q = { .prompt = (char *)e->prompt, .vec = vec };
        snprintf(q.partition, sizeof q.partition, "%s", partition);
        gw_semantic_insert(sc->sem, &q, skey, e->ttl_ms);
        memcpy(id, eid, sizeof eid);
        __atomic_fetch_add(&sc->stores, 1, __ATOMIC_RELAXED);
    }
    free(vec);
    return rc;
}

/* ---- check ------------------------------------------------------------------- */

/* One neighbour as a hit, or NULL when its value is gone (then forgotten) or
 * the filter refuses it. */
static cJSON *semc__hit(gw_semcache *sc, const char *partition, const gw_semidx_hit *h,
                        const kb_filter *f)
{
    int rc;
    cJSON *o = semc__load(sc, h->skey, &rc);
    if (!o) {
        if (rc == RAGD_ENOTFOUND)
            gw_semantic_forget(sc->sem, partition, h->skey);
        return NULL;
    }
    if (f && !kb_filter_match(f, cJSON_GetObjectItemCaseSensitive(o, "filters"))) {
        cJSON_Delete(o);
        return NULL;
    }
    double d = 1.0 - (double)h->sim;
    cJSON_AddNumberToObject(o, "vector_distance", d > 0 ? d : 0);
    return o;
}

/* Insert hit o into arr by distance (a wider search may find an entry nearer
 * than those an HNSW graph returned before). */
static void semc__add_sorted(cJSON *arr, cJSON *o)
{
    double d = cJSON_GetObjectItemCaseSensitive(o, "vector_distance")->valuedouble;
    int at = 0;
    for (const cJSON *h = arr->child; h; h = h->next, at++)
        if (cJSON_GetObjectItemCaseSensitive(h, "vector_distance")->valuedouble > d)
            break;
    cJSON_InsertItemInArray(arr, at, o);
}

/* One search of k neighbours within the threshold; those not in seen (NULL:
 * a single search) become hits, filtered, until arr holds num_results. */
static int semc__round(gw_semcache *sc, const char *partition, const float *vec,
                       const gw_semcache_query *q, size_t k, strmap *seen, cJSON *arr, bool *more)
{
    gw_semidx_hit *nb = xmalloc(k * sizeof *nb);
    size_t n = 0;
    int rc = gw_semantic_search(sc->sem, partition, vec, 1.0 - q->distance_threshold, k, nb, &n,
                                more);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(nb[i].skey);
        bool fresh = !seen || !strmap_get(seen, nb[i].skey, len);
        if (fresh && seen)
            strmap_put(seen, nb[i].skey, len, arr);
        cJSON *o = fresh && (size_t)cJSON_GetArraySize(arr) < q->num_results
                       ? semc__hit(sc, partition, &nb[i], q->filter) : NULL;
        if (o)
            semc__add_sorted(arr, o);
        free(nb[i].skey);
    }
    free(nb);
    return rc;
}

/* Unfiltered: the num_results nearest. Filtered: the nearest
 * max(SEMC_FILTER_OVERFETCH x num_results, SEMC_FILTER_MIN_CANDIDATES) are
 * read and filtered; while fewer than num_results pass and entries beyond
 * may still be within the threshold, the search widens (k doubles, up to the
 * whole partition) over the entries not yet read. So every entry within the
 * threshold is considered, as under RedisVL's pre-filter. */
int gw_semcache_check(gw_semcache *sc, const char *partition, const gw_semcache_query *q,
                      const embed_work *w, cJSON **hits)
{
    if (q->num_results == 0 || q->num_results > GW_SEMCACHE_MAX_RESULTS)
        return RAGD_EINVAL;
    float *vec;
    int rc = semc__vector(sc, q->vec, q->prompt, w, &vec);
    if (rc)
        return rc;
    bool filtered = q->filter && !kb_filter_is_empty(q->filter), more = false;
    size_t k = q->num_results;
    if (filtered)
        k = k * SEMC_FILTER_OVERFETCH > SEMC_FILTER_MIN_CANDIDATES ? k * SEMC_FILTER_OVERFETCH
                                                                  : SEMC_FILTER_MIN_CANDIDATES;
    strmap seen = STRMAP_INIT;
    cJSON *arr = cJSON_CreateArray();
    do {
        rc = semc__round(sc, partition, vec, q, k, filtered ? &seen : NULL, arr, &more);
        k = k > GW_SEMIDX_K_MAX / 2 ? GW_SEMIDX_K_MAX : 2 * k;
    } while (rc == 0 && filtered && more && (size_t)cJSON_GetArraySize(arr) < q->num_results);
    strmap_free(&seen);
    free(vec);
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    __atomic_fetch_add(cJSON_GetArraySize(arr) ? &sc->hits : &sc->misses, 1, __ATOMIC_RELAXED);
    *hits = arr;
    return RAGD_OK;
}

/* ---- drop and delete ------------------------------------------------------- */

static bool semc__id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n != GW_SEMCACHE_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
            return false;
    return true;
}

/* Remove one entry's value and its vector; RAGD_ENOTFOUND if it was gone. */
static int semc__remove(gw_semcache *sc, const char *partition, const char *skey)
{
    int rc = store_del(cache_store(sc->cache), skey, strlen(skey));
    if (rc == 0 || rc == RAGD_ENOTFOUND)
        gw_semantic_forget(sc->sem, partition, skey);
    if (rc == 0)
        __atomic_fetch_add(&sc->deletes, 1, __ATOMIC_RELAXED);
    return rc;
}

int gw_semcache_drop(gw_semcache *sc, const char *partition, const char *id)
{
    if (!semc__id_valid(id))
        return RAGD_EINVAL;
    char skey[SEMC_SKEY_MAX];
    semc__skey(partition, id, skey);
    return semc__remove(sc, partition, skey);
}

typedef struct semc_keys {
    char **keys;
    size_t n, cap;
} semc_keys;

static int semc__collect(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)val, (void)vlen;
    semc_keys *k = ud;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->keys = xrealloc(k->keys, k->cap * sizeof *k->keys);
    }
    k->keys[k->n++] = xstrndup(key, klen);
    return 0;
}

/* Does the entry at skey pass f? (Gone or unreadable: no.) */
static bool semc__matches(gw_semcache *sc, const char *skey, const kb_filter *f)
{
    int rc;
    cJSON *o = semc__load(sc, skey, &rc);
    bool ok = o && kb_filter_match(f, cJSON_GetObjectItemCaseSensitive(o, "filters"));
    cJSON_Delete(o);
    return ok;
}

int gw_semcache_delete(gw_semcache *sc, const char *partition, const kb_filter *f, uint64_t *n)
{
    char prefix[SEMC_SKEY_MAX];
    semc__skey(partition, "", prefix);
    semc_keys k = { 0 };
    int rc = store_scan(cache_store(sc->cache), prefix, strlen(prefix), false, semc__collect, &k);
    *n = 0;
    for (size_t i = 0; i < k.n; i++) {
        if (rc == 0 && (!f || kb_filter_is_empty(f) || semc__matches(sc, k.keys[i], f)) &&
            semc__remove(sc, partition, k.keys[i]) == 0)
            (*n)++;
        free(k.keys[i]);
    }
    free(k.keys);
    return rc;
}

/* ---- counters ------------------------------------------------------------------ */

void gw_semcache_stats_json(gw_semcache *sc, cJSON *o)
{
    cJSON_AddNumberToObject(o, "hits", (double)__atomic_load_n(&sc->hits, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(o, "misses", (double)__atomic_load_n(&sc->misses, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(o, "stores", (double)__atomic_load_n(&sc->stores, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(o, "deletes", (double)__atomic_load_n(&sc->deletes, __ATOMIC_RELAXED));
}

void gw_semcache_metrics(gw_semcache *sc, buf_t *b)
{
    const char *checks = "ragd_semantic_cache_api_checks_total";
    metrics_family(b, checks, "counter", "semantic-cache API checks by result (hit: at least "
                   "one entry within the distance)");
    metrics_sample(b, checks, "result=\"hit\"", (double)__atomic_load_n(&sc->hits,
                                                                        __ATOMIC_RELAXED));
    metrics_sample(b, checks, "result=\"miss\"", (double)__atomic_load_n(&sc->misses,
                                                                         __ATOMIC_RELAXED));
    metrics_family(b, "ragd_semantic_cache_api_stores_total", "counter",
                   "entries stored through the semantic-cache API");
    metrics_sample(b, "ragd_semantic_cache_api_stores_total", "",
                   (double)__atomic_load_n(&sc->stores, __ATOMIC_RELAXED));
    metrics_family(b, "ragd_semantic_cache_api_deletes_total", "counter",
                   "entries deleted through the semantic-cache API (by id, filter or clear)");
    metrics_sample(b, "ragd_semantic_cache_api_deletes_total", "",
                   (double)__atomic_load_n(&sc->deletes, __ATOMIC_RELAXED));
}
