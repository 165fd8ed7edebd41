/*
 * embcache.c - value layout: [u32 ntokens][u8 truncated][3 zero bytes]
 * [dim float32, little endian], through the cache codec (stats prefix "emb").
 */
#include "cache/embcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/hash.h"
#include "util/mem.h"

#define EMB_HDR 8
#define EMB_CTYPE "application/x-ragd-f32"

struct embcache {
    cache_t *cache;
    char *model;
    size_t dim;
    int64_t ttl_ms;
    embcache_compute_fn compute;
    void *compute_ud;
};

int embcache_create(cache_t *cache, const char *model_key, size_t dim, int64_t ttl_s,
                    embcache_compute_fn compute, void *compute_ud, embcache_t **out)
{
    embcache_t *ec = xcalloc(1, sizeof *ec);
    ec->cache = cache;
    ec->model = xstrdup(model_key);
    ec->dim = dim;
    ec->ttl_ms = ttl_s * 1000;
    ec->compute = compute;
    ec->compute_ud = compute_ud;
    *out = ec;
    return RAGD_OK;
}

void embcache_destroy(embcache_t *ec)
{
    if (!ec)
        return;
    free(ec->model);
    free(ec);
}

size_t embcache_dim(const embcache_t *ec) { return ec->dim; }
const char *embcache_model(const embcache_t *ec) { return ec->model; }

static void embcache__key(const embcache_t *ec, const char *text, size_t len, buf_t *k)
{
    char hex[HASH_SHA256_HEX_LEN + 1];
    hash_sha256_hex(text, len, hex);
    buf_reset(k);
    buf_printf(k, "emb:%s:%s", ec->model, hex);
}

/* Decode a cached value into vec; false if it does not fit this model. */
static bool embcache__decode(const embcache_t *ec, const cache_entry *e, float *vec,
                             int *ntokens, bool *truncated)
{
    if (e->len != EMB_HDR + ec->dim * sizeof(float))
        return false;
    uint32_t nt;
    memcpy(&nt, e->data, 4);
    *ntokens = (int)nt;
    *truncated = e->data[4] != 0;
    memcpy(vec, e->data + EMB_HDR, ec->dim * sizeof(float));
    return true;
}

static void embcache__store(embcache_t *ec, const char *skey, size_t sklen, const float *vec,
                            int ntokens, bool truncated)
{
    size_t len = EMB_HDR + ec->dim * sizeof(float);
    uint8_t *v = xcalloc(1, len);
    uint32_t nt = (uint32_t)ntokens;
    memcpy(v, &nt, 4);
    v[4] = truncated;
    memcpy(v + EMB_HDR, vec, ec->dim * sizeof(float));
    cache_put_raw(ec->cache, skey, sklen, "emb", v, len, EMB_CTYPE, ec->ttl_ms);
    free(v);
}

int embcache_embed(embcache_t *ec, const char *const *texts, const size_t *lens, size_t n,
                   float *out, embcache_info *info)
{
    return embcache_embed_as(ec, NULL, texts, lens, n, out, info);
}

int embcache_embed_as(embcache_t *ec, const embed_work *w, const char *const *texts,
                      const size_t *lens, size_t n, float *out, embcache_info *info)
{
    w = w ? w : &embed_work_interactive;
    size_t *miss = xmalloc(n * sizeof *miss);
    int *nt = xmalloc(n * sizeof *nt);
    bool *tr = xmalloc(n * sizeof *tr);
    size_t nmiss = 0;
    buf_t k = BUF_INIT;
    char **mkeys = xmalloc(n * sizeof *mkeys);  /* keys of the misses, for the write */
    for (size_t i = 0; i < n; i++) {
        cache_entry e;
        embcache__key(ec, texts[i], lens[i], &k);
        bool hit = cache_get_raw(ec->cache, k.data, k.len, "emb", &e) == 0;
        if (hit) {
            hit = embcache__decode(ec, &e, out + i * ec->dim, &nt[i], &tr[i]);
            cache_entry_free(&e);
        }
        if (!hit) {
            mkeys[nmiss] = xstrndup(k.data, k.len);
            miss[nmiss++] = i;
        }
        if (info && info->cached)
            info->cached[i] = hit;
    }
    int rc = RAGD_OK;
    if (nmiss) {
        const char **mt = xmalloc(nmiss * sizeof *mt);
        size_t *ml = xmalloc(nmiss * sizeof *ml);
        float *mv = xmalloc(nmiss * ec->dim * sizeof *mv);
        int *mnt = xmalloc(nmiss * sizeof *mnt);
        bool *mtr = xmalloc(nmiss * sizeof *mtr);
        for (size_t j = 0; j < nmiss; j++) {
            mt[j] = texts[miss[j]];
            ml[j] = lens[miss[j]];
        }
        rc = ec->compute(ec->compute_ud, w, mt, ml, nmiss, mv, mnt, mtr);
        for (size_t j = 0; rc == 0 && j < nmiss; j++) {
            size_t i = miss[j];
            memcpy(out + i * ec->dim, mv + j * ec->dim, ec->dim * sizeof(float));
            nt[i] = mnt[j];
            tr[i] = mtr[j];
            embcache__store(ec, mkeys[j], strlen(mkeys[j]), mv + j * ec->dim, mnt[j], mtr[j]);
        }
        free(mt);
        free(ml);
        free(mv);
        free(mnt);
        free(mtr);
    }
    if (rc == 0 && info) {
        info->hits = n - nmiss;
        info->misses = nmiss;
        if (info->ntokens)
            memcpy(info->ntokens, nt, n * sizeof *nt);
        if (info->truncated)
            memcpy(info->truncated, tr, n * sizeof *tr);
    }
    for (size_t j = 0; j < nmiss; j++)
        free(mkeys[j]);
    free(mkeys);
    buf_free(&k);
    free(miss);
    free(nt);
    free(tr);
    return rc;
}
