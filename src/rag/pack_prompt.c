/*
 * pack_prompt.c - renders packed context as a prompt block ready for an LLM
 * call: short instructions, the sources numbered [1]..[n] with where each
 * comes from, then the question. The numbers are the citation keys the
 * response's context entries carry, so an answer's [k] maps back to a source.
 */
#include <string.h>

#include "rag/pack.h"

void pack_render_prompt(const pack_result *r, const char *query, buf_t *out)
{
    buf_puts(out, "Answer the question using only the numbered sources below. Cite the "
                  "sources you use as [n]. If the sources do not contain the answer, say so.\n");
    for (size_t i = 0; i < r->n; i++) {
        const pack_entry *e = &r->e[i];
        buf_printf(out, "\n[%zu] (%s / %s)\n", i + 1, e->ns, e->doc_id);
        buf_append(out, e->text, e->len);
        if (e->truncated)
            buf_puts(out, " ...");
        buf_putc(out, '\n');
    }
    if (r->n == 0)
        buf_puts(out, "\n(no sources matched)\n");
    buf_puts(out, "\nQuestion: ");
    buf_puts(out, query);
    buf_putc(out, '\n');
}
