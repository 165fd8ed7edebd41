/*
 * session.h - sessions and conversation history over the store. A session is
 * a JSON document with a TTL, either absolute or sliding (refreshed by every
 * access), owned by the user that created it: keys are namespaced by owner
 * (sess:u:<owner>:<id>, or sess:s:<id> for shared/service sessions), so one
 * user can neither see nor touch another's session even with the same id. Its
 * history (sess:...:<id>:msgs) holds {seq, role, content, metadata,
 * created_at} messages, the oldest dropped beyond max_messages, and expires
 * with the session. Updates are compare-and-set loops, atomic on both stores.
 *
 * Every function is thread-safe and returns 0 or a RAGD_E* code:
 * RAGD_ENOTFOUND (no such session for this owner), RAGD_ETOOBIG (over
 * max_bytes), RAGD_EINVAL (bad id or document), RAGD_EUNAVAIL (store down).
 */
#ifndef RAGD_SESSION_H
#define RAGD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "store/store.h"

typedef struct sessions sessions_t;

typedef struct session_opts {
    size_t max_bytes;       /* largest document / message (serialised) */
    int max_messages;       /* history kept per session */
    int64_t default_ttl_s;  /* when a PUT gives none */
} session_opts;

/* Embeds n texts into out (n * dim floats); returns 0 or a RAGD_E* code. Used
 * by session_relevant; set with sessions_set_embedder. */
typedef int (*session_embed_fn)(void *ud, const char *const *texts, const size_t *lens,
                                size_t n, float *out);

/* The store is borrowed. Caller owns *out: sessions_destroy(). */
int sessions_create(store_t *store, const session_opts *o, sessions_t **out);
void sessions_destroy(sessions_t *s);

/* Wire the embedding model (dim floats per text). Call before serving. */
void sessions_set_embedder(sessions_t *s, session_embed_fn fn, void *ud, size_t dim);

/* 1-128 characters of [A-Za-z0-9_.-]. */
bool session_id_valid(const char *id);

/* TTL modes. */
enum { SESSION_TTL_KEEP = -1 };

/* Create or replace the session's document (data: any JSON value, borrowed).
 * ttl_s 0 = default; sliding chooses the TTL mode. *created tells which. */
int session_put(sessions_t *s, const char *owner, const char *id, const cJSON *data,
                int64_t ttl_s, bool sliding, bool *created);

/* The session as {id, data, ttl, ttl_mode, expires_in, created_at, updated_at}
 * (caller cJSON_Deletes *out). A sliding session's TTL restarts. */
int session_get(sessions_t *s, const char *owner, const char *id, cJSON **out);

/* Merge-patch the document (RFC 7396: null removes a member). ttl_s /
 * sliding: SESSION_TTL_KEEP or new values. *out as session_get. */
int session_patch(sessions_t *s, const char *owner, const char *id, const cJSON *patch,
                  int64_t ttl_s, int sliding, cJSON **out);

/* Delete the session and its history. */
int session_delete(sessions_t *s, const char *owner, const char *id);

/* Append {role, content, metadata} (borrowed; role and content strings,
 * metadata any JSON or NULL). *out gets the stored message (caller frees).
 * Here and in session_messages / session_relevant, a stored history that no
 * longer parses is RAGD_EINTERNAL and is left exactly as it is. */
int session_append(sessions_t *s, const char *owner, const char *id, const char *role,
                   const char *content, const cJSON *metadata, cJSON **out);

/* The last `last` messages (0 = all), oldest first (caller frees the array). */
int session_messages(sessions_t *s, const char *owner, const char *id, int last, cJSON **out);

/* The k earlier messages most similar to text (cosine of embeddings), best
 * first, each with a "score". RAGD_EUNSUPPORTED when no embedder is wired. */
int session_relevant(sessions_t *s, const char *owner, const char *id, const char *text, int k,
                     cJSON **out);

#endif
