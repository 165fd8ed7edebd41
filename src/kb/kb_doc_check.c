/*
 * kb_doc_check.c - the conditions of a document write (kb_doc.c), checked by
 * the store in the same atomic step as the write (store_batch_log_if: one Lua
 * script on Redis, the write transaction on LMDB): the namespace's meta record
 * must exist, and each written or deleted document's stored record must still
 * be exactly the one this writer read (or still be missing). The records are
 * read in one store_get_many, and the ownership rules of upserts and of
 * user-bound deletes are decided on them: the owner that allows a replace or
 * a delete is the one the store holds when the write lands, whichever
 * instance wrote it. The sweeper's deletes also ask that each stored record
 * has expired (kb_checks.expired_by), so a document another instance just
 * re-wrote with a later expiry is never swept.
 */
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "util/mem.h"

static void kb__checks_add(kb_checks *ck, const char *key, size_t klen, int kind,
                           const void *val, size_t vlen)
{
    if (ck->n == ck->cap) {
        ck->cap = ck->cap ? 2 * ck->cap : 8;
        ck->c = xrealloc(ck->c, ck->cap * sizeof *ck->c);
        ck->koff = xrealloc(ck->koff, ck->cap * sizeof *ck->koff);
        ck->voff = xrealloc(ck->voff, ck->cap * sizeof *ck->voff);
    }
    ck->koff[ck->n] = ck->keys.len;
    buf_append(&ck->keys, key, klen);
    ck->voff[ck->n] = ck->vals.len;
    buf_append(&ck->vals, val, vlen);
    ck->c[ck->n++] = (store_check){ .klen = klen, .kind = kind, .vlen = vlen };
}

const store_check *kb__checks_final(kb_checks *ck)
{
    for (size_t i = 0; i < ck->n; i++) {
        ck->c[i].key = ck->keys.data + ck->koff[i];
        ck->c[i].val = ck->c[i].kind == STORE_CHECK_EQUAL ? ck->vals.data + ck->voff[i] : NULL;
    }
    return ck->c;
}

void kb__checks_free(kb_checks *ck)
{
    free(ck->c);
    free(ck->koff);
    free(ck->voff);
    buf_free(&ck->keys);
    buf_free(&ck->vals);
}

void kb__checks_meta(kb_checks *ck, const kb_ns *ns)
{
    buf_t k = BUF_INIT;
    kb__key_meta(&k, ns->name);
    kb__checks_add(ck, k.data, k.len, STORE_CHECK_EXISTS, NULL, 0);
    buf_free(&k);
}

bool kb_owner_is(const void *user, const char *owner)
{
    return owner && strcmp(owner, user) == 0;
}

/* May the write of document i replace or delete the stored record sd (NULL
 * = unreadable) under rule (NULL: any)? An upsert: only a shared writer, or
 * the record's own user; a user-bound delete: an owner rule->may accepts. */
static bool kb__rule_allows(const kb__rule *rule, size_t i, const kb_doc *sd)
{
    if (!rule)
        return true;
    if (rule->owners)
        return !rule->owners[i] || (sd && kb_owner_is(rule->owners[i], sd->user_id));
    return sd && rule->may(rule->ud, sd->user_id);
}

/* One stored record (rc: its read's result) of document i: its check, its
 * chunk count into *had, the ownership rule and the expiry rule
 * (ck->expired_by). */
static int kb__stored_one(kb_checks *ck, const char *key, size_t klen, int rc,
                          const store_value *v, const kb__rule *rule, size_t i, uint32_t *had)
{
    if (rc == RAGD_ENOTFOUND && ck->expired_by)
        return KB__NOT_YOURS; /* deleted meanwhile: nothing left to sweep */
    if (rc == RAGD_ENOTFOUND) {
        kb__checks_add(ck, key, klen, STORE_CHECK_MISSING, NULL, 0);
        return RAGD_OK;
    }
    if (rc)
        return rc;
    kb_doc *sd = NULL;
    if (kb__doc_decode(v->data, v->len, &sd) != 0)
        sd = NULL;
    if (sd && sd->n_chunks > *had)
        *had = sd->n_chunks;
    bool ok = kb__rule_allows(rule, i, sd);
    if (ck->expired_by)
        ok = ok && sd && sd->expires_at && sd->expires_at <= ck->expired_by;
    kb__doc_free(sd);
    if (!ok)
        return KB__NOT_YOURS;
    kb__checks_add(ck, key, klen, STORE_CHECK_EQUAL, v->data, v->len);
    return RAGD_OK;
}

int kb__stored_docs(kb_t *kb, const kb_ns *ns, const char *const *ids, const kb__rule *rule,
                    size_t n, uint32_t *had, kb_checks *ck, size_t *bad)
{
    buf_t keys = BUF_INIT;
    size_t *off = xmalloc((n ? n : 1) * sizeof *off), *len = xmalloc((n ? n : 1) * sizeof *len);
    for (size_t i = 0; i < n; i++) {
        off[i] = keys.len;
        kb__key_doc(&keys, ns->name, ids[i]);
        len[i] = keys.len - off[i];
    }
    const char **ptr = xmalloc((n ? n : 1) * sizeof *ptr);
    for (size_t i = 0; i < n; i++)
        ptr[i] = keys.data + off[i];
    store_value *vals = xcalloc(n ? n : 1, sizeof *vals);
    int *rcs = xcalloc(n ? n : 1, sizeof *rcs);
    int grc = n ? store_get_many(kb->o.store, ptr, len, n, vals, rcs) : RAGD_OK, rc = grc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = kb__stored_one(ck, ptr[i], len[i], rcs[i], &vals[i], rule, i, &had[i]);
        if (rc == KB__NOT_YOURS)
            *bad = i;
    }
    for (size_t i = 0; i < n && grc == 0; i++)
        if (rcs[i] == 0)
            store_value_free(&vals[i]);
    free(vals);
    free(rcs);
    free(ptr);
    free(off);
    free(len);
    buf_free(&keys);
    return rc;
}
