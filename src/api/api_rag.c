/*
 * api_rag.c - POST /api/v1/rag/query (docs/RAG.md): {query, user_id,
 * include_context, max_context_items} plus namespaces, max_tokens, rerank,
 * mmr, filter, search_type and format, answered with ranked context and its
 * sources, the strategy used, the token count, the processing time and a
 * per-stage breakdown. Without namespaces the query is routed first
 * (api_route.c). Parsing and rendering here; the pipeline is rag/rag.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "kb/kb_filter.h"
#include "kb/user_content.h"
#include "rag/rag.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/utf8.h"

#define RAG_ITEMS_MAX 100

typedef struct rag_api_req {
    rag_request q;
    const char **names;
    bool include_context, prompt, routed, route_fallback;
    char **all_names;           /* routing fell back to every namespace (kb_ns_list) */
    size_t n_all;
    bool ctx_list;              /* include_context was a list: no routing */
    const char **types;         /* its content types (user items) */
    size_t ntypes;
    const char **ctx_ns;        /* its namespace names */
    size_t nctx_ns;
    bool all_items;             /* it named the user-content namespace itself */
    int64_t route_k;
    const cJSON *route_threshold;
} rag_api_req;

static bool rag_api__fail(const http_req *req, http_resp *resp, const char *msg)
{
    http_error(req, resp, 400, "invalid_request", "%s", msg);
    return false;
}

/* "rerank": true | false | {depth, budget_ms, min_score} */
static bool rag_api__rerank(const http_req *req, http_resp *resp, const cJSON *v, rag_request *q)
{
    if (!v || cJSON_IsNull(v))
        return true;
    if (cJSON_IsBool(v)) {
        q->rerank = cJSON_IsTrue(v);
        return true;
    }
    if (!cJSON_IsObject(v))
        return rag_api__fail(req, resp, "'rerank' must be a boolean or an object {depth, "
                             "budget_ms, min_score}");
    int64_t depth = (int64_t)q->rr.depth, budget = q->rr.budget_ms;
    double ms = -INFINITY;
    if (!api_get_count(req, resp, v, "depth", 1, 10000, &depth) ||
        !api_get_count(req, resp, v, "budget_ms", 0, 600000, &budget))
        return false;
    if (json_get_num(v, "min_score", -1e30, 1e30, &ms) == RAGD_EINVAL)
        return rag_api__fail(req, resp, "rerank.min_score must be a number");
    q->rerank = true;
    q->rr.depth = (size_t)depth;
    q->rr.budget_ms = (int)budget;
    q->min_score = (float)ms;
    return true;
}

/* "mmr": true | false | lambda | {lambda, threshold} */
static bool rag_api__mmr(const http_req *req, http_resp *resp, const cJSON *v, rag_request *q)
{
    if (!v || cJSON_IsNull(v) || cJSON_IsBool(v)) {
        q->mmr = !v || !cJSON_IsFalse(v);
        return true;
    }
    double lambda = q->lambda, thr = q->dup_threshold;
    if (cJSON_IsNumber(v)) {
        lambda = v->valuedouble;
    } else if (!cJSON_IsObject(v) ||
               json_get_num(v, "lambda", -1e9, 1e9, &lambda) == RAGD_EINVAL ||
               json_get_num(v, "threshold", -1e9, 1e9, &thr) == RAGD_EINVAL) {
        return rag_api__fail(req, resp, "'mmr' must be a boolean, a lambda in [0, 1] or an "
                             "object {lambda, threshold}");
    }
    if (lambda < 0 || lambda > 1 || thr <= 0 || thr > 1)
        return rag_api__fail(req, resp, "mmr lambda must be in [0, 1] and mmr threshold in "
                             "(0, 1]");
    q->mmr = true;
    q->lambda = lambda;
    q->dup_threshold = thr;
    return true;
}

static bool rag_api__namespaces(const http_req *req, http_resp *resp, const cJSON *b,
                                rag_api_req *r)
{
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(b, "namespaces");
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(b, "namespace");
    if (cJSON_IsString(one)) {
        r->names = xmalloc(sizeof *r->names);
        r->names[0] = one->valuestring;
        r->q.nns = 1;
    } else if (ns && !cJSON_IsNull(ns)) {
        size_t n = cJSON_IsArray(ns) ? (size_t)cJSON_GetArraySize(ns) : 0, i = 0;
        if (n == 0)
            return rag_api__fail(req, resp, "'namespaces' must be a non-empty array of names "
                                 "(omit it to route the query)");
        r->names = xmalloc(n * sizeof *r->names);
        for (const cJSON *e = ns->child; e; e = e->next) {
            if (!cJSON_IsString(e))
                return rag_api__fail(req, resp, "'namespaces' must be an array of names");
            r->names[i++] = e->valuestring;
        }
        r->q.nns = n;
    }
    r->q.namespaces = r->names;
    return true;
}

static bool rag_api__numbers(const http_req *req, http_resp *resp, const cJSON *b,
                             rag_api_req *r)
{
    int64_t items = 5, tokens = 0, cand = 0;
    if (!api_get_count(req, resp, b, "max_context_items", 1, RAG_ITEMS_MAX, &items) ||
        !api_get_count(req, resp, b, "max_tokens", 1, 10000000, &tokens) ||
        !api_get_count(req, resp, b, "candidates", 1, 10000, &cand) ||
        !api_get_count(req, resp, b, "route_k", 1, 100, &r->route_k))
        return false;
    if (json_get_bool(b, "route_fallback", &r->route_fallback) == RAGD_EINVAL)
        return rag_api__fail(req, resp, "'route_fallback' must be a boolean");
    r->q.max_items = (size_t)items;
    r->q.max_tokens = (size_t)tokens;
    r->q.candidates = (size_t)cand;
    return true;
}

/* "include_context": true | false (with or without content) | a list of
 * content types of the user's items and/or namespace names to draw from. */
static bool rag_api__include(http_req *req, http_resp *resp, const cJSON *b, rag_api_req *r)
{
    app_t *app = api_app(req);
    const char *uns = app->cfg.user_content_namespace;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "include_context");
    if (!v || cJSON_IsNull(v) || cJSON_IsBool(v)) {
        r->include_context = !v || !cJSON_IsFalse(v);
        return true;
    }
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
    if (!n)
        return rag_api__fail(req, resp, "'include_context' must be a boolean or a non-empty "
                             "list of content types and/or namespace names");
    r->types = xmalloc(n * sizeof *r->types);
    r->ctx_ns = xmalloc(n * sizeof *r->ctx_ns);
    r->ctx_list = true;
    for (const cJSON *e = v->child; e; e = e->next) {
        const char *name = cJSON_IsString(e) ? e->valuestring : NULL;
        if (name && !strcmp(name, uns))
            r->all_items = true;
        else if (name && kb_ns_exists(app->kb, name))
            r->ctx_ns[r->nctx_ns++] = name;
        else if (name && uc_type_ok(name))
            r->types[r->ntypes++] = name;
        else
            return rag_api__fail(req, resp, "'include_context' entries must be content types "
                                 "or namespace names (1-64 characters of [A-Za-z0-9_.-])");
    }
    if ((r->ntypes || r->all_items) && !r->q.user_id)
        return rag_api__fail(req, resp, "content types in 'include_context' draw on a user's "
                             "items: give a user_id");
    return true;
}

/* The namespaces of an include_context list join the named ones; content
 * types add the user-content namespace (searched for those types only). */
static void rag_api__scope_names(const app_t *app, rag_api_req *r)
{
    if (!r->ctx_list)
        return;
    const char **names = xmalloc((r->q.nns + r->nctx_ns + 1) * sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < r->q.nns; i++)
        names[n++] = r->q.namespaces[i];
    for (size_t i = 0; i < r->nctx_ns; i++)
        names[n++] = r->ctx_ns[i];
    if (r->ntypes || r->all_items)
        names[n++] = app->cfg.user_content_namespace;
    if (r->all_items)
        r->ntypes = 0;
    free(r->names);
    r->names = names;
    r->q.namespaces = names;
    r->q.nns = n;
}

static bool rag_api__parse(http_req *req, http_resp *resp, const cJSON *b, rag_api_req *r)
{
    app_t *app = api_app(req);
    size_t bad;
    rag_default_request(&r->q);
    r->q.rr.depth = (size_t)app->cfg.rerank_depth;
    r->q.rr.budget_ms = (int)app->cfg.rerank_budget_ms;
    /* the cosine fallback re-ranks only on request: it discards the keyword
       signal of hybrid search (bench/rag: lower nDCG than hybrid alone) */
    r->q.rerank = rerank_get_kind(app->rerank) != RERANK_COSINE;
    r->include_context = true;
    r->route_fallback = true;
    r->route_k = 3;
    r->q.query = json_get_str(b, "query");
    if (!r->q.query || !*r->q.query)
        return rag_api__fail(req, resp, "'query' must be a non-empty string");
    if (!utf8_valid(r->q.query, strlen(r->q.query), &bad)) {
        http_error(req, resp, 400, "invalid_input", "'query' is not valid UTF-8 (byte %zu)", bad);
        return false;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(b, "user_id");
    if (u && !cJSON_IsString(u) && !cJSON_IsNull(u))
        return rag_api__fail(req, resp, "'user_id' must be a string");
    /* The user the query acts for: a user-bound caller is always itself (naming
     * another user is a 403); a service key may name one (auth.h). */
    const char *named = cJSON_IsString(u) && u->valuestring[0] ? u->valuestring : NULL;
    if (!auth_effective_user(req, named, &r->q.user_id, resp))
        return false;
    const char *st = json_get_str(b, "search_type"), *fmt = json_get_str(b, "format");
    if (st && strcmp(st, "hybrid") && strcmp(st, "semantic") && strcmp(st, "keyword"))
        return rag_api__fail(req, resp, "'search_type' must be hybrid, semantic or keyword");
    r->q.strategy = st ? st : "hybrid";
    if (fmt && strcmp(fmt, "json") && strcmp(fmt, "prompt"))
        return rag_api__fail(req, resp, "'format' must be json or prompt");
    r->prompt = fmt && !strcmp(fmt, "prompt");
    r->route_threshold = cJSON_GetObjectItemCaseSensitive(b, "route_threshold");
    r->q.filter = cJSON_GetObjectItemCaseSensitive(b, "filter");
    kb_filter *f = NULL;
    ragd_error err = {0};
    if (kb_filter_compile(r->q.filter, &f, &err)) {
        http_error(req, resp, 400, "invalid_filter", "%s", err.msg);
        return false;
    }
    kb_filter_destroy(f);
    if (!rag_api__numbers(req, resp, b, r) || !rag_api__namespaces(req, resp, b, r) ||
        !rag_api__include(req, resp, b, r) ||
        !rag_api__rerank(req, resp, cJSON_GetObjectItemCaseSensitive(b, "rerank"), &r->q) ||
        !rag_api__mmr(req, resp, cJSON_GetObjectItemCaseSensitive(b, "mmr"), &r->q))
        return false;
    rag_api__scope_names(app, r);
    return true;
}

/* The seed's type of an entry: a user item's content type, else its namespace. */
static const char *rag_api__type(const app_t *app, const pack_entry *e, const rag_hit *h)
{
    const char *ct = strcmp(e->ns, app->cfg.user_content_namespace)
                         ? NULL : json_get_str(h->metadata, "content_type");
    return ct ? ct : e->ns;
}

static cJSON *rag_api__provenance(const pack_entry *e)
{
    cJSON *src = cJSON_CreateObject();
    cJSON_AddStringToObject(src, "namespace", e->ns);
    cJSON_AddStringToObject(src, "document_id", e->doc_id);
    cJSON *off = cJSON_AddObjectToObject(src, "offsets");
    cJSON_AddNumberToObject(off, "start", (double)e->start);
    cJSON_AddNumberToObject(off, "end", (double)e->end);
    if (e->seq_first >= 0) {
        cJSON *ch = cJSON_AddArrayToObject(src, "chunks");
        for (int64_t s = e->seq_first; s <= e->seq_last; s++)
            cJSON_AddItemToArray(ch, cJSON_CreateNumber((double)s));
    }
    return src;
}

/* {source: "<type>/<document id>", content, relevance, type, provenance, ...} */
static cJSON *rag_api__entry(const app_t *app, const rag_result *res, size_t i, bool content)
{
    const pack_entry *e = &res->pack.e[i];
    const rag_hit *h = &res->hits[res->entry_hit[i]];
    const char *type = rag_api__type(app, e, h);
    cJSON *o = cJSON_CreateObject();
    buf_t src = BUF_INIT;
    buf_printf(&src, "%s/%s", type, e->doc_id);
    cJSON_AddStringToObject(o, "source", src.data);
    buf_free(&src);
    if (content)
        cJSON_AddItemToObject(o, "content", cJSON_CreateString(e->text));
    cJSON_AddNumberToObject(o, "relevance", e->relevance);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddItemToObject(o, "provenance", rag_api__provenance(e));
    cJSON_AddNumberToObject(o, "search_score", h->score);
    cJSON_AddNumberToObject(o, "tokens", (double)e->tokens);
    cJSON_AddNumberToObject(o, "citation", (double)(i + 1));
    if (e->truncated)
        cJSON_AddBoolToObject(o, "truncated", true);
    cJSON_AddItemToObject(o, "metadata",
                          h->metadata ? cJSON_Duplicate(h->metadata, 1) : cJSON_CreateObject());
    if (h->dups)
        cJSON_AddItemToObject(o, "duplicates", cJSON_Duplicate(h->dups, 1));
    return o;
}

/* The ids whose embeddings chose the context: a user item's id, a chunk's
 * "<namespace>/<document id>#<chunk>"; none for a keyword-only search. */
static cJSON *rag_api__embeddings_used(const app_t *app, const rag_result *res)
{
    cJSON *a = cJSON_CreateArray();
    if (strncmp(res->strategy, "hybrid", 6) && strncmp(res->strategy, "semantic", 8))
        return a;
    for (size_t i = 0; i < res->pack.n; i++) {
        const pack_entry *e = &res->pack.e[i];
        if (!strcmp(e->ns, app->cfg.user_content_namespace) || e->seq_first < 0) {
            cJSON_AddItemToArray(a, cJSON_CreateString(e->doc_id));
            continue;
        }
        for (int64_t s = e->seq_first; s <= e->seq_last; s++) {
            buf_t b = BUF_INIT;
            buf_printf(&b, "%s/%s#%lld", e->ns, e->doc_id, (long long)s);
            cJSON_AddItemToArray(a, cJSON_CreateString(b.data));
            buf_free(&b);
        }
    }
    return a;
}

static void rag_api__rerank_info(const app_t *app, const rag_api_req *r, const rag_result *res,
                                 cJSON *o, http_resp *resp)
{
    const char *state = !r->q.rerank || !rerank_ready(app->rerank) ? "off"
                        : res->rr.degraded                         ? "degraded"
                        : res->rr.by_budget                        ? "partial"
                                                                   : "full";
    http_resp_header(resp, "x-ragd-rerank", state);
    cJSON *rr = cJSON_AddObjectToObject(o, "rerank");
    cJSON_AddStringToObject(rr, "state", state);
    cJSON_AddStringToObject(rr, "model", rerank_model_name(app->rerank));
    cJSON_AddStringToObject(rr, "kind", rerank_kind_name(rerank_get_kind(app->rerank)));
    cJSON_AddNumberToObject(rr, "scored", (double)res->rr.scored);
    cJSON_AddNumberToObject(rr, "candidates", (double)res->nhits);
    cJSON_AddBoolToObject(rr, "stopped_by_budget", res->rr.by_budget);
    if (res->rr.degraded)
        cJSON_AddStringToObject(rr, "reason", res->rr.reason);
    if (rerank_get_kind(app->rerank) == RERANK_COSINE)
        cJSON_AddStringToObject(rr, "fallback", r->q.rerank
                                ? "no re-ranker is configured: scores are the embedding "
                                  "model's cosine similarity"
                                : "no re-ranker is configured; the cosine fallback runs only "
                                  "with \"rerank\": true");
}

static void rag_api__reply(http_req *req, http_resp *resp, const rag_api_req *r,
                           const rag_result *res, cJSON *routing)
{
    app_t *app = api_app(req);
    cJSON *o = cJSON_CreateObject(), *ctx = cJSON_AddArrayToObject(o, "context");
    for (size_t i = 0; i < res->pack.n; i++)
        cJSON_AddItemToArray(ctx, rag_api__entry(app, res, i, r->include_context));
    cJSON_AddItemToObject(o, "embeddings_used", rag_api__embeddings_used(app, res));
    cJSON_AddStringToObject(o, "search_strategy", res->strategy[0] ? res->strategy : "none");
    cJSON_AddNumberToObject(o, "total_tokens", (double)res->pack.total_tokens);
    cJSON_AddNumberToObject(o, "processing_time_ms", (double)res->t.total_us / 1000.0);
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    const char *names[5] = {"embed_ms", "search_ms", "rerank_ms", "mmr_ms", "pack_ms"};
    const int64_t us[5] = {res->t.embed_us, res->t.search_us, res->t.rerank_us, res->t.mmr_us,
                           res->t.pack_us};
    for (int i = 0; i < 5; i++)
        cJSON_AddNumberToObject(t, names[i], (double)us[i] / 1000.0);
    cJSON *nss = cJSON_AddArrayToObject(o, "namespaces");
    for (size_t i = 0; i < r->q.nns; i++)
        cJSON_AddItemToArray(nss, cJSON_CreateString(r->q.namespaces[i]));
    if (routing)
        cJSON_AddItemToObject(o, "routing", routing);
    cJSON *em = cJSON_AddObjectToObject(o, "embedding");
    cJSON_AddStringToObject(em, "model", app->embcache ? embcache_model(app->embcache) : "none");
    cJSON_AddBoolToObject(em, "cached", res->query_cached);
    rag_api__rerank_info(app, r, res, o, resp);
    cJSON_AddNumberToObject(o, "near_duplicates_removed", (double)res->mmr_dropped);
    cJSON_AddNumberToObject(o, "chunks_left_out", (double)res->pack.skipped);
    if (r->prompt) {
        buf_t b = BUF_INIT;
        pack_render_prompt(&res->pack, r->q.query, &b);
        cJSON_AddStringToObject(o, "prompt", b.data);
        buf_free(&b);
    }
    api_reply_json(resp, 200, o);
    cJSON_Delete(o);
}

/* Nothing routed above the threshold: search every namespace instead (the
 * user filter still applies), and say so in the routing block. */
static void rag_api__route_fallback(app_t *app, rag_api_req *r, cJSON *routing)
{
    if (!r->route_fallback || kb_ns_list(app->kb, &r->all_names, &r->n_all) || !r->n_all)
        return;
    cJSON_AddStringToObject(routing, "fallback", "all_namespaces");
    free(r->names);
    r->names = xmalloc(r->n_all * sizeof *r->names);
    for (size_t i = 0; i < r->n_all; i++)
        r->names[i] = r->all_names[i];
    r->q.nns = r->n_all;
}

/* Route when no namespaces were named; false when resp is filled (error, or
 * an empty answer because nothing matched and there was nothing to fall back
 * to, or the request turned the fallback off). */
static bool rag_api__route(http_req *req, http_resp *resp, rag_api_req *r, cJSON **routing)
{
    route_result rt;
    double thr;
    if (!route_api_run(req, resp, r->q.query, (size_t)r->route_k, r->route_threshold, &rt, &thr))
        return false;
    *routing = route_api_json(req, &rt, thr);
    r->names = xmalloc((rt.n ? rt.n : 1) * sizeof *r->names);
    for (size_t i = 0; i < rt.n; i++) {
        cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(*routing, "namespaces"), (int)i);
        r->names[i] = cJSON_GetObjectItem(e, "namespace")->valuestring;
    }
    r->q.nns = rt.n;
    r->routed = true;
    route_result_free(&rt);
    if (!r->q.nns)
        rag_api__route_fallback(api_app(req), r, *routing);
    r->q.namespaces = r->names;
    if (r->q.nns)
        return true;
    rag_result empty = {0};
    rag_api__reply(req, resp, r, &empty, *routing);
    *routing = NULL;
    return false;
}

/* POST /api/v1/rag/query */
static void rag_api__query(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *body, *routing = NULL;
    if (!api_parse_object(req, resp, &body))
        return;
    rag_api_req r = {0};
    if (rag_api__parse(req, resp, body, &r) &&
        (r.q.nns || r.ctx_list || rag_api__route(req, resp, &r, &routing))) {
        rag_scope scope = {app->kb, app->cfg.user_content_namespace, r.types, r.ntypes};
        rag_deps d = {app->embcache, app->rerank, app->embed ? embed_model_tokenizer(app->embed)
                                                             : NULL, rag_scope_search, &scope,
                      req->arena};
        rag_result res = {0};
        ragd_error err = {0};
        int rc = d.wp ? rag_query(&d, &r.q, &res, &err) : RAGD_EUNAVAIL;
        if (rc == RAGD_ENOTFOUND)
            http_error(req, resp, 404, "namespace_not_found", "%s", err.msg);
        else if (rc == RAGD_EUNAVAIL)
            http_error(req, resp, 503, "model_unavailable", "the RAG pipeline needs the "
                       "embedding model's tokenizer (model_dir %s has none)", app->cfg.model_dir);
        else if (rc)
            api_error_rc(req, resp, rc, "%s", err.msg);
        else
            rag_api__reply(req, resp, &r, &res, routing);
        if (rc)
            cJSON_Delete(routing);
        rag_result_free(&res);
    }
    free(r.names);
    free(r.types);
    free(r.ctx_ns);
    kb_names_free(r.all_names, r.n_all);
    cJSON_Delete(body);
}

void api_rag_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/rag/query", rag_api__query);
}
