/*
 * auth_keys.c - API keys. A key is "rgd_" + 48 random hex digits, shown once;
 * only its SHA-256 is kept: in memory for the bootstrap admin key and the config
 * file's "api_keys", in the store as auth:key:<sha256> (a JSON description:
 * id, name, scopes, user_id | tenant | service, tier, created_at) for keys made
 * through the admin API. A key's id is "key_" + the first 16 hex digits of its
 * hash, so it can be listed and revoked without the secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth/auth_int.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

#define AUTH_SECRET_MAX 512

static bool keys__tier_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > AUTH_TIER_MAX)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '_' || *t == '-' || *t == '.'))
            return false;
    return true;
}

int auth__identity_from_json(auth_t *a, const cJSON *o, auth_identity *id, ragd_error *err)
{
    memset(id, 0, sizeof *id);
    const cJSON *sc = json_get_arr(o, "scopes");
    unsigned scopes = 0;
    for (const cJSON *it = sc ? sc->child : NULL; it; it = it->next) {
        unsigned b = cJSON_IsString(it) ? auth_scope_parse(it->valuestring) : 0;
        if (!b)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "scopes: each must be \"read\", \"write\" or \"admin\"");
        scopes |= b;
    }
    if (!scopes)
        return ragd_error_set(err, RAGD_EINVAL, "scopes: give a non-empty array");
    const char *user = json_get_str(o, "user_id"), *tenant = json_get_str(o, "tenant");
    bool service = false;
    json_get_bool(o, "service", &service);
    if ((user != NULL) + (tenant != NULL) + service != 1)
        return ragd_error_set(err, RAGD_EINVAL,
                              "give exactly one of user_id, tenant or \"service\": true");
    if ((user && !auth_user_id_valid(user)) || (tenant && !auth_user_id_valid(tenant)))
        return ragd_error_set(err, RAGD_EINVAL,
                              "user_id/tenant: 1-128 characters of [A-Za-z0-9_.@+|-]");
    const char *tier = json_get_str(o, "tier");
    if (tier && !keys__tier_valid(tier))
        return ragd_error_set(err, RAGD_EINVAL, "tier: 1-32 characters of [A-Za-z0-9_.-]");
    snprintf(id->user_id, sizeof id->user_id, "%s", user ? user : "");
    snprintf(id->tenant, sizeof id->tenant, "%s", tenant ? tenant : "");
    snprintf(id->tier, sizeof id->tier, "%s", tier ? tier : a->default_tier);
    id->is_service = service;
    id->scopes = auth__scopes_close(scopes);
    const char *kid = json_get_str(o, "id");
    snprintf(id->key_id, sizeof id->key_id, "%s", kid ? kid : "key");
    return 0;
}

static void keys__add(auth_t *a, const char *hash, const auth_identity *id)
{
    a->keys = xrealloc(a->keys, (a->nkeys + 1) * sizeof *a->keys);
    auth_static_key *k = &a->keys[a->nkeys++];
    snprintf(k->hash, sizeof k->hash, "%s", hash);
    k->id = *id;
}

static bool keys__hex64(const char *s)
{
    if (!s || strlen(s) != HASH_SHA256_HEX_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int auth_check_admin_key(const char *admin_key, ragd_error *err)
{
    size_t n = admin_key ? strlen(admin_key) : 0;
    if (n && (n < 16 || n > AUTH_SECRET_MAX))
        return ragd_error_set(err, RAGD_EINVAL,
                              "admin_key: use 16 to %d characters (a random secret)",
                              AUTH_SECRET_MAX);
    return RAGD_OK;
}

int auth__keys_load(auth_t *a, const auth_opts *o, ragd_error *err)
{
    char hash[HASH_SHA256_HEX_LEN + 1];
    int rc = auth_check_admin_key(o->admin_key, err);
    if (rc)
        return rc;
    if (o->admin_key && o->admin_key[0]) {
        auth_identity id = { .scopes = auth__scopes_close(AUTH_SCOPE_ADMIN), .is_service = true };
        snprintf(id.key_id, sizeof id.key_id, "admin");
        snprintf(id.tier, sizeof id.tier, "%s", a->default_tier);
        hash_sha256_hex(o->admin_key, strlen(o->admin_key), hash);
        keys__add(a, hash, &id);
    }
    const cJSON *arr = o->api_keys;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return ragd_error_set(err, RAGD_EINVAL, "api_keys: must be an array of key objects");
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        auth_identity id;
        ragd_error e2;
        if (!cJSON_IsObject(it) || auth__identity_from_json(a, it, &id, &e2))
            return ragd_error_set(err, RAGD_EINVAL, "api_keys[%d]: %s", i,
                                  cJSON_IsObject(it) ? e2.msg : "must be an object");
        const char *key = json_get_str(it, "key"), *sha = json_get_str(it, "key_sha256");
        if (key && strlen(key) >= 16 && strlen(key) <= AUTH_SECRET_MAX)
            hash_sha256_hex(key, strlen(key), hash);
        else if (!key && keys__hex64(sha))
            snprintf(hash, sizeof hash, "%s", sha);
        else
            return ragd_error_set(err, RAGD_EINVAL,
                                  "api_keys[%d]: give \"key\" (16-%d characters) or "
                                  "\"key_sha256\" (64 lowercase hex digits)", i, AUTH_SECRET_MAX);
        const char *name = json_get_str(it, "name");
        snprintf(id.key_id, sizeof id.key_id, "config:%.30s", name ? name : hash);
        keys__add(a, hash, &id);
    }
    return 0;
}

int auth__key_lookup(auth_t *a, const char *secret, auth_identity *id)
{
    size_t n = strlen(secret);
    if (n == 0 || n > AUTH_SECRET_MAX)
        return RAGD_ENOTFOUND;
    char hash[HASH_SHA256_HEX_LEN + 1];
    hash_sha256_hex(secret, n, hash);
    for (size_t i = 0; i < a->nkeys; i++)
        if (memcmp(a->keys[i].hash, hash, HASH_SHA256_HEX_LEN) == 0) {
            *id = a->keys[i].id;
            return 0;
        }
    char skey[sizeof AUTH_KEY_PREFIX + HASH_SHA256_HEX_LEN];
    int kl = snprintf(skey, sizeof skey, AUTH_KEY_PREFIX "%s", hash);
    store_value v;
    int rc = store_get(a->store, skey, (size_t)kl, &v);
    if (rc)
        return rc == RAGD_EUNAVAIL || rc == RAGD_ETIMEOUT ? RAGD_EUNAVAIL : RAGD_ENOTFOUND;
    cJSON *o = NULL;
    rc = json_parse_stored(v.data, v.len, &o);
    store_value_free(&v);
    if (rc == 0)
        rc = auth__identity_from_json(a, o, id, NULL) ? RAGD_ENOTFOUND : 0;
    cJSON_Delete(o);
    return rc ? RAGD_ENOTFOUND : 0;
}

int auth_key_create(auth_t *a, const auth_key_spec *spec, char **secret, cJSON **info,
                    ragd_error *err)
{
    unsigned char rnd[24];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return ragd_error_set(err, RAGD_EIO, "no randomness available");
    char hex[2 * sizeof rnd + 1], plain[8 + sizeof hex], hash[HASH_SHA256_HEX_LEN + 1];
    hash_hex(rnd, sizeof rnd, hex);
    snprintf(plain, sizeof plain, "rgd_%s", hex);
    hash_sha256_hex(plain, strlen(plain), hash);
    cJSON *o = cJSON_CreateObject();
    char kid[24];
    snprintf(kid, sizeof kid, "key_%.16s", hash);
    cJSON_AddStringToObject(o, "id", kid);
    if (spec->name)
        cJSON_AddStringToObject(o, "name", spec->name);
    auth_scopes_json(spec->scopes, cJSON_AddArrayToObject(o, "scopes"));
    if (spec->user_id)
        cJSON_AddStringToObject(o, "user_id", spec->user_id);
    if (spec->tenant)
        cJSON_AddStringToObject(o, "tenant", spec->tenant);
    if (spec->service)
        cJSON_AddBoolToObject(o, "service", true);
    cJSON_AddStringToObject(o, "tier", spec->tier ? spec->tier : a->default_tier);
    cJSON_AddNumberToObject(o, "created_at", (double)(clock_wall_ms() / 1000));
    auth_identity check;
    int rc = auth__identity_from_json(a, o, &check, err);
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    buf_t b = BUF_INIT;
    json_write(o, &b);
    char skey[sizeof AUTH_KEY_PREFIX + HASH_SHA256_HEX_LEN];
    int kl = snprintf(skey, sizeof skey, AUTH_KEY_PREFIX "%s", hash);
    /* The key first, then the switch that makes keys required: two writes, not
     * one batch, since on Redis Cluster the two keys lie in different slots.
     * Failing between them leaves a key nobody holds (its secret was never
     * returned) and auth as it was, never auth on without the key. */
    rc = store_set(a->store, skey, (size_t)kl, b.data, b.len, 0, 0);
    if (rc == 0)
        rc = store_set(a->store, AUTH_ENABLED_KEY, strlen(AUTH_ENABLED_KEY), "1", 1, 0, 0);
    buf_free(&b);
    if (rc) {
        cJSON_Delete(o);
        return ragd_error_set(err, rc, "the key was not stored: %s", ragd_strerror(rc));
    }
    atomic_store(&a->enabled, true);
    *secret = xstrdup(plain);
    *info = o;
    return 0;
}

typedef struct keys_scan {
    cJSON *arr;
    char (*found)[sizeof AUTH_KEY_PREFIX + HASH_SHA256_HEX_LEN];
    size_t nfound;
} keys_scan;

static int keys__list_cb(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    keys_scan *ks = ud;
    cJSON *o = NULL;
    if (json_parse_stored(val, vlen, &o) == 0 && cJSON_IsObject(o))
        cJSON_AddItemToArray(ks->arr, o);
    else
        cJSON_Delete(o);
    return 0;
}

int auth_key_list(auth_t *a, cJSON **out)
{
    keys_scan ks = { cJSON_CreateArray(), NULL, 0 };
    int rc = store_scan(a->store, AUTH_KEY_PREFIX, strlen(AUTH_KEY_PREFIX), true, keys__list_cb,
                        &ks);
    if (rc) {
        cJSON_Delete(ks.arr);
        return rc;
    }
    for (size_t i = 0; i < a->nkeys; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", a->keys[i].id.key_id);
        cJSON_AddStringToObject(o, "source", "config");
        auth_scopes_json(a->keys[i].id.scopes, cJSON_AddArrayToObject(o, "scopes"));
        cJSON_AddItemToArray(ks.arr, o);
    }
    *out = ks.arr;
    return 0;
}

static int keys__find_cb(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    keys_scan *ks = ud;
    if (klen >= sizeof ks->found[0])
        return 0;
    ks->found = xrealloc(ks->found, (ks->nfound + 1) * sizeof ks->found[0]);
    memcpy(ks->found[ks->nfound], key, klen);
    ks->found[ks->nfound][klen] = '\0';
    ks->nfound++;
    return 0;
}

int auth_key_delete(auth_t *a, const char *id)
{
    if (!id || strncmp(id, "key_", 4) != 0 || strlen(id) != 20)
        return RAGD_ENOTFOUND;
    for (const char *p = id + 4; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return RAGD_ENOTFOUND;
    char prefix[64];
    int pl = snprintf(prefix, sizeof prefix, AUTH_KEY_PREFIX "%s", id + 4);
    keys_scan ks = { NULL, NULL, 0 };
    int rc = store_scan(a->store, prefix, (size_t)pl, false, keys__find_cb, &ks);
    if (rc == 0 && ks.nfound == 0)
        rc = RAGD_ENOTFOUND;
    for (size_t i = 0; rc == 0 && i < ks.nfound; i++)
        rc = store_del(a->store, ks.found[i], strlen(ks.found[i]));
    free(ks.found);
    return rc;
}
