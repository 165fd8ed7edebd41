/*
 * kb_settings.c - a namespace's settings: defaults, validation of the JSON a
 * client sends (ranges, known names, the model: loaded, a provider's or none,
 * dimension and metric), the JSON they are shown and stored as, the rule for
 * namespace names, and which embedder serves a namespace. Pure functions on
 * kb_ns_settings; the layer every other kb_*.c file may use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/utf8.h"

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
    s->dim = kb ? (uint32_t)kb->o.dim : 0;
    s->metric = VEC_COSINE;
}

static const char *const kb__metric_names[] = { "cosine", "dot", "l2" };

const char *kb_metric_name(vec_metric m)
{
    return (unsigned)m <= VEC_L2 ? kb__metric_names[m] : "?";
}

bool kb_metric_parse(const char *s, vec_metric *out)
{
    for (int i = 0; s && i <= VEC_L2; i++)
        if (!strcmp(s, kb__metric_names[i])) {
            *out = (vec_metric)i;
            return true;
        }
    return false;
}

bool kb__is_local_model(const kb_t *kb, const char *model)
{
    return kb && kb->o.embed && model[0] && !strcmp(model, kb->model);
}

int kb__embedder(kb_t *kb, const kb_ns_settings *st, kb_embedder *out, ragd_error *err)
{
    if (!st->model[0])
        return ragd_error_set(err, RAGD_ENOTFOUND, "no embedding model");
    if (kb__is_local_model(kb, st->model)) {
        *out = (kb_embedder){ kb->o.embed, kb->o.embed_ud, kb->o.dim, false };
        return RAGD_OK;
    }
    if (!kb->o.resolve)
        return ragd_error_set(err, RAGD_EUNAVAIL, "the embedding model '%s' is not available",
                              st->model);
    int rc = kb->o.resolve(kb->o.resolve_ud, st->model, st->dim, out, err);
    if (!rc)
        out->remote = true;
    return rc;
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
    "hnsw_ef_search", "embedding_model", "dimension", "metric", "description", "examples", NULL,
};

/* "embedding_model": the loaded model (a path's last part counts), "none" or
 * null (documents bring their vectors), or - with a resolver - a provider's
 * model. Validated against kb unless kb is NULL (a stored record). */
static int kb__apply_model(const kb_t *kb, const cJSON *obj, kb_ns_settings *s, ragd_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "embedding_model");
    if (!m)
        return RAGD_OK;
    if (cJSON_IsNull(m) ||
        (cJSON_IsString(m) && (!strcmp(m->valuestring, "none") || !m->valuestring[0]))) {
        s->model[0] = '\0';
        s->dim = 0;
        return RAGD_OK;
    }
    if (!cJSON_IsString(m) || strlen(m->valuestring) >= KB_MODEL_NAME_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "'embedding_model' must be a model name, "
                              "\"none\" or null");
    const char *base = strrchr(m->valuestring, '/');
    base = base ? base + 1 : m->valuestring;
    if (kb && kb->model[0] && !strcmp(base, kb->model)) {
        snprintf(s->model, sizeof s->model, "%s", base);
        s->dim = (uint32_t)kb->o.dim;
        return RAGD_OK;
    }
    if (kb && !kb->o.resolve)
        return ragd_error_set(err, RAGD_EINVAL,
                              "'embedding_model' %s is not loaded (this server embeds with '%s')",
                              m->valuestring, kb->model[0] ? kb->model : "no model");
    snprintf(s->model, sizeof s->model, "%s", m->valuestring); /* a provider's, as named */
    if (kb)
        s->dim = 0; /* settled by kb_ns_create */
    return RAGD_OK;
}

/* "dimension" and "metric". */
static int kb__apply_vectors(const kb_t *kb, const cJSON *obj, kb_ns_settings *s,
                             ragd_error *err)
{
    int rc = kb__get_u32(obj, "dimension", kb ? 1 : 0, KB_DIM_MAX, &s->dim, err);
    if (rc)
        return rc;
    /* a client's dimension without a model: the documents bring their vectors */
    if (kb && cJSON_GetObjectItemCaseSensitive(obj, "dimension") &&
        !cJSON_GetObjectItemCaseSensitive(obj, "embedding_model"))
        s->model[0] = '\0';
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(obj, "metric");
    if (mt && !cJSON_IsNull(mt) &&
        (!cJSON_IsString(mt) || !kb_metric_parse(mt->valuestring, &s->metric)))
        return ragd_error_set(err, RAGD_EINVAL, "'metric' must be cosine, dot or l2");
    return RAGD_OK;
}

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
    if ((rc = kb__apply_model(kb, obj, s, err)) || (rc = kb__apply_vectors(kb, obj, s, err)))
        return rc;
    if (kb && kb__is_local_model(kb, s->model) && s->dim != kb->o.dim)
        return ragd_error_set(err, RAGD_EINVAL, "'dimension' %u differs from %u, the dimension "
                              "of '%s'", s->dim, (unsigned)kb->o.dim, s->model);
    if (kb && !s->model[0] && !s->dim && cJSON_GetObjectItemCaseSensitive(obj, "embedding_model"))
        return ragd_error_set(err, RAGD_EINVAL, "a namespace without an embedding model needs "
                              "a 'dimension' for its vectors");
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
    if (s->model[0])
        cJSON_AddStringToObject(o, "embedding_model", s->model);
    else
        cJSON_AddNullToObject(o, "embedding_model");
    cJSON_AddNumberToObject(o, "dimension", s->dim);
    cJSON_AddStringToObject(o, "metric", kb_metric_name(s->metric));
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
