/*
 * kb.h - knowledge bases: named namespaces of documents, each document split
 * into word-piece chunks that are embedded and indexed twice (BM25 for
 * keywords, HNSW for meaning), durable in the store (`kb:<ns>:meta`,
 * `kb:<ns>:doc:<id>`, `kb:<ns>:chunk:<id>:<seq>`, vectors kept with the chunk
 * so a restart rebuilds the indexes without re-embedding), and searched by
 * kb_search (search.h). Namespaces cost a few hundred bytes until their first
 * document: indexes are allocated lazily.
 *
 * Threading: every function is thread-safe. Per namespace, writers (upsert,
 * delete) are serialised by a mutex and hold the namespace's rwlock for
 * writing only for short pointer swaps; embedding, store writes and index
 * inserts run outside it, so searches never wait for a whole batch.
 */
#ifndef RAGD_RAG_KB_H
#define RAGD_RAG_KB_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/wordpiece.h"
#include "index/vec_types.h"
#include "kb/kb_filter.h"
#include "repl/repl.h"
#include "store/store.h"
#include "util/err.h"

#define KB_NS_NAME_MAX 64     /* namespace names: [A-Za-z0-9_.-], 1..64 bytes */
#define KB_DOC_ID_MAX 256     /* document ids: 1..256 bytes of UTF-8, no control chars */
#define KB_MODEL_NAME_MAX 128
#define KB_EXAMPLES_MAX 64    /* example utterances per namespace */
#define KB_DIM_MAX 65536      /* largest vector dimension of a namespace */
#define KB_EXPIRES_MAX 253402300799LL /* 9999-12-31T23:59:59Z, the latest expires_at */

typedef struct kb kb_t;

/* What an embedding is for, so the model can serve queries before ingestion:
 * a search's query (interactive) or an upsert's chunks (bulk, fair per tenant). */
typedef enum kb_embed_class {
    KB_EMBED_QUERY = 0,
    KB_EMBED_BULK = 1,
} kb_embed_class;

/* Embeds n texts into out (n * dim floats) as work of class cls; tenant (bulk:
 * the upsert's kb_admit.tenant, else the namespace name; "" for a query) is the
 * fairness key, borrowed for the call. Thread-safe. */
typedef int (*kb_embed_fn)(void *ud, kb_embed_class cls, const char *tenant,
                           const char *const *texts, const size_t *lens, size_t n, float *out);

/* An embedder for one model: fn(ud, ...) gives dim floats per text. remote:
 * the model is a provider's (its failures are RAGD_EUPSTREAM / RAGD_EUNAVAIL). */
typedef struct kb_embedder {
    kb_embed_fn fn;
    void *ud;
    size_t dim;
    bool remote;
} kb_embedder;

/* Resolve a model that is not the loaded one (a provider's) to an embedder;
 * dim is the dimension the namespace expects (0 = learn it). Errors:
 * RAGD_ENOTFOUND (nobody serves model), RAGD_EINVAL (dimension unknown or not
 * dim), provider errors; err says which. Thread-safe. */
typedef int (*kb_resolve_fn)(void *ud, const char *model, size_t dim, kb_embedder *out,
                             ragd_error *err);

typedef struct kb_opts {
    store_t *store;               /* borrowed, must outlive the kb */
    const wordpiece *tokenizer;   /* borrowed; NULL: documents cannot be added */
    kb_embed_fn embed;            /* NULL: no vectors (keyword search only) */
    void *embed_ud;
    size_t dim;                   /* vector dimension of embed */
    const char *model;            /* model name recorded in namespaces ("" if none) */
    uint32_t max_chunk_tokens;    /* largest chunk_size (model limit minus [CLS]/[SEP]) */
    int load_threads;             /* HNSW rebuild threads at open; 0 = online CPUs */
    size_t max_docs_per_batch;    /* kb_docs_upsert limit; 0 = 1000 */
    const char *snapshot_dir;     /* namespace snapshots (documents, slots, HNSW and
                                     the log position they reflect), written every
                                     snapshot_interval_s and by kb_close, loaded by
                                     kb_open which replays the log since; the folder
                                     (parents too) is made by the first snapshot
                                     written, never before; NULL = none */
    int snapshot_interval_s;      /* 0 = only at kb_close */
    repl_t *repl;                 /* borrowed: follow the change logs other instances
                                     write (many instances on one Redis); NULL = this
                                     process is the store's only writer. kb_close
                                     must come before repl_destroy */
    kb_resolve_fn resolve;        /* provider models of namespaces; NULL = none. Called
                                     at namespace creation and per upsert / search, never
                                     by kb_open (stored vectors need no model) */
    void *resolve_ud;
    int expire_interval_ms;       /* how often the sweeper deletes expired documents;
                                     0 = every 1000 ms, < 0 = no sweeper thread (only
                                     kb_expire_sweep). Reads never return an expired
                                     document whenever the sweep runs */
} kb_opts;

/* Open: loads every namespace from its snapshot and replays its log from the
 * snapshot's position, or (no usable snapshot) rebuilds it from the store.
 * *out is owned by the caller (kb_close). err says what failed. */
int kb_open(const kb_opts *opts, kb_t **out, ragd_error *err);
/* Close: writes snapshots (with snapshot_dir) and frees everything.
 * NULL is a no-op; no call may be in flight. */
void kb_close(kb_t *kb);

/* Replication of the knowledge bases (with kb_opts.repl). */
typedef struct kb_repl_status {
    bool following;           /* kb_opts.repl was given */
    uint64_t rebuilds;        /* namespaces reloaded from the store because their log
                                 lost records (trimmed past, or went back), or at
                                 start because their snapshot could not be used */
    uint64_t replayed;        /* log records replayed at start after snapshots */
    uint64_t snapshots_loaded;  /* namespaces loaded from a snapshot at start */
    uint64_t snapshots_written; /* snapshots written since start */
    uint64_t resets;          /* store resets detected (epoch key missing or changed) */
    int64_t reset_at_ms;      /* wall clock of the last reset, 0 = none */
    char degraded[192];       /* why this instance reports degraded now ("" = it does
                                 not): set by a reset, for KB_RESET_DEGRADED_MS */
} kb_repl_status;

#define KB_RESET_DEGRADED_MS 60000
#define KB_EPOCH_LOG "epoch"      /* a log whose first record is written once per store: a
                                     reset shows as its loss or change. A log, not a key,
                                     so that key counts and scans never see it */

void kb_repl_status_get(kb_t *kb, kb_repl_status *out);

size_t kb_dim(const kb_t *kb);             /* the loaded model's; 0 without an embedder */
const char *kb_model(const kb_t *kb);      /* borrowed */
double kb_load_seconds(const kb_t *kb);    /* time kb_open spent rebuilding */
size_t kb_snapshots_loaded(const kb_t *kb); /* namespaces loaded from a snapshot */
/* Key names the store's scans handed kb_open (listing namespaces without a
 * registry, moving the old layout, rebuilding namespaces): 0 when every
 * namespace came from the registry and a snapshot. */
uint64_t kb_start_keys_scanned(const kb_t *kb);

/* Write a snapshot of every namespace changed since its last one now (what
 * the background writer does every snapshot_interval_s). Thread-safe; each
 * namespace's writers wait while its snapshot is written (searches do not).
 * Returns how many were written. */
size_t kb_snapshot_all(kb_t *kb);

/* ---- namespaces ---- */

/* Per-namespace settings. description/examples are owned by the struct's
 * holder: release with kb_ns_settings_clear. */
typedef struct kb_ns_settings {
    uint32_t chunk_size;          /* word pieces per chunk (default 200) */
    uint32_t chunk_overlap;       /* pieces shared by neighbours (default 40) */
    float bm25_k1, bm25_b;        /* default 0.9 / 0.4 */
    uint32_t hnsw_m;              /* default 16 */
    uint32_t hnsw_ef_construction;/* default 200 */
    uint32_t hnsw_ef_search;      /* default 100 */
    char model[KB_MODEL_NAME_MAX];/* embedding model: the loaded one, a provider's, or
                                     "" = none (documents bring their vectors) */
    uint32_t dim;                 /* vector dimension (the model's; declared without one;
                                     0 = no vectors) */
    vec_metric metric;            /* VEC_COSINE (default), VEC_IP ("dot") or VEC_L2 */
    char *description;            /* for namespace routing; NULL = none */
    char **examples;              /* example utterances for routing */
    size_t n_examples;
} kb_ns_settings;

/* Defaults for kb (model = the loaded model). */
void kb_ns_settings_default(const kb_t *kb, kb_ns_settings *s);
/* Overlay the fields present in obj onto s, validating each (err names the
 * field). Unknown fields are RAGD_EINVAL. embedding_model may name the loaded
 * model, "none" / null (then `dimension` is required) or, with a resolver, a
 * provider's model (its dimension is settled by kb_ns_create). */
int kb_ns_settings_apply_json(const kb_t *kb, const cJSON *obj, kb_ns_settings *s,
                              ragd_error *err);
/* JSON object of s; caller owns it (cJSON_Delete). */
cJSON *kb_ns_settings_to_json(const kb_ns_settings *s);
void kb_ns_settings_copy(kb_ns_settings *dst, const kb_ns_settings *src);
void kb_ns_settings_clear(kb_ns_settings *s);

/* "cosine" | "dot" | "l2" <-> vec_metric. */
const char *kb_metric_name(vec_metric m);
bool kb_metric_parse(const char *s, vec_metric *out);

/* Valid namespace name? */
bool kb_ns_name_ok(const char *name);

/* Create a namespace (settings NULL = defaults), persisted under
 * kb:<name>:meta. A provider model is resolved first (kb_opts.resolve) and
 * its dimension recorded. RAGD_EEXISTS, RAGD_EINVAL (name, settings),
 * RAGD_ENOTFOUND (no provider serves the model), provider and store errors. */
int kb_ns_create(kb_t *kb, const char *name, const kb_ns_settings *settings, ragd_error *err);

/* Replace the changeable settings of a namespace (description, examples,
 * hnsw_ef_search; others must stay equal: RAGD_EINVAL). */
int kb_ns_update(kb_t *kb, const char *name, const kb_ns_settings *settings, ragd_error *err);

/* Delete a namespace, its documents, chunks and indexes. *docs (may be NULL)
 * gets the number of documents removed. RAGD_ENOTFOUND. */
int kb_ns_drop(kb_t *kb, const char *name, uint64_t *docs);

bool kb_ns_exists(kb_t *kb, const char *name);

typedef struct kb_ns_info {
    char name[KB_NS_NAME_MAX + 1];
    kb_ns_settings settings;      /* owned copy: kb_ns_info_clear */
    int64_t created_ms;
    uint64_t documents, chunks;
    uint64_t bm25_terms, bm25_postings, bm25_bytes;
    uint64_t hnsw_vectors, hnsw_deleted, hnsw_bytes;
    uint64_t text_bytes;          /* document text held in memory */
    uint32_t dim;                 /* vector dimension (0 before the first vector) */
} kb_ns_info;

int kb_ns_get_info(kb_t *kb, const char *name, kb_ns_info *out); /* RAGD_ENOTFOUND */
void kb_ns_info_clear(kb_ns_info *info);

/* Names of every namespace, sorted. *names is malloc'd, each name too:
 * free with kb_names_free. */
int kb_ns_list(kb_t *kb, char ***names, size_t *n);
void kb_names_free(char **names, size_t n);

/* Mean of the namespace's chunk vectors (not normalised) into out[dim] - the
 * namespace's centroid for routing. RAGD_ENOTFOUND (namespace), RAGD_EINVAL
 * (dim differs), RAGD_ENOTFOUND too when it holds no vector yet. */
int kb_ns_centroid(kb_t *kb, const char *name, float *out, size_t dim);

/* ---- documents ---- */

/* A chunk given by the caller instead of the chunker's. */
typedef struct kb_chunk_in {
    uint32_t start, end;          /* byte span in the document text */
    const float *vector;          /* the document's dim floats, or NULL: embedded */
} kb_chunk_in;

typedef struct kb_doc_in {
    const char *id;               /* 1..KB_DOC_ID_MAX bytes */
    const char *text;             /* UTF-8, non-empty */
    size_t len;
    const cJSON *metadata;        /* object or NULL; copied */
    const char *user_id;          /* owner, NULL = shared with everyone */
    int64_t expires_at;           /* unix seconds after which no read returns it and the
                                     sweeper deletes it; 0 = never (0..KB_EXPIRES_MAX) */
} kb_doc_in;

/* What a document brings beside its text (kb_docs_upsert_vec). */
typedef struct kb_doc_vec {
    const float *vector;          /* the whole text is one chunk with this vector
                                     (dim floats), or NULL */
    const kb_chunk_in *chunks;    /* the chunks as given (no chunker), or NULL */
    size_t n_chunks;
    size_t dim;                   /* length of every vector given */
} kb_doc_vec;

typedef struct kb_upsert_stats {
    size_t documents;             /* documents written */
    size_t replaced;              /* of which already existed */
    size_t chunks;                /* chunks written */
} kb_upsert_stats;

/* Insert or replace documents (a document's old chunks are replaced as a
 * whole). Returns only once the batch is durable in the store (one atomic
 * store_batch) and visible to searches. Ids repeated within the batch: the
 * last one wins. Ids are unique per namespace: a document with a user_id may
 * create an id or replace that same user's document, never a shared one or
 * another user's (RAGD_ENOTFOUND as for a missing document, err names its
 * index; decided on the stored record, atomically with the write, whichever
 * instance wrote it); a shared document (user_id NULL) may replace any.
 * Chunks without a given vector are embedded by the namespace's model (one
 * batch); a namespace without a model needs every vector given. Errors:
 * RAGD_ENOTFOUND (the namespace - kb_ns_exists tells -, or ownership),
 * RAGD_EINVAL (a document; err names its index), RAGD_ECONFLICT (other
 * instances kept replacing the same documents: 8 tries lost; retry later),
 * RAGD_ETOOBIG (batch size), RAGD_EUNAVAIL (no tokenizer), embedding and
 * store errors. On any error nothing is changed. */
int kb_docs_upsert(kb_t *kb, const char *ns, const kb_doc_in *docs, size_t n,
                   kb_upsert_stats *st, ragd_error *err);

/* The work one upsert may ask of the model, checked after chunking and before
 * anything is embedded or written. */
typedef struct kb_admit {
    size_t max_chunks;            /* chunks to embed; 0 = no cap */
    size_t max_tokens;            /* word pieces to embed; 0 = no cap */
    /* Optional, called once the caps passed with the batch's chunks and word
     * pieces: a non-zero return refuses the batch and is returned as is. */
    int (*fn)(void *ud, size_t chunks, size_t tokens);
    void *ud;
    const char *tenant;           /* fairness key of the batch's embedding (a user,
                                     a job's owner); NULL = the namespace name */
} kb_admit;

/* kb_docs_upsert with caps: RAGD_ETOOBIG (err names the cap and the count) when
 * the batch needs more chunks or word pieces than admit allows; admit may be NULL. */
int kb_docs_upsert_admit(kb_t *kb, const char *ns, const kb_doc_in *docs, size_t n,
                         const kb_admit *admit, kb_upsert_stats *st, ragd_error *err);

/* Validate documents as kb_docs_upsert does (ids, text, metadata, user_id;
 * the namespace exists; a tokenizer is loaded) and count the word pieces each
 * one's chunks would embed into tokens[i] (tokens may be NULL). No limit on n
 * and nothing is written or embedded: the up-front check of a batch handed to
 * a background job (jobs/). Errors: RAGD_ENOTFOUND (namespace), RAGD_EINVAL
 * (err names the index), RAGD_EUNAVAIL (no tokenizer). Thread-safe. */
int kb_docs_measure(kb_t *kb, const char *ns, const kb_doc_in *docs, size_t n, uint64_t *tokens,
                    ragd_error *err);
/* kb_docs_upsert_admit where documents may bring chunks and vectors: vecs
 * (NULL = none) is parallel to docs. Vectors must be finite, of the
 * namespace's dimension (and not zero under cosine): RAGD_EINVAL. */
int kb_docs_upsert_vec(kb_t *kb, const char *ns, const kb_doc_in *docs, const kb_doc_vec *vecs,
                       size_t n, const kb_admit *admit, kb_upsert_stats *st, ragd_error *err);

/* A document as JSON {id, text, metadata, user_id, updated_at, expires_at
 * (only when it has one), chunks: [{chunk_id, index, start, end, pieces}]}
 * (with_chunks) - caller owns it. RAGD_ENOTFOUND (namespace or document, or
 * the document has expired). */
int kb_doc_get(kb_t *kb, const char *ns, const char *id, bool with_chunks, cJSON **out);

/* A rule on a document's owner (NULL = shared): true when the caller ud may
 * see or delete it. */
typedef bool (*kb_owner_fn)(const void *ud, const char *owner);

/* The kb_owner_fn of one user: owner equals the string user. */
bool kb_owner_is(const void *user, const char *owner);

/* Delete one document (any owner). RAGD_ENOTFOUND. */
int kb_doc_delete(kb_t *kb, const char *ns, const char *id);

/* Delete one document for a user-bound caller: only if may(ud, owner)
 * accepts its owner, asked of this instance's copy first (an early refusal)
 * and then of the STORED record, atomically with the delete, as upserts
 * decide a replace: a document another owner holds in the store now (created
 * through another instance since this one's copy) is refused and kept.
 * RAGD_ENOTFOUND (the namespace, the document, or not the caller's); may
 * NULL: kb_doc_delete. */
int kb_doc_delete_as(kb_t *kb, const char *ns, const char *id, kb_owner_fn may, const void *ud);

/* Delete every document whose metadata passes filter (NULL/empty = all) and,
 * when owner is given, whose user_id equals it, in this instance's copy and
 * in the stored record (a document another owner holds in the store now is
 * skipped, kept and not counted). *deleted gets the count. */
int kb_docs_delete_where(kb_t *kb, const char *ns, const kb_filter *filter, const char *owner,
                         uint64_t *deleted);

/* Per-caller stats: the documents whose owner visible(ud, owner) accepts
 * (owner NULL = shared), their chunks and text bytes. RAGD_ENOTFOUND
 * (namespace). Thread-safe; visible runs under the namespace's read lock. */
int kb_ns_count_visible(kb_t *kb, const char *ns, kb_owner_fn visible, const void *ud,
                        uint64_t *docs, uint64_t *chunks, uint64_t *text_bytes);

/* A page of the ids of documents not expired in the namespace (unspecified
 * but stable order while unchanged), at most limit from offset; *total gets
 * the count. Caller frees with kb_names_free. */
int kb_doc_list(kb_t *kb, const char *ns, size_t offset, size_t limit, char ***ids, size_t *n,
                uint64_t *total);

/* ---- expiry (kb_expire.c) ---- */

/* Delete every document whose expires_at has passed, through the ordinary
 * delete path (the change log carries the deletes, so every instance's
 * indexes drop them; a document another instance re-wrote meanwhile with a
 * later expiry is kept). Reads only an in-memory min-heap of expiries, never
 * the store's keys. Returns how many documents this call deleted. What the
 * sweeper thread runs every kb_opts.expire_interval_ms. Thread-safe. */
size_t kb_expire_sweep(kb_t *kb);
/* Documents the sweeps of this instance deleted since kb_open. */
uint64_t kb_expired_total(const kb_t *kb);

#endif
