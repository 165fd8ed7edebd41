/*
 * config.h - ragd's settings. One table lists every setting with its config
 * file key, environment variable, command-line flag, type, default and check;
 * precedence is flags > environment > config file (JSON with // comments)
 * > defaults. A bad
 * value is refused with a message that names the setting.
 */
#ifndef RAGD_CONFIG_H
#define RAGD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "util/err.h"

typedef struct ragd_config {
    char *listen;
    char *data_dir;
    char *redis_url;
    char *key_prefix;
    char *config_file;
    char *model_dir;
    char *log_level;
    char *log_format;                 /* json | text */
    char *store_fsync;
    int64_t cache_default_ttl;        /* seconds */
    int64_t cache_embedding_ttl;
    int64_t cache_response_ttl;
    int64_t cache_compression_threshold;  /* bytes */
    int64_t store_max_bytes;
    int64_t store_map_size;
    int64_t store_map_max_size;       /* the LMDB map grows up to this when it fills */
    int64_t redis_pool_size;
    int64_t redis_timeout_ms;
    int64_t redis_wait_replicas;      /* WAIT for this many replicas after each write */
    int64_t repl_log_keep;            /* records each change log keeps */
    int64_t redis_wait_timeout_ms;
    int64_t redis_read_replicas;      /* 1 = generic cache GETs may read a replica */
    char *redis_sentinel_user;        /* AUTH for the sentinels of redis+sentinel:// */
    char *redis_sentinel_password;
    int64_t http_threads;
    int64_t max_body_bytes;
    int64_t max_connections;
    int64_t idle_timeout;             /* seconds */
    int64_t header_timeout;           /* seconds for the whole header block */
    int64_t body_timeout;             /* seconds for the whole body */
    int64_t max_key_bytes;
    int64_t metrics_max_label_values; /* per label family (prefix, model), then _other */
    int64_t embed_batch_max;          /* texts per embeddings request */
    int64_t memory_trim_interval;     /* seconds between malloc_trim calls (0 = never) */
    int64_t embed_max_request_tokens; /* word pieces one embeddings request may run (0 = no cap) */
    int64_t embed_user_tokens_per_minute; /* per caller, embedding routes (0 = no cap) */
    int64_t embed_threads;
    int64_t embed_bulk_batch_tokens;  /* word pieces per bulk micro-batch */
    int64_t embed_interactive_max_tokens; /* larger embedding requests run as bulk */
    char *embed_precision;            /* auto | fp32 | bf16 */
    int64_t embed_precision_remeasure; /* 1 = measure even when the kept choice holds */
    int64_t search_max_limit;         /* largest `limit` of a search */
    int64_t kb_batch_max;             /* documents per upsert request */
    int64_t kb_snapshot_interval;     /* seconds between namespace snapshots; 0 = at exit only */
    int64_t kb_max_request_chunks;    /* chunks one upsert may embed (0 = no cap) */
    int64_t kb_max_request_tokens;    /* word pieces one upsert may embed (0 = no cap) */
    int64_t kb_user_tokens_per_minute; /* per caller, GCRA (0 = no cap) */
    int64_t kb_async_threshold;       /* upserts of more documents run as jobs */
    int64_t jobs_workers;             /* ingestion job worker threads */
    int64_t jobs_retention;           /* seconds a finished job stays readable */
    int64_t jobs_lease_ms;            /* a running job's lease (taken over after) */
    int64_t jobs_group_documents;     /* documents indexed per turn of a job */
    int64_t jobs_group_tokens;        /* word pieces indexed per turn of a job */
    int64_t jobs_max_documents;       /* documents per job */
    int64_t jobs_group_delay_ms;      /* pause before each group (tests) */
    int64_t jobs_scan_interval_ms;    /* shared store: search for orphaned jobs */
    char *admin_key;                  /* bootstrap admin API key ("" = none) */
    int64_t allow_unauthenticated;    /* 1 = may listen beyond loopback without auth */
    char *allowed_hosts;              /* Host names accepted besides IPs/localhost/listen */
    char *allowed_origins;            /* cross-origin browsers allowed to change state */
    char *metrics_key;                /* "" = /metrics follows auth.open_routes */
    char *ratelimit_failure;          /* open | closed: rate limits while the store is down */
    int64_t session_max_bytes;        /* largest session document / message */
    int64_t session_max_messages;     /* history kept per session (oldest dropped) */
    int64_t session_default_ttl;      /* seconds */
    char *upstream_url;               /* default LLM upstream (gateway) */
    char *upstream_api_key;
    int64_t upstream_timeout_ms;
    int64_t gateway_retries;          /* retries of 429/5xx/connection errors */
    int64_t gateway_retry_base_ms;
    int64_t gateway_retry_max_ms;     /* longest wait before a retry */
    int64_t gateway_breaker_failures; /* consecutive failures that open it */
    int64_t gateway_breaker_cooldown_ms;
    char *semantic_cache;             /* on | off */
    double semantic_threshold;        /* cosine similarity in [0, 1] */
    double semantic_max_temperature;  /* qualifying requests: temperature <= this */
    int64_t semantic_max_entries;
    double semcache_distance_threshold; /* the semantic-cache API's default, in [0, 2] */
    char *rerank_model_dir;           /* local cross-encoder ("" = none) */
    char *rerank_precision;           /* fp32 | bf16 */
    int64_t rerank_budget_ms;         /* re-rank latency budget (0 = none) */
    int64_t rerank_depth;             /* candidates re-scored at most */
    int64_t rerank_max_candidates;    /* candidates accepted per rerank request */
    double route_threshold;           /* namespace routing: cosine below which "none" */
    int64_t health_unhealthy_after;   /* seconds of store outage before /health is 503 */
    char *user_content_namespace;     /* namespace of per-user items (embeddings/generate) */
    char *user_content_ttl;           /* "type=seconds,..." TTL per content type of user items */
    cJSON *file;                      /* the parsed config file (NULL if none);
                                         sections for other modules live here */
    const char *sources[96];          /* where each table entry's value came from */
} ragd_config;

/* Fill cfg with defaults. Free with config_free(). */
void config_init(ragd_config *cfg);
void config_free(ragd_config *cfg);

/* Apply the config file (cfg->config_file, else RAGD_CONFIG), then the
 * environment, then argv flags (argv[0..argc) are the flags only; unknown
 * flags are an error). err names the offending setting. */
int config_load(ragd_config *cfg, int argc, char **argv, ragd_error *err);

/* Fill an empty data_dir / model_dir with the default paths ($XDG_DATA_HOME/ragd or
 * ~/.local/share/ragd; $RAGD_MODEL_CACHE/all-MiniLM-L6-v2 or
 * ~/.cache/ragd/models/all-MiniLM-L6-v2). config_load does it. */
void config_resolve_dirs(ragd_config *cfg);

/* Print the effective configuration, secrets redacted, one "key = value  (source)"
 * per line; paths resolved. */
void config_print(const ragd_config *cfg, FILE *out);

/* Print the flag/env reference for --help: aligned columns, every environment
 * variable, defaults resolved. */
void config_print_help(FILE *out);

/* Print every command-line flag, space-separated (shell completion). */
void config_print_flags(FILE *out);

/* Print ragd.conf.example: every setting with its help, accepted values, flag and
 * environment variable, commented out at its default; settings that cfg took
 * from a flag are printed set to that value instead (an example for a package:
 * `ragd config --example --data-dir /var/lib/ragd`). The output is a valid
 * config file (config_strip_comments). */
void config_print_example(const ragd_config *cfg, FILE *out);

/* Blank `//` comments and trailing commas (before `}` or `]`) outside strings
 * in s[0..n) to spaces, in place, so that JSON with comments (JSONC) parses as
 * JSON with the same byte offsets. The config file loader calls it. */
void config_strip_comments(char *s, size_t n);

/* Copy url into out with any password replaced by "***". */
void config_redact_url(const char *url, char *out, size_t n);

#endif
