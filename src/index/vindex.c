/*
 * vindex.c - the flat-then-graph facade. A rwlock guards which backend is in
 * use: adds, deletes and searches share it (the backends are thread-safe
 * themselves); the one-time switch to HNSW takes it exclusively.
 */
#include "index/vindex.h"

#include <pthread.h>
#include <stdlib.h>

#include "index/flat.h"
#include "util/err.h"
#include "util/mem.h"

struct vindex {
    vindex_params p;
    pthread_rwlock_t lock;
    flat *fx;  /* exactly one of fx, gx is set */
    hnsw *gx;
};

vindex_params vindex_default_params(uint32_t dim)
{
    return (vindex_params){.hnsw = hnsw_default_params(dim), .flat_max = 2000};
}

int vindex_create(const vindex_params *params, vindex **out)
{
    if (!params || !out)
        return RAGD_EINVAL;
    hnsw *probe; /* validate the graph parameters now, not at the switch */
    int rc = hnsw_create(&params->hnsw, &probe);
    if (rc)
        return rc;
    hnsw_destroy(probe);
    vindex *vx = xcalloc(1, sizeof *vx);
    vx->p = *params;
    rc = flat_create(params->hnsw.dim, params->hnsw.metric, &vx->fx);
    if (rc) {
        free(vx);
        return rc;
    }
    pthread_rwlock_init(&vx->lock, NULL);
    *out = vx;
    return 0;
}

void vindex_destroy(vindex *vx)
{
    if (!vx)
        return;
    flat_destroy(vx->fx);
    hnsw_destroy(vx->gx);
    pthread_rwlock_destroy(&vx->lock);
    free(vx);
}

static int vx__insert_cb(void *ud, uint32_t id, const float *v)
{
    return hnsw_insert(ud, id, v);
}

/* Move every vector of the flat index into a new graph (write lock held). */
static int vx__to_graph(vindex *vx)
{
    hnsw *g;
    int rc = hnsw_create(&vx->p.hnsw, &g);
    if (rc == 0)
        rc = flat_foreach(vx->fx, vx__insert_cb, g);
    if (rc) {
        hnsw_destroy(g);
        return rc;
    }
    flat_destroy(vx->fx);
    vx->fx = NULL;
    vx->gx = g;
    return 0;
}

int vindex_add(vindex *vx, uint32_t id, const float *v)
{
    if (!vx || !v)
        return RAGD_EINVAL;
    pthread_rwlock_rdlock(&vx->lock);
    bool grow = false;
    int rc;
    if (vx->gx) {
        rc = hnsw_insert(vx->gx, id, v);
    } else {
        rc = flat_add(vx->fx, id, v);
        grow = rc == 0 && flat_count(vx->fx) > vx->p.flat_max;
    }
    pthread_rwlock_unlock(&vx->lock);
    if (grow) {
        pthread_rwlock_wrlock(&vx->lock);
        if (vx->fx && flat_count(vx->fx) > vx->p.flat_max)
            rc = vx__to_graph(vx);
        pthread_rwlock_unlock(&vx->lock);
    }
    return rc;
}

int vindex_delete(vindex *vx, uint32_t id)
{
    if (!vx)
        return RAGD_EINVAL;
    pthread_rwlock_rdlock(&vx->lock);
    int rc = vx->gx ? hnsw_delete(vx->gx, id) : flat_delete(vx->fx, id);
    pthread_rwlock_unlock(&vx->lock);
    return rc;
}

int vindex_search(vindex *vx, const float *q, const hnsw_search_opts *o, vec_hit *out, size_t *n_out)
{
    if (!vx || !q || !o || !o->k || !out || !n_out)
        return RAGD_EINVAL;
    pthread_rwlock_rdlock(&vx->lock);
    int rc = vx->gx ? hnsw_search(vx->gx, q, o, out, n_out)
                    : flat_search(vx->fx, q, o->k, o->filter, o->filter_ud, out, n_out);
    pthread_rwlock_unlock(&vx->lock);
    return rc;
}

size_t vindex_count(vindex *vx)
{
    pthread_rwlock_rdlock(&vx->lock);
    size_t n = vx->gx ? hnsw_count(vx->gx) : flat_count(vx->fx);
    pthread_rwlock_unlock(&vx->lock);
    return n;
}

bool vindex_is_graph(vindex *vx)
{
    pthread_rwlock_rdlock(&vx->lock);
    bool g = vx->gx != NULL;
    pthread_rwlock_unlock(&vx->lock);
    return g;
}

size_t vindex_memory(vindex *vx)
{
    pthread_rwlock_rdlock(&vx->lock);
    size_t m = sizeof *vx;
    if (vx->gx) {
        hnsw_stats st;
        hnsw_get_stats(vx->gx, &st);
        m += st.memory_bytes;
    } else {
        m += flat_memory(vx->fx);
    }
    pthread_rwlock_unlock(&vx->lock);
    return m;
}

int vindex_save(vindex *vx, const char *path)
{
    if (!vx || !path)
        return RAGD_EINVAL;
    pthread_rwlock_wrlock(&vx->lock);
    int rc = vx->gx ? 0 : vx__to_graph(vx);
    if (rc == 0)
        rc = hnsw_save(vx->gx, path);
    pthread_rwlock_unlock(&vx->lock);
    return rc;
}

int vindex_load(const char *path, size_t flat_max, vindex **out)
{
    if (!path || !out)
        return RAGD_EINVAL;
    hnsw *g;
    int rc = hnsw_load(path, &g);
    if (rc)
        return rc;
    vindex *vx = xcalloc(1, sizeof *vx);
    vx->p.hnsw = hnsw_get_params(g);
    vx->p.flat_max = flat_max;
    vx->gx = g;
    pthread_rwlock_init(&vx->lock, NULL);
    *out = vx;
    return 0;
}
