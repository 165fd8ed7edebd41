/*
 * bm25_persist.c - a BM25 index as bytes and back, so a restart reads the
 * term dictionary, postings and document lengths instead of re-analysing
 * every text. Only live data is written (dead postings are dropped, as
 * bm25_compact would). Loading checks every count, id and order, and that
 * each document's term frequencies add up to its stored length: a bad buffer
 * is RAGD_EFORMAT, never a crash. The layout (little-endian u32 throughout):
 *   "BM25" version n_docs n_terms
 *   n_docs x (doc id, length)                       ascending ids
 *   n_terms x (len, bytes, n, n x doc id, n x tf)   ascending ids per term
 */
#include <stdlib.h>
#include <string.h>

#include "index/bm25_int.h"
#include "util/err.h"
#include "util/mem.h"

#define BM25_MAGIC "BM25"
#define BM25_VERSION 1u

static void p__u32(buf_t *b, uint32_t v)
{
    buf_append(b, &v, 4);
}

void bm25_save(bm25 *ix, buf_t *out)
{
    pthread_rwlock_rdlock(&ix->lock);
    buf_append(out, BM25_MAGIC, 4);
    p__u32(out, BM25_VERSION);
    p__u32(out, (uint32_t)ix->n_docs);
    p__u32(out, (uint32_t)ix->n_live_terms);
    for (uint32_t d = 0; d < ix->doc_cap; d++)
        if (bm25__is_live(ix, d)) {
            p__u32(out, d);
            p__u32(out, ix->doc_len[d]);
        }
    for (uint32_t t = 0; t < ix->n_terms; t++) {
        const bm25_term *bt = &ix->terms[t];
        if (!bt->df)
            continue;
        p__u32(out, bt->str_len);
        buf_append(out, bm25__term_str(ix, t), bt->str_len);
        p__u32(out, bt->df);
        for (uint32_t i = 0; i < bt->len; i++)
            if (bm25__is_live(ix, bt->docs[i]))
                p__u32(out, bt->docs[i]);
        for (uint32_t i = 0; i < bt->len; i++)
            if (bm25__is_live(ix, bt->docs[i]))
                p__u32(out, bt->tfs[i]);
    }
    pthread_rwlock_unlock(&ix->lock);
}

/* ---- load ---- */

typedef struct p_rd {
    const uint8_t *p, *end;
} p_rd;

static bool p__get(p_rd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return false;
    memcpy(v, r->p, 4);
    r->p += 4;
    return true;
}

/* The document table: ids ascending and below limit, each made live with
 * its length. */
static bool p__docs(bm25 *ix, p_rd *r, uint32_t n, uint32_t limit)
{
    if ((size_t)(r->end - r->p) / 8 < n)
        return false;
    uint32_t last = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t d = 0, len = 0;
        p__get(r, &d);
        p__get(r, &len);
        if (d >= limit || (i && d <= last))
            return false;
        bm25__grow_docs(ix, d);
        ix->doc_len[d] = len;
        ix->live[d >> 6] |= 1ull << (d & 63);
        ix->n_docs++;
        ix->total_len += len;
        last = d;
    }
    return true;
}

/* One term and its postings; sums[d] collects each document's frequencies. */
static bool p__term(bm25 *ix, p_rd *r, uint64_t *sums)
{
    uint32_t slen, n;
    if (!p__get(r, &slen) || slen == 0 || (size_t)(r->end - r->p) < slen)
        return false;
    const char *s = (const char *)r->p;
    r->p += slen;
    uint32_t before = ix->n_terms;
    if (!p__get(r, &n) || n == 0 || (size_t)(r->end - r->p) / 8 < n ||
        bm25__intern(ix, s, slen) != before)
        return false; /* no postings, short, or a repeated term */
    bm25_term *bt = &ix->terms[before];
    bt->docs = xmalloc((size_t)n * 2 * sizeof *bt->docs);
    bt->tfs = bt->docs + n;
    bt->cap = bt->len = bt->df = n;
    memcpy(bt->docs, r->p, (size_t)n * 4);
    memcpy(bt->tfs, r->p + (size_t)n * 4, (size_t)n * 4);
    r->p += (size_t)n * 8;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t d = bt->docs[i], tf = bt->tfs[i];
        if (!bm25__is_live(ix, d) || (i && d <= bt->docs[i - 1]) || tf == 0)
            return false;
        sums[d] += tf;
        ix->doc_nterms[d]++;
        bt->max_tf = tf > bt->max_tf ? tf : bt->max_tf;
        bt->min_dl = ix->doc_len[d] < bt->min_dl ? ix->doc_len[d] : bt->min_dl;
    }
    ix->n_postings += n;
    ix->n_live_terms++;
    return true;
}

/* Each document's distinct terms (ascending ids, as bm25__add_locked keeps
 * them), from the postings; false when its frequencies do not sum to its length. */
static bool p__forward(bm25 *ix, const uint64_t *sums)
{
    for (uint32_t d = 0; d < ix->doc_cap; d++) {
        if (bm25__is_live(ix, d) && sums[d] != ix->doc_len[d])
            return false;
        if (ix->doc_nterms[d])
            ix->doc_terms[d] = xmalloc(ix->doc_nterms[d] * sizeof **ix->doc_terms);
        ix->doc_nterms[d] = 0;
    }
    for (uint32_t t = 0; t < ix->n_terms; t++) {
        const bm25_term *bt = &ix->terms[t];
        for (uint32_t i = 0; i < bt->len; i++) {
            uint32_t d = bt->docs[i];
            ix->doc_terms[d][ix->doc_nterms[d]++] = t;
        }
    }
    return true;
}

int bm25_load(const void *data, size_t len, uint32_t id_limit, const bm25_params *params,
              analyzer *an, bm25 **out)
{
    p_rd r = { data, (const uint8_t *)data + len };
    uint32_t ver = 0, n_docs = 0, n_terms = 0;
    if (len < 16 || memcmp(data, BM25_MAGIC, 4) != 0)
        return RAGD_EFORMAT;
    r.p += 4;
    p__get(&r, &ver);
    p__get(&r, &n_docs);
    p__get(&r, &n_terms);
    if (ver != BM25_VERSION)
        return RAGD_EFORMAT;
    bm25 *ix = NULL;
    int rc = bm25_create(params, an, &ix);
    if (rc)
        return rc;
    bool ok = p__docs(ix, &r, n_docs, id_limit);
    uint64_t *sums = ok ? xcalloc(ix->doc_cap ? ix->doc_cap : 1, sizeof *sums) : NULL;
    for (uint32_t t = 0; ok && t < n_terms; t++)
        ok = p__term(ix, &r, sums);
    ok = ok && r.p == r.end && p__forward(ix, sums);
    free(sums);
    if (!ok) {
        bm25_destroy(ix);
        return RAGD_EFORMAT;
    }
    *out = ix;
    return RAGD_OK;
}
