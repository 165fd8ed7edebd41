/*
 * cache.c - the cache core: codec + store + stats + TTL per prefix.
 */
#include "cache/cache.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/codec.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/strmap.h"
#include "util/utf8.h"

/* Overrides live under the settings log's hash tag, so a key and its log
 * record are one atomic step in one slot (Redis Cluster); the keys of older
 * versions (no tag) are still read at start. */
#define TTL_CFG_PREFIX "cfg:{cfg}:cache_ttl:"
#define TTL_CFG_LEGACY "cfg:cache_ttl:"

struct cache {
    store_t *store;
    cache_opts opts;
    cache_stats_t *stats;
    pthread_rwlock_t lock;  /* guards overrides */
    strmap overrides;       /* prefix -> owned int64_t TTL in seconds */
    uint64_t settings_seq;  /* the settings log's last record as of the last load */
    uint64_t settings_applied; /* records applied (atomic) */
};

bool cache_prefix_valid(const char *p)
{
    size_t n = 0;
    for (; p[n]; n++)
        if (!isalnum((unsigned char)p[n]) && p[n] != '_' && p[n] != '.' && p[n] != '-')
            return false;
    return n >= 1 && n <= 64;
}

static void cache__override_set(cache_t *c, const char *prefix, int64_t ttl)
{
    pthread_rwlock_wrlock(&c->lock);
    int64_t *t = strmap_get(&c->overrides, prefix, strlen(prefix));
    if (!t) {
        t = xmalloc(sizeof *t);
        strmap_put(&c->overrides, prefix, strlen(prefix), t);
    }
    *t = ttl;
    pthread_rwlock_unlock(&c->lock);
}

/* A persisted override under the key prefix ud->pfx. */
typedef struct cache_load {
    cache_t *c;
    const char *pfx;
} cache_load;

static int cache__load_override(void *ud, const char *key, size_t klen, const void *val,
                                size_t vlen)
{
    cache_t *c = ((cache_load *)ud)->c;
    size_t pl = strlen(((cache_load *)ud)->pfx);
    char prefix[72], num[32];
    if (klen <= pl || klen - pl >= sizeof prefix || vlen == 0 || vlen >= sizeof num)
        return 0;
    memcpy(prefix, key + pl, klen - pl);
    prefix[klen - pl] = '\0';
    memcpy(num, val, vlen);
    num[vlen] = '\0';
    char *end;
    long long ttl = strtoll(num, &end, 10);
    if (*end == '\0' && ttl >= 0 && cache_prefix_valid(prefix))
        cache__override_set(c, prefix, ttl);
    return 0;
}

int cache_create(store_t *store, const cache_opts *opts, cache_t **out, ragd_error *err)
{
    cache_t *c = xcalloc(1, sizeof *c);
    c->store = store;
    c->opts = *opts;
    c->stats = cache_stats_create(opts->max_prefixes);
    pthread_rwlock_init(&c->lock, NULL);
    cache_settings_reload(c, NULL);  /* a store outage at start is not an error */
    *out = c;
    return RAGD_OK;
}

void cache_destroy(cache_t *c)
{
    if (!c)
        return;
    cache_stats_destroy(c->stats);
    pthread_rwlock_destroy(&c->lock);
    void *t;
    for (size_t it = 0; strmap_next(&c->overrides, &it, NULL, &t);)
        free(t);
    strmap_free(&c->overrides);
    free(c);
}

cache_stats_t *cache_stats(cache_t *c) { return c->stats; }
store_t *cache_store(cache_t *c) { return c->store; }
const cache_opts *cache_options(const cache_t *c) { return &c->opts; }

size_t cache_key_limit(const cache_t *c, const char *prefix, size_t ns_len)
{
    size_t used = strlen("cache:") + strlen(prefix) + 1 + ns_len;
    size_t room = used < STORE_KEY_MAX ? STORE_KEY_MAX - used : 0;
    return room < c->opts.max_key_bytes ? room : c->opts.max_key_bytes;
}

int cache_key_check(const cache_t *c, const char *prefix, size_t ns_len, const char *key, size_t n,
                    ragd_error *err)
{
    if (n == 0)
        return ragd_error_set(err, RAGD_EINVAL, "the key is empty");
    size_t limit = cache_key_limit(c, prefix, ns_len);
    if (n > limit)
        return ragd_error_set(err, RAGD_ETOOBIG,
                              "the key is %zu bytes; the limit is %zu (max_key_bytes %zu, less "
                              "when the prefix and user namespace leave less of the store's "
                              "%d-byte key)", n, limit, c->opts.max_key_bytes, STORE_KEY_MAX);
    size_t bad;
    if (!utf8_valid(key, n, &bad))
        return ragd_error_set(err, RAGD_EINVAL, "the key is not valid UTF-8 (byte %zu)", bad);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return ragd_error_set(err, RAGD_EINVAL, "the key has a control character at byte %zu",
                                  i);
    return RAGD_OK;
}

int64_t cache_prefix_ttl(cache_t *c, const char *prefix, const char **source)
{
    pthread_rwlock_rdlock(&c->lock);
    const int64_t *o = strmap_get(&c->overrides, prefix, strlen(prefix));
    int64_t t = o ? *o : 0;
    pthread_rwlock_unlock(&c->lock);
    if (o) {
        if (source)
            *source = "override";
        return t;
    }
    static const char *const emb[] = { "emb", "embedding", "embeddings", NULL };
    static const char *const resp[] = { "llm", "response", "ai_response", NULL };
    for (int i = 0; emb[i]; i++)
        if (strcmp(prefix, emb[i]) == 0) {
            if (source)
                *source = "embedding";
            return c->opts.embedding_ttl_s;
        }
    for (int i = 0; resp[i]; i++)
        if (strcmp(prefix, resp[i]) == 0) {
            if (source)
                *source = "response";
            return c->opts.response_ttl_s;
        }
    if (source)
        *source = "default";
    return c->opts.default_ttl_s;
}

int cache_set_prefix_ttl(cache_t *c, const char *prefix, int64_t ttl_s)
{
    if (!cache_prefix_valid(prefix) || ttl_s < 0)
        return RAGD_EINVAL;
    char key[128], val[32], rec[160];
    int kl = snprintf(key, sizeof key, TTL_CFG_PREFIX "%s", prefix);
    int vl = snprintf(val, sizeof val, "%lld", (long long)ttl_s);
    int rl = snprintf(rec, sizeof rec, "{\"op\":\"cache_ttl\",\"prefix\":\"%s\",\"ttl\":%lld}",
                      prefix, (long long)ttl_s);  /* prefix is [A-Za-z0-9_.-]: no escaping */
    store_op op = { key, (size_t)kl, val, (size_t)vl, 0, 0 };
    int rc = store_batch_log(c->store, &op, 1, CACHE_SETTINGS_LOG, rec, (size_t)rl, NULL);
    if (rc)
        return rc;
    cache__override_set(c, prefix, ttl_s);
    return RAGD_OK;
}

int cache_settings_apply(void *ud, uint64_t seq, const void *rec, size_t len)
{
    cache_t *c = ud;
    (void)seq;
    cJSON *r = cJSON_ParseWithLength(rec, len);
    const char *op = json_get_str(r, "op"), *prefix = json_get_str(r, "prefix");
    int64_t ttl;
    if (op && strcmp(op, "cache_ttl") == 0 && prefix && cache_prefix_valid(prefix) &&
        json_get_int(r, "ttl", 0, INT64_MAX, &ttl) == 0)
        cache__override_set(c, prefix, ttl);  /* anything else: not ours, skipped */
    cJSON_Delete(r);
    __atomic_fetch_add(&c->settings_applied, 1, __ATOMIC_RELAXED);
    return 0;
}

int cache_settings_reload(cache_t *c, uint64_t *last_seq)
{
    uint64_t first = 0, last = 0;
    int rc = store_log_bounds(c->store, CACHE_SETTINGS_LOG, &first, &last);
    cache_load legacy = { c, TTL_CFG_LEGACY }, cur = { c, TTL_CFG_PREFIX };
    if (rc == 0)
        rc = store_scan(c->store, TTL_CFG_LEGACY, strlen(TTL_CFG_LEGACY), true,
                        cache__load_override, &legacy);
    if (rc == 0)
        rc = store_scan(c->store, TTL_CFG_PREFIX, strlen(TTL_CFG_PREFIX), true,
                        cache__load_override, &cur);
    if (rc == 0)
        c->settings_seq = last;
    if (last_seq)
        *last_seq = last;
    return rc;
}

uint64_t cache_settings_seq(const cache_t *c)
{
    return c->settings_seq;
}

uint64_t cache_settings_applied(cache_t *c)
{
    return __atomic_load_n(&c->settings_applied, __ATOMIC_RELAXED);
}

void cache_each_ttl_override(cache_t *c, void (*fn)(void *ud, const char *prefix, int64_t ttl),
                             void *ud)
{
    pthread_rwlock_rdlock(&c->lock);
    const char *prefix;
    void *t;
    for (size_t it = 0; strmap_next(&c->overrides, &it, &prefix, &t);)
        fn(ud, prefix, *(const int64_t *)t);
    pthread_rwlock_unlock(&c->lock);
}

void cache_entry_free(cache_entry *e)
{
    free(e->data);
    e->data = NULL;
}

/* cache_get_raw, reading a replica when stale and the store allows it. */
static int cache__get(cache_t *c, const char *skey, size_t sklen, const char *stats_prefix,
                      cache_entry *out, bool stale)
{
    store_value v;
    int rc = stale ? store_get_stale(c->store, skey, sklen, &v)
                   : store_get(c->store, skey, sklen, &v);
    if (rc) {
        cache_stats_miss(c->stats, stats_prefix);
        return rc;
    }
    codec_view view;
    char *payload;
    rc = codec_decode(v.data, v.len, 1, &view, &payload);
    if (rc) {
        store_value_free(&v);
        store_del(c->store, skey, sklen);
        cache_stats_miss(c->stats, stats_prefix);
        return RAGD_ENOTFOUND;
    }
    cache_stats_hit(c->stats, stats_prefix);
    out->data = payload;
    out->len = view.raw_len;
    memcpy(out->content_type, view.content_type, sizeof out->content_type);
    out->created_ms = view.created_ms;
    out->compressed = view.compressed;
    out->ttl_ms = v.expire_at_ms ? v.expire_at_ms - clock_wall_ms() : -1;
    if (v.expire_at_ms && out->ttl_ms < 0)
        out->ttl_ms = 0;
    return RAGD_OK;
}

int cache_get_raw(cache_t *c, const char *skey, size_t sklen, const char *stats_prefix,
                  cache_entry *out)
{
    return cache__get(c, skey, sklen, stats_prefix, out, false);
}

int cache_put_raw(cache_t *c, const char *skey, size_t sklen, const char *stats_prefix,
                  const void *data, size_t len, const char *content_type, int64_t ttl_ms)
{
    buf_t b = BUF_INIT;
    codec_encode(data, len, content_type, c->opts.compress_threshold, &b);
    int rc = store_set(c->store, skey, sklen, b.data, b.len, ttl_ms, STORE_EVICTABLE);
    if (rc == 0)
        cache_stats_write(c->stats, stats_prefix, len, codec_stored_payload_len(b.data, b.len));
    else if (rc == RAGD_EUNAVAIL)
        cache_stats_skipped_write(c->stats, stats_prefix);
    buf_free(&b);
    return rc;
}

static void cache__generic_key(buf_t *b, const char *prefix, const char *key, size_t klen)
{
    buf_puts(b, "cache:");
    buf_puts(b, prefix);
    buf_putc(b, ':');
    buf_append(b, key, klen);
}

int cache_get(cache_t *c, const char *prefix, const char *key, size_t klen, cache_entry *out)
{
    buf_t b = BUF_INIT;
    cache__generic_key(&b, prefix, key, klen);
    int rc = cache__get(c, b.data, b.len, prefix, out, true);
    buf_free(&b);
    return rc;
}

int cache_put(cache_t *c, const char *prefix, const char *key, size_t klen, const void *data,
              size_t len, const char *content_type, int64_t ttl_s)
{
    if (ttl_s < 0)
        ttl_s = cache_prefix_ttl(c, prefix, NULL);
    buf_t b = BUF_INIT;
    cache__generic_key(&b, prefix, key, klen);
    int rc = cache_put_raw(c, b.data, b.len, prefix, data, len, content_type, ttl_s * 1000);
    buf_free(&b);
    return rc;
}

int cache_del(cache_t *c, const char *prefix, const char *key, size_t klen)
{
    buf_t b = BUF_INIT;
    cache__generic_key(&b, prefix, key, klen);
    int rc = store_del(c->store, b.data, b.len);
    buf_free(&b);
    return rc;
}

static bool cache__is_internal(const char *prefix)
{
    return strcmp(prefix, "emb") == 0 || strcmp(prefix, "llm") == 0;
}

int cache_clear_prefix(cache_t *c, const char *prefix, uint64_t *n)
{
    char pat[96];
    if (cache__is_internal(prefix))
        snprintf(pat, sizeof pat, "%s:*", prefix);
    else
        snprintf(pat, sizeof pat, "cache:%s:*", prefix);
    return store_del_pattern(c->store, pat, n);
}

int cache_clear_pattern(cache_t *c, const char *pattern, uint64_t *n)
{
    buf_t b = BUF_INIT;
    if (strncmp(pattern, "emb:", 4) == 0 || strncmp(pattern, "llm:", 4) == 0)
        buf_puts(&b, pattern);
    else
        buf_printf(&b, "cache:%s", pattern);
    int rc = store_del_pattern(c->store, b.data, n);
    buf_free(&b);
    return rc;
}

int cache_clear_all(cache_t *c, uint64_t *n)
{
    static const char *const pats[] = { "cache:*", "emb:*", "llm:*", "llmsem:*", "semc:*" };
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        uint64_t k = 0;
        int rc = store_del_pattern(c->store, pats[i], &k);
        if (rc)
            return rc;
        total += k;
    }
    *n = total;
    return RAGD_OK;
}

#define COUNT_SLOTS 1024

typedef struct count_slot {
    char prefix[72];
    uint64_t n;
} count_slot;

typedef struct count_ctx {
    count_slot *slots;
    const char *under;    /* count only keys "<prefix>:<under>..." (NULL = all) */
    size_t ulen;
} count_ctx;

/* Store scans return keys in any order (sorted on LMDB, not on Redis), so
 * counts are merged in a small open-addressing table. */
static int cache__count_one(void *ud, const char *key, size_t klen, const void *v, size_t vl)
{
    const count_ctx *cx = ud;
    count_slot *slots = cx->slots;
    const char *p = key + 6;  /* past "cache:" */
    size_t rest = klen - 6;
    const char *colon = memchr(p, ':', rest);
    size_t pl = colon ? (size_t)(colon - p) : rest;
    if (cx->under &&
        (!colon || rest - pl - 1 < cx->ulen || memcmp(colon + 1, cx->under, cx->ulen) != 0))
        return 0;
    if (pl >= sizeof slots[0].prefix)
        pl = sizeof slots[0].prefix - 1;
    uint64_t h = hash_fnv1a64(p, pl);
    for (size_t i = 0; i < COUNT_SLOTS; i++) {
        count_slot *s = &slots[(h + i) & (COUNT_SLOTS - 1)];
        if (s->n == 0) {
            memcpy(s->prefix, p, pl);
            s->prefix[pl] = '\0';
        } else if (strlen(s->prefix) != pl || memcmp(s->prefix, p, pl) != 0) {
            continue;
        }
        s->n++;
        return 0;
    }
    return 0;  /* table full: further prefixes are not counted */
}

static int cache__count_plain(void *ud, const char *key, size_t klen, const void *v, size_t vl)
{
    (*(uint64_t *)ud)++;
    return 0;
}

int cache_count_keys_under(cache_t *c, const char *under,
                           void (*fn)(void *ud, const char *prefix, uint64_t n), void *ud)
{
    count_ctx cx = { xcalloc(COUNT_SLOTS, sizeof *cx.slots), under, under ? strlen(under) : 0 };
    int rc = store_scan(c->store, "cache:", 6, false, cache__count_one, &cx);
    for (size_t i = 0; rc == 0 && i < COUNT_SLOTS; i++)
        if (cx.slots[i].n)
            fn(ud, cx.slots[i].prefix, cx.slots[i].n);
    free(cx.slots);
    return rc;
}

int cache_count_keys(cache_t *c, void (*fn)(void *ud, const char *prefix, uint64_t n),
                     void *ud)
{
    int rc = cache_count_keys_under(c, NULL, fn, ud);
    if (rc == 0) {
        static const char *const internal[] = { "emb", "llm" };
        for (size_t i = 0; i < 2 && rc == 0; i++) {
            uint64_t n = 0;
            char pre[8];
            int pl = snprintf(pre, sizeof pre, "%s:", internal[i]);
            rc = store_scan(c->store, pre, (size_t)pl, false, cache__count_plain, &n);
            if (rc == 0 && n)
                fn(ud, internal[i], n);
        }
    }
    return rc;
}
