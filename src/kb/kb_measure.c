/*
 * kb_measure.c - the up-front check of documents that will be written later
 * (by a background ingestion job): the same validation as an upsert and the
 * word pieces each document's chunks will embed, so a job can refuse bad
 * input before it is accepted and report progress and an ETA in tokens.
 */
#include <stdlib.h>

#include "kb/chunker.h"
#include "kb/kb_int.h"

int kb_docs_measure(kb_t *kb, const char *nsname, const kb_doc_in *docs, size_t n,
                    uint64_t *tokens, ragd_error *err)
{
    int rc = kb__check_docs(kb, docs, n, err);
    if (rc)
        return rc;
    kb_ns *ns = kb__ns_acquire(kb, nsname);
    if (!ns)
        return ragd_error_set(err, RAGD_ENOTFOUND, "namespace '%s' does not exist", nsname);
    uint32_t size = ns->st.chunk_size, overlap = ns->st.chunk_overlap; /* fixed at creation */
    for (size_t i = 0; i < n && tokens && !rc; i++) {
        chunker_span *spans = NULL;
        size_t ns_n = 0;
        rc = chunker_split(kb->o.tokenizer, docs[i].text, docs[i].len, size, overlap, &spans,
                           &ns_n);
        tokens[i] = 0;
        for (size_t c = 0; !rc && c < ns_n; c++)
            tokens[i] += spans[c].pieces;
        free(spans);
        if (rc)
            ragd_error_set(err, rc, "documents[%zu] cannot be chunked", i);
    }
    kb__ns_release(ns);
    return rc;
}
