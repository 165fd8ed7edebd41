/*
 * bm25.c - the BM25 index's life: create/destroy, the term dictionary (hash
 * of interned strings), adding documents (postings appended, or inserted in
 * order when ids arrive out of order) and deleting them (stats updated at
 * once, postings dropped lazily per term once half of its list is dead).
 */
#include <stdlib.h>
#include <string.h>

#include "index/bm25_int.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/mem.h"

bm25_params bm25_default_params(void)
{
    return (bm25_params){.k1 = 0.9f, .b = 0.4f};
}

int bm25_create(const bm25_params *params, analyzer *an, bm25 **out)
{
    if (!out)
        return RAGD_EINVAL;
    bm25_params p = params ? *params : bm25_default_params();
    if (!(p.k1 >= 0.0f) || !(p.b >= 0.0f && p.b <= 1.0f))
        return RAGD_EINVAL;
    if (!an)
        an = analyzer_default();
    if (!an)
        return RAGD_EUNSUPPORTED;
    bm25 *ix = xcalloc(1, sizeof *ix);
    ix->p = p;
    ix->an = an;
    pthread_rwlock_init(&ix->lock, NULL);
    *out = ix;
    return 0;
}

void bm25_destroy(bm25 *ix)
{
    if (!ix)
        return;
    for (uint32_t t = 0; t < ix->n_terms; t++)
        free(ix->terms[t].docs);
    for (uint32_t d = 0; d < ix->doc_cap; d++)
        free(ix->doc_terms[d]);
    free(ix->terms);
    free(ix->strs);
    free(ix->htab);
    bm25__fuzzy_free(ix);
    free(ix->doc_len);
    free(ix->doc_terms);
    free(ix->doc_nterms);
    free(ix->live);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

/* ---- dictionary ---- */

static uint32_t bm25__hash(const char *s, size_t len)
{
    return (uint32_t)hash_fnv1a64(s, len);
}

uint32_t bm25__lookup(const bm25 *ix, const char *s, size_t len)
{
    if (!ix->hcap)
        return UINT32_MAX;
    uint32_t mask = ix->hcap - 1;
    for (uint32_t h = bm25__hash(s, len) & mask;; h = (h + 1) & mask) {
        uint32_t e = ix->htab[h];
        if (!e)
            return UINT32_MAX;
        const bm25_term *t = &ix->terms[e - 1];
        if (t->str_len == len && memcmp(ix->strs + t->str_off, s, len) == 0)
            return e - 1;
    }
}

static void bm25__rehash(bm25 *ix)
{
    uint32_t nc = ix->hcap ? ix->hcap * 2 : 64;
    uint32_t *nt = xcalloc(nc, sizeof *nt);
    for (uint32_t t = 0; t < ix->n_terms; t++) {
        uint32_t h = bm25__hash(bm25__term_str(ix, t), ix->terms[t].str_len) & (nc - 1);
        while (nt[h])
            h = (h + 1) & (nc - 1);
        nt[h] = t + 1;
    }
    free(ix->htab);
    ix->htab = nt;
    ix->hcap = nc;
}

uint32_t bm25__intern(bm25 *ix, const char *s, size_t len)
{
    uint32_t t = bm25__lookup(ix, s, len);
    if (t != UINT32_MAX)
        return t;
    if ((ix->n_terms + 1) * 4 >= ix->hcap * 3)
        bm25__rehash(ix);
    if (ix->n_terms == ix->terms_cap) {
        ix->terms_cap = ix->terms_cap ? ix->terms_cap * 2 : 64;
        ix->terms = xrealloc(ix->terms, ix->terms_cap * sizeof *ix->terms);
    }
    if (ix->strs_len + len + 1 > ix->strs_cap) {
        size_t nc = ix->strs_cap ? ix->strs_cap * 2 : 1024;
        while (nc < ix->strs_len + len + 1)
            nc *= 2;
        ix->strs = xrealloc(ix->strs, nc);
        ix->strs_cap = nc;
    }
    t = ix->n_terms++;
    bm25_term *bt = &ix->terms[t];
    memset(bt, 0, sizeof *bt);
    bt->str_off = (uint32_t)ix->strs_len;
    bt->str_len = (uint32_t)len;
    bt->min_dl = UINT32_MAX;
    memcpy(ix->strs + ix->strs_len, s, len);
    ix->strs[ix->strs_len + len] = '\0';
    ix->strs_len += len + 1;
    uint32_t mask = ix->hcap - 1;
    uint32_t h = bm25__hash(s, len) & mask;
    while (ix->htab[h])
        h = (h + 1) & mask;
    ix->htab[h] = t + 1;
    bm25__fuzzy_note(ix, t);
    return t;
}

/* ---- documents ---- */

void bm25__grow_docs(bm25 *ix, uint32_t doc_id)
{
    if (doc_id < ix->doc_cap)
        return;
    uint32_t nc = ix->doc_cap ? ix->doc_cap : 64;
    while (nc <= doc_id)
        nc = nc > UINT32_MAX / 2 ? UINT32_MAX : nc * 2;
    ix->doc_len = xrealloc(ix->doc_len, (size_t)nc * sizeof *ix->doc_len);
    ix->doc_terms = xrealloc(ix->doc_terms, (size_t)nc * sizeof *ix->doc_terms);
    ix->doc_nterms = xrealloc(ix->doc_nterms, (size_t)nc * sizeof *ix->doc_nterms);
    size_t ow = (ix->doc_cap + 63) / 64, nw = ((size_t)nc + 63) / 64;
    ix->live = xrealloc(ix->live, nw * sizeof *ix->live);
    memset(ix->live + ow, 0, (nw - ow) * sizeof *ix->live);
    for (uint32_t d = ix->doc_cap; d < nc; d++) {
        ix->doc_len[d] = 0;
        ix->doc_terms[d] = NULL;
        ix->doc_nterms[d] = 0;
    }
    ix->doc_cap = nc;
}

static uint32_t bm25__lower_bound(const bm25_term *bt, uint32_t doc)
{
    uint32_t lo = 0, hi = bt->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (bt->docs[mid] < doc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A deleted id is being reused: remove the dead postings its old terms still
 * hold (the forward list is kept after delete for exactly this). */
static void bm25__purge_dead(bm25 *ix, uint32_t doc)
{
    uint32_t *ids = ix->doc_terms[doc];
    for (uint32_t i = 0; i < ix->doc_nterms[doc]; i++) {
        bm25_term *bt = &ix->terms[ids[i]];
        uint32_t pos = bm25__lower_bound(bt, doc);
        if (pos == bt->len || bt->docs[pos] != doc)
            continue; /* already compacted away */
        memmove(bt->docs + pos, bt->docs + pos + 1, (bt->len - pos - 1) * sizeof *bt->docs);
        memmove(bt->tfs + pos, bt->tfs + pos + 1, (bt->len - pos - 1) * sizeof *bt->tfs);
        bt->len--;
        bt->dead--;
        ix->n_dead--;
        ix->n_postings--;
    }
    free(ids);
    ix->doc_terms[doc] = NULL;
    ix->doc_nterms[doc] = 0;
}

static void bm25__posting_add(bm25 *ix, uint32_t t, uint32_t doc, uint32_t tf, uint32_t dl)
{
    bm25_term *bt = &ix->terms[t];
    if (bt->len == bt->cap) {
        uint32_t nc = bt->cap ? bt->cap * 2 : 4;
        uint32_t *nb = xmalloc((size_t)nc * 2 * sizeof *nb);
        if (bt->len) {
            memcpy(nb, bt->docs, bt->len * sizeof *nb);
            memcpy(nb + nc, bt->tfs, bt->len * sizeof *nb);
        }
        free(bt->docs);
        bt->docs = nb;
        bt->tfs = nb + nc;
        bt->cap = nc;
    }
    uint32_t pos = bt->len;
    if (pos && bt->docs[pos - 1] > doc) { /* out-of-order id: sorted insert */
        pos = bm25__lower_bound(bt, doc);
        memmove(bt->docs + pos + 1, bt->docs + pos, (bt->len - pos) * sizeof *bt->docs);
        memmove(bt->tfs + pos + 1, bt->tfs + pos, (bt->len - pos) * sizeof *bt->tfs);
    }
    bt->docs[pos] = doc;
    bt->tfs[pos] = tf;
    bt->len++;
    ix->n_postings++;
    if (bt->df++ == 0)
        ix->n_live_terms++;
    if (tf > bt->max_tf)
        bt->max_tf = tf;
    if (dl < bt->min_dl)
        bt->min_dl = dl;
}

static int bm25__cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int bm25__add_locked(bm25 *ix, uint32_t doc_id, const char *const *terms, const uint32_t *lens,
                            size_t n)
{
    if (doc_id == UINT32_MAX)
        return RAGD_EINVAL;
    if (bm25__is_live(ix, doc_id))
        return RAGD_EEXISTS;
    bm25__grow_docs(ix, doc_id);
    if (ix->doc_terms[doc_id])
        bm25__purge_dead(ix, doc_id);
    uint32_t *ids = xmalloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = bm25__intern(ix, terms[i], lens ? lens[i] : strlen(terms[i]));
    qsort(ids, n, sizeof *ids, bm25__cmp_u32);
    uint32_t nu = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && ids[j] == ids[i])
            j++;
        bm25__posting_add(ix, ids[i], doc_id, (uint32_t)(j - i), (uint32_t)n);
        ids[nu++] = ids[i];
        i = j;
    }
    ix->doc_terms[doc_id] = nu ? xrealloc(ids, nu * sizeof *ids) : (free(ids), NULL);
    ix->doc_nterms[doc_id] = nu;
    ix->doc_len[doc_id] = (uint32_t)n;
    ix->live[doc_id >> 6] |= 1ull << (doc_id & 63);
    ix->n_docs++;
    ix->total_len += n;
    return 0;
}

int bm25_add_terms(bm25 *ix, uint32_t doc_id, const char *const *terms, size_t n)
{
    if (!ix || (!terms && n))
        return RAGD_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!terms[i])
            return RAGD_EINVAL;
    pthread_rwlock_wrlock(&ix->lock);
    int rc = bm25__add_locked(ix, doc_id, terms, NULL, n);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int bm25_add_doc(bm25 *ix, uint32_t doc_id, const char *text, size_t len)
{
    if (!ix || (!text && len))
        return RAGD_EINVAL;
    analyzer_tokens tk;
    analyzer_tokens_init(&tk);
    int rc = analyzer_analyze(ix->an, text, len, &tk);
    if (rc == 0) {
        const char **ptrs = xmalloc((tk.n ? tk.n : 1) * sizeof *ptrs);
        for (size_t i = 0; i < tk.n; i++)
            ptrs[i] = analyzer_token(&tk, i);
        pthread_rwlock_wrlock(&ix->lock);
        rc = bm25__add_locked(ix, doc_id, ptrs, tk.len, tk.n);
        pthread_rwlock_unlock(&ix->lock);
        free(ptrs);
    }
    analyzer_tokens_free(&tk);
    return rc;
}

/* Drop the dead postings of term t. */
static void bm25__compact_term(bm25 *ix, uint32_t t)
{
    bm25_term *bt = &ix->terms[t];
    uint32_t w = 0, max_tf = 0, min_dl = UINT32_MAX;
    for (uint32_t i = 0; i < bt->len; i++) {
        uint32_t d = bt->docs[i];
        if (!bm25__is_live(ix, d))
            continue;
        bt->docs[w] = d;
        bt->tfs[w] = bt->tfs[i];
        if (bt->tfs[i] > max_tf)
            max_tf = bt->tfs[i];
        if (ix->doc_len[d] < min_dl)
            min_dl = ix->doc_len[d];
        w++;
    }
    ix->n_postings -= bt->len - w;
    ix->n_dead -= bt->dead;
    bt->len = w;
    bt->dead = 0;
    bt->max_tf = max_tf;
    bt->min_dl = min_dl;
    if (w == 0) {
        free(bt->docs);
        bt->docs = bt->tfs = NULL;
        bt->cap = 0;
    }
}

int bm25_delete_doc(bm25 *ix, uint32_t doc_id)
{
    if (!ix)
        return RAGD_EINVAL;
    pthread_rwlock_wrlock(&ix->lock);
    if (!bm25__is_live(ix, doc_id)) {
        pthread_rwlock_unlock(&ix->lock);
        return RAGD_ENOTFOUND;
    }
    ix->live[doc_id >> 6] &= ~(1ull << (doc_id & 63));
    ix->n_docs--;
    ix->total_len -= ix->doc_len[doc_id];
    uint32_t *ids = ix->doc_terms[doc_id];
    for (uint32_t i = 0; i < ix->doc_nterms[doc_id]; i++) {
        bm25_term *bt = &ix->terms[ids[i]];
        if (--bt->df == 0)
            ix->n_live_terms--;
        bt->dead++;
        ix->n_dead++;
        if (bt->dead * 2 >= bt->len)
            bm25__compact_term(ix, ids[i]);
    }
    /* the forward list stays until the id is reused or bm25_compact runs */
    pthread_rwlock_unlock(&ix->lock);
    return 0;
}

void bm25_compact(bm25 *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    for (uint32_t t = 0; t < ix->n_terms; t++)
        if (ix->terms[t].dead)
            bm25__compact_term(ix, t);
    for (uint32_t d = 0; d < ix->doc_cap; d++) {
        if (ix->doc_terms[d] && !bm25__is_live(ix, d)) {
            free(ix->doc_terms[d]);
            ix->doc_terms[d] = NULL;
            ix->doc_nterms[d] = 0;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
}

bool bm25_contains(bm25 *ix, uint32_t doc_id)
{
    pthread_rwlock_rdlock(&ix->lock);
    bool live = bm25__is_live(ix, doc_id);
    pthread_rwlock_unlock(&ix->lock);
    return live;
}

uint32_t bm25_doc_freq(bm25 *ix, const char *term)
{
    pthread_rwlock_rdlock(&ix->lock);
    uint32_t t = bm25__lookup(ix, term, strlen(term));
    uint32_t df = t == UINT32_MAX ? 0 : ix->terms[t].df;
    pthread_rwlock_unlock(&ix->lock);
    return df;
}

void bm25_get_stats(bm25 *ix, bm25_stats *st)
{
    pthread_rwlock_rdlock(&ix->lock);
    memset(st, 0, sizeof *st);
    st->n_docs = ix->n_docs;
    st->total_len = ix->total_len;
    st->avgdl = ix->n_docs ? (double)ix->total_len / (double)ix->n_docs : 0.0;
    st->n_terms = ix->n_live_terms;
    st->n_postings = ix->n_postings;
    st->n_dead_postings = ix->n_dead;
    uint64_t m = sizeof *ix + ix->strs_cap + (uint64_t)ix->terms_cap * sizeof(bm25_term) +
                 (uint64_t)ix->hcap * 4 + ((uint64_t)ix->n_sorted + ix->recent_cap) * 4 +
                 (uint64_t)ix->doc_cap * (4 + sizeof(uint32_t *) + 4) + ix->doc_cap / 8;
    for (uint32_t t = 0; t < ix->n_terms; t++)
        m += (uint64_t)ix->terms[t].cap * 8;
    for (uint32_t d = 0; d < ix->doc_cap; d++)
        m += (uint64_t)ix->doc_nterms[d] * 4;
    st->memory_bytes = m;
    st->searches = __atomic_load_n(&ix->n_searches, __ATOMIC_RELAXED);
    st->postings_scored = __atomic_load_n(&ix->n_scored, __ATOMIC_RELAXED);
    st->postings_seen = __atomic_load_n(&ix->n_seen, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&ix->lock);
}
