/*
 * wordpiece.c - the vocabulary (an open-addressing hash table over vocab.txt,
 * read-only after load) and greedy longest-match-first WordPiece over the words
 * from wordpiece_norm.c, as in BERT (Wu et al. 2016; Devlin et al. 2019):
 * a word is split into the longest vocabulary prefix, then "##" continuations;
 * a word with no full split, or over max_chars_per_word chars, is [UNK].
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "embed/wordpiece_int.h"
#include "util/hash.h"
#include "util/mem.h"

void wordpiece_default_opts(wordpiece_opts *o)
{
    o->lowercase = true;
    o->strip_accents = true;
    o->split_cjk = true;
    o->max_chars_per_word = 100;
}

static uint64_t wp__hash(const char *s, size_t n, int cont)
{
    uint64_t h = 1469598103934665603ull;
    if (cont) {
        h = (h ^ '#') * 1099511628211ull;
        h = (h ^ '#') * 1099511628211ull;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

int32_t wp__lookup(const wordpiece *wp, const char *s, size_t n, int cont)
{
    size_t full = n + (cont ? 2 : 0);
    if (full > wp->max_tok_bytes)
        return -1;
    for (size_t k = wp__hash(s, n, cont) & wp->mask;; k = (k + 1) & wp->mask) {
        int32_t id = wp->table[k];
        if (id < 0)
            return -1;
        if (wp->lens[id] != full)
            continue;
        const char *t = wp->strings + wp->offsets[id];
        if (cont && (t[0] != '#' || t[1] != '#'))
            continue;
        if (memcmp(t + (cont ? 2 : 0), s, n) == 0)
            return id;
    }
}

int32_t wordpiece_token_id(const wordpiece *wp, const char *token, size_t len)
{
    return wp__lookup(wp, token, len, 0);
}

const char *wordpiece_token_str(const wordpiece *wp, int32_t id)
{
    return id >= 0 && (size_t)id < wp->n ? wp->strings + wp->offsets[id] : NULL;
}

size_t wordpiece_vocab_size(const wordpiece *wp)
{
    return wp->n;
}

const wordpiece_specials *wordpiece_get_specials(const wordpiece *wp)
{
    return &wp->sp;
}

static void wp__build_table(wordpiece *wp)
{
    size_t cap = 16;
    while (cap < wp->n * 2)
        cap <<= 1;
    wp->table = xmalloc(cap * sizeof *wp->table);
    memset(wp->table, 0xff, cap * sizeof *wp->table);
    wp->mask = cap - 1;
    for (size_t id = 0; id < wp->n; id++) {
        const char *t = wp->strings + wp->offsets[id];
        size_t n = wp->lens[id];
        int cont = n > 2 && t[0] == '#' && t[1] == '#';
        /* a later duplicate replaces an earlier one, as a Python dict does */
        int32_t old = wp__lookup(wp, t + (cont ? 2 : 0), n - (cont ? 2 : 0), cont);
        size_t k = wp__hash(t + (cont ? 2 : 0), n - (cont ? 2 : 0), cont) & wp->mask;
        if (old >= 0)
            while (wp->table[k] != old)
                k = (k + 1) & wp->mask;
        else
            while (wp->table[k] >= 0)
                k = (k + 1) & wp->mask;
        wp->table[k] = (int32_t)id;
        if (n > wp->max_tok_bytes)
            wp->max_tok_bytes = n;
    }
}

static int wp__read_file(const char *path, char **data, size_t *len, ragd_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ragd_error_set(err, errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO, "%s: %s", path,
                              strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += k;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return ragd_error_set(err, RAGD_EIO, "%s: read error", path);
    }
    *data = buf;
    *len = n;
    return 0;
}

int wordpiece_open(const char *vocab_path, const wordpiece_opts *opts, wordpiece **out,
                   ragd_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = wp__read_file(vocab_path, &data, &len, err);
    if (rc)
        return rc;
    wordpiece *wp = xcalloc(1, sizeof *wp);
    if (opts)
        wp->opts = *opts;
    else
        wordpiece_default_opts(&wp->opts);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    lines += len && data[len - 1] != '\n';
    wp->strings = xmalloc(len + 1);
    wp->offsets = xmalloc((lines + 1) * sizeof *wp->offsets);
    wp->lens = xmalloc((lines + 1) * sizeof *wp->lens);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        size_t n = e - i; /* like HF load_vocab: only "\n" is stripped */
        wp->offsets[wp->n] = (uint32_t)o;
        wp->lens[wp->n] = (uint32_t)n;
        memcpy(wp->strings + o, data + i, n);
        wp->strings[o + n] = '\0';
        o += n + 1;
        wp->n++;
        i = e + 1;
    }
    free(data);
    if (wp->n == 0 || len > UINT32_MAX) {
        wordpiece_close(wp);
        return ragd_error_set(err, RAGD_EFORMAT, "%s: empty or oversized vocabulary", vocab_path);
    }
    wp__build_table(wp);
    wp->sp.pad = wordpiece_token_id(wp, "[PAD]", 5);
    wp->sp.unk = wordpiece_token_id(wp, "[UNK]", 5);
    wp->sp.cls = wordpiece_token_id(wp, "[CLS]", 5);
    wp->sp.sep = wordpiece_token_id(wp, "[SEP]", 5);
    wp->sp.mask = wordpiece_token_id(wp, "[MASK]", 6);
    if (wp->sp.unk < 0 || wp->sp.cls < 0 || wp->sp.sep < 0) {
        wordpiece_close(wp);
        return ragd_error_set(err, RAGD_EFORMAT, "%s: vocabulary lacks [UNK], [CLS] or [SEP]",
                              vocab_path);
    }
    *out = wp;
    return 0;
}

void wordpiece_close(wordpiece *wp)
{
    if (!wp)
        return;
    free(wp->strings);
    free(wp->offsets);
    free(wp->lens);
    free(wp->table);
    free(wp);
}

/* ---- word -> pieces ---- */

typedef int (*wp__piece_fn)(void *ctx, int32_t id, uint32_t start, uint32_t end);

typedef struct wp__split_ctx {
    const wordpiece *wp;
    wp__piece_fn fn;
    void *ctx;
} wp__split_ctx;

/* Greedy longest-match-first split of one word (BertTokenizer's WordpieceTokenizer). */
static int wp__split_word(void *vctx, const wp__word *w)
{
    wp__split_ctx *c = vctx;
    const wordpiece *wp = c->wp;
    if (w->special >= 0)
        return c->fn(c->ctx, w->special, w->start, w->end);
    if (w->nchars > (size_t)wp->opts.max_chars_per_word || w->nchars > WP_MAX_CHARS)
        return c->fn(c->ctx, wp->sp.unk, w->start, w->end);
    char bytes[WP_MAX_CHARS * 4];
    uint16_t at[WP_MAX_CHARS + 1];
    size_t nb = 0;
    for (size_t i = 0; i < w->nchars; i++) {
        at[i] = (uint16_t)nb;
        nb += (size_t)utf8proc_encode_char((utf8proc_int32_t)w->chars[i].cp,
                                           (utf8proc_uint8_t *)bytes + nb);
    }
    at[w->nchars] = (uint16_t)nb;
    int32_t ids[WP_MAX_CHARS];
    uint16_t ends[WP_MAX_CHARS];
    size_t np = 0, s = 0;
    while (s < w->nchars) {
        size_t e = w->nchars;
        int32_t id = -1;
        for (; e > s; e--) {
            id = wp__lookup(wp, bytes + at[s], at[e] - at[s], s > 0);
            if (id >= 0)
                break;
        }
        if (id < 0)
            return c->fn(c->ctx, wp->sp.unk, w->start, w->end);
        ids[np] = id;
        ends[np++] = (uint16_t)e;
        s = e;
    }
    size_t b = 0;
    for (size_t k = 0; k < np; k++) {
        int rc = c->fn(c->ctx, ids[k], w->chars[b].start, w->chars[ends[k] - 1].end);
        if (rc)
            return rc;
        b = ends[k];
    }
    return 0;
}

static void wp__run(const wordpiece *wp, const char *text, size_t len, wp__piece_fn fn, void *ctx)
{
    wp__split_ctx c = {wp, fn, ctx};
    wp__pretokenize(wp, text, len, wp__split_word, &c);
}

/* ---- public entry points ---- */

typedef struct wp__collect {
    wordpiece_piece *v;
    size_t n, cap, max;
    bool more;
} wp__collect;

static int wp__collect_piece(void *vctx, int32_t id, uint32_t start, uint32_t end)
{
    wp__collect *c = vctx;
    if (c->max && c->n == c->max) {
        c->more = true;
        return 1;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = (wordpiece_piece){id, start, end};
    return 0;
}

int wordpiece_tokenize(const wordpiece *wp, const char *text, size_t len, size_t max,
                       wordpiece_piece **pieces, size_t *n, bool *truncated)
{
    wp__collect c = {NULL, 0, 0, max, false};
    wp__run(wp, text, len, wp__collect_piece, &c);
    *pieces = c.v;
    *n = c.n;
    if (truncated)
        *truncated = c.more;
    return 0;
}

static int wp__count_piece(void *vctx, int32_t id, uint32_t start, uint32_t end)
{
    (*(size_t *)vctx)++;
    return 0;
}

size_t wordpiece_count(const wordpiece *wp, const char *text, size_t len)
{
    size_t n = 0;
    wp__run(wp, text, len, wp__count_piece, &n);
    return n;
}

typedef struct wp__fill {
    int32_t *ids;
    wordpiece_piece *pieces;
    size_t n, max;
    bool more;
} wp__fill;

static int wp__fill_piece(void *vctx, int32_t id, uint32_t start, uint32_t end)
{
    wp__fill *f = vctx;
    if (f->n == f->max) {
        f->more = true;
        return 1;
    }
    f->ids[f->n] = id;
    if (f->pieces)
        f->pieces[f->n] = (wordpiece_piece){id, start, end};
    f->n++;
    return 0;
}

/* Fill ids[0..max) (and pieces) with the pieces of text; returns the count. */
static size_t wp__fill_ids(const wordpiece *wp, const char *text, size_t len, size_t max,
                           int32_t *ids, wordpiece_piece *pieces, bool *more)
{
    wp__fill f = {ids, pieces, 0, max, false};
    if (max > 0)
        wp__run(wp, text, len, wp__fill_piece, &f);
    else
        f.more = wordpiece_count(wp, text, len) > 0;
    *more = f.more;
    return f.n;
}

int wordpiece_encode(const wordpiece *wp, const char *text, size_t len, size_t max_len,
                     int32_t *ids, wordpiece_piece *pieces, size_t *n, bool *truncated)
{
    if (max_len < 2)
        return RAGD_EINVAL;
    bool more;
    size_t k = wp__fill_ids(wp, text, len, max_len - 2, ids + 1, pieces ? pieces + 1 : NULL, &more);
    ids[0] = wp->sp.cls;
    ids[k + 1] = wp->sp.sep;
    if (pieces) {
        pieces[0] = (wordpiece_piece){wp->sp.cls, 0, 0};
        pieces[k + 1] = (wordpiece_piece){wp->sp.sep, 0, 0};
    }
    *n = k + 2;
    if (truncated)
        *truncated = more;
    return 0;
}

int wordpiece_encode_pair(const wordpiece *wp, const char *a, size_t alen, const char *b,
                          size_t blen, size_t max_len, int32_t *ids, int32_t *type_ids, size_t *n,
                          bool *truncated)
{
    if (max_len < 4)
        return RAGD_EINVAL;
    size_t budget = max_len - 3;
    size_t na = wordpiece_count(wp, a, alen), nb = wordpiece_count(wp, b, blen);
    size_t keep_b = nb, keep_a = na;
    if (na + nb > budget) {
        size_t room = budget > na ? budget - na : 0;
        keep_b = nb < budget / 4 ? nb : (room > budget / 4 ? room : budget / 4);
        if (keep_b > nb)
            keep_b = nb;
        keep_a = na < budget - keep_b ? na : budget - keep_b;
    }
    bool more;
    size_t k = 0;
    ids[k++] = wp->sp.cls;
    k += wp__fill_ids(wp, a, alen, keep_a, ids + k, NULL, &more);
    ids[k++] = wp->sp.sep;
    size_t first = k;
    k += wp__fill_ids(wp, b, blen, keep_b, ids + k, NULL, &more);
    ids[k++] = wp->sp.sep;
    if (type_ids)
        for (size_t i = 0; i < k; i++)
            type_ids[i] = i < first ? 0 : 1;
    *n = k;
    if (truncated)
        *truncated = keep_a < na || keep_b < nb;
    return 0;
}
