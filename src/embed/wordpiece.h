/*
 * wordpiece.h - BERT WordPiece tokenizer, identical in output to Hugging Face's
 * BertTokenizer (uncased): text clean-up, CJK split, lower-casing, NFD accent
 * stripping, punctuation split, greedy longest-match word pieces with "##",
 * [UNK] for words over 100 characters, literal special tokens ("[SEP]") kept.
 * Every piece carries the byte span it came from in the caller's text, so the
 * knowledge-base chunker and the RAG token budget use the same counting.
 */
#ifndef RAGD_WORDPIECE_H
#define RAGD_WORDPIECE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct wordpiece wordpiece;

typedef struct wordpiece_opts {
    bool lowercase;         /* uncased model: lower-case (default true) */
    bool strip_accents;     /* NFD and drop combining marks (default: = lowercase) */
    bool split_cjk;         /* CJK ideographs become single words (default true) */
    int max_chars_per_word; /* longer words become [UNK] (default 100) */
} wordpiece_opts;

/* One word piece: vocabulary id and the byte span [start, end) in the input
 * text it was made from ([CLS]/[SEP] added by encode have start == end == 0;
 * pieces of one decomposed character, e.g. Hangul, share its span). */
typedef struct wordpiece_piece {
    int32_t id;
    uint32_t start, end;
} wordpiece_piece;

/* Ids of the special tokens (-1 when the vocabulary lacks one). */
typedef struct wordpiece_specials {
    int32_t pad, unk, cls, sep, mask;
} wordpiece_specials;

/* Fill opts with the defaults above. */
void wordpiece_default_opts(wordpiece_opts *opts);

/* Load a vocab.txt (one token per line, id = line number). opts may be NULL
 * for the defaults. *out is owned by the caller (wordpiece_close). After open,
 * every function taking a const wordpiece* is thread-safe (read-only tables). */
int wordpiece_open(const char *vocab_path, const wordpiece_opts *opts, wordpiece **out,
                   ragd_error *err);
void wordpiece_close(wordpiece *wp);

size_t wordpiece_vocab_size(const wordpiece *wp);
const wordpiece_specials *wordpiece_get_specials(const wordpiece *wp); /* borrowed */

/* Id of a token string, or -1. */
int32_t wordpiece_token_id(const wordpiece *wp, const char *token, size_t len);
/* Token string of an id (borrowed, NUL-terminated), or NULL when out of range. */
const char *wordpiece_token_str(const wordpiece *wp, int32_t id);

/* Word pieces of text[0..len) without [CLS]/[SEP]: at most max pieces (0 =
 * no limit). *pieces is allocated by the call (caller frees with free(); NULL
 * when *n == 0); *truncated (may be NULL) says whether pieces were dropped.
 * Invalid UTF-8 bytes are dropped like U+FFFD. Returns 0. */
int wordpiece_tokenize(const wordpiece *wp, const char *text, size_t len, size_t max,
                       wordpiece_piece **pieces, size_t *n, bool *truncated);

/* Number of word pieces text would give (no specials, no limit); no allocation. */
size_t wordpiece_count(const wordpiece *wp, const char *text, size_t len);

/* Model input for one text: [CLS] pieces [SEP], at most max_len ids (>= 2).
 * ids must hold max_len entries; pieces (may be NULL) gets the spans of the
 * same max_len positions. *n is the id count; *truncated (may be NULL) is set
 * when pieces were dropped. Errors: RAGD_EINVAL if max_len < 2. */
int wordpiece_encode(const wordpiece *wp, const char *text, size_t len, size_t max_len,
                     int32_t *ids, wordpiece_piece *pieces, size_t *n, bool *truncated);

/* Model input for a pair (cross-encoders): [CLS] a [SEP] b [SEP] with
 * token_type_ids 0 for [CLS] a [SEP] and 1 for b [SEP]. Truncation keeps the
 * first text whole as long as it leaves the second at least a quarter of the
 * budget (max_len - 3), and cuts the second text first. ids and type_ids
 * (may be NULL) hold max_len entries. Errors: RAGD_EINVAL if max_len < 4. */
int wordpiece_encode_pair(const wordpiece *wp, const char *a, size_t alen, const char *b,
                          size_t blen, size_t max_len, int32_t *ids, int32_t *type_ids, size_t *n,
                          bool *truncated);

#endif
