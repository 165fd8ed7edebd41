/*
 * store_lmdb_rl.c - rate-limit decisions on the embedded store: read the
 * limiter's state, decide with store__rl_decide and write the new state in one
 * LMDB write transaction. LMDB serialises write transactions, so concurrent
 * requests (any number of threads of this process) are counted exactly.
 */
#include <string.h>
#include <time.h>

#include "store/store_lmdb_int.h"

static int64_t lmrl__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int lm__ratelimit(void *impl, const char *key, size_t klen, const store_rl_params *p,
                  store_rl_result *out)
{
    lm_w w;
    lm_entry e;
    char cur[STORE_RL_STATE_MAX];
    size_t curlen = 0;
    bool have = false;
    int rc = lm__w_begin_at(impl, &w, key, klen, true, &e);
    if (rc == 0 && e.n < sizeof cur) {
        memcpy(cur, e.v, e.n);  /* e.v points into pages that lm__put may reuse */
        curlen = e.n;
        have = true;
    }
    if (rc == RAGD_ENOTFOUND && w.txn)
        rc = 0;
    if (rc)
        return lm__w_end(&w, rc);
    char next[STORE_RL_STATE_MAX];
    int64_t ttl_ms = 0;
    bool write = false;
    store_rl_result r;
    store__rl_decide(p, have ? cur : NULL, curlen, lmrl__now_us(), next, &ttl_ms, &write, &r);
    if (!write) {
        lm__w_abort(&w);
        *out = r;
        return 0;
    }
    rc = lm__put(&w, key, klen, next, strlen(next), w.now + ttl_ms, 0);
    rc = lm__w_end(&w, rc);
    if (rc == 0)
        *out = r;
    return rc;
}
