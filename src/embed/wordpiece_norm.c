/*
 * wordpiece_norm.c - BertTokenizer's BasicTokenizer in one pass over UTF-8:
 * drop NUL/U+FFFD/control chars, whitespace splits, CJK ideographs and
 * punctuation become words of their own, per-char lower-casing and NFD with
 * combining marks (Mn) removed, via utf8proc.
 * Each output char keeps the byte span of the input char it came from.
 */
#include <string.h>
#include <utf8proc.h>

#include "embed/wordpiece_int.h"

typedef struct wp__state {
    const wordpiece *wp;
    wp__word_fn fn;
    void *ctx;
    wp__char buf[WP_MAX_CHARS];
    size_t n;
    uint32_t start, end;
    int stop;
} wp__state;

static int wp__is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int wp__is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    if (c < 0x80)
        return c < 0x20 || c == 0x7f;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CO ||
           cat == UTF8PROC_CATEGORY_CS;
}

/* BertTokenizer's whitespace, plus line/paragraph separators that Python's
 * str.split() (and the Rust tokenizer) also split on. */
static int wp__is_space(uint32_t c)
{
    if (c < 0x80)
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

static int wp__is_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    if (c < 0x80)
        return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* Decode one code point at s[*i] (advancing *i); invalid bytes give U+FFFD. */
static uint32_t wp__decode(const char *s, size_t len, size_t *i)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i,
                                          (utf8proc_ssize_t)(len - *i), &cp);
    if (k <= 0) {
        (*i)++;
        return 0xFFFD;
    }
    *i += (size_t)k;
    return (uint32_t)cp;
}

static void wp__flush(wp__state *st)
{
    if (st->n == 0 || st->stop)
        return;
    wp__word w = {st->buf, st->n, st->start, st->end, -1};
    st->stop = st->fn(st->ctx, &w);
    st->n = 0;
}

static void wp__push(wp__state *st, uint32_t cp, uint32_t start, uint32_t end)
{
    if (st->n == 0)
        st->start = start;
    if (st->n < WP_MAX_CHARS)
        st->buf[st->n] = (wp__char){cp, start, end};
    st->n++;
    st->end = end;
}

/* Emit the normalised form of one input char (already lower-cased). */
static void wp__emit(wp__state *st, uint32_t c, uint32_t start, uint32_t end)
{
    utf8proc_int32_t dec[32];
    utf8proc_ssize_t nd = 1;
    dec[0] = (utf8proc_int32_t)c;
    if (st->wp->opts.strip_accents && c >= 0x80) {
        int last = 0;
        nd = utf8proc_decompose_char((utf8proc_int32_t)c, dec, 32, UTF8PROC_DECOMPOSE, &last);
        if (nd < 0 || nd > 32) {
            dec[0] = (utf8proc_int32_t)c;
            nd = 1;
        }
    }
    for (utf8proc_ssize_t k = 0; k < nd; k++) {
        uint32_t d = (uint32_t)dec[k];
        if (st->wp->opts.strip_accents && d >= 0x80 &&
            utf8proc_category(dec[k]) == UTF8PROC_CATEGORY_MN)
            continue;
        if (wp__is_punct(d)) {
            wp__flush(st);
            wp__push(st, d, start, end);
            wp__flush(st);
        } else {
            wp__push(st, d, start, end);
        }
    }
}

/* Per-char simple lower-casing: the Python tokenizer lower-cases char by char,
 * so a capital sigma always becomes U+03C3, never the final form. */
static uint32_t wp__lower(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
}

/* A literal special token ("[SEP]") at s[i]: its id and byte length, else -1. */
static int32_t wp__special_at(const wordpiece *wp, const char *s, size_t len, size_t i,
                              size_t *tl)
{
    const int32_t ids[5] = {wp->sp.pad, wp->sp.unk, wp->sp.cls, wp->sp.sep, wp->sp.mask};
    for (int k = 0; k < 5; k++) {
        if (ids[k] < 0)
            continue;
        size_t n = wp->lens[ids[k]];
        if (n <= len - i && memcmp(s + i, wp->strings + wp->offsets[ids[k]], n) == 0) {
            *tl = n;
            return ids[k];
        }
    }
    return -1;
}

void wp__pretokenize(const wordpiece *wp, const char *s, size_t len, wp__word_fn fn, void *ctx)
{
    wp__state st;
    st.wp = wp;
    st.fn = fn;
    st.ctx = ctx;
    st.n = 0;
    st.stop = 0;
    size_t i = 0;
    while (i < len && !st.stop) {
        size_t start = i, tl;
        int32_t sp;
        if (s[i] == '[' && (sp = wp__special_at(wp, s, len, i, &tl)) >= 0) {
            wp__flush(&st);
            wp__word w = {NULL, 0, (uint32_t)i, (uint32_t)(i + tl), sp};
            if (!st.stop)
                st.stop = fn(ctx, &w);
            i += tl;
            continue;
        }
        uint32_t c = wp__decode(s, len, &i);
        if (c == 0 || c == 0xFFFD || wp__is_control(c))
            continue;
        if (wp__is_space(c)) {
            wp__flush(&st);
            continue;
        }
        int cjk = wp->opts.split_cjk && wp__is_cjk(c);
        if (cjk)
            wp__flush(&st);
        uint32_t lc = wp->opts.lowercase ? wp__lower(c) : c;
        wp__emit(&st, lc, (uint32_t)start, (uint32_t)i);
        if (cjk)
            wp__flush(&st);
    }
    wp__flush(&st);
}
