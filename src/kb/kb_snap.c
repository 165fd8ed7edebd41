/*
 * kb_snap.c - snapshots of knowledge-base namespaces, so a restart loads a
 * namespace from local files and replays only the changes logged since
 * (docs/KNOWLEDGE.md, "Snapshots and restart"). A snapshot is two files in
 * the snapshot directory: <ns>.<token>.hnsw (the graph, hnsw_save) and
 * <ns>.kbsnap, renamed into place last (the commit point), which names that
 * token and holds the log position it reflects, the store's epoch, the
 * namespace's creation time, every document (binary: no JSON to parse), the
 * slot map (slot -> document, chunk, span) and the BM25 index (bm25_save:
 * no text is re-analysed). One read, a SHA-256 of the body (a damaged file)
 * and the magic (another version) decide whether it is used at all.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb/kb_int.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

#define KB_SNAP_MAGIC "KBS4"
#define KB_SNAP_HDR (4 + 8 + 8 + 64 + 16 + 4) /* magic seq created epoch token n_docs */

static void kb__snap_path(char *out, size_t n, const char *dir, const char *ns, const char *ext)
{
    snprintf(out, n, "%s/%s.%s", dir, ns, ext);
}

static void kb__snap_hnsw_path(char *out, size_t n, const char *dir, const char *ns,
                               const char *token)
{
    snprintf(out, n, "%s/%s.%.16s.hnsw", dir, ns, token);
}

static void kb__put32(buf_t *b, uint32_t v)
{
    buf_append(b, &v, 4);
}

static void kb__put64(buf_t *b, uint64_t v)
{
    buf_append(b, &v, 8);
}

static void kb__put_str(buf_t *b, const char *s, size_t n)
{
    kb__put32(b, (uint32_t)n);
    buf_append(b, s, n);
}

/* A document: id, text, user (length UINT32_MAX: shared) and metadata JSON,
 * each a u32 length and its bytes, then its chunk count, update time and
 * expiry (unix seconds, 0 = never). */
static void kb__snap_doc(const kb_doc *d, buf_t *b)
{
    kb__put_str(b, d->id, strlen(d->id));
    kb__put_str(b, d->text, d->len);
    if (d->user_id)
        kb__put_str(b, d->user_id, strlen(d->user_id));
    else
        kb__put32(b, UINT32_MAX);
    size_t at = b->len;
    kb__put32(b, 0);
    json_write(d->metadata, b);
    uint32_t ml = (uint32_t)(b->len - at - 4);
    memcpy(b->data + at, &ml, 4);
    kb__put32(b, d->n_chunks);
    kb__put64(b, (uint64_t)d->updated_ms);
    kb__put64(b, (uint64_t)d->expires_at);
}

/* The body of ns's .kbsnap (without its checksum). Caller holds wmu. */
static void kb__snap_body(const kb_t *kb, const kb_ns *ns, uint64_t seq, const char *token,
                          buf_t *b)
{
    char epoch[64] = { 0 }, tok[16] = { 0 };
    memcpy(epoch, kb->epoch, strnlen(kb->epoch, sizeof epoch));
    if (token)
        memcpy(tok, token, 16);
    buf_append(b, KB_SNAP_MAGIC, 4);
    kb__put64(b, seq);
    kb__put64(b, (uint64_t)ns->created_ms);
    buf_append(b, epoch, sizeof epoch);
    buf_append(b, tok, sizeof tok);
    kb__put32(b, (uint32_t)ns->docs.count);
    strmap idx = STRMAP_INIT; /* document -> its index in the file, for the slots */
    size_t it = 0, i = 0;
    void *v;
    while (strmap_next(&ns->docs, &it, NULL, &v)) {
        const kb_doc *d = v;
        kb__snap_doc(d, b);
        strmap_put(&idx, d->id, strlen(d->id), (void *)(uintptr_t)++i);
    }
    kb__put32(b, ns->n_slots);
    for (uint32_t s = 0; s < ns->n_slots; s++) {
        const kb_slot *sl = &ns->slots[s];
        uintptr_t at = sl->doc ? (uintptr_t)strmap_get(&idx, sl->doc->id, strlen(sl->doc->id))
                               : 0;
        uint32_t rec5[5] = { at ? (uint32_t)(at - 1) : UINT32_MAX, sl->seq, sl->start, sl->end,
                             sl->pieces };
        buf_append(b, rec5, sizeof rec5);
    }
    strmap_free(&idx);
    size_t at = b->len; /* BM25, length-prefixed (0: none) */
    kb__put32(b, 0);
    if (ns->bm) {
        bm25_save(ns->bm, b);
        uint32_t bl = (uint32_t)(b->len - at - 4);
        memcpy(b->data + at, &bl, 4);
    }
}

/* Write data to path through a temp file, fsync'd, renamed into place. */
static int kb__write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return RAGD_EIO;
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return RAGD_EIO;
    }
    return RAGD_OK;
}

/* Remove files of ns's older snapshots: <ns>.<token>.hnsw other than keep
 * (NULL: all), and the layout before tokens (<ns>.map, <ns>.hnsw). */
static void kb__snap_sweep(const char *dir, const char *ns, const char *keep)
{
    char path[4096];
    kb__snap_path(path, sizeof path, dir, ns, "map");
    unlink(path);
    kb__snap_path(path, sizeof path, dir, ns, "hnsw");
    unlink(path);
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t nl = strlen(ns);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strlen(n) != nl + 1 + 16 + 5 || memcmp(n, ns, nl) != 0 || n[nl] != '.' ||
            strcmp(n + nl + 17, ".hnsw") != 0 || (keep && memcmp(n + nl + 1, keep, 16) == 0))
            continue;
        bool hex = true;
        for (size_t i = 0; i < 16; i++)
            hex = hex && hash_hex_digit(n[nl + 1 + i]) >= 0;
        if (hex) {
            snprintf(path, sizeof path, "%s/%s", dir, n);
            unlink(path);
        }
    }
    closedir(d);
}

int kb__snap_take(const kb_t *kb, const kb_ns *ns, uint64_t seq, kb_snap_w *w)
{
    memset(w, 0, sizeof *w);
    memcpy(w->name, ns->name, sizeof w->name);
    w->seq = seq;
    kb__version_new(w->token);
    if (file_mkdirs(kb->o.snapshot_dir))
        return RAGD_EIO;
    if (ns->hn && hnsw_count(ns->hn) > 0) {
        char path[4096];
        kb__snap_hnsw_path(path, sizeof path, kb->o.snapshot_dir, ns->name, w->token);
        int rc = hnsw_save_nosync(ns->hn, path);
        if (rc)
            return rc;
    } else {
        w->token[0] = '\0';
    }
    kb__snap_body(kb, ns, seq, w->token[0] ? w->token : NULL, &w->body);
    return RAGD_OK;
}

/* fsync the file at path. */
static int kb__fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return RAGD_EIO;
    int rc = fsync(fd) == 0 ? RAGD_OK : RAGD_EIO;
    close(fd);
    return rc;
}

int kb__snap_commit(const kb_t *kb, kb_snap_w *w)
{
    const char *dir = kb->o.snapshot_dir;
    char path[4096], graph[4096];
    kb__snap_hnsw_path(graph, sizeof graph, dir, w->name, w->token);
    int rc = w->token[0] ? kb__fsync_path(graph) : RAGD_OK;
    if (rc == RAGD_OK) {
        uint8_t sum[HASH_SHA256_LEN];
        hash_sha256(w->body.data, w->body.len, sum);
        buf_append(&w->body, sum, sizeof sum);
        kb__snap_path(path, sizeof path, dir, w->name, "kbsnap");
        rc = kb__write_atomic(path, w->body.data, w->body.len);
    }
    if (rc == RAGD_OK)
        kb__snap_sweep(dir, w->name, w->token[0] ? w->token : NULL);
    else if (w->token[0])
        unlink(graph);
    buf_free(&w->body);
    return rc;
}

void kb__snap_abort(const kb_t *kb, kb_snap_w *w)
{
    if (w->token[0]) {
        char graph[4096];
        kb__snap_hnsw_path(graph, sizeof graph, kb->o.snapshot_dir, w->name, w->token);
        unlink(graph);
    }
    buf_free(&w->body);
}

void kb__snap_remove(const char *ns, const char *dir)
{
    char path[4096];
    kb__snap_path(path, sizeof path, dir, ns, "kbsnap");
    unlink(path);
    kb__snap_sweep(dir, ns, NULL);
}

void kb__snap_reset(kb_ns *ns)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&ns->docs, &it, NULL, &v))
        kb__doc_free(v);
    strmap_free(&ns->docs);
    ns->text_bytes = 0;
    ns->n_slots = ns->n_free = 0;
    ns->n_chunks = 0;
    hnsw_destroy(ns->hn);
    ns->hn = NULL;
    bm25_destroy(ns->bm);
    ns->bm = NULL;
    free(ns->vsum);
    ns->vsum = NULL;
    ns->n_vec = 0;
    ns->dim = 0;
}

/* ---- load ---- */

/* A bounded reader over the file's body. */
typedef struct kb_rd {
    const char *p, *end;
} kb_rd;

static bool kb__rd(kb_rd *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

/* A length-prefixed string (borrowed, no NUL inside); with opt, length
 * UINT32_MAX is "none" (*s = NULL). */
static bool kb__rd_str(kb_rd *r, const char **s, uint32_t *n, bool opt)
{
    *s = NULL;
    if (!kb__rd(r, n, 4))
        return false;
    if (opt && *n == UINT32_MAX)
        return true;
    if ((size_t)(r->end - r->p) < *n || memchr(r->p, '\0', *n))
        return false;
    *s = r->p;
    r->p += *n;
    return true;
}

/* One document written by kb__snap_doc (NULL: it does not parse). */
static kb_doc *kb__snap_doc_read(kb_rd *r)
{
    const char *id, *text, *user, *meta;
    uint32_t il, tl, ul, ml, nch;
    int64_t upd, exp;
    cJSON *md = NULL;
    if (!kb__rd_str(r, &id, &il, false) || !il || !kb__rd_str(r, &text, &tl, false) ||
        !kb__rd_str(r, &user, &ul, true) || !kb__rd_str(r, &meta, &ml, false) ||
        !kb__rd(r, &nch, 4) || nch > (1u << 24) || !kb__rd(r, &upd, 8) || !kb__rd(r, &exp, 8) ||
        exp < 0 || exp > KB_EXPIRES_MAX)
        return NULL;
    if (ml == 2 && !memcmp(meta, "{}", 2))
        md = cJSON_CreateObject();
    else if (json_parse_stored(meta, ml, &md) || !cJSON_IsObject(md)) {
        cJSON_Delete(md);
        return NULL;
    }
    kb_doc *d = xcalloc(1, sizeof *d);
    d->id = xstrndup(id, il);
    d->text = xstrndup(text, tl);
    d->len = tl;
    d->user_id = user ? xstrndup(user, ul) : NULL;
    d->metadata = md;
    d->n_chunks = nch;
    d->chunks = xmalloc((nch ? nch : 1) * sizeof *d->chunks);
    memset(d->chunks, 0xff, (nch ? nch : 1) * sizeof *d->chunks); /* UINT32_MAX: missing */
    d->updated_ms = upd;
    d->expires_at = exp;
    return d;
}

/* The documents of the file into ns->docs, and docs[i] in file order. */
static bool kb__snap_docs(kb_rd *r, kb_ns *ns, uint32_t n, kb_doc **docs)
{
    for (uint32_t i = 0; i < n; i++) {
        kb_doc *d = kb__snap_doc_read(r);
        if (!d)
            return false;
        if (strmap_get(&ns->docs, d->id, strlen(d->id))) {
            kb__doc_free(d);
            return false;
        }
        strmap_put(&ns->docs, d->id, strlen(d->id), d);
        ns->text_bytes += d->len;
        docs[i] = d;
    }
    return true;
}

/* The slot map: every slot's document and span, checked against them. */
static bool kb__snap_slots(kb_rd *r, kb_ns *ns, kb_doc **docs, uint32_t n_docs)
{
    uint32_t n;
    if (!kb__rd(r, &n, 4) || n >= (1u << 30) || (size_t)(r->end - r->p) < (size_t)n * 20)
        return false;
    ns->cap_slots = n ? n : 1;
    ns->slots = xrealloc(ns->slots, ns->cap_slots * sizeof *ns->slots);
    ns->n_slots = n;
    uint32_t *free_ids = xmalloc((n ? n : 1) * sizeof *free_ids), nf = 0;
    bool ok = true;
    for (uint32_t i = n; ok && i-- > 0;) { /* backwards: the lowest free id is taken first */
        uint32_t s[5];
        memcpy(s, r->p + (size_t)i * 20, sizeof s);
        ns->slots[i] = (kb_slot){ 0 };
        if (s[0] == UINT32_MAX) {
            free_ids[nf++] = i;
            continue;
        }
        kb_doc *d = s[0] < n_docs ? docs[s[0]] : NULL;
        ok = d && s[1] < d->n_chunks && d->chunks[s[1]] == UINT32_MAX && s[2] <= s[3] &&
             s[3] <= d->len;
        if (ok) {
            d->chunks[s[1]] = i;
            ns->slots[i] = (kb_slot){ d, s[2], s[3], s[4], s[1] };
            ns->n_chunks++;
        }
    }
    if (ok)
        kb__slots_give(ns, free_ids, nf);
    free(free_ids);
    r->p += (size_t)n * 20;
    return ok;
}

/* The BM25 index, the rest of the body: its live documents are exactly the
 * published slots. */
static bool kb__snap_bm25(kb_rd *r, kb_ns *ns)
{
    uint32_t len;
    if (!kb__rd(r, &len, 4) || (size_t)(r->end - r->p) != len)
        return false;
    if (!len)
        return ns->n_chunks == 0;
    bm25_params p = { ns->st.bm25_k1, ns->st.bm25_b };
    bm25 *bm = NULL;
    if (bm25_load(r->p, len, ns->n_slots, &p, NULL, &bm))
        return false;
    bm25_stats st;
    bm25_get_stats(bm, &st);
    bool ok = st.n_docs == ns->n_chunks;
    for (uint32_t i = 0; ok && i < ns->n_slots; i++)
        ok = !ns->slots[i].doc || bm25_contains(bm, i);
    if (!ok) {
        bm25_destroy(bm);
        return false;
    }
    ns->bm = bm;
    r->p += len;
    return true;
}

/* The graph named by token: every vector in it belongs to a live slot. */
static bool kb__snap_graph(kb_ns *ns, const char *dir, const char *token)
{
    char path[4096];
    kb__snap_hnsw_path(path, sizeof path, dir, ns->name, token);
    hnsw *hn = NULL;
    if (hnsw_load(path, &hn))
        return false;
    hnsw_params p = hnsw_get_params(hn);
    bool ok = p.dim > 0;
    uint64_t in = 0;
    for (uint32_t i = 0; ok && i < ns->n_slots; i++)
        if (hnsw_contains(hn, i)) {
            ok = ns->slots[i].doc != NULL;
            in++;
        }
    if (!ok || in != hnsw_count(hn)) {
        hnsw_destroy(hn);
        return false;
    }
    hnsw_set_ef_search(hn, ns->st.hnsw_ef_search);
    ns->hn = hn;
    ns->dim = p.dim;
    ns->vsum = xcalloc(p.dim, sizeof *ns->vsum);
    float *v = xmalloc(p.dim * sizeof *v);
    for (uint32_t i = 0; i < ns->n_slots; i++)
        if (hnsw_contains(hn, i) && hnsw_get_vector(hn, i, v) == 0)
            kb__vsum_add(ns, v, 1.0);
    free(v);
    return true;
}

/* Why the header says the snapshot cannot be used (NULL = it can). */
static const char *kb__snap_stale(const kb_t *kb, const kb_ns *ns, const char *hdr,
                                  uint64_t first, uint64_t last, uint64_t *seq)
{
    int64_t created;
    memcpy(seq, hdr + 4, 8);
    memcpy(&created, hdr + 12, 8);
    char epoch[65] = { 0 };
    memcpy(epoch, hdr + 20, 64);
    if (created != ns->created_ms)
        return "the namespace was dropped and created again since";
    if (strcmp(epoch, kb->epoch) != 0)
        return "the store's epoch changed since (Redis lost or replaced its data)";
    if (last < *seq)
        return "the namespace's log holds less than the snapshot saw (deleted or reset)";
    if (first > *seq + 1)
        return "the namespace's log was trimmed past the snapshot's position "
               "(repl_log_keep)";
    return NULL;
}

int kb__snap_load(kb_t *kb, kb_ns *ns, uint64_t first, uint64_t last, uint64_t *seq,
                  const char **why)
{
    char path[4096], *data = NULL;
    size_t len = 0;
    *why = NULL;
    kb__snap_path(path, sizeof path, kb->o.snapshot_dir, ns->name, "kbsnap");
    if (file_read_all(path, &data, &len) != 0)
        return RAGD_ENOTFOUND;
    uint8_t sum[HASH_SHA256_LEN];
    bool ok = len >= KB_SNAP_HDR + 4 + HASH_SHA256_LEN && !memcmp(data, KB_SNAP_MAGIC, 4);
    if (ok) {
        hash_sha256(data, len - HASH_SHA256_LEN, sum);
        ok = !memcmp(sum, data + len - HASH_SHA256_LEN, HASH_SHA256_LEN);
    }
    if (!ok || (*why = kb__snap_stale(kb, ns, data, first, last, seq)) != NULL) {
        *why = *why ? *why : "the snapshot file is damaged or of another version";
        free(data);
        return RAGD_EFORMAT;
    }
    char token[17] = { 0 };
    memcpy(token, data + 84, 16);
    uint32_t n_docs;
    memcpy(&n_docs, data + 100, 4);
    kb_rd r = { data + KB_SNAP_HDR, data + len - HASH_SHA256_LEN };
    kb_doc **docs = xcalloc(n_docs ? n_docs : 1, sizeof *docs);
    ok = n_docs <= (size_t)(r.end - r.p) / 4 && kb__snap_docs(&r, ns, n_docs, docs);
    ok = ok &&
         kb__snap_slots(&r, ns, docs, n_docs);
    ok = ok && kb__snap_bm25(&r, ns);
    ok = ok &&
         (!token[0] || kb__snap_graph(ns, kb->o.snapshot_dir, token));
    free(docs);
    free(data);
    if (!ok) {
        kb__snap_reset(ns);
        *why = "the snapshot does not match its graph file or its records do not parse";
        return RAGD_EFORMAT;
    }
    ns->snap_seq = *seq;
    ns->snap_saved = true;
    return RAGD_OK;
}
