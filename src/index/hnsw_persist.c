/*
 * hnsw_persist.c - HNSW snapshots: the whole graph (parameters, entry point,
 * per node its flags, level, stored vector and link lists) written to a temp
 * file and renamed into place, and read back without rebuilding, so a
 * restart costs one sequential read instead of a re-insert of every vector.
 * Loading validates every count and id (a bad file is RAGD_EFORMAT).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/hnsw_int.h"
#include "util/err.h"
#include "util/mem.h"

#define HNSW_MAGIC "RGDHNSW1"
#define HNSW_END 0xFFFFFFFFu

typedef struct hnsw_hdr {
    char magic[8];
    uint32_t dim, metric, M, ef_construction, ef_search, int8;
    uint64_t seed;
    uint32_t id_limit, entry;
    int32_t max_level;
    uint32_t pad;
    uint64_t count, deleted, rng;
} hnsw_hdr;

static bool w__all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

static bool w__node(const hnsw *ix, FILE *f, uint32_t id, uint8_t flags)
{
    uint8_t lv = (uint8_t)hnsw__level(ix, id);
    bool ok = w__all(f, &id, 4) && w__all(f, &flags, 1) && w__all(f, &lv, 1) &&
              w__all(f, hnsw__vec(ix, id), ix->p.dim * sizeof(float));
    uint32_t buf[2 * 256 + 2];
    for (int l = 0; ok && l <= lv; l++) {
        uint32_t n = hnsw__read_links(ix, id, l, buf);
        ok = w__all(f, &n, 4) && w__all(f, buf, n * 4u);
    }
    return ok;
}

static int hnsw__save(hnsw *ix, const char *path, bool sync)
{
    if (!ix || !path)
        return RAGD_EINVAL;
    size_t pl = strlen(path);
    char *tmp = xmalloc(pl + 8);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(tmp);
        return RAGD_EIO;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    hnsw_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, HNSW_MAGIC, 8);
    hnsw_params p = hnsw_get_params(ix);
    h.dim = p.dim;
    h.metric = p.metric;
    h.M = p.M;
    h.ef_construction = p.ef_construction;
    h.ef_search = p.ef_search;
    h.int8 = p.int8;
    h.seed = p.seed;
    pthread_mutex_lock(&ix->ep_lock);
    h.entry = ix->entry;
    h.max_level = ix->max_level;
    pthread_mutex_unlock(&ix->ep_lock);
    h.id_limit = __atomic_load_n(&ix->id_limit, __ATOMIC_ACQUIRE);
    h.count = __atomic_load_n(&ix->count, __ATOMIC_RELAXED);
    h.deleted = __atomic_load_n(&ix->deleted, __ATOMIC_RELAXED);
    h.rng = __atomic_load_n(&ix->rng, __ATOMIC_RELAXED);
    bool ok = w__all(f, &h, sizeof h);
    for (uint32_t id = 0; ok && id < h.id_limit; id++) {
        uint8_t fl = hnsw__flags(ix, id);
        if (fl)
            ok = w__node(ix, f, id, fl);
    }
    uint32_t end = HNSW_END;
    ok = ok && w__all(f, &end, 4) && fflush(f) == 0 && (!sync || fsync(fileno(f)) == 0);
    ok = (fclose(f) == 0) && ok;
    if (ok)
        ok = rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok ? 0 : RAGD_EIO;
}

int hnsw_save(hnsw *ix, const char *path)
{
    return hnsw__save(ix, path, true);
}

int hnsw_save_nosync(hnsw *ix, const char *path)
{
    return hnsw__save(ix, path, false);
}

static bool r__all(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

/* Read one node record (id already read). */
static int r__node(hnsw *ix, FILE *f, uint32_t id, uint32_t id_limit)
{
    uint8_t fl, lv;
    if (id >= id_limit || !r__all(f, &fl, 1) || !r__all(f, &lv, 1) || lv >= HNSW_MAX_LEVEL ||
        (fl != HNSW_PRESENT && fl != (HNSW_PRESENT | HNSW_DELETED)))
        return RAGD_EFORMAT;
    uint32_t off;
    hnsw_seg *sg = hnsw__seg_alloc(ix, id, &off);
    if (!sg)
        return RAGD_ENOMEM;
    if (sg->flags[off])
        return RAGD_EFORMAT; /* duplicate id */
    size_t dim = ix->p.dim;
    float *v = (float *)(sg->nodes + (size_t)off * ix->stride);
    if (!r__all(f, v, dim * sizeof *v))
        return RAGD_EFORMAT;
    if (ix->p.int8)
        sg->scales[off] = vec_quantize_i8(v, sg->codes + (size_t)off * dim, dim);
    sg->level[off] = lv;
    if (lv)
        sg->upper[off] = xcalloc((size_t)lv * (ix->p.M + 1), sizeof(uint32_t));
    for (int l = 0; l <= lv; l++) {
        uint32_t n, cap = l ? ix->p.M : ix->M0, *links = hnsw__links(ix, id, l);
        if (!r__all(f, &n, 4) || n > cap || !r__all(f, links + 1, n * 4u))
            return RAGD_EFORMAT;
        for (uint32_t i = 0; i < n; i++)
            if (links[1 + i] >= id_limit)
                return RAGD_EFORMAT;
        links[0] = n;
    }
    sg->flags[off] = fl;
    return 0;
}

/* Every link must point at a stored node of a high enough level. */
static int r__check_links(hnsw *ix, uint32_t id_limit)
{
    uint32_t buf[2 * 256 + 2];
    for (uint32_t id = 0; id < id_limit; id++) {
        if (!hnsw__flags(ix, id))
            continue;
        for (int l = 0; l <= hnsw__level(ix, id); l++) {
            uint32_t n = hnsw__read_links(ix, id, l, buf);
            for (uint32_t i = 0; i < n; i++)
                if (!hnsw__flags(ix, buf[i]) || hnsw__level(ix, buf[i]) < l)
                    return RAGD_EFORMAT;
        }
    }
    return 0;
}

int hnsw_load(const char *path, hnsw **out)
{
    if (!path || !out)
        return RAGD_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO;
    hnsw_hdr h;
    hnsw *ix = NULL;
    int rc = RAGD_EFORMAT;
    if (!r__all(f, &h, sizeof h) || memcmp(h.magic, HNSW_MAGIC, 8) != 0)
        goto done;
    hnsw_params p = {.dim = h.dim, .metric = (vec_metric)h.metric, .M = h.M,
                     .ef_construction = h.ef_construction, .ef_search = h.ef_search,
                     .int8 = h.int8 != 0, .seed = h.seed};
    if (h.metric > VEC_L2 || hnsw_create(&p, &ix) != 0)
        goto done;
    hnsw__bump_limit(ix, h.id_limit ? h.id_limit - 1 : 0);
    if (!h.id_limit)
        ix->id_limit = 0;
    uint64_t seen = 0, dead = 0;
    for (;;) {
        uint32_t id;
        if (!r__all(f, &id, 4))
            goto done;
        if (id == HNSW_END)
            break;
        if ((rc = r__node(ix, f, id, h.id_limit)) != 0)
            goto done;
        rc = RAGD_EFORMAT;
        seen++;
        dead += hnsw__flags(ix, id) != HNSW_PRESENT;
    }
    if (seen - dead != h.count || dead != h.deleted || h.max_level >= HNSW_MAX_LEVEL ||
        (h.count + h.deleted > 0 && (h.entry >= h.id_limit || !hnsw__flags(ix, h.entry) ||
                                     hnsw__level(ix, h.entry) != h.max_level)))
        goto done;
    if ((rc = r__check_links(ix, h.id_limit)) != 0)
        goto done;
    ix->entry = seen ? h.entry : UINT32_MAX;
    ix->max_level = seen ? h.max_level : -1;
    ix->count = h.count;
    ix->deleted = h.deleted;
    ix->rng = h.rng;
    rc = 0;
done:
    fclose(f);
    if (rc) {
        hnsw_destroy(ix);
        return rc;
    }
    *out = ix;
    return 0;
}
