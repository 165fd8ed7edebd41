/*
 * api_cache_stats.c - GET /api/v1/cache/stats (hit rates per prefix, key
 * counts, memory, compression, TTLs, an efficiency rating with
 * recommendations; a user-bound caller gets a view of its own entries only),
 * the TTL settings object it shares with GET /api/v1/cache/config, and
 * POST /api/v1/cache/warm-up (bulk preload).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_gateway.h"
#include "api/api_int.h"
#include "util/json.h"
#include "util/mem.h"

#define WARMUP_MAX 10000

static void stats__add_keys(void *ud, const char *prefix, uint64_t n)
{
    cJSON *prefixes = ud;
    cJSON *p = cJSON_GetObjectItemCaseSensitive(prefixes, prefix);
    if (!p)
        p = cJSON_AddObjectToObject(prefixes, prefix);
    cJSON_AddNumberToObject(p, "keys", (double)n);
}

static void stats__add_override(void *ud, const char *prefix, int64_t ttl)
{
    cJSON_AddNumberToObject((cJSON *)ud, prefix, (double)ttl);
}

/* The TTL settings object shared by GET /config and /stats. */
cJSON *cache_api_ttl_settings(cache_t *c)
{
    const cache_opts *o = cache_options(c);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "default", (double)o->default_ttl_s);
    cJSON_AddNumberToObject(t, "embedding", (double)o->embedding_ttl_s);
    cJSON_AddNumberToObject(t, "response", (double)o->response_ttl_s);
    cJSON *ov = cJSON_AddObjectToObject(t, "prefixes");
    cache_each_ttl_override(c, stats__add_override, ov);
    return t;
}

static double stats__rate(uint64_t hits, uint64_t misses)
{
    return hits + misses ? (double)hits / (double)(hits + misses) : 0.0;
}

static void stats__recommend(cJSON *rec, const cache_prefix_stats *ps, const int64_t *keys,
                             int n, const cache_efficiency *eff, const store_stats *ss)
{
    char msg[512];
    if (!ss->available)
        cJSON_AddItemToArray(rec, cJSON_CreateString(
            "The store is unreachable: lookups are misses and ragd's own cache writes are skipped."));
    if (eff->lookups >= CACHE_STATS_MIN_LOOKUPS && eff->hit_rate < 0.6) {
        snprintf(msg, sizeof msg,
                 "Hit rate is %.1f%% (%s): lengthen the TTL of prefixes that miss often "
                 "(POST /api/v1/cache/config) or preload them (POST /api/v1/cache/warm-up).",
                 eff->hit_rate * 100, strcmp(eff->basis, "llm") ? "prefixes not being filled"
                                                                 : "LLM responses");
        cJSON_AddItemToArray(rec, cJSON_CreateString(msg));
    }
    for (int i = 0; i < n; i++) {
        if (ps[i].hits == 0 && ps[i].misses >= 20 && !cache_stats_filling(&ps[i], keys[i])) {
            snprintf(msg, sizeof msg,
                     "Prefix '%s' has %llu misses and no hits: check that clients build the same "
                     "key for the same request (POST /api/v1/cache/key gives canonical keys).",
                     ps[i].prefix, (unsigned long long)ps[i].misses);
            cJSON_AddItemToArray(rec, cJSON_CreateString(msg));
        }
        if (ps[i].skipped_writes) {
            snprintf(msg, sizeof msg, "%llu writes to '%s' were skipped while the store was down.",
                     (unsigned long long)ps[i].skipped_writes, ps[i].prefix);
            cJSON_AddItemToArray(rec, cJSON_CreateString(msg));
        }
    }
    if (ss->evictions) {
        snprintf(msg, sizeof msg,
                 "%llu entries were evicted by the size budget: raise store_max_bytes if memory allows.",
                 (unsigned long long)ss->evictions);
        cJSON_AddItemToArray(rec, cJSON_CreateString(msg));
    }
    if (eff->lookups < CACHE_STATS_MIN_LOOKUPS) {
        snprintf(msg, sizeof msg, "%llu lookups so far (prefixes being filled for the first "
                 "time left out): the rating needs %d.", (unsigned long long)eff->lookups,
                 CACHE_STATS_MIN_LOOKUPS);
        cJSON_AddItemToArray(rec, cJSON_CreateString(msg));
    }
}

/* The key space a user-bound or tenant caller's view covers ("u:<user>:",
 * "u:<tenant>/"); false for callers that see everything (service keys, auth
 * off). */
static bool stats__own_space(const http_req *req, char *out, size_t n)
{
    const auth_identity *id = auth_identity_of(req);
    if (id && id->user_id[0])
        snprintf(out, n, AUTH_USER_MARK "%s:", id->user_id);
    else if (id && id->tenant[0])
        snprintf(out, n, AUTH_USER_MARK "%s/", id->tenant);
    else
        return false;
    return true;
}

/* A user's view: only what can be counted over its own entries (their keys
 * per prefix and those prefixes' TTLs) and the global settings. Hit and
 * write counters are kept per prefix for everyone together, so they, the
 * store figures, recommendations and gateway totals are left out. */
static void stats__own(http_req *req, http_resp *resp, const char *under)
{
    app_t *app = api_app(req);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "scope", "user");
    cJSON *prefixes = cJSON_CreateObject();
    bool counted = cache_count_keys_under(app->cache, under, stats__add_keys, prefixes) == 0;
    uint64_t keys = 0;
    for (cJSON *p = prefixes->child; p; p = p->next) {
        keys += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "keys"));
        cJSON_AddNumberToObject(p, "ttl", (double)cache_prefix_ttl(app->cache, p->string, NULL));
    }
    cJSON_AddNumberToObject(out, "keys", (double)keys);
    cJSON_AddBoolToObject(out, "key_counts_complete", counted);
    cJSON_AddItemToObject(out, "prefixes", prefixes);
    const cache_opts *o = cache_options(app->cache);
    cJSON *ttl = cJSON_AddObjectToObject(out, "ttl");
    cJSON_AddNumberToObject(ttl, "default", (double)o->default_ttl_s);
    cJSON_AddNumberToObject(ttl, "embedding", (double)o->embedding_ttl_s);
    cJSON_AddNumberToObject(ttl, "response", (double)o->response_ttl_s);
    cJSON *comp = cJSON_AddObjectToObject(out, "compression");
    cJSON_AddStringToObject(comp, "algorithm", "zstd");
    cJSON_AddNumberToObject(comp, "threshold", (double)o->compress_threshold);
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
}

/* Live keys of prefix p from the counted prefixes object, -1 if not counted. */
static int64_t stats__keys_of(const cJSON *prefixes, const char *p, bool counted)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(prefixes, p);
    const cJSON *k = o ? cJSON_GetObjectItemCaseSensitive(o, "keys") : NULL;
    return !counted ? -1 : k ? (int64_t)cJSON_GetNumberValue(k) : 0;
}

/* Per prefix counters, its class and whether it is being filled. */
static void stats__prefix(cJSON *prefixes, const cache_prefix_stats *p, int64_t keys,
                          cache_t *c)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(prefixes, p->prefix);
    if (!o)
        o = cJSON_AddObjectToObject(prefixes, p->prefix);
    if (keys >= 0 && !cJSON_GetObjectItemCaseSensitive(o, "keys"))
        cJSON_AddNumberToObject(o, "keys", 0);
    cJSON_AddStringToObject(o, "class", cache_class_names[cache_stats_class(p->prefix)]);
    cJSON_AddNumberToObject(o, "hits", (double)p->hits);
    cJSON_AddNumberToObject(o, "misses", (double)p->misses);
    cJSON_AddNumberToObject(o, "hit_rate", stats__rate(p->hits, p->misses));
    cJSON_AddNumberToObject(o, "writes", (double)p->writes);
    cJSON_AddNumberToObject(o, "skipped_writes", (double)p->skipped_writes);
    cJSON_AddBoolToObject(o, "filling", cache_stats_filling(p, keys));
    cJSON_AddNumberToObject(o, "ttl", (double)cache_prefix_ttl(c, p->prefix, NULL));
}

/* Totals over all prefixes and per class (llm, embeddings, generic). */
static void stats__totals(cJSON *out, const cache_prefix_stats *ps, int n, const cJSON *prefixes)
{
    cache_prefix_stats all = { .prefix = "" }, cls[CACHE_CLASS_N] = { { .prefix = "" } };
    uint64_t keys[CACHE_CLASS_N] = { 0 }, nkeys = 0;
    for (int i = 0; i < n; i++) {
        cache_prefix_stats *t = &cls[cache_stats_class(ps[i].prefix)];
        t->hits += ps[i].hits;
        t->misses += ps[i].misses;
        t->writes += ps[i].writes;
        t->skipped_writes += ps[i].skipped_writes;
        t->raw_bytes += ps[i].raw_bytes;
        t->stored_bytes += ps[i].stored_bytes;
    }
    for (const cJSON *p = prefixes->child; p; p = p->next) {
        uint64_t k = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "keys"));
        keys[cache_stats_class(p->string)] += k;
        nkeys += k;
    }
    cJSON *classes = cJSON_AddObjectToObject(out, "classes");
    for (int c = 0; c < CACHE_CLASS_N; c++) {
        cJSON *o = cJSON_AddObjectToObject(classes, cache_class_names[c]);
        cJSON_AddNumberToObject(o, "keys", (double)keys[c]);
        cJSON_AddNumberToObject(o, "hits", (double)cls[c].hits);
        cJSON_AddNumberToObject(o, "misses", (double)cls[c].misses);
        cJSON_AddNumberToObject(o, "hit_rate", stats__rate(cls[c].hits, cls[c].misses));
        all.hits += cls[c].hits;
        all.misses += cls[c].misses;
        all.writes += cls[c].writes;
        all.skipped_writes += cls[c].skipped_writes;
        all.raw_bytes += cls[c].raw_bytes;
        all.stored_bytes += cls[c].stored_bytes;
    }
    cJSON_AddNumberToObject(out, "hits", (double)all.hits);
    cJSON_AddNumberToObject(out, "misses", (double)all.misses);
    cJSON_AddNumberToObject(out, "hit_rate", stats__rate(all.hits, all.misses));
    cJSON_AddNumberToObject(out, "writes", (double)all.writes);
    cJSON_AddNumberToObject(out, "skipped_writes", (double)all.skipped_writes);
    cJSON_AddNumberToObject(out, "keys", (double)nkeys);
    cJSON *comp = cJSON_CreateObject();
    cJSON_AddStringToObject(comp, "algorithm", "zstd");
    cJSON_AddNumberToObject(comp, "raw_bytes", (double)all.raw_bytes);
    cJSON_AddNumberToObject(comp, "stored_bytes", (double)all.stored_bytes);
    cJSON_AddNumberToObject(comp, "ratio", all.stored_bytes ? (double)all.raw_bytes /
                                                              (double)all.stored_bytes : 1.0);
    cJSON_AddItemToObject(out, "compression", comp);
}

static void stats__efficiency(cJSON *out, const cache_efficiency *e, const cache_prefix_stats *ps,
                              const int64_t *keys, int n)
{
    cJSON *eff = cJSON_AddObjectToObject(out, "efficiency");
    cJSON_AddStringToObject(eff, "rating", e->rating);
    cJSON_AddNumberToObject(eff, "hit_rate", e->hit_rate);
    cJSON_AddStringToObject(eff, "basis", e->basis);
    cJSON_AddNumberToObject(eff, "lookups", (double)e->lookups);
    cJSON_AddNumberToObject(eff, "min_lookups", CACHE_STATS_MIN_LOOKUPS);
    cJSON *filling = cJSON_AddArrayToObject(eff, "filling");
    for (int i = 0; i < n; i++)
        if (cache_stats_filling(&ps[i], keys[i]))
            cJSON_AddItemToArray(filling, cJSON_CreateString(ps[i].prefix));
}

static void stats__memory(cJSON *out, const app_t *app, const store_stats *ss)
{
    cJSON *mem = cJSON_AddObjectToObject(out, "memory");
    cJSON_AddStringToObject(mem, "backend", store_backend_name(app->store));
    cJSON_AddNumberToObject(mem, "bytes_used", (double)ss->bytes_used);
    cJSON_AddNumberToObject(mem, "max_bytes", (double)ss->max_bytes);
    cJSON_AddNumberToObject(mem, "store_keys", (double)ss->keys);
    cJSON_AddNumberToObject(mem, "evictions", (double)ss->evictions);
    cJSON_AddNumberToObject(mem, "expired", (double)ss->expired);
}

void cache_api_stats(http_req *req, http_resp *resp)
{
    app_t *app = api_app(req);
    char under[AUTH_ID_MAX + 8];
    if (stats__own_space(req, under, sizeof under)) {
        stats__own(req, resp, under);
        return;
    }
    int n = 0;
    cache_prefix_stats *ps = cache_stats_snapshot(cache_stats(app->cache), &n);
    store_stats ss;
    memset(&ss, 0, sizeof ss);
    store_get_stats(app->store, &ss);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "scope", "all");
    cJSON *prefixes = cJSON_CreateObject();
    bool counted = cache_count_keys(app->cache, stats__add_keys, prefixes) == 0;
    int64_t *keys = xcalloc((size_t)n + 1, sizeof *keys);
    for (int i = 0; i < n; i++) {
        keys[i] = stats__keys_of(prefixes, ps[i].prefix, counted);
        stats__prefix(prefixes, &ps[i], keys[i], app->cache);
    }
    stats__totals(out, ps, n, prefixes);
    cJSON_AddBoolToObject(out, "key_counts_complete", counted);
    cJSON_AddItemToObject(out, "prefixes", prefixes);
    stats__memory(out, app, &ss);
    cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(out, "compression"), "threshold",
                            (double)cache_options(app->cache)->compress_threshold);
    cJSON_AddItemToObject(out, "ttl", cache_api_ttl_settings(app->cache));
    cache_efficiency eff;
    cache_stats_efficiency(ps, keys, n, &eff);
    stats__efficiency(out, &eff, ps, keys, n);
    cJSON *rec = cJSON_AddArrayToObject(out, "recommendations");
    stats__recommend(rec, ps, keys, n, &eff, &ss);
    cJSON_AddItemToObject(out, "gateway", gateway_stats_json(app->gateway));
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
    free(keys);
    free(ps);
}

/* One validated warm-up entry; value points into the request JSON. */
typedef struct warm_entry {
    const char *prefix, *key, *ctype;
    char *value;        /* owned: the string, or the JSON text of a non-string */
    int64_t ttl;
} warm_entry;

static int warm__validate(const http_req *req, http_resp *resp, const cJSON *item, int i,
                          size_t ns_len, warm_entry *e)
{
    cache_t *c = api_app(req)->cache;
    e->prefix = json_get_str(item, "prefix");
    e->key = json_get_str(item, "key");
    e->ctype = json_get_str(item, "content_type");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(item, "value");
    ragd_error err;
    if (!cJSON_IsObject(item) || !e->prefix || !cache_prefix_valid(e->prefix)) {
        http_error(req, resp, 400, "invalid_prefix", "entries[%d]: 'prefix' must be 1-64 "
                   "characters of [A-Za-z0-9_.-]", i);
        return -1;
    }
    if (!e->key || cache_key_check(c, e->prefix, ns_len, e->key, strlen(e->key), &err)) {
        http_error(req, resp, e->key && err.code == RAGD_ETOOBIG ? 413 : 400, "invalid_key",
                   "entries[%d]: %s", i, e->key ? err.msg : "'key' must be a string");
        return -1;
    }
    if (!val) {
        http_error(req, resp, 400, "invalid_request", "entries[%d]: 'value' is missing", i);
        return -1;
    }
    int rc = json_get_count(item, "ttl", 0, 315360000, &e->ttl, &err);
    if (rc == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_ttl", "entries[%d]: %s (seconds)", i, err.msg);
        return -1;
    }
    if (rc == RAGD_ENOTFOUND)
        e->ttl = cache_prefix_ttl(c, e->prefix, NULL);
    if (cJSON_IsString(val)) {
        e->value = xstrdup(val->valuestring);
        if (!e->ctype)
            e->ctype = "text/plain; charset=utf-8";
    } else {
        buf_t b = BUF_INIT;
        json_write(val, &b);
        e->value = buf_detach(&b, NULL);
        if (!e->ctype)
            e->ctype = "application/json";
    }
    return 0;
}

/* POST /api/v1/cache/warm-up {entries: [{prefix, key, value, ttl?, content_type?}]}.
 * Every entry is validated before anything is written. */
void cache_api_warm_up(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    if (json_get_arr(body, "requests")) {  /* completions filled through the gateway */
        api_gateway_warm_up(req, resp, body);
        return;
    }
    const cJSON *entries = json_get_arr(body, "entries");
    int n = entries ? cJSON_GetArraySize(entries) : 0;
    if (!entries || n == 0) {
        http_error(req, resp, 400, "invalid_request", "'entries' must be a non-empty array");
        cJSON_Delete(body);
        return;
    }
    if (n > WARMUP_MAX) {
        http_error(req, resp, 413, "too_many_entries", "%d entries; the limit is %d", n,
                   WARMUP_MAX);
        cJSON_Delete(body);
        return;
    }
    char ns[2 * AUTH_ID_MAX + 8];  /* a user's entries go to its own namespace */
    if (!auth_user_namespace(req, json_get_str(body, "user_id"), ns, sizeof ns, resp)) {
        cJSON_Delete(body);
        return;
    }
    warm_entry *es = xcalloc((size_t)n, sizeof *es);
    int i = 0, ok = 0;
    for (const cJSON *it = entries->child; it; it = it->next, i++)
        if (warm__validate(req, resp, it, i, strlen(ns), &es[i]) ||
            !auth_shared_key_ok(req, ns, es[i].key, resp))
            goto out;
    cJSON *failed = cJSON_CreateArray();
    for (i = 0; i < n; i++) {
        buf_t k = BUF_INIT;
        buf_printf(&k, "%s%s", ns, es[i].key);
        int rc = cache_put(api_app(req)->cache, es[i].prefix, k.data, k.len, es[i].value,
                           strlen(es[i].value), es[i].ctype, es[i].ttl);
        buf_free(&k);
        if (rc == 0) {
            ok++;
        } else {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddNumberToObject(f, "index", i);
            cJSON_AddStringToObject(f, "error", ragd_strerror(rc));
            cJSON_AddItemToArray(failed, f);
        }
    }
    if (ok == 0) {
        cJSON_Delete(failed);
        http_error(req, resp, 503, "store_unavailable", "no entry could be stored");
        goto out;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "requested", n);
    cJSON_AddNumberToObject(out, "stored", ok);
    cJSON_AddItemToObject(out, "failed", failed);
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
out:
    for (i = 0; i < n; i++)
        free(es[i].value);
    free(es);
    cJSON_Delete(body);
}
