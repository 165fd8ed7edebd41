/*
 * kb_fixture.h - helpers shared by the knowledge-base unit tests: a small
 * WordPiece vocabulary written to a temp file (so the tests need no model),
 * a temp LMDB store, a deterministic bag-of-words "embedder" whose
 * cosine similarity follows word overlap, and documents that expire.
 */
#ifndef RAGD_TEST_KB_FIXTURE_H
#define RAGD_TEST_KB_FIXTURE_H

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/wordpiece.h"
#include "kb/kb.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/hash.h"

#define KBFX_DIM 64

static const char *const kbfx_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "the", "a", "quick", "brown", "fox",
    "jump", "##s", "##ing", "##ed", "over", "lazy", "dog", "bench", "press", "squat", "knee",
    "chest", "leg", "pain", "exercise", "for", "and", "of", "is", "un", "##believ", "##able",
    "private", "note", "shared", "doc", NULL,
};

/* Write the vocabulary into dir/vocab.txt and open it. */
static inline wordpiece *kbfx_tokenizer(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    for (int i = 0; kbfx_vocab[i]; i++)
        fprintf(f, "%s\n", kbfx_vocab[i]);
    fclose(f);
    wordpiece *wp = NULL;
    ragd_error err;
    if (wordpiece_open(path, NULL, &wp, &err))
        fprintf(stderr, "wordpiece_open: %s\n", err.msg);
    return wp;
}

static inline store_t *kbfx_store(const char *dir)
{
    store_config cfg;
    store_config_default(&cfg);
    cfg.data_dir = dir;
    cfg.key_prefix = "t";
    cfg.sweep_interval_ms = -1;
    store_t *s = NULL;
    ragd_error err;
    if (store_open(&cfg, &s, &err))
        fprintf(stderr, "store_open: %s\n", err.msg);
    return s;
}

/* Bag of lower-cased words hashed into KBFX_DIM buckets, L2-normalised. */
static inline int kbfx_embed(void *ud, kb_embed_class cls, const char *tenant,
                             const char *const *texts, const size_t *lens, size_t n, float *out)
{
    (void)ud;
    (void)cls;
    (void)tenant;
    for (size_t t = 0; t < n; t++) {
        float *v = out + t * KBFX_DIM;
        memset(v, 0, KBFX_DIM * sizeof *v);
        size_t i = 0;
        while (i < lens[t]) {
            while (i < lens[t] && !isalnum((unsigned char)texts[t][i]))
                i++;
            size_t s = i;
            char w[64];
            size_t wl = 0;
            while (i < lens[t] && isalnum((unsigned char)texts[t][i])) {
                if (wl < sizeof w - 1)
                    w[wl++] = (char)tolower((unsigned char)texts[t][i]);
                i++;
            }
            if (i > s)
                v[hash_fnv1a64(w, wl) % KBFX_DIM] += 1.0f;
        }
        double nn = 0;
        for (int k = 0; k < KBFX_DIM; k++)
            nn += (double)v[k] * v[k];
        if (nn == 0)
            v[0] = 1.0f, nn = 1;
        for (int k = 0; k < KBFX_DIM; k++)
            v[k] = (float)(v[k] / sqrt(nn));
    }
    return 0;
}

static inline int kbfx__count_cb(void *ud, const char *k, size_t kl, const void *v, size_t vl)
{
    (*(int *)ud)++;
    return 0;
}

/* How many keys of st start with prefix. */
static inline int kbfx_count_keys(store_t *st, const char *prefix)
{
    int n = 0;
    store_scan(st, prefix, strlen(prefix), false, kbfx__count_cb, &n);
    return n;
}

static inline void kbfx_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Three documents in ns: "old" expired 5 s ago, "fresh" expires in an hour,
 * "forever" never does. */
static inline int kbfx_put_expiring(kb_t *kb, const char *ns)
{
    int64_t now = clock_wall_ms() / 1000;
    ragd_error err;
    kb_doc_in d[3] = { { .id = "old", .text = "knee pain old", .len = 13, .expires_at = now - 5 },
                       { .id = "fresh", .text = "knee pain fresh", .len = 15,
                         .expires_at = now + 3600 },
                       { .id = "forever", .text = "knee pain forever", .len = 17 } };
    int rc = kb_docs_upsert(kb, ns, d, 3, NULL, &err);
    if (rc)
        fprintf(stderr, "kb_docs_upsert: %s\n", err.msg);
    return rc;
}

/* Does a read of ns find document id (not expired)? */
static inline bool kbfx_has_doc(kb_t *kb, const char *ns, const char *id)
{
    cJSON *o = NULL;
    if (kb_doc_get(kb, ns, id, false, &o))
        return false;
    cJSON_Delete(o);
    return true;
}

/* Documents ns holds in memory, expired or not. */
static inline uint64_t kbfx_held(kb_t *kb, const char *ns)
{
    kb_ns_info info;
    if (kb_ns_get_info(kb, ns, &info))
        return 0;
    uint64_t n = info.documents;
    kb_ns_info_clear(&info);
    return n;
}

#endif
