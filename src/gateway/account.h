/*
 * account.h - what the gateway did and saved, per model: requests by cache
 * outcome, upstream calls and errors, tokens spent upstream and tokens saved
 * by hits, and their price from the config file's "prices": {model:
 * {input_per_1m, output_per_1m}} table (a model name ending in '*' prices by
 * prefix). Rendered into /api/v1/cache/stats and /metrics.
 */
#ifndef RAGD_GW_ACCOUNT_H
#define RAGD_GW_ACCOUNT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

typedef struct gw_account gw_account;

enum gw_outcome { GW_OUT_HIT, GW_OUT_SEMANTIC_HIT, GW_OUT_MISS, GW_OUT_BYPASS, GW_OUT_N };

/* prices may be NULL (everything costs 0). A malformed table is an error.
 * Models named exactly in prices or through gw_account_list_model get their
 * own row; at most max_unlisted other names do, the rest count as "_other"
 * (this bounds the model label of the metrics). Caller owns *out:
 * gw_account_destroy(). */
int gw_account_create(const cJSON *prices, int max_unlisted, gw_account **out, ragd_error *err);
void gw_account_destroy(gw_account *a);

/* Give a configured model (a provider's list; '*' patterns are ignored) its
 * own row whatever clients send. Copies model. Thread-safe. */
void gw_account_list_model(gw_account *a, const char *model);

/* Count a request's cache outcome; for hits, the tokens it saved. Thread-safe. */
void gw_account_request(gw_account *a, const char *model, int outcome, int64_t in_tokens,
                        int64_t out_tokens);

/* Count an upstream call that ended (ok = 2xx) and the tokens it used. */
void gw_account_upstream(gw_account *a, const char *model, bool ok, int64_t in_tokens,
                         int64_t out_tokens);

/* Time one upstream attempt of a model took to its end, and to its first
 * streamed event (ttft_us < 0: none, e.g. a whole-body answer). Thread-safe. */
void gw_account_timing(gw_account *a, const char *model, int64_t latency_us, int64_t ttft_us);

/* Price of tokens for a model in USD. */
double gw_account_price(const gw_account *a, const char *model, int64_t in_tokens,
                        int64_t out_tokens);

/* {"models": {model: {...}}, "totals": {...}}; caller owns it. Thread-safe. */
cJSON *gw_account_json(gw_account *a);

/* Prometheus samples (ragd_gateway_*). */
void gw_account_metrics(gw_account *a, buf_t *b);

#endif
