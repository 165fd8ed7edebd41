/*
 * pack_context.c - greedy context packing: walks chunks in relevance order,
 * merges those of one document that touch, overlap or follow each other (the
 * overlap of two chunks is written once, using their byte spans), opens new
 * entries while the item count allows, and keeps the word-piece total under
 * the budget, cutting the chunk that crosses it at a piece boundary.
 */
#include "rag/pack.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define PACK_MIN_TAIL 32

void pack_default_opts(pack_opts *o)
{
    o->max_items = 0;
    o->max_tokens = 0;
    o->min_tail_tokens = PACK_MIN_TAIL;
}

/* A piece of a document: text plus where it sits. */
typedef struct pk__span {
    const char *text;
    size_t len, start, end;
    int64_t s0, s1; /* chunk numbers, -1 unknown */
} pk__span;

static pk__span pk__of_item(const pack_item *it)
{
    return (pk__span){it->text, it->len, it->start, it->end, it->seq, it->seq};
}

static pk__span pk__of_entry(const pack_entry *e)
{
    return (pk__span){e->text, e->len, e->start, e->end, e->seq_first, e->seq_last};
}

static bool pk__touch(const pk__span *a, const pk__span *b)
{
    if (a->start <= b->end && b->start <= a->end)
        return true;
    return a->s0 >= 0 && b->s0 >= 0 && (b->s0 == a->s1 + 1 || a->s0 == b->s1 + 1);
}

static int64_t pk__min_seq(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : (a < b ? a : b);
}

/* x and y merged in document order; the shared bytes appear once, a gap
 * between chunks known to follow each other becomes one space. */
static pk__span pk__merge(pk__span x, pk__span y, char **owned)
{
    if (y.start < x.start || (y.start == x.start && y.end < x.end)) {
        pk__span t = x;
        x = y;
        y = t;
    }
    buf_t b = BUF_INIT;
    buf_append(&b, x.text, x.len);
    if (y.end > x.end) {
        if (y.start <= x.end) {
            size_t skip = x.end - y.start;
            if (skip < y.len)
                buf_append(&b, y.text + skip, y.len - skip);
        } else {
            buf_putc(&b, ' ');
            buf_append(&b, y.text, y.len);
        }
    }
    pk__span m = {NULL, 0, x.start, y.end > x.end ? y.end : x.end, pk__min_seq(x.s0, y.s0),
                  x.s1 > y.s1 ? x.s1 : y.s1};
    *owned = buf_detach(&b, &m.len);
    m.text = *owned;
    return m;
}

static void pk__set_text(pack_entry *e, pk__span s, char *owned, size_t tokens)
{
    free(e->text);
    e->text = owned;
    e->len = s.len;
    e->start = s.start;
    e->end = s.end;
    e->seq_first = s.s0;
    e->seq_last = s.s1;
    e->tokens = tokens;
}

static bool pk__same_doc(const pack_entry *e, const char *ns, const char *doc)
{
    return strcmp(e->ns, ns) == 0 && strcmp(e->doc_id, doc) == 0;
}

/* Merge other entries of e's document that now touch e (a chunk bridged them). */
static void pk__close_gaps(const wordpiece *wp, pack_result *r, size_t ei, const pack_opts *o)
{
    for (size_t j = 0; j < r->n; j++) {
        pack_entry *e = &r->e[ei], *f = &r->e[j];
        pk__span a = pk__of_entry(e), b = pk__of_entry(f);
        if (j == ei || !pk__same_doc(e, f->ns, f->doc_id) || !pk__touch(&a, &b))
            continue;
        char *owned;
        pk__span m = pk__merge(a, b, &owned);
        size_t tok = wordpiece_count(wp, m.text, m.len);
        size_t total = r->total_tokens - e->tokens - f->tokens + tok;
        if (o->max_tokens && total > o->max_tokens) {
            free(owned);
            continue;
        }
        pk__set_text(e, m, owned, tok);
        r->total_tokens = total;
        e->nchunks += f->nchunks;
        e->truncated |= f->truncated;
        if (f->relevance > e->relevance)
            e->relevance = f->relevance;
        free(f->text);
        memmove(f, f + 1, (r->n - j - 1) * sizeof *f);
        r->n--;
        if (j < ei)
            ei--;
        j = (size_t)-1; /* rescan: e changed */
    }
}

/* Try to extend an entry of the item's document: 1 when it was used up
 * (merged, or already inside an entry), -1 when it belongs to an entry but
 * the budget has no room, 0 when no entry is its neighbour. */
static int pk__extend(const wordpiece *wp, pack_result *r, const pack_item *it,
                       const pack_opts *o)
{
    pk__span s = pk__of_item(it);
    for (size_t i = 0; i < r->n; i++) {
        pack_entry *e = &r->e[i];
        pk__span a = pk__of_entry(e);
        if (!pk__same_doc(e, it->ns, it->doc_id) || !pk__touch(&a, &s))
            continue;
        if (s.start >= a.start && s.end <= a.end && s.start < s.end)
            return 1; /* already packed */
        char *owned;
        pk__span m = pk__merge(a, s, &owned);
        size_t tok = wordpiece_count(wp, m.text, m.len);
        if (o->max_tokens && r->total_tokens - e->tokens + tok > o->max_tokens) {
            free(owned);
            return -1;
        }
        r->total_tokens = r->total_tokens - e->tokens + tok;
        pk__set_text(e, m, owned, tok);
        e->nchunks++;
        if (it->relevance > e->relevance)
            e->relevance = it->relevance;
        pk__close_gaps(wp, r, i, o);
        return 1;
    }
    return 0;
}

/* The longest prefix of text with at most max pieces, cut at a piece end. */
static size_t pk__cut(const wordpiece *wp, const char *text, size_t len, size_t max, size_t *tok)
{
    while (max > 0) {
        wordpiece_piece *p = NULL;
        size_t np = 0;
        wordpiece_tokenize(wp, text, len, max, &p, &np, NULL);
        size_t cut = np ? p[np - 1].end : 0;
        free(p);
        *tok = wordpiece_count(wp, text, cut);
        if (*tok <= max)
            return cut;
        max--;
    }
    *tok = 0;
    return 0;
}

/* Open a new entry for it (cut to the budget if needed); false if it cannot. */
static bool pk__open(const wordpiece *wp, pack_result *r, size_t *cap, const pack_item *it,
                     const pack_opts *o)
{
    if (o->max_items && r->n >= o->max_items)
        return false;
    size_t tok = wordpiece_count(wp, it->text, it->len), len = it->len;
    bool cut = false;
    if (o->max_tokens && r->total_tokens + tok > o->max_tokens) {
        size_t left = o->max_tokens - r->total_tokens;
        if (left < o->min_tail_tokens || left == 0)
            return false;
        len = pk__cut(wp, it->text, it->len, left, &tok);
        if (len == 0)
            return false;
        cut = true;
    }
    if (r->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        r->e = xrealloc(r->e, *cap * sizeof *r->e);
    }
    pack_entry *e = &r->e[r->n++];
    memset(e, 0, sizeof *e);
    e->ns = it->ns;
    e->doc_id = it->doc_id;
    e->text = xmalloc(len + 1);
    memcpy(e->text, it->text, len);
    e->text[len] = '\0';
    e->len = len;
    e->start = it->start;
    e->end = cut ? it->start + len : it->end;
    e->seq_first = e->seq_last = it->seq;
    e->tokens = tok;
    e->nchunks = 1;
    e->relevance = it->relevance;
    e->truncated = cut;
    r->total_tokens += tok;
    return true;
}

int pack_context(const wordpiece *wp, const pack_item *items, size_t n, const pack_opts *o,
                 pack_result *out)
{
    pack_opts def;
    if (!o) {
        pack_default_opts(&def);
        o = &def;
    }
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const pack_item *it = &items[i];
        int x = pk__extend(wp, out, it, o);
        if (x < 0 || (x == 0 && !pk__open(wp, out, &cap, it, o)))
            out->skipped++;
    }
    return 0;
}

void pack_result_free(pack_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->e[i].text);
    free(r->e);
    memset(r, 0, sizeof *r);
}
