/*
 * user_content.h - the seeds' per-user content (an item is {id, user_id,
 * content, content_type, metadata, created_at} embedded with the model) kept
 * as knowledge-base documents in one namespace: every item is a document
 * owned by its user, so every search and RAG query sees only its owner's
 * items, and its metadata carries content_type and created_at. Item ids start
 * with a digest of the owner, so listing a user's items reads only theirs.
 *
 * Content types are stored in lower case and matched leniently so the seeds'
 * plural names find their singular items: "Workouts" matches "workout",
 * "activities" "activity".
 *
 * Threading: every function is thread-safe (the kb is).
 */
#ifndef RAGD_KB_USER_CONTENT_H
#define RAGD_KB_USER_CONTENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/kb.h"
#include "util/err.h"

#define UC_ID_LEN 33          /* "<12 hex of the owner's digest>-<20 random hex>" */
#define UC_TYPE_MAX 64        /* content types: 1..64 bytes of [A-Za-z0-9_.-] */

#define UC_TTL_MAX 315360000  /* the longest TTL, in seconds (ten years) */

typedef struct uc_item_in {
    const char *user_id;      /* owner (required) */
    const char *content_type; /* required, uc_type_ok */
    const char *text;         /* UTF-8, non-empty */
    size_t len;
    const cJSON *metadata;    /* object or NULL; copied, content_type/created_at set */
    int64_t expires_at;       /* unix seconds, 0 = never (see uc_ttl_expiry) */
} uc_item_in;

/* TTL per content type (the user_content_ttl setting): "type=seconds,...",
 * types matched leniently (uc_type_same), "*" for every type not listed,
 * 0 = no expiry. Owned by its holder: uc_ttl_free. Read-only once parsed
 * (thread-safe to read). */
typedef struct uc_ttl_rule {
    char type[UC_TYPE_MAX + 1];
    int64_t seconds;
} uc_ttl_rule;

typedef struct uc_ttl_map {
    uc_ttl_rule *v;
    size_t n;
} uc_ttl_map;

/* Parse spec ("" or NULL = no rule) into *out. RAGD_EINVAL (err names the
 * bad rule): a type that is not uc_type_ok or "*", seconds not an integer in
 * [0, UC_TTL_MAX], a type given twice. */
int uc_ttl_parse(const char *spec, uc_ttl_map *out, ragd_error *err);
void uc_ttl_free(uc_ttl_map *m);
/* The TTL of content_type in seconds (0 = none). */
int64_t uc_ttl_of(const uc_ttl_map *m, const char *content_type);
/* expires_at of an item stored now with a TTL of ttl seconds (0 = never). */
int64_t uc_ttl_expiry(int64_t ttl);

/* Is t a valid content type? */
bool uc_type_ok(const char *t);

/* Create namespace ns if it does not exist yet (default settings).
 * Errors: kb_ns_create's, except that one created meanwhile is fine. */
int uc_ns_ensure(kb_t *kb, const char *ns, ragd_error *err);

/* Store one item (embedded and indexed before it returns). id gets its id.
 * Errors: RAGD_EINVAL (err says which field), kb_docs_upsert's. */
int uc_item_put(kb_t *kb, const char *ns, const uc_item_in *in, char id[UC_ID_LEN + 1],
                ragd_error *err);

/* One of user's items as {id, user_id, content, content_type, metadata,
 * created_at, expires_at (unix seconds, only when it has one)} (caller
 * cJSON_Deletes). RAGD_ENOTFOUND also when the item is another user's or has
 * expired. */
int uc_item_get(kb_t *kb, const char *ns, const char *user_id, const char *id, cJSON **out);

/* Delete one of user's items. RAGD_ENOTFOUND also when it is another user's. */
int uc_item_delete(kb_t *kb, const char *ns, const char *user_id, const char *id);

/* A page of user's items, newest first, optionally only of content_type
 * (lenient match; NULL = all): *items is a JSON array (caller cJSON_Deletes),
 * *total the count before paging. */
int uc_item_list(kb_t *kb, const char *ns, const char *user_id, const char *content_type,
                 size_t offset, size_t limit, cJSON **items, uint64_t *total);

/* The metadata filter {"content_type": {"$in": [...]}} matching any of
 * types[0..n) leniently, and-ed with also (a filter spec, copied) unless also
 * is NULL or empty; caller cJSON_Deletes. */
cJSON *uc_type_filter(const char *const *types, size_t n, const cJSON *also);

/* Do two content types name the same kind ("workout" / "Workouts")? */
bool uc_type_same(const char *a, const char *b);

#endif
