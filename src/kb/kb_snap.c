/*
 * kb_snap.c - HNSW snapshots of knowledge-base namespaces, so a restart need
 * not rebuild the graphs. At kb_close each namespace writes its graph
 * (hnsw_save) and a slot map (slot id -> document id + chunk index) tagged
 * with the namespace's version token; every change writes a new token to the
 * store (kb:<ns>:ver), so at start a snapshot is used only when the store
 * still holds the version it was taken at - else the graph is rebuilt from
 * the stored vectors. BM25 is always rebuilt from the texts (it is fast).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb/kb_int.h"
#include "util/mem.h"

static void kb__snap_path(char *out, size_t n, const char *dir, const char *ns, const char *ext)
{
    snprintf(out, n, "%s/%s.%s", dir, ns, ext);
}

static bool kb__w32(FILE *f, uint32_t v)
{
    return fwrite(&v, 4, 1, f) == 1;
}

int kb__snap_save(const kb_ns *ns, const char *dir)
{
    if (!ns->hn || !ns->version[0])
        return RAGD_OK;
    char path[4096], tmp[4200];
    kb__snap_path(path, sizeof path, dir, ns->name, "hnsw");
    int rc = hnsw_save(ns->hn, path);
    if (rc)
        return rc;
    kb__snap_path(path, sizeof path, dir, ns->name, "map");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return RAGD_EIO;
    bool ok = fwrite("KBS1", 4, 1, f) == 1 && fwrite(ns->version, 32, 1, f) == 1 &&
              kb__w32(f, ns->n_slots);
    for (uint32_t i = 0; ok && i < ns->n_slots; i++) {
        const kb_slot *s = &ns->slots[i];
        if (!s->doc) {
            ok = kb__w32(f, 0) && kb__w32(f, UINT32_MAX);
            continue;
        }
        uint32_t len = (uint32_t)strlen(s->doc->id);
        ok = kb__w32(f, s->seq) && kb__w32(f, len) && fwrite(s->doc->id, len, 1, f) == 1;
    }
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return RAGD_EIO;
    }
    return RAGD_OK;
}

void kb__snap_remove(const char *ns, const char *dir)
{
    char path[4096];
    kb__snap_path(path, sizeof path, dir, ns, "map");
    unlink(path);
    kb__snap_path(path, sizeof path, dir, ns, "hnsw");
    unlink(path);
}

void kb__snap_reset(kb_ns *ns)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&ns->docs, &it, NULL, &v)) {
        kb_doc *d = v;
        for (uint32_t i = 0; i < d->n_chunks; i++)
            d->chunks[i] = UINT32_MAX;
    }
    ns->n_slots = ns->n_free = 0;
    ns->n_chunks = 0;
    hnsw_destroy(ns->hn);
    ns->hn = NULL;
    free(ns->vsum);
    ns->vsum = NULL;
    ns->n_vec = 0;
    ns->dim = 0;
}

static bool kb__r32(FILE *f, uint32_t *v)
{
    return fread(v, 4, 1, f) == 1;
}

size_t kb__snap_map(kb_ns *ns, const char *dir)
{
    if (!dir || !ns->version[0])
        return 0;
    char path[4096], magic[4], ver[32], id[KB_DOC_ID_MAX + 1];
    kb__snap_path(path, sizeof path, dir, ns->name, "map");
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint32_t n = 0;
    size_t mapped = 0;
    bool ok = fread(magic, 4, 1, f) == 1 && !memcmp(magic, "KBS1", 4) &&
              fread(ver, 32, 1, f) == 1 && !memcmp(ver, ns->version, 32) && kb__r32(f, &n) &&
              n < (1u << 30);
    if (ok) {
        ns->cap_slots = n ? n : 1;
        ns->slots = xcalloc(ns->cap_slots, sizeof *ns->slots);
        ns->n_slots = n;
    }
    for (uint32_t i = 0; ok && i < n; i++) {
        uint32_t seq, len;
        ok = kb__r32(f, &seq) && kb__r32(f, &len);
        if (!ok || len == UINT32_MAX)
            continue;
        ok = len <= KB_DOC_ID_MAX && fread(id, len, 1, f) == 1;
        kb_doc *d = ok ? strmap_get(&ns->docs, id, len) : NULL;
        ok = d && seq < d->n_chunks && d->chunks[seq] == UINT32_MAX;
        if (ok) {
            d->chunks[seq] = i;
            mapped++;
        }
    }
    fclose(f);
    if (!ok) {
        kb__snap_reset(ns);
        return 0;
    }
    return mapped;
}

bool kb__snap_finish(kb_ns *ns, const char *dir, size_t mapped)
{
    if (ns->n_chunks != mapped)
        return false;
    char path[4096];
    kb__snap_path(path, sizeof path, dir, ns->name, "hnsw");
    hnsw *hn = NULL;
    if (hnsw_load(path, &hn))
        return false;
    hnsw_params p = hnsw_get_params(hn);
    bool ok = hnsw_count(hn) == mapped;
    for (uint32_t i = 0; ok && i < ns->n_slots; i++)
        ok = hnsw_contains(hn, i) == (ns->slots[i].doc != NULL);
    if (!ok) {
        hnsw_destroy(hn);
        return false;
    }
    hnsw_set_ef_search(hn, ns->st.hnsw_ef_search);
    ns->hn = hn;
    ns->dim = p.dim;
    ns->vsum = xcalloc(p.dim, sizeof *ns->vsum);
    float *v = xmalloc(p.dim * sizeof *v);
    uint32_t *free_ids = xmalloc((ns->n_slots ? ns->n_slots : 1) * sizeof *free_ids);
    uint32_t nf = 0;
    for (uint32_t i = ns->n_slots; i-- > 0;) {
        if (!ns->slots[i].doc)
            free_ids[nf++] = i;
        else if (hnsw_get_vector(hn, i, v) == 0)
            kb__vsum_add(ns, v, 1.0);
    }
    kb__slots_give(ns, free_ids, nf);
    free(free_ids);
    free(v);
    return true;
}
