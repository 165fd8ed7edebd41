/*
 * session_msg.c - conversation history: append (a compare-and-set loop on one
 * value {"next": seq, "messages": [...]}, trimmed to max_messages and to 16x
 * max_bytes, oldest first out), the last N messages, and the k earlier messages
 * most relevant to a text by cosine similarity of embeddings. The history
 * carries the session's TTL and is refreshed with a sliding session.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auth/session_int.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/mem.h"

/* Load the history (an empty one if missing): *raw keeps the stored bytes for
 * the compare-and-set (data NULL when missing). A stored history that does not
 * parse is RAGD_EINTERNAL (*raw freed): it is reported, never replaced by an
 * empty one, so an append cannot wipe the messages it holds. */
static int msg__load(sessions_t *s, const char *key, store_value *raw, cJSON **hist)
{
    memset(raw, 0, sizeof *raw);
    int rc = store_get(s->store, key, strlen(key), raw);
    if (rc == RAGD_ENOTFOUND) {
        *hist = cJSON_CreateObject();
        cJSON_AddNumberToObject(*hist, "next", 1);
        cJSON_AddArrayToObject(*hist, "messages");
        return 0;
    }
    if (rc)
        return rc;
    cJSON *h = NULL;
    if (json_parse_stored(raw->data, raw->len, &h) || !json_get_arr(h, "messages")) {
        cJSON_Delete(h);
        store_value_free(raw);
        return RAGD_EINTERNAL;
    }
    *hist = h;
    return 0;
}

/* Drop the oldest messages beyond the count and byte limits. */
static void msg__trim(sessions_t *s, cJSON *msgs, buf_t *b, cJSON *hist)
{
    while (cJSON_GetArraySize(msgs) > s->o.max_messages)
        cJSON_DeleteItemFromArray(msgs, 0);
    for (;;) {
        buf_reset(b);
        json_write(hist, b);
        if (b->len <= 16 * s->o.max_bytes || cJSON_GetArraySize(msgs) <= 1)
            return;
        cJSON_DeleteItemFromArray(msgs, 0);
    }
}

int session_append(sessions_t *s, const char *owner, const char *id, const char *role,
                   const char *content, const cJSON *metadata, cJSON **out)
{
    char key[SESS_KEY_MAX];
    int rc = sess__key(owner, id, ":msgs", key, sizeof key);
    if (rc)
        return rc;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", role);
    cJSON_AddStringToObject(msg, "content", content);
    cJSON_AddItemToObject(msg, "metadata", metadata ? cJSON_Duplicate(metadata, true)
                                                    : cJSON_CreateObject());
    buf_t b = BUF_INIT;
    json_write(msg, &b);
    if (b.len > s->o.max_bytes) {
        buf_free(&b);
        cJSON_Delete(msg);
        return RAGD_ETOOBIG;
    }
    rc = RAGD_ECONFLICT;
    for (int attempt = 0; attempt < SESS_CAS_RETRIES && rc == RAGD_ECONFLICT; attempt++) {
        cJSON *doc = NULL, *hist = NULL;
        int64_t exp;
        store_value raw;
        if ((rc = sess__load(s, owner, id, &doc, &exp)))
            break;
        if ((rc = msg__load(s, key, &raw, &hist))) {
            cJSON_Delete(doc);
            break;
        }
        int64_t seq = 1;
        json_get_int(hist, "next", 1, INT64_MAX, &seq);
        cJSON *m = cJSON_Duplicate(msg, true);
        cJSON_AddNumberToObject(m, "seq", (double)seq);
        cJSON_AddNumberToObject(m, "created_at", (double)clock_wall_ms());
        cJSON *msgs = (cJSON *)json_get_arr(hist, "messages");
        cJSON_AddItemToArray(msgs, m);
        cJSON_ReplaceItemInObjectCaseSensitive(hist, "next", cJSON_CreateNumber((double)(seq + 1)));
        msg__trim(s, msgs, &b, hist);
        rc = store_cas(s->store, key, strlen(key), raw.data, raw.data ? raw.len : 0, b.data, b.len,
                       sess__ttl_ms(doc, exp), 0);
        if (rc == 0) {
            sess__touch(s, owner, id, doc);
            *out = cJSON_Duplicate(m, true);
        }
        store_value_free(&raw);
        cJSON_Delete(hist);
        cJSON_Delete(doc);
    }
    buf_free(&b);
    cJSON_Delete(msg);
    return rc == RAGD_EFORMAT ? RAGD_ENOTFOUND : rc;
}

/* The history of an existing session (refreshing a sliding TTL). */
static int msg__history(sessions_t *s, const char *owner, const char *id, cJSON **hist)
{
    cJSON *doc;
    int64_t exp;
    int rc = sess__load(s, owner, id, &doc, &exp);
    if (rc)
        return rc == RAGD_EFORMAT ? RAGD_ENOTFOUND : rc;
    sess__touch(s, owner, id, doc);
    cJSON_Delete(doc);
    char key[SESS_KEY_MAX];
    store_value raw;
    if ((rc = sess__key(owner, id, ":msgs", key, sizeof key)) ||
        (rc = msg__load(s, key, &raw, hist)))
        return rc;
    store_value_free(&raw);
    return 0;
}

int session_messages(sessions_t *s, const char *owner, const char *id, int last, cJSON **out)
{
    cJSON *hist;
    int rc = msg__history(s, owner, id, &hist);
    if (rc)
        return rc;
    cJSON *msgs = cJSON_DetachItemFromObjectCaseSensitive(hist, "messages");
    cJSON_Delete(hist);
    while (last > 0 && cJSON_GetArraySize(msgs) > last)
        cJSON_DeleteItemFromArray(msgs, 0);
    *out = msgs;
    return 0;
}

typedef struct msg_score {
    float score;
    int index;
} msg_score;

static int msg__by_score(const void *a, const void *b)
{
    const msg_score *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : x->index - y->index;
}

static float msg__cosine(const float *a, const float *b, size_t d)
{
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < d; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return na > 0 && nb > 0 ? (float)(dot / sqrt(na * nb)) : 0.0f;
}

int session_relevant(sessions_t *s, const char *owner, const char *id, const char *text, int k,
                     cJSON **out)
{
    if (!s->embed || s->dim == 0)
        return RAGD_EUNSUPPORTED;
    cJSON *msgs;
    int rc = session_messages(s, owner, id, 0, &msgs);
    if (rc)
        return rc;
    int n = cJSON_GetArraySize(msgs);
    const char **texts = xcalloc((size_t)n + 1, sizeof *texts);
    size_t *lens = xcalloc((size_t)n + 1, sizeof *lens);
    texts[0] = text;
    lens[0] = strlen(text);
    int i = 1;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        const char *c = json_get_str(m, "content");
        texts[i] = c ? c : "";
        lens[i] = strlen(texts[i]);
    }
    float *vec = xmalloc(((size_t)n + 1) * s->dim * sizeof(float));
    msg_score *sc = xcalloc((size_t)n + 1, sizeof *sc);
    rc = n ? s->embed(s->embed_ud, texts, lens, (size_t)n + 1, vec) : 0;
    cJSON *res = cJSON_CreateArray();
    for (i = 0; rc == 0 && i < n; i++) {
        sc[i].index = i;
        sc[i].score = msg__cosine(vec, vec + (size_t)(i + 1) * s->dim, s->dim);
    }
    if (rc == 0) {
        qsort(sc, (size_t)n, sizeof *sc, msg__by_score);
        for (i = 0; i < n && i < k; i++) {
            cJSON *m = cJSON_Duplicate(cJSON_GetArrayItem(msgs, sc[i].index), true);
            cJSON_AddNumberToObject(m, "score", (double)sc[i].score);
            cJSON_AddItemToArray(res, m);
        }
        *out = res;
    } else {
        cJSON_Delete(res);
    }
    free(sc);
    free(vec);
    free(lens);
    free(texts);
    cJSON_Delete(msgs);
    return rc;
}
