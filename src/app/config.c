/*
 * config.c - the settings table and its parsers.
 */
#include "app/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"
#include "util/json.h"
#include "util/mem.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_SIZE, CFG_ENUM, CFG_PREFIX, CFG_BOOL, CFG_DOUBLE };

typedef struct cfg_entry {
    const char *key;       /* config file key and `ragd config` name */
    const char *env;       /* environment variable */
    const char *flag;      /* command-line flag, or NULL */
    int type;
    size_t off;            /* offset in ragd_config */
    const char *def;       /* default, as text */
    int64_t min, max;      /* CFG_INT / CFG_SIZE bounds */
    const char *choices;   /* CFG_ENUM: "a|b|c" */
    bool secret;           /* redact in `ragd config` */
    const char *help;
    double dmin, dmax;     /* CFG_DOUBLE bounds */
} cfg_entry;

#define OFF(f) offsetof(ragd_config, f)
#define GiB "1073741824"

/* Rows other than CFG_DOUBLE leave the trailing dmin/dmax out (zero). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const cfg_entry cfg_table[] = {
    { "listen", "RAGD_LISTEN", "--listen", CFG_STR, OFF(listen), "127.0.0.1:8080", 0, 0, NULL, false, "HTTP listen address HOST:PORT" },
    { "data_dir", "RAGD_DATA_DIR", "--data-dir", CFG_STR, OFF(data_dir), "", 0, 0, NULL, false, "data directory of the embedded store (default ~/.local/share/ragd)" },
    { "redis_url", "REDIS_URL", "--redis-url", CFG_STR, OFF(redis_url), "", 0, 0, NULL, true, "use Redis: redis://[user:password@]host:port/db, rediss://, or redis+sentinel://host:port[,host:port...]/<master>[/db]" },
    { "key_prefix", "RAGD_KEY_PREFIX", "--key-prefix", CFG_PREFIX, OFF(key_prefix), "ragd", 0, 0, NULL, false, "global prefix of every stored key" },
    { "model_dir", "RAGD_MODEL_DIR", "--model-dir", CFG_STR, OFF(model_dir), "", 0, 0, NULL, false, "embedding model directory (default ~/.cache/ragd/models/all-MiniLM-L6-v2)" },
    { "log_level", "RAGD_LOG_LEVEL", "--log-level", CFG_ENUM, OFF(log_level), "info", 0, 0, "debug|info|warn|error|off", false, "log level" },
    { "log_format", "RAGD_LOG_FORMAT", "--log-format", CFG_ENUM, OFF(log_format), "json", 0, 0, "json|text", false, "log lines as JSON objects or as logfmt text (key=value)" },
    { "store_fsync", "RAGD_STORE_FSYNC", "--fsync", CFG_ENUM, OFF(store_fsync), "everysec", 0, 0, "always|everysec|no", false, "embedded store fsync policy" },
    { "cache_default_ttl", "CACHE_DEFAULT_TTL", NULL, CFG_INT, OFF(cache_default_ttl), "3600", 0, 315360000, NULL, false, "default cache TTL in seconds" },
    { "cache_embedding_ttl", "CACHE_EMBEDDING_TTL", NULL, CFG_INT, OFF(cache_embedding_ttl), "604800", 0, 315360000, NULL, false, "embedding cache TTL in seconds" },
    { "cache_response_ttl", "CACHE_RESPONSE_TTL", NULL, CFG_INT, OFF(cache_response_ttl), "21600", 0, 315360000, NULL, false, "LLM response cache TTL in seconds" },
    { "cache_compression_threshold", "CACHE_COMPRESSION_THRESHOLD", NULL, CFG_SIZE, OFF(cache_compression_threshold), "1024", 0, INT64_MAX, NULL, false, "values of at least this many bytes are zstd-compressed" },
    { "store_max_bytes", "RAGD_STORE_MAX_BYTES", "--max-bytes", CFG_SIZE, OFF(store_max_bytes), GiB, 0, INT64_MAX, NULL, false, "size budget of cache entries in the embedded store (0 = none)" },
    { "store_map_size", "RAGD_STORE_MAP_SIZE", NULL, CFG_SIZE, OFF(store_map_size), "17179869184", 1048576, INT64_MAX, NULL, false, "embedded store map size (virtual)" },
    { "store_map_max_size", "RAGD_STORE_MAP_MAX_SIZE", NULL, CFG_SIZE, OFF(store_map_max_size), "68719476736", 1048576, INT64_MAX, NULL, false, "the embedded store's map doubles when it fills, up to this size" },
    { "redis_pool_size", "RAGD_REDIS_POOL_SIZE", NULL, CFG_INT, OFF(redis_pool_size), "8", 1, 256, NULL, false, "Redis connections" },
    { "redis_timeout_ms", "RAGD_REDIS_TIMEOUT_MS", NULL, CFG_INT, OFF(redis_timeout_ms), "1000", 1, 60000, NULL, false, "Redis connect/command timeout" },
    { "redis_wait_replicas", "RAGD_REDIS_WAIT_REPLICAS", NULL, CFG_INT, OFF(redis_wait_replicas), "0", 0, 64, NULL, false, "each acknowledged Redis write first waits for this many replicas (WAIT); 0 = do not wait" },
    { "redis_read_replicas", "RAGD_REDIS_READ_REPLICAS", NULL, CFG_BOOL, OFF(redis_read_replicas), "0", 0, 1, NULL, false, "Redis Cluster or Sentinel: generic cache GETs may be answered by a replica (may be stale)" },
    { "repl_log_keep", "RAGD_REPL_LOG_KEEP", NULL, CFG_INT, OFF(repl_log_keep), "100000", 1000, 100000000, NULL, false, "records each change log keeps (a namespace's, the semantic cache's...): a restart whose snapshot is older replays them, an older one rebuilds" },
    { "redis_wait_timeout_ms", "RAGD_REDIS_WAIT_TIMEOUT_MS", NULL, CFG_INT, OFF(redis_wait_timeout_ms), "1000", 1, 60000, NULL, false, "how long a write waits for redis_wait_replicas before it answers 503 (not durable)" },
    { "redis_sentinel_user", "RAGD_REDIS_SENTINEL_USER", NULL, CFG_STR, OFF(redis_sentinel_user), "", 0, 0, NULL, false, "redis+sentinel://: ACL user for the sentinels (the URL's credentials are the data nodes')" },
    { "redis_sentinel_password", "RAGD_REDIS_SENTINEL_PASSWORD", NULL, CFG_STR, OFF(redis_sentinel_password), "", 0, 0, NULL, true, "redis+sentinel://: password for the sentinels" },
    { "http_threads", "RAGD_HTTP_THREADS", "--threads", CFG_INT, OFF(http_threads), "8", 1, 256, NULL, false, "HTTP worker threads" },
    { "max_body_bytes", "RAGD_MAX_BODY_BYTES", NULL, CFG_SIZE, OFF(max_body_bytes), "16777216", 1024, 1073741824, NULL, false, "largest accepted request body" },
    { "max_connections", "RAGD_MAX_CONNECTIONS", NULL, CFG_INT, OFF(max_connections), "4096", 1, 1000000, NULL, false, "concurrent connection limit" },
    { "idle_timeout", "RAGD_IDLE_TIMEOUT", NULL, CFG_INT, OFF(idle_timeout), "60", 1, 86400, NULL, false, "idle keep-alive connection timeout in seconds" },
    { "header_timeout", "RAGD_HEADER_TIMEOUT", NULL, CFG_INT, OFF(header_timeout), "10", 0, 86400, NULL, false, "seconds a client has for the whole request line and headers (0 = none)" },
    { "body_timeout", "RAGD_BODY_TIMEOUT", NULL, CFG_INT, OFF(body_timeout), "120", 0, 86400, NULL, false, "seconds a client has to send the whole request body (0 = none)" },
    { "max_key_bytes", "RAGD_MAX_KEY_BYTES", NULL, CFG_INT, OFF(max_key_bytes), "256", 16, 440, NULL, false, "longest cache key (less when prefix + user namespace leave less of the 448-byte store key)" },
    { "metrics_max_label_values", "RAGD_METRICS_MAX_LABEL_VALUES", NULL, CFG_INT, OFF(metrics_max_label_values), "100", 1, 700, NULL, false, "distinct client-chosen values per metric label (cache prefix, model); the rest count as _other" },
    { "memory_trim_interval", "RAGD_MEMORY_TRIM_INTERVAL", NULL, CFG_INT, OFF(memory_trim_interval), "10", 0, 86400, NULL, false, "seconds between returns of freed heap pages to the system (0 = never)" },
    { "embed_batch_max", "RAGD_EMBED_BATCH_MAX", NULL, CFG_INT, OFF(embed_batch_max), "2048", 1, 100000, NULL, false, "most texts in one embeddings request" },
    { "embed_max_request_tokens", "RAGD_EMBED_MAX_REQUEST_TOKENS", NULL, CFG_INT, OFF(embed_max_request_tokens), "131072", 0, 10000000000, NULL, false, "most word pieces one embeddings request may run on the local model (413 beyond; 0 = no cap)" },
    { "embed_user_tokens_per_minute", "RAGD_EMBED_USER_TOKENS_PER_MINUTE", NULL, CFG_INT, OFF(embed_user_tokens_per_minute), "0", 0, 10000000000, NULL, false, "word pieces a caller's embedding requests may run per minute (429 beyond; 0 = no cap)" },
    { "embed_threads", "RAGD_EMBED_THREADS", NULL, CFG_INT, OFF(embed_threads), "0", 0, 256, NULL, false, "embedding compute threads (0 = cores)" },
    { "embed_bulk_batch_tokens", "RAGD_EMBED_BULK_BATCH_TOKENS", NULL, CFG_INT, OFF(embed_bulk_batch_tokens), "128", 1, 1000000, NULL, false, "word pieces per bulk micro-batch (ingestion, warm-up, large embedding calls); queries wait at most one" },
    { "embed_interactive_max_tokens", "RAGD_EMBED_INTERACTIVE_MAX_TOKENS", NULL, CFG_INT, OFF(embed_interactive_max_tokens), "4096", 0, 100000000, NULL, false, "an embedding request of more word pieces runs as bulk work (0 = never)" },
    { "embed_precision", "RAGD_EMBED_PRECISION", NULL, CFG_ENUM, OFF(embed_precision), "auto", 0, 0, "auto|fp32|bf16", false, "embedding arithmetic precision (auto: the fastest that holds cosine >= 0.9999 to fp32, measured at start)" },
    { "embed_precision_remeasure", "RAGD_EMBED_PRECISION_REMEASURE", "--remeasure", CFG_BOOL, OFF(embed_precision_remeasure), "0", 0, 1, NULL, false, "embed_precision=auto: measure at this start even when the data directory keeps a measurement that still holds" },
    { "search_max_limit", "RAGD_SEARCH_MAX_LIMIT", NULL, CFG_INT, OFF(search_max_limit), "1000", 1, 100000, NULL, false, "largest `limit` a search may ask for" },
    { "kb_snapshot_interval", "RAGD_KB_SNAPSHOT_INTERVAL", NULL, CFG_INT, OFF(kb_snapshot_interval), "60", 0, 86400, NULL, false, "seconds between snapshots of changed namespaces (a restart loads them and replays the log since); 0 = only at shutdown" },
    { "kb_batch_max", "RAGD_KB_BATCH_MAX", NULL, CFG_INT, OFF(kb_batch_max), "1000", 1, 100000, NULL, false, "most documents in one upsert request" },
    { "kb_max_request_chunks", "RAGD_KB_MAX_REQUEST_CHUNKS", NULL, CFG_INT, OFF(kb_max_request_chunks), "1024", 0, 100000000, NULL, false, "most chunks one document upsert may embed (413 beyond; 0 = no cap)" },
    { "kb_max_request_tokens", "RAGD_KB_MAX_REQUEST_TOKENS", NULL, CFG_INT, OFF(kb_max_request_tokens), "131072", 0, 10000000000, NULL, false, "most word pieces one document upsert may embed (413 beyond; 0 = no cap)" },
    { "kb_user_tokens_per_minute", "RAGD_KB_USER_TOKENS_PER_MINUTE", NULL, CFG_INT, OFF(kb_user_tokens_per_minute), "0", 0, 10000000000, NULL, false, "word pieces a caller's document upserts may embed per minute (429 beyond; 0 = no cap)" },
    { "kb_async_threshold", "RAGD_KB_ASYNC_THRESHOLD", NULL, CFG_INT, OFF(kb_async_threshold), "1000", 0, 100000000, NULL, false, "a document upsert with more documents than this runs as a background job (202) unless it asks \"wait\": true" },
    { "jobs_workers", "RAGD_JOBS_WORKERS", NULL, CFG_INT, OFF(jobs_workers), "1", 1, 64, NULL, false, "ingestion job worker threads (jobs take turns, one group at a time)" },
    { "jobs_retention", "RAGD_JOBS_RETENTION", NULL, CFG_INT, OFF(jobs_retention), "604800", 1, 315360000, NULL, false, "seconds a finished ingestion job stays readable" },
    { "jobs_lease_ms", "RAGD_JOBS_LEASE_MS", NULL, CFG_INT, OFF(jobs_lease_ms), "30000", 100, 3600000, NULL, false, "lease of the instance running a job; another instance takes the job over when it lapses" },
    { "jobs_group_documents", "RAGD_JOBS_GROUP_DOCUMENTS", NULL, CFG_INT, OFF(jobs_group_documents), "32", 1, 10000, NULL, false, "documents a job indexes per turn (they become searchable together)" },
    { "jobs_group_tokens", "RAGD_JOBS_GROUP_TOKENS", NULL, CFG_INT, OFF(jobs_group_tokens), "8192", 1, 100000000, NULL, false, "word pieces a job indexes per turn (a larger document takes a turn alone)" },
    { "jobs_max_documents", "RAGD_JOBS_MAX_DOCUMENTS", NULL, CFG_INT, OFF(jobs_max_documents), "100000", 1, 100000000, NULL, false, "most documents in one ingestion job" },
    { "jobs_group_delay_ms", "RAGD_JOBS_GROUP_DELAY_MS", NULL, CFG_INT, OFF(jobs_group_delay_ms), "0", 0, 600000, NULL, false, "pause before each turn of a job (a slow-down for tests; keep 0)" },
    { "jobs_scan_interval_ms", "RAGD_JOBS_SCAN_INTERVAL_MS", NULL, CFG_INT, OFF(jobs_scan_interval_ms), "2000", 100, 3600000, NULL, false, "on Redis: how often an instance looks for jobs whose lease lapsed" },
    { "admin_key", "RAGD_ADMIN_KEY", "--admin-key", CFG_STR, OFF(admin_key), "", 0, 0, NULL, true, "bootstrap admin API key (turns authentication on)" },
    { "allowed_hosts", "RAGD_ALLOWED_HOSTS", "--allowed-hosts", CFG_STR, OFF(allowed_hosts), "", 0, 0, NULL, false, "host names the Host header may carry besides IP addresses, localhost and the listen host (comma-separated, .example.com for subdomains, * = any); checked while auth is off or when set" },
    { "allowed_origins", "RAGD_ALLOWED_ORIGINS", "--allowed-origins", CFG_STR, OFF(allowed_origins), "", 0, 0, NULL, false, "browser origins besides the server's own that may send POST/PUT/PATCH/DELETE (comma-separated, * = any)" },
    { "allow_unauthenticated", "RAGD_ALLOW_UNAUTHENTICATED", "--allow-unauthenticated", CFG_BOOL, OFF(allow_unauthenticated), "0", 0, 1, NULL, false, "allow a non-loopback listen address without authentication" },
    { "metrics_key", "RAGD_METRICS_KEY", NULL, CFG_STR, OFF(metrics_key), "", 0, 0, NULL, true, "secret that GET /metrics then requires (Authorization: Bearer or X-API-Key)" },
    { "ratelimit_failure", "RAGD_RATELIMIT_FAILURE", NULL, CFG_ENUM, OFF(ratelimit_failure), "open", 0, 0, "open|closed", false, "rate limits while the store is down: allow (open) or refuse (closed)" },
    { "session_max_bytes", "RAGD_SESSION_MAX_BYTES", NULL, CFG_SIZE, OFF(session_max_bytes), "65536", 256, 16777216, NULL, false, "largest session document or message" },
    { "session_max_messages", "RAGD_SESSION_MAX_MESSAGES", NULL, CFG_INT, OFF(session_max_messages), "1000", 1, 100000, NULL, false, "messages kept per session (oldest dropped)" },
    { "session_default_ttl", "RAGD_SESSION_DEFAULT_TTL", NULL, CFG_INT, OFF(session_default_ttl), "86400", 1, 315360000, NULL, false, "session TTL in seconds when none is given" },
    { "upstream_url", "RAGD_UPSTREAM_URL", "--upstream", CFG_STR, OFF(upstream_url), "", 0, 0, NULL, false, "default OpenAI-compatible LLM upstream base URL (serves every model)" },
    { "upstream_api_key", "RAGD_UPSTREAM_API_KEY", NULL, CFG_STR, OFF(upstream_api_key), "", 0, 0, NULL, true, "API key of the default upstream" },
    { "upstream_timeout_ms", "RAGD_UPSTREAM_TIMEOUT_MS", NULL, CFG_INT, OFF(upstream_timeout_ms), "600000", 1, 86400000, NULL, false, "upstream call timeout (whole generation)" },
    { "gateway_retries", "RAGD_GATEWAY_RETRIES", NULL, CFG_INT, OFF(gateway_retries), "2", 0, 10, NULL, false, "retries of upstream 429/5xx/connection errors" },
    { "gateway_retry_base_ms", "RAGD_GATEWAY_RETRY_BASE_MS", NULL, CFG_INT, OFF(gateway_retry_base_ms), "200", 0, 60000, NULL, false, "first retry backoff (doubles, full jitter)" },
    { "gateway_retry_max_ms", "RAGD_GATEWAY_RETRY_MAX_MS", NULL, CFG_INT, OFF(gateway_retry_max_ms), "10000", 0, 600000, NULL, false, "longest wait before a retry (a longer Retry-After is passed to the client)" },
    { "gateway_breaker_failures", "RAGD_GATEWAY_BREAKER_FAILURES", NULL, CFG_INT, OFF(gateway_breaker_failures), "5", 1, 1000, NULL, false, "consecutive upstream failures that open a provider's circuit" },
    { "semantic_cache", "RAGD_SEMANTIC_CACHE", NULL, CFG_ENUM, OFF(semantic_cache), "on", 0, 0, "on|off", false, "semantic cache of gateway answers (needs the embedding model)" },
    { "semantic_threshold", "RAGD_SEMANTIC_THRESHOLD", NULL, CFG_DOUBLE, OFF(semantic_threshold), "0.85", 0, 0, NULL, false, "cosine similarity a semantic hit needs (per request: x-ragd-semantic-threshold)", 0, 1 },
    { "semantic_max_temperature", "RAGD_SEMANTIC_MAX_TEMPERATURE", NULL, CFG_DOUBLE, OFF(semantic_max_temperature), "0.3", 0, 0, NULL, false, "only requests with temperature <= this (and no tools) use the semantic cache", 0, 2 },
    { "semantic_max_entries", "RAGD_SEMANTIC_MAX_ENTRIES", NULL, CFG_INT, OFF(semantic_max_entries), "100000", 0, 100000000, NULL, false, "prompts kept in the semantic index" },
    { "semcache_distance_threshold", "RAGD_SEMCACHE_DISTANCE_THRESHOLD", NULL, CFG_DOUBLE, OFF(semcache_distance_threshold), "0.1", 0, 0, NULL, false, "cosine distance (1 - similarity) a hit of the semantic-cache API is within unless the request gives distance_threshold (RedisVL's default)", 0, 2 },
    { "gateway_breaker_cooldown_ms", "RAGD_GATEWAY_BREAKER_COOLDOWN_MS", NULL, CFG_INT, OFF(gateway_breaker_cooldown_ms), "30000", 1, 3600000, NULL, false, "open circuit time before a probe" },
    { "rerank_model_dir", "RAGD_RERANK_MODEL_DIR", "--rerank-model-dir", CFG_STR, OFF(rerank_model_dir), "", 0, 0, NULL, false, "local cross-encoder directory (none: the config file's reranker section, else embedding cosine)" },
    { "rerank_precision", "RAGD_RERANK_PRECISION", NULL, CFG_ENUM, OFF(rerank_precision), "bf16", 0, 0, "fp32|bf16", false, "cross-encoder arithmetic precision (bf16 needs AMX or AVX512-BF16, else fp32 runs)" },
    { "rerank_budget_ms", "RAGD_RERANK_BUDGET_MS", NULL, CFG_INT, OFF(rerank_budget_ms), "100", 0, 600000, NULL, false, "re-ranking latency budget of a RAG query in ms (0 = none)" },
    { "rerank_depth", "RAGD_RERANK_DEPTH", NULL, CFG_INT, OFF(rerank_depth), "30", 1, 100000, NULL, false, "candidates a RAG query re-scores at most (top M)" },
    { "route_threshold", "RAGD_ROUTE_THRESHOLD", NULL, CFG_DOUBLE, OFF(route_threshold), "0.35", 0, 0, NULL, false, "namespace routing: best cosine below which a query routes to none", -1, 1 },
    { "health_unhealthy_after", "RAGD_HEALTH_UNHEALTHY_AFTER", NULL, CFG_INT, OFF(health_unhealthy_after), "30", 0, 86400, NULL, false, "seconds the store may be unreachable before /health answers 503 unhealthy (0 = at once)" },
    { "user_content_namespace", "RAGD_USER_CONTENT_NAMESPACE", NULL, CFG_PREFIX, OFF(user_content_namespace), "user_content", 0, 0, NULL, false, "knowledge-base namespace holding per-user items stored by embeddings/generate" },
    { "user_content_ttl", "RAGD_USER_CONTENT_TTL", NULL, CFG_STR, OFF(user_content_ttl), "", 0, 0, NULL, false, "TTL per content type of user items: type=seconds,... (plural or singular, * = any other type, 0 or absent = no expiry); a request's ttl overrides it" },
    { "rerank_max_candidates", "RAGD_RERANK_MAX_CANDIDATES", NULL, CFG_INT, OFF(rerank_max_candidates), "1000", 1, 100000, NULL, false, "most candidates accepted by a rerank request" },
};
#pragma GCC diagnostic pop

#define CFG_N (sizeof cfg_table / sizeof cfg_table[0])
_Static_assert(CFG_N <= 96, "ragd_config.sources is too small");

static char **cfg__str(ragd_config *c, const cfg_entry *e)
{
    return (char **)((char *)c + e->off);
}

static int64_t *cfg__int(ragd_config *c, const cfg_entry *e)
{
    return (int64_t *)((char *)c + e->off);
}

static double *cfg__double(ragd_config *c, const cfg_entry *e)
{
    return (double *)((char *)c + e->off);
}

static int cfg__parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    double mul = 1;
    if (*end) {
        char u[8] = { 0 };
        size_t i = 0;
        for (; end[i] && i < sizeof u - 1; i++)
            u[i] = (char)tolower((unsigned char)end[i]);
        if (end[i])
            return -1;
        if (!strcmp(u, "b")) mul = 1;
        else if (!strcmp(u, "k") || !strcmp(u, "kb") || !strcmp(u, "kib")) mul = 1024.0;
        else if (!strcmp(u, "m") || !strcmp(u, "mb") || !strcmp(u, "mib")) mul = 1048576.0;
        else if (!strcmp(u, "g") || !strcmp(u, "gb") || !strcmp(u, "gib")) mul = 1073741824.0;
        else if (!strcmp(u, "t") || !strcmp(u, "tb") || !strcmp(u, "tib")) mul = 1099511627776.0;
        else return -1;
    }
    v *= mul;
    if (v > 9.2e18)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static bool cfg__valid_prefix(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return false;
    return true;
}

static bool cfg__in_choices(const char *v, const char *choices)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0)
            return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

/* Set one entry from text; `where` names the source for the error message. */
static int cfg__set(ragd_config *c, const cfg_entry *e, const char *v, const char *where,
                    ragd_error *err)
{
    int64_t n;
    char *end;
    switch (e->type) {
    case CFG_INT:
        errno = 0;
        n = strtoll(v, &end, 10);
        if (!*v || *end || errno || n < e->min || n > e->max)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "%s: '%s' is not an integer in [%lld, %lld]", where, v,
                                  (long long)e->min, (long long)e->max);
        *cfg__int(c, e) = n;
        return RAGD_OK;
    case CFG_SIZE:
        if (cfg__parse_size(v, &n) || n < e->min || n > e->max)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "%s: '%s' is not a size in bytes (e.g. 1024, 64MiB, 2GiB) in "
                                  "[%lld, %lld]", where, v, (long long)e->min, (long long)e->max);
        *cfg__int(c, e) = n;
        return RAGD_OK;
    case CFG_DOUBLE: {
        errno = 0;
        double d = strtod(v, &end);
        if (!*v || *end || errno || !(d >= e->dmin && d <= e->dmax))
            return ragd_error_set(err, RAGD_EINVAL, "%s: '%s' is not a number in [%g, %g]",
                                  where, v, e->dmin, e->dmax);
        *cfg__double(c, e) = d;
        return RAGD_OK;
    }
    case CFG_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            *cfg__int(c, e) = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            *cfg__int(c, e) = 0;
        else
            return ragd_error_set(err, RAGD_EINVAL, "%s: '%s' is not a boolean (1/0, true/false)",
                                  where, v);
        return RAGD_OK;
    case CFG_ENUM:
        if (!cfg__in_choices(v, e->choices))
            return ragd_error_set(err, RAGD_EINVAL, "%s: '%s' is not one of %s", where, v,
                                  e->choices);
        break;
    case CFG_PREFIX:
        if (!cfg__valid_prefix(v))
            return ragd_error_set(err, RAGD_EINVAL,
                                  "%s: '%s' must be 1-64 characters of [A-Za-z0-9_.-]", where, v);
        break;
    default:
        break;
    }
    char **sp = cfg__str(c, e);
    free(*sp);
    *sp = xstrdup(v);
    return RAGD_OK;
}

void config_init(ragd_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CFG_N; i++) {
        int rc = cfg__set(c, &cfg_table[i], cfg_table[i].def, cfg_table[i].key, NULL);
        (void)rc;
        c->sources[i] = "default";
    }
}

void config_free(ragd_config *c)
{
    for (size_t i = 0; i < CFG_N; i++) {
        int t = cfg_table[i].type;
        if (t == CFG_STR || t == CFG_ENUM || t == CFG_PREFIX)
            free(*cfg__str(c, &cfg_table[i]));
    }
    free(c->config_file);
    cJSON_Delete(c->file);
    memset(c, 0, sizeof *c);
}

/* Index of the newline ending the line at i (n if none). */
static size_t cfg__line_end(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] != '\n')
        i++;
    return i;
}

/* The config file is JSON with comments (JSONC, as editors' settings files):
 * `//` to the end of the line and a comma before `}` or `]` are blanked to
 * spaces outside strings, so byte offsets in parse errors stay true. A JSON
 * string never spans lines, so a line comment cannot hide inside one. */
void config_strip_comments(char *s, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (s[i] == '\\' && i + 1 < n)
                i++;
            else if (s[i] == '"')
                in_str = false;
        } else if (s[i] == '"') {
            in_str = true;
        } else if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
            for (; i < n && s[i] != '\n'; i++)
                s[i] = ' ';
        } else if (s[i] == ',') {
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' ||
                             (s[j] == '/' && j + 1 < n && s[j + 1] == '/')))
                j = s[j] == '/' ? cfg__line_end(s, n, j) : j + 1;
            if (j < n && (s[j] == '}' || s[j] == ']'))
                s[i] = ' ';
        }
    }
}

static int cfg__load_file(ragd_config *c, const char *path, ragd_error *err)
{
    char *text = NULL;
    size_t n = 0;
    int rc = file_read_all(path, &text, &n);
    if (rc)
        return ragd_error_set(err, rc, "config file %s: %s", path, strerror(errno));
    config_strip_comments(text, n);
    ragd_error jerr;
    cJSON *root = NULL;
    rc = json_parse(text, n, &root, &jerr);
    free(text);
    if (rc)
        return ragd_error_set(err, rc, "config file %s: %s", path, jerr.msg);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ragd_error_set(err, RAGD_EINVAL, "config file %s: must be a JSON object", path);
    }
    for (size_t i = 0; i < CFG_N; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, cfg_table[i].key);
        if (!v)
            continue;
        char num[64], where[300];
        const char *txt;
        if (cJSON_IsString(v))
            txt = v->valuestring;
        else if (cJSON_IsBool(v))
            txt = cJSON_IsTrue(v) ? "true" : "false";
        else if (cJSON_IsNumber(v))
            snprintf(num, sizeof num, cfg_table[i].type == CFG_DOUBLE ? "%.17g" : "%.0f",
                     v->valuedouble), txt = num;
        else
            txt = "(not a string or number)";
        snprintf(where, sizeof where, "%s (in %s)", cfg_table[i].key, path);
        if ((rc = cfg__set(c, &cfg_table[i], txt, where, err))) {
            cJSON_Delete(root);
            return rc;
        }
        c->sources[i] = "file";
    }
    c->file = root;
    return RAGD_OK;
}

int config_load(ragd_config *c, int argc, char **argv, ragd_error *err)
{
    const char *file = getenv("RAGD_CONFIG");
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0)
            file = argv[i + 1];
    int rc;
    if (file && *file) {
        c->config_file = xstrdup(file);
        if ((rc = cfg__load_file(c, file, err)))
            return rc;
    }
    for (size_t i = 0; i < CFG_N; i++) {
        const char *v = getenv(cfg_table[i].env);
        if (!v)
            continue;
        if ((rc = cfg__set(c, &cfg_table[i], v, cfg_table[i].env, err)))
            return rc;
        c->sources[i] = "env";
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        size_t k = 0;
        for (; k < CFG_N; k++)
            if (cfg_table[k].flag && strlen(cfg_table[k].flag) == alen &&
                memcmp(cfg_table[k].flag, a, alen) == 0)
                break;
        if (k == CFG_N)
            return ragd_error_set(err, RAGD_EINVAL, "unknown option '%.*s' (see ragd --help)",
                                  (int)alen, a);
        const char *v = eq ? eq + 1
                        : cfg_table[k].type == CFG_BOOL ? "true"  /* a bare switch */
                        : (i + 1 < argc ? argv[++i] : NULL);
        if (!v)
            return ragd_error_set(err, RAGD_EINVAL, "%s needs a value", cfg_table[k].flag);
        if ((rc = cfg__set(c, &cfg_table[k], v, cfg_table[k].flag, err)))
            return rc;
        c->sources[k] = "flag";
    }
    config_resolve_dirs(c);
    return RAGD_OK;
}

void config_redact_url(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *at = strrchr(url, '@');
    if (!scheme || !at || at < scheme) {
        snprintf(out, n, "%s", url);
        return;
    }
    const char *userinfo = scheme + 3;
    const char *colon = memchr(userinfo, ':', (size_t)(at - userinfo));
    if (colon)
        snprintf(out, n, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, n, "%.*s***%s", (int)(userinfo - url), url, at);
}

void config_resolve_dirs(ragd_config *c)
{
    const char *home = getenv("HOME");
    char path[4096];
    if (!c->data_dir[0]) {
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && *xdg)
            snprintf(path, sizeof path, "%s/ragd", xdg);
        else
            snprintf(path, sizeof path, "%s/.local/share/ragd", home ? home : ".");
        free(c->data_dir);
        c->data_dir = xstrdup(path);
    }
    if (!c->model_dir[0]) {
        const char *mc = getenv("RAGD_MODEL_CACHE");
        if (mc && *mc)
            snprintf(path, sizeof path, "%s/all-MiniLM-L6-v2", mc);
        else
            snprintf(path, sizeof path, "%s/.cache/ragd/models/all-MiniLM-L6-v2",
                     home ? home : ".");
        free(c->model_dir);
        c->model_dir = xstrdup(path);
    }
}

/* A setting's value as config_print shows it, secrets redacted. */
static void cfg__shown(const ragd_config *c, const cfg_entry *e, char *val, size_t n)
{
    if (e->type == CFG_INT || e->type == CFG_SIZE || e->type == CFG_BOOL) {
        snprintf(val, n, "%lld", (long long)*cfg__int((ragd_config *)c, e));
    } else if (e->type == CFG_DOUBLE) {
        snprintf(val, n, "%g", *cfg__double((ragd_config *)c, e));
    } else {
        const char *s = *cfg__str((ragd_config *)c, e);
        if (e->secret && !strstr(s, "://"))
            snprintf(val, n, "%s", *s ? "***" : "");
        else if (e->secret)
            config_redact_url(s, val, n);
        else
            snprintf(val, n, "%s", s);
    }
}

void config_print(const ragd_config *c, FILE *out)
{
    int kw = 0, vw = 0;
    char val[4200];
    for (size_t i = 0; i < CFG_N; i++) {
        cfg__shown(c, &cfg_table[i], val, sizeof val);
        if ((int)strlen(cfg_table[i].key) > kw)
            kw = (int)strlen(cfg_table[i].key);
        if ((int)strlen(val) > vw)
            vw = (int)strlen(val);
    }
    for (size_t i = 0; i < CFG_N; i++) {
        cfg__shown(c, &cfg_table[i], val, sizeof val);
        fprintf(out, "%-*s = %-*s  (%s)\n", kw, cfg_table[i].key, vw, val, c->sources[i]);
    }
}

void config_print_flags(FILE *out)
{
    for (size_t i = 0, n = 0; i < CFG_N; i++)
        if (cfg_table[i].flag)
            fprintf(out, n++ ? " %s" : "%s", cfg_table[i].flag);
}

/* A setting's default as help shows it: resolved paths, "none" for empty. */
static void cfg__help_default(const ragd_config *d, const cfg_entry *e, char *out, size_t n)
{
    if (e->type == CFG_STR) {
        const char *s = *cfg__str((ragd_config *)d, e);
        snprintf(out, n, "%s", s[0] ? s : "none");
    } else {
        snprintf(out, n, "%s", e->def);
    }
}

void config_print_help(FILE *out)
{
    ragd_config d;
    config_init(&d);
    config_resolve_dirs(&d);
    int fw = (int)strlen("--config FILE"), ew = (int)strlen("RAGD_CONFIG");
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        if (e->flag && (int)strlen(e->flag) > fw)
            fw = (int)strlen(e->flag);
        if ((int)strlen(e->env) > ew)
            ew = (int)strlen(e->env);
    }
    fprintf(out, "Settings (flag > environment > config file > default; flags also as "
                 "--flag=value):\n");
    fprintf(out, "  %-*s  %-*s  %s [default: none]\n", fw, "--config FILE", ew, "RAGD_CONFIG",
            "settings file: a JSON object of settings and sections (docs/CONFIGURATION.md)");
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        char def[4200];
        cfg__help_default(&d, e, def, sizeof def);
        fprintf(out, "  %-*s  %-*s  %s [default: %s]\n", fw, e->flag ? e->flag : "", ew, e->env,
                e->help, def);
    }
    config_free(&d);
}

/* Print text as `//` comment lines indented by four, wrapped before column 90. */
static void cfg__comment(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t len = strlen(p), cut = len;
        if (len > 82) {
            cut = 82;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = len;
        }
        fprintf(out, "    // %.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* What values a setting accepts, in words. */
static void cfg__rule(const cfg_entry *e, char *out, size_t n)
{
    switch (e->type) {
    case CFG_INT:
        snprintf(out, n, "an integer in [%lld, %lld]", (long long)e->min, (long long)e->max);
        break;
    case CFG_SIZE:
        if (e->max == INT64_MAX)
            snprintf(out, n, "a size in bytes (1024, 64MiB, 2GiB as a string), at least %lld",
                     (long long)e->min);
        else
            snprintf(out, n, "a size in bytes (1024, 64MiB, 2GiB as a string) in [%lld, %lld]",
                     (long long)e->min, (long long)e->max);
        break;
    case CFG_DOUBLE:
        snprintf(out, n, "a number in [%g, %g]", e->dmin, e->dmax);
        break;
    case CFG_BOOL:
        snprintf(out, n, "true or false");
        break;
    case CFG_ENUM:
        snprintf(out, n, "one of %s", e->choices);
        break;
    case CFG_PREFIX:
        snprintf(out, n, "1-64 characters of [A-Za-z0-9_.-]");
        break;
    default:
        snprintf(out, n, "%s", e->secret ? "a secret: the environment variable keeps it "
                                           "out of files" : "");
    }
}

/* A setting's value as a JSON literal: its default (def) or, when set, c's value. */
static void cfg__json_value(const ragd_config *c, const cfg_entry *e, bool set, FILE *out)
{
    ragd_config *m = (ragd_config *)c;
    if ((e->type == CFG_INT || e->type == CFG_SIZE) && set)
        fprintf(out, "%lld", (long long)*cfg__int(m, e));
    else if (e->type == CFG_INT || e->type == CFG_SIZE)
        fprintf(out, "%s", e->def);
    else if (e->type == CFG_BOOL)
        fprintf(out, "%s", (set ? *cfg__int(m, e) : atoi(e->def)) ? "true" : "false");
    else if (e->type == CFG_DOUBLE)
        fprintf(out, "%.15g", set ? *cfg__double(m, e) : strtod(e->def, NULL));
    else {
        cJSON *s = cJSON_CreateString(set ? *cfg__str(m, e) : e->def);
        char *txt = cJSON_PrintUnformatted(s);
        fprintf(out, "%s", txt ? txt : "\"\"");
        cJSON_free(txt);
        cJSON_Delete(s);
    }
}

void config_print_example(const ragd_config *c, FILE *out)
{
    fprintf(out, "// ragd.conf.example - every ragd setting, generated by `ragd config --example`\n"
                 "// from the settings table. ragd reads a config file given by --config FILE or\n"
                 "// RAGD_CONFIG: JSON where `//` comments and trailing commas are allowed.\n"
                 "// Remove the `//` before a setting to change it. A flag or an environment\n"
                 "// variable overrides the file. Sections read by other parts (auth, gateway\n"
                 "// providers, reranker...) are described in docs/CONFIGURATION.md.\n{\n");
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry *e = &cfg_table[i];
        bool set = c->sources[i] && !strcmp(c->sources[i], "flag");
        char line[512], rule[200];
        cfg__rule(e, rule, sizeof rule);
        snprintf(line, sizeof line, "%s%s%senvironment %s%s%s.", e->flag ? "flag " : "",
                 e->flag ? e->flag : "", e->flag ? ", " : "", e->env, rule[0] ? "; " : "", rule);
        fprintf(out, i ? "\n" : "");
        cfg__comment(out, e->help);
        cfg__comment(out, line);
        fprintf(out, "    %s\"%s\": ", set ? "" : "// ", e->key);
        cfg__json_value(c, e, set, out);
        fprintf(out, ",\n");
    }
    fprintf(out, "}\n");
}
