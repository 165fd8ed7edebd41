/*
 * kb_doc_read.c - reading documents from a namespace's in-memory replica:
 * one document as JSON (with its chunk spans on request), a page of ids, and
 * the counts a caller may see. Each holds the namespace's read lock only for
 * the copy, so it never waits on a batch being embedded (kb_doc.c). None
 * returns or counts a document whose expiry has passed, swept or not.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "kb/kb_int.h"
#include "util/clock.h"
#include "util/mem.h"

static cJSON *kb__doc_json(const kb_ns *ns, const kb_doc *d, bool with_chunks)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->id);
    cJSON_AddItemToObject(o, "text", cJSON_CreateString(d->text));
    cJSON_AddItemToObject(o, "metadata", cJSON_Duplicate(d->metadata, 1));
    if (d->user_id)
        cJSON_AddStringToObject(o, "user_id", d->user_id);
    else
        cJSON_AddNullToObject(o, "user_id");
    cJSON_AddNumberToObject(o, "updated_at", (double)d->updated_ms);
    if (d->expires_at)
        cJSON_AddNumberToObject(o, "expires_at", (double)d->expires_at);
    cJSON_AddNumberToObject(o, "chunk_count", d->n_chunks);
    if (!with_chunks)
        return o;
    cJSON *arr = cJSON_AddArrayToObject(o, "chunks");
    for (uint32_t c = 0; c < d->n_chunks; c++) {
        if (d->chunks[c] == UINT32_MAX)
            continue;
        const kb_slot *s = &ns->slots[d->chunks[c]];
        cJSON *ch = cJSON_CreateObject();
        char cid[KB_DOC_ID_MAX + 16];
        snprintf(cid, sizeof cid, "%s#%u", d->id, c);
        cJSON_AddStringToObject(ch, "chunk_id", cid);
        cJSON_AddNumberToObject(ch, "index", c);
        cJSON_AddNumberToObject(ch, "start", s->start);
        cJSON_AddNumberToObject(ch, "end", s->end);
        cJSON_AddNumberToObject(ch, "pieces", s->pieces);
        cJSON_AddItemToArray(arr, ch);
    }
    return o;
}

int kb_doc_get(kb_t *kb, const char *nsname, const char *id, bool with_chunks, cJSON **out)
{
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return RAGD_ENOTFOUND;
    pthread_rwlock_rdlock(&ns->lock);
    kb_doc *d = id ? strmap_get(&ns->docs, id, strlen(id)) : NULL;
    if (d && kb__doc_expired(d, clock_wall_ms()))
        d = NULL;
    if (d)
        *out = kb__doc_json(ns, d, with_chunks);
    pthread_rwlock_unlock(&ns->lock);
    kb__ns_release(ns);
    return d ? RAGD_OK : RAGD_ENOTFOUND;
}

int kb_doc_list(kb_t *kb, const char *nsname, size_t offset, size_t limit, char ***ids, size_t *n,
                uint64_t *total)
{
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return RAGD_ENOTFOUND;
    int64_t now = clock_wall_ms();
    pthread_mutex_lock(&ns->emu);
    bool expiring = ns->n_exp > 0; /* else the count is known and the walk may stop */
    pthread_mutex_unlock(&ns->emu);
    pthread_rwlock_rdlock(&ns->lock);
    size_t cap = limit < ns->docs.count ? limit : ns->docs.count;
    char **v = xmalloc((cap ? cap : 1) * sizeof *v);
    size_t it = 0, seen = 0, cnt = 0;
    const char *k;
    void *dv;
    while ((expiring || cnt < cap) && strmap_next(&ns->docs, &it, &k, &dv)) {
        if (kb__doc_expired(dv, now))
            continue;
        if (seen++ >= offset && cnt < cap)
            v[cnt++] = xstrdup(k);
    }
    *total = expiring ? seen : ns->docs.count;
    pthread_rwlock_unlock(&ns->lock);
    kb__ns_release(ns);
    *ids = v;
    *n = cnt;
    return RAGD_OK;
}

int kb_ns_count_visible(kb_t *kb, const char *nsname, kb_owner_fn visible, const void *ud,
                        uint64_t *docs, uint64_t *chunks, uint64_t *text_bytes)
{
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return RAGD_ENOTFOUND;
    *docs = *chunks = *text_bytes = 0;
    int64_t now = clock_wall_ms();
    pthread_rwlock_rdlock(&ns->lock);
    size_t it = 0;
    void *v;
    while (strmap_next(&ns->docs, &it, NULL, &v)) {
        const kb_doc *d = v;
        if (kb__doc_expired(d, now) || !visible(ud, d->user_id))
            continue;
        (*docs)++;
        *chunks += d->n_chunks;
        *text_bytes += d->len;
    }
    pthread_rwlock_unlock(&ns->lock);
    kb__ns_release(ns);
    return RAGD_OK;
}
