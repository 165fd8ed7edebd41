/*
 * bm25_int.h - the guts of bm25 shared by bm25.c (documents, dictionary),
 * bm25_dict.c (fuzzy term lookup), bm25_search.c (query, MaxScore) and
 * bm25_persist.c (save / load).
 * Locking: ix->lock is a rwlock; every write function holds it exclusively,
 * searches hold it shared and so never modify the structure.
 */
#ifndef RAGD_INDEX_BM25_INT_H
#define RAGD_INDEX_BM25_INT_H

#include <pthread.h>

#include "index/bm25.h"

/* One term: its postings (doc ids ascending, with term frequencies). */
typedef struct bm25_term {
    uint32_t *docs;
    uint32_t *tfs;
    uint32_t len, cap;   /* stored postings (live + dead) */
    uint32_t df;         /* live documents containing the term (exact) */
    uint32_t dead;       /* postings of deleted documents still stored */
    uint32_t max_tf;     /* over stored postings: bounds for MaxScore */
    uint32_t min_dl;
    uint32_t str_off, str_len; /* the term's bytes in ix->strs */
} bm25_term;

struct bm25 {
    bm25_params p;
    analyzer *an;
    pthread_rwlock_t lock;

    /* dictionary: strings, terms, open-addressing hash of term ids + 1 */
    char *strs;
    size_t strs_len, strs_cap;
    bm25_term *terms;
    uint32_t n_terms, terms_cap;
    uint32_t *htab;
    uint32_t hcap;           /* power of two (0 before the first term) */
    /* fuzzy view: term ids sorted by bytes, plus recent ones not yet merged */
    uint32_t *sorted;
    uint32_t n_sorted;
    uint32_t *recent;
    uint32_t n_recent, recent_cap;

    /* documents, indexed by doc id */
    uint32_t *doc_len;
    uint32_t **doc_terms;    /* distinct term ids of each live doc */
    uint32_t *doc_nterms;
    uint64_t *live;          /* bitmap */
    uint32_t doc_cap;

    uint64_t n_docs, total_len, n_live_terms, n_postings, n_dead;
    uint64_t n_searches, n_scored, n_seen; /* atomic counters for stats */
};

static inline bool bm25__is_live(const bm25 *ix, uint32_t d)
{
    return d < ix->doc_cap && (ix->live[d >> 6] >> (d & 63)) & 1;
}

static inline const char *bm25__term_str(const bm25 *ix, uint32_t t)
{
    return ix->strs + ix->terms[t].str_off;
}

/* Term id of s[0..len), or UINT32_MAX. Caller holds the lock. */
uint32_t bm25__lookup(const bm25 *ix, const char *s, size_t len);

/* Term id of s[0..len), added to the dictionary (and the fuzzy view) when
 * new. Write lock. */
uint32_t bm25__intern(bm25 *ix, const char *s, size_t len);

/* Make the per-document arrays hold doc_id (new ids dead, no terms). Write lock. */
void bm25__grow_docs(bm25 *ix, uint32_t doc_id);

/* Called for each index term within distance maxd of q. */
typedef void (*bm25__visit_fn)(void *ud, uint32_t term, int dist);

/* Visit every term with df > 0 within optimal-string-alignment distance maxd
 * of q (bytes). Walks the sorted view sharing DP rows between neighbouring
 * terms and skipping whole prefix ranges, then the recent list. Read lock. */
void bm25__fuzzy_walk(const bm25 *ix, const char *q, size_t qlen, int maxd,
                      bm25__visit_fn visit, void *ud);

/* Add term id t to the fuzzy view (write lock); merges when recent grows. */
void bm25__fuzzy_note(bm25 *ix, uint32_t t);
void bm25__fuzzy_free(bm25 *ix);

/* OSA distance of a and b if <= maxd, else maxd + 1. */
int bm25__osa_bounded(const char *a, size_t al, const char *b, size_t bl, int maxd);

#endif
