/*
 * pack.h - the last stage of a RAG query: fit ranked chunks into at most
 * max_items context entries and max_tokens word pieces (counted with the
 * embedding model's own WordPiece tokenizer, so the budget is the one the
 * model sees), merging chunks of one document that touch or overlap into one
 * entry, and render the result as a prompt block with numbered citations.
 */
#ifndef RAGD_PACK_H
#define RAGD_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/wordpiece.h"
#include "util/buf.h"
#include "util/err.h"

/* One ranked chunk (all borrowed from the caller for the pack_context call). */
typedef struct pack_item {
    const char *ns, *doc_id; /* where it comes from */
    size_t start, end;       /* byte span of text in its document */
    int64_t seq;             /* chunk number in the document, -1 if unknown */
    const char *text;
    size_t len;              /* == end - start when the chunk is verbatim */
    float relevance;
} pack_item;

/* One context entry: a chunk, or several merged chunks of one document. */
typedef struct pack_entry {
    const char *ns, *doc_id; /* borrowed from the items */
    size_t start, end;       /* span in the document */
    int64_t seq_first, seq_last;
    char *text;              /* owned by the result */
    size_t len, tokens, nchunks;
    float relevance;         /* the best of its chunks */
    bool truncated;          /* cut to fit the token budget */
} pack_entry;

typedef struct pack_result {
    pack_entry *e;
    size_t n;
    size_t total_tokens;
    size_t skipped;          /* chunks left out (count or budget) */
} pack_result;

typedef struct pack_opts {
    size_t max_items;        /* entries (0 = no limit) */
    size_t max_tokens;       /* word pieces over all entries (0 = no limit) */
    size_t min_tail_tokens;  /* cut a chunk that does not fit only if at least
                                this many pieces of it fit (default 32) */
} pack_opts;

void pack_default_opts(pack_opts *o);

/* Greedy in the given (relevance) order: each chunk extends an entry of the
 * same document it touches, overlaps or follows (seq +- 1), or opens a new
 * entry while max_items allows; a chunk that would pass max_tokens is cut at
 * a word-piece boundary when min_tail_tokens of it fit, else skipped.
 * Entries come out in the order they were opened. out is owned by the caller
 * (pack_result_free). Thread-safe (wp is read-only). Returns 0. */
int pack_context(const wordpiece *wp, const pack_item *items, size_t n, const pack_opts *o,
                 pack_result *out);
void pack_result_free(pack_result *r);

/* Render the context as a prompt block for an LLM call: instructions, then
 * "[k] (namespace / document)" and the text per entry, then the question.
 * Appends to out. Thread-safe. */
void pack_render_prompt(const pack_result *r, const char *query, buf_t *out);

#endif
