/*
 * rag_fixture.h - model paths for the re-ranking and RAG tests: the
 * embedding model's vocabulary (RAGD_MODEL_DIR, else $RAGD_MODEL_CACHE or
 * ~/.cache/ragd/models, + /all-MiniLM-L6-v2) for real token counting.
 */
#ifndef RAGD_TEST_RAG_FIXTURE_H
#define RAGD_TEST_RAG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* out gets <model dir>/vocab.txt; returns 0, or -1 with a message when absent. */
static inline int rag_fx_vocab(char *out, size_t cap)
{
    const char *env = getenv("RAGD_MODEL_DIR"), *cache = getenv("RAGD_MODEL_CACHE");
    if (env && *env)
        snprintf(out, cap, "%s/vocab.txt", env);
    else if (cache && *cache)
        snprintf(out, cap, "%s/all-MiniLM-L6-v2/vocab.txt", cache);
    else
        snprintf(out, cap, "%s/.cache/ragd/models/all-MiniLM-L6-v2/vocab.txt",
                 getenv("HOME") ? getenv("HOME") : "");
    struct stat st;
    if (stat(out, &st) != 0) {
        fprintf(stderr, "MODEL MISSING: %s not found. Run scripts/setup.sh or set "
                "RAGD_MODEL_DIR.\n", out);
        return -1;
    }
    return 0;
}

#endif
