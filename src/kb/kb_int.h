/*
 * kb_int.h - the knowledge base's internals shared by kb_*.c and search_*.c:
 * the in-memory namespace (documents, chunk slots, lazily created indexes),
 * its locks, and the store layout helpers. Not for other subsystems. Calls
 * run one way, each file using only those before it: kb_settings.c,
 * kb_ns_obj.c, kb_store.c, kb_reg.c (names in the store), kb_snap.c,
 * kb_load.c, kb_ns.c (registry in memory), then
 * kb_doc.c, kb_sync.c, kb_repl.c, kb_expire.c, search_hybrid.c and kb_life.c
 * on top
 * (docs/ARCHITECTURE.md draws it).
 */
#ifndef RAGD_RAG_KB_INT_H
#define RAGD_RAG_KB_INT_H

#include <pthread.h>

#include "index/bm25.h"
#include "index/hnsw.h"
#include "kb/chunker.h"
#include "kb/kb.h"
#include "obs/metrics.h"
#include "util/buf.h"
#include "util/strmap.h"

/* A document in memory. Immutable once published: a re-upsert publishes a
 * new record and frees the old one after the swap. */
typedef struct kb_doc {
    char *id;
    char *text;
    uint32_t len;
    char *user_id;        /* NULL = shared */
    cJSON *metadata;      /* object (never NULL) */
    uint32_t *chunks;     /* slot ids in chunk order; UINT32_MAX = missing */
    uint32_t n_chunks;
    int64_t updated_ms;
    int64_t expires_at;   /* unix seconds; 0 = never (kb__doc_expired) */
} kb_doc;

/* Has d expired at wall-clock now_ms? Every read asks, so expiry is exact to
 * the read whenever the sweeper runs. */
static inline bool kb__doc_expired(const kb_doc *d, int64_t now_ms)
{
    return d->expires_at && now_ms / 1000 >= d->expires_at;
}

/* An entry of a namespace's expiry heap: document id expires at at (may be
 * stale: the document was replaced or deleted since; the sweep checks). */
typedef struct kb_exp {
    int64_t at;
    char *id;
} kb_exp;

/* A chunk slot: the dense id shared by the namespace's BM25 and HNSW. doc ==
 * NULL means free, pending (being indexed) or dead; searches skip it. */
typedef struct kb_slot {
    kb_doc *doc;
    uint32_t start, end, pieces, seq;
} kb_slot;

typedef struct kb_ns {
    char name[KB_NS_NAME_MAX + 1];
    kb_ns_settings st;
    int64_t created_ms;
    int refs;                 /* registry + callers (atomic) */
    bool dropped;             /* set under wmu: writers must stop */
    pthread_mutex_t wmu;      /* serialises writers of this namespace */
    pthread_rwlock_t lock;    /* guards docs, slots, bm, hn, vsum, counts */
    strmap docs;              /* id -> kb_doc* */
    kb_slot *slots;
    uint32_t n_slots, cap_slots;
    uint32_t *free_ids;       /* reusable slot ids (guarded by wmu) */
    uint32_t n_free, cap_free;
    uint64_t n_chunks;        /* published chunks */
    uint64_t text_bytes;
    bm25 *bm;                 /* NULL until the first chunk */
    hnsw *hn;                 /* NULL until the first vector */
    uint32_t dim;
    double *vsum;             /* sum of chunk vectors (centroid), dim entries */
    uint64_t n_vec;
    char version[33];         /* kb:<ns>:ver as last written/read (guarded by wmu) */
    uint64_t meta_version;    /* settings version in kb:<ns>:meta (guarded by wmu) */
    buf_t meta;               /* kb:<ns>:meta as last read/written: the expected value
                                 of the next settings change's compare-and-set (wmu) */
    uint64_t log_seq;         /* the last seq of its log read before it was loaded or
                                 created (or replayed up to): where its follower starts */
    uint64_t applied_seq;     /* without a follower: the log position memory reflects
                                 (log_seq, then each commit's record) (wmu) */
    uint64_t snap_seq;        /* log position of the last snapshot written or loaded (wmu) */
    bool snap_saved;          /* a snapshot at snap_seq is on disk (wmu) */
    pthread_mutex_t emu;      /* guards exp */
    kb_exp *exp;              /* min-heap of expiries by at (kb_ns_obj.c) */
    size_t n_exp, cap_exp;
} kb_ns;

/* Called by the registry when a namespace comes or goes (kb_repl.c sets
 * them while following; NULL otherwise). */
typedef struct kb_hooks {
    void (*ns_added)(kb_t *kb, kb_ns *ns);
    void (*ns_removed)(kb_t *kb, const char *name);
} kb_hooks;

struct kb {
    kb_opts o;
    char model[KB_MODEL_NAME_MAX];
    pthread_rwlock_t lock;    /* guards the registry */
    pthread_mutex_t ddl;      /* serialises namespace create / drop (store side) */
    strmap ns;                /* name -> kb_ns* */
    double load_s;
    size_t snapshots_loaded;
    char origin[17];          /* this instance in log records (random hex) */
    uint64_t nslog_seq;       /* kb:nslog's last seq read before loading */
    kb_hooks hooks;
    pthread_mutex_t rmu;      /* guards the replication state below */
    uint64_t rebuilds, resets;
    int64_t reset_at_ms;      /* wall clock of the last reset, 0 = none */
    char reason[192];         /* why degraded; "" = not */
    char epoch[65];           /* the store's epoch as this instance knows it */
    strmap followed;          /* namespace -> its follower's context (rmu) */
    void **retired;           /* contexts of logs no longer followed, freed at
                                 close (a callback may still hold one) (rmu) */
    size_t n_retired;
    bool stopping;            /* kb_close began: no new followers (rmu) */
    metrics_hist search_latency[3]; /* kb_search by kb_search_type (atomic only) */
    uint64_t replayed;        /* log records replayed at start (rmu) */
    uint64_t keys_scanned;    /* key names the store's scans handed over, since
                                 kb_open began (atomic) */
    uint64_t start_keys_scanned; /* of which before kb_open returned */
    uint64_t snapshots_written; /* (rmu) */
    pthread_t snap_th;        /* writes snapshots every o.snapshot_interval_s */
    bool snap_running;
    bool opened;              /* kb_open succeeded (kb_close then snapshots) */
    pthread_mutex_t smu;      /* guards snap_stop */
    pthread_cond_t scv;
    bool snap_stop;           /* kb_close began: both background threads end */
    pthread_t exp_th;         /* runs kb_expire_sweep every o.expire_interval_ms */
    bool exp_running;
    uint64_t expired;         /* documents the sweeps deleted (atomic) */
};

/* ---- settings (kb_settings.c) ---- */

/* Is model the loaded model (kb has an embedder)? */
bool kb__is_local_model(const kb_t *kb, const char *model);
/* The embedder of a namespace with settings st: the loaded model's, or a
 * provider model's through kb_opts.resolve. RAGD_ENOTFOUND when st names no
 * model; RAGD_EUNAVAIL without a resolver; the resolver's errors. */
int kb__embedder(kb_t *kb, const kb_ns_settings *st, kb_embedder *out, ragd_error *err);

/* ---- a namespace in memory (kb_ns_obj.c) ---- */

/* A fresh namespace struct holding one reference (the registry's). */
kb_ns *kb__ns_new(const char *name, const kb_ns_settings *st, int64_t created_ms);
/* Drop a reference; the last one frees the namespace and its documents. */
void kb__ns_release(kb_ns *ns);

/* Index access under ns->lock held for writing (creates lazily). */
bm25 *kb__ns_bm25(kb_ns *ns);
hnsw *kb__ns_hnsw(kb_ns *ns, uint32_t dim);

/* Slot ids: take n fresh/free ids (marked pending); give ids back (after
 * their index entries are deleted). Callers hold wmu. */
void kb__slots_take(kb_ns *ns, uint32_t *ids, size_t n);
void kb__slots_give(kb_ns *ns, const uint32_t *ids, size_t n);

/* Insert a published chunk's vector into the centroid sum (lock held). */
void kb__vsum_add(kb_ns *ns, const float *v, double sign);

void kb__doc_free(kb_doc *d);

/* The expiry heap. kb__expiry_note adds d's expiry (if it has one);
 * kb__expiry_scan rebuilds the heap from every document (after a load);
 * kb__expiry_due pops the entries due at now_s into *ids (malloc'd, each id
 * too: kb__names_free). Each takes ns->emu; callers may hold wmu/lock. */
void kb__expiry_note(kb_ns *ns, const kb_doc *d);
void kb__expiry_scan(kb_ns *ns);
size_t kb__expiry_due(kb_ns *ns, int64_t now_s, char ***ids);

/* Check input documents (id, text, metadata, user_id; err names the index)
 * and that a tokenizer is loaded (kb_doc.c). */
int kb__check_docs(const kb_t *kb, const kb_doc_in *docs, size_t n, ragd_error *err);

/* ---- registry (kb_ns.c) ---- */

/* Take ns out of the registry (if it is still there) and mark it dropped,
 * without touching the store: another instance dropped it or the store lost
 * it. Calls hooks.ns_removed. Caller holds a reference. */
void kb__ns_forget(kb_t *kb, kb_ns *ns);

/* Put a loaded namespace in the registry, replacing (and forgetting) one of
 * the same name; takes the caller's reference. Calls hooks.ns_added. */
void kb__ns_register(kb_t *kb, kb_ns *ns);

/* Re-read ns's meta record and take its settings (another instance changed
 * them). RAGD_ENOTFOUND when the record is gone. Caller holds wmu. */
int kb__ns_meta_adopt(kb_t *kb, kb_ns *ns);

/* Find a namespace and take a reference (NULL if absent); kb__ns_release it. */
kb_ns *kb__ns_acquire(kb_t *kb, const char *name);

/* Before a write on a shared store: is ns's meta record still in the store
 * (another instance may have dropped ns, or Redis lost its data)? If not, ns
 * leaves the registry and is marked dropped (no store write) and the result
 * is RAGD_ENOTFOUND, so that no write creates keys of a namespace without its
 * meta. Caller holds ns->wmu and a reference. */
int kb__ns_check_live(kb_t *kb, kb_ns *ns);

/* ---- store layout (kb_store.c) ---- */

/* Keys: kb:{<ns>}:meta, kb:{<ns>}:doc:<id>, kb:{<ns>}:chunk:<id>:<seq> (the
 * braces: a Redis Cluster hash tag). Append to b. kb__key_prefix appends
 * "kb:{<ns>}:<kind>" (kind "doc:", "chunk:", "*", ...), the start of a scan. */
void kb__key_meta(buf_t *b, const char *ns);
void kb__key_doc(buf_t *b, const char *ns, const char *id);
void kb__key_chunk(buf_t *b, const char *ns, const char *id, uint32_t seq);
void kb__key_prefix(buf_t *b, const char *ns, const char *kind);

/* Document record: JSON {id, text, metadata, user_id, chunks, updated_at,
 * expires_at (only when set)}. */
void kb__doc_encode(const kb_doc *d, buf_t *out);
int kb__doc_decode(const void *val, size_t len, kb_doc **out);

/* Chunk record: "KBC1", start, end, pieces, dim (u32 LE), dim floats. */
#define KB_CHUNK_HDR 20
void kb__chunk_encode(uint32_t start, uint32_t end, uint32_t pieces, const float *v, uint32_t dim,
                      buf_t *out);
int kb__chunk_decode(const void *val, size_t len, uint32_t *start, uint32_t *end,
                     uint32_t *pieces, uint32_t *dim, const float **v);

/* Namespace meta record: settings JSON, created_at and the settings version
 * (1 at creation, +1 per change; records without one read as 0). */
void kb__meta_encode(const char *name, int64_t created_ms, const kb_ns_settings *st,
                     uint64_t version, buf_t *out);
int kb__meta_decode(const kb_t *kb, const void *val, size_t len, kb_ns_settings *st,
                    int64_t *created_ms, uint64_t *version);

/* Version token: a fresh random value written with every change of a
 * namespace (kb:<ns>:ver) so a snapshot can tell it is still current. */
void kb__key_version(buf_t *b, const char *ns);
void kb__version_new(char out[33]);

/* Change log of a namespace, the log "kb:{<ns>}:log" (in the namespace's hash
 * slot). One record per document write, JSON {"op": "upsert"|"delete", "ids":
 * [...], "ver": "<version token>", "origin": "<instance>"}, appended in the
 * same atomic step as the write's keys: a replica re-reads the listed
 * documents' keys; the instance that wrote it skips it. Build a record with
 * kb__log_open, kb__log_id per document, kb__log_close. */
void kb__key_log(buf_t *b, const char *ns);
void kb__log_open(buf_t *rec, const char *op);
void kb__log_id(buf_t *rec, const char *id);
void kb__log_close(buf_t *rec, const char *ver, const char *origin);
/* After checks (store_batch_log_if: RAGD_ECONFLICT, *failed), apply ops and
 * append rec to ns's log atomically; ns->applied_seq gets its seq. Caller
 * holds wmu. */
int kb__log_commit(kb_t *kb, kb_ns *ns, const store_check *checks, size_t nc,
                   const store_op *ops, size_t n, const buf_t *rec, size_t *failed);

/* The namespaces' log: {"op": "create"|"update"|"drop", "ns": name, "origin":
 * instance}, appended atomically with the meta record's write. */
#define KB_NSLOG "kb:nslog"
void kb__nslog_record(buf_t *rec, const char *op, const char *ns, const char *origin);

/* ---- names in the store (kb_reg.c) ---- */

/* kb:registry's value into val (*found false when the store has none). */
int kb__reg_read(kb_t *kb, buf_t *val, bool *found);
/* The names a registry value lists (free with kb__names_free); RAGD_EFORMAT
 * for a value of another version. */
int kb__reg_names(const char *val, size_t len, char ***names, size_t *n);
/* The value listing names (sorted in place, repeats once). */
void kb__reg_encode(char **names, size_t n, buf_t *out);
/* Write the registry from names if the store has none yet (another
 * instance's, written first, stays). */
int kb__reg_init(kb_t *kb, char **names, size_t n);
/* Namespace name's create (add) or drop: op (its meta record's write or
 * delete) after check (NULL: none), the registry with name added or removed,
 * and rec on kb:nslog, in one atomic step; the registry is compare-and-set,
 * retried when another instance changed it meanwhile. RAGD_ECONFLICT when
 * check failed. */
int kb__reg_write(kb_t *kb, const char *name, bool add, const store_check *check,
                  const store_op *op, const buf_t *rec);
/* The registry's names (*listed true; the caller frees them with
 * kb__names_free), or *listed false when it is missing or unreadable. */
int kb__reg_list(kb_t *kb, char ***names, size_t *n, bool *listed);
/* Names of the namespaces in the store: the registry's, or without one the
 * kb:{<ns>}:meta keys a scan finds (kb__scan_names). Free with kb__names_free. */
int kb__store_names(kb_t *kb, char ***names, size_t *n);
int kb__scan_names(kb_t *kb, char ***names, size_t *n);
void kb__names_free(char **names, size_t n);

/* ---- snapshots (kb_snap.c) ---- */

/* A snapshot being written, in two steps so that ns's writers wait only
 * for the first: kb__snap_take (caller holds wmu: no writer may run, searches
 * may) writes the graph unsynced and encodes the rest into body; then, without
 * wmu, kb__snap_commit syncs the graph, writes <ns>.kbsnap (fsync + rename,
 * the commit point) and removes older files, or kb__snap_abort drops it. Both
 * free body. */
typedef struct kb_snap_w {
    char name[KB_NS_NAME_MAX + 1];
    char token[33];           /* names the graph file; "" = no graph */
    uint64_t seq;             /* the log position it reflects */
    buf_t body;
} kb_snap_w;
int kb__snap_take(const kb_t *kb, const kb_ns *ns, uint64_t seq, kb_snap_w *w);
int kb__snap_commit(const kb_t *kb, kb_snap_w *w);
void kb__snap_abort(const kb_t *kb, kb_snap_w *w);
/* Remove ns's snapshot files. */
void kb__snap_remove(const char *ns, const char *dir);
/* Load ns (settings and created_ms already read from the store; no documents
 * yet) from its snapshot: documents, slots, HNSW graph and centroid, BM25.
 * first/last: the namespace log's bounds read before. *seq gets the
 * log position the snapshot reflects (replay the records after it).
 * RAGD_ENOTFOUND: no snapshot; RAGD_EFORMAT: unusable, *why says why (the
 * log was trimmed past it, the epoch or the namespace changed, the file is
 * damaged); ns is then as before. */
int kb__snap_load(kb_t *kb, kb_ns *ns, uint64_t first, uint64_t last, uint64_t *seq,
                  const char **why);
/* Free every document of ns and empty its slots and HNSW. */
void kb__snap_reset(kb_ns *ns);

/* ---- rebuild (kb_load.c) ---- */

/* Rebuild every namespace from the store (kb_open). */
int kb__load(kb_t *kb, ragd_error *err);
/* Read one namespace from the store into a new kb_ns (not registered; its
 * log_seq is the log's last seq read first). With use_snap, from its snapshot
 * when usable (log_seq is then the snapshot's position: kb__replay brings it
 * up to date). *out = NULL when its meta record is missing. tp may be NULL
 * (one thread). */
struct threadpool;
int kb__load_ns(kb_t *kb, const char *name, struct threadpool *tp, bool use_snap, kb_ns **out,
                ragd_error *err);

/* ---- documents from the store (kb_sync.c) ---- */

/* Bring documents ids[0..n) of ns in memory to what the store holds: each
 * re-read (records in one round trip, chunks in one more); gone ones leave
 * memory. Caller holds wmu. */
int kb__docs_sync(kb_t *kb, kb_ns *ns, const char *const *ids, size_t n);
/* kb__docs_sync with the HNSW inserts run on tp (borrowed; NULL = this thread). */
struct threadpool;
int kb__docs_sync_tp(kb_t *kb, kb_ns *ns, const char *const *ids, size_t n,
                     struct threadpool *tp);
/* Replay ns's log after ns->log_seq: every document the records name is
 * synced (in batches); ns->log_seq moves to the last record read. *records
 * gets how many were read. RAGD_ECONFLICT when the log no longer holds the
 * record after log_seq (trimmed meanwhile: rebuild). Caller holds wmu. */
int kb__replay(kb_t *kb, kb_ns *ns, uint64_t *records);

/* ---- replication (kb_repl.c) ---- */

/* Make sure the store has an epoch (the first record of KB_EPOCH_LOG,
 * written once per store) and remember it: a later mismatch means the store
 * was reset. */
int kb__repl_epoch(kb_t *kb, ragd_error *err);
/* Follow kb:nslog and every loaded namespace's log from the positions read
 * before loading; install the registry hooks and the epoch check. */
int kb__repl_start(kb_t *kb, ragd_error *err);
/* Stop following (before the namespaces are freed). */
void kb__repl_stop(kb_t *kb);

/* ---- documents (kb_doc.c) ---- */

/* One document of a batch being written or replicated. */
typedef struct kb_pending {
    kb_doc *doc;          /* the new record (published on success) */
    chunker_span *spans;
    size_t n_spans;
    size_t first;         /* index of its first chunk in the batch's arrays */
    bool skip;            /* an id repeated later in the batch */
} kb_pending;

/* ---- the conditions of a document write (kb_doc_check.c) ---- */

/* The checks of one write, for store_batch_log_if. Owns its buffers. */
typedef struct kb_checks {
    int64_t expired_by;   /* > 0: every stored record read must have expired by this
                             unix second (else KB__NOT_YOURS) - the sweeper's delete */
    store_check *c;
    size_t n, cap;
    buf_t keys, vals;
    size_t *koff, *voff;
} kb_checks;

#define KB__NOT_YOURS 2 /* internal: a stored record refused the write (another owner's document,
                           or, for the sweeper, one that has not expired) */

/* Start a write's checks with its namespace's meta record (must exist). */
void kb__checks_meta(kb_checks *ck, const kb_ns *ns);
/* The checks, once every one is added (valid until the next add or free). */
const store_check *kb__checks_final(kb_checks *ck);
void kb__checks_free(kb_checks *ck);
/* Whose stored records a write may replace or delete. owners (upserts):
 * owners[i] is the user writing document i (NULL = a shared write, any
 * record); a user replaces only its own. Else may (user-bound deletes): the
 * stored record's owner (NULL = shared) must pass may(ud, owner). */
typedef struct kb__rule {
    const char *const *owners;
    kb_owner_fn may;
    const void *ud;
} kb__rule;

/* Read the stored records of documents ids[0..n) (one store_get_many) and add
 * a check per record: still equal to what was read, or still missing.
 * had[i] (in: memory's chunk count) becomes the larger of it and the stored
 * record's, the chunk keys the write must cover. With a rule (NULL: any
 * record), a stored record the rule refuses (or an unreadable one) refuses
 * the write: KB__NOT_YOURS, *bad = i. Store errors are returned. Caller
 * holds wmu. */
int kb__stored_docs(kb_t *kb, const kb_ns *ns, const char *const *ids, const kb__rule *rule,
                    size_t n, uint32_t *had, kb_checks *ck, size_t *bad);

/* Index the new chunks of pd (vecs: total * dim, or NULL), publish them and
 * retire the documents they replace; st counts. Caller holds wmu. */
void kb__docs_publish(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, size_t total,
                      const float *vecs, kb_upsert_stats *st);
/* kb__docs_publish with the HNSW inserts run on tp (borrowed; NULL = this
 * thread), for a follower's large batches. */
void kb__docs_publish_tp(kb_t *kb, kb_ns *ns, kb_pending *pd, size_t n, size_t total,
                         const float *vecs, struct threadpool *tp, kb_upsert_stats *st);
/* Remove docs (in ns->docs) from memory and the indexes. Caller holds wmu. */
void kb__docs_unpublish(kb_ns *ns, kb_doc **docs, size_t n);
/* Delete docs (all in ns->docs, no repeats; the array is reordered) from the
 * store (one record on the log per try) and memory. A doc whose stored record
 * refuses the delete is left out, in the store and in memory, and moved past
 * the first *deleted entries: with rule (NULL: any), a record the rule
 * refuses (another owner's now, written through another instance); with
 * expired_by > 0, a record that has not expired by that unix second or is
 * gone (another instance re-wrote or deleted it). *deleted counts the rest,
 * which are gone from memory. RAGD_ENOTFOUND (namespace dropped),
 * RAGD_ECONFLICT after 8 lost races, store errors. Caller holds wmu. */
int kb__docs_delete(kb_t *kb, kb_ns *ns, kb_doc **docs, size_t n, int64_t expired_by,
                    const kb__rule *rule, size_t *deleted);

#endif
