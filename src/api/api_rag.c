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
#include "rag/rag.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/utf8.h"

#define RAG_ITEMS_MAX 100

typedef struct rag_api_req {
    rag_request q;
    const char **names;
    bool include_context, prompt, routed;
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
    if (json_get_bool(b, "include_context", &r->include_context) == RAGD_EINVAL)
        return rag_api__fail(req, resp, "'include_context' must be a boolean");
    r->q.max_items = (size_t)items;
    r->q.max_tokens = (size_t)tokens;
    r->q.candidates = (size_t)cand;
    return true;
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
    return rag_api__numbers(req, resp, b, r) && rag_api__namespaces(req, resp, b, r) &&
           rag_api__rerank(req, resp, cJSON_GetObjectItemCaseSensitive(b, "rerank"), &r->q) &&
           rag_api__mmr(req, resp, cJSON_GetObjectItemCaseSensitive(b, "mmr"), &r->q);
}

static cJSON *rag_api__entry(const rag_result *res, size_t i, bool content)
{
    const pack_entry *e = &res->pack.e[i];
    const rag_hit *h = &res->hits[res->entry_hit[i]];
    cJSON *o = cJSON_CreateObject(), *src = cJSON_AddObjectToObject(o, "source");
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
    if (content)
        cJSON_AddItemToObject(o, "content", cJSON_CreateString(e->text));
    cJSON_AddNumberToObject(o, "relevance", e->relevance);
    cJSON_AddNumberToObject(o, "search_score", h->score);
    cJSON_AddNumberToObject(o, "tokens", (double)e->tokens);
    cJSON_AddNumberToObject(o, "citation", (double)(i + 1));
    if (e->truncated)
        cJSON_AddBoolToObject(o, "truncated", true);
    cJSON_AddItemToObject(o, "metadata",
                          h->metadata ? cJSON_Duplicate(h->metadata, 1) : cJSON_CreateObject());
    return o;
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
        cJSON_AddItemToArray(ctx, rag_api__entry(res, i, r->include_context));
    cJSON_AddBoolToObject(o, "embeddings_used", app->embcache != NULL);
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

/* Route when no namespaces were named; false when resp is filled (error, or
 * an empty answer because nothing matched). */
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
    r->q.namespaces = r->names;
    r->q.nns = rt.n;
    r->routed = true;
    route_result_free(&rt);
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
        (r.q.nns || rag_api__route(req, resp, &r, &routing))) {
        rag_deps d = {app->embcache, app->rerank, app->embed ? embed_model_tokenizer(app->embed)
                                                             : NULL, rag_kb_search, app->kb,
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
    cJSON_Delete(body);
}

void api_rag_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/rag/query", rag_api__query);
}
