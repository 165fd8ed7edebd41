/*
 * account.c - per-model counters in a small table guarded by one mutex (a
 * handful of models, a few updates per request). Models named in the
 * configuration (exact names in "prices" or a provider's "models") always get
 * their own row; other names get one while fewer than max_unlisted such rows
 * exist, and are counted under "_other" after that, so memory and metric
 * cardinality stay bounded whatever clients send and junk names cannot push
 * the configured models out.
 */
#include "gateway/account.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "util/mem.h"

#define ACCOUNT_OTHER "_other"

typedef struct acct_price {
    char *model;
    double in_per_1m, out_per_1m;
} acct_price;

typedef struct acct_model {
    char name[128];
    uint64_t outcomes[GW_OUT_N];
    uint64_t upstream_calls, upstream_errors;
    uint64_t spent_in, spent_out;      /* tokens used upstream */
    uint64_t saved_in, saved_out;      /* tokens hits did not need */
    double spent_usd, saved_usd;
    metrics_hist latency, ttft;        /* per upstream attempt (slow bounds) */
} acct_model;

struct gw_account {
    pthread_mutex_t mu;
    acct_price *prices;
    int nprices;
    acct_model *models;       /* grows; rows are only used under mu */
    int nmodels, cap;
    int nunlisted, max_unlisted;
    char **listed;            /* exact model names from the providers */
    int nlisted;
};

static const char *const outcome_names[GW_OUT_N] = { "hit", "semantic_hit", "miss", "bypass" };

int gw_account_create(const cJSON *prices, int max_unlisted, gw_account **out, ragd_error *err)
{
    if (prices && !cJSON_IsObject(prices))
        return ragd_error_set(err, RAGD_EINVAL, "prices: must be an object {model: "
                              "{input_per_1m, output_per_1m}}");
    gw_account *a = xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    a->max_unlisted = max_unlisted > 0 ? max_unlisted : 0;
    int n = prices ? cJSON_GetArraySize(prices) : 0;
    a->prices = xcalloc((size_t)n + 1, sizeof *a->prices);
    for (const cJSON *p = prices ? prices->child : NULL; p; p = p->next) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(p, "input_per_1m");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(p, "output_per_1m");
        if (!cJSON_IsObject(p) || (in && !cJSON_IsNumber(in)) || (o && !cJSON_IsNumber(o))) {
            ragd_error_set(err, RAGD_EINVAL, "prices.%s: needs numbers input_per_1m and "
                           "output_per_1m", p->string);
            gw_account_destroy(a);
            return RAGD_EINVAL;
        }
        acct_price *ap = &a->prices[a->nprices++];
        ap->model = xstrdup(p->string);
        ap->in_per_1m = in ? in->valuedouble : 0;
        ap->out_per_1m = o ? o->valuedouble : 0;
    }
    *out = a;
    return RAGD_OK;
}

void gw_account_destroy(gw_account *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->nprices; i++)
        free(a->prices[i].model);
    free(a->prices);
    for (int i = 0; i < a->nlisted; i++)
        free(a->listed[i]);
    free(a->listed);
    free(a->models);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

double gw_account_price(const gw_account *a, const char *model, int64_t in_tokens,
                        int64_t out_tokens)
{
    const acct_price *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < a->nprices; i++) {
        const char *m = a->prices[i].model;
        size_t n = strlen(m);
        bool exact = strcmp(m, model) == 0;
        bool prefix = n && m[n - 1] == '*' && strncmp(m, model, n - 1) == 0;
        if (exact)
            return ((double)in_tokens * a->prices[i].in_per_1m +
                    (double)out_tokens * a->prices[i].out_per_1m) / 1e6;
        if (prefix && n > best_len) {
            best = &a->prices[i];
            best_len = n;
        }
    }
    if (!best)
        return 0;
    return ((double)in_tokens * best->in_per_1m + (double)out_tokens * best->out_per_1m) / 1e6;
}

void gw_account_list_model(gw_account *a, const char *model)
{
    if (strchr(model, '*'))
        return;  /* a prefix pattern names no model of its own */
    pthread_mutex_lock(&a->mu);
    a->listed = xrealloc(a->listed, (size_t)(a->nlisted + 1) * sizeof *a->listed);
    a->listed[a->nlisted++] = xstrdup(model);
    pthread_mutex_unlock(&a->mu);
}

/* Is model named in the configuration (exactly)? Caller holds mu. */
static bool account__listed(const gw_account *a, const char *model)
{
    for (int i = 0; i < a->nprices; i++)
        if (strcmp(a->prices[i].model, model) == 0)
            return true;
    for (int i = 0; i < a->nlisted; i++)
        if (strcmp(a->listed[i], model) == 0)
            return true;
    return false;
}

/* The row of a model, added if it may have one, else the "_other" row
 * (caller holds mu). */
static acct_model *account__model(gw_account *a, const char *model)
{
    for (int i = 0; i < a->nmodels; i++)
        if (strcmp(a->models[i].name, model) == 0)
            return &a->models[i];
    bool other = strcmp(model, ACCOUNT_OTHER) == 0;
    if (!other && strlen(model) >= sizeof a->models[0].name)
        return account__model(a, ACCOUNT_OTHER);
    if (!other && !account__listed(a, model)) {
        if (a->nunlisted >= a->max_unlisted)
            return account__model(a, ACCOUNT_OTHER);
        a->nunlisted++;
    }
    if (a->nmodels == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->models = xrealloc(a->models, (size_t)a->cap * sizeof *a->models);
    }
    acct_model *m = &a->models[a->nmodels++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", model);
    return m;
}

void gw_account_request(gw_account *a, const char *model, int outcome, int64_t in_tokens,
                        int64_t out_tokens)
{
    double usd = 0;
    bool hit = outcome == GW_OUT_HIT || outcome == GW_OUT_SEMANTIC_HIT;
    if (hit)
        usd = gw_account_price(a, model, in_tokens, out_tokens);
    pthread_mutex_lock(&a->mu);
    acct_model *m = account__model(a, model);
    m->outcomes[outcome]++;
    if (hit) {
        m->saved_in += (uint64_t)(in_tokens > 0 ? in_tokens : 0);
        m->saved_out += (uint64_t)(out_tokens > 0 ? out_tokens : 0);
        m->saved_usd += usd;
    }
    pthread_mutex_unlock(&a->mu);
}

void gw_account_upstream(gw_account *a, const char *model, bool ok, int64_t in_tokens,
                         int64_t out_tokens)
{
    double usd = gw_account_price(a, model, in_tokens, out_tokens);
    pthread_mutex_lock(&a->mu);
    acct_model *m = account__model(a, model);
    m->upstream_calls++;
    if (!ok)
        m->upstream_errors++;
    m->spent_in += (uint64_t)(in_tokens > 0 ? in_tokens : 0);
    m->spent_out += (uint64_t)(out_tokens > 0 ? out_tokens : 0);
    m->spent_usd += usd;
    pthread_mutex_unlock(&a->mu);
}

void gw_account_timing(gw_account *a, const char *model, int64_t latency_us, int64_t ttft_us)
{
    pthread_mutex_lock(&a->mu);
    acct_model *m = account__model(a, model);
    metrics_hist_observe_in(&m->latency, latency_us, metrics_bucket_bounds_slow);
    if (ttft_us >= 0)
        metrics_hist_observe_in(&m->ttft, ttft_us, metrics_bucket_bounds_slow);
    pthread_mutex_unlock(&a->mu);
}

static void account__row_json(cJSON *o, const acct_model *m)
{
    for (int k = 0; k < GW_OUT_N; k++)
        cJSON_AddNumberToObject(o, outcome_names[k], (double)m->outcomes[k]);
    cJSON_AddNumberToObject(o, "upstream_calls", (double)m->upstream_calls);
    cJSON_AddNumberToObject(o, "upstream_errors", (double)m->upstream_errors);
    cJSON *saved = cJSON_AddObjectToObject(o, "tokens_saved");
    cJSON_AddNumberToObject(saved, "input", (double)m->saved_in);
    cJSON_AddNumberToObject(saved, "output", (double)m->saved_out);
    cJSON_AddNumberToObject(saved, "total", (double)(m->saved_in + m->saved_out));
    cJSON *spent = cJSON_AddObjectToObject(o, "tokens_spent");
    cJSON_AddNumberToObject(spent, "input", (double)m->spent_in);
    cJSON_AddNumberToObject(spent, "output", (double)m->spent_out);
    cJSON_AddNumberToObject(o, "cost_saved_usd", m->saved_usd);
    cJSON_AddNumberToObject(o, "cost_spent_usd", m->spent_usd);
}

cJSON *gw_account_json(gw_account *a)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *models = cJSON_AddObjectToObject(out, "models");
    acct_model total;
    memset(&total, 0, sizeof total);
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->nmodels; i++) {
        const acct_model *m = &a->models[i];
        account__row_json(cJSON_AddObjectToObject(models, m->name), m);
        for (int k = 0; k < GW_OUT_N; k++)
            total.outcomes[k] += m->outcomes[k];
        total.upstream_calls += m->upstream_calls;
        total.upstream_errors += m->upstream_errors;
        total.saved_in += m->saved_in;
        total.saved_out += m->saved_out;
        total.spent_in += m->spent_in;
        total.spent_out += m->spent_out;
        total.saved_usd += m->saved_usd;
        total.spent_usd += m->spent_usd;
    }
    pthread_mutex_unlock(&a->mu);
    account__row_json(cJSON_AddObjectToObject(out, "totals"), &total);
    uint64_t lookups = total.outcomes[GW_OUT_HIT] + total.outcomes[GW_OUT_SEMANTIC_HIT] +
                       total.outcomes[GW_OUT_MISS];
    cJSON_AddNumberToObject(out, "hit_rate",
                            lookups ? (double)(total.outcomes[GW_OUT_HIT] +
                                               total.outcomes[GW_OUT_SEMANTIC_HIT]) /
                                          (double)lookups
                                    : 0.0);
    return out;
}

/* The per-model histograms of upstream attempts (a snapshot of n rows). */
static void account__hist_metrics(buf_t *b, const acct_model *rows, int n)
{
    static const struct { const char *name, *help; size_t off; } fam[] = {
        { "ragd_gateway_upstream_duration_seconds",
          "upstream attempts by model, from the request to the answer's end",
          offsetof(acct_model, latency) },
        { "ragd_gateway_time_to_first_token_seconds",
          "streamed upstream attempts by model, from the request to the first event",
          offsetof(acct_model, ttft) },
    };
    buf_t labels = BUF_INIT;
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        metrics_family(b, fam[f].name, "histogram", fam[f].help);
        for (int i = 0; i < n; i++) {
            const metrics_hist *h = (const metrics_hist *)((const char *)&rows[i] + fam[f].off);
            if (!h->count)
                continue;
            buf_reset(&labels);
            metrics_label(&labels, "model", rows[i].name);
            metrics_hist_render_in(b, fam[f].name, labels.data, h, metrics_bucket_bounds_slow);
        }
    }
    buf_free(&labels);
}

void gw_account_metrics(gw_account *a, buf_t *b)
{
    pthread_mutex_lock(&a->mu);
    int n = a->nmodels;
    acct_model *rows = xmalloc((size_t)(n ? n : 1) * sizeof *rows);
    if (n)  /* a->models is NULL until the first model: no memcpy from NULL */
        memcpy(rows, a->models, (size_t)n * sizeof *rows);
    pthread_mutex_unlock(&a->mu);
    buf_t labels = BUF_INIT;
    metrics_family(b, "ragd_gateway_requests_total", "counter",
                   "gateway requests by model and cache outcome");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < GW_OUT_N; k++) {
            buf_reset(&labels);
            metrics_label(&labels, "model", rows[i].name);
            metrics_label(&labels, "cache", outcome_names[k]);
            metrics_sample(b, "ragd_gateway_requests_total", labels.data,
                           (double)rows[i].outcomes[k]);
        }
    static const struct { const char *name, *help; size_t off; bool usd; } fam[] = {
        { "ragd_gateway_upstream_calls_total", "upstream calls by model",
          offsetof(acct_model, upstream_calls), false },
        { "ragd_gateway_upstream_errors_total", "upstream calls that failed, by model",
          offsetof(acct_model, upstream_errors), false },
        { "ragd_gateway_tokens_saved_input_total", "prompt tokens served from the cache",
          offsetof(acct_model, saved_in), false },
        { "ragd_gateway_tokens_saved_output_total", "completion tokens served from the cache",
          offsetof(acct_model, saved_out), false },
        { "ragd_gateway_tokens_spent_input_total", "prompt tokens sent to providers (their usage)",
          offsetof(acct_model, spent_in), false },
        { "ragd_gateway_tokens_spent_output_total",
          "completion tokens providers generated (their usage)",
          offsetof(acct_model, spent_out), false },
        { "ragd_gateway_cost_saved_usd_total", "money saved by cache hits (config prices)",
          offsetof(acct_model, saved_usd), true },
        { "ragd_gateway_cost_spent_usd_total", "money spent upstream (config prices)",
          offsetof(acct_model, spent_usd), true },
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        metrics_family(b, fam[f].name, "counter", fam[f].help);
        for (int i = 0; i < n; i++) {
            const char *p = (const char *)&rows[i] + fam[f].off;
            buf_reset(&labels);
            metrics_label(&labels, "model", rows[i].name);
            metrics_sample(b, fam[f].name, labels.data,
                           fam[f].usd ? *(const double *)p : (double)*(const uint64_t *)p);
        }
    }
    account__hist_metrics(b, rows, n);
    buf_free(&labels);
    free(rows);
}
