/*
 * auth_jwt.c - JWT bearer tokens (RFC 7519) verified with libjwt: HS256 with a
 * secret read from an environment variable, RS256 with a PEM public key file.
 * The key is chosen by the token's "alg" only among the configured ones (an
 * HS256 token is never checked against the RSA public key, which would let the
 * public key forge tokens), then issuer, audience (string or array), expiry
 * and not-before are checked with a small leeway. The user id comes from a
 * configured claim; optional claims carry scopes and the rate-limit tier.
 */
#include <errno.h>
#include <jwt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/json.h"
#include "util/mem.h"

struct auth_jwt {
    unsigned char *hs_secret;
    size_t hs_len;
    unsigned char *rs_pem;
    size_t rs_len;
    char *issuer, *audience, *user_claim, *scope_claim, *tier_claim;
    int64_t leeway_s;
};

static char *jwt__dup_or(const cJSON *sec, const char *name, const char *def)
{
    const char *v = json_get_str(sec, name);
    return v ? xstrdup(v) : def ? xstrdup(def) : NULL;
}

void auth__jwt_destroy(auth_jwt *j)
{
    if (!j)
        return;
    free(j->hs_secret);
    free(j->rs_pem);
    free(j->issuer);
    free(j->audience);
    free(j->user_claim);
    free(j->scope_claim);
    free(j->tier_claim);
    free(j);
}

int auth__jwt_create(const cJSON *sec, auth_jwt **out, ragd_error *err)
{
    if (!cJSON_IsObject(sec))
        return ragd_error_set(err, RAGD_EINVAL, "jwt: must be an object");
    auth_jwt *j = xcalloc(1, sizeof *j);
    const char *env = json_get_str(sec, "hs256_secret_env");
    const char *pem = json_get_str(sec, "rs256_public_key_file");
    int rc = 0;
    if (env) {
        const char *v = getenv(env);
        if (!v || strlen(v) < 32)
            rc = ragd_error_set(err, RAGD_EINVAL,
                                "jwt.hs256_secret_env: $%s must hold a secret of at least 32 "
                                "bytes", env);
        else {
            j->hs_secret = (unsigned char *)xstrdup(v);
            j->hs_len = strlen(v);
        }
    }
    if (rc == 0 && pem && file_read_all(pem, (char **)&j->rs_pem, &j->rs_len))
        rc = ragd_error_set(err, RAGD_EINVAL, "jwt.rs256_public_key_file: cannot read %s", pem);
    if (rc == 0 && !j->hs_secret && !j->rs_pem)
        rc = ragd_error_set(err, RAGD_EINVAL,
                            "jwt: give hs256_secret_env or rs256_public_key_file");
    j->issuer = jwt__dup_or(sec, "issuer", NULL);
    j->audience = jwt__dup_or(sec, "audience", NULL);
    j->user_claim = jwt__dup_or(sec, "user_claim", "sub");
    j->scope_claim = jwt__dup_or(sec, "scope_claim", "scope");
    j->tier_claim = jwt__dup_or(sec, "tier_claim", "tier");
    j->leeway_s = 30;
    if (rc == 0 && json_get_int(sec, "leeway", 0, 3600, &j->leeway_s) == RAGD_EINVAL)
        rc = ragd_error_set(err, RAGD_EINVAL, "jwt.leeway: seconds in [0, 3600]");
    if (rc == 0 && (!j->issuer || !j->audience))
        rc = ragd_error_set(err, RAGD_EINVAL, "jwt: issuer and audience are required");
    if (rc) {
        auth__jwt_destroy(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* base64url (no padding) decode of n bytes into a malloc'd NUL-terminated buffer. */
static char *jwt__b64url(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : c == '_' ? 63 : -1;
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits);
        }
    }
    out[o] = '\0';
    return out;
}

/* The "alg" of the token's header, or JWT_ALG_INVAL. */
static jwt_alg_t jwt__header_alg(const char *token)
{
    const char *dot = strchr(token, '.');
    if (!dot)
        return JWT_ALG_INVAL;
    char *hdr = jwt__b64url(token, (size_t)(dot - token));
    cJSON *h = NULL;
    jwt_alg_t alg = JWT_ALG_INVAL;
    if (hdr && json_parse(hdr, strlen(hdr), &h, NULL) == 0) {
        const char *a = json_get_str(h, "alg");
        alg = a ? jwt_str_alg(a) : JWT_ALG_INVAL;
    }
    cJSON_Delete(h);
    free(hdr);
    return alg;
}

static bool jwt__aud_ok(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (cJSON_IsArray(aud))
        for (const cJSON *it = aud->child; it; it = it->next)
            if (cJSON_IsString(it) && strcmp(it->valuestring, want) == 0)
                return true;
    return false;
}

/* Scopes from a space-separated string or an array; read+write if absent. */
static unsigned jwt__scopes(const cJSON *v)
{
    if (!v)
        return AUTH_SCOPE_READ | AUTH_SCOPE_WRITE;
    unsigned s = 0;
    if (cJSON_IsArray(v)) {
        for (const cJSON *it = v->child; it; it = it->next)
            s |= cJSON_IsString(it) ? auth_scope_parse(it->valuestring) : 0;
    } else if (cJSON_IsString(v)) {
        char *copy = xstrdup(v->valuestring), *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
            s |= auth_scope_parse(t);
        free(copy);
    }
    return s;
}

/* Latest NumericDate accepted: 9999-12-31T23:59:59Z. Bounding the claims
 * keeps the leeway arithmetic below far from overflow. */
#define JWT_TIME_MAX 253402300799.0

/* A NumericDate claim (RFC 7519 section 2: seconds, possibly fractional) into
 * whole seconds. 0 ok, RAGD_ENOTFOUND absent, RAGD_EINVAL present but not a
 * number in [0, JWT_TIME_MAX] (a string "nbf" must not be ignored). */
static int jwt__time(const cJSON *c, const char *name, int64_t *out)
{
    double d;
    int rc = json_get_num(c, name, 0, JWT_TIME_MAX, &d);
    if (rc == 0)
        *out = (int64_t)d;
    else if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, name)))
        rc = RAGD_EINVAL;  /* an explicit null is not an absent claim */
    return rc;
}

/* exp (required), nbf and iat (optional, but well-formed when present). */
static int jwt__times(const auth_jwt *j, const cJSON *c, ragd_error *err)
{
    int64_t now = clock_wall_ms() / 1000, exp, nbf, iat;
    if (jwt__time(c, "exp", &exp))
        return ragd_error_set(err, RAGD_EINVAL, "the token has no valid exp claim");
    if (exp < now - j->leeway_s)
        return ragd_error_set(err, RAGD_EINVAL, "the token has expired");
    int rc = jwt__time(c, "nbf", &nbf);
    if (rc == RAGD_EINVAL)
        return ragd_error_set(err, RAGD_EINVAL, "the token's nbf claim is not a valid time");
    if (rc == 0 && nbf > now + j->leeway_s)
        return ragd_error_set(err, RAGD_EINVAL, "the token is not valid yet");
    if (jwt__time(c, "iat", &iat) == RAGD_EINVAL)
        return ragd_error_set(err, RAGD_EINVAL, "the token's iat claim is not a valid time");
    return 0;
}

static int jwt__claims(auth_t *a, const cJSON *c, auth_identity *id, ragd_error *err)
{
    auth_jwt *j = a->jwt;
    int rc = jwt__times(j, c, err);
    if (rc)
        return rc;
    const char *iss = json_get_str(c, "iss");
    if (!iss || strcmp(iss, j->issuer) != 0)
        return ragd_error_set(err, RAGD_EINVAL, "the token's issuer is not accepted");
    if (!jwt__aud_ok(cJSON_GetObjectItemCaseSensitive(c, "aud"), j->audience))
        return ragd_error_set(err, RAGD_EINVAL, "the token's audience is not accepted");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(c, j->user_claim);
    char user[AUTH_ID_MAX + 2] = "";
    if (cJSON_IsString(u))
        snprintf(user, sizeof user, "%s", u->valuestring);
    else if (cJSON_IsNumber(u) && fabs(u->valuedouble) < 9007199254740992.0 &&
             u->valuedouble == floor(u->valuedouble))
        snprintf(user, sizeof user, "%lld", (long long)u->valuedouble);
    if (!auth_user_id_valid(user))
        return ragd_error_set(err, RAGD_EINVAL,
                              "claim '%s' must be a user id of 1-128 characters of "
                              "[A-Za-z0-9_.@+|-]", j->user_claim);
    memset(id, 0, sizeof *id);
    memcpy(id->user_id, user, strlen(user) + 1); /* valid ids fit: at most AUTH_ID_MAX */
    snprintf(id->key_id, sizeof id->key_id, "jwt");
    id->scopes = auth__scopes_close(jwt__scopes(cJSON_GetObjectItemCaseSensitive(c, j->scope_claim)));
    const char *tier = json_get_str(c, j->tier_claim);
    snprintf(id->tier, sizeof id->tier, "%s", tier && *tier && strlen(tier) <= AUTH_TIER_MAX &&
                                               auth_user_id_valid(tier) ? tier : a->default_tier);
    return 0;
}

int auth__jwt_verify(auth_t *a, const char *token, auth_identity *id, ragd_error *err)
{
    auth_jwt *j = a->jwt;
    jwt_alg_t alg = jwt__header_alg(token);
    const unsigned char *key = NULL;
    size_t klen = 0;
    if (alg == JWT_ALG_HS256 && j->hs_secret) {
        key = j->hs_secret;
        klen = j->hs_len;
    } else if (alg == JWT_ALG_RS256 && j->rs_pem) {
        key = j->rs_pem;
        klen = j->rs_len;
    } else {
        return ragd_error_set(err, RAGD_EINVAL, "the token's algorithm is not accepted");
    }
    jwt_t *t = NULL;
    if (jwt_decode(&t, token, key, (int)klen) != 0 || !t || jwt_get_alg(t) != alg) {
        jwt_free(t);
        return ragd_error_set(err, RAGD_EINVAL, "the token's signature does not verify");
    }
    char *claims = jwt_get_grants_json(t, NULL);
    jwt_free(t);
    cJSON *c = NULL;
    int rc = claims ? json_parse(claims, strlen(claims), &c, NULL) : RAGD_EINVAL;
    free(claims);
    if (rc || !cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return ragd_error_set(err, RAGD_EINVAL, "the token's claims are not a JSON object");
    }
    rc = jwt__claims(a, c, id, err);
    cJSON_Delete(c);
    return rc;
}
