/*
 * api_search.c - POST /api/v1/search/hybrid (docs/KNOWLEDGE.md): keyword, semantic
 * or hybrid search over one or more namespaces with user and metadata
 * filters, weighted or RRF fusion, optional custom query vector and a
 * per-leg explanation. Validation here; the search itself is kb/search.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "kb/search.h"
#include "kb/user_content.h"
#include "util/json.h"
#include "util/mem.h"

/* The parsed request; strings borrowed from the JSON body. */
typedef struct search_req {
    kb_search_opts o;
    const char **names;
    kb_filter *filter;
} search_req;

static void search_api__free(search_req *s)
{
    free(s->names);
    kb_filter_destroy(s->filter);
}

static bool search_api__fail(const http_req *req, http_resp *resp, int status, const char *code,
                             const char *msg)
{
    http_error(req, resp, status, code, "%s", msg);
    return false;
}

static bool search_api__type(const http_req *req, http_resp *resp, const cJSON *b, search_req *s)
{
    const char *t = json_get_str(b, "search_type");
    if (!t || !strcmp(t, "hybrid"))
        s->o.type = KB_SEARCH_HYBRID;
    else if (!strcmp(t, "semantic"))
        s->o.type = KB_SEARCH_SEMANTIC;
    else if (!strcmp(t, "keyword"))
        s->o.type = KB_SEARCH_KEYWORD;
    else
        return search_api__fail(req, resp, 400, "invalid_request",
                                "search_type must be semantic, keyword or hybrid");
    if (cJSON_GetObjectItemCaseSensitive(b, "search_type") && !t)
        return search_api__fail(req, resp, 400, "invalid_request", "search_type must be a string");
    const char *f = json_get_str(b, "fusion");
    if (!f || !strcmp(f, "weighted"))
        s->o.fusion.method = FUSION_WEIGHTED;
    else if (!strcmp(f, "rrf"))
        s->o.fusion.method = FUSION_RRF;
    else
        return search_api__fail(req, resp, 400, "invalid_request", "fusion must be weighted or rrf");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(b, "fusion_norm");
    if (nm && !cJSON_IsNull(nm) &&
        (!cJSON_IsString(nm) || !fusion_norm_parse(nm->valuestring, &s->o.fusion.norm)))
        return search_api__fail(req, resp, 400, "invalid_request",
                                "fusion_norm must be relative, max or minmax");
    return true;
}

static bool search_api__numbers(const http_req *req, http_resp *resp, const cJSON *b,
                                search_req *s)
{
    app_t *app = api_app(req);
    int64_t lim = 10, cand = 0, ef = 0;
    if (json_get_count(b, "limit", 1, JSON_INT_LIMIT, &lim, NULL) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "'limit' must be an integer from 1 to %lld",
                   (long long)app->cfg.search_max_limit);
        return false;
    }
    if (lim > app->cfg.search_max_limit) {
        http_error(req, resp, 400, "limit_too_large", "limit %lld is above the maximum of %lld",
                   (long long)lim, (long long)app->cfg.search_max_limit);
        return false;
    }
    s->o.limit = (size_t)lim;
    double alpha = 0.5, rrf_k = 60, thr = 0;
    if (json_get_num(b, "alpha", 0.0, 1.0, &alpha) == RAGD_EINVAL)
        return search_api__fail(req, resp, 400, "invalid_request", "alpha must be in [0, 1]");
    if (json_get_num(b, "rrf_k", 0.0, 1e6, &rrf_k) == RAGD_EINVAL)
        return search_api__fail(req, resp, 400, "invalid_request", "rrf_k must be in [0, 1e6]");
    int rc = json_get_num(b, "threshold", -1e30, 1e30, &thr);
    if (rc == RAGD_EINVAL)
        return search_api__fail(req, resp, 400, "invalid_request", "threshold must be a number");
    s->o.has_threshold = rc == RAGD_OK;
    s->o.threshold = (float)thr;
    s->o.fusion.alpha = (float)alpha;
    s->o.fusion.rrf_k = (float)rrf_k;
    if (!api_get_count(req, resp, b, "candidates", 1, 10000, &cand) ||
        !api_get_count(req, resp, b, "ef_search", 1, 10000, &ef))
        return false;
    s->o.candidates = (size_t)cand;
    s->o.ef_search = (uint32_t)ef;
    const char *bools[] = { "fuzzy", "explain", "include_vectors" };
    bool *dst[] = { &s->o.fuzzy, &s->o.explain, &s->o.with_vectors };
    for (int i = 0; i < 3; i++)
        if (json_get_bool(b, bools[i], dst[i]) == RAGD_EINVAL) {
            http_error(req, resp, 400, "invalid_request", "%s must be true or false", bools[i]);
            return false;
        }
    return true;
}

/* With a user, named namespaces are searched together with the user's own
 * items (the user-content namespace; every namespace is searched when none is
 * named, that one included). */
static void search_api__user_ns(const http_req *req, search_req *s)
{
    app_t *app = api_app(req);
    const char *uns = app->cfg.user_content_namespace;
    if (!s->o.user_id || !s->o.n_namespaces || !kb_ns_exists(app->kb, uns))
        return;
    for (size_t i = 0; i < s->o.n_namespaces; i++)
        if (!strcmp(s->names[i], uns))
            return;
    s->names[s->o.n_namespaces++] = uns;
}

/* "filter", and "content_type" (a type or a list): only user items of those
 * types (lenient plural match, kb/user_content.h). */
static bool search_api__filter(const http_req *req, http_resp *resp, const cJSON *b,
                               search_req *s)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "filter");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(b, "content_type");
    cJSON *spec = NULL;
    if (ct && !cJSON_IsNull(ct)) {
        size_t n = cJSON_IsArray(ct) ? (size_t)cJSON_GetArraySize(ct) : 1, i = 0;
        const char **types = xmalloc((n ? n : 1) * sizeof *types);
        for (const cJSON *e = cJSON_IsArray(ct) ? ct->child : ct; e && i < n; e = e->next)
            types[i++] = cJSON_IsString(e) && uc_type_ok(e->valuestring) ? e->valuestring : NULL;
        bool ok = n > 0;
        for (size_t k = 0; k < i; k++)
            ok = ok && types[k];
        spec = ok ? uc_type_filter(types, n, f) : NULL;
        free(types);
        if (!ok)
            return search_api__fail(req, resp, 400, "invalid_request", "content_type must be a "
                                    "content type or a non-empty list of them");
    }
    ragd_error err = { 0 };
    int rc = kb_filter_compile(spec ? spec : f, &s->filter, &err);
    cJSON_Delete(spec);
    if (rc)
        return search_api__fail(req, resp, 400, "invalid_filter", err.msg);
    s->o.filter = kb_filter_is_empty(s->filter) ? NULL : s->filter;
    return true;
}

static bool search_api__scope(const http_req *req, http_resp *resp, const cJSON *b,
                              search_req *s)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(b, "query");
    if (q && !cJSON_IsString(q) && !cJSON_IsNull(q))
        return search_api__fail(req, resp, 400, "invalid_request", "query must be a string");
    s->o.query = cJSON_IsString(q) ? q->valuestring : NULL;
    s->o.qlen = s->o.query ? strlen(s->o.query) : 0;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(b, "user_id");
    if (u && !cJSON_IsString(u) && !cJSON_IsNull(u))
        return search_api__fail(req, resp, 400, "invalid_request", "user_id must be a string");
    /* A user-bound caller searches as itself; only service keys name other users. */
    if (!auth_effective_user(req, cJSON_IsString(u) ? u->valuestring : NULL, &s->o.user_id, resp))
        return false;
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(b, "namespaces");
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(b, "namespace");
    if (cJSON_IsString(one)) {
        s->names = xmalloc(2 * sizeof *s->names);
        s->names[0] = one->valuestring;
        s->o.n_namespaces = 1;
    } else if (ns && !cJSON_IsNull(ns)) {
        if (!cJSON_IsArray(ns))
            return search_api__fail(req, resp, 400, "invalid_request",
                                    "namespaces must be an array of names");
        size_t n = (size_t)cJSON_GetArraySize(ns), i = 0;
        s->names = xmalloc((n + 1) * sizeof *s->names);
        for (const cJSON *e = ns->child; e; e = e->next) {
            if (!cJSON_IsString(e))
                return search_api__fail(req, resp, 400, "invalid_request",
                                        "namespaces must be an array of names");
            s->names[i++] = e->valuestring;
        }
        s->o.n_namespaces = n;
    }
    s->o.namespaces = s->names;
    search_api__user_ns(req, s);
    return search_api__filter(req, resp, b, s);
}

static bool search_api__vector(const http_req *req, http_resp *resp, const cJSON *b,
                               search_req *s)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "vector");
    if (!v || cJSON_IsNull(v))
        return true;
    float *f;
    size_t n;
    if (!api_get_vector(req, resp, v, "vector", &f, &n))
        return false;
    s->o.vector = f;
    s->o.dim = n;
    return true;
}

/* Which leg found the hit ("match"). */
static const char *search_api__hit_match(const kb_hit *h)
{
    return h->rank_sem && h->rank_kw ? "hybrid" : h->rank_sem ? "semantic" : "keyword";
}

/* The seed's "type": a user item's content type, else the hit's namespace. */
static const char *search_api__hit_type(const kb_hit *h, const char *user_ns)
{
    const char *ct = strcmp(h->ns, user_ns) ? NULL : json_get_str(h->metadata, "content_type");
    return ct ? ct : h->ns;
}

static cJSON *search_api__explain(const kb_hit *h, const kb_search_opts *o)
{
    cJSON *e = cJSON_CreateObject();
    if (o->type != KB_SEARCH_KEYWORD) {
        cJSON *s = cJSON_AddObjectToObject(e, "semantic");
        cJSON_AddNumberToObject(s, "rank", h->rank_sem);
        cJSON_AddNumberToObject(s, "score", h->score_sem);
        if (o->type == KB_SEARCH_HYBRID && o->fusion.method == FUSION_WEIGHTED)
            cJSON_AddNumberToObject(s, "normalized", h->norm_sem);
    }
    if (o->type != KB_SEARCH_SEMANTIC) {
        cJSON *k = cJSON_AddObjectToObject(e, "keyword");
        cJSON_AddNumberToObject(k, "rank", h->rank_kw);
        cJSON_AddNumberToObject(k, "score", h->score_kw);
        if (o->type == KB_SEARCH_HYBRID && o->fusion.method == FUSION_WEIGHTED)
            cJSON_AddNumberToObject(k, "normalized", h->norm_kw);
        cJSON *terms = cJSON_AddArrayToObject(k, "terms");
        for (size_t i = 0; i < h->n_terms; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "term", h->terms[i].term);
            cJSON_AddNumberToObject(t, "weight", h->terms[i].weight);
            cJSON_AddNumberToObject(t, "tf", h->terms[i].tf);
            cJSON_AddNumberToObject(t, "df", h->terms[i].df);
            cJSON_AddNumberToObject(t, "idf", h->terms[i].idf);
            cJSON_AddNumberToObject(t, "score", h->terms[i].score);
            cJSON_AddItemToArray(terms, t);
        }
    }
    if (o->type == KB_SEARCH_HYBRID)
        cJSON_AddStringToObject(e, "fusion", o->fusion.method == FUSION_RRF ? "rrf" : "weighted");
    if (o->type == KB_SEARCH_HYBRID && o->fusion.method == FUSION_WEIGHTED)
        cJSON_AddStringToObject(e, "fusion_norm", fusion_norm_name(o->fusion.norm));
    return e;
}

static cJSON *search_api__hit(const kb_hit *h, const kb_search_opts *o, const char *user_ns)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "content", cJSON_CreateString(h->content));
    cJSON_AddNumberToObject(r, "score", h->score);
    cJSON_AddStringToObject(r, "type", search_api__hit_type(h, user_ns));
    cJSON_AddStringToObject(r, "match", search_api__hit_match(h));
    cJSON_AddItemToObject(r, "metadata", cJSON_Duplicate(h->metadata, 1));
    cJSON_AddStringToObject(r, "namespace", h->ns);
    cJSON_AddStringToObject(r, "document_id", h->doc_id);
    char cid[KB_DOC_ID_MAX + 16];
    snprintf(cid, sizeof cid, "%s#%u", h->doc_id, h->chunk_index);
    cJSON_AddStringToObject(r, "chunk_id", cid);
    cJSON_AddNumberToObject(r, "chunk_index", h->chunk_index);
    cJSON *off = cJSON_AddObjectToObject(r, "offsets");
    cJSON_AddNumberToObject(off, "start", h->start);
    cJSON_AddNumberToObject(off, "end", h->end);
    if (h->user_id)
        cJSON_AddStringToObject(r, "user_id", h->user_id);
    else
        cJSON_AddNullToObject(r, "user_id");
    if (h->n_dups) {
        cJSON *d = cJSON_AddArrayToObject(r, "duplicates");
        for (size_t i = 0; i < h->n_dups; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "namespace", h->dups[i].ns);
            cJSON_AddStringToObject(e, "document_id", h->dups[i].doc_id);
            snprintf(cid, sizeof cid, "%s#%u", h->dups[i].doc_id, h->dups[i].chunk_index);
            cJSON_AddStringToObject(e, "chunk_id", cid);
            cJSON_AddItemToArray(d, e);
        }
    }
    if (o->explain)
        cJSON_AddItemToObject(r, "explain", search_api__explain(h, o));
    if (h->vector) {
        cJSON *v = cJSON_AddArrayToObject(r, "vector");
        for (size_t i = 0; i < h->dim; i++)
            cJSON_AddItemToArray(v, cJSON_CreateNumber(h->vector[i]));
    }
    return r;
}

static void search_api_hybrid(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *b;
    if (!api_parse_object(req, resp, &b))
        return;
    search_req s = { 0 };
    kb_search_default_opts(&s.o);
    if (search_api__type(req, resp, b, &s) && search_api__numbers(req, resp, b, &s) &&
        search_api__scope(req, resp, b, &s) && search_api__vector(req, resp, b, &s) &&
        auth_effective_user(req, s.o.user_id, &s.o.user_id, resp)) {
        kb_search_result res;
        ragd_error err = { 0 };
        int rc = kb_search(app->kb, &s.o, &res, &err);
        if (rc == RAGD_ENOTFOUND) {
            http_error(req, resp, 404, "namespace_not_found", "%s", err.msg);
        } else if (res.bad_dim) {
            http_error(req, resp, 422, "dimension_mismatch", "%s", err.msg);
        } else if (rc == RAGD_EUNAVAIL && strstr(err.msg, "provider")) {
            http_error(req, resp, 503, "upstream_unavailable", "%s", err.msg);
        } else if (rc == RAGD_EUNAVAIL) {
            http_error(req, resp, 503, "model_unavailable", "%s", err.msg);
        } else if (rc) {
            api_error_rc(req, resp, rc, "%s", err.msg);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON *arr = cJSON_AddArrayToObject(o, "results");
            for (size_t i = 0; i < res.n; i++)
                cJSON_AddItemToArray(arr, search_api__hit(&res.hits[i], &s.o,
                                                          app->cfg.user_content_namespace));
            cJSON_AddNumberToObject(o, "total", (double)res.n);
            cJSON_AddStringToObject(o, "search_type", s.o.type == KB_SEARCH_HYBRID ? "hybrid"
                                    : s.o.type == KB_SEARCH_SEMANTIC ? "semantic" : "keyword");
            if (s.o.type == KB_SEARCH_HYBRID)
                cJSON_AddStringToObject(o, "fusion",
                                        s.o.fusion.method == FUSION_RRF ? "rrf" : "weighted");
            if (s.o.type == KB_SEARCH_HYBRID && s.o.fusion.method == FUSION_WEIGHTED)
                cJSON_AddStringToObject(o, "fusion_norm", fusion_norm_name(s.o.fusion.norm));
            cJSON *t = cJSON_AddObjectToObject(o, "timings");
            cJSON_AddNumberToObject(t, "embed_ms", res.embed_ms);
            cJSON_AddNumberToObject(t, "keyword_ms", res.keyword_ms);
            cJSON_AddNumberToObject(t, "semantic_ms", res.semantic_ms);
            cJSON_AddNumberToObject(t, "fusion_ms", res.fusion_ms);
            cJSON_AddNumberToObject(t, "total_ms", res.total_ms);
            api_reply_json(resp, 200, o);
            cJSON_Delete(o);
            kb_search_result_clear(&res);
        }
    }
    search_api__free(&s);
    cJSON_Delete(b);
}

void api_search_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/search/hybrid", search_api_hybrid);
}
