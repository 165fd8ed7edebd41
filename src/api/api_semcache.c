/*
 * api_semcache.c - the standalone semantic-cache API (docs/API.md "Semantic
 * cache", RedisVL's SemanticCache over HTTP): check, store, delete by id or
 * filter, and clear a named cache. Parses and bounds the requests, decides
 * whose cache it is (a user-bound caller only ever reaches its own), and
 * hands the work to gateway/semcache.h, which keeps the entries in the
 * gateway's shared semantic index.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "gateway/gateway.h"
#include "gateway/semcache.h"
#include "util/json.h"

#define SEMC_API_PROMPT_MAX 65536          /* bytes of a prompt */
#define SEMC_API_RESPONSE_MAX (1u << 20)   /* bytes of a response */
#define SEMC_API_METADATA_MAX 65536        /* bytes of metadata as JSON */
#define SEMC_API_FILTER_FIELDS 32
#define SEMC_API_FILTER_KEY_MAX 64
#define SEMC_API_FILTER_VALUE_MAX 1024
#define SEMC_API_TTL_MAX 315360000
#define SEMC_API_DEFAULT_RESULTS 1

/* The fields a hit may carry (return_fields names a subset; id is always in). */
static const char *const semc_api_fields[] = { "id", "prompt", "response", "vector_distance",
                                               "metadata", "filters", "inserted_at",
                                               "updated_at", NULL };

/* A request's cache: the service, its partition (name and owner). */
typedef struct semc_target {
    gw_semcache *sc;
    char partition[65];
} semc_target;

/* The cache named in the path, for the user the request acts for (user_id in
 * the body or the query: a service key may name one, a user-bound key gets
 * its own). false with resp filled. */
static bool semc_api__target(http_req *req, http_resp *resp, const cJSON *body, semc_target *t)
{
    const char *name = http_req_param(req, "name");
    if (!cache_prefix_valid(name)) {
        http_error(req, resp, 400, "invalid_name",
                   "cache name '%s' must be 1-64 characters of [A-Za-z0-9_.-]", name);
        return false;
    }
    const char *named = body ? json_get_str(body, "user_id") : NULL;
    if (!named)
        named = http_req_query(req, "user_id");
    const char *user = NULL;
    if (!auth_effective_user(req, named, &user, resp))
        return false;
    app_t *app = api_app(req);
    t->sc = app->gateway ? gateway_semcache(app->gateway) : NULL;
    if (!t->sc) {
        http_error(req, resp, 503, "semantic_cache_unavailable", "the semantic cache needs the "
                   "embedding model and semantic_cache=on");
        return false;
    }
    gw_semcache_partition(user ? user : "", name, t->partition);
    return true;
}

/* A string member of at most max bytes (required: non-empty too). */
static bool semc_api__text(http_req *req, http_resp *resp, const cJSON *body, const char *name,
                           size_t max, bool required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    *out = NULL;
    if (!v || (cJSON_IsNull(v) && !required))
        return true;
    bool too_long = cJSON_IsString(v) && strlen(v->valuestring) > max;
    if (!cJSON_IsString(v) || (required && !*v->valuestring) || too_long) {
        http_error(req, resp, too_long ? 413 : 400, "invalid_request",
                   "'%s' must be a %sstring of at most %zu bytes", name,
                   required ? "non-empty " : "", max);
        return false;
    }
    *out = v->valuestring;
    return true;
}

/* The optional vector: the index's dimension, not all zeros. */
static bool semc_api__vector(http_req *req, http_resp *resp, const cJSON *body,
                             const gw_semcache *sc, const float **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "vector");
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return true;
    float *f;
    size_t n;
    if (!api_get_vector(req, resp, v, "vector", &f, &n))
        return false;
    if (n != gw_semcache_dim(sc)) {
        http_error(req, resp, 400, "dimension_mismatch", "the vector has %zu dimensions, the "
                   "semantic cache's model %zu", n, gw_semcache_dim(sc));
        return false;
    }
    double norm = 0;
    for (size_t i = 0; i < n; i++)
        norm += (double)f[i] * f[i];
    if (!(norm > 0) || !isfinite(norm)) {
        http_error(req, resp, 400, "invalid_request", "the vector must not be all zeros");
        return false;
    }
    *out = f;
    return true;
}

/* Admit the prompt's embedding when there is no vector (the caller's budget). */
static bool semc_api__admit(http_req *req, http_resp *resp, const char *prompt, const float *vec)
{
    if (vec || !prompt)
        return true;
    const char *texts[1] = { prompt };
    size_t lens[1] = { strlen(prompt) };
    api_budget verdict;
    if (api_embed_admit(req, texts, lens, 1, &verdict))
        return true;
    api_budget_answer(req, resp, &verdict);
    return false;
}

/* A filterable value RedisVL stores: a string (tag or text) or a number. */
static bool semc_api__filter_value_ok(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strlen(v->valuestring) <= SEMC_API_FILTER_VALUE_MAX;
    return cJSON_IsNumber(v) || cJSON_IsBool(v);
}

/* The stored `filters`: an object of at most 32 fields, each a string of at
 * most 1,024 bytes, a number or a boolean. */
static bool semc_api__stored_filters(http_req *req, http_resp *resp, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return true;
    bool ok = cJSON_IsObject(v) && cJSON_GetArraySize(v) <= SEMC_API_FILTER_FIELDS;
    for (const cJSON *f = ok ? v->child : NULL; f && ok; f = f->next)
        ok = *f->string && strlen(f->string) <= SEMC_API_FILTER_KEY_MAX &&
             f->string[0] != '$' && semc_api__filter_value_ok(f);
    if (!ok)
        http_error(req, resp, 400, "invalid_filters", "'filters' must be an object of at most "
                   "%d fields named by 1-%d bytes (not starting with $), each a string of at "
                   "most %d bytes, a number or a boolean", SEMC_API_FILTER_FIELDS,
                   SEMC_API_FILTER_KEY_MAX, SEMC_API_FILTER_VALUE_MAX);
    return ok;
}

static bool semc_api__metadata(http_req *req, http_resp *resp, const cJSON *v)
{
    if (!v)
        return true;
    buf_t b = BUF_INIT;
    json_write(v, &b);
    size_t n = b.len;
    buf_free(&b);
    if (n > SEMC_API_METADATA_MAX)
        http_error(req, resp, 413, "invalid_request", "'metadata' is %zu bytes as JSON, above "
                   "%d", n, SEMC_API_METADATA_MAX);
    return n <= SEMC_API_METADATA_MAX;
}

/* The check's filter over the entries' `filters` (ragd's filter syntax). */
static bool semc_api__filter(http_req *req, http_resp *resp, const cJSON *body, kb_filter **out)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(body, "filters");
    *out = NULL;
    if (!spec || cJSON_IsNull(spec))
        return true;
    ragd_error err;
    if (!cJSON_IsObject(spec) || kb_filter_compile(spec, out, &err)) {
        http_error(req, resp, 400, "invalid_filter", "%s", cJSON_IsObject(spec) ? err.msg
                   : "'filters' must be an object");
        return false;
    }
    return true;
}

/* Keep only the hits' fields return_fields names (and id). */
static bool semc_api__return_fields(http_req *req, http_resp *resp, const cJSON *body,
                                    cJSON *hits)
{
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(body, "return_fields");
    if (!rf || cJSON_IsNull(rf))
        return true;
    bool keep[sizeof semc_api_fields / sizeof *semc_api_fields] = { true };
    bool ok = cJSON_IsArray(rf);
    for (const cJSON *f = ok ? rf->child : NULL; f && ok; f = f->next) {
        ok = false;
        for (size_t i = 0; cJSON_IsString(f) && semc_api_fields[i]; i++)
            if (strcmp(f->valuestring, semc_api_fields[i]) == 0)
                ok = keep[i] = true;
    }
    if (!ok) {
        http_error(req, resp, 400, "invalid_request", "'return_fields' must be an array of: id, "
                   "prompt, response, vector_distance, metadata, filters, inserted_at, "
                   "updated_at");
        return false;
    }
    for (cJSON *h = hits->child; h; h = h->next)
        for (size_t i = 0; semc_api_fields[i]; i++)
            if (!keep[i])
                cJSON_DeleteItemFromObjectCaseSensitive(h, semc_api_fields[i]);
    return true;
}

/* The embedding of a prompt runs in the interactive class, charged to the caller. */
static embed_work semc_api__work(const http_req *req)
{
    embed_work w = api_embed_work(req);
    w.cls = EMBED_INTERACTIVE;
    return w;
}

/* ---- check --------------------------------------------------------------------- */

/* Parse a check body into q (borrowing from body); false with resp filled. */
static bool semc_api__check_parse(http_req *req, http_resp *resp, const cJSON *body,
                                  const semc_target *t, gw_semcache_query *q)
{
    int64_t k = SEMC_API_DEFAULT_RESULTS;
    q->distance_threshold = api_app(req)->cfg.semcache_distance_threshold;
    if (!semc_api__text(req, resp, body, "prompt", SEMC_API_PROMPT_MAX, false, &q->prompt) ||
        !semc_api__vector(req, resp, body, t->sc, &q->vec) ||
        !api_get_count(req, resp, body, "num_results", 1, GW_SEMCACHE_MAX_RESULTS, &k))
        return false;
    q->num_results = (size_t)k;
    if (json_get_num(body, "distance_threshold", 0, 2, &q->distance_threshold) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "'distance_threshold' must be a cosine "
                   "distance in [0, 2]");
        return false;
    }
    if (!q->prompt && !q->vec) {
        http_error(req, resp, 400, "invalid_request", "give 'prompt' or 'vector'");
        return false;
    }
    return semc_api__admit(req, resp, q->prompt, q->vec);
}

static void semc_api__check(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    semc_target t;
    gw_semcache_query q = { 0 };
    kb_filter *f = NULL;
    if (semc_api__target(req, resp, body, &t) && semc_api__check_parse(req, resp, body, &t, &q) &&
        semc_api__filter(req, resp, body, &f)) {
        q.filter = f;
        embed_work w = semc_api__work(req);
        cJSON *hits = NULL;
        int rc = gw_semcache_check(t.sc, t.partition, &q, &w, &hits);
        if (rc) {
            api_error_rc(req, resp, rc, "the check failed: %s", ragd_strerror(rc));
        } else if (semc_api__return_fields(req, resp, body, hits)) {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddItemToObject(out, "hits", hits);
            hits = NULL;
            cJSON_AddNumberToObject(out, "distance_threshold", q.distance_threshold);
            api_reply_json(resp, 200, out);
            cJSON_Delete(out);
        }
        cJSON_Delete(hits);
    }
    kb_filter_destroy(f);
    cJSON_Delete(body);
}

/* ---- store ------------------------------------------------------------------------ */

static bool semc_api__store_parse(http_req *req, http_resp *resp, const cJSON *body,
                                  const semc_target *t, gw_semcache_entry *e)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(body, "filters");
    int64_t ttl = 0;
    if (!semc_api__text(req, resp, body, "prompt", SEMC_API_PROMPT_MAX, true, &e->prompt) ||
        !semc_api__text(req, resp, body, "response", SEMC_API_RESPONSE_MAX, true, &e->response) ||
        !semc_api__vector(req, resp, body, t->sc, &e->vec) ||
        !semc_api__metadata(req, resp, md) || !semc_api__stored_filters(req, resp, fl))
        return false;
    if (!e->response || !e->prompt) {
        http_error(req, resp, 400, "invalid_request", "'prompt' and 'response' are required");
        return false;
    }
    if (json_get_int(body, "ttl", 1, SEMC_API_TTL_MAX, &ttl) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_ttl", "'ttl' must be an integer number of seconds "
                   "in [1, %d] (or null: no expiry)", SEMC_API_TTL_MAX);
        return false;
    }
    e->metadata = md && !cJSON_IsNull(md) ? md : NULL;
    e->filters = fl && !cJSON_IsNull(fl) ? fl : NULL;
    e->ttl_ms = ttl * 1000;
    return semc_api__admit(req, resp, e->prompt, e->vec);
}

static void semc_api__store(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    semc_target t;
    gw_semcache_entry e = { 0 };
    if (semc_api__target(req, resp, body, &t) && semc_api__store_parse(req, resp, body, &t, &e)) {
        embed_work w = semc_api__work(req);
        char id[GW_SEMCACHE_ID_LEN + 1];
        int rc = gw_semcache_store(t.sc, t.partition, &e, &w, id);
        if (rc) {
            api_error_rc(req, resp, rc, "the entry was not stored: %s", ragd_strerror(rc));
        } else {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "id", id);
            cJSON_AddNumberToObject(out, "ttl", (double)(e.ttl_ms / 1000));
            api_reply_json(resp, 200, out);
            cJSON_Delete(out);
        }
    }
    cJSON_Delete(body);
}

/* ---- delete and clear --------------------------------------------------------------- */

static void semc_api__deleted(http_resp *resp, uint64_t n)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "deleted", (double)n);
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
}

/* DELETE /api/v1/semantic-cache/{name}/entries/{id} */
static void semc_api__drop_one(http_req *req, http_resp *resp)
{
    semc_target t;
    if (!semc_api__target(req, resp, NULL, &t))
        return;
    int rc = gw_semcache_drop(t.sc, t.partition, http_req_param(req, "id"));
    if (rc == RAGD_EINVAL)
        http_error(req, resp, 400, "invalid_id", "an entry id is 32 lowercase hex digits");
    else if (rc == RAGD_ENOTFOUND)
        http_error(req, resp, 404, "not_found", "no entry '%s' in this cache",
                   http_req_param(req, "id"));
    else if (rc)
        api_error_rc(req, resp, rc, "the entry was not deleted: %s", ragd_strerror(rc));
    else
        semc_api__deleted(resp, 1);
}

/* Drop each of ids (an array of entry ids); *n counts those that were there. */
static bool semc_api__drop_ids(http_req *req, http_resp *resp, const semc_target *t,
                               const cJSON *ids, uint64_t *n)
{
    bool ok = cJSON_IsArray(ids) && cJSON_GetArraySize(ids) <= 1000;
    for (const cJSON *i = ok ? ids->child : NULL; i && ok; i = i->next)
        ok = cJSON_IsString(i) && strlen(i->valuestring) == GW_SEMCACHE_ID_LEN;
    if (!ok) {
        http_error(req, resp, 400, "invalid_id", "'ids' must be an array of at most 1000 entry "
                   "ids (32 lowercase hex digits)");
        return false;
    }
    for (const cJSON *i = ids->child; i; i = i->next) {
        int rc = gw_semcache_drop(t->sc, t->partition, i->valuestring);
        if (rc == 0) {
            (*n)++;
        } else if (rc != RAGD_ENOTFOUND) {
            api_error_rc(req, resp, rc, "'%s' was not deleted: %s", i->valuestring,
                         ragd_strerror(rc));
            return false;
        }
    }
    return true;
}

/* POST /api/v1/semantic-cache/{name}/delete {ids?, filters?} */
static void semc_api__delete(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    semc_target t;
    kb_filter *f = NULL;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "ids");
    uint64_t n = 0;
    if (semc_api__target(req, resp, body, &t) && semc_api__filter(req, resp, body, &f)) {
        if (!ids && (!f || kb_filter_is_empty(f))) {
            http_error(req, resp, 400, "invalid_request", "give 'ids' or non-empty 'filters' "
                       "(DELETE /api/v1/semantic-cache/{name} clears the whole cache)");
        } else if (!ids || semc_api__drop_ids(req, resp, &t, ids, &n)) {
            uint64_t m = 0;
            int rc = f && !kb_filter_is_empty(f) ? gw_semcache_delete(t.sc, t.partition, f, &m)
                                                 : 0;
            if (rc)
                api_error_rc(req, resp, rc, "the delete failed: %s", ragd_strerror(rc));
            else
                semc_api__deleted(resp, n + m);
        }
    }
    kb_filter_destroy(f);
    cJSON_Delete(body);
}

/* DELETE /api/v1/semantic-cache/{name}: every entry of the caller's cache. */
static void semc_api__clear(http_req *req, http_resp *resp)
{
    semc_target t;
    if (!semc_api__target(req, resp, NULL, &t))
        return;
    uint64_t n = 0;
    int rc = gw_semcache_delete(t.sc, t.partition, NULL, &n);
    if (rc)
        api_error_rc(req, resp, rc, "the cache was not cleared: %s", ragd_strerror(rc));
    else
        semc_api__deleted(resp, n);
}

void api_semcache_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/semantic-cache/{name}/check", semc_api__check);
    router_add(r, HTTP_POST, "/api/v1/semantic-cache/{name}/store", semc_api__store);
    router_add(r, HTTP_POST, "/api/v1/semantic-cache/{name}/delete", semc_api__delete);
    router_add(r, HTTP_DELETE, "/api/v1/semantic-cache/{name}/entries/{id}", semc_api__drop_one);
    router_add(r, HTTP_DELETE, "/api/v1/semantic-cache/{name}", semc_api__clear);
}
