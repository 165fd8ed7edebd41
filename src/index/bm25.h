/*
 * bm25.h - in-memory inverted index of one namespace with Lucene-style BM25
 * (Robertson & Zaragoza's Okapi BM25 as Lucene >= 8 computes it: idf =
 * ln(1 + (N - df + 0.5)/(df + 0.5)), tf part tf / (tf + k1 (1 - b + b dl/avgdl)),
 * which is also bm25s' "lucene" method). Live add/delete keep N, df and the
 * average length exact; top-k uses MaxScore dynamic pruning, a caller filter
 * is applied during the search, and an optional fuzzy mode matches typos and
 * split/joined compounds ("benchpress" ~ "bench press").
 *
 * Document ids are dense uint32 internal ids chosen by the caller (the
 * namespace layer: e.g. a counter per namespace; a re-upserted chunk gets a new
 * id or reuses a deleted one). Memory grows with the largest id, so keep them
 * dense. Creating an index allocates a few hundred bytes only.
 */
#ifndef RAGD_INDEX_BM25_H
#define RAGD_INDEX_BM25_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index/analyzer.h"
#include "util/buf.h"

typedef struct bm25 bm25;

typedef struct bm25_params {
    float k1; /* term-frequency saturation, default 0.9 (Anserini) */
    float b;  /* length normalisation, default 0.4 */
} bm25_params;

/* Caller's filter: return true to accept doc_id. Called during the search
 * (under the index's read lock) from the searching thread; must not call back
 * into the same index's write functions. */
typedef bool (*bm25_filter_fn)(void *ud, uint32_t doc_id);

/* Largest k a search takes (RAGD_EINVAL above): k * sizeof(bm25_hit) stays
 * far from overflow in every buffer sized from k. */
#define BM25_K_MAX ((size_t)1 << 24)

typedef struct bm25_search_opts {
    size_t k;               /* results wanted (>= 1) */
    bool fuzzy;             /* typo + compound tolerance (see bm25_search) */
    bm25_filter_fn filter;  /* NULL: every live document */
    void *filter_ud;
} bm25_search_opts;

typedef struct bm25_hit {
    uint32_t doc_id;
    float score;
} bm25_hit;

typedef struct bm25_stats {
    uint64_t n_docs;         /* live documents (N) */
    uint64_t total_len;      /* sum of live document lengths, in terms */
    double avgdl;            /* total_len / n_docs (0 when empty) */
    uint64_t n_terms;        /* terms with df > 0 */
    uint64_t n_postings;     /* stored postings, including not yet compacted dead ones */
    uint64_t n_dead_postings;
    uint64_t memory_bytes;   /* approximate heap use */
    uint64_t searches;       /* bm25_search calls so far */
    uint64_t postings_scored; /* postings whose score was computed, all searches
                                 (MaxScore skips the rest) */
    uint64_t postings_seen;  /* postings of the query terms, all searches */
} bm25_stats;

/* One query term's part of a hit's score, for explain. */
typedef struct bm25_explain_term {
    char term[68];   /* index term (after analysis / fuzzy expansion) */
    float weight;    /* 1 for an exact query term, < 1 for fuzzy expansions */
    uint32_t tf, df;
    float idf, score; /* score = weight * idf * tf-part */
} bm25_explain_term;

bm25_params bm25_default_params(void);

/* Create an empty index. params NULL = defaults. an is borrowed and must
 * outlive the index (NULL = analyzer_default()). Caller destroys. */
int bm25_create(const bm25_params *params, analyzer *an, bm25 **out);
void bm25_destroy(bm25 *ix);

/* Analyse text and index it as document doc_id. RAGD_EEXISTS if doc_id is
 * live. A document with no terms is still counted in N (length 0).
 * Thread-safe (takes the write lock). */
int bm25_add_doc(bm25 *ix, uint32_t doc_id, const char *text, size_t len);

/* Same with terms already analysed (NUL-terminated strings, repeats count). */
int bm25_add_terms(bm25 *ix, uint32_t doc_id, const char *const *terms, size_t n);

/* Remove doc_id: N, df and total length are updated at once; its postings
 * are dropped lazily (a term's list is compacted once half of it is dead).
 * RAGD_ENOTFOUND if not live. Thread-safe (write lock). */
int bm25_delete_doc(bm25 *ix, uint32_t doc_id);

/* Top-k documents for query, best first (ties: lower id first), written to
 * out[0..*n_out), out has room for opts->k. Only documents with score > 0
 * that the filter accepts are returned, so fewer than k come back only when
 * fewer match. Fuzzy mode: each analysed query term of >= 4 bytes also matches
 * index terms within Damerau-Levenshtein (optimal string alignment) distance 1
 * (4-7 bytes) or 2 (>= 8 bytes), weighted 1 - d/len; adjacent query terms
 * also match their concatenation, and a term also matches two index terms it
 * splits into. Thread-safe: searches run concurrently (read lock). */
int bm25_search(bm25 *ix, const char *query, size_t qlen, const bm25_search_opts *opts,
                bm25_hit *out, size_t *n_out);

/* Per-term breakdown of doc_id's score for query (same expansion as
 * bm25_search with fuzzy). Writes up to cap entries, *n_out the count, *total
 * the score. Thread-safe. */
int bm25_explain(bm25 *ix, const char *query, size_t qlen, bool fuzzy, uint32_t doc_id,
                 bm25_explain_term *out, size_t cap, size_t *n_out, float *total);

/* Is doc_id a live document of the index? Thread-safe (read lock). */
bool bm25_contains(bm25 *ix, uint32_t doc_id);

/* Document frequency of an index term (exact, already analysed). */
uint32_t bm25_doc_freq(bm25 *ix, const char *term);

/* Snapshot of the statistics. Thread-safe. */
void bm25_get_stats(bm25 *ix, bm25_stats *st);

/* Drop every dead posting now (normally done lazily). Thread-safe (write lock). */
void bm25_compact(bm25 *ix);

/* Append the index's live documents (ids, lengths), dictionary and postings
 * to out (bm25_persist.c has the layout). Thread-safe (read lock: searches
 * go on, writers wait). */
void bm25_save(bm25 *ix, buf_t *out);

/* An index from bm25_save's bytes, without re-analysing any text; params
 * and an as for bm25_create (they are not saved: the caller's settings
 * apply). Document ids must be below id_limit (memory grows with the largest
 * id: the caller knows how many it has). Every id, count and order is
 * checked: RAGD_EFORMAT for bytes that are truncated, damaged or of another
 * version (*out untouched). Caller destroys the index. */
int bm25_load(const void *data, size_t len, uint32_t id_limit, const bm25_params *params,
              analyzer *an, bm25 **out);

#endif
