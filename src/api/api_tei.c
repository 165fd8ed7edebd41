/*
 * api_tei.c - the Hugging Face Text Embeddings Inference (TEI) dialect, so a
 * TEI client pointed at ragd works unchanged: POST /embed (and POST /, where
 * huggingface_hub's InferenceClient sends it), POST /rerank,
 * GET /info and POST /tokenize with TEI's request fields, its bare-array
 * answers and its error shape {"error": "...", "error_type": "..."} (413
 * validation, 422 tokenizer, 424 backend, 400 empty). The work is the same as
 * the OpenAI/Cohere routes': the embedding cache, the re-ranking service.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/api_int.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/utf8.h"

/* TEI's error body: {"error": msg, "error_type": type}, plus our request id. */
static void tei__error(const http_req *req, http_resp *resp, int status, const char *type,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void tei__error(const http_req *req, http_resp *resp, int status, const char *type,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"error\":");
    buf_put_json_str(&b, msg, strlen(msg));
    buf_puts(&b, ",\"error_type\":");
    buf_put_json_str(&b, type, strlen(type));
    buf_puts(&b, ",\"request_id\":");
    buf_put_json_str(&b, req->request_id, strlen(req->request_id));
    buf_putc(&b, '}');
    http_resp_json(resp, status, &b);
}

/* A request's texts (borrowed from the JSON; arrays in the request's arena). */
typedef struct tei_texts {
    const char **texts;
    size_t *lens, n;
} tei_texts;

/* The body as an object; TEI (axum) answers a body it cannot read with 422. */
static bool tei__parse(const http_req *req, http_resp *resp, cJSON **out)
{
    ragd_error err;
    cJSON *v = NULL;
    if (json_parse(req->body, req->body_len, &v, &err)) {
        tei__error(req, resp, 422, "validation", "invalid JSON body: %s", err.msg);
        return false;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        tei__error(req, resp, 422, "validation", "the body must be a JSON object");
        return false;
    }
    *out = v;
    return true;
}

/* `field`: a string or a non-empty array of strings, at most max of them. */
static bool tei__texts(http_req *req, http_resp *resp, const cJSON *body, const char *field,
                       size_t max, tei_texts *t)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, field);
    if (!cJSON_IsString(in) && !cJSON_IsArray(in)) {
        tei__error(req, resp, 422, "validation", "`%s` must be a string or an array of strings",
                   field);
        return false;
    }
    t->n = cJSON_IsString(in) ? 1 : (size_t)cJSON_GetArraySize(in);
    if (t->n == 0) {
        tei__error(req, resp, 400, "empty", "Input validation error: `%s` cannot be empty",
                   field);
        return false;
    }
    if (t->n > max) {
        tei__error(req, resp, 413, "validation", "batch size %zu > maximum allowed batch size %zu",
                   t->n, max);
        return false;
    }
    t->texts = arena_alloc(req->arena, t->n * sizeof *t->texts);
    t->lens = arena_alloc(req->arena, t->n * sizeof *t->lens);
    const cJSON *it = cJSON_IsString(in) ? in : in->child;
    size_t bad;
    for (size_t i = 0; i < t->n; i++, it = it->next) {
        if (!cJSON_IsString(it)) {
            tei__error(req, resp, 422, "validation", cJSON_IsArray(it) || cJSON_IsNumber(it)
                       ? "`%s`[%zu]: token-id inputs are not supported here; send text"
                       : "`%s`[%zu] is not a string", field, i);
            return false;
        }
        t->texts[i] = it->valuestring;
        t->lens[i] = strlen(it->valuestring);
        if (!utf8_valid(t->texts[i], t->lens[i], &bad)) {
            tei__error(req, resp, 422, "tokenizer", "`%s`[%zu] is not valid UTF-8 (byte %zu)",
                       field, i, bad);
            return false;
        }
    }
    return true;
}

/* A boolean member with a default; null counts as absent (TEI's Option<bool>). */
static bool tei__bool(const http_req *req, http_resp *resp, const cJSON *body,
                      const char *name, bool dflt, bool *out)
{
    *out = dflt;
    if (json_get_bool(body, name, out) == RAGD_EINVAL &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(body, name))) {
        tei__error(req, resp, 422, "validation", "`%s` must be a boolean", name);
        return false;
    }
    return true;
}

/* truncate (default: auto_truncate, true here) and truncation_direction
 * ("right" or "left", any case). Only right truncation exists, so "left" is
 * refused when some text would really be cut; truncate=false refuses a text
 * over the model's length as TEI does (413). */
static bool tei__truncation(const http_req *req, http_resp *resp, const cJSON *body,
                            const tei_texts *t)
{
    app_t *app = api_app(req);
    bool truncate;
    if (!tei__bool(req, resp, body, "truncate", true, &truncate))
        return false;
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(body, "truncation_direction");
    bool left = false;
    if (dir && !cJSON_IsNull(dir)) {
        if (!cJSON_IsString(dir) || (strcasecmp(dir->valuestring, "right") != 0 &&
                                     strcasecmp(dir->valuestring, "left") != 0)) {
            tei__error(req, resp, 422, "validation",
                       "`truncation_direction` must be \"right\" or \"left\"");
            return false;
        }
        left = strcasecmp(dir->valuestring, "left") == 0;
    }
    if (truncate && !left)
        return true;
    size_t max = embed_model_max_tokens(app->embed);
    const wordpiece *wp = embed_model_tokenizer(app->embed);
    for (size_t i = 0; i < t->n; i++) {
        size_t ntok = wordpiece_count(wp, t->texts[i], t->lens[i]) + 2;
        if (ntok <= max)
            continue;
        if (!truncate)
            tei__error(req, resp, 413, "validation", "Input validation error: `inputs` must "
                       "have less than %zu tokens. Given: %zu", max, ntok);
        else
            tei__error(req, resp, 422, "validation", "inputs[%zu] has %zu tokens (limit %zu) "
                       "and truncation_direction \"left\" is not supported: send \"right\" or "
                       "a shorter text", i, ntok, max);
        return false;
    }
    return true;
}

static bool tei__model_ok(const http_req *req, http_resp *resp)
{
    if (api_app(req)->embcache)
        return true;
    tei__error(req, resp, 424, "backend", "no embedding model is loaded");
    return false;
}

/* L2-normalise v in place (for a model whose pipeline does not). */
static void tei__normalize(float *v, size_t dim)
{
    double ss = 0;
    for (size_t j = 0; j < dim; j++)
        ss += (double)v[j] * v[j];
    if (ss <= 0)
        return;
    float inv = (float)(1.0 / sqrt(ss));
    for (size_t j = 0; j < dim; j++)
        v[j] *= inv;
}

/* normalize (default true): unit vectors. A model whose pipeline normalises
 * cannot give back the raw pooled vectors, so normalize=false is refused there. */
static bool tei__normalize_flag(const http_req *req, http_resp *resp, const cJSON *body,
                                bool *norm)
{
    if (!tei__bool(req, resp, body, "normalize", true, norm))
        return false;
    if (!*norm && embed_model_normalized(api_app(req)->embed)) {
        tei__error(req, resp, 422, "validation", "`normalize`: false is not supported: this "
                   "model's pipeline (sentence-transformers Normalize) returns unit vectors");
        return false;
    }
    return true;
}

/* The local model's work caps (api_budget.c) in TEI's error shape: 413
 * validation, 429 with Retry-After. */
static bool tei__admitted(const http_req *req, http_resp *resp, const tei_texts *t)
{
    api_budget v;
    if (api_embed_admit(req, t->texts, t->lens, t->n, &v))
        return true;
    if (v.status == 429) {
        char retry[24];
        snprintf(retry, sizeof retry, "%lld", (long long)v.retry_after_s);
        http_resp_header(resp, "Retry-After", retry);
    }
    tei__error(req, resp, v.status, v.status == 429 ? "overloaded" : "validation", "%s", v.msg);
    return false;
}

/* POST /embed {inputs, normalize?, truncate?, truncation_direction?} -> [[f32]] */
static void tei__embed(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *body = NULL;
    tei_texts t = { 0 };
    bool norm;
    if (!tei__model_ok(req, resp) || !tei__parse(req, resp, &body) ||
        !tei__texts(req, resp, body, "inputs", (size_t)app->cfg.embed_batch_max, &t) ||
        !tei__normalize_flag(req, resp, body, &norm) || !tei__truncation(req, resp, body, &t) ||
        !tei__admitted(req, resp, &t))
        goto out;
    size_t dim = embcache_dim(app->embcache);
    float *vecs = arena_alloc(req->arena, t.n * dim * sizeof *vecs);
    embcache_info info = { 0 };
    embed_work w = api_embed_work(req);
    int rc = embcache_embed_as(app->embcache, &w, t.texts, t.lens, t.n, vecs, &info);
    if (rc) {
        tei__error(req, resp, 424, "backend", "Inference failed: %s", ragd_strerror(rc));
        goto out;
    }
    req->cache_outcome = info.misses == 0 ? "hit" : (info.hits ? "partial" : "miss");
    buf_t b = BUF_INIT;
    buf_reserve(&b, t.n * dim * 13 + 16);
    buf_putc(&b, '[');
    for (size_t i = 0; i < t.n; i++) {
        float *v = vecs + i * dim;
        if (norm && !embed_model_normalized(app->embed))
            tei__normalize(v, dim);
        buf_puts(&b, i ? ",[" : "[");
        for (size_t j = 0; j < dim; j++) {
            if (j)
                buf_putc(&b, ',');
            buf_put_g(&b, (double)v[j], 9);
        }
        buf_putc(&b, ']');
    }
    buf_putc(&b, ']');
    http_resp_json(resp, 200, &b);
out:
    cJSON_Delete(body);
}

/* One token of /tokenize: specials carry their token string and null offsets,
 * others the bytes of the input they came from. */
static void tei__token(buf_t *b, const wordpiece *wp, int32_t id, const char *text,
                       const wordpiece_piece *p, bool first)
{
    buf_printf(b, "%s{\"id\":%d,\"text\":", first ? "" : ",", (int)id);
    if (!p) {
        const char *s = wordpiece_token_str(wp, id);
        buf_put_json_str(b, s ? s : "", s ? strlen(s) : 0);
        buf_puts(b, ",\"special\":true,\"start\":null,\"stop\":null}");
        return;
    }
    buf_put_json_str(b, text + p->start, p->end - p->start);
    buf_printf(b, ",\"special\":false,\"start\":%u,\"stop\":%u}", p->start, p->end);
}

/* POST /tokenize {inputs, add_special_tokens?} -> [[{id, text, special, start, stop}]] */
static void tei__tokenize(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *body = NULL;
    tei_texts t = { 0 };
    bool specials;
    if (!tei__model_ok(req, resp) || !tei__parse(req, resp, &body) ||
        !tei__texts(req, resp, body, "inputs", (size_t)app->cfg.embed_batch_max, &t) ||
        !tei__bool(req, resp, body, "add_special_tokens", true, &specials))
        goto out;
    const wordpiece *wp = embed_model_tokenizer(app->embed);
    const wordpiece_specials *sp = wordpiece_get_specials(wp);
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (size_t i = 0; i < t.n; i++) {
        wordpiece_piece *pieces = NULL;
        size_t np = 0;
        wordpiece_tokenize(wp, t.texts[i], t.lens[i], 0, &pieces, &np, NULL);
        buf_puts(&b, i ? ",[" : "[");
        bool first = true;
        if (specials && sp->cls >= 0) {
            tei__token(&b, wp, sp->cls, t.texts[i], NULL, true);
            first = false;
        }
        for (size_t k = 0; k < np; k++, first = false)
            tei__token(&b, wp, pieces[k].id, t.texts[i], &pieces[k], first);
        if (specials && sp->sep >= 0)
            tei__token(&b, wp, sp->sep, t.texts[i], NULL, first);
        buf_putc(&b, ']');
        free(pieces);
    }
    buf_putc(&b, ']');
    http_resp_json(resp, 200, &b);
out:
    cJSON_Delete(body);
}

/* GET /info: TEI's Info object for the embedding model. */
static void tei__info(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    if (!tei__model_ok(req, resp))
        return;
    const embed_model *m = app->embed;
    size_t max = embed_model_max_tokens(m);
    long long batch = (long long)app->cfg.embed_batch_max;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"model_id\":");
    buf_put_json_str(&b, embed_model_name(m), strlen(embed_model_name(m)));
    buf_printf(&b, ",\"model_sha\":null,\"model_dtype\":\"%s\","
               "\"model_type\":{\"embedding\":{\"pooling\":\"%s\"}},"
               "\"dimension\":%zu,\"max_concurrent_requests\":%lld,\"max_input_length\":%zu,"
               "\"max_batch_tokens\":%llu,\"max_batch_requests\":null,"
               "\"max_client_batch_size\":%lld,\"auto_truncate\":true,"
               "\"tokenization_workers\":%lld,\"version\":\"%s\",\"sha\":null,"
               "\"docker_label\":null}",
               embed_model_precision(m) == EMBED_BF16 ? "bfloat16" : "float32",
               embed_model_pooling(m), embed_model_dim(m), (long long)app->cfg.http_threads,
               max, (unsigned long long)max * (unsigned long long)batch, batch,
               (long long)app->cfg.http_threads, RAGD_VERSION);
    http_resp_json(resp, 200, &b);
}

/* The re-ranker's scores as TEI's raw_scores wants them: a cross-encoder's
 * sigmoid undone into its logit; cosine and remote scores have no activation. */
static double tei__raw(rerank_kind k, float s)
{
    if (k != RERANK_CROSS_ENCODER)
        return s;
    double p = s < 1e-12f ? 1e-12 : (s > 1 - 1e-7f ? 1 - 1e-7 : s);
    return log(p) - log1p(-p);
}

/* query, texts, raw_scores, return_text, and the model check of rerank_api_model_ok. */
typedef struct tei_rr {
    const char *query;
    tei_texts t;
    bool raw, text;
} tei_rr;

static bool tei__rerank_parse(http_req *req, http_resp *resp, const cJSON *body, tei_rr *q)
{
    app_t *app = api_app(req);
    char why[256];
    q->query = json_get_str(body, "query");
    if (!q->query) {
        tei__error(req, resp, 422, "validation", "`query` must be a string");
        return false;
    }
    if (!rerank_api_model_ok(app, body, why, sizeof why)) {
        tei__error(req, resp, 400, "validation", "%s", why);
        return false;
    }
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "texts"))) {
        tei__error(req, resp, 422, "validation", "`texts` must be an array of strings");
        return false;
    }
    return tei__texts(req, resp, body, "texts", (size_t)app->cfg.rerank_max_candidates, &q->t) &&
           tei__bool(req, resp, body, "raw_scores", false, &q->raw) &&
           tei__bool(req, resp, body, "return_text", false, &q->text);
}

/* POST /rerank {query, texts, raw_scores?, return_text?, truncate?,
 * truncation_direction?, model?, fallback?} -> [{index, score, text?}] */
static void tei__rerank(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *body = NULL;
    tei_rr q = { 0 };
    if (!tei__parse(req, resp, &body) || !tei__rerank_parse(req, resp, body, &q))
        goto out;
    if (!rerank_ready(app->rerank)) {
        tei__error(req, resp, 424, "backend", "no re-ranker is configured and no embedding "
                   "model is loaded for the cosine fallback");
        goto out;
    }
    float *s = arena_alloc(req->arena, q.t.n * sizeof *s);
    size_t *order = arena_alloc(req->arena, q.t.n * sizeof *order);
    rerank_outcome o;
    int rc = rerank_score(app->rerank, q.query, strlen(q.query), q.t.texts, q.t.lens, q.t.n,
                          NULL, s, &o);
    if (rc || o.degraded) {
        tei__error(req, resp, 424, "backend", "Inference failed: %s",
                   rc ? ragd_strerror(rc) : o.reason);
        goto out;
    }
    size_t m = rerank_order(s, q.t.n, o.scored, -INFINITY, order);
    rerank_kind k = rerank_get_kind(app->rerank);
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (size_t j = 0; j < m; j++) {
        size_t i = order[j];
        buf_puts(&b, j ? ",{\"index\":" : "{\"index\":");
        buf_put_u64(&b, i);
        buf_puts(&b, ",\"score\":");
        buf_put_g(&b, q.raw ? tei__raw(k, s[i]) : (double)s[i], 9);
        if (q.text) {
            buf_puts(&b, ",\"text\":");
            buf_put_json_str(&b, q.t.texts[i], q.t.lens[i]);
        }
        buf_putc(&b, '}');
    }
    buf_putc(&b, ']');
    http_resp_header(resp, "x-ragd-rerank-model", rerank_model_name(app->rerank));
    http_resp_json(resp, 200, &b);
out:
    cJSON_Delete(body);
}

void api_tei_register(router_t *r)
{
    router_add(r, HTTP_POST, "/embed", tei__embed);
    router_add(r, HTTP_POST, "/", tei__embed); /* TEI's root route (huggingface_hub posts here) */
    router_add(r, HTTP_POST, "/rerank", tei__rerank);
    router_add(r, HTTP_POST, "/tokenize", tei__tokenize);
    router_add(r, HTTP_GET, "/info", tei__info);
}
