/*
 * store_lmdb_grow.c - the writes of the LMDB operations table: each runs its
 * operation (store_lmdb_write.c, _log.c, _rl.c) and, when the map is full,
 * grows it and runs it again (LM_GROW_RETRY, store_lmdb_map.c). An operation
 * that only removes data may use the reserve past the map's maximum.
 */
#include "store/store_lmdb_int.h"

int lm__g_set(void *impl, const char *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms, unsigned flags)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__set(impl, key, klen, val, vlen, ttl_ms, flags));
}

int lm__g_del(void *impl, const char *key, size_t klen)
{
    LM_GROW_RETRY((lm_store *)impl, true, lm__del(impl, key, klen));
}

int lm__g_expire(void *impl, const char *key, size_t klen, int64_t ttl_ms)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__expire(impl, key, klen, ttl_ms));
}

int lm__g_incr(void *impl, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
               int64_t *out)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__incr(impl, key, klen, delta, ttl_ms, out));
}

int lm__g_cas(void *impl, const char *key, size_t klen, const void *expect, size_t elen,
              const void *val, size_t vlen, int64_t ttl_ms, unsigned flags)
{
    LM_GROW_RETRY((lm_store *)impl, val == NULL,
                  lm__cas(impl, key, klen, expect, elen, val, vlen, ttl_ms, flags));
}

int lm__g_batch(void *impl, const store_check *checks, size_t nc, size_t *failed,
                const store_op *ops, size_t n, const char *log, size_t loglen, const void *rec,
                size_t len, uint64_t *seq)
{
    bool frees = log == NULL; /* a log record adds data */
    for (size_t i = 0; i < n; i++)
        frees = frees && ops[i].val == NULL;
    LM_GROW_RETRY((lm_store *)impl, frees, lm__batch(impl, checks, nc, failed, ops, n, log, loglen, rec, len,
                                                seq));
}

/* del_pattern commits in chunks: count what each attempt deleted. */
static int grow__del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *total)
{
    uint64_t n = 0;
    int rc = lm__del_pattern(impl, pattern, patlen, &n);
    *total += n;
    return rc;
}

int lm__g_del_pattern(void *impl, const char *pattern, size_t patlen, uint64_t *deleted)
{
    *deleted = 0;
    LM_GROW_RETRY((lm_store *)impl, true, grow__del_pattern(impl, pattern, patlen, deleted));
}

int lm__g_log_append(void *impl, const char *log, size_t loglen, const void *rec, size_t len,
                     uint64_t *seq)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__log_append(impl, log, loglen, rec, len, seq));
}

int lm__g_log_delete(void *impl, const char *log, size_t loglen)
{
    LM_GROW_RETRY((lm_store *)impl, true, lm__log_delete(impl, log, loglen));
}

int lm__g_ratelimit(void *impl, const char *key, size_t klen, const store_rl_params *p,
                    store_rl_result *out)
{
    LM_GROW_RETRY((lm_store *)impl, false, lm__ratelimit(impl, key, klen, p, out));
}
