/*
 * key.h - the exact-cache key of a completion request: SHA-256 of the
 * canonical JSON (sorted keys, one number format) of everything that can
 * change the answer - every body field except the few that cannot (stream,
 * stream_options, user, metadata, store, service_tier) - together with the
 * endpoint and the scope, so users never share answers unless the scope is
 * global. The canonical text is kept with the cached entry and compared on a
 * hit.
 */
#ifndef RAGD_GW_KEY_H
#define RAGD_GW_KEY_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "util/buf.h"
#include "util/hash.h"

enum gw_endpoint { GW_CHAT = 1, GW_COMPLETIONS = 2 };

/* Name of an endpoint as used in keys and logs ("chat", "completions"). */
const char *gw_endpoint_name(int endpoint);

/* true if a body field cannot change the answer and stays out of the key. */
bool gw_key_field_ignored(const char *name);

/* Append the canonical key material of body to canon and write its SHA-256 hex
 * into hash. scope is "global" or "user:<id>". Thread-safe. */
void gw_key_build(const cJSON *body, int endpoint, const char *scope, buf_t *canon,
                  char hash[HASH_SHA256_HEX_LEN + 1]);

#endif
