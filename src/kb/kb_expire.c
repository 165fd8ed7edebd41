/*
 * kb_expire.c - documents that expire (kb_doc.expires_at, unix seconds): the
 * sweep that deletes them for real, and the thread that runs it. Reads hide a
 * document the moment its expiry passes (kb__doc_expired, on every instance),
 * so the sweep is only about memory and store keys: it pops the due entries
 * of each namespace's in-memory min-heap (kb_ns_obj.c; never a store scan)
 * and deletes through the ordinary delete path, so the change log carries
 * the delete and every instance's BM25 and HNSW drop the document. The delete
 * asks the store that each record has still expired (kb_checks.expired_by):
 * a document another instance re-wrote meanwhile is re-read, not deleted, and
 * two instances sweeping the same document is harmless.
 */
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "obs/log.h"
#include "util/clock.h"
#include "util/mem.h"

#define KB_EXPIRE_BATCH 256 /* documents per delete (one log record) */

/* Delete one batch of expired documents. Those the store refuses (re-written
 * or deleted elsewhere) and, on a store error, all of them are re-read, so
 * that memory and the heap hold the store's records again (the still-expired
 * ones are swept by the next run). Returns how many were deleted. Caller
 * holds wmu. */
static size_t kb__expire_batch(kb_t *kb, kb_ns *ns, kb_doc **docs, size_t n, int64_t now_s)
{
    size_t done = 0;
    int rc = kb__docs_delete(kb, ns, docs, n, now_s, NULL, &done);
    if (rc == 0 && done == n)
        return n;
    size_t m = n - done; /* docs[done..n): refused, or not deleted at all */
    const char **ids = xmalloc(m * sizeof *ids);
    for (size_t i = 0; i < m; i++)
        ids[i] = xstrdup(docs[done + i]->id);
    if (rc != 0)
        log_msg(LOG_WARN, "knowledge bases: namespace %s: deleting %zu expired documents "
                "failed: %s (retried later)", ns->name, m, ragd_strerror(rc));
    if (rc != RAGD_ENOTFOUND && kb__docs_sync(kb, ns, ids, m) != 0)
        for (size_t i = 0; i < m; i++) { /* memory as it was: offer them again */
            const kb_doc *d = strmap_get(&ns->docs, ids[i], strlen(ids[i]));
            if (d)
                kb__expiry_note(ns, d);
        }
    for (size_t i = 0; i < m; i++)
        free((char *)ids[i]);
    free(ids);
    return done;
}

/* Sweep one namespace at now_ms. Returns the documents deleted. */
static size_t kb__expire_ns(kb_t *kb, kb_ns *ns, int64_t now_ms)
{
    char **ids = NULL;
    size_t n = kb__expiry_due(ns, now_ms / 1000, &ids), m = 0, deleted = 0;
    if (!n)
        return 0;
    kb_doc **hit = xmalloc(n * sizeof *hit);
    strmap seen = STRMAP_INIT;
    pthread_mutex_lock(&ns->wmu);
    for (size_t i = 0; i < n && !ns->dropped; i++) {
        size_t len = strlen(ids[i]);
        kb_doc *d = strmap_get(&ns->docs, ids[i], len);
        /* stale entries: deleted, or replaced with another expiry (noted anew) */
        if (!d || !kb__doc_expired(d, now_ms) || strmap_get(&seen, ids[i], len))
            continue;
        strmap_put(&seen, ids[i], len, d);
        hit[m++] = d;
    }
    for (size_t at = 0; at < m && !ns->dropped; at += KB_EXPIRE_BATCH) {
        size_t k = m - at < KB_EXPIRE_BATCH ? m - at : KB_EXPIRE_BATCH;
        deleted += kb__expire_batch(kb, ns, hit + at, k, now_ms / 1000);
    }
    pthread_mutex_unlock(&ns->wmu);
    strmap_free(&seen);
    free(hit);
    kb__names_free(ids, n);
    return deleted;
}

size_t kb_expire_sweep(kb_t *kb)
{
    char **names = NULL;
    size_t n = 0, deleted = 0;
    int64_t now = clock_wall_ms();
    kb_ns_list(kb, &names, &n);
    for (size_t i = 0; i < n; i++) {
        kb_ns *ns = kb__ns_acquire(kb, names[i]);
        if (ns)
            deleted += kb__expire_ns(kb, ns, now);
        kb__ns_release(ns);
    }
    kb_names_free(names, n);
    __atomic_add_fetch(&kb->expired, deleted, __ATOMIC_RELAXED);
    return deleted;
}

uint64_t kb_expired_total(const kb_t *kb)
{
    return __atomic_load_n(&kb->expired, __ATOMIC_RELAXED);
}
