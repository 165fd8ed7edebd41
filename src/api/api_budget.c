/*
 * api_budget.c - the work caps of routes that run the local model: how many
 * word pieces a request would embed, and each caller's budget of word pieces
 * per minute, a GCRA limiter in the store keyed on the caller, so many ragd
 * instances on one Redis share it. Knowledge-base upserts and the embedding
 * routes (OpenAI, seed and TEI dialects) use it; each writes its answer in its
 * own dialect from the verdict.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "embed/embed.h"
#include "store/store.h"

size_t api_embed_tokens(const app_t *app, const char *const *texts, const size_t *lens, size_t n)
{
    const wordpiece *wp = embed_model_tokenizer(app->embed);
    size_t max = embed_model_max_tokens(app->embed), total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t t = wordpiece_count(wp, texts[i], lens[i]) + 2; /* [CLS], [SEP] */
        total += t < max ? t : max;
    }
    return total;
}

void api_budget_check(const http_req *req, const char *scope, int64_t per_min,
                      const char *setting, size_t tokens, api_budget *out)
{
    memset(out, 0, sizeof *out);
    const auth_identity *id = req->auth;
    if (per_min <= 0 || !id)
        return;
    app_t *app = api_app(req);
    out->who = id->user_id[0] ? id->user_id : id->key_id;
    char key[STORE_KEY_BUF];
    int klen = snprintf(key, sizeof key, "%s:%s", scope, out->who);
    store_rl_params p = { .algo = STORE_RL_GCRA, .limit = per_min, .window_ms = 60000,
                          .burst = per_min, .cost = (int64_t)tokens };
    store_rl_result r;
    /* A store failure lets the request pass (the documented fail-open of limits). */
    if (klen < 0 || (size_t)klen >= sizeof key ||
        store_ratelimit(app->store, key, (size_t)klen, &p, &r) != 0 || r.allowed)
        return;
    if (r.retry_after_ms < 0) {
        out->status = 413;
        snprintf(out->msg, sizeof out->msg, "this request needs %zu word pieces; a caller may "
                 "embed at most %lld per minute (%s)", tokens, (long long)per_min, setting);
        return;
    }
    out->status = 429;
    out->retry_after_s = (r.retry_after_ms + 999) / 1000;
    snprintf(out->msg, sizeof out->msg, "'%s' may embed %lld word pieces per minute (%s); this "
             "request needs %zu: retry in %lld s", out->who, (long long)per_min, setting, tokens,
             (long long)out->retry_after_s);
}

void api_budget_answer(const http_req *req, http_resp *resp, const api_budget *b)
{
    if (b->status == 429) {
        char retry[24];
        snprintf(retry, sizeof retry, "%lld", (long long)b->retry_after_s);
        http_resp_header(resp, "Retry-After", retry);
        http_error(req, resp, 429, "rate_limited", "%s", b->msg);
    } else {
        http_error(req, resp, 413, "payload_too_large", "%s", b->msg);
    }
}

bool api_embed_admit(const http_req *req, const char *const *texts, const size_t *lens,
                     size_t n, api_budget *out)
{
    app_t *app = api_app(req);
    int64_t cap = app->cfg.embed_max_request_tokens;
    memset(out, 0, sizeof *out);
    /* Counting tokenises every text once more: skip it when no budget is charged
     * and n texts of the model's maximum length would fit the cap anyway (the
     * usual small request). */
    if (app->cfg.embed_user_tokens_per_minute <= 0 &&
        (cap <= 0 || n <= (size_t)cap / embed_model_max_tokens(app->embed)))
        return true;
    size_t tokens = api_embed_tokens(app, texts, lens, n);
    if (cap > 0 && tokens > (size_t)cap) {
        out->status = 413;
        snprintf(out->msg, sizeof out->msg, "the inputs make %zu word pieces; one request may "
                 "embed at most %lld (embed_max_request_tokens)", tokens, (long long)cap);
        return false;
    }
    api_budget_check(req, "embtok", app->cfg.embed_user_tokens_per_minute,
                     "embed_user_tokens_per_minute", tokens, out);
    return out->status == 0;
}
