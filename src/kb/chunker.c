/*
 * chunker.c - word-piece windows with overlap. The document is tokenised
 * once (wordpiece_tokenize keeps each piece's byte span); windows are cut on
 * piece indexes and mapped back to bytes, moving cuts off "##" continuations
 * so a word is never split between two chunks.
 */
#include "kb/chunker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* True when piece i continues the word of piece i-1 ("##..." glued to it). */
static bool chunker__continues(const wordpiece *wp, const wordpiece_piece *p, size_t i)
{
    if (i == 0)
        return false;
    if (p[i].start == p[i - 1].start)
        return true; /* pieces of one decomposed character */
    if (p[i].start != p[i - 1].end)
        return false;
    const char *s = wordpiece_token_str(wp, p[i].id);
    return s && s[0] == '#' && s[1] == '#';
}

int chunker_split(const wordpiece *wp, const char *text, size_t len, uint32_t size,
                  uint32_t overlap, chunker_span **out, size_t *n)
{
    if (!wp || !out || !n || size == 0 || overlap >= size || len > UINT32_MAX)
        return RAGD_EINVAL;
    wordpiece_piece *p = NULL;
    size_t np = 0;
    wordpiece_tokenize(wp, text, len, 0, &p, &np, NULL);
    if (np == 0) {
        free(p);
        *out = xmalloc(sizeof **out);
        (*out)[0] = (chunker_span){ 0, (uint32_t)len, 0 };
        *n = 1;
        return RAGD_OK;
    }
    size_t cap = np / (size - overlap) + 2, cnt = 0;
    chunker_span *sp = xmalloc(cap * sizeof *sp);
    size_t start = 0;
    for (;;) {
        size_t end = start + size < np ? start + size : np;
        if (end < np) {
            size_t e = end;
            while (e > start + 1 && chunker__continues(wp, p, e))
                e--;
            if (e > start + 1 || !chunker__continues(wp, p, e))
                end = e;
        }
        if (cnt == cap) {
            cap *= 2;
            sp = xrealloc(sp, cap * sizeof *sp);
        }
        sp[cnt++] = (chunker_span){ p[start].start, p[end - 1].end, (uint32_t)(end - start) };
        if (end >= np)
            break;
        size_t next = end > overlap ? end - overlap : 0;
        if (chunker__continues(wp, p, end))
            next = end; /* a word longer than the window: carry on inside it */
        else
            while (next > start + 1 && chunker__continues(wp, p, next))
                next--; /* start the next window at a word start too */
        if (next <= start)
            next = end; /* the overlap would not move forward: none this time */
        start = next;
    }
    free(p);
    *out = sp;
    *n = cnt;
    return RAGD_OK;
}
