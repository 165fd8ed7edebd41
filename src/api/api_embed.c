/*
 * api_embed.c - embeddings over HTTP: POST /v1/embeddings (OpenAI-compatible:
 * the official SDK works unmodified, float or base64 output) and POST
 * /api/v1/embeddings/generate (docs/API.md). Both go through the embedding
 * cache, so repeated texts are served text by text from the store.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "gateway/gateway.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/utf8.h"

/* The texts of a request, borrowed from the parsed JSON; the arrays live in
 * the request's arena. */
typedef struct embed_input {
    const char **texts;
    size_t *lens;
    size_t n;
} embed_input;

static bool embed_api__model_ok(const http_req *req, http_resp *resp)
{
    if (api_app(req)->embcache)
        return true;
    http_error(req, resp, 503, "model_unavailable",
               "no embedding model is loaded (model_dir %s has none)", api_app(req)->cfg.model_dir);
    return false;
}

/* Accept our model's name, with or without the sentence-transformers/ org. */
static bool embed_api__model_name_ok(const app_t *app, const char *name)
{
    const char *ours = embed_model_name(app->embed);
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    return strcmp(base, ours) == 0;
}

static bool embed_api__check_text(const http_req *req, http_resp *resp, const char *s, size_t i,
                                  const char *field)
{
    size_t bad;
    if (!*s) {
        http_error(req, resp, 400, "invalid_input", "%s[%zu] is an empty string", field, i);
        return false;
    }
    if (!utf8_valid(s, strlen(s), &bad)) {
        http_error(req, resp, 400, "invalid_input", "%s[%zu] is not valid UTF-8 (byte %zu)",
                   field, i, bad);
        return false;
    }
    return true;
}

/* Collect `input` (a string or an array of strings) into in. */
static bool embed_api__input(const http_req *req, http_resp *resp, const cJSON *input,
                             embed_input *in)
{
    app_t *app = api_app(req);
    size_t n = cJSON_IsString(input) ? 1 : (cJSON_IsArray(input) ? (size_t)cJSON_GetArraySize(input) : 0);
    if (!input || (!cJSON_IsString(input) && !cJSON_IsArray(input))) {
        http_error(req, resp, 400, "invalid_input", "'input' must be a string or an array of strings");
        return false;
    }
    if (n == 0) {
        http_error(req, resp, 400, "invalid_input", "'input' is an empty array");
        return false;
    }
    if (n > (size_t)app->cfg.embed_batch_max) {
        http_error(req, resp, 413, "too_many_inputs", "'input' has %zu texts; the limit is %lld",
                   n, (long long)app->cfg.embed_batch_max);
        return false;
    }
    in->texts = arena_alloc(req->arena, n * sizeof *in->texts);
    in->lens = arena_alloc(req->arena, n * sizeof *in->lens);
    in->n = n;
    const cJSON *it = cJSON_IsString(input) ? input : input->child;
    for (size_t i = 0; i < n; i++, it = it->next) {
        if (!cJSON_IsString(it)) {
            http_error(req, resp, 400, "invalid_input",
                       cJSON_IsArray(it) || cJSON_IsNumber(it)
                           ? "input[%zu]: token-id arrays are not supported; send text "
                             "(LangChain's OpenAIEmbeddings sends OpenAI tiktoken ids unless "
                             "created with check_embedding_ctx_length=False)"
                           : "input[%zu] is not a string", i);
            return false;
        }
        if (!embed_api__check_text(req, resp, it->valuestring, i, "input"))
            return false;
        in->texts[i] = it->valuestring;
        in->lens[i] = strlen(it->valuestring);
    }
    return true;
}

static void embed_api__floats(buf_t *b, const float *v, size_t dim)
{
    buf_putc(b, '[');
    for (size_t j = 0; j < dim; j++) {
        if (j)
            buf_putc(b, ',');
        buf_put_g(b, (double)v[j], 9);
    }
    buf_putc(b, ']');
}

static void embed_api__base64(buf_t *b, const float *v, size_t dim)
{
    size_t raw = dim * sizeof(float);
    buf_reserve(b, 4 * ((raw + 2) / 3) + 3);
    buf_putc(b, '"');
    int w = EVP_EncodeBlock((unsigned char *)b->data + b->len, (const unsigned char *)v, (int)raw);
    b->len += (size_t)w;
    buf_putc(b, '"');
}

/* The one exception to "a JSON body holding \u0000 is refused" (json_parse),
 * documented in API.md: the embedding routes take texts with U+0000, as
 * OpenAI's and sentence-transformers do. BERT's text clean-up drops every
 * control character (U+0000 included, as in Hugging Face's tokenizer), so
 * inside strings the escape \u0000 is rewritten as \u0001, another control
 * character, which embeds identically; the text that is embedded, cached and
 * keyed is then exactly the rewritten one. The body is edited in place (it is
 * the request's own buffer) before it is parsed. */
static void embed_api__mask_nul_escapes(http_req *req)
{
    char *b = (char *)req->body;
    bool in_str = false;
    for (size_t i = 0; i < req->body_len; i++) {
        if (!in_str) {
            in_str = b[i] == '"';
            continue;
        }
        if (b[i] == '"') {
            in_str = false;
        } else if (b[i] == '\\' && i + 1 < req->body_len) {
            if (b[i + 1] == 'u' && i + 5 < req->body_len && memcmp(b + i + 2, "0000", 4) == 0)
                b[i + 5] = '1';
            i++;  /* skip the escaped character */
        }
    }
}

/* The embedding cache serving model: the local model's, or a provider
 * model's through the gateway (its misses go to the provider). False with
 * resp filled: 404 model_not_found, 400 (unknown dimension), 503 (no local
 * model). */
static bool embed_api__pick(const http_req *req, http_resp *resp, const char *model,
                            embcache_t **ec)
{
    app_t *app = api_app(req);
    if (model && app->embed && embed_api__model_name_ok(app, model)) {
        *ec = app->embcache;
        return embed_api__model_ok(req, resp);
    }
    ragd_error err = { 0 };
    int rc = model && app->gateway && gateway_has_upstreams(app->gateway)
                 ? gateway_embedder(app->gateway, model, ec, &err) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND && !app->embed && model)
        return embed_api__model_ok(req, resp);
    if (rc == RAGD_ENOTFOUND)
        http_error(req, resp, 404, "model_not_found", "model '%s' is not served here; use '%s' "
                   "or configure a provider for it", model ? model : "(missing)",
                   app->embed ? embed_model_name(app->embed) : "a provider model");
    else if (rc)
        http_error(req, resp, 400, "invalid_request", "%s", err.msg);
    return rc == 0;
}

/* An embedding failure: the provider's (502/503) or ours. */
static void embed_api__failed(const http_req *req, http_resp *resp, bool remote, int rc)
{
    if (remote && rc == RAGD_EUNAVAIL)
        http_error(req, resp, 503, "upstream_unavailable", "the embedding provider's circuit "
                   "is open after repeated failures");
    else if (remote)
        http_error(req, resp, 502, "upstream_error", "the embedding provider failed: %s",
                   ragd_strerror(rc));
    else
        api_error_rc(req, resp, rc, "embedding failed: %s", ragd_strerror(rc));
}

/* The local model's work caps (api_budget.c); false with resp filled. */
static bool embed_api__admitted(const http_req *req, http_resp *resp, const char *const *texts,
                                const size_t *lens, size_t n)
{
    api_budget verdict;
    if (api_embed_admit(req, texts, lens, n, &verdict))
        return true;
    api_budget_answer(req, resp, &verdict);
    return false;
}

/* POST /v1/embeddings {input, model, encoding_format?, dimensions?, user?} */
static void embed_api__openai(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *body;
    embed_api__mask_nul_escapes(req);
    if (!api_parse_object(req, resp, &body))
        return;
    embed_input in = { 0 };
    const char *model = json_get_str(body, "model");
    const char *fmt = json_get_str(body, "encoding_format");
    int64_t dims = 0;
    embcache_t *ec = NULL;
    if (!embed_api__pick(req, resp, model, &ec))
        goto out;
    bool remote = ec != app->embcache;
    const char *mname = remote ? model : embed_model_name(app->embed);
    http_req_log_model(req, mname);
    size_t dim = embcache_dim(ec);
    if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0) {
        http_error(req, resp, 400, "invalid_request", "'encoding_format' must be float or base64");
        goto out;
    }
    int drc = json_get_int(body, "dimensions", 1, 100000, &dims);
    if (drc == RAGD_EINVAL || (drc == 0 && (size_t)dims != dim)) {
        http_error(req, resp, 400, "invalid_request", "'dimensions' must be %zu for this model", dim);
        goto out;
    }
    if (!embed_api__input(req, resp, cJSON_GetObjectItemCaseSensitive(body, "input"), &in))
        goto out;
    if (!remote && !embed_api__admitted(req, resp, in.texts, in.lens, in.n))
        goto out;
    float *vecs = arena_alloc(req->arena, in.n * dim * sizeof *vecs);
    int *ntok = arena_alloc(req->arena, in.n * sizeof *ntok);
    bool *trunc = arena_alloc(req->arena, in.n * sizeof *trunc);
    embcache_info info = { .ntokens = ntok, .truncated = trunc };
    embed_work w = api_embed_work(req);
    int rc = embcache_embed_as(ec, &w, in.texts, in.lens, in.n, vecs, &info);
    if (rc) {
        embed_api__failed(req, resp, remote, rc);
        goto out;
    }
    req->cache_outcome = info.misses == 0 ? "hit" : (info.hits ? "partial" : "miss");
    bool b64 = fmt && strcmp(fmt, "base64") == 0;
    buf_t b = BUF_INIT;
    buf_reserve(&b, in.n * dim * (b64 ? 6 : 13) + 256);
    buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    long long tokens = 0;
    size_t ntrunc = 0;
    for (size_t i = 0; i < in.n; i++) {
        buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (b64)
            embed_api__base64(&b, vecs + i * dim, dim);
        else
            embed_api__floats(&b, vecs + i * dim, dim);
        buf_putc(&b, '}');
        tokens += ntok[i];
        ntrunc += trunc[i];
    }
    buf_puts(&b, "],\"model\":");
    buf_put_json_str(&b, mname, strlen(mname));
    buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}", tokens, tokens);
    http_req_log_usage(req, tokens, -1, -1);
    buf_printf(&b, ",\"ragd\":{\"cache_hits\":%zu,\"cache_misses\":%zu,\"truncated\":[",
               info.hits, info.misses);
    for (size_t i = 0, k = 0; i < in.n; i++)
        if (trunc[i])
            buf_printf(&b, k++ ? ",%zu" : "%zu", i);
    buf_puts(&b, "]}}");
    char hdr[32];
    snprintf(hdr, sizeof hdr, "%zu", info.hits);
    http_resp_header(resp, "x-ragd-cache-hits", hdr);
    if (ntrunc) {
        snprintf(hdr, sizeof hdr, "%zu", ntrunc);
        http_resp_header(resp, "x-ragd-truncated", hdr);
    }
    http_resp_json(resp, 200, &b);
out:
    cJSON_Delete(body);
}

/* POST /api/v1/embeddings/generate {text, user_id?, content_type?, metadata?, ttl?} */
static void embed_api__generate(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    cJSON *body;
    embed_api__mask_nul_escapes(req);
    if (!embed_api__model_ok(req, resp) || !api_parse_object(req, resp, &body))
        return;
    const char *text = json_get_str(body, "text"), *user = NULL;
    uc_api_item item;
    char item_id[UC_ID_LEN + 1] = "";
    if (!auth_effective_user(req, json_get_str(body, "user_id"), &user, resp) ||
        !uc_api_parse(req, resp, body, user, &item)) {
        /* a user_id that is not the caller's: 403; a bad item field: 400 (resp is filled) */
    } else if (!text) {
        http_error(req, resp, 400, "invalid_input", "'text' must be a non-empty string");
    } else if (embed_api__check_text(req, resp, text, 0, "text") &&
               embed_api__admitted(req, resp, &text, &(size_t){ strlen(text) }, 1)) {
        size_t dim = embcache_dim(app->embcache), len = strlen(text);
        float *vec = arena_alloc(req->arena, dim * sizeof *vec);
        int ntok = 0;
        bool trunc = false, cached = false;
        embcache_info info = { .ntokens = &ntok, .truncated = &trunc, .cached = &cached };
        int rc = embcache_embed(app->embcache, &text, &len, 1, vec, &info);
        if (rc) {
            api_error_rc(req, resp, rc, "embedding failed: %s", ragd_strerror(rc));
        } else if (!item.store || uc_api_store(req, resp, &item, text, len, item_id)) {
            req->cache_outcome = cached ? "hit" : "miss";
            buf_t b = BUF_INIT;
            buf_puts(&b, "{\"embedding\":");
            embed_api__floats(&b, vec, dim);
            buf_printf(&b, ",\"dimension\":%zu,\"model\":", dim);
            buf_put_json_str(&b, embed_model_name(app->embed), strlen(embed_model_name(app->embed)));
            buf_printf(&b, ",\"cached\":%s,\"tokens\":%d,\"truncated\":%s",
                       cached ? "true" : "false", ntok, trunc ? "true" : "false");
            if (item_id[0])
                buf_printf(&b, ",\"id\":\"%s\",\"stored\":true", item_id);
            if (item_id[0] && item.expires_at)
                buf_printf(&b, ",\"expires_at\":%lld", (long long)item.expires_at);
            buf_putc(&b, '}');
            http_resp_json(resp, 200, &b);
        }
    }
    cJSON_Delete(body);
}

void api_embed_register(router_t *r)
{
    router_add(r, HTTP_POST, "/v1/embeddings", embed_api__openai);
    router_add(r, HTTP_POST, "/api/v1/embeddings/generate", embed_api__generate);
}
