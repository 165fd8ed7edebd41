/*
 * gateway.c - the gateway's front: validate a call, build its key, answer
 * exact hits at once, and otherwise join the flight already calling upstream
 * for the same key or start one (the single-flight table of flight.c, under
 * one mutex). Also the model list, the warm-up entry point and the
 * statistics.
 */
#include "gateway/gateway.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gateway/gateway_int.h"
#include "obs/metrics.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

int gateway_create(const gateway_opts *o, cache_t *cache, embcache_t *emb, gateway_t **out,
                   ragd_error *err)
{
    if (!(o->semantic_threshold >= 0 && o->semantic_threshold <= 1) ||
        !(o->semantic_max_temperature >= 0 && o->semantic_max_temperature <= 2))
        return ragd_error_set(err, RAGD_EINVAL, "semantic_threshold must be in [0, 1] and "
                              "semantic_max_temperature in [0, 2]");
    gateway_t *gw = xcalloc(1, sizeof *gw);
    gw->cache = cache;
    gw->store = cache_store(cache);
    gw->shared_store = store_has(gw->store, STORE_CAP_SHARED);
    gw->retries = o->retries;
    gw->retry_base_ms = o->retry_base_ms;
    gw->retry_max_ms = o->retry_max_ms;
    gw->sem_threshold = o->semantic_threshold;
    gw->sem_max_temperature = o->semantic_max_temperature;
    gw->emb_ttl_s = o->embedding_ttl_s;
    gw->embs = gw_remote_embs_create();
    if (getrandom(&gw->rng, sizeof gw->rng, 0) != sizeof gw->rng || gw->rng == 0)
        gw->rng = (uint64_t)clock_mono_ns() | 1;
    pthread_mutex_init(&gw->table_mu, NULL);
    pthread_mutex_init(&gw->life_mu, NULL);
    pthread_cond_init(&gw->life_cv, NULL);
    int rc = 0;
    if (emb && o->semantic) {
        gw_semantic_opts so = { .max_entries = o->semantic_max_entries, .store = gw->store };
        rc = gw_semantic_create(emb, &so, &gw->sem);
        if (!rc)
            gw_semantic_load(gw->sem, NULL);  /* a store outage at start: empty until followed */
        if (!rc)
            rc = gw_semcache_create(gw->sem, cache, &gw->semc);
    }
    if (!rc)
        rc = gw_upstreams_load(&o->upstreams, &gw->ups, err);
    if (!rc)
        rc = gw_account_create(o->prices, o->max_models, &gw->acct, err);
    for (int i = 0; !rc && i < gw->ups.n; i++)
        for (int j = 0; j < gw->ups.p[i].nmodels; j++)
            gw_account_list_model(gw->acct, gw->ups.p[i].models[j]);
    if (!rc)
        rc = gw_client_create(&gw->client, err);
    if (rc) {
        gateway_destroy(gw);
        return rc;
    }
    *out = gw;
    return RAGD_OK;
}

void gateway_destroy(gateway_t *gw)
{
    if (!gw)
        return;
    pthread_mutex_lock(&gw->life_mu);
    gw->closing = true;
    while (gw->fills > 0)  /* none may be handing a call to the client */
        pthread_cond_wait(&gw->life_cv, &gw->life_mu);
    pthread_mutex_unlock(&gw->life_mu);
    gw_client_destroy(gw->client);  /* flights in progress finish (failed) here */
    pthread_mutex_lock(&gw->life_mu);
    while (gw->holds > 0)  /* their completions woke them; their fills now fail */
        pthread_cond_wait(&gw->life_cv, &gw->life_mu);
    pthread_mutex_unlock(&gw->life_mu);
    gw_remote_embs_destroy(gw->embs);
    gw_semcache_destroy(gw->semc);
    gw_semantic_destroy(gw->sem);
    gw_account_destroy(gw->acct);
    gw_upstreams_free(&gw->ups);
    pthread_mutex_destroy(&gw->table_mu);
    pthread_cond_destroy(&gw->life_cv);
    pthread_mutex_destroy(&gw->life_mu);
    free(gw);
}

int gateway_hold(gateway_t *gw)
{
    pthread_mutex_lock(&gw->life_mu);
    int rc = gw->closing ? RAGD_EUNAVAIL : RAGD_OK;
    if (!rc)
        gw->holds++;
    pthread_mutex_unlock(&gw->life_mu);
    return rc;
}

void gateway_release(gateway_t *gw)
{
    pthread_mutex_lock(&gw->life_mu);
    assert(gw->holds > 0);
    gw->holds--;
    pthread_cond_broadcast(&gw->life_cv);
    pthread_mutex_unlock(&gw->life_mu);
}

/* Count a fill in, unless the gateway is closing; gw__fill_end counts it out. */
static bool gw__fill_begin(gateway_t *gw)
{
    pthread_mutex_lock(&gw->life_mu);
    bool ok = !gw->closing;
    if (ok)
        gw->fills++;
    pthread_mutex_unlock(&gw->life_mu);
    return ok;
}

static void gw__fill_end(gateway_t *gw)
{
    pthread_mutex_lock(&gw->life_mu);
    gw->fills--;
    pthread_cond_broadcast(&gw->life_cv);
    pthread_mutex_unlock(&gw->life_mu);
}

bool gateway_has_upstreams(const gateway_t *gw)
{
    return gw->ups.n > 0;
}

/* ---- preparing a call ------------------------------------------------------- */

static bool gw__model_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 200)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
            return false;
    return true;
}

/* Validate call and fill p. On failure status, code and msg say what to answer. */
static int gw__prepare(gateway_t *gw, const gw_call *call, gw_prep *p, int *status,
                       const char **code, char *msg, size_t mn)
{
    memset(p, 0, sizeof *p);
    const cJSON *b = call->body;
    p->model = json_get_str(b, "model");
    p->chat = call->endpoint == GW_CHAT;
    *status = 400;
    *code = "invalid_request";
    if (!p->model || !gw__model_ok(p->model)) {
        snprintf(msg, mn, "'model' must be a non-empty string of at most 200 characters");
        return RAGD_EINVAL;
    }
    if (p->chat && !json_get_arr(b, "messages")) {
        snprintf(msg, mn, "'messages' must be an array");
        return RAGD_EINVAL;
    }
    if (!p->chat && !cJSON_GetObjectItemCaseSensitive(b, "prompt")) {
        snprintf(msg, mn, "'prompt' is required");
        return RAGD_EINVAL;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "stream");
    if (st && !cJSON_IsBool(st) && !cJSON_IsNull(st)) {
        snprintf(msg, mn, "'stream' must be a boolean");
        return RAGD_EINVAL;
    }
    p->stream = cJSON_IsTrue(st);
    const cJSON *so = json_get_obj(b, "stream_options");
    p->include_usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    p->prov = gw_upstreams_route(&gw->ups, p->model);
    if (!p->prov) {
        *status = 404;
        *code = "model_not_found";
        snprintf(msg, mn, "no provider serves model '%.200s' (see GET /v1/models)", p->model);
        return RAGD_ENOTFOUND;
    }
    gw_key_build(b, call->endpoint, call->scope, &p->canon, p->hash);
    /* The hash tag puts the entry and its single-flight lock (flight.c's
     * llmlock:{<model>:<hash>}) in one Redis Cluster slot. */
    snprintf(p->skey, sizeof p->skey, "llm:{%s:%s}", p->model, p->hash);
    int64_t ttl_s = call->ttl_s >= 0 ? call->ttl_s : cache_prefix_ttl(gw->cache, "llm", NULL);
    p->ttl_ms = ttl_s * 1000;
    p->max_age_ms = call->max_age_s >= 0 ? call->max_age_s * 1000 : -1;
    return RAGD_OK;
}

/* An entry older than the call's s-maxage is not a hit. */
static bool gw__too_old(int64_t max_age_ms, const cache_entry *e)
{
    return max_age_ms >= 0 && clock_wall_ms() - e->created_ms > max_age_ms;
}

/* Exact lookup: 0 and *r on a verified hit. */
static int gw__lookup(gateway_t *gw, const gw_prep *p, gw_record *r)
{
    cache_entry e;
    int rc = cache_get_raw(gw->cache, p->skey, strlen(p->skey), "llm", &e);
    if (rc)
        return rc;
    rc = gw__too_old(p->max_age_ms, &e) ? RAGD_ENOTFOUND
                            : gw_record_decode(e.data, e.len, p->canon.data, p->canon.len, r);
    cache_entry_free(&e);
    return rc;
}

/* Join the flight for p's key or start one, handing it the sink. Returns 0,
 * or RAGD_EUNAVAIL when the provider's circuit is open (sink untouched). */
static int gw__attach(gateway_t *gw, const gw_call *call, const gw_prep *p, gw_sink *s,
                      gw_sem_query *sem)
{
    bool cacheable = !call->no_store;
    bool shared = cacheable && !call->no_cache;
    pthread_mutex_lock(&gw->table_mu);
    gw_flight *f = shared ? gw_flight_find(gw, p->skey) : NULL;
    if (f) {
        gw_flight_add_sink(f, s);
        pthread_mutex_unlock(&gw->table_mu);
        __atomic_fetch_add(&gw->joins, 1, __ATOMIC_RELAXED);
        return RAGD_OK;
    }
    if (!gw_breaker_allow(&p->prov->breaker, clock_mono_us())) {
        pthread_mutex_unlock(&gw->table_mu);
        __atomic_fetch_add(&gw->breaker_rejects, 1, __ATOMIC_RELAXED);
        return RAGD_EUNAVAIL;
    }
    f = gw_flight_create(gw, call, p, cacheable, sem);
    gw_flight_add_sink(f, s);
    if (shared)
        gw_flight_register(f);
    pthread_mutex_unlock(&gw->table_mu);
    gw_flight_launch(f);
    return RAGD_OK;
}

/* ---- semantic lookups -------------------------------------------------------- */

/* Prepare the semantic query of a qualifying call (false if it does not
 * qualify or cannot be embedded); its embedding is work of w's class. */
static bool gw__sem_prepare(gateway_t *gw, const gw_call *call, const embed_work *w,
                            gw_sem_query *q)
{
    memset(q, 0, sizeof *q);
    if (!gw->sem)
        return false;
    return gw_semantic_prepare(gw->sem, call->body, call->endpoint, call->scope,
                               gw->sem_max_temperature, w, q) == 0;
}

/* A semantic hit for q: the neighbour's record and similarity. */
static int gw__sem_lookup(gateway_t *gw, const gw_call *call, const gw_sem_query *q,
                          gw_record *r, float *sim, char *skey, size_t n)
{
    double thr = call->sem_threshold >= 0 ? call->sem_threshold : gw->sem_threshold;
    __atomic_fetch_add(&gw->sem_lookups, 1, __ATOMIC_RELAXED);
    if (gw_semantic_lookup(gw->sem, q, thr, skey, n, sim))
        return RAGD_ENOTFOUND;
    cache_entry e;
    int rc = cache_get_raw(gw->cache, skey, strlen(skey), "llm", &e);
    if (rc == RAGD_ENOTFOUND)
        gw_semantic_forget(gw->sem, q->partition, skey);
    if (rc)
        return rc;
    rc = gw__too_old(call->max_age_s >= 0 ? call->max_age_s * 1000 : -1, &e)
             ? RAGD_ENOTFOUND : gw_record_decode(e.data, e.len, NULL, 0, r);
    cache_entry_free(&e);
    if (rc == 0)
        __atomic_fetch_add(&gw->sem_hits, 1, __ATOMIC_RELAXED);
    return rc;
}

/* ---- serving ---------------------------------------------------------------- */

static void gw__reply_hit(gateway_t *gw, const gw_prep *p, const gw_record *r, int outcome,
                          http_req *req, http_resp *resp)
{
    const char *name = outcome == GW_OUT_SEMANTIC_HIT ? "semantic-hit" : "hit";
    char *body;
    size_t len;
    const char *ctype;
    if (gw_record_render(r, p->stream, p->include_usage, &body, &len, &ctype)) {
        http_error(req, resp, 500, "internal_error", "a cached answer could not be rendered");
        return;
    }
    http_resp_set_body(resp, 200, ctype, body, len);
    http_resp_header(resp, "x-ragd-cache", name);
    req->cache_outcome = name;
    http_req_log_usage(req, r->in_tokens, r->out_tokens, -1);
    gw_account_request(gw->acct, p->model, outcome, r->in_tokens, r->out_tokens);
}

void gateway_serve(gateway_t *gw, const gw_call *call, http_req *req, http_resp *resp)
{
    gw_prep p;
    int status;
    const char *code;
    char msg[320];
    if (gw__prepare(gw, call, &p, &status, &code, msg, sizeof msg)) {
        http_error(req, resp, status, code, "%s", msg);
        buf_free(&p.canon);
        return;
    }
    http_resp_header(resp, "x-ragd-cache-key", p.skey);
    http_req_log_model(req, p.model);
    gw_record r;
    if (!call->no_cache && gw__lookup(gw, &p, &r) == 0) {
        gw__reply_hit(gw, &p, &r, GW_OUT_HIT, req, resp);
        gw_record_free(&r);
        buf_free(&p.canon);
        if (call->on_usage)
            call->on_usage(call->usage_ud, 0);
        return;
    }
    gw_sem_query q;
    bool sem = !call->no_cache && gw__sem_prepare(gw, call, NULL, &q);
    char nkey[STORE_KEY_BUF];
    float sim = 0;
    if (sem && gw__sem_lookup(gw, call, &q, &r, &sim, nkey, sizeof nkey) == 0) {
        char simtxt[32];
        snprintf(simtxt, sizeof simtxt, "%.4f", sim);
        gw__reply_hit(gw, &p, &r, GW_OUT_SEMANTIC_HIT, req, resp);
        http_resp_header(resp, "x-ragd-cache-similarity", simtxt);
        http_resp_header(resp, "x-ragd-cache-source-key", nkey);
        gw_record_free(&r);
        gw_sem_query_free(&q);
        buf_free(&p.canon);
        if (call->on_usage)
            call->on_usage(call->usage_ud, 0);
        return;
    }
    const char *outcome = call->no_cache ? "bypass" : "miss";
    http_resp_header(resp, "x-ragd-cache", outcome);
    req->cache_outcome = outcome;
    gw_sink *s = xcalloc(1, sizeof *s);
    s->want_stream = p.stream;
    s->include_usage = p.include_usage;
    snprintf(s->request_id, sizeof s->request_id, "%s", req->request_id);
    s->on_usage = call->on_usage;
    s->usage_ud = call->usage_ud;
    s->st = http_stream_open(resp);
    if (gw__attach(gw, call, &p, s, sem ? &q : NULL) == RAGD_EUNAVAIL) {
        char m[300];
        snprintf(m, sizeof m, "provider '%s' is failing; its circuit is open", p.prov->name);
        gw_sink_fail(s, 503, "upstream_unavailable", m);
    }
    gw_account_request(gw->acct, p.model, call->no_cache ? GW_OUT_BYPASS : GW_OUT_MISS, 0, 0);
    if (sem)
        gw_sem_query_free(&q);
    buf_free(&p.canon);
}

static int gw__fill(gateway_t *gw, const gw_call *call,
                    void (*done)(void *ud, int result, const char *msg), void *ud,
                    ragd_error *err)
{
    gw_prep p;
    int status;
    const char *code;
    char msg[320];
    if (gw__prepare(gw, call, &p, &status, &code, msg, sizeof msg)) {
        buf_free(&p.canon);
        ragd_error_set(err, RAGD_EINVAL, "%s", msg);
        return GW_FILL_FAILED;
    }
    gw_record r;
    if (!call->no_cache && gw__lookup(gw, &p, &r) == 0) {
        gw_record_free(&r);
        buf_free(&p.canon);
        return GW_FILL_CACHED;
    }
    gw_sink *s = xcalloc(1, sizeof *s);
    s->done = done;
    s->ud = ud;
    gw_sem_query q;
    embed_work warm = { EMBED_BULK, call->scope }; /* warm-up waits behind live calls */
    bool sem = gw__sem_prepare(gw, call, &warm, &q);
    int rc = gw__attach(gw, call, &p, s, sem ? &q : NULL);
    if (sem)
        gw_sem_query_free(&q);
    buf_free(&p.canon);
    if (rc) {
        free(s);
        ragd_error_set(err, rc, "the provider's circuit is open");
        return GW_FILL_FAILED;
    }
    return GW_FILL_PENDING;
}

int gateway_fill(gateway_t *gw, const gw_call *call,
                 void (*done)(void *ud, int result, const char *msg), void *ud,
                 ragd_error *err)
{
    if (!gw__fill_begin(gw)) {
        ragd_error_set(err, RAGD_EUNAVAIL, "the server is shutting down");
        return GW_FILL_FAILED;
    }
    int r = gw__fill(gw, call, done, ud, err);
    gw__fill_end(gw);
    return r;
}

/* ---- statistics --------------------------------------------------------------- */

gw_semantic *gateway_semantic(gateway_t *gw)
{
    return gw->sem;
}

gw_semcache *gateway_semcache(gateway_t *gw)
{
    return gw->semc;
}

/* The semantic index's size and life (zeros when off). */
static void gw__sem_stats_json(gateway_t *gw, cJSON *sc)
{
    gw_semantic_stats st;
    memset(&st, 0, sizeof st);
    if (gw->sem)
        gw_semantic_get_stats(gw->sem, &st);
    cJSON_AddNumberToObject(sc, "entries", (double)st.entries);
    cJSON_AddNumberToObject(sc, "max_entries", (double)st.max_entries);
    cJSON_AddNumberToObject(sc, "partitions", (double)st.partitions);
    cJSON_AddNumberToObject(sc, "hnsw_partitions", (double)st.hnsw_partitions);
    cJSON_AddNumberToObject(sc, "evictions", (double)st.evictions);
    cJSON_AddNumberToObject(sc, "expired", (double)st.expired);
    cJSON_AddNumberToObject(sc, "log_applied_seq", (double)st.applied_seq);
    cJSON_AddNumberToObject(sc, "log_applied", (double)st.applied);
    cJSON_AddNumberToObject(sc, "log_bad_records", (double)st.bad_records);
    cJSON_AddNumberToObject(sc, "log_write_errors", (double)st.announce_errors);
}

cJSON *gateway_stats_json(gateway_t *gw)
{
    cJSON *out = gw_account_json(gw->acct);
    cJSON *sf = cJSON_AddObjectToObject(out, "single_flight");
    cJSON_AddNumberToObject(sf, "joined", (double)__atomic_load_n(&gw->joins, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(sf, "lock_waits",
                            (double)__atomic_load_n(&gw->lock_waits, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(out, "retries",
                            (double)__atomic_load_n(&gw->retries_done, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(out, "breaker_rejects",
                            (double)__atomic_load_n(&gw->breaker_rejects, __ATOMIC_RELAXED));
    cJSON *sc = cJSON_AddObjectToObject(out, "semantic");
    cJSON_AddBoolToObject(sc, "enabled", gw->sem != NULL);
    cJSON_AddNumberToObject(sc, "threshold", gw->sem_threshold);
    cJSON_AddNumberToObject(sc, "max_temperature", gw->sem_max_temperature);
    cJSON_AddNumberToObject(sc, "lookups",
                            (double)__atomic_load_n(&gw->sem_lookups, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(sc, "hits", (double)__atomic_load_n(&gw->sem_hits, __ATOMIC_RELAXED));
    gw__sem_stats_json(gw, sc);
    if (gw->semc)
        gw_semcache_stats_json(gw->semc, cJSON_AddObjectToObject(sc, "api"));
    uint64_t ecalls, etexts;
    gw_remote_embs_counts(gw->embs, &ecalls, &etexts);
    cJSON *em = cJSON_AddObjectToObject(out, "embeddings");
    cJSON_AddNumberToObject(em, "provider_calls", (double)ecalls);
    cJSON_AddNumberToObject(em, "texts_sent", (double)etexts);
    cJSON *provs = cJSON_AddObjectToObject(out, "providers");
    int64_t now = clock_mono_us();
    for (int i = 0; i < gw->ups.n; i++) {
        gw_provider *pv = &gw->ups.p[i];
        cJSON *o = cJSON_AddObjectToObject(provs, pv->name);
        cJSON_AddStringToObject(o, "circuit", gw_breaker_state_name(&pv->breaker, now));
        pthread_mutex_lock(&pv->breaker.mu);
        cJSON_AddNumberToObject(o, "consecutive_failures", pv->breaker.failures);
        cJSON_AddNumberToObject(o, "times_opened", (double)pv->breaker.opened_total);
        pthread_mutex_unlock(&pv->breaker.mu);
    }
    return out;
}

/* ragd_gateway_semantic_*: the semantic index's size and life. */
static void gw__sem_metrics(gateway_t *gw, buf_t *b)
{
    if (!gw->sem)
        return;
    gw_semantic_stats st;
    gw_semantic_get_stats(gw->sem, &st);
    static const struct { const char *name, *type, *help; size_t off; } rows[] = {
        { "ragd_gateway_semantic_entries", "gauge", "prompts in the semantic index",
          offsetof(gw_semantic_stats, entries) },
        { "ragd_gateway_semantic_max_entries", "gauge", "the semantic index's bound",
          offsetof(gw_semantic_stats, max_entries) },
        { "ragd_gateway_semantic_hnsw_partitions", "gauge",
          "semantic partitions served by an HNSW graph (the others are scanned)",
          offsetof(gw_semantic_stats, hnsw_partitions) },
        { "ragd_gateway_semantic_evictions_total", "counter",
          "semantic entries that left the full index, oldest first",
          offsetof(gw_semantic_stats, evictions) },
        { "ragd_gateway_semantic_expired_total", "counter",
          "expired semantic entries dropped to make room", offsetof(gw_semantic_stats, expired) },
        { "ragd_gateway_semantic_log_applied_total", "counter",
          "semantic log records applied (replay and follower)", offsetof(gw_semantic_stats, applied) },
        { "ragd_gateway_semantic_log_bad_records_total", "counter",
          "semantic log records that did not decode", offsetof(gw_semantic_stats, bad_records) },
        { "ragd_gateway_semantic_log_write_errors_total", "counter",
          "semantic entries the log did not take (the store was down)",
          offsetof(gw_semantic_stats, announce_errors) },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + rows[i].off, sizeof v);
        metrics_family(b, rows[i].name, rows[i].type, rows[i].help);
        metrics_sample(b, rows[i].name, "", (double)v);
    }
}

void gateway_metrics(gateway_t *gw, buf_t *b)
{
    gw_account_metrics(gw->acct, b);
    gw__sem_metrics(gw, b);
    if (gw->semc)
        gw_semcache_metrics(gw->semc, b);
    metrics_family(b, "ragd_gateway_single_flight_joins_total", "counter",
                   "requests that waited for an identical call in flight");
    metrics_sample(b, "ragd_gateway_single_flight_joins_total", "",
                   (double)__atomic_load_n(&gw->joins, __ATOMIC_RELAXED));
    metrics_family(b, "ragd_gateway_retries_total", "counter", "upstream calls retried");
    metrics_sample(b, "ragd_gateway_retries_total", "",
                   (double)__atomic_load_n(&gw->retries_done, __ATOMIC_RELAXED));
    uint64_t ecalls, etexts;
    gw_remote_embs_counts(gw->embs, &ecalls, &etexts);
    metrics_family(b, "ragd_gateway_embedding_calls_total", "counter",
                   "embedding calls sent to providers (cache misses only)");
    metrics_sample(b, "ragd_gateway_embedding_calls_total", "", (double)ecalls);
    metrics_family(b, "ragd_gateway_embedding_texts_total", "counter",
                   "texts sent to providers for embedding");
    metrics_sample(b, "ragd_gateway_embedding_texts_total", "", (double)etexts);
    metrics_family(b, "ragd_gateway_circuit_open", "gauge", "1 while a provider's circuit is open");
    int64_t now = clock_mono_us();
    buf_t labels = BUF_INIT;
    for (int i = 0; i < gw->ups.n; i++) {
        buf_reset(&labels);
        metrics_label(&labels, "provider", gw->ups.p[i].name);
        metrics_sample(b, "ragd_gateway_circuit_open", labels.data,
                       strcmp(gw_breaker_state_name(&gw->ups.p[i].breaker, now), "open") == 0);
    }
    buf_free(&labels);
}
