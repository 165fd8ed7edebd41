/*
 * embed_int.h - the two halves of embed_encode that the scheduler (sched.c) calls
 * separately: tokenising (on the submitting thread) and running the encoder
 * over already-tokenised sequences merged from many submitters; and the
 * precision measurement run at open (embed_precision.c) with the file that
 * keeps it between starts (embed_precision_file.c).
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

/* Encode the sequences (reordered in place by length) into their out vectors,
 * each forward pass run as r says (NULL: on the model's own workspace). */
int embed__run(embed_model *m, const bert_run *r, embed__seq *seqs, size_t n);

/* What embed_precision.c measures through: the encoder whose kernels it
 * switches, and the caller's way of embedding texts with it (n vectors of dim
 * floats into out, token counts incl. specials into ntok; 0 or RAGD_E*). */
typedef struct embed__prober {
    bert_model *bert;
    size_t dim;
    int (*encode)(void *ud, const char *const *texts, const size_t *lens, size_t n, float *out,
                  int *ntok);
    void *ud;
} embed__prober;

/* EMBED_AUTO: measure the candidates on this CPU, leave pr->bert on the chosen
 * one and describe the choice in out. */
int embed__choose_precision(const embed__prober *pr, embed_precision_choice *out);

/* The precision file (embed_precision_file.c). Load: reuse the choice kept in
 * path for the weights in model_dir on this CPU and ragd version, leaving
 * bert on it; 0 with *out filled (measured and reused set), RAGD_ENOTFOUND
 * (no file, or no weights file to key it by), RAGD_ECONFLICT (the key differs)
 * or RAGD_EFORMAT (it does not parse, or names kernels not run here), with
 * bert's precision and *out untouched. Save: write c for model_dir's weights
 * atomically (a temporary file renamed); 0 or RAGD_EIO / RAGD_ENOTFOUND. */
int embed__precision_load(const char *path, const char *model_dir, bert_model *bert,
                          embed_precision_choice *out);
int embed__precision_save(const char *path, const char *model_dir,
                          const embed_precision_choice *c);

#endif
