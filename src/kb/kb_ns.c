/*
 * kb_ns.c - the namespace registry and each namespace's life: settings and
 * their validation, create / update / drop (persisted under kb:<ns>:meta),
 * statistics, lazily created indexes and the pool of dense chunk slot ids
 * the indexes share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kb/kb_int.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/utf8.h"

/* ---- settings ---- */

void kb_ns_settings_default(const kb_t *kb, kb_ns_settings *s)
{
    memset(s, 0, sizeof *s);
    s->chunk_size = 200;
    if (kb && kb->o.max_chunk_tokens && s->chunk_size > kb->o.max_chunk_tokens)
        s->chunk_size = kb->o.max_chunk_tokens;
    s->chunk_overlap = s->chunk_size / 5;
    s->bm25_k1 = 0.9f;
    s->bm25_b = 0.4f;
    s->hnsw_m = 16;
    s->hnsw_ef_construction = 200;
    s->hnsw_ef_search = 100;
    snprintf(s->model, sizeof s->model, "%s", kb ? kb->model : "");
}

void kb_ns_settings_clear(kb_ns_settings *s)
{
    free(s->description);
    for (size_t i = 0; i < s->n_examples; i++)
        free(s->examples[i]);
    free(s->examples);
    s->description = NULL;
    s->examples = NULL;
    s->n_examples = 0;
}

void kb_ns_settings_copy(kb_ns_settings *dst, const kb_ns_settings *src)
{
    *dst = *src;
    dst->description = src->description ? xstrdup(src->description) : NULL;
    dst->examples = src->n_examples ? xmalloc(src->n_examples * sizeof(char *)) : NULL;
    for (size_t i = 0; i < src->n_examples; i++)
        dst->examples[i] = xstrdup(src->examples[i]);
}

static int kb__get_u32(const cJSON *obj, const char *name, int64_t lo, int64_t hi, uint32_t *v,
                       ragd_error *err)
{
    int64_t x;
    int rc = json_get_count(obj, name, lo, hi, &x, err);
    if (rc == RAGD_ENOTFOUND)
        return RAGD_OK;
    if (rc)
        return rc;
    *v = (uint32_t)x;
    return RAGD_OK;
}

static int kb__get_f32(const cJSON *obj, const char *name, double lo, double hi, float *v,
                       ragd_error *err)
{
    double x;
    int rc = json_get_num(obj, name, lo, hi, &x);
    if (rc == RAGD_ENOTFOUND)
        return RAGD_OK;
    if (rc)
        return ragd_error_set(err, RAGD_EINVAL, "'%s' must be a number in [%g, %g]", name, lo, hi);
    *v = (float)x;
    return RAGD_OK;
}

static int kb__get_text(const cJSON *v, const char *what, size_t max, ragd_error *err)
{
    size_t bad;
    if (!cJSON_IsString(v))
        return ragd_error_set(err, RAGD_EINVAL, "'%s' must be a string", what);
    size_t n = strlen(v->valuestring);
    if (n > max)
        return ragd_error_set(err, RAGD_EINVAL, "'%s' is longer than %zu bytes", what, max);
    if (!utf8_valid(v->valuestring, n, &bad))
        return ragd_error_set(err, RAGD_EINVAL, "'%s' is not valid UTF-8", what);
    return RAGD_OK;
}

static int kb__apply_routing(const cJSON *obj, kb_ns_settings *s, ragd_error *err)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "description");
    int rc;
    if (d && !cJSON_IsNull(d)) {
        if ((rc = kb__get_text(d, "description", 65536, err)))
            return rc;
        free(s->description);
        s->description = xstrdup(d->valuestring);
    }
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(obj, "examples");
    if (!ex || cJSON_IsNull(ex))
        return RAGD_OK;
    if (!cJSON_IsArray(ex) || cJSON_GetArraySize(ex) > KB_EXAMPLES_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "'examples' must be an array of at most %d strings",
                              KB_EXAMPLES_MAX);
    for (const cJSON *e = ex->child; e; e = e->next)
        if ((rc = kb__get_text(e, "examples[]", 4096, err)))
            return rc;
    for (size_t i = 0; i < s->n_examples; i++)
        free(s->examples[i]);
    free(s->examples);
    s->n_examples = (size_t)cJSON_GetArraySize(ex);
    s->examples = s->n_examples ? xmalloc(s->n_examples * sizeof(char *)) : NULL;
    size_t i = 0;
    for (const cJSON *e = ex->child; e; e = e->next)
        s->examples[i++] = xstrdup(e->valuestring);
    return RAGD_OK;
}

static const char *const kb__setting_names[] = {
    "chunk_size", "chunk_overlap", "bm25_k1", "bm25_b", "hnsw_m", "hnsw_ef_construction",
    "hnsw_ef_search", "embedding_model", "description", "examples", NULL,
};

int kb_ns_settings_apply_json(const kb_t *kb, const cJSON *obj, kb_ns_settings *s,
                              ragd_error *err)
{
    if (!obj)
        return RAGD_OK;
    if (!cJSON_IsObject(obj))
        return ragd_error_set(err, RAGD_EINVAL, "settings must be a JSON object");
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool known = false;
        for (int i = 0; kb__setting_names[i]; i++)
            known = known || !strcmp(it->string, kb__setting_names[i]);
        if (!known)
            return ragd_error_set(err, RAGD_EINVAL, "unknown setting '%s'", it->string);
    }
    uint32_t maxc = kb && kb->o.max_chunk_tokens ? kb->o.max_chunk_tokens : 4096;
    int rc;
    if ((rc = kb__get_u32(obj, "chunk_size", 8, maxc, &s->chunk_size, err)) ||
        (rc = kb__get_u32(obj, "chunk_overlap", 0, maxc, &s->chunk_overlap, err)) ||
        (rc = kb__get_f32(obj, "bm25_k1", 0.0, 10.0, &s->bm25_k1, err)) ||
        (rc = kb__get_f32(obj, "bm25_b", 0.0, 1.0, &s->bm25_b, err)) ||
        (rc = kb__get_u32(obj, "hnsw_m", 2, 128, &s->hnsw_m, err)) ||
        (rc = kb__get_u32(obj, "hnsw_ef_construction", 8, 4096, &s->hnsw_ef_construction, err)) ||
        (rc = kb__get_u32(obj, "hnsw_ef_search", 1, 4096, &s->hnsw_ef_search, err)))
        return rc;
    if (s->chunk_overlap * 2 > s->chunk_size)
        return ragd_error_set(err, RAGD_EINVAL,
                              "'chunk_overlap' (%u) must be at most half of 'chunk_size' (%u)",
                              s->chunk_overlap, s->chunk_size);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "embedding_model");
    if (m && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m))
            return ragd_error_set(err, RAGD_EINVAL, "'embedding_model' must be a string");
        const char *base = strrchr(m->valuestring, '/');
        base = base ? base + 1 : m->valuestring;
        if (kb && strcmp(base, kb->model) != 0)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "'embedding_model' %s is not loaded (this server embeds with '%s')",
                                  m->valuestring, kb->model[0] ? kb->model : "no model");
        snprintf(s->model, sizeof s->model, "%s", base);
    }
    return kb__apply_routing(obj, s, err);
}

/* A float setting as the decimal the user wrote (0.9, not 0.899999976). */
static double kb__dec(float x)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.6g", (double)x);
    return strtod(tmp, NULL);
}

cJSON *kb_ns_settings_to_json(const kb_ns_settings *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "chunk_size", s->chunk_size);
    cJSON_AddNumberToObject(o, "chunk_overlap", s->chunk_overlap);
    cJSON_AddNumberToObject(o, "bm25_k1", kb__dec(s->bm25_k1));
    cJSON_AddNumberToObject(o, "bm25_b", kb__dec(s->bm25_b));
    cJSON_AddNumberToObject(o, "hnsw_m", s->hnsw_m);
    cJSON_AddNumberToObject(o, "hnsw_ef_construction", s->hnsw_ef_construction);
    cJSON_AddNumberToObject(o, "hnsw_ef_search", s->hnsw_ef_search);
    cJSON_AddStringToObject(o, "embedding_model", s->model);
    if (s->description)
        cJSON_AddStringToObject(o, "description", s->description);
    else
        cJSON_AddNullToObject(o, "description");
    cJSON *ex = cJSON_AddArrayToObject(o, "examples");
    for (size_t i = 0; i < s->n_examples; i++)
        cJSON_AddItemToArray(ex, cJSON_CreateString(s->examples[i]));
    return o;
}

bool kb_ns_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > KB_NS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* ---- registry ---- */

kb_ns *kb__ns_new(const char *name, const kb_ns_settings *st, int64_t created_ms)
{
    kb_ns *ns = xcalloc(1, sizeof *ns);
    snprintf(ns->name, sizeof ns->name, "%s", name);
    kb_ns_settings_copy(&ns->st, st);
    ns->created_ms = created_ms;
    ns->refs = 1;
    pthread_mutex_init(&ns->wmu, NULL);
    pthread_rwlock_init(&ns->lock, NULL);
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
    pthread_mutex_destroy(&ns->wmu);
    pthread_rwlock_destroy(&ns->lock);
    free(ns);
}

kb_ns *kb__ns_acquire(kb_t *kb, const char *name)
{
    pthread_rwlock_rdlock(&kb->lock);
    kb_ns *ns = name ? strmap_get(&kb->ns, name, strlen(name)) : NULL;
    if (ns)
        __atomic_add_fetch(&ns->refs, 1, __ATOMIC_ACQ_REL);
    pthread_rwlock_unlock(&kb->lock);
    return ns;
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

/* ---- open / close ---- */

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
    int64_t t0 = clock_mono_us();
    int rc = kb__load(kb, err);
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
    free(kb);
}

size_t kb_dim(const kb_t *kb) { return kb->o.dim; }
const char *kb_model(const kb_t *kb) { return kb->model; }
bool kb_can_embed(const kb_t *kb) { return kb->o.embed != NULL; }
double kb_load_seconds(const kb_t *kb) { return kb->load_s; }
size_t kb_snapshots_loaded(const kb_t *kb) { return kb->snapshots_loaded; }

/* ---- namespace operations ---- */

static int kb__meta_write(kb_t *kb, const kb_ns *ns)
{
    buf_t k = BUF_INIT, v = BUF_INIT;
    kb__key_meta(&k, ns->name);
    kb__meta_encode(ns, &v);
    int rc = store_set(kb->o.store, k.data, k.len, v.data, v.len, 0, 0);
    buf_free(&k);
    buf_free(&v);
    return rc;
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
    pthread_mutex_lock(&kb->ddl);
    pthread_rwlock_wrlock(&kb->lock);
    int rc = RAGD_OK;
    if (strmap_get(&kb->ns, name, strlen(name)))
        rc = ragd_error_set(err, RAGD_EEXISTS, "namespace '%s' already exists", name);
    else if ((rc = kb__meta_write(kb, ns)))
        ragd_error_set(err, rc, "namespace '%s': store write failed: %s", name, ragd_strerror(rc));
    else
        strmap_put(&kb->ns, name, strlen(name), ns);
    pthread_rwlock_unlock(&kb->lock);
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
        s->hnsw_ef_construction != o->hnsw_ef_construction || strcmp(s->model, o->model)) {
        rc = ragd_error_set(err, RAGD_EINVAL, "only description, examples and hnsw_ef_search "
                            "can change after creation (re-create the namespace for the others)");
    } else {
        pthread_rwlock_wrlock(&ns->lock);
        kb_ns_settings old = ns->st;
        kb_ns_settings_copy(&ns->st, s);
        if (ns->hn)
            hnsw_set_ef_search(ns->hn, s->hnsw_ef_search);
        pthread_rwlock_unlock(&ns->lock);
        kb_ns_settings_clear(&old);
        if ((rc = kb__meta_write(kb, ns)))
            ragd_error_set(err, rc, "store write failed: %s", ragd_strerror(rc));
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
    /* meta first: a crash half-way leaves keys a restart ignores */
    buf_t k = BUF_INIT;
    kb__key_meta(&k, ns->name);
    int rc = store_del(kb->o.store, k.data, k.len);
    if (rc == RAGD_ENOTFOUND)
        rc = RAGD_OK;
    buf_reset(&k);
    buf_printf(&k, "kb:%s:*", ns->name);
    uint64_t n = 0;
    if (!rc)
        rc = store_del_pattern(kb->o.store, k.data, &n);
    buf_free(&k);
    if (kb->o.snapshot_dir)
        kb__snap_remove(ns->name, kb->o.snapshot_dir);
    pthread_mutex_unlock(&ns->wmu);
    pthread_mutex_unlock(&kb->ddl);
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
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
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
