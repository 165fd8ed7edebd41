/*
 * chunker.h - splits a document into overlapping chunks counted in the
 * embedding model's word pieces (the same counting the encoder and the RAG
 * token budget use), so every chunk fits the model and carries the exact byte
 * span of the document it came from. Boundaries never cut a word in two.
 */
#ifndef RAGD_RAG_CHUNKER_H
#define RAGD_RAG_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#include "embed/wordpiece.h"

/* One chunk: bytes [start, end) of the document; start/end fall on word-piece
 * boundaries (the first chunk starts at the first piece, so leading blanks are
 * left out). */
typedef struct chunker_span {
    uint32_t start, end;
    uint32_t pieces; /* word pieces inside the span */
} chunker_span;

/* Split text[0..len) into windows of at most size word pieces, consecutive
 * windows sharing about overlap pieces (overlap < size). A window end that
 * would fall inside a word ("##" continuation) moves back to the word's start
 * (unless the word alone is longer than the window). A text without any word
 * piece gives one span [0, len). *out is malloc'd (caller frees), *n >= 1.
 * Errors: RAGD_EINVAL (size 0, overlap >= size, len > UINT32_MAX).
 * Thread-safe (wp is read-only). */
int chunker_split(const wordpiece *wp, const char *text, size_t len, uint32_t size,
                  uint32_t overlap, chunker_span **out, size_t *n);

#endif
