/*
 * fuzz_wordpiece.c - libFuzzer harness for the WordPiece tokenizer
 * (embed/wordpiece*.c) with the real all-MiniLM-L6-v2 vocabulary: any bytes
 * (invalid UTF-8 included) tokenize without reading out of bounds; counts,
 * spans and truncation agree between tokenize, count, encode and encode_pair.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embed/wordpiece.h"
#include "fuzz_util.h"

static wordpiece *wp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[4096], path[4200];
    fuzz_model_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    ragd_error err;
    if (wordpiece_open(path, NULL, &wp, &err) != 0) {
        fprintf(stderr, "fuzz_wordpiece: %s: %s\n", path, err.msg);
        exit(1);
    }
    return 0;
}

static void fuzz__check_pieces(const wordpiece_piece *p, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].start > p[i].end || p[i].end > len || p[i].id < 0 ||
            (size_t)p[i].id >= wordpiece_vocab_size(wp))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);  /* exact size, no NUL: lengths are given */
    memcpy(text, data, size);
    wordpiece_piece *pieces = NULL;
    size_t n = 0;
    bool trunc = false;
    wordpiece_tokenize(wp, text, size, 0, &pieces, &n, &trunc);
    if (trunc || n != wordpiece_count(wp, text, size))
        abort();
    fuzz__check_pieces(pieces, n, size);
    free(pieces);

    size_t max_len = 2 + (size % 64);
    int32_t *ids = malloc(max_len * sizeof *ids), *types = malloc(max_len * sizeof *types);
    wordpiece_piece *spans = malloc(max_len * sizeof *spans);
    size_t m = 0;
    if (wordpiece_encode(wp, text, size, max_len, ids, spans, &m, &trunc) != 0 || m > max_len ||
        m < 2 || trunc != (n > max_len - 2))
        abort();
    fuzz__check_pieces(spans, m, size);
    size_t half = size / 2;
    if (max_len >= 4 && (wordpiece_encode_pair(wp, text, half, text + half, size - half, max_len,
                                               ids, types, &m, &trunc) != 0 || m > max_len))
        abort();
    free(spans);
    free(types);
    free(ids);
    free(text);
    return 0;
}
