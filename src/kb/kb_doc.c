/*
 * kb_doc.c - documents: batch upsert (validate, chunk - or take the caller's
 * chunks and vectors -, embed the rest with the namespace's model outside any
 * lock, one atomic store_batch, index, then publish with a short write
 * lock), delete by id or by filter (get, list and counts: kb_doc_read.c).
 * The store write comes before the in-memory change, so an acknowledged batch
 * is durable and a failed one changes nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kb/chunker.h"
#include "kb/kb_int.h"
#include "util/clock.h"
#include "util/mem.h"
#include "util/threadpool.h"
#include "util/utf8.h"

#define KB__RETRY 1 /* a write lost a document check: read again and retry */

static bool kb__id_ok(const char *id, size_t max)
{
    size_t n = id ? strlen(id) : 0, bad;
    if (n == 0 || n > max || !utf8_valid(id, n, &bad))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return false;
    return true;
}

static const kb_doc_vec kb__no_vec;

static int kb__check_doc(const kb_doc_in *d, const kb_doc_vec *dv, size_t i, ragd_error *err)
{
    size_t bad;
    if (!kb__id_ok(d->id, KB_DOC_ID_MAX))
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].id must be 1-%d bytes of UTF-8 "
                              "without control characters", i, KB_DOC_ID_MAX);
    if (!d->text || d->len == 0 || d->len > UINT32_MAX / 2)
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].text must be a non-empty string", i);
    if (!utf8_valid(d->text, d->len, &bad))
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].text is not valid UTF-8 (byte %zu)",
                              i, bad);
    if (d->metadata && !cJSON_IsObject(d->metadata))
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].metadata must be an object", i);
    if (d->expires_at < 0 || d->expires_at > KB_EXPIRES_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].expires_at must be unix "
                              "seconds from 0 (never) to %lld", i, (long long)KB_EXPIRES_MAX);
    if (d->user_id && !kb__id_ok(d->user_id, KB_DOC_ID_MAX))
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].user_id must be 1-%d bytes", i,
                              KB_DOC_ID_MAX);
    if (dv->chunks && (!dv->n_chunks || dv->vector))
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu]: give 'vector' or a non-empty "
                              "'chunks', not both", i);
    for (size_t c = 0; dv->chunks && c < dv->n_chunks; c++)
        if (dv->chunks[c].start >= dv->chunks[c].end || dv->chunks[c].end > d->len)
            return ragd_error_set(err, RAGD_EINVAL, "documents[%zu].chunks[%zu]: the span is not "
                                  "inside the text", i, c);
    return RAGD_OK;
}

/* The vectors doc brings: finite, of the namespace's dimension (and not zero
 * under cosine). */
static int kb__check_vec(const kb_ns *ns, const float *v, size_t dim, size_t i, ragd_error *err)
{
    if (!ns->st.dim || dim != ns->st.dim)
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu]: the vector has %zu dimensions; "
                              "namespace '%s' takes %u", i, dim, ns->name, ns->st.dim);
    double sq = 0;
    for (size_t k = 0; k < dim; k++) {
        if (!isfinite(v[k]))
            return ragd_error_set(err, RAGD_EINVAL, "documents[%zu]: the vector holds a "
                                  "non-finite value", i);
        sq += (double)v[k] * v[k];
    }
    if (ns->st.metric == VEC_COSINE && sq == 0)
        return ragd_error_set(err, RAGD_EINVAL, "documents[%zu]: a zero vector has no cosine", i);
    return RAGD_OK;
}

int kb__check_docs(const kb_t *kb, const kb_doc_in *docs, size_t n, ragd_error *err)
{
    if (!kb->o.tokenizer)
        return ragd_error_set(err, RAGD_EUNAVAIL, "no embedding model is loaded: documents "
                              "cannot be chunked");
    for (size_t i = 0; i < n; i++) {
        int rc = kb__check_doc(&docs[i], &kb__no_vec, i, err);
        if (rc)
            return rc;
    }
    return RAGD_OK;
}

static kb_doc *kb__doc_from(const kb_doc_in *in, size_t n_chunks)
{
    kb_doc *d = xcalloc(1, sizeof *d);
    d->id = xstrdup(in->id);
    d->text = xstrndup(in->text, in->len);
    d->len = (uint32_t)in->len;
    d->user_id = in->user_id ? xstrdup(in->user_id) : NULL;
    d->metadata = in->metadata ? cJSON_Duplicate(in->metadata, 1) : cJSON_CreateObject();
    d->n_chunks = (uint32_t)n_chunks;
    d->chunks = xmalloc((n_chunks ? n_chunks : 1) * sizeof *d->chunks);
    for (size_t i = 0; i < n_chunks; i++)
        d->chunks[i] = UINT32_MAX;
    d->updated_ms = clock_wall_ms();
    d->expires_at = in->expires_at;
    return d;
}

/* Store ops deleting document id's records (chunks keep_from..n_chunks-1; the
 * doc key too when with_doc). Keys are appended to keys (offsets in ops). */
static void kb__ops_delete(const char *ns, const char *id, uint32_t n_chunks, uint32_t keep_from,
                           bool with_doc, buf_t *keys, store_op **ops, size_t *n, size_t *cap,
                           size_t **koff)
{
    size_t need = *n + n_chunks + 1;
    if (need > *cap) {
        *cap = need * 2;
        *ops = xrealloc(*ops, *cap * sizeof **ops);
        *koff = xrealloc(*koff, *cap * sizeof **koff);
    }
    if (with_doc) {
        (*koff)[*n] = keys->len;
        kb__key_doc(keys, ns, id);
        (*ops)[*n] = (store_op){ .klen = keys->len - (*koff)[*n] };
        (*n)++;
    }
    for (uint32_t s = keep_from; s < n_chunks; s++) {
        (*koff)[*n] = keys->len;
        kb__key_chunk(keys, ns, id, s);
        (*ops)[*n] = (store_op){ .klen = keys->len - (*koff)[*n] };
        (*n)++;
    }
}

/* Take old's chunks out of the namespace: under the write lock they stop
 * being visible; then their index entries go and their slots are reused.
 * Caller holds wmu and the write lock. */
static void kb__unpublish(kb_ns *ns, kb_doc *old)
{
    for (uint32_t s = 0; s < old->n_chunks; s++) {
        uint32_t id = old->chunks[s];
        if (id == UINT32_MAX)
            continue;
        ns->slots[id].doc = NULL;
        ns->n_chunks--;
    }
    ns->text_bytes -= old->len;
}

static void kb__retire(kb_ns *ns, kb_doc *old, float *tmp)
{
    for (uint32_t s = 0; s < old->n_chunks; s++) {
        uint32_t id = old->chunks[s];
        if (id == UINT32_MAX)
            continue;
        if (ns->bm)
            bm25_delete_doc(ns->bm, id);
        if (ns->hn && hnsw_get_vector(ns->hn, id, tmp) == 0) {
            pthread_rwlock_wrlock(&ns->lock);
            kb__vsum_add(ns, tmp, -1.0);
            pthread_rwlock_unlock(&ns->lock);
            hnsw_delete(ns->hn, id);
        }
    }
    kb__slots_give(ns, old->chunks, old->n_chunks);
    kb__doc_free(old);
}

/* The refusal of a user's write on another owner's document: answered as a
 * missing document would be (the API's 404 document_not_found). */
static int kb__not_yours(ragd_error *err, size_t i, const char *id)
{
    return ragd_error_set(err, RAGD_ENOTFOUND, "documents[%zu]: no document '%.200s' of yours "
                          "to replace; nothing was stored", i, id);
}

/* Ownership rule of upserts: a document written for a user (user_id set) may
 * create an id or replace that user's own document, never a shared one or
 * another user's; shared writes (user_id NULL) may replace anything. This is
 * the early refusal on memory (before any embedding); the rule that holds is
 * checked on the stored records atomically with the write (kb__persist).
 * Caller holds ns->lock. */
static int kb__owner_check(const kb_ns *ns, const kb_doc_in *docs, size_t n, ragd_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!docs[i].user_id)
            continue;
        const kb_doc *old = strmap_get(&ns->docs, docs[i].id, strlen(docs[i].id));
        if (old && (!old->user_id || strcmp(old->user_id, docs[i].user_id)))
            return kb__not_yours(err, i, docs[i].id);
    }
    return RAGD_OK;
}

/* Refuse a chunked batch that asks more of the model than admit allows. */
static int kb__admit(const kb_admit *admit, const kb_pending *pd, size_t n, size_t chunks,
                     ragd_error *err)
{
    if (!admit)
        return RAGD_OK;
    size_t tokens = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; !pd[i].skip && c < pd[i].n_spans; c++)
            tokens += pd[i].spans[c].pieces;
    if (admit->max_chunks && chunks > admit->max_chunks)
        return ragd_error_set(err, RAGD_ETOOBIG, "the documents make %zu chunks; one request "
                              "may embed at most %zu (kb_max_request_chunks)", chunks,
                              admit->max_chunks);
    if (admit->max_tokens && tokens > admit->max_tokens)
        return ragd_error_set(err, RAGD_ETOOBIG, "the documents make %zu word pieces; one "
                              "request may embed at most %zu (kb_max_request_tokens)", tokens,
                              admit->max_tokens);
    return admit->fn ? admit->fn(admit->ud, chunks, tokens) : RAGD_OK;
}

/* The chunks of document i: the caller's, the whole text (one vector given),
 * or the chunker's. */
static int kb__spans(kb_t *kb, const kb_ns *ns, const kb_doc_in *d, const kb_doc_vec *dv,
                     kb_pending *p, ragd_error *err)
{
    const wordpiece *wp = kb->o.tokenizer;
    if (!dv->chunks && !dv->vector) {
        if (!wp)
            return ragd_error_set(err, RAGD_EUNAVAIL, "no embedding model is loaded: documents "
                                  "cannot be chunked (give their chunks or vector)");
        return chunker_split(wp, d->text, d->len, ns->st.chunk_size, ns->st.chunk_overlap,
                             &p->spans, &p->n_spans);
    }
    p->n_spans = dv->chunks ? dv->n_chunks : 1;
    p->spans = xmalloc(p->n_spans * sizeof *p->spans);
    for (size_t c = 0; c < p->n_spans; c++) {
        uint32_t a = dv->chunks ? dv->chunks[c].start : 0;
        uint32_t b = dv->chunks ? dv->chunks[c].end : (uint32_t)d->len;
        size_t pieces = wp ? wordpiece_count(wp, d->text + a, b - a) : (b - a + 3) / 4;
        p->spans[c] = (chunker_span){ a, b, (uint32_t)pieces };
    }
    return RAGD_OK;
}

/* The given vector of chunk c of a document, or NULL. */
static const float *kb__given_vec(const kb_doc_vec *dv, size_t c)
{
    return dv->chunks ? dv->chunks[c].vector : dv->vector;
}

static const kb_doc_vec *kb__dv(const kb_doc_vec *vecs, size_t i)
{
    return vecs ? &vecs[i] : &kb__no_vec;
}

/* Fill vecs[total * dim]: the given vectors, the others embedded in one
 * batch by the namespace's model. */
static int kb__vectors(kb_t *kb, const kb_ns *ns, const char *tenant, const kb_doc_in *docs,
                       const kb_doc_vec *dvs, size_t n, const kb_pending *pd, size_t total,
                       float *vecs, ragd_error *err)
{
    size_t dim = ns->st.dim, need = 0;
    const char **texts = xmalloc((total ? total : 1) * sizeof *texts);
    size_t *lens = xmalloc((total ? total : 1) * sizeof *lens);
    size_t *at = xmalloc((total ? total : 1) * sizeof *at);
    int rc = RAGD_OK;
    for (size_t i = 0; i < n && !rc; i++)
        for (size_t c = 0; !pd[i].skip && c < pd[i].n_spans && !rc; c++) {
            const float *g = kb__given_vec(kb__dv(dvs, i), c);
            size_t k = pd[i].first + c;
            if (g) {
                if (!(rc = kb__check_vec(ns, g, kb__dv(dvs, i)->dim, i, err)))
                    memcpy(vecs + k * dim, g, dim * sizeof *g);
                continue;
            }
            texts[need] = docs[i].text + pd[i].spans[c].start;
            lens[need] = pd[i].spans[c].end - pd[i].spans[c].start;
            at[need++] = k;
        }
    kb_embedder e;
    if (!rc && need && (rc = kb__embedder(kb, &ns->st, &e, err)) == RAGD_ENOTFOUND)
        rc = ragd_error_set(err, RAGD_EINVAL, "namespace '%s' has no embedding model: every "
                            "document needs a 'vector' (or its chunks one each)", ns->name);
    float *ev = !rc && need ? malloc(need * dim * sizeof *ev) : NULL;
    if (!rc && need && !ev)
        rc = RAGD_ENOMEM;
    if (!rc && need && e.dim != dim)
        rc = ragd_error_set(err, RAGD_EINVAL, "the model of '%s' gives %zu dimensions, the "
                            "namespace has %zu", ns->name, e.dim, dim);
    if (!rc && need && (rc = e.fn(e.ud, KB_EMBED_BULK, tenant, texts, lens, need, ev)))
        ragd_error_set(err, rc, "embedding %zu chunks with %s%s failed: %s", need,
                       e.remote ? "the provider model " : "", ns->st.model, ragd_strerror(rc));
    for (size_t j = 0; !rc && j < need; j++)
        memcpy(vecs + at[j] * dim, ev + j * dim, dim * sizeof *ev);
    free(ev);
    free(texts);
    free(lens);
    free(at);
    return rc;
}

/* Chunk every document (marking repeated ids), check the caps, and fill the
 * batch's vectors (NULL when the namespace holds none). */
static int kb__prepare(kb_t *kb, kb_ns *ns, const kb_doc_in *docs, const kb_doc_vec *dvs,
                       size_t n, kb_pending *pd, const kb_admit *admit, size_t *total,
                       float **vecs, ragd_error *err)
{
    strmap seen = STRMAP_INIT;
    for (size_t i = n; i-- > 0;) {
        pd[i].skip = strmap_get(&seen, docs[i].id, strlen(docs[i].id)) != NULL;
        strmap_put(&seen, docs[i].id, strlen(docs[i].id), &pd[i]);
    }
    strmap_free(&seen);
    size_t cnt = 0;
    *vecs = NULL;
    for (size_t i = 0; i < n; i++) {
        if (pd[i].skip)
            continue;
        int rc = kb__spans(kb, ns, &docs[i], kb__dv(dvs, i), &pd[i], err);
        if (rc)
            return rc;
        pd[i].first = cnt;
        cnt += pd[i].n_spans;
        pd[i].doc = kb__doc_from(&docs[i], pd[i].n_spans);
    }
    *total = cnt;
    int arc = kb__admit(admit, pd, n, cnt, err);
    if (arc)
        return arc;
    if (!ns->st.dim || cnt == 0) {
        for (size_t i = 0; i < n; i++)
            if (kb__dv(dvs, i)->vector || kb__dv(dvs, i)->chunks)
                return kb__check_vec(ns, NULL, kb__dv(dvs, i)->dim, i, err);
        return RAGD_OK;
    }
    float *v = malloc(cnt * ns->st.dim * sizeof *v);
    const char *tenant = admit && admit->tenant ? admit->tenant : ns->name;
    int rc = v ? kb__vectors(kb, ns, tenant, docs, dvs, n, pd, cnt, v, err) : RAGD_ENOMEM;
    if (rc) {
        free(v);
        return rc;
    }
    *vecs = v;
    return RAGD_OK;
}

/* The checks of writing pd's documents (kb__stored_docs) and the chunk keys
 * each may have in the store (had[i]); a user's write on another owner's
 * stored document is refused here (KB__NOT_YOURS, err names it). */
static int kb__persist_checks(kb_t *kb, kb_ns *ns, const kb_pending *pd, size_t n, uint32_t *had,
                              kb_checks *ck, ragd_error *err)
{
    const char **ids = xmalloc((n ? n : 1) * sizeof *ids);
    const char **owners = xmalloc((n ? n : 1) * sizeof *owners);
    size_t *at = xmalloc((n ? n : 1) * sizeof *at), m = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (pd[i].skip)
            continue;
        const kb_doc *old = strmap_get(&ns->docs, pd[i].doc->id, strlen(pd[i].doc->id));
        had[i] = old ? old->n_chunks : 0;
        ids[m] = pd[i].doc->id;
        owners[m] = pd[i].doc->user_id;
        at[m++] = i;
    }
    uint32_t *h = xmalloc((m ? m : 1) * sizeof *h);
    for (size_t j = 0; j < m; j++)
        h[j] = had[at[j]];
    kb__rule rule = { .owners = owners };
    int rc = kb__stored_docs(kb, ns, ids, &rule, m, h, ck, &bad);
    for (size_t j = 0; j < m; j++)
        had[at[j]] = h[j];
    if (rc == KB__NOT_YOURS)
        kb__not_yours(err, at[bad], ids[bad]);
    else if (rc)
        ragd_error_set(err, rc, "reading the stored documents failed: %s", ragd_strerror(rc));
    free(h);
    free(at);
    free(owners);
    free(ids);
    return rc;
}

/* Write the batch to the store in one atomic batch after its checks
 * (RAGD_ECONFLICT, *failed: 0 = the meta record is gone, else a document
 * changed since it was read; KB__NOT_YOURS: another owner's document).
 * Caller holds wmu. */
static int kb__persist(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, const float *vecs,
                       size_t *failed, ragd_error *err)
{
    kb_checks ck = { 0 };
    uint32_t *had = xcalloc(n ? n : 1, sizeof *had);
    kb__checks_meta(&ck, ns);
    int prc = kb__persist_checks(kb, ns, pd, n, had, &ck, err);
    if (prc) {
        kb__checks_free(&ck);
        free(had);
        return prc;
    }
    buf_t keys = BUF_INIT, vals = BUF_INIT, rec = BUF_INIT;
    size_t nops = 0, cap = 0, *koff = NULL, *voff = NULL;
    store_op *ops = NULL;
    uint32_t dim = ns->st.dim;
    kb__log_open(&rec, "upsert");
    for (size_t i = 0; i < n; i++) {
        if (pd[i].skip)
            continue;
        kb_doc *d = pd[i].doc;
        kb__log_id(&rec, d->id);
        size_t need = nops + d->n_chunks + 1;
        if (need > cap) {
            cap = need * 2;
            ops = xrealloc(ops, cap * sizeof *ops);
            koff = xrealloc(koff, cap * sizeof *koff);
            voff = xrealloc(voff, cap * sizeof *voff);
        }
        koff[nops] = keys.len;
        kb__key_doc(&keys, ns->name, d->id);
        voff[nops] = vals.len;
        kb__doc_encode(d, &vals);
        ops[nops] = (store_op){ .klen = keys.len - koff[nops], .vlen = vals.len - voff[nops] };
        nops++;
        for (uint32_t c = 0; c < d->n_chunks; c++) {
            const chunker_span *s = &pd[i].spans[c];
            koff[nops] = keys.len;
            kb__key_chunk(&keys, ns->name, d->id, c);
            voff[nops] = vals.len;
            kb__chunk_encode(s->start, s->end, s->pieces,
                             vecs ? vecs + (pd[i].first + c) * dim : NULL, dim, &vals);
            ops[nops] = (store_op){ .klen = keys.len - koff[nops], .vlen = vals.len - voff[nops] };
            nops++;
        }
        if (had[i] > d->n_chunks) {
            size_t before = nops;
            kb__ops_delete(ns->name, d->id, had[i], d->n_chunks, false, &keys, &ops, &nops, &cap,
                           &koff);
            voff = xrealloc(voff, cap * sizeof *voff);
            for (size_t k = before; k < nops; k++)
                voff[k] = SIZE_MAX; /* a delete */
        }
    }
    char ver[33];
    kb__version_new(ver);
    ops = xrealloc(ops, (nops + 1) * sizeof *ops);
    koff = xrealloc(koff, (nops + 1) * sizeof *koff);
    voff = xrealloc(voff, (nops + 1) * sizeof *voff);
    koff[nops] = keys.len;
    kb__key_version(&keys, ns->name);
    voff[nops] = vals.len;
    buf_append(&vals, ver, 32);
    ops[nops] = (store_op){ .klen = keys.len - koff[nops], .vlen = 32 };
    nops++;
    for (size_t k = 0; k < nops; k++) { /* buffers are final: resolve offsets */
        ops[k].key = keys.data + koff[k];
        ops[k].val = voff[k] == SIZE_MAX ? NULL : vals.data + voff[k];
    }
    kb__log_close(&rec, ver, kb->origin);
    int rc = kb__log_commit(kb, ns, kb__checks_final(&ck), ck.n, ops, nops, &rec, failed);
    buf_free(&rec);
    kb__checks_free(&ck);
    if (rc && rc != RAGD_ECONFLICT)
        ragd_error_set(err, rc, "store write failed: %s", ragd_strerror(rc));
    else if (!rc)
        memcpy(ns->version, ver, sizeof ver);
    free(had);
    free(ops);
    free(koff);
    free(voff);
    buf_free(&keys);
    buf_free(&vals);
    return rc;
}

/* HNSW inserts of a batch's chunks [task * 16, +16) (ids and vecs by the
 * chunk's index in the batch), as threadpool tasks. */
typedef struct kb_hnsw_batch {
    hnsw *hn;
    const uint32_t *ids;
    const float *vecs;
    uint32_t dim;
    size_t total;
} kb_hnsw_batch;

static void kb__hnsw_task(void *ctx, size_t task, int thread)
{
    const kb_hnsw_batch *b = ctx;
    (void)thread;
    for (size_t k = task * 16; k < b->total && k < task * 16 + 16; k++)
        hnsw_insert(b->hn, b->ids[k], b->vecs + k * b->dim);
}

void kb__docs_publish(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, size_t total,
                      const float *vecs, kb_upsert_stats *st)
{
    kb__docs_publish_tp(kb, ns, pd, n, total, vecs, NULL, st);
}

void kb__docs_publish_tp(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, size_t total,
                         const float *vecs, threadpool *tp, kb_upsert_stats *st)
{
    uint32_t *ids = xmalloc((total ? total : 1) * sizeof *ids);
    uint32_t dim = ns->st.dim;
    kb__slots_take(ns, ids, total);
    pthread_rwlock_wrlock(&ns->lock);
    bm25 *bm = kb__ns_bm25(ns);
    hnsw *hn = vecs ? kb__ns_hnsw(ns, dim) : NULL;
    pthread_rwlock_unlock(&ns->lock);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; !pd[i].skip && c < pd[i].n_spans; c++) {
            const chunker_span *s = &pd[i].spans[c];
            bm25_add_doc(bm, ids[pd[i].first + c], pd[i].doc->text + s->start,
                         s->end - s->start);
        }
    kb_hnsw_batch hb = { hn, ids, vecs, dim, total }; /* chunk k of the batch: ids[k] */
    if (hn && tp)
        threadpool_run(tp, (total + 15) / 16, kb__hnsw_task, &hb);
    else if (hn)
        for (size_t t = 0; t < (total + 15) / 16; t++)
            kb__hnsw_task(&hb, t, 0);
    kb_doc **old = xcalloc(n ? n : 1, sizeof *old);
    pthread_rwlock_wrlock(&ns->lock);
    for (size_t i = 0; i < n; i++) {
        if (pd[i].skip)
            continue;
        kb_doc *d = pd[i].doc;
        for (uint32_t c = 0; c < d->n_chunks; c++) {
            const chunker_span *s = &pd[i].spans[c];
            uint32_t id = ids[pd[i].first + c];
            d->chunks[c] = id;
            ns->slots[id] = (kb_slot){ d, s->start, s->end, s->pieces, c };
            if (hn)
                kb__vsum_add(ns, vecs + (pd[i].first + c) * dim, 1.0);
        }
        ns->n_chunks += d->n_chunks;
        ns->text_bytes += d->len;
        old[i] = strmap_put(&ns->docs, d->id, strlen(d->id), d);
        kb__expiry_note(ns, d);
        if (old[i])
            kb__unpublish(ns, old[i]);
        st->documents++;
        st->replaced += old[i] != NULL;
        st->chunks += d->n_chunks;
        pd[i].doc = NULL;
    }
    pthread_rwlock_unlock(&ns->lock);
    float *tmp = xmalloc((ns->dim ? ns->dim : 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++)
        if (old[i])
            kb__retire(ns, old[i], tmp);
    free(tmp);
    free(old);
    free(ids);
}

/* A lost check: the meta record gone means the namespace is (RAGD_ENOTFOUND,
 * ns leaves the registry); a document changed by another instance means
 * "read again and retry" (KB__RETRY, internal, never returned). Caller holds wmu. */
static int kb__conflict(kb_t *kb, kb_ns *ns, size_t failed)
{
    if (failed == 0) {
        kb__ns_forget(kb, ns);
        return RAGD_ENOTFOUND;
    }
    return KB__RETRY;
}

/* kb__persist, again while another instance replaces the same documents at
 * the same time (each try re-reads the stored records and checks their
 * owners again). Eight lost tries: RAGD_ECONFLICT. Caller holds wmu. */
static int kb__persist_retry(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, const float *vecs,
                             ragd_error *err)
{
    int rc = KB__RETRY;
    for (int tries = 0; tries < 8 && rc == KB__RETRY; tries++) {
        size_t failed = 0;
        rc = kb__persist(kb, ns, pd, n, vecs, &failed, err);
        if (rc == RAGD_ECONFLICT)
            rc = kb__conflict(kb, ns, failed);
    }
    if (rc == KB__NOT_YOURS)
        return RAGD_ENOTFOUND; /* err names the document */
    if (rc == RAGD_ENOTFOUND)
        ragd_error_set(err, rc, "namespace '%s' does not exist", ns->name);
    else if (rc == KB__RETRY)
        ragd_error_set(err, RAGD_ECONFLICT, "documents of this batch keep being replaced by "
                       "other writers; retry");
    return rc == KB__RETRY ? RAGD_ECONFLICT : rc;
}

int kb_docs_upsert(kb_t *kb, const char *nsname, const kb_doc_in *docs, size_t n,
                   kb_upsert_stats *st, ragd_error *err)
{
    return kb_docs_upsert_admit(kb, nsname, docs, n, NULL, st, err);
}

int kb_docs_upsert_admit(kb_t *kb, const char *nsname, const kb_doc_in *docs, size_t n,
                         const kb_admit *admit, kb_upsert_stats *st, ragd_error *err)
{
    return kb_docs_upsert_vec(kb, nsname, docs, NULL, n, admit, st, err);
}

int kb_docs_upsert_vec(kb_t *kb, const char *nsname, const kb_doc_in *docs, const kb_doc_vec *dvs,
                       size_t n, const kb_admit *admit, kb_upsert_stats *st, ragd_error *err)
{
    kb_upsert_stats dummy;
    st = st ? st : &dummy;
    memset(st, 0, sizeof *st);
    if (n == 0)
        return ragd_error_set(err, RAGD_EINVAL, "no documents given");
    if (n > kb->o.max_docs_per_batch)
        return ragd_error_set(err, RAGD_ETOOBIG, "%zu documents in one batch; the limit is %zu", n,
                              kb->o.max_docs_per_batch);
    for (size_t i = 0; i < n; i++) {
        int rc = kb__check_doc(&docs[i], kb__dv(dvs, i), i, err);
        if (rc)
            return rc;
    }
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return ragd_error_set(err, RAGD_ENOTFOUND, "namespace '%s' does not exist", nsname);
    kb_pending *pd = xcalloc(n, sizeof *pd);
    size_t total = 0;
    float *vecs = NULL;
    pthread_rwlock_rdlock(&ns->lock); /* early refusal: no budget, no embedding */
    int rc = kb__owner_check(ns, docs, n, err);
    pthread_rwlock_unlock(&ns->lock);
    if (!rc)
        rc = kb__prepare(kb, ns, docs, dvs, n, pd, admit, &total, &vecs, err);
    if (!rc) {
        pthread_mutex_lock(&ns->wmu);
        if ((rc = kb__ns_check_live(kb, ns)))
            ragd_error_set(err, rc, rc == RAGD_ENOTFOUND ? "namespace '%s' does not exist"
                                                         : "namespace '%s': store unavailable",
                           nsname);
        else if (!(rc = kb__persist_retry(kb, ns, pd, n, vecs, err)))
            kb__docs_publish(kb, ns, pd, n, total, vecs, st);
        pthread_mutex_unlock(&ns->wmu);
    }
    for (size_t i = 0; i < n; i++) {
        kb__doc_free(pd[i].doc);
        free(pd[i].spans);
    }
    free(pd);
    free(vecs);
    kb__ns_release(ns);
    return rc;
}

void kb__docs_unpublish(kb_ns *ns, kb_doc **docs, size_t n)
{
    pthread_rwlock_wrlock(&ns->lock);
    for (size_t i = 0; i < n; i++) {
        strmap_del(&ns->docs, docs[i]->id, strlen(docs[i]->id));
        kb__unpublish(ns, docs[i]);
    }
    pthread_rwlock_unlock(&ns->lock);
    float *tmp = xmalloc((ns->dim ? ns->dim : 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++)
        kb__retire(ns, docs[i], tmp);
    free(tmp);
}

/* Delete docs (all in ns->docs) from the store, after the checks of
 * kb__persist (RAGD_ECONFLICT, *failed), expired_by's and rule's on the
 * stored records (KB__NOT_YOURS, *bad). Caller holds wmu. */
static int kb__delete_store(kb_t *kb, kb_ns *ns, kb_doc **docs, size_t n, int64_t expired_by,
                            const kb__rule *rule, size_t *failed, size_t *bad)
{
    buf_t keys = BUF_INIT, rec = BUF_INIT;
    store_op *ops = NULL;
    size_t nops = 0, cap = 0, *koff = NULL;
    kb_checks ck = { .expired_by = expired_by };
    kb__checks_meta(&ck, ns);
    kb__log_open(&rec, "delete");
    const char **ids = xmalloc((n ? n : 1) * sizeof *ids);
    uint32_t *had = xmalloc((n ? n : 1) * sizeof *had);
    for (size_t i = 0; i < n; i++) {
        kb__log_id(&rec, docs[i]->id);
        ids[i] = docs[i]->id;
        had[i] = docs[i]->n_chunks;
    }
    int rc = kb__stored_docs(kb, ns, ids, rule, n, had, &ck, bad);
    for (size_t i = 0; i < n && rc == 0; i++)
        kb__ops_delete(ns->name, docs[i]->id, had[i], 0, true, &keys, &ops, &nops, &cap, &koff);
    free(ids);
    free(had);
    char ver[33];
    kb__version_new(ver);
    ops = xrealloc(ops, (nops + 1) * sizeof *ops);
    koff = xrealloc(koff, (nops + 1) * sizeof *koff);
    koff[nops] = keys.len;
    kb__key_version(&keys, ns->name);
    ops[nops] = (store_op){ .klen = keys.len - koff[nops], .val = ver, .vlen = 32 };
    nops++;
    for (size_t k = 0; k < nops; k++)
        ops[k].key = keys.data + koff[k];
    kb__log_close(&rec, ver, kb->origin);
    if (rc == 0) /* else reading the stored records failed */
        rc = kb__log_commit(kb, ns, kb__checks_final(&ck), ck.n, ops, nops, &rec, failed);
    buf_free(&rec);
    kb__checks_free(&ck);
    if (!rc)
        memcpy(ns->version, ver, sizeof ver);
    free(ops);
    free(koff);
    buf_free(&keys);
    return rc;
}

int kb__docs_delete(kb_t *kb, kb_ns *ns, kb_doc **docs, size_t n, int64_t expired_by,
                    const kb__rule *rule, size_t *deleted)
{
    *deleted = 0;
    int rc = kb__ns_check_live(kb, ns), tries = 0;
    while (rc == 0 && n > 0) {
        size_t failed = 0, bad = 0;
        rc = kb__delete_store(kb, ns, docs, n, expired_by, rule, &failed, &bad);
        if (rc == RAGD_OK) {
            kb__docs_unpublish(ns, docs, n);
            *deleted = n;
            break;
        }
        if (rc == KB__NOT_YOURS) { /* keep the refused one past the end */
            kb_doc *t = docs[bad];
            docs[bad] = docs[--n];
            docs[n] = t;
            rc = RAGD_OK;
        } else if (rc == RAGD_ECONFLICT && (rc = kb__conflict(kb, ns, failed)) == KB__RETRY) {
            rc = ++tries < 8 ? RAGD_OK : RAGD_ECONFLICT;
        }
    }
    return rc;
}

int kb_doc_delete(kb_t *kb, const char *nsname, const char *id)
{
    return kb_doc_delete_as(kb, nsname, id, NULL, NULL);
}

int kb_doc_delete_as(kb_t *kb, const char *nsname, const char *id, kb_owner_fn may,
                     const void *ud)
{
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return RAGD_ENOTFOUND;
    pthread_mutex_lock(&ns->wmu);
    kb_doc *d = ns->dropped || !id ? NULL : strmap_get(&ns->docs, id, strlen(id));
    if (d && may && !may(ud, d->user_id))
        d = NULL; /* the early refusal, on this instance's copy */
    kb__rule rule = { .may = may, .ud = ud };
    size_t done = 0;
    int rc = d ? kb__docs_delete(kb, ns, &d, 1, 0, may ? &rule : NULL, &done) : RAGD_ENOTFOUND;
    pthread_mutex_unlock(&ns->wmu);
    kb__ns_release(ns);
    return rc == RAGD_OK && done == 0 ? RAGD_ENOTFOUND : rc;
}

int kb_docs_delete_where(kb_t *kb, const char *nsname, const kb_filter *filter, const char *owner,
                         uint64_t *deleted)
{
    *deleted = 0;
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return RAGD_ENOTFOUND;
    pthread_mutex_lock(&ns->wmu);
    int rc = RAGD_OK;
    size_t cap = ns->docs.count, n = 0, it = 0;
    kb_doc **hit = xmalloc((cap ? cap : 1) * sizeof *hit);
    void *v;
    while (!ns->dropped && strmap_next(&ns->docs, &it, NULL, &v)) {
        kb_doc *d = v;
        if (owner && !kb_owner_is(owner, d->user_id))
            continue;
        if (kb_filter_match(filter, d->metadata))
            hit[n++] = d;
    }
    kb__rule rule = { .may = kb_owner_is, .ud = owner };
    for (size_t at = 0; at < n && !rc; at += 256) {
        size_t m = n - at < 256 ? n - at : 256, done = 0;
        rc = kb__docs_delete(kb, ns, hit + at, m, 0, owner ? &rule : NULL, &done);
        *deleted += done;
    }
    free(hit);
    pthread_mutex_unlock(&ns->wmu);
    kb__ns_release(ns);
    return rc;
}
