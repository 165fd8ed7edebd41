/*
 * embed.h - ragd's local embedding engine: a sentence-transformers model
 * directory (BERT + WordPiece, e.g. all-MiniLM-L6-v2) opened once and used
 * from any thread to turn texts into vectors, plus the cross-encoder scoring
 * of (query, document) pairs for models with a classification head. For many
 * concurrent callers (HTTP worker threads) put the model scheduler (sched.h)
 * in front: it merges their requests and serves queries before bulk work.
 *
 * Threading: after embed_model_open every function is thread-safe; model work
 * runs on the model's own compute pool (one batch at a time), tokenisation on
 * the caller's thread. Ownership: the caller owns the model (embed_model_close)
 * and every output buffer; returned strings and the tokenizer are borrowed for
 * the model's lifetime.
 */
#ifndef RAGD_EMBED_H
#define RAGD_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/wordpiece.h"
#include "util/err.h"

typedef struct embed_model embed_model;

typedef enum embed_precision {
    EMBED_FP32 = 0, /* reference precision: cosine >= 0.9999 to sentence-transformers */
    EMBED_BF16 = 1, /* BF16 GEMMs on AMX or AVX512-BF16: faster, cosine >= 0.999 to FP32
                       (0.99994 on the test fixture); FP32 on CPUs without either */
    EMBED_AUTO = 2  /* chosen at open by measurement (embed_precision_choice) */
} embed_precision;

/* One candidate of the measurement behind EMBED_AUTO. */
typedef struct embed_precision_trial {
    embed_precision precision;
    const char *kernel; /* static string, e.g. "amx-bf16" */
    double min_cosine;  /* over the probe texts, to the FP32 vectors */
    double cpu_ms;      /* process CPU ms of the probe batch, best run */
    bool passed;        /* min_cosine >= 0.9999 */
} embed_precision_trial;

/* How the precision in effect was chosen. measured is false (and ntrials 0)
 * when it was configured rather than EMBED_AUTO; reused is true when the
 * measurement is an earlier start's, read from the precision file. */
typedef struct embed_precision_choice {
    bool measured;
    bool reused;
    embed_precision chosen;
    size_t ntrials;
    embed_precision_trial trial[4];
    size_t probe_texts, probe_tokens;
    double total_ms; /* wall time the measurement (or reading it) added to open */
} embed_precision_choice;

typedef struct embed_opts {
    embed_precision precision;
    int threads;       /* compute threads; 0 = all online CPUs */
    size_t max_tokens; /* word pieces per text incl. [CLS]/[SEP]; 0 = the model's
                          max_seq_length (256 for all-MiniLM-L6-v2) */
    /* EMBED_AUTO: a file keeping the measured choice (borrowed for the call).
     * Its choice is reused when ragd's version, the CPU (model name and
     * feature bits) and the weights file (path, size, mtime) match, unless
     * remeasure; otherwise, or when it does not parse, the precision is
     * measured and the file rewritten. NULL: measure at every open. */
    const char *precision_file;
    bool remeasure;
} embed_opts;

/* Defaults: FP32, all CPUs, the model's max_seq_length. */
void embed_default_opts(embed_opts *opts);

/* Parse "fp32" / "bf16" / "auto" (case-insensitive). RAGD_EINVAL otherwise. */
int embed_precision_parse(const char *s, embed_precision *out);
const char *embed_precision_name(embed_precision p); /* "fp32", "bf16", "auto" (static) */

/* Open a model directory (with EMBED_AUTO, also measure the precision: about
 * 0.2-0.5 s here, see embed_model_precision_choice, or reuse the measurement
 * kept in opts->precision_file): config.json, model.safetensors, vocab.txt,
 * tokenizer_config.json and the sentence-transformers files (modules.json,
 * 1_Pooling/config.json, sentence_bert_config.json; all optional: mean
 * pooling, no normalisation and 512 positions without them). opts may be NULL.
 * Errors: RAGD_ENOTFOUND (missing file), RAGD_EFORMAT (unsupported or broken
 * model, named in err). Never touches the network. */
int embed_model_open(const char *dir, const embed_opts *opts, embed_model **out, ragd_error *err);
void embed_model_close(embed_model *m); /* NULL is a no-op */

size_t embed_model_dim(const embed_model *m);        /* 384 for all-MiniLM-L6-v2 */
const char *embed_model_name(const embed_model *m);  /* directory base name */
size_t embed_model_max_tokens(const embed_model *m); /* incl. [CLS]/[SEP] */
bool embed_model_normalized(const embed_model *m);   /* vectors are unit length */
const char *embed_model_pooling(const embed_model *m); /* "mean" or "cls" (static string) */
embed_precision embed_model_precision(const embed_model *m); /* in effect */
const char *embed_model_kernel(const embed_model *m); /* "amx-bf16", "avx512-bf16",
                                                         "avx512", "portable" */
/* How the precision was chosen (borrowed for the model's lifetime). */
const embed_precision_choice *embed_model_precision_choice(const embed_model *m);
const wordpiece *embed_model_tokenizer(const embed_model *m); /* borrowed */

/* Embed n texts (texts[i] of lens[i] bytes, UTF-8) into out (n * dim floats,
 * input order). ntokens_out[i] (may be NULL) gets the word pieces the model saw
 * incl. [CLS]/[SEP]; truncated_out[i] (may be NULL) whether the text was cut at
 * max_tokens. Internally sorts by length and runs length-bucketed batches.
 * Errors: RAGD_EINVAL (n == 0 or NULL text). Thread-safe. */
int embed_encode(embed_model *m, const char *const *texts, const size_t *lens, size_t n,
                 float *out, int *ntokens_out, bool *truncated_out);

/* Floating-point operations embed_encode spends on texts with these token
 * counts (incl. specials), for GFLOP/s reports. */
double embed_flops(const embed_model *m, const int *ntokens, size_t n);

/* True when the model has a sequence-classification head (cross-encoder). */
bool embed_model_has_classifier(const embed_model *m);
int embed_model_num_labels(const embed_model *m);

/* Cross-encoder scores of (query, docs[i]) pairs, encoded [CLS] q [SEP] d [SEP]
 * with token types 0/1 and cut to max_tokens keeping the query. scores gets n
 * values: sigmoid of the logit for single-label models (unless the config asks
 * for identity), else the first label's logit; logits_out (may be NULL) gets
 * n * num_labels raw logits. RAGD_EUNSUPPORTED without a head. Thread-safe. */
int embed_score_pairs(embed_model *m, const char *query, size_t qlen, const char *const *docs,
                      const size_t *lens, size_t n, float *scores, float *logits_out);

#endif
