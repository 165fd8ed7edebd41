/*
 * kb_sync.c - bringing documents in memory to what the store holds: given
 * document ids, read their records (one store_get_many round trip for all),
 * then their chunks (one more), and publish, replace or drop them through the
 * same paths as a local write. Used by the followers of kb_repl.c for another
 * instance's records, and at start to replay a namespace's log from its
 * snapshot's position (kb__replay), batching every id the missed records name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "obs/log.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/threadpool.h"

/* ---- documents from the store ---- */

/* Keys built into one buffer, read with one store_get_many. */
typedef struct kb_keys {
    buf_t buf;
    size_t *off, *len;
    size_t n, cap;
} kb_keys;

static void kb__keys_mark(kb_keys *k, size_t start)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 32;
        k->off = xrealloc(k->off, k->cap * sizeof *k->off);
        k->len = xrealloc(k->len, k->cap * sizeof *k->len);
    }
    k->off[k->n] = start;
    k->len[k->n++] = k->buf.len - start;
}

/* Read every key of k: vals[i] / rcs[i] (caller frees vals). */
static int kb__keys_read(kb_t *kb, kb_keys *k, store_value **vals, int **rcs)
{
    const char **ptr = xmalloc((k->n ? k->n : 1) * sizeof *ptr);
    for (size_t i = 0; i < k->n; i++)
        ptr[i] = k->buf.data + k->off[i];
    *vals = xcalloc(k->n ? k->n : 1, sizeof **vals);
    *rcs = xcalloc(k->n ? k->n : 1, sizeof **rcs);
    int rc = store_get_many(kb->o.store, ptr, k->len, k->n, *vals, *rcs);
    free(ptr);
    return rc;
}

static void kb__keys_free(kb_keys *k, store_value *vals, const int *rcs)
{
    for (size_t i = 0; vals && i < k->n; i++)
        if (rcs[i] == 0)
            store_value_free(&vals[i]);
    free(vals);
    free((void *)rcs);
    buf_free(&k->buf);
    free(k->off);
    free(k->len);
}

/* Chunks c0.. of document d (values vals, results rcs) into p; vectors are
 * appended to vecs when every chunk has one of the namespace's dimension
 * (*has_vec).
 * RAGD_EFORMAT when they do not match the record (a later write changed them:
 * its own record follows). */
static int kb__doc_chunks(const kb_ns *ns, kb_doc *d, const store_value *vals, const int *rcs,
                          kb_pending *p, buf_t *vecs, bool *has_vec)
{
    size_t vstart = vecs->len;
    *has_vec = ns->st.dim > 0; /* the namespace's own: a model-less or provider one may
                                  differ from the loaded model's */
    p->spans = xcalloc(d->n_chunks ? d->n_chunks : 1, sizeof *p->spans);
    int rc = 0;
    for (uint32_t c = 0; rc == 0 && c < d->n_chunks; c++) {
        chunker_span *sp = &p->spans[c];
        uint32_t dim = 0;
        const float *vec = NULL;
        rc = rcs[c] ? RAGD_EFORMAT
                    : kb__chunk_decode(vals[c].data, vals[c].len, &sp->start, &sp->end,
                                       &sp->pieces, &dim, &vec);
        if (rc == 0 && sp->end > d->len)
            rc = RAGD_EFORMAT;
        if (rc == 0 && dim && dim == ns->st.dim)
            buf_append(vecs, vec, dim * sizeof *vec);
        else
            *has_vec = false;
    }
    if (rc || !*has_vec)
        vecs->len = vstart;
    if (rc) {
        free(p->spans);
        p->spans = NULL;
        return rc;
    }
    p->doc = d;
    p->n_spans = d->n_chunks;
    return RAGD_OK;
}

/* Publish the documents read into pd[0..n) (first set per vectored group). */
static void kb__sync_publish(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, const buf_t *vecs,
                             threadpool *tp)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        pd[i].first = total;
        total += pd[i].n_spans;
    }
    kb_upsert_stats st = { 0 };
    kb__docs_publish_tp(kb, ns, pd, n, total, vecs ? (const float *)vecs->data : NULL, tp, &st);
}

/* What one sync collects: documents with vectors, without, and gone ones. */
typedef struct kb_sync {
    kb_pending *withv, *nov;
    kb_doc **gone;
    size_t nv, nk, nd;
    buf_t vecs;
} kb_sync;

/* Decoded records of ids (NULL = gone or unreadable) -> their chunks read in
 * one round trip -> y. Caller holds wmu. */
static int kb__sync_chunks(kb_t *kb, kb_ns *ns, kb_doc **docs, size_t n, kb_sync *y)
{
    kb_keys ck = { 0 };
    for (size_t i = 0; i < n; i++)
        for (uint32_t c = 0; docs[i] && c < docs[i]->n_chunks; c++) {
            size_t at = ck.buf.len;
            kb__key_chunk(&ck.buf, ns->name, docs[i]->id, c);
            kb__keys_mark(&ck, at);
        }
    store_value *vals = NULL;
    int *rcs = NULL;
    int rc = kb__keys_read(kb, &ck, &vals, &rcs);
    for (size_t i = 0, at = 0; rc == 0 && i < n; i++) {
        if (!docs[i])
            continue;
        kb_pending p = { 0 };
        bool has_vec = false;
        uint32_t nc = docs[i]->n_chunks;
        if (kb__doc_chunks(ns, docs[i], vals + at, rcs + at, &p, &y->vecs, &has_vec) == 0) {
            if (has_vec)
                y->withv[y->nv++] = p;
            else
                y->nov[y->nk++] = p;
            docs[i] = NULL; /* owned by y now */
        }
        at += nc;
    }
    kb__keys_free(&ck, vals, rcs);
    return rc;
}

/* Bring documents ids of ns in memory to what the store holds: re-read each
 * (its record in one round trip for all, its chunks in one more); gone ones
 * leave memory. Caller holds wmu. */
int kb__docs_sync(kb_t *kb, kb_ns *ns, const char *const *ids, size_t n)
{
    return kb__docs_sync_tp(kb, ns, ids, n, NULL);
}

int kb__docs_sync_tp(kb_t *kb, kb_ns *ns, const char *const *ids, size_t n, threadpool *tp)
{
    kb_sync y = { xcalloc(n ? n : 1, sizeof *y.withv), xcalloc(n ? n : 1, sizeof *y.nov),
                  xcalloc(n ? n : 1, sizeof *y.gone), 0, 0, 0, BUF_INIT };
    kb_doc **docs = xcalloc(n ? n : 1, sizeof *docs);
    kb_keys dk = { 0 };
    for (size_t i = 0; i < n; i++) {
        size_t at = dk.buf.len;
        kb__key_doc(&dk.buf, ns->name, ids[i]);
        kb__keys_mark(&dk, at);
    }
    store_value *vals = NULL;
    int *rcs = NULL;
    int rc = kb__keys_read(kb, &dk, &vals, &rcs);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *id = ids[i];
        kb_doc *mem = strmap_get(&ns->docs, id, strlen(id));
        bool listed = false;
        for (size_t g = 0; g < y.nd && !listed; g++)
            listed = y.gone[g] == mem;
        if (rcs[k] == RAGD_ENOTFOUND && mem && !listed)
            y.gone[y.nd++] = mem;
        else if (rcs[k] == 0 && kb__doc_decode(vals[k].data, vals[k].len, &docs[k]) != 0)
            docs[k] = NULL;
        else if (rcs[k] && rcs[k] != RAGD_ENOTFOUND)
            rc = rcs[k]; /* the store failed: the record is offered again */
        k++;
    }
    kb__keys_free(&dk, vals, rcs);
    if (rc == 0)
        rc = kb__sync_chunks(kb, ns, docs, k, &y);
    if (rc == 0) {
        kb__sync_publish(kb, ns, y.withv, y.nv, &y.vecs, tp);
        kb__sync_publish(kb, ns, y.nov, y.nk, NULL, NULL);
        kb__docs_unpublish(ns, y.gone, y.nd);
    }
    for (size_t i = 0; i < n; i++)
        kb__doc_free(docs[i]);
    for (size_t i = 0; i < y.nv; i++) {
        kb__doc_free(y.withv[i].doc);
        free(y.withv[i].spans);
    }
    for (size_t i = 0; i < y.nk; i++) {
        kb__doc_free(y.nov[i].doc);
        free(y.nov[i].spans);
    }
    free(docs);
    free(y.withv);
    free(y.nov);
    free(y.gone);
    buf_free(&y.vecs);
    return rc;
}
/* ---- replay at start ---- */

#define KB_REPLAY_BATCH 512 /* documents synced per round trip pair */

/* The ids named by the records read, each once, in first-seen order. */
typedef struct kb_replay {
    strmap seen;
    char **ids;
    size_t n, cap;
    uint64_t first, last, records;
} kb_replay;

static int kb__replay_rec(void *ud, uint64_t seq, const void *rec, size_t len)
{
    kb_replay *p = ud;
    if (!p->records)
        p->first = seq;
    p->last = seq;
    p->records++;
    cJSON *root = NULL;
    if (json_parse_stored(rec, len, &root) == 0 && cJSON_IsObject(root)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, json_get_arr(root, "ids")) {
            if (!cJSON_IsString(it) || strmap_get(&p->seen, it->valuestring,
                                                  strlen(it->valuestring)))
                continue;
            strmap_put(&p->seen, it->valuestring, strlen(it->valuestring), p);
            if (p->n == p->cap) {
                p->cap = p->cap ? 2 * p->cap : 256;
                p->ids = xrealloc(p->ids, p->cap * sizeof *p->ids);
            }
            p->ids[p->n++] = xstrdup(it->valuestring);
        }
    }
    cJSON_Delete(root); /* a record that does not parse names nothing to re-read */
    return 0;
}

int kb__replay(kb_t *kb, kb_ns *ns, uint64_t *records)
{
    buf_t k = BUF_INIT;
    kb__key_log(&k, ns->name);
    kb_replay p = { STRMAP_INIT, NULL, 0, 0, 0, 0, 0 };
    int rc = store_log_read(kb->o.store, k.data, ns->log_seq, kb__replay_rec, &p);
    if (rc == 0 && p.records && p.first != ns->log_seq + 1)
        rc = RAGD_ECONFLICT; /* trimmed past log_seq since its bounds were read */
    for (size_t at = 0; rc == 0 && at < p.n; at += KB_REPLAY_BATCH)
        rc = kb__docs_sync(kb, ns, (const char *const *)p.ids + at,
                           p.n - at < KB_REPLAY_BATCH ? p.n - at : KB_REPLAY_BATCH);
    if (rc == 0 && p.records) {
        ns->log_seq = p.last;
        ns->applied_seq = p.last;
    }
    *records = rc == 0 ? p.records : 0;
    for (size_t i = 0; i < p.n; i++)
        free(p.ids[i]);
    free(p.ids);
    strmap_free(&p.seen);
    buf_free(&k);
    return rc;
}
