/*
 * embed_int.h - the two halves of embed_encode that the scheduler (sched.c) calls
 * separately: tokenising (on the submitting thread) and running the encoder
 * over already-tokenised sequences merged from many submitters.
 */
#ifndef RAGD_EMBED_INT_H
#define RAGD_EMBED_INT_H

#include "embed/embed.h"

typedef struct embed__seq {
    const int32_t *ids; /* [CLS] .. [SEP] */
    size_t n;
    float *out;         /* dim floats */
} embed__seq;

/* ids must hold embed_model_max_tokens(m) entries. */
void embed__tokenize(const embed_model *m, const char *text, size_t len, int32_t *ids, size_t *n,
                     bool *truncated);

/* Encode the sequences (reordered in place by length) into their out vectors. */
int embed__run(embed_model *m, embed__seq *seqs, size_t n);

#endif
