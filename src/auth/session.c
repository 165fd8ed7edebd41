/*
 * session.c - session documents: create/replace, read (restarting a sliding
 * TTL), merge-patch and delete. The stored value is
 *   {"ttl": seconds, "mode": "sliding"|"absolute", "created_at": ms,
 *    "updated_at": ms, "data": <the document>}
 * under sess:{u:<owner>:<id>} (sess:{s:<id>} without an owner; the hash tag
 * keeps a session and its history in one Redis Cluster slot).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/session_int.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

int sessions_create(store_t *store, const session_opts *o, sessions_t **out)
{
    sessions_t *s = xcalloc(1, sizeof *s);
    s->store = store;
    s->o = *o;
    if (s->o.max_bytes == 0)
        s->o.max_bytes = 65536;
    if (s->o.max_messages <= 0)
        s->o.max_messages = 1000;
    if (s->o.default_ttl_s <= 0)
        s->o.default_ttl_s = 86400;
    sess__migrate_layout(store); /* logs a failure; runs again at the next start */
    *out = s;
    return 0;
}

void sessions_destroy(sessions_t *s)
{
    free(s);
}

void sessions_set_embedder(sessions_t *s, session_embed_fn fn, void *ud, size_t dim)
{
    s->embed = fn;
    s->embed_ud = ud;
    s->dim = dim;
}

bool session_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128)
        return false;
    for (; *id; id++)
        if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
              (*id >= '0' && *id <= '9') || *id == '_' || *id == '-' || *id == '.'))
            return false;
    return true;
}

int sess__key(const char *owner, const char *id, const char *suffix, char *out, size_t n)
{
    if (!session_id_valid(id))
        return RAGD_EINVAL;
    int w = owner ? snprintf(out, n, "sess:{u:%s:%s}%s", owner, id, suffix)
                  : snprintf(out, n, "sess:{s:%s}%s", id, suffix);
    return w < 0 || (size_t)w >= n ? RAGD_ETOOBIG : 0;
}

int sess__load(sessions_t *s, const char *owner, const char *id, cJSON **doc,
               int64_t *expire_at_ms)
{
    char key[SESS_KEY_MAX];
    int rc = sess__key(owner, id, "", key, sizeof key);
    if (rc)
        return rc;
    store_value v;
    if ((rc = store_get(s->store, key, strlen(key), &v)))
        return rc;
    *expire_at_ms = v.expire_at_ms;
    rc = json_parse_stored(v.data, v.len, doc);
    store_value_free(&v);
    if (rc == 0 && !cJSON_IsObject(*doc)) {
        cJSON_Delete(*doc);
        rc = RAGD_EFORMAT;
    }
    return rc;
}

static bool sess__sliding(const cJSON *doc)
{
    const char *m = json_get_str(doc, "mode");
    return m && !strcmp(m, "sliding");
}

static int64_t sess__ttl_s(const cJSON *doc)
{
    int64_t t = 0;
    json_get_int(doc, "ttl", 1, 315360000, &t);
    return t;
}

int64_t sess__ttl_ms(const cJSON *doc, int64_t expire_at_ms)
{
    if (sess__sliding(doc) || expire_at_ms == 0)
        return sess__ttl_s(doc) * 1000;
    int64_t left = expire_at_ms - clock_wall_ms();
    return left > 1 ? left : 1;
}

void sess__touch(sessions_t *s, const char *owner, const char *id, const cJSON *doc)
{
    if (!sess__sliding(doc))
        return;
    char key[SESS_KEY_MAX];
    int64_t ttl = sess__ttl_s(doc) * 1000;
    if (sess__key(owner, id, "", key, sizeof key) == 0)
        store_expire(s->store, key, strlen(key), ttl);
    if (sess__key(owner, id, ":msgs", key, sizeof key) == 0)
        store_expire(s->store, key, strlen(key), ttl);
}

/* The public view of a stored document. */
static cJSON *sess__view(const char *id, const cJSON *doc, int64_t expire_at_ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    cJSON_AddItemToObject(o, "data", data ? cJSON_Duplicate(data, true) : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "ttl", (double)sess__ttl_s(doc));
    cJSON_AddStringToObject(o, "ttl_mode", sess__sliding(doc) ? "sliding" : "absolute");
    int64_t left = sess__sliding(doc) ? sess__ttl_s(doc) * 1000 : expire_at_ms - clock_wall_ms();
    cJSON_AddNumberToObject(o, "expires_in", (double)(left > 0 ? (left + 999) / 1000 : 0));
    int64_t t;
    if (json_get_int(doc, "created_at", 0, INT64_MAX, &t) == 0)
        cJSON_AddNumberToObject(o, "created_at", (double)t);
    if (json_get_int(doc, "updated_at", 0, INT64_MAX, &t) == 0)
        cJSON_AddNumberToObject(o, "updated_at", (double)t);
    return o;
}

/* Serialise doc and check the size of its data. */
static int sess__encode(sessions_t *s, const cJSON *doc, buf_t *b)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    buf_t d = BUF_INIT;
    json_write(data, &d);
    size_t dlen = d.len;
    buf_free(&d);
    if (dlen > s->o.max_bytes)
        return RAGD_ETOOBIG;
    json_write(doc, b);
    return 0;
}

int session_put(sessions_t *s, const char *owner, const char *id, const cJSON *data,
                int64_t ttl_s, bool sliding, bool *created)
{
    char key[SESS_KEY_MAX];
    int rc = sess__key(owner, id, "", key, sizeof key);
    if (rc)
        return rc;
    if (ttl_s <= 0)
        ttl_s = s->o.default_ttl_s;
    int64_t now = clock_wall_ms(), created_at = now, exp;
    cJSON *old = NULL;
    rc = sess__load(s, owner, id, &old, &exp);
    if (rc && rc != RAGD_ENOTFOUND && rc != RAGD_EFORMAT)
        return rc;
    *created = rc != 0;
    if (old)
        json_get_int(old, "created_at", 0, INT64_MAX, &created_at);
    cJSON_Delete(old);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "ttl", (double)ttl_s);
    cJSON_AddStringToObject(doc, "mode", sliding ? "sliding" : "absolute");
    cJSON_AddNumberToObject(doc, "created_at", (double)created_at);
    cJSON_AddNumberToObject(doc, "updated_at", (double)now);
    cJSON_AddItemToObject(doc, "data", cJSON_Duplicate(data, true));
    buf_t b = BUF_INIT;
    rc = sess__encode(s, doc, &b);
    cJSON_Delete(doc);
    if (rc == 0)
        rc = store_set(s->store, key, strlen(key), b.data, b.len, ttl_s * 1000, 0);
    buf_free(&b);
    if (rc == 0 && sess__key(owner, id, ":msgs", key, sizeof key) == 0) {
        int erc = store_expire(s->store, key, strlen(key), ttl_s * 1000);
        (void)erc; /* no history yet is fine */
    }
    return rc;
}

int session_get(sessions_t *s, const char *owner, const char *id, cJSON **out)
{
    cJSON *doc;
    int64_t exp;
    int rc = sess__load(s, owner, id, &doc, &exp);
    if (rc)
        return rc == RAGD_EFORMAT ? RAGD_ENOTFOUND : rc;
    sess__touch(s, owner, id, doc);
    *out = sess__view(id, doc, exp);
    cJSON_Delete(doc);
    return 0;
}

/* RFC 7396 JSON merge patch; takes ownership of target, returns the result. */
static cJSON *sess__merge(cJSON *target, const cJSON *patch)
{
    if (!cJSON_IsObject(patch)) {
        cJSON_Delete(target);
        return cJSON_Duplicate(patch, true);
    }
    if (!cJSON_IsObject(target)) {
        cJSON_Delete(target);
        target = cJSON_CreateObject();
    }
    for (const cJSON *it = patch->child; it; it = it->next) {
        if (cJSON_IsNull(it)) {
            cJSON_DeleteItemFromObjectCaseSensitive(target, it->string);
            continue;
        }
        cJSON *cur = cJSON_DetachItemFromObjectCaseSensitive(target, it->string);
        cJSON_AddItemToObject(target, it->string, sess__merge(cur, it));
    }
    return target;
}

int session_patch(sessions_t *s, const char *owner, const char *id, const cJSON *patch,
                  int64_t ttl_s, int sliding, cJSON **out)
{
    char key[SESS_KEY_MAX];
    int rc = sess__key(owner, id, "", key, sizeof key);
    if (rc)
        return rc;
    for (int attempt = 0; attempt < SESS_CAS_RETRIES; attempt++) {
        store_value v;
        if ((rc = store_get(s->store, key, strlen(key), &v)))
            return rc;
        cJSON *doc = NULL;
        if (json_parse_stored(v.data, v.len, &doc) || !cJSON_IsObject(doc)) {
            cJSON_Delete(doc);
            store_value_free(&v);
            return RAGD_ENOTFOUND;
        }
        cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(doc, "data");
        cJSON_AddItemToObject(doc, "data", sess__merge(data, patch));
        bool changed_ttl = ttl_s > 0 || sliding != SESSION_TTL_KEEP;
        if (ttl_s > 0)
            cJSON_ReplaceItemInObjectCaseSensitive(doc, "ttl", cJSON_CreateNumber((double)ttl_s));
        if (sliding != SESSION_TTL_KEEP)
            cJSON_ReplaceItemInObjectCaseSensitive(doc, "mode",
                                                   cJSON_CreateString(sliding ? "sliding" : "absolute"));
        cJSON_ReplaceItemInObjectCaseSensitive(doc, "updated_at",
                                               cJSON_CreateNumber((double)clock_wall_ms()));
        int64_t ttl_ms = changed_ttl ? sess__ttl_s(doc) * 1000 : sess__ttl_ms(doc, v.expire_at_ms);
        buf_t b = BUF_INIT;
        rc = sess__encode(s, doc, &b);
        if (rc == 0)
            rc = store_cas(s->store, key, strlen(key), v.data, v.len, b.data, b.len, ttl_ms, 0);
        buf_free(&b);
        if (rc == 0) {
            sess__touch(s, owner, id, doc);
            if (changed_ttl) {
                char mkey[SESS_KEY_MAX];
                if (sess__key(owner, id, ":msgs", mkey, sizeof mkey) == 0)
                    store_expire(s->store, mkey, strlen(mkey), ttl_ms);
            }
            *out = sess__view(id, doc, clock_wall_ms() + ttl_ms);
        }
        cJSON_Delete(doc);
        store_value_free(&v);
        if (rc != RAGD_ECONFLICT)
            return rc;
    }
    return RAGD_ECONFLICT;
}

int session_delete(sessions_t *s, const char *owner, const char *id)
{
    char key[SESS_KEY_MAX], mkey[SESS_KEY_MAX];
    int rc = sess__key(owner, id, "", key, sizeof key);
    if (rc || (rc = sess__key(owner, id, ":msgs", mkey, sizeof mkey)))
        return rc;
    if ((rc = store_exists(s->store, key, strlen(key))))
        return rc;
    store_op ops[2] = { { key, strlen(key), NULL, 0, 0, 0 }, { mkey, strlen(mkey), NULL, 0, 0, 0 } };
    return store_batch(s->store, ops, 2);
}
