/*
 * api_rerank.c - re-ranking over HTTP: the seed contract POST /api/v1/rerank
 * {query, candidates, user_id, top_k} -> {reranked: [{content,
 * relevance_score, original_rank}], model} and the Cohere/Jina shape POST
 * /v1/rerank {model, query, documents, top_n, return_documents} -> {results:
 * [{index, relevance_score, document?}], model, usage, meta} and Cohere's v2
 * POST /v2/rerank. All report what really scored (`model`, header
 * x-ragd-rerank: full|partial|degraded); the Cohere shapes refuse a `model`
 * that is not the configured re-ranker unless the request says "fallback": true.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/utf8.h"

/* One parsed request of either shape. Texts are borrowed from the JSON; the
 * arrays live in the request's arena. */
typedef struct rr_req {
    const char *query;
    const cJSON **items; /* candidate JSON values (strings or objects) */
    const char **texts;
    size_t *lens, n;
    size_t top;          /* results to return */
    float min_score;
    rerank_params p;
} rr_req;

/* The text of a candidate: a string, or an object's content (or text). */
static const char *rr__text_of(const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    const char *s = json_get_str(v, "content");
    return s ? s : json_get_str(v, "text");
}

static bool rr__parse_list(const http_req *req, http_resp *resp, const cJSON *body,
                           const char *field, rr_req *q)
{
    app_t *app = api_app(req);
    const cJSON *arr = json_get_arr(body, field);
    if (!arr) {
        http_error(req, resp, 400, "invalid_request", "'%s' must be an array of strings or "
                   "objects with a text", field);
        return false;
    }
    q->n = (size_t)cJSON_GetArraySize(arr);
    if (q->n == 0) {
        http_error(req, resp, 400, "invalid_request", "'%s' is empty: nothing to re-rank", field);
        return false;
    }
    if (q->n > (size_t)app->cfg.rerank_max_candidates) {
        http_error(req, resp, 413, "too_many_candidates",
                   "'%s' has %zu entries; the limit is %lld (setting rerank_max_candidates)",
                   field, q->n, (long long)app->cfg.rerank_max_candidates);
        return false;
    }
    q->items = arena_alloc(req->arena, q->n * sizeof *q->items);
    q->texts = arena_alloc(req->arena, q->n * sizeof *q->texts);
    q->lens = arena_alloc(req->arena, q->n * sizeof *q->lens);
    size_t i = 0, bad;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        const char *t = rr__text_of(e);
        if (!t) {
            http_error(req, resp, 400, "invalid_request", "%s[%zu] must be a string or an "
                       "object with a string 'content' or 'text'", field, i);
            return false;
        }
        if (!utf8_valid(t, strlen(t), &bad)) {
            http_error(req, resp, 400, "invalid_input", "%s[%zu] is not valid UTF-8 (byte %zu)",
                       field, i, bad);
            return false;
        }
        q->items[i] = e;
        q->texts[i] = t;
        q->lens[i] = strlen(t);
    }
    return true;
}

/* Fields common to both shapes: query, the top count, min_score, depth, budget_ms. */
static bool rr__parse(const http_req *req, http_resp *resp, const cJSON *body,
                      const char *list, const char *top_field, rr_req *q)
{
    size_t bad;
    memset(q, 0, sizeof *q);
    q->query = json_get_str(body, "query");
    if (!q->query || !*q->query) {
        http_error(req, resp, 400, "invalid_request", "'query' must be a non-empty string");
        return false;
    }
    if (!utf8_valid(q->query, strlen(q->query), &bad)) {
        http_error(req, resp, 400, "invalid_input", "'query' is not valid UTF-8 (byte %zu)", bad);
        return false;
    }
    int64_t top = 0, depth = 0, budget = 0;
    double ms = -INFINITY;
    if (!api_get_count(req, resp, body, top_field, 1, INT32_MAX, &top) ||
        !api_get_count(req, resp, body, "depth", 1, INT32_MAX, &depth) ||
        !api_get_count(req, resp, body, "budget_ms", 0, 600000, &budget))
        return false;
    if (json_get_num(body, "min_score", -1e30, 1e30, &ms) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "'min_score' must be a number");
        return false;
    }
    if (!rr__parse_list(req, resp, body, list, q))
        return false;
    q->top = top > 0 && (size_t)top < q->n ? (size_t)top : q->n;
    q->min_score = (float)ms;
    q->p.depth = (size_t)depth;
    q->p.budget_ms = (int)budget;
    return true;
}

/* Score and order; on success *order (in the request's arena) has *m entries. */
static bool rr__run(http_req *req, http_resp *resp, const rr_req *q, float **scores,
                    size_t **order, size_t *m, rerank_outcome *out)
{
    app_t *app = api_app(req);
    if (!rerank_ready(app->rerank)) {
        http_error(req, resp, 503, "model_unavailable", "no re-ranker is configured and no "
                   "embedding model is loaded for the cosine fallback");
        return false;
    }
    *scores = arena_alloc(req->arena, q->n * sizeof **scores);
    *order = arena_alloc(req->arena, q->n * sizeof **order);
    int rc = rerank_score(app->rerank, q->query, strlen(q->query), q->texts, q->lens, q->n, &q->p,
                          *scores, out);
    if (rc) {
        api_error_rc(req, resp, rc, "re-ranking failed: %s", ragd_strerror(rc));
        return false;
    }
    *m = rerank_order(*scores, q->n, out->scored, q->min_score, *order);
    if (*m > q->top)
        *m = q->top;
    const char *state = out->degraded ? "degraded" : out->scored < q->n ? "partial" : "full";
    http_resp_header(resp, "x-ragd-rerank", state);
    http_resp_header(resp, "x-ragd-rerank-model", rerank_model_name(app->rerank));
    req->cache_outcome = state;
    return true;
}

static void rr__score_json(buf_t *b, const float *s, size_t i, size_t scored)
{
    if (i < scored && !isnan(s[i]))
        buf_put_g(b, (double)s[i], 9);
    else
        buf_puts(b, "null");
}

/* What scored the request, shared by both shapes under one key. */
static void rr__info(buf_t *b, const app_t *app, const rr_req *q, const rerank_outcome *out)
{
    rerank_kind k = rerank_get_kind(app->rerank);
    buf_puts(b, "{\"kind\":");
    buf_put_json_str(b, rerank_kind_name(k), strlen(rerank_kind_name(k)));
    buf_printf(b, ",\"scored\":%zu,\"candidates\":%zu,\"stopped_by_budget\":%s,"
               "\"elapsed_ms\":%.3f,\"degraded\":%s", out->scored, q->n,
               out->by_budget ? "true" : "false", (double)out->elapsed_us / 1000.0,
               out->degraded ? "true" : "false");
    if (out->degraded) {
        buf_puts(b, ",\"reason\":");
        buf_put_json_str(b, out->reason, strlen(out->reason));
    }
    if (k == RERANK_COSINE)
        buf_puts(b, ",\"fallback\":\"no re-ranker is configured: scores are the embedding "
                    "model's cosine similarity\"");
    buf_putc(b, '}');
}

/* Copy an object candidate's other members into the result (content first). */
static void rr__extra_members(buf_t *b, const cJSON *item)
{
    if (!cJSON_IsObject(item))
        return;
    for (const cJSON *m = item->child; m; m = m->next) {
        if (!strcmp(m->string, "content") || !strcmp(m->string, "relevance_score") ||
            !strcmp(m->string, "original_rank"))
            continue;
        buf_putc(b, ',');
        buf_put_json_str(b, m->string, strlen(m->string));
        buf_putc(b, ':');
        json_write(m, b);
    }
}

/* A scored request of either shape: what both handlers work from. */
typedef struct rr_scored {
    cJSON *body;         /* the parsed request; the handler deletes it */
    rr_req q;
    float *s;            /* scores per candidate (request arena) */
    size_t *order, m;    /* the m results to return, best first (request arena) */
    rerank_outcome out;
} rr_scored;

/* A shape's own field check, run before the shared fields; fills resp on false. */
typedef bool (*rr_check_fn)(const http_req *req, http_resp *resp, const cJSON *body,
                            bool *flag);

/* The prologue both shapes share: parse the body, run the shape's check, parse
 * the common fields with the shape's list and top-count names, and score. On
 * false resp is filled; r->body is set (or NULL) either way. */
static bool rr__prologue(http_req *req, http_resp *resp, const char *list,
                         const char *top_field, rr_check_fn check, bool *flag, rr_scored *r)
{
    memset(r, 0, sizeof *r);
    return api_parse_object(req, resp, &r->body) && check(req, resp, r->body, flag) &&
           rr__parse(req, resp, r->body, list, top_field, &r->q) &&
           rr__run(req, resp, &r->q, &r->s, &r->order, &r->m, &r->out);
}

/* Does name (or its part after the last '/') equal want (or its part)? */
static bool rr__same_model(const char *name, const char *want)
{
    const char *a = strrchr(name, '/'), *b = strrchr(want, '/');
    return strcmp(name, want) == 0 || strcmp(a ? a + 1 : name, b ? b + 1 : want) == 0;
}

bool rerank_api_model_ok(const app_t *app, const cJSON *body, char *why, size_t n)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "model");
    const char *ours = rerank_model_name(app->rerank);
    bool fallback = false;
    if (json_get_bool(body, "fallback", &fallback) == RAGD_EINVAL) {
        snprintf(why, n, "'fallback' must be a boolean");
        return false;
    }
    if (!m || cJSON_IsNull(m) || fallback)
        return true;
    if (!cJSON_IsString(m)) {
        snprintf(why, n, "'model' must be a string");
        return false;
    }
    if (rr__same_model(m->valuestring, ours))
        return true;
    snprintf(why, n, "model '%.64s' is not configured here; the re-ranker is '%s' (send "
             "\"fallback\": true to score with it anyway)", m->valuestring, ours);
    return false;
}

/* The Cohere shapes' model check as a 400 model_not_found. */
static bool rr__check_model(const http_req *req, http_resp *resp, const cJSON *body)
{
    char why[256];
    if (rerank_api_model_ok(api_app(req), body, why, sizeof why))
        return true;
    http_error(req, resp, 400, strncmp(why, "model '", 7) == 0 ? "model_not_found"
                                                                 : "invalid_request", "%s", why);
    return false;
}

/* Word pieces scored: the scorer's own count, or for the cosine fallback the
 * embedding model's pieces of the query and of each scored document. */
static size_t rr__tokens(const app_t *app, const rr_req *q, const rerank_outcome *out)
{
    if (out->tokens || rerank_get_kind(app->rerank) != RERANK_COSINE || !app->embed)
        return out->tokens;
    const wordpiece *wp = embed_model_tokenizer(app->embed);
    size_t t = wordpiece_count(wp, q->query, strlen(q->query)) + 2;
    for (size_t i = 0; i < out->scored; i++)
        t += wordpiece_count(wp, q->texts[i], q->lens[i]) + 2;
    return t;
}

/* Cohere's meta: the API version and billed units (one search unit per 100
 * documents, Cohere's rule, and the tokens scored). */
static void rr__meta(buf_t *b, const char *version, const rr_req *q, size_t tokens)
{
    buf_printf(b, ",\"meta\":{\"api_version\":{\"version\":\"%s\"},\"billed_units\":"
               "{\"search_units\":%zu,\"input_tokens\":%zu}}", version, (q->n + 99) / 100,
               tokens);
}

static bool rr__check_user_id(const http_req *req, http_resp *resp, const cJSON *body,
                              bool *flag)
{
    (void)flag;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(body, "user_id");
    if (uid && !cJSON_IsString(uid) && !cJSON_IsNull(uid)) {
        http_error(req, resp, 400, "invalid_request", "'user_id' must be a string");
        return false;
    }
    return true;
}

static bool rr__check_return_documents(const http_req *req, http_resp *resp, const cJSON *body,
                                       bool *docs)
{
    if (!rr__check_model(req, resp, body))
        return false;
    if (json_get_bool(body, "return_documents", docs) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "'return_documents' must be a boolean");
        return false;
    }
    return true;
}

/* POST /api/v1/rerank {query, candidates, user_id?, top_k?, min_score?, depth?, budget_ms?} */
static void rr__seed(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    rr_scored r;
    if (!rr__prologue(req, resp, "candidates", "top_k", rr__check_user_id, NULL, &r)) {
        cJSON_Delete(r.body);
        return;
    }
    const rr_req *q = &r.q;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"reranked\":[");
    for (size_t j = 0; j < r.m; j++) {
        size_t i = r.order[j];
        buf_puts(&b, j ? ",{\"content\":" : "{\"content\":");
        buf_put_json_str(&b, q->texts[i], q->lens[i]);
        buf_puts(&b, ",\"relevance_score\":");
        rr__score_json(&b, r.s, i, r.out.scored);
        buf_printf(&b, ",\"original_rank\":%zu", i);
        rr__extra_members(&b, q->items[i]);
        buf_putc(&b, '}');
    }
    buf_puts(&b, "],\"model\":");
    const char *name = rerank_model_name(app->rerank);
    buf_put_json_str(&b, name, strlen(name));
    buf_puts(&b, ",\"rerank\":");
    rr__info(&b, app, q, &r.out);
    buf_putc(&b, '}');
    http_resp_json(resp, 200, &b);
    cJSON_Delete(r.body);
}

/* POST /v1/rerank {model?, query, documents, top_n?, return_documents?, ...} */
static void rr__cohere(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    rr_scored r;
    bool docs = false;
    if (!rr__prologue(req, resp, "documents", "top_n", rr__check_return_documents, &docs, &r)) {
        cJSON_Delete(r.body);
        return;
    }
    const rr_req *q = &r.q;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"id\":");
    buf_put_json_str(&b, req->request_id, strlen(req->request_id));
    buf_puts(&b, ",\"results\":[");
    for (size_t j = 0; j < r.m; j++) {
        size_t i = r.order[j];
        buf_printf(&b, "%s{\"index\":%zu,\"relevance_score\":", j ? "," : "", i);
        rr__score_json(&b, r.s, i, r.out.scored);
        if (docs) {
            buf_puts(&b, ",\"document\":{\"text\":");
            buf_put_json_str(&b, q->texts[i], q->lens[i]);
            buf_putc(&b, '}');
        }
        buf_putc(&b, '}');
    }
    buf_puts(&b, "],\"model\":");
    const char *name = rerank_model_name(app->rerank);
    buf_put_json_str(&b, name, strlen(name));
    size_t tokens = rr__tokens(app, q, &r.out);
    buf_printf(&b, ",\"usage\":{\"total_tokens\":%zu}", tokens);
    rr__meta(&b, "1", q, tokens);
    buf_puts(&b, ",\"ragd\":");
    rr__info(&b, app, q, &r.out);
    buf_putc(&b, '}');
    http_resp_json(resp, 200, &b);
    cJSON_Delete(r.body);
}

/* Cohere v2: `model` is required and documents are strings. */
static bool rr__check_v2(const http_req *req, http_resp *resp, const cJSON *body, bool *flag)
{
    (void)flag;
    if (!json_get_str(body, "model")) {
        http_error(req, resp, 400, "invalid_request", "'model' is required (a string)");
        return false;
    }
    const cJSON *docs = json_get_arr(body, "documents");
    for (const cJSON *d = docs ? docs->child : NULL; d; d = d->next)
        if (!cJSON_IsString(d)) {
            http_error(req, resp, 400, "invalid_request", "v2 'documents' must be strings");
            return false;
        }
    return rr__check_model(req, resp, body);
}

/* POST /v2/rerank {model, query, documents, top_n?} -> {id, results: [{index,
 * relevance_score}], meta} */
static void rr__cohere_v2(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    rr_scored r;
    if (!rr__prologue(req, resp, "documents", "top_n", rr__check_v2, NULL, &r)) {
        cJSON_Delete(r.body);
        return;
    }
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"id\":");
    buf_put_json_str(&b, req->request_id, strlen(req->request_id));
    buf_puts(&b, ",\"results\":[");
    for (size_t j = 0; j < r.m; j++) {
        buf_printf(&b, "%s{\"index\":%zu,\"relevance_score\":", j ? "," : "", r.order[j]);
        rr__score_json(&b, r.s, r.order[j], r.out.scored);
        buf_putc(&b, '}');
    }
    buf_putc(&b, ']');
    rr__meta(&b, "2", &r.q, rr__tokens(app, &r.q, &r.out));
    buf_putc(&b, '}');
    http_resp_json(resp, 200, &b);
    cJSON_Delete(r.body);
}

void api_rerank_register(router_t *r)
{
    router_add(r, HTTP_POST, "/api/v1/rerank", rr__seed);
    router_add(r, HTTP_POST, "/v1/rerank", rr__cohere);
    router_add(r, HTTP_POST, "/v2/rerank", rr__cohere_v2);
}
