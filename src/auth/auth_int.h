/*
 * auth_int.h - private to src/auth/auth*.c: the auth handle, the keys known
 * from configuration, and the JWT verifier.
 */
#ifndef RAGD_AUTH_INT_H
#define RAGD_AUTH_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "auth/auth.h"
#include "util/hash.h"

/* A key from the bootstrap admin key or the config file (immutable). */
typedef struct auth_static_key {
    char hash[HASH_SHA256_HEX_LEN + 1];
    auth_identity id;
} auth_static_key;

typedef struct auth_jwt auth_jwt;

struct auth {
    store_t *store;
    auth_static_key *keys;
    size_t nkeys;
    auth_jwt *jwt;                  /* NULL when no "jwt" section */
    char **open_routes;             /* reachable without a credential */
    size_t nopen;
    char metrics_hash[HASH_SHA256_HEX_LEN + 1]; /* of metrics_key; "" = none */
    char default_tier[AUTH_TIER_MAX + 1];
    _Atomic bool enabled;
    _Atomic int64_t next_probe_ms;  /* while off: when to look for API-created keys */
    /* counters, only touched atomically (metrics_inc / metrics_load) */
    uint64_t n_ok, n_missing, n_invalid, n_forbidden, n_unavailable;
};

/* Marker stored when the first key is created through the API, so every
 * instance sharing the store turns auth on. */
#define AUTH_ENABLED_KEY "auth:enabled"
#define AUTH_KEY_PREFIX "auth:key:"

/* Load o->api_keys and o->admin_key into a->keys (auth_keys.c). */
int auth__keys_load(auth_t *a, const auth_opts *o, ragd_error *err);
/* Find the identity of a presented API key: static keys, then the store.
 * RAGD_ENOTFOUND unknown, RAGD_EUNAVAIL store down. */
int auth__key_lookup(auth_t *a, const char *secret, auth_identity *id);
/* Fill id from a key description object ({scopes, user_id|tenant|service, tier}). */
int auth__identity_from_json(auth_t *a, const cJSON *o, auth_identity *id, ragd_error *err);

/* JWT (auth_jwt.c): create from the "jwt" section; verify a token. */
int auth__jwt_create(const cJSON *section, auth_jwt **out, ragd_error *err);
void auth__jwt_destroy(auth_jwt *j);
/* RAGD_EINVAL with a reason in err for any bad token. */
int auth__jwt_verify(auth_t *a, const char *token, auth_identity *id, ragd_error *err);

/* Route patterns equal, a {param} segment matching any {param}. */
bool auth__route_eq(const char *a, const char *b);

/* Apply scope nesting (admin => write => read). */
unsigned auth__scopes_close(unsigned s);

#endif
