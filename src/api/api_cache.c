/*
 * api_cache.c - the generic AI cache API (docs/API.md): PUT/GET/HEAD/DELETE
 * of values by prefix and key, canonical keys, clear by prefix or pattern,
 * clear all, TTL configuration and warm-up. Statistics live in
 * api_cache_stats.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "cache/cache.h"
#include "util/fmt.h"
#include "util/hash.h"
#include "util/json.h"

#define CACHE_API_SKEY_MAX (65536 + 2 * AUTH_ID_MAX + 8)

/* Validate the {prefix}/{key} path parameters; on failure resp has the error.
 * skey gets the key as stored: "u:<user>:<key>" when the request acts for a
 * user (a user-bound credential, or ?user_id= from a service key), so users
 * never see each other's entries; the bare key in the shared namespace, where
 * keys starting with "u:" are refused (they would alias a user's entry). */
static bool cache_api__target(http_req *req, http_resp *resp, const char **prefix,
                              const char **key, char *skey, size_t skn)
{
    *prefix = http_req_param(req, "prefix");
    *key = http_req_param(req, "key");
    if (!cache_prefix_valid(*prefix)) {
        http_error(req, resp, 400, "invalid_prefix",
                   "prefix '%s' must be 1-64 characters of [A-Za-z0-9_.-]", *prefix);
        return false;
    }
    char ns[2 * AUTH_ID_MAX + 8];
    if (!auth_user_namespace(req, http_req_query(req, "user_id"), ns, sizeof ns, resp) ||
        !auth_shared_key_ok(req, ns, *key, resp))
        return false;
    ragd_error err;
    if (cache_key_check(api_app(req)->cache, *prefix, strlen(ns), *key, strlen(*key), &err)) {
        http_error(req, resp, err.code == RAGD_ETOOBIG ? 413 : 400, "invalid_key", "%s", err.msg);
        return false;
    }
    size_t nl = fmt_copy(skey, skn, ns);  /* ns then key, as "%s%s" would */
    if (nl < skn)
        fmt_copy(skey + nl, skn - nl, *key);
    return true;
}

static void cache_api__put(http_req *req, http_resp *resp)
{
    const char *prefix, *key;
    char skey[CACHE_API_SKEY_MAX];
    if (!cache_api__target(req, resp, &prefix, &key, skey, sizeof skey))
        return;
    app_t *app = api_app(req);
    int64_t ttl = -1;
    const char *ttl_s = http_req_query(req, "ttl");
    if (ttl_s && json_count_text(ttl_s, "ttl", 0, 315360000, &ttl, NULL)) {
        http_error(req, resp, 400, "invalid_ttl",
                   "ttl '%s' must be an integer number of seconds in [0, 315360000]", ttl_s);
        return;
    }
    if (ttl < 0)
        ttl = cache_prefix_ttl(app->cache, prefix, NULL);
    const char *ctype = http_req_header(req, "Content-Type");
    if (!ctype)
        ctype = "application/octet-stream";
    int rc = cache_put(app->cache, prefix, skey, strlen(skey), req->body, req->body_len, ctype,
                       ttl);
    if (rc) {
        api_error_rc(req, resp, rc, "the value was not stored: %s", ragd_strerror(rc));
        return;
    }
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"stored\":true,\"prefix\":");
    buf_put_json_str(&b, prefix, strlen(prefix));
    buf_puts(&b, ",\"key\":");
    buf_put_json_str(&b, key, strlen(key));
    buf_puts(&b, ",\"bytes\":");
    buf_put_u64(&b, req->body_len);
    buf_puts(&b, ",\"ttl\":");
    buf_put_i64(&b, ttl);
    buf_putc(&b, '}');
    http_resp_json(resp, 200, &b);
}

static void cache_api__get(http_req *req, http_resp *resp)
{
    const char *prefix, *key;
    char skey[CACHE_API_SKEY_MAX];
    if (!cache_api__target(req, resp, &prefix, &key, skey, sizeof skey))
        return;
    cache_entry e;
    int rc = cache_get(api_app(req)->cache, prefix, skey, strlen(skey), &e);
    if (rc) {
        req->cache_outcome = "miss";
        http_resp_header(resp, "x-ragd-cache", "miss");
        if (rc == RAGD_EUNAVAIL)  /* a store outage is a miss, and says so */
            http_resp_header(resp, "x-ragd-store", "unavailable");
        if (rc == RAGD_ENOTFOUND || rc == RAGD_EUNAVAIL)
            http_error(req, resp, 404, "not_found", "no entry for %s:%s", prefix, key);
        else
            api_error_rc(req, resp, rc, "lookup failed: %s", ragd_strerror(rc));
        return;
    }
    req->cache_outcome = "hit";
    char ttl[FMT_I64_MAX];
    fmt_i64(ttl, e.ttl_ms < 0 ? -1 : (e.ttl_ms + 999) / 1000);
    http_resp_header(resp, "x-ragd-cache", "hit");
    http_resp_header(resp, "X-Cache-TTL", ttl);
    http_resp_set_body(resp, 200, e.content_type[0] ? e.content_type : "application/octet-stream",
                       e.data, e.len);
}

static void cache_api__del(http_req *req, http_resp *resp)
{
    const char *prefix, *key;
    char skey[CACHE_API_SKEY_MAX];
    if (!cache_api__target(req, resp, &prefix, &key, skey, sizeof skey))
        return;
    int rc = cache_del(api_app(req)->cache, prefix, skey, strlen(skey));
    if (rc == RAGD_ENOTFOUND) {
        http_error(req, resp, 404, "not_found", "no entry for %s:%s", prefix, key);
        return;
    }
    if (rc) {
        api_error_rc(req, resp, rc, "delete failed: %s", ragd_strerror(rc));
        return;
    }
    static const char ok[] = "{\"deleted\":1}";
    http_resp_static(resp, 200, "application/json", ok, sizeof ok - 1);
}

/* POST /api/v1/cache/key {prefix, model, params}: the canonical key. */
static void cache_api__key(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const char *prefix = json_get_str(body, "prefix");
    const char *model = json_get_str(body, "model");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "params");
    if (!prefix || !cache_prefix_valid(prefix)) {
        http_error(req, resp, 400, "invalid_prefix",
                   "'prefix' must be a string of 1-64 characters of [A-Za-z0-9_.-]");
    } else if (model && (!*model || strlen(model) > 128 || strchr(model, ':'))) {
        http_error(req, resp, 400, "invalid_request",
                   "'model' must be 1-128 characters without ':'");
    } else {
        buf_t canon = BUF_INIT;
        buf_puts(&canon, "{\"model\":");
        if (model)
            buf_put_json_str(&canon, model, strlen(model));
        else
            buf_puts(&canon, "null");
        buf_puts(&canon, ",\"params\":");
        if (params)
            json_canonical(params, &canon);
        else
            buf_puts(&canon, "null");
        buf_puts(&canon, ",\"prefix\":");
        buf_put_json_str(&canon, prefix, strlen(prefix));
        buf_putc(&canon, '}');
        char hex[HASH_SHA256_HEX_LEN + 1];
        hash_sha256_hex(canon.data, canon.len, hex);
        cJSON *out = cJSON_CreateObject();
        char key[STORE_KEY_BUF];
        snprintf(key, sizeof key, "%s%s%s", model ? model : "", model ? ":" : "", hex);
        cJSON_AddStringToObject(out, "key", key);
        cJSON_AddStringToObject(out, "prefix", prefix);
        cJSON_AddStringToObject(out, "hash", hex);
        cJSON_AddStringToObject(out, "algorithm", "sha256");
        cJSON_AddStringToObject(out, "canonical", canon.data);
        char path[64 + 64 + STORE_KEY_BUF];  /* "/api/v1/cache/<prefix>/<key>" */
        snprintf(path, sizeof path, "/api/v1/cache/%s/%s", prefix, key);
        cJSON_AddStringToObject(out, "path", path);
        api_reply_json(resp, 200, out);
        cJSON_Delete(out);
        buf_free(&canon);
    }
    cJSON_Delete(body);
}

static void cache_api__reply_deleted(http_resp *resp, uint64_t n)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"deleted\":%llu}", (unsigned long long)n);
    http_resp_json(resp, 200, &b);
}

static bool cache_api__valid_pattern(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20)
            return false;
    return true;
}

/* POST /api/v1/cache/clear {prefix} | {pattern} */
static void cache_api__clear(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    const char *prefix = json_get_str(body, "prefix");
    const char *pattern = json_get_str(body, "pattern");
    uint64_t n = 0;
    int rc;
    if ((prefix != NULL) == (pattern != NULL)) {
        http_error(req, resp, 400, "invalid_request",
                   "give exactly one of 'prefix' or 'pattern' (a glob such as \"course:*\")");
    } else if (prefix && !cache_prefix_valid(prefix)) {
        http_error(req, resp, 400, "invalid_prefix",
                   "prefix '%s' must be 1-64 characters of [A-Za-z0-9_.-]", prefix);
    } else if (pattern && !cache_api__valid_pattern(pattern)) {
        http_error(req, resp, 400, "invalid_pattern",
                   "'pattern' must be 1-256 printable characters");
    } else {
        rc = prefix ? cache_clear_prefix(api_app(req)->cache, prefix, &n)
                    : cache_clear_pattern(api_app(req)->cache, pattern, &n);
        if (rc)
            api_error_rc(req, resp, rc, "clear failed: %s", ragd_strerror(rc));
        else
            cache_api__reply_deleted(resp, n);
    }
    cJSON_Delete(body);
}

/* DELETE /api/v1/cache: every cache entry (documents and sessions stay). */
static void cache_api__clear_all(http_req *req, http_resp *resp)
{
    uint64_t n = 0;
    int rc = cache_clear_all(api_app(req)->cache, &n);
    if (rc) {
        api_error_rc(req, resp, rc, "clear failed: %s", ragd_strerror(rc));
        return;
    }
    cache_api__reply_deleted(resp, n);
}

static void cache_api__config_get(http_req *req, http_resp *resp)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "ttl", cache_api_ttl_settings(api_app(req)->cache));
    cJSON_AddNumberToObject(out, "compression_threshold",
                            (double)cache_options(api_app(req)->cache)->compress_threshold);
    api_reply_json(resp, 200, out);
    cJSON_Delete(out);
}

/* POST /api/v1/cache/config {prefix, ttl} or {ttl: {prefix: seconds, ...}} */
static void cache_api__config_set(http_req *req, http_resp *resp)
{
    cJSON *body;
    if (!api_parse_object(req, resp, &body))
        return;
    cJSON *single = NULL;
    const cJSON *map = json_get_obj(body, "ttl");
    const char *prefix = json_get_str(body, "prefix");
    if (!map && prefix) {
        single = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(single, prefix, cJSON_GetObjectItemCaseSensitive(body, "ttl"));
        map = single;
    }
    if (!map || !map->child) {
        http_error(req, resp, 400, "invalid_request",
                   "give {\"prefix\": \"...\", \"ttl\": seconds} or {\"ttl\": {\"prefix\": seconds}}");
        goto out;
    }
    for (const cJSON *it = map->child; it; it = it->next) {
        int64_t ttl;
        if (!cache_prefix_valid(it->string)) {
            http_error(req, resp, 400, "invalid_prefix",
                       "prefix '%s' must be 1-64 characters of [A-Za-z0-9_.-]", it->string);
            goto out;
        }
        if (json_get_int(map, it->string, 0, 315360000, &ttl)) {
            http_error(req, resp, 400, "invalid_ttl",
                       "ttl of '%s' must be an integer number of seconds in [0, 315360000]",
                       it->string);
            goto out;
        }
    }
    for (const cJSON *it = map->child; it; it = it->next) {
        int64_t ttl = 0;
        json_get_int(map, it->string, 0, 315360000, &ttl);
        int rc = cache_set_prefix_ttl(api_app(req)->cache, it->string, ttl);
        if (rc) {
            api_error_rc(req, resp, rc, "could not save the TTL of '%s': %s", it->string,
                         ragd_strerror(rc));
            goto out;
        }
    }
    cache_api__config_get(req, resp);
out:
    cJSON_Delete(single);
    cJSON_Delete(body);
}

void api_cache_register(router_t *r)
{
    router_add(r, HTTP_GET, "/api/v1/cache/stats", cache_api_stats);
    router_add(r, HTTP_GET, "/api/v1/cache/config", cache_api__config_get);
    router_add(r, HTTP_POST, "/api/v1/cache/config", cache_api__config_set);
    router_add(r, HTTP_POST, "/api/v1/cache/key", cache_api__key);
    router_add(r, HTTP_POST, "/api/v1/cache/clear", cache_api__clear);
    router_add(r, HTTP_POST, "/api/v1/cache/warm-up", cache_api_warm_up);
    router_add(r, HTTP_DELETE, "/api/v1/cache", cache_api__clear_all);
    router_add(r, HTTP_GET | HTTP_HEAD, "/api/v1/cache/{prefix}/{key*}", cache_api__get);
    router_add(r, HTTP_PUT, "/api/v1/cache/{prefix}/{key*}", cache_api__put);
    router_add(r, HTTP_DELETE, "/api/v1/cache/{prefix}/{key*}", cache_api__del);
}
