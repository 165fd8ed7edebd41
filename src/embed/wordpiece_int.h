/*
 * wordpiece_int.h - internals shared by the WordPiece files: the vocabulary
 * table and the pre-tokenizer (wordpiece_norm.c) that turns raw UTF-8 into
 * normalised words, each char remembering its byte span in the input.
 */
#ifndef RAGD_WORDPIECE_INT_H
#define RAGD_WORDPIECE_INT_H

#include "embed/wordpiece.h"

#define WP_MAX_CHARS 128 /* stored chars per word; longer words only counted */

struct wordpiece {
    wordpiece_opts opts;
    wordpiece_specials sp;
    char *strings;        /* all tokens, NUL-separated */
    uint32_t *offsets;    /* id -> offset in strings */
    uint32_t *lens;       /* id -> byte length */
    size_t n;             /* vocabulary size */
    int32_t *table;       /* open addressing: id or -1 */
    size_t mask;          /* table size - 1 */
    size_t max_tok_bytes; /* longest token */
};

/* A normalised char: code point plus the input byte span it came from. */
typedef struct wp__char {
    uint32_t cp;
    uint32_t start, end;
} wp__char;

/* One pre-tokenized word. When special >= 0 the word is a literal special
 * token and chars is empty. nchars may exceed WP_MAX_CHARS (only the first
 * WP_MAX_CHARS are stored). */
typedef struct wp__word {
    const wp__char *chars;
    size_t nchars;
    uint32_t start, end;
    int32_t special;
} wp__word;

/* Called per word; return nonzero to stop. */
typedef int (*wp__word_fn)(void *ctx, const wp__word *w);

/* Split text into normalised words as BertTokenizer's BasicTokenizer does. */
void wp__pretokenize(const wordpiece *wp, const char *text, size_t len, wp__word_fn fn, void *ctx);

/* Vocabulary lookup of bytes s[0..n), with "##" prepended when cont. */
int32_t wp__lookup(const wordpiece *wp, const char *s, size_t n, int cont);

#endif
