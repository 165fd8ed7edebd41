/*
 * gateway.h - the LLM gateway: an OpenAI-compatible proxy in front of one or
 * more upstream providers with an exact cache (key = SHA-256 of the canonical
 * request and its scope), faithful streaming (chunks pass through as they
 * come and are recorded; hits replay them), single-flight (identical
 * concurrent misses make one upstream call; on Redis a lock key extends this
 * across instances), retries with backoff, a circuit breaker per provider,
 * and accounting of tokens and money saved.
 *
 * Data flow of a call: canonical key -> exact lookup -> single-flight ->
 * upstream (stream through, tee to the record) -> store -> accounting.
 */
#ifndef RAGD_GATEWAY_H
#define RAGD_GATEWAY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/embcache.h"
#include "gateway/key.h"
#include "gateway/upstream.h"
#include "http/http.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct gateway gateway_t;

/* One completion call as the API layer read it. */
typedef struct gw_call {
    int endpoint;             /* enum gw_endpoint */
    const cJSON *body;        /* parsed request (borrowed for the call) */
    const char *raw;          /* its bytes, forwarded as they are when possible */
    size_t raw_len;
    char scope[256];          /* "global" or "user:<id>" */
    bool no_cache;            /* Cache-Control: no-cache - skip the lookup */
    bool no_store;            /* Cache-Control: no-store - skip the write */
    int64_t ttl_s;            /* x-ragd-cache-ttl; < 0 = the "llm" prefix TTL */
    int64_t max_age_s;        /* s-maxage: serve only hits at most this old; < 0 = any age */
    double sem_threshold;     /* x-ragd-semantic-threshold; < 0 = the default */
    /* Called exactly once per served call with the upstream tokens it used
     * (0 for cache hits and failures), from any thread: how token budgets are
     * reconciled. May be NULL. */
    void (*on_usage)(void *ud, int64_t tokens);
    void *usage_ud;
} gw_call;

/* The gateway's settings (filled by the application from its configuration).
 * Everything is borrowed for gateway_create only. */
typedef struct gateway_opts {
    int retries;                     /* retries of 429/5xx/connection errors */
    int64_t retry_base_ms;           /* first backoff (doubles, full jitter) */
    int64_t retry_max_ms;            /* longest wait before a retry */
    bool semantic;                   /* semantic cache on (needs emb) */
    size_t semantic_max_entries;     /* prompts kept in the semantic index */
    double semantic_threshold;       /* default cosine of a semantic hit, in [0, 1] */
    double semantic_max_temperature; /* qualifying requests, in [0, 2] */
    const cJSON *prices;             /* the config file's "prices"; NULL = none */
    int max_models;                  /* models not named in the config with their own
                                        accounting row (and metric series); 0 = none */
    int64_t embedding_ttl_s;         /* cache TTL of provider embeddings */
    gw_upstream_opts upstreams;      /* the providers */
} gateway_opts;

/* Create the gateway (providers, price table, client thread) from o. cache
 * and emb (NULL: no semantic cache) are borrowed and must outlive it. A
 * threshold out of range is RAGD_EINVAL. Caller owns *out. */
int gateway_create(const gateway_opts *o, cache_t *cache, embcache_t *emb, gateway_t **out,
                   ragd_error *err);

/* Stop the client thread (calls in flight fail) and free everything. Waits
 * for every gateway_hold to be released first: a holder (a warm-up's thread)
 * sees its later gateway_fill calls fail while the gateway closes. */
void gateway_destroy(gateway_t *gw);

/* Keep gw alive for a thread outside the request path (a warm-up's pump):
 * RAGD_EUNAVAIL when it is closing. Each success needs one gateway_release,
 * after the holder's last use of gw. Thread-safe. */
int gateway_hold(gateway_t *gw);
void gateway_release(gateway_t *gw);

/* true if at least one provider is configured. Thread-safe. */
bool gateway_has_upstreams(const gateway_t *gw);

/* Answer one call into resp: a hit is answered at once; a miss opens a
 * deferred response (http/stream.h) filled from the client thread. Sets
 * req->cache_outcome. Thread-safe. */
void gateway_serve(gateway_t *gw, const gw_call *call, http_req *req, http_resp *resp);

enum gw_fill_result { GW_FILL_PENDING, GW_FILL_FILLED, GW_FILL_CACHED, GW_FILL_FAILED };

/* Warm-up: make sure call's answer is cached. Returns GW_FILL_CACHED,
 * GW_FILL_FAILED (msg says why, in err; also once the gateway is closing) or
 * GW_FILL_PENDING, in which case
 * done(ud, GW_FILL_FILLED | GW_FILL_FAILED, msg) is called later from the
 * client thread. Thread-safe. */
int gateway_fill(gateway_t *gw, const gw_call *call,
                 void (*done)(void *ud, int result, const char *msg), void *ud,
                 ragd_error *err);

/* The embedding cache of a model served by a provider (the default upstream
 * or a configured one), created on first use (gateway/embed_remote.h): its
 * misses go to the provider. Borrowed for the gateway's life. Errors:
 * RAGD_ENOTFOUND (no provider serves model), RAGD_EINVAL (its dimension is
 * unknown); err says which. Thread-safe. */
int gateway_embedder(gateway_t *gw, const char *model, embcache_t **out, ragd_error *err);

/* gateway_embedder for a caller that expects dimension dim (a namespace of
 * that model): dim must equal the configured or known one (else
 * RAGD_EINVAL); for a model of unknown dimension it is taken as given, and
 * with dim 0 the provider is asked once (one embedding of a short probe
 * text; its failure is RAGD_EUPSTREAM). Thread-safe. */
int gateway_embedder_dim(gateway_t *gw, const char *model, size_t dim, embcache_t **out,
                         ragd_error *err);

/* GET /v1/models: the nlocal models served in-process (local[i], borrowed for
 * the call, listed first, owned_by "ragd"), the configured providers' models,
 * plus those the default upstream lists (fetched without holding a worker).
 * Thread-safe. */
void gateway_models(gateway_t *gw, const char *const *local, size_t nlocal, http_req *req,
                    http_resp *resp);

/* The semantic cache (NULL when off), borrowed for the gateway's life: how
 * the application registers its log with the follower (gw_semantic_apply). */
struct gw_semantic;
struct gw_semantic *gateway_semantic(gateway_t *gw);

/* The standalone semantic cache over the same index (NULL when the semantic
 * cache is off), borrowed for the gateway's life. */
struct gw_semcache;
struct gw_semcache *gateway_semcache(gateway_t *gw);

/* The "gateway" object of /api/v1/cache/stats; caller owns it. Thread-safe. */
cJSON *gateway_stats_json(gateway_t *gw);

/* Prometheus samples (ragd_gateway_*). Thread-safe. */
void gateway_metrics(gateway_t *gw, buf_t *b);

#endif
