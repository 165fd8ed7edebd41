/*
 * embed_int.h - the two halves of embed_encode that the batcher calls
 * separately: tokenising (on the submitting thread) and running the encoder
 * over already-tokenised sequences merged from many submitters; and the
 * precision measurement run at open (embed_precision.c).
 */
#ifndef RAGD_EMBED_INT_H
#define RAGD_EMBED_INT_H

#include "embed/bert.h"
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

/* EMBED_AUTO (embed_precision.c): measure the candidates on this CPU, leave
 * bert on the chosen one and describe the choice in out. */
int embed__choose_precision(embed_model *m, bert_model *bert, embed_precision_choice *out);

#endif
