/*
 * fuzz_glob.c - libFuzzer harness for the store's glob matcher (store_glob.c):
 * a pattern and a subject cut from the input must match or not without reading
 * past either, and a pattern's literal prefix must be a prefix of every match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    const char *s = nl ? (const char *)nl + 1 : "";
    size_t slen = nl ? size - plen - 1 : 0;
    /* Exact-size heap copies so that ASan sees any read past either end. */
    char *pat = malloc(plen ? plen : 1), *subj = malloc(slen ? slen : 1);
    memcpy(pat, data, plen);
    memcpy(subj, s, slen);
    bool m = store__glob_match(pat, plen, subj, slen);
    char *prefix = malloc(plen + 1);
    size_t n = store__glob_literal_prefix(pat, plen, prefix);
    if (m && (n > slen || memcmp(prefix, subj, n) != 0))
        abort();
    char *esc = malloc(2 * slen + 1);
    size_t elen = store__glob_escape(subj, slen, esc);
    if (!store__glob_match(esc, elen, subj, slen))
        abort();
    free(esc);
    free(prefix);
    free(pat);
    free(subj);
    return 0;
}
