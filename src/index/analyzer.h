/*
 * analyzer.h - turns text into index terms for BM25: Unicode NFKC + case fold +
 * accent strip (utf8proc), split on Unicode letters/digits, English possessive
 * and stop-word removal (Lucene's EnglishAnalyzer list), Snowball English stems
 * (libstemmer), and CJK runs cut into overlapping character bigrams.
 * The same analyzer must be used for a namespace's documents and its queries.
 */
#ifndef RAGD_INDEX_ANALYZER_H
#define RAGD_INDEX_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct analyzer analyzer;

typedef struct analyzer_opts {
    bool fold;        /* NFKC + casefold + strip accents (default true) */
    bool stopwords;   /* drop the Lucene English stop words (default true) */
    bool stem;        /* Snowball English stemming (default true) */
    bool cjk_bigrams; /* CJK runs -> overlapping bigrams; false: single chars */
} analyzer_opts;

/* Growable list of tokens, each NUL-terminated in buf. Owned by the caller:
 * zero-initialise (or analyzer_tokens_init), reuse across calls, then free. */
typedef struct analyzer_tokens {
    char *buf;        /* token bytes, each followed by NUL */
    uint32_t *off;    /* off[i]: start of token i in buf */
    uint32_t *len;    /* len[i]: byte length of token i */
    size_t n, cap;    /* tokens used / allocated */
    size_t buf_len, buf_cap;
} analyzer_tokens;

/* Defaults: everything on, CJK bigrams. */
analyzer_opts analyzer_default_opts(void);

/* Create an analyzer (opts NULL = defaults). Caller destroys. Thread-safe
 * once created: any number of threads may call analyzer_analyze at once
 * (stemmers come from an internal pool, one per concurrent caller). */
int analyzer_create(const analyzer_opts *opts, analyzer **out);
void analyzer_destroy(analyzer *a);

/* Process-wide analyzer with default options, created on first use and never
 * destroyed; borrowed. Thread-safe. Lets many namespaces share one analyzer. */
analyzer *analyzer_default(void);

/* Replace the contents of out with the terms of text[0..len) (UTF-8; invalid
 * bytes are treated as separators). Returns 0 or RAGD_E*. Thread-safe. */
int analyzer_analyze(analyzer *a, const char *text, size_t len, analyzer_tokens *out);

/* True if word (already folded) is one of the analyzer's stop words. */
bool analyzer_is_stopword(const char *word, size_t len);

/* The stop-word list (NULL-terminated, static): Lucene EnglishAnalyzer's
 * ENGLISH_STOP_WORDS_SET (33 words), also Anserini's default. */
const char *const *analyzer_stopwords(void);

void analyzer_tokens_init(analyzer_tokens *t);
void analyzer_tokens_free(analyzer_tokens *t);
void analyzer_tokens_clear(analyzer_tokens *t);
/* Append one token (copied). */
void analyzer_tokens_push(analyzer_tokens *t, const char *s, size_t len);
static inline const char *analyzer_token(const analyzer_tokens *t, size_t i)
{
    return t->buf + t->off[i];
}

#endif
