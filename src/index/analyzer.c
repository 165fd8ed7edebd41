/*
 * analyzer.c - text -> terms. One pass of utf8proc_map folds the whole text
 * (NFKC, casefold, strip marks); a second pass walks code points, cutting words
 * at anything that is not a letter, digit or mark, and CJK runs into bigrams.
 * libstemmer's sb_stemmer is not thread-safe, so stemmers live in a small pool
 * guarded by a mutex: each call borrows one and returns it.
 */
#include "index/analyzer.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util/err.h"
#include "util/mem.h"

#define AN_MAX_TOKEN 64 /* bytes; longer words are cut (base64, hashes) */

struct analyzer {
    analyzer_opts opts;
    pthread_mutex_t lock;        /* guards pool */
    struct sb_stemmer **pool;
    size_t pool_n, pool_cap;
};

static const char *const an_stopwords[] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in",
    "into", "is", "it", "no", "not", "of", "on", "or", "such", "that", "the",
    "their", "then", "there", "these", "they", "this", "to", "was", "will",
    "with", NULL};

const char *const *analyzer_stopwords(void)
{
    return an_stopwords;
}

bool analyzer_is_stopword(const char *word, size_t len)
{
    if (len == 0 || len > 5)
        return false;
    for (const char *const *w = an_stopwords; *w; w++)
        if (strlen(*w) == len && memcmp(*w, word, len) == 0)
            return true;
    return false;
}

analyzer_opts analyzer_default_opts(void)
{
    return (analyzer_opts){.fold = true, .stopwords = true, .stem = true, .cjk_bigrams = true};
}

int analyzer_create(const analyzer_opts *opts, analyzer **out)
{
    if (!out)
        return RAGD_EINVAL;
    analyzer *a = xcalloc(1, sizeof *a);
    a->opts = opts ? *opts : analyzer_default_opts();
    pthread_mutex_init(&a->lock, NULL);
    if (a->opts.stem) {
        struct sb_stemmer *s = sb_stemmer_new("english", NULL);
        if (!s) {
            analyzer_destroy(a);
            return RAGD_EUNSUPPORTED;
        }
        a->pool = xmalloc(4 * sizeof *a->pool);
        a->pool_cap = 4;
        a->pool[a->pool_n++] = s;
    }
    *out = a;
    return 0;
}

void analyzer_destroy(analyzer *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->pool_n; i++)
        sb_stemmer_delete(a->pool[i]);
    free(a->pool);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static analyzer *g_default;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void an__default_init(void)
{
    if (analyzer_create(NULL, &g_default) != 0)
        g_default = NULL;
}

analyzer *analyzer_default(void)
{
    pthread_once(&g_default_once, an__default_init);
    return g_default;
}

static struct sb_stemmer *an__stemmer_get(analyzer *a)
{
    struct sb_stemmer *s = NULL;
    pthread_mutex_lock(&a->lock);
    if (a->pool_n)
        s = a->pool[--a->pool_n];
    pthread_mutex_unlock(&a->lock);
    return s ? s : sb_stemmer_new("english", NULL);
}

static void an__stemmer_put(analyzer *a, struct sb_stemmer *s)
{
    pthread_mutex_lock(&a->lock);
    if (a->pool_n == a->pool_cap) {
        a->pool_cap = a->pool_cap ? a->pool_cap * 2 : 4;
        a->pool = xrealloc(a->pool, a->pool_cap * sizeof *a->pool);
    }
    a->pool[a->pool_n++] = s;
    pthread_mutex_unlock(&a->lock);
}

/* ---- token buffer ---- */

void analyzer_tokens_init(analyzer_tokens *t)
{
    memset(t, 0, sizeof *t);
}

void analyzer_tokens_free(analyzer_tokens *t)
{
    free(t->buf);
    free(t->off);
    free(t->len);
    memset(t, 0, sizeof *t);
}

void analyzer_tokens_clear(analyzer_tokens *t)
{
    t->n = 0;
    t->buf_len = 0;
}

void analyzer_tokens_push(analyzer_tokens *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->off = xrealloc(t->off, t->cap * sizeof *t->off);
        t->len = xrealloc(t->len, t->cap * sizeof *t->len);
    }
    if (t->buf_len + len + 1 > t->buf_cap) {
        size_t nc = t->buf_cap ? t->buf_cap * 2 : 256;
        while (nc < t->buf_len + len + 1)
            nc *= 2;
        t->buf = xrealloc(t->buf, nc);
        t->buf_cap = nc;
    }
    memcpy(t->buf + t->buf_len, s, len);
    t->buf[t->buf_len + len] = '\0';
    t->off[t->n] = (uint32_t)t->buf_len;
    t->len[t->n] = (uint32_t)len;
    t->n++;
    t->buf_len += len + 1;
}

/* ---- character classes ---- */

static bool an__is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2FFFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
           (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) ||
           (c >= 0x3130 && c <= 0x318F);
}

static bool an__is_word(int32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
        return true;
    default:
        return false;
    }
}

static bool an__is_apos(int32_t c)
{
    return c == '\'' || c == 0x2019;
}

/* ---- word emission ---- */

typedef struct an_state {
    analyzer *a;
    struct sb_stemmer *stem;
    analyzer_tokens *out;
} an_state;

/* Cut to at most AN_MAX_TOKEN bytes on a code point boundary. */
static size_t an__clip(const char *w, size_t len)
{
    if (len <= AN_MAX_TOKEN)
        return len;
    size_t n = AN_MAX_TOKEN;
    while (n > 0 && ((unsigned char)w[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static void an__emit_word(an_state *st, const char *w, size_t len)
{
    /* English possessive: drop a trailing 's (apostrophe already normalised to '). */
    if (len >= 2 && w[len - 1] == 's' && w[len - 2] == '\'')
        len -= 2;
    while (len && w[len - 1] == '\'')
        len--;
    if (len == 0)
        return;
    len = an__clip(w, len);
    if (st->a->opts.stopwords && analyzer_is_stopword(w, len))
        return;
    if (st->stem) {
        const sb_symbol *s = sb_stemmer_stem(st->stem, (const sb_symbol *)w, (int)len);
        int sl = sb_stemmer_length(st->stem);
        if (s && sl > 0) {
            analyzer_tokens_push(st->out, (const char *)s, (size_t)sl);
            return;
        }
    }
    analyzer_tokens_push(st->out, w, len);
}

/* CJK run of n code points starting at bytes r, with per-point byte offsets. */
static void an__emit_cjk(an_state *st, const char *r, const uint32_t *offs, size_t n)
{
    if (n == 1 || !st->a->opts.cjk_bigrams) {
        for (size_t i = 0; i < n; i++)
            analyzer_tokens_push(st->out, r + offs[i], offs[i + 1] - offs[i]);
        return;
    }
    for (size_t i = 0; i + 1 < n; i++)
        analyzer_tokens_push(st->out, r + offs[i], offs[i + 2] - offs[i]);
}

/* Copy of s with invalid UTF-8 sequences replaced by spaces. */
static char *an__sanitize(const char *s, size_t len)
{
    char *o = xmalloc(len + 1);
    size_t i = 0;
    while (i < len) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) {
            o[i++] = ' ';
            continue;
        }
        memcpy(o + i, s + i, (size_t)k);
        i += (size_t)k;
    }
    o[len] = '\0';
    return o;
}

static utf8proc_uint8_t *an__fold(const analyzer *a, const char *text, size_t len, size_t *out_len)
{
    int flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (a->opts.fold)
        flags |= UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE;
    utf8proc_uint8_t *f = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &f,
                                      (utf8proc_option_t)flags);
    if (n < 0) {
        char *clean = an__sanitize(text, len);
        n = utf8proc_map((const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)len, &f,
                         (utf8proc_option_t)flags);
        free(clean);
        if (n < 0)
            return NULL;
    }
    *out_len = (size_t)n;
    return f;
}

int analyzer_analyze(analyzer *a, const char *text, size_t len, analyzer_tokens *out)
{
    if (!a || !out || (!text && len))
        return RAGD_EINVAL;
    analyzer_tokens_clear(out);
    if (len == 0)
        return 0;
    size_t flen = 0;
    utf8proc_uint8_t *f = an__fold(a, text, len, &flen);
    if (!f)
        return RAGD_ENOMEM;
    an_state st = {.a = a, .stem = a->opts.stem ? an__stemmer_get(a) : NULL, .out = out};
    if (a->opts.stem && !st.stem) {
        free(f);
        return RAGD_ENOMEM;
    }
    char word[AN_MAX_TOKEN * 4 + 8];
    size_t wl = 0;
    uint32_t cjk_off[AN_MAX_TOKEN + 1];
    size_t cjk_n = 0, cjk_start = 0;
    size_t i = 0;
    while (i <= flen) {
        int32_t c = -1;
        utf8proc_ssize_t k = 1;
        if (i < flen) {
            k = utf8proc_iterate(f + i, (utf8proc_ssize_t)(flen - i), &c);
            if (k <= 0) {
                k = 1;
                c = -1;
            }
        }
        bool cjk = c >= 0 && an__is_cjk(c);
        bool w = c >= 0 && !cjk && an__is_word(c);
        if (cjk) {
            if (cjk_n == 0)
                cjk_start = i;
            cjk_off[cjk_n++] = (uint32_t)(i - cjk_start);
            if (cjk_n == AN_MAX_TOKEN) { /* flush long runs, keeping overlap */
                cjk_off[cjk_n] = (uint32_t)(i + (size_t)k - cjk_start);
                an__emit_cjk(&st, (const char *)f + cjk_start, cjk_off, cjk_n);
                cjk_n = 0;
                cjk_start = i;
                cjk_off[cjk_n++] = 0;
            }
        } else if (cjk_n) {
            cjk_off[cjk_n] = (uint32_t)(i - cjk_start);
            an__emit_cjk(&st, (const char *)f + cjk_start, cjk_off, cjk_n);
            cjk_n = 0;
        }
        /* apostrophe inside a word (letter before and a word char after) joins */
        bool apos = false;
        if (c >= 0 && an__is_apos(c) && wl > 0 && i + (size_t)k < flen) {
            int32_t nx;
            utf8proc_ssize_t k2 = utf8proc_iterate(f + i + k, (utf8proc_ssize_t)(flen - i - (size_t)k), &nx);
            apos = k2 > 0 && an__is_word(nx) && !an__is_cjk(nx);
        }
        if (w || apos) {
            if (apos) {
                if (wl < sizeof word - 1)
                    word[wl++] = '\'';
            } else if (wl + (size_t)k < sizeof word) {
                memcpy(word + wl, f + i, (size_t)k);
                wl += (size_t)k;
            }
        } else if (wl) {
            an__emit_word(&st, word, wl);
            wl = 0;
        }
        i += (size_t)k;
    }
    if (st.stem)
        an__stemmer_put(a, st.stem);
    free(f);
    return 0;
}
