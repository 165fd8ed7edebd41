/*
 * app.c - start-up and shut-down order: config is loaded by main, then store,
 * cache, router and metrics; the server starts last and stops first.
 */
#include "app/app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "app/app_history.h"
#include "gateway/gateway.h"
#include "gateway/sem_log.h"
#include "gateway/semantic.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/memtrim.h"
#include "util/mem.h"

/* The data directory: the embedded store lives there (made now); on Redis
 * only the knowledge-base snapshots do, and kb makes their folder when it
 * writes the first one, so here it only has to be makeable. */
static int app__data_dir(const store_config *sc, ragd_error *err)
{
    int rc = sc->url ? file_dir_creatable(sc->data_dir) : file_mkdirs(sc->data_dir);
    if (!rc)
        return 0;
    const char *why = sc->url ? "knowledge-base snapshots are written there"
                              : "the embedded store lives there";
    return ragd_error_set(err, RAGD_EIO, "data_dir: %s cannot be created or written (%s): %s",
                          sc->data_dir, strerror(errno), why);
}

static int app__compute_embeddings(void *ud, const embed_work *w, const char *const *texts,
                                   const size_t *lens, size_t n, float *out, int *ntokens,
                                   bool *truncated)
{
    return embed_sched_encode(ud, w, texts, lens, n, out, ntokens, truncated);
}

/* Conversation memory (session relevant_to) embeds through the embedding cache. */
static int app__session_embed(void *ud, const char *const *texts, const size_t *lens, size_t n,
                              float *out)
{
    embcache_info info;
    memset(&info, 0, sizeof info);
    return embcache_embed(ud, texts, lens, n, out, &info);
}

/* Say which precision runs and, when measured at start, what was measured. */
static void app__log_precision(const embed_model *m, const char *data_dir)
{
    const embed_precision_choice *ch = embed_model_precision_choice(m);
    char trials[512] = "";
    size_t at = 0;
    for (size_t i = 0; i < ch->ntrials && at < sizeof trials; i++)
        at += (size_t)snprintf(trials + at, sizeof trials - at, "%s%s on %s: %.1f cpu-ms, min cosine "
                               "%.6f%s", i ? "; " : "", embed_precision_name(ch->trial[i].precision),
                               ch->trial[i].kernel, ch->trial[i].cpu_ms, ch->trial[i].min_cosine,
                               ch->trial[i].passed ? "" : " (below 0.9999)");
    if (ch->reused)
        log_msg(LOG_INFO, "embedding precision %s chosen by an earlier start's measurement, "
                "reused from %s/embed-precision (%s)", embed_precision_name(ch->chosen),
                data_dir, trials);
    else if (ch->measured)
        log_msg(LOG_INFO, "embedding precision %s chosen by measurement in %.0f ms over %zu texts "
                "(%s)", embed_precision_name(ch->chosen), ch->total_ms, ch->probe_texts, trials);
    else
        log_msg(LOG_INFO, "embedding precision %s (set by embed_precision)",
                embed_precision_name(embed_model_precision(m)));
}

/* Load the embedding model if its directory exists; ragd serves the cache
 * without it (embedding routes then answer 503 model_unavailable). */
static int app__open_embedder(app_t *app, ragd_error *err)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/config.json", app->cfg.model_dir);
    if (access(probe, R_OK) != 0) {
        log_msg(LOG_WARN, "no embedding model in %s: embedding routes are disabled "
                "(run `make run` or scripts/fetch_model.sh to fetch it)", app->cfg.model_dir);
        return RAGD_OK;
    }
    embed_opts eo;
    embed_default_opts(&eo);
    eo.threads = (int)app->cfg.embed_threads;
    embed_precision_parse(app->cfg.embed_precision, &eo.precision);
    /* the measured choice is kept in the data directory, if there is one: on
     * Redis it may not exist yet, and is not made only for this file */
    char pfile[4200];
    struct stat st;
    snprintf(pfile, sizeof pfile, "%s/embed-precision", app->cfg.data_dir);
    if (stat(app->cfg.data_dir, &st) == 0 && S_ISDIR(st.st_mode))
        eo.precision_file = pfile;
    eo.remeasure = app->cfg.embed_precision_remeasure != 0;
    ragd_error merr;
    int rc = embed_model_open(app->cfg.model_dir, &eo, &app->embed, &merr);
    if (rc)
        return ragd_error_set(err, rc, "model_dir %s: %s", app->cfg.model_dir, merr.msg);
    /* cached vectors are named by model only: every precision ragd runs holds
     * cosine >= 0.9999 to FP32, and with embed_precision=auto the choice may
     * differ between restarts, which must not empty the cache (nor rename the
     * cosine re-ranker, "cosine:<model>") */
    char key[160];
    snprintf(key, sizeof key, "%s", embed_model_name(app->embed));
    embed_sched_opts so;
    embed_sched_default_opts(&so);
    so.bulk_batch_tokens = (size_t)app->cfg.embed_bulk_batch_tokens;
    so.interactive_max_tokens = (size_t)app->cfg.embed_interactive_max_tokens;
    if ((rc = embed_sched_create(app->embed, &so, &app->sched)))
        return ragd_error_set(err, rc, "model scheduler: %s", ragd_strerror(rc));
    embcache_create(app->cache, key, embed_model_dim(app->embed), app->cfg.cache_embedding_ttl,
                    app__compute_embeddings, app->sched, &app->embcache);
    log_msg(LOG_INFO, "embedding model %s loaded (%zu dimensions, %s kernels)",
            embed_model_name(app->embed), embed_model_dim(app->embed),
            embed_model_kernel(app->embed));
    app__log_precision(app->embed, app->cfg.data_dir);
    return RAGD_OK;
}

/* A knowledge base's embeddings: upserts as bulk work under their tenant,
 * search queries as interactive work. */
static int app__kb_embed(void *ud, kb_embed_class cls, const char *tenant,
                         const char *const *texts, const size_t *lens, size_t n, float *out)
{
    embed_work w = { cls == KB_EMBED_BULK ? EMBED_BULK : EMBED_INTERACTIVE, tenant };
    return embcache_embed_as(ud, &w, texts, lens, n, out, NULL);
}

/* Namespaces of a provider's model embed through the gateway's cache of that
 * model (the gateway opens after the knowledge bases: resolved at use). */
static int app__kb_resolve(void *ud, const char *model, size_t dim, kb_embedder *out,
                           ragd_error *err)
{
    app_t *app = ud;
    embcache_t *ec = NULL;
    int rc = app->gateway && gateway_has_upstreams(app->gateway)
                 ? gateway_embedder_dim(app->gateway, model, dim, &ec, err)
                 : ragd_error_set(err, RAGD_ENOTFOUND, "'%s' is not loaded and no provider is "
                                  "configured", model);
    if (!rc)
        *out = (kb_embedder){ app__kb_embed, ec, embcache_dim(ec), true };
    return rc;
}

/* Knowledge bases: namespaces and their indexes are rebuilt from the store;
 * on a shared store they follow the other instances' change logs. */
static int app__open_kb(app_t *app, ragd_error *err)
{
    if (store_has(app->store, STORE_CAP_SHARED) && !app->repl) {
        repl_opts ro;
        repl_opts_default(&ro);
        ro.store = app->store;
        int rrc = repl_create(&ro, &app->repl);
        if (rrc)
            return ragd_error_set(err, rrc, "cannot start the replication follower");
    }
    char snap[4200];
    snprintf(snap, sizeof snap, "%s/kb-snapshots", app->cfg.data_dir);
    kb_opts ko = { .store = app->store, .max_docs_per_batch = (size_t)app->cfg.kb_batch_max,
                   .snapshot_dir = snap, .repl = app->repl, .resolve = app__kb_resolve,
                   .snapshot_interval_s = (int)app->cfg.kb_snapshot_interval,
                   .resolve_ud = app };
    if (app->embcache) {
        ko.tokenizer = embed_model_tokenizer(app->embed);
        ko.embed = app__kb_embed;
        ko.embed_ud = app->embcache;
        ko.dim = embed_model_dim(app->embed);
        ko.model = embed_model_name(app->embed);
        ko.max_chunk_tokens = (uint32_t)embed_model_max_tokens(app->embed) - 2;
    }
    int rc = kb_open(&ko, &app->kb, err);
    if (rc == 0) {
        kb_repl_status ks;
        kb_repl_status_get(app->kb, &ks);
        log_msg(LOG_INFO, "knowledge bases loaded in %.2f s (%zu namespaces from snapshots, "
                "%llu log records replayed, %llu rebuilt)", kb_load_seconds(app->kb),
                kb_snapshots_loaded(app->kb), (unsigned long long)ks.replayed,
                (unsigned long long)ks.rebuilds);
    }
    return rc;
}

/* Ingestion jobs: their workers resume the store's unfinished jobs. */
static int app__open_jobs(app_t *app, ragd_error *err)
{
    const ragd_config *cfg = &app->cfg;
    jobs_opts o;
    jobs_default_opts(&o);
    o.store = app->store;
    o.kb = app->kb;
    o.workers = (int)cfg->jobs_workers;
    o.retention_ms = cfg->jobs_retention * 1000;
    o.lease_ms = cfg->jobs_lease_ms;
    o.group_docs = (uint32_t)cfg->jobs_group_documents;
    o.group_tokens = (uint64_t)cfg->jobs_group_tokens;
    o.max_docs = (size_t)cfg->jobs_max_documents;
    o.max_chunks = (size_t)cfg->kb_max_request_chunks;
    o.max_tokens = (size_t)cfg->kb_max_request_tokens;
    o.tokens_per_minute = cfg->kb_user_tokens_per_minute;
    o.group_delay_ms = cfg->jobs_group_delay_ms;
    o.scan_interval_ms = cfg->jobs_scan_interval_ms;
    return jobs_create(&o, &app->jobs, err);
}

/* A section of the config file (borrowed from it), or NULL. */
static const cJSON *app__section(const ragd_config *cfg, const char *name)
{
    return cfg->file ? cJSON_GetObjectItemCaseSensitive(cfg->file, name) : NULL;
}

/* The re-ranker: remote, local cross-encoder, or the embedding cosine. */
static int app__open_reranker(app_t *app, ragd_error *err)
{
    const ragd_config *cfg = &app->cfg;
    rerank_opts o;
    rerank_default_opts(&o);
    o.fallback = app->embcache;
    o.sched = app->sched;
    o.model_dir = cfg->rerank_model_dir;
    o.threads = (int)cfg->embed_threads;
    embed_precision_parse(cfg->rerank_precision, &o.precision);
    int rc = rerank_remote_opts_parse(app__section(cfg, "reranker"), &o.remote, err);
    if (rc == 0)
        rc = rerank_create(&o, &app->rerank, err);
    if (rc == 0)
        log_msg(LOG_INFO, "re-ranker: %s (%s)", rerank_model_name(app->rerank),
                rerank_kind_name(rerank_get_kind(app->rerank)));
    return rc;
}

/* Authentication and rate limits. */
static int app__open_auth(app_t *app, ragd_error *err)
{
    const ragd_config *cfg = &app->cfg;
    auth_opts ao = { .admin_key = cfg->admin_key, .api_keys = app__section(cfg, "api_keys"),
                     .jwt = app__section(cfg, "jwt"), .section = app__section(cfg, "auth"),
                     .metrics_key = cfg->metrics_key };
    ratelimit_opts ro = { .fail_closed = strcmp(cfg->ratelimit_failure, "closed") == 0,
                          .rules = app__section(cfg, "rate_limits") };
    int rc = auth_create(&ao, app->store, &app->auth, err);
    return rc ? rc : ratelimit_create(&ro, app->store, &app->ratelimit, err);
}

/* The LLM gateway. */
static int app__open_gateway(app_t *app, ragd_error *err)
{
    const ragd_config *cfg = &app->cfg;
    gateway_opts go = {
        .retries = (int)cfg->gateway_retries,
        .retry_base_ms = cfg->gateway_retry_base_ms,
        .retry_max_ms = cfg->gateway_retry_max_ms,
        .semantic = strcmp(cfg->semantic_cache, "on") == 0,
        .semantic_max_entries = (size_t)cfg->semantic_max_entries,
        .semantic_threshold = cfg->semantic_threshold,
        .semantic_max_temperature = cfg->semantic_max_temperature,
        .prices = app__section(cfg, "prices"),
        .max_models = (int)cfg->metrics_max_label_values,
        .embedding_ttl_s = cfg->cache_embedding_ttl,
        .upstreams = {
            .default_url = cfg->upstream_url,
            .default_api_key = cfg->upstream_api_key,
            .timeout_ms = cfg->upstream_timeout_ms,
            .breaker_failures = (int)cfg->gateway_breaker_failures,
            .breaker_cooldown_ms = cfg->gateway_breaker_cooldown_ms,
            .providers = app__section(cfg, "providers"),
        },
    };
    return gateway_create(&go, app->cache, app->embcache, &app->gateway, err);
}

/* ---- followers of the change logs (repl/) ------------------------------------ */

/* Records of the settings log were lost: read the overrides from the keys. */
static int app__settings_gap(void *ud, const char *log, uint64_t applied, uint64_t first,
                             uint64_t last, uint64_t *resume)
{
    (void)log, (void)applied, (void)first, (void)last;
    return cache_settings_reload(ud, resume);
}

/* Records of the semantic log were lost: rebuild the index from what it holds. */
static int app__semantic_gap(void *ud, const char *log, uint64_t applied, uint64_t first,
                             uint64_t last, uint64_t *resume)
{
    (void)log, (void)applied, (void)first, (void)last;
    return gw_semantic_load(ud, resume);
}

/* On a shared store, the settings and semantic logs join the follower the
 * knowledge bases use; each goes on after the position its load reached.
 * (One process per LMDB directory: there, nothing to follow.) */
static int app__open_followers(app_t *app, ragd_error *err)
{
    if (!app->repl)
        return RAGD_OK;
    int rc = repl_follow_gap(app->repl, CACHE_SETTINGS_LOG, cache_settings_apply, app__settings_gap,
                         app->cache, cache_settings_seq(app->cache));
    gw_semantic *sem = gateway_semantic(app->gateway);
    if (!rc && sem) {
        gw_semantic_stats st;
        gw_semantic_get_stats(sem, &st);
        rc = repl_follow_gap(app->repl, GW_SEMLOG, gw_semantic_apply, app__semantic_gap, sem,
                             st.applied_seq);
    }
    if (rc)
        return ragd_error_set(err, rc, "cannot follow the settings and semantic logs: %s",
                              ragd_strerror(rc));
    return RAGD_OK;
}

int app_open(app_t *app, ragd_error *err)
{
    ragd_config *cfg = &app->cfg;
    config_resolve_dirs(cfg);
    /* Cheap checks first: nothing is created or loaded for a bad address or key. */
    char host[256];
    int port, rc;
    if (http_parse_listen(cfg->listen, host, sizeof host, &port) != 0)
        return ragd_error_set(err, RAGD_EINVAL, "listen: '%s' is not HOST:PORT (e.g. "
                              "127.0.0.1:8080 or [::1]:8080)", cfg->listen);
    if ((rc = auth_check_admin_key(cfg->admin_key, err)))
        return rc;
    if ((rc = uc_ttl_parse(cfg->user_content_ttl, &app->uc_ttl, err)))
        return rc;
    log_set_level(log_level_parse(cfg->log_level));
    log_set_format(log_format_parse(cfg->log_format));
    app->started_wall_ms = clock_wall_ms();
    app->started_mono_us = clock_mono_us();

    store_config sc;
    store_config_default(&sc);
    sc.url = cfg->redis_url[0] ? cfg->redis_url : NULL;
    sc.data_dir = cfg->data_dir;
    sc.key_prefix = cfg->key_prefix;
    sc.max_bytes = (uint64_t)cfg->store_max_bytes;
    sc.map_size = (uint64_t)cfg->store_map_size;
    sc.map_max = (uint64_t)cfg->store_map_max_size;
    sc.fsync_policy = !strcmp(cfg->store_fsync, "always")   ? STORE_FSYNC_ALWAYS
                      : !strcmp(cfg->store_fsync, "no")     ? STORE_FSYNC_NO
                                                            : STORE_FSYNC_EVERYSEC;
    sc.pool_size = (int)cfg->redis_pool_size;
    sc.connect_timeout_ms = (int)cfg->redis_timeout_ms;
    sc.command_timeout_ms = (int)cfg->redis_timeout_ms;
    sc.wait_replicas = (int)cfg->redis_wait_replicas;
    sc.log_keep = (uint64_t)cfg->repl_log_keep;
    sc.wait_timeout_ms = (int)cfg->redis_wait_timeout_ms;
    sc.read_replicas = cfg->redis_read_replicas != 0;
    sc.sentinel_user = cfg->redis_sentinel_user;
    sc.sentinel_password = cfg->redis_sentinel_password;
    if ((rc = app__data_dir(&sc, err)))
        return rc;
    if ((rc = store_open(&sc, &app->store, err)))
        return rc;

    cache_opts co = {
        .default_ttl_s = cfg->cache_default_ttl,
        .embedding_ttl_s = cfg->cache_embedding_ttl,
        .response_ttl_s = cfg->cache_response_ttl,
        .compress_threshold = (size_t)cfg->cache_compression_threshold,
        .max_key_bytes = (size_t)cfg->max_key_bytes,
        .max_prefixes = (int)cfg->metrics_max_label_values,
    };
    if ((rc = cache_create(app->store, &co, &app->cache, err)))
        goto fail;
    /* Auth before the model: a server that would listen openly is refused first. */
    if ((rc = app__open_auth(app, err)) ||
        (rc = auth_check_listen(app->auth, cfg->listen, cfg->allow_unauthenticated != 0, err)))
        goto fail;
    if ((rc = app__open_embedder(app, err)))
        goto fail;
    if ((rc = app__open_kb(app, err)))
        goto fail;
    if ((rc = app__open_jobs(app, err)))
        goto fail;
    session_opts so = { (size_t)cfg->session_max_bytes, (int)cfg->session_max_messages,
                        cfg->session_default_ttl };
    sessions_create(app->store, &so, &app->sessions);
    if (app->embcache)
        sessions_set_embedder(app->sessions, app__session_embed, app->embcache,
                              embcache_dim(app->embcache));
    if ((rc = app__open_gateway(app, err)))
        goto fail;
    if ((rc = app__open_reranker(app, err)))
        goto fail;
    if ((rc = app__open_followers(app, err)))
        goto fail;
    app->router = router_create();
    api_register(app->router);
    app->route_metrics = xcalloc((size_t)router_count(app->router), sizeof(route_metrics));
    return RAGD_OK;
fail:
    app_close(app);
    return rc;
}

/* Before every handler: the browser checks (Host is enforced while auth is off),
 * authenticate, then apply the request rate limits. */
static bool app__before(void *ud, http_req *req, http_resp *resp)
{
    app_t *app = ud;
    return http_guard_check(app->guard, req, resp, !auth_enabled(app->auth),
                            api_body_is_json(req)) &&
           auth_before(app->auth, req, resp) && ratelimit_before(app->ratelimit, req, resp);
}

static void app__release(void *ud, http_req *req)
{
    (void)ud;
    auth_release(req);
}

int app_server_opts(app_t *app, http_server_opts *o, ragd_error *err)
{
    if (!app->guard) {
        int rc = http_guard_create(app->cfg.allowed_hosts, app->cfg.allowed_origins,
                                   app->cfg.listen, &app->guard, err);
        if (rc)
            return rc;
    }
    *o = (http_server_opts){
        .listen = app->cfg.listen,
        .threads = (int)app->cfg.http_threads,
        .max_connections = (unsigned)app->cfg.max_connections,
        .idle_timeout_s = (unsigned)app->cfg.idle_timeout,
        .header_timeout_s = (unsigned)app->cfg.header_timeout,
        .body_timeout_s = (unsigned)app->cfg.body_timeout,
        .max_body_bytes = (size_t)app->cfg.max_body_bytes,
        .max_header_bytes = 16 * 1024,
        .app = app,
        .observe = app_observe,
        .before = app__before,
        .release = app__release,
    };
    return RAGD_OK;
}

int app_start(app_t *app, ragd_error *err)
{
    http_server_opts o;
    int rc = app_server_opts(app, &o, err);
    if (rc)
        return rc;
    rc = http_server_start(&o, app->router, &app->server, err);
    if (rc)
        return rc;
    if (app->cfg.memory_trim_interval > 0 &&
        memtrim_start((int)app->cfg.memory_trim_interval * 1000, &app->memtrim) != 0)
        log_msg(LOG_WARN, "memory trim thread did not start: freed heap is kept by the allocator");
    if (app_history_start(app, &app->history) != 0)
        log_msg(LOG_WARN, "statistics sampler did not start: /api/v1/stats/history answers 503");
    log_msg(LOG_INFO, "ragd %s listening on %s (port %d), store %s, data %s", RAGD_VERSION,
            app->cfg.listen, http_server_port(app->server), store_backend_name(app->store),
            app->cfg.redis_url[0] ? "redis" : app->cfg.data_dir);
    if (!auth_enabled(app->auth))
        log_msg(LOG_WARN, "auth: no API keys or JWT configured: authentication is off; %s %s",
                app->cfg.allow_unauthenticated ? "--allow-unauthenticated is set: anyone who "
                                                 "can reach it has full access on"
                                               : "listening on loopback only:",
                app->cfg.listen);
    return RAGD_OK;
}

void app_wait_for_signal(app_t *app)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, "signal %d: finishing in-flight requests", sig);
}

void app_close(app_t *app)
{
    if (app->server) {
        http_server_stop(app->server, 10000);
        app->server = NULL;
    }
    if (app->repl) {  /* before the gateway and cache their callbacks use go */
        repl_unfollow(app->repl, GW_SEMLOG);
        repl_unfollow(app->repl, CACHE_SETTINGS_LOG);
    }
    memtrim_stop(app->memtrim);
    app->memtrim = NULL;
    app_history_stop(app->history);  /* reads the router, cache, gateway, scheduler */
    app->history = NULL;
    router_destroy(app->router);
    app->router = NULL;
    http_guard_destroy(app->guard);
    app->guard = NULL;
    rerank_destroy(app->rerank);
    app->rerank = NULL;
    jobs_destroy(app->jobs);
    app->jobs = NULL;
    kb_close(app->kb);
    app->kb = NULL;
    uc_ttl_free(&app->uc_ttl);
    gateway_destroy(app->gateway);
    app->gateway = NULL;
    embcache_destroy(app->embcache);
    app->embcache = NULL;
    embed_sched_destroy(app->sched);
    app->sched = NULL;
    embed_model_close(app->embed);
    app->embed = NULL;
    cache_destroy(app->cache);
    app->cache = NULL;
    sessions_destroy(app->sessions);
    app->sessions = NULL;
    ratelimit_destroy(app->ratelimit);
    app->ratelimit = NULL;
    auth_destroy(app->auth);
    app->auth = NULL;
    repl_destroy(app->repl); /* after everything that follows logs through it */
    app->repl = NULL;
    store_close(app->store);
    app->store = NULL;
    free(app->route_metrics);
    app->route_metrics = NULL;
}
