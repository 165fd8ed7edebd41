/*
 * test_auth.c - the auth layer without HTTP: the scope table, user ids,
 * auth_effective_user for user, tenant and service callers, keys from the
 * configuration and from the store (hashed), and JWT verification (HS256
 * tokens made with libjwt: issuer, audience, expiry, algorithm).
 */
#include <jwt.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "scratch_store.h"
#include "testing.h"
#include "util/json.h"

/* auth_opts over a parsed config file. */
typedef struct test_cfg {
    cJSON *file;
    auth_opts o;
} test_cfg;

static void cfg_with(test_cfg *cfg, const char *json)
{
    memset(cfg, 0, sizeof *cfg);
    if (json && json_parse(json, strlen(json), &cfg->file, NULL))
        abort();
    cfg->o.api_keys = cJSON_GetObjectItemCaseSensitive(cfg->file, "api_keys");
    cfg->o.jwt = cJSON_GetObjectItemCaseSensitive(cfg->file, "jwt");
    cfg->o.section = cJSON_GetObjectItemCaseSensitive(cfg->file, "auth");
}

static void cfg_free(test_cfg *cfg)
{
    cJSON_Delete(cfg->file);
}

TEST(scope_table)
{
    ASSERT_EQ_INT(auth_required_scope(HTTP_GET, "/api/v1/cache/stats"), AUTH_SCOPE_READ);
    ASSERT_EQ_INT(auth_required_scope(HTTP_PUT, "/api/v1/cache/{prefix}/{key*}"), AUTH_SCOPE_WRITE);
    ASSERT_EQ_INT(auth_required_scope(HTTP_POST, "/api/v1/cache/clear"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_DELETE, "/api/v1/cache"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_GET, "/api/v1/cache/config"), AUTH_SCOPE_READ);
    ASSERT_EQ_INT(auth_required_scope(HTTP_POST, "/api/v1/cache/config"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_GET, "/api/v1/keys"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_DELETE, "/api/v1/keys/{id}"), AUTH_SCOPE_ADMIN);
    /* Any parameter name matches: other areas name theirs as they like. */
    ASSERT_EQ_INT(auth_required_scope(HTTP_DELETE, "/api/v1/namespaces/{name}"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_POST, "/api/v1/namespaces"), AUTH_SCOPE_ADMIN);
    /* Changing a namespace's routing text or search beam affects every user. */
    ASSERT_EQ_INT(auth_required_scope(HTTP_PATCH, "/api/v1/namespaces/{ns}"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_PUT, "/api/v1/namespaces/{ns}"), AUTH_SCOPE_ADMIN);
    ASSERT_EQ_INT(auth_required_scope(HTTP_POST, "/api/v1/namespaces/{ns}/documents"),
                  AUTH_SCOPE_WRITE);
    ASSERT_EQ_INT(auth_required_scope(HTTP_GET, "/api/v1/namespaces/{ns}"), AUTH_SCOPE_READ);
    ASSERT_EQ_INT(auth_required_scope(HTTP_POST, "/v1/embeddings"), AUTH_SCOPE_READ);
    ASSERT_EQ_INT(auth_required_scope(HTTP_POST, "/v1/chat/completions"), AUTH_SCOPE_WRITE);
    ASSERT_EQ_INT(auth__scopes_close(AUTH_SCOPE_ADMIN), 7);
    ASSERT_EQ_INT(auth__scopes_close(AUTH_SCOPE_WRITE), 3);
    ASSERT_EQ_INT(auth_scope_parse("root"), 0);
}

TEST(user_ids)
{
    ASSERT_TRUE(auth_user_id_valid("alice"));
    ASSERT_TRUE(auth_user_id_valid("a.b+c@d.com"));
    ASSERT_TRUE(auth_user_id_valid("auth0|123"));
    ASSERT_TRUE(!auth_user_id_valid(""));
    ASSERT_TRUE(!auth_user_id_valid("a:b"));   /* would be ambiguous inside store keys */
    ASSERT_TRUE(!auth_user_id_valid("a/b"));   /* reserved for tenant-qualified ids */
    ASSERT_TRUE(!auth_user_id_valid("a b"));
    char long_id[200];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    ASSERT_TRUE(!auth_user_id_valid(long_id));
}

TEST(effective_user)
{
    auth_identity id;
    http_req req;
    http_resp resp;
    const char *user;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.auth = &id;
    /* user-bound */
    memset(&id, 0, sizeof id);
    snprintf(id.user_id, sizeof id.user_id, "alice");
    ASSERT_TRUE(auth_effective_user(&req, NULL, &user, &resp));
    ASSERT_EQ_STR(user, "alice");
    ASSERT_TRUE(auth_effective_user(&req, "alice", &user, &resp));
    ASSERT_TRUE(!auth_effective_user(&req, "bob", &user, &resp));
    ASSERT_EQ_INT(resp.status, 403);
    http_resp_clear(&resp);
    ASSERT_TRUE(!auth_effective_user(&req, "b:ob", &user, &resp));
    ASSERT_EQ_INT(resp.status, 400);
    http_resp_clear(&resp);
    /* tenant */
    memset(&id, 0, sizeof id);
    snprintf(id.tenant, sizeof id.tenant, "acme");
    ASSERT_TRUE(auth_effective_user(&req, "u1", &user, &resp));
    ASSERT_EQ_STR(user, "acme/u1");
    ASSERT_TRUE(auth_effective_user(&req, "", &user, &resp));
    ASSERT_EQ_STR(user, "acme/");
    /* service */
    memset(&id, 0, sizeof id);
    id.is_service = true;
    ASSERT_TRUE(auth_effective_user(&req, "bob", &user, &resp));
    ASSERT_EQ_STR(user, "bob");
    ASSERT_TRUE(auth_effective_user(&req, NULL, &user, &resp));
    ASSERT_TRUE(user == NULL);
    char ns[64];
    ASSERT_TRUE(auth_user_namespace(&req, "bob", ns, sizeof ns, &resp));
    ASSERT_EQ_STR(ns, "u:bob:");
    ASSERT_TRUE(auth_user_namespace(&req, NULL, ns, sizeof ns, &resp));
    ASSERT_EQ_STR(ns, "");
    http_resp_clear(&resp);
}

TEST(keys_config_and_store)
{
    store_t *st = scratch_store_open("auth");
    test_cfg cfg;
    cfg_with(&cfg, "{\"api_keys\": [{\"name\": \"ro\", \"key\": \"readonly-key-0123456789\","
                   " \"scopes\": [\"read\"], \"user_id\": \"carol\", \"tier\": \"premium\"}]}");
    cfg.o.admin_key = "admin-secret-0123456789";
    auth_t *a = NULL;
    ragd_error err;
    ASSERT_OK(auth_create(&cfg.o, st, &a, &err));
    ASSERT_TRUE(auth_enabled(a));
    auth_identity id;
    ASSERT_OK(auth__key_lookup(a, "admin-secret-0123456789", &id));
    ASSERT_TRUE(id.is_service && (id.scopes & AUTH_SCOPE_ADMIN));
    ASSERT_OK(auth__key_lookup(a, "readonly-key-0123456789", &id));
    ASSERT_EQ_STR(id.user_id, "carol");
    ASSERT_EQ_STR(id.tier, "premium");
    ASSERT_EQ_INT(id.scopes, AUTH_SCOPE_READ);
    ASSERT_EQ_INT(auth__key_lookup(a, "nope-nope-nope-nope", &id), RAGD_ENOTFOUND);
    /* A key made through the API is stored hashed and can be revoked. */
    auth_key_spec spec = { .name = "t", .scopes = AUTH_SCOPE_WRITE, .tenant = "acme" };
    char *secret = NULL;
    cJSON *info = NULL;
    ASSERT_OK(auth_key_create(a, &spec, &secret, &info, &err));
    ASSERT_OK(auth__key_lookup(a, secret, &id));
    ASSERT_EQ_STR(id.tenant, "acme");
    ASSERT_EQ_INT(id.scopes, AUTH_SCOPE_WRITE | AUTH_SCOPE_READ);
    store_value v;
    char skey[128], hash[HASH_SHA256_HEX_LEN + 1];
    hash_sha256_hex(secret, strlen(secret), hash);
    snprintf(skey, sizeof skey, "auth:key:%s", hash);
    ASSERT_OK(store_get(st, skey, strlen(skey), &v)); /* stored under the hash... */
    ASSERT_TRUE(memmem(v.data, v.len, secret, strlen(secret)) == NULL); /* ...not the secret */
    store_value_free(&v);
    ASSERT_TRUE(strncmp(json_get_str(info, "id") + 4, hash, 16) == 0);
    cJSON *list = NULL;
    ASSERT_OK(auth_key_list(a, &list));
    ASSERT_EQ_INT(cJSON_GetArraySize(list), 3);
    char *text = cJSON_PrintUnformatted(list);
    ASSERT_TRUE(strstr(text, secret) == NULL);
    free(text);
    cJSON_Delete(list);
    ASSERT_OK(auth_key_delete(a, json_get_str(info, "id")));
    ASSERT_EQ_INT(auth__key_lookup(a, secret, &id), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(auth_key_delete(a, json_get_str(info, "id")), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(store_get(st, skey, strlen(skey), &v), RAGD_ENOTFOUND);
    /* Bad specs. */
    auth_key_spec two = { .scopes = AUTH_SCOPE_READ, .user_id = "a", .service = true };
    char *s2 = NULL;
    cJSON *i2 = NULL;
    ASSERT_EQ_INT(auth_key_create(a, &two, &s2, &i2, &err), RAGD_EINVAL);
    free(secret);
    cJSON_Delete(info);
    auth_destroy(a);
    cfg_free(&cfg);
    scratch_store_close(st);
}

TEST(bad_config)
{
    store_t *st = scratch_store_open("auth");
    const char *bad[] = {
        "{\"api_keys\": {}}",
        "{\"api_keys\": [{\"key\": \"short\", \"scopes\": [\"read\"], \"service\": true}]}",
        "{\"api_keys\": [{\"key\": \"long-enough-key-1234\", \"scopes\": [\"x\"], \"service\": true}]}",
        "{\"jwt\": {\"issuer\": \"i\", \"audience\": \"a\"}}",
        "{\"jwt\": {\"hs256_secret_env\": \"RAGD_TEST_NO_SUCH_ENV\", \"issuer\": \"i\", \"audience\": \"a\"}}",
        "{\"auth\": {\"open_routes\": [\"health\"]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        test_cfg cfg;
        cfg_with(&cfg, bad[i]);
        auth_t *a = NULL;
        ragd_error err;
        int rc = auth_create(&cfg.o, st, &a, &err);
        cfg_free(&cfg);
        if (rc == 0)
            auth_destroy(a);
        ASSERT_EQ_INT(rc, RAGD_EINVAL);
    }
    /* No credentials: auth off, non-loopback refused unless allowed. */
    test_cfg cfg;
    cfg_with(&cfg, NULL);
    auth_t *a = NULL;
    ragd_error err;
    ASSERT_OK(auth_create(&cfg.o, st, &a, &err));
    ASSERT_TRUE(!auth_enabled(a));
    ASSERT_OK(auth_check_listen(a, "127.0.0.1:8080", false, &err));
    ASSERT_OK(auth_check_listen(a, "[::1]:8080", false, &err));
    ASSERT_EQ_INT(auth_check_listen(a, "0.0.0.0:8080", false, &err), RAGD_EINVAL);
    ASSERT_OK(auth_check_listen(a, "0.0.0.0:8080", true, &err));
    auth_destroy(a);
    cfg_free(&cfg);
    scratch_store_close(st);
}

static char *make_token(const char *secret, const char *iss, const char *aud, long exp,
                        const char *sub)
{
    jwt_t *j = NULL;
    jwt_new(&j);
    jwt_add_grant(j, "iss", iss);
    jwt_add_grant(j, "aud", aud);
    if (sub)
        jwt_add_grant(j, "sub", sub);
    jwt_add_grant_int(j, "exp", exp);
    jwt_add_grant(j, "tier", "premium");
    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret));
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

/* A token whose claims are exactly the JSON text given. */
static char *token_json(const char *secret, const char *claims)
{
    jwt_t *j = NULL;
    jwt_new(&j);
    jwt_add_grants_json(j, claims);
    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret));
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

/* An auth over st verifying HS256 tokens signed with secret (issuer "iss",
 * audience "ragd", leeway 60 s); cfg is the caller's to free. */
static auth_t *jwt_auth(store_t *st, test_cfg *cfg, const char *secret)
{
    setenv("RAGD_TEST_JWT", secret, 1);
    cfg_with(cfg, "{\"jwt\": {\"hs256_secret_env\": \"RAGD_TEST_JWT\", \"issuer\": \"iss\","
                  " \"audience\": \"ragd\", \"leeway\": 60}}");
    auth_t *a = NULL;
    ragd_error err;
    return auth_create(&cfg->o, st, &a, &err) ? NULL : a;
}

/* exp, nbf and iat must be well-formed times when present: an nbf of 2^63-1
 * once overflowed the leeway arithmetic, a string nbf was ignored. */
TEST(jwt_time_claims)
{
    const char *secret = "0123456789abcdef0123456789abcdef-jwt";
    store_t *st = scratch_store_open("auth");
    test_cfg cfg;
    auth_t *a = jwt_auth(st, &cfg, secret);
    ASSERT_TRUE(a != NULL);
    char ok_exp[32], claims[512];
    snprintf(ok_exp, sizeof ok_exp, "%ld", (long)time(NULL) + 600);
    const char *bad[][2] = {  /* {exp, other claims} */
        { ok_exp, "\"nbf\": 9223372036854775807" }, { ok_exp, "\"nbf\": \"0\"" },
        { ok_exp, "\"nbf\": null" }, { ok_exp, "\"nbf\": -1" }, { ok_exp, "\"nbf\": true" },
        { ok_exp, "\"iat\": \"yesterday\"" }, { ok_exp, "\"iat\": 1e300" },
        { "\"9999999999\"", "\"x\": 0" }, { "9223372036854775807", "\"x\": 0" },
        { "null", "\"x\": 0" },
    };
    auth_identity id;
    ragd_error err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(claims, sizeof claims, "{\"iss\": \"iss\", \"aud\": \"ragd\", \"sub\": \"dave\","
                 " \"exp\": %s, %s}", bad[i][0], bad[i][1]);
        char *t = token_json(secret, claims);
        int rc = auth__jwt_verify(a, t, &id, &err);
        free(t);
        if (rc != RAGD_EINVAL)
            T__FAIL("claims %s were accepted", claims);
    }
    /* well-formed times pass (fractional seconds too, nbf within the leeway); a later nbf not */
    long now = (long)time(NULL);
    const char *fmt = "{\"iss\": \"iss\", \"aud\": \"ragd\", \"sub\": \"dave\", \"exp\": %ld.5,"
                      " \"nbf\": %ld, \"iat\": %ld}";
    long nbf[] = { now + 30, now + 300 };
    for (int i = 0; i < 2; i++) {
        snprintf(claims, sizeof claims, fmt, now + 600, nbf[i], now);
        char *t = token_json(secret, claims);
        int rc = auth__jwt_verify(a, t, &id, &err);
        free(t);
        ASSERT_EQ_INT(rc, i == 0 ? 0 : RAGD_EINVAL);
    }
    ASSERT_EQ_STR(err.msg, "the token is not valid yet");
    auth_destroy(a);
    cfg_free(&cfg);
    scratch_store_close(st);
}

TEST(jwt_hs256)
{
    const char *secret = "0123456789abcdef0123456789abcdef-jwt";
    store_t *st = scratch_store_open("auth");
    test_cfg cfg;
    auth_t *a = jwt_auth(st, &cfg, secret);
    ASSERT_TRUE(a != NULL);
    ragd_error err;
    long now = (long)time(NULL);
    auth_identity id;
    char *t = make_token(secret, "iss", "ragd", now + 60, "dave");
    ASSERT_OK(auth__jwt_verify(a, t, &id, &err));
    ASSERT_EQ_STR(id.user_id, "dave");
    ASSERT_EQ_STR(id.tier, "premium");
    ASSERT_EQ_INT(id.scopes, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
    free(t);
    char *bad[] = {
        make_token(secret, "iss", "ragd", now - 3600, "dave"),       /* expired */
        make_token(secret, "other", "ragd", now + 60, "dave"),       /* issuer */
        make_token(secret, "iss", "other", now + 60, "dave"),        /* audience */
        make_token("another-secret-another-secret-xx", "iss", "ragd", now + 60, "dave"),
        make_token(secret, "iss", "ragd", now + 60, NULL),           /* no user */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = auth__jwt_verify(a, bad[i], &id, &err);
        free(bad[i]);
        ASSERT_EQ_INT(rc, RAGD_EINVAL);
    }
    ASSERT_EQ_INT(auth__jwt_verify(a, "not.a.token", &id, &err), RAGD_EINVAL);
    auth_destroy(a);
    cfg_free(&cfg);
    scratch_store_close(st);
}

int main(void)
{
    RUN(scope_table);
    RUN(user_ids);
    RUN(effective_user);
    RUN(keys_config_and_store);
    RUN(bad_config);
    RUN(jwt_hs256);
    RUN(jwt_time_claims);
    return TEST_REPORT();
}
