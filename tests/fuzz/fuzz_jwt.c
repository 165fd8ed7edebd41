/*
 * fuzz_jwt.c - libFuzzer harness for the JWT verifier (auth/auth_jwt.c) with
 * an HS256 secret: an odd first byte sends the rest as the raw token (header,
 * algorithm and signature checks); an even one signs the rest as the claims
 * with the right secret, so the claim checks (exp, nbf, iss, aud, user, scope,
 * tier) see arbitrary values. A token is accepted or refused, never a crash.
 */
#include <jwt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "fuzz_util.h"

#define FUZZ_SECRET "fuzz-secret-0123456789abcdef-0123456789"

static auth_t *auth;
static store_t *store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/ragd-fuzz-jwt-XXXXXX";
    store_config sc;
    store_config_default(&sc);
    sc.data_dir = mkdtemp(dir);
    sc.map_size = 16ull << 20;
    ragd_error err;
    if (!sc.data_dir || store_open(&sc, &store, &err) != 0)
        exit(1);
    setenv("RAGD_FUZZ_JWT", FUZZ_SECRET, 1);
    cJSON *jwt = cJSON_Parse("{\"hs256_secret_env\": \"RAGD_FUZZ_JWT\", \"issuer\": \"iss\", "
                             "\"audience\": \"ragd\"}");
    auth_opts ao = { .jwt = jwt };
    if (auth_create(&ao, store, &auth, &err) != 0) {
        fprintf(stderr, "fuzz_jwt: %s\n", err.msg);
        exit(1);
    }
    cJSON_Delete(jwt);
    return 0;
}

/* The claims JSON signed with the secret, or NULL if libjwt refuses it. */
static char *fuzz__signed(const char *claims)
{
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0)
        return NULL;
    char *t = NULL;
    if (jwt_add_grants_json(j, claims) == 0 &&
        jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)FUZZ_SECRET,
                    (int)strlen(FUZZ_SECRET)) == 0)
        t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *rest = fuzz_strndup(data + 1, size - 1);
    char *token = (data[0] & 1) ? rest : fuzz__signed(rest);
    if (token) {
        auth_identity id;
        ragd_error err;
        if (auth__jwt_verify(auth, token, &id, &err) == 0 && !auth_user_id_valid(id.user_id))
            abort();
    }
    if (token != rest)
        free(token);
    free(rest);
    return 0;
}
