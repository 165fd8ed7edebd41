/*
 * session_int.h - private to src/auth/session*.c: the handle, store keys and
 * the helpers the document and history halves share.
 */
#ifndef RAGD_SESSION_INT_H
#define RAGD_SESSION_INT_H

#include "auth/session.h"

#define SESS_KEY_MAX 320
#define SESS_CAS_RETRIES 64

struct sessions {
    store_t *store;
    session_opts o;
    session_embed_fn embed;
    void *embed_ud;
    size_t dim;
};

/* Store key of a session (suffix "") or its history (":msgs"):
 * sess:{u:<owner>:<id>}<suffix>, or sess:{s:<id>}<suffix> without an owner; the
 * hash tag keeps both in one Redis Cluster slot (they are deleted in one batch). */
int sess__key(const char *owner, const char *id, const char *suffix, char *out, size_t n);

/* Load a session's stored document (caller cJSON_Deletes *doc) and its
 * absolute expiry (0 = none). RAGD_ENOTFOUND if missing. */
int sess__load(sessions_t *s, const char *owner, const char *id, cJSON **doc,
               int64_t *expire_at_ms);

/* The TTL (ms) that writes tied to this session should carry now: the full
 * TTL for a sliding session, what is left for an absolute one. */
int64_t sess__ttl_ms(const cJSON *doc, int64_t expire_at_ms);

/* A sliding session restarts its TTL (document and history). */
void sess__touch(sessions_t *s, const char *owner, const char *id, const cJSON *doc);

/* The new name of a key of the layout before the hash tag (sess:u:<owner>:<id>
 * [:msgs] or sess:s:<id>[:msgs]) into out; RAGD_EINVAL for anything else. */
int sess__rename_old(const char *old, char *out, size_t n);

/* Move sessions of the layout before to their hash-tagged names
 * (session_migrate.c); called at each start. Logs what it did. */
int sess__migrate_layout(store_t *st);

#endif
