/*
 * store.c - the front of the store: picks the backend from the URL (none =
 * LMDB, redis:// or rediss:// = Redis), checks arguments the same way for both,
 * and prepends the global prefix ("<prefix>:") to every key so that backends only
 * ever see full keys. Scan callbacks get keys with the prefix stripped again.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mem.h"

/* Full key "<prefix>:<key>" on the stack (keys are bounded by STORE_KEY_MAX). */
typedef struct fullkey {
    char buf[STORE_FULL_KEY_BUF];
    size_t len;
} fullkey;

void store_config_default(store_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->key_prefix = "ragd";
    cfg->map_size = 8ull << 30;
    cfg->fsync_policy = STORE_FSYNC_EVERYSEC;
    cfg->pool_size = 8;
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 1000;
    cfg->sweep_interval_ms = 1000;
    cfg->wait_timeout_ms = 1000;
    cfg->log_keep = STORE_LOG_KEEP;
}

void store_value_free(store_value *v)
{
    if (v) {
        free(v->data);
        v->data = NULL;
        v->len = 0;
    }
}

static bool prefix_valid(const char *p)
{
    for (; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int store_open(const store_config *cfg, store_t **out, ragd_error *err)
{
    store_config def;
    if (!cfg) {
        store_config_default(&def);
        cfg = &def;
    }
    const char *prefix = cfg->key_prefix ? cfg->key_prefix : "";
    if (strlen(prefix) > STORE_PREFIX_MAX || !prefix_valid(prefix))
        return ragd_error_set(err, RAGD_EINVAL,
                              "key prefix \"%s\": at most %d characters of [A-Za-z0-9_.-]",
                              prefix, STORE_PREFIX_MAX);
    store_t *s = xcalloc(1, sizeof *s);
    if (*prefix) {
        s->prefix_len = (size_t)snprintf(s->prefix, sizeof s->prefix, "%s:", prefix);
    }
    int rc;
    const char *url = cfg->url;
    if (!url || !*url) {
        rc = store_lmdb_open(cfg, &s->ops, &s->impl, err);
    } else if (strncmp(url, "redis", 5) == 0 && strstr(url, "://")) {
        rc = store_redis_open(cfg, prefix, &s->ops, &s->impl, err);
    } else {
        rc = ragd_error_set(err, RAGD_EINVAL, "store URL must start with redis://, rediss://, "
                                              "redis[s]+sentinel:// or redis[s]+cluster://");
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->log_cv, &ca);
    pthread_condattr_destroy(&ca);
    store__errs_init(&s->errs);
    *out = s;
    return 0;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    s->ops->close(s->impl);
    pthread_cond_destroy(&s->log_cv);
    pthread_mutex_destroy(&s->log_mu);
    store__errs_deinit(&s->errs);
    free(s);
}

/* A record was appended through s: wake in-process waiters (store_log_wait). */
static void store__log_notify(store_t *s)
{
    pthread_mutex_lock(&s->log_mu);
    s->log_gen++;
    pthread_cond_broadcast(&s->log_cv);
    pthread_mutex_unlock(&s->log_mu);
}

const char *store_backend_name(const store_t *s)
{
    return s->ops->name;
}

bool store_has(const store_t *s, unsigned caps)
{
    return (s->ops->caps & caps) == caps;
}

/* Build "<prefix><key>"; RAGD_EINVAL for an empty key, RAGD_ETOOBIG above the limit. */
static int key_make(const store_t *s, const char *key, size_t klen, fullkey *fk)
{
    if (!key || klen == 0)
        return RAGD_EINVAL;
    if (klen > STORE_KEY_MAX)
        return RAGD_ETOOBIG;
    memcpy(fk->buf, s->prefix, s->prefix_len);
    memcpy(fk->buf + s->prefix_len, key, klen);
    fk->len = s->prefix_len + klen;
    return 0;
}

/* Log names live beside keys, never among them: "<prefix>.log:<name>". */
static int log_make(const store_t *s, const char *log, fullkey *fk)
{
    size_t n = log ? strlen(log) : 0;
    if (n == 0)
        return RAGD_EINVAL;
    if (n > STORE_KEY_MAX)
        return RAGD_ETOOBIG;
    size_t p = s->prefix_len ? s->prefix_len - 1 : 0;
    memcpy(fk->buf, s->prefix, p);
    memcpy(fk->buf + p, ".log:", 5);
    memcpy(fk->buf + p + 5, log, n);
    fk->len = p + 5 + n;
    return 0;
}

int store_ping(store_t *s)
{
    return s->ops->ping(s->impl);
}

int store_health(store_t *s, char *reason, size_t n)
{
    if (n)
        reason[0] = '\0';
    if (s->ops->check)
        return s->ops->check(s->impl, reason, n);
    int rc = s->ops->ping(s->impl);
    if (rc && n)
        snprintf(reason, n, "%s", ragd_strerror(rc));
    return rc;
}

int store_get(store_t *s, const char *key, size_t klen, store_value *out)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    return rc ? rc : store__note(&s->errs, s->ops->get(s->impl, fk.buf, fk.len, out), false);
}

int store_get_stale(store_t *s, const char *key, size_t klen, store_value *out)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    if (rc)
        return rc;
    int (*get)(void *, const char *, size_t, store_value *) =
        s->ops->get_stale ? s->ops->get_stale : s->ops->get;
    return store__note(&s->errs, get(s->impl, fk.buf, fk.len, out), false);
}

int store_get_many(store_t *s, const char *const *keys, const size_t *klens, size_t n,
                   store_value *out, int *rcs)
{
    if ((!keys || !klens || !out || !rcs) && n)
        return RAGD_EINVAL;
    fullkey *fk = xmalloc((n ? n : 1) * sizeof *fk);
    const char **full = xmalloc((n ? n : 1) * sizeof *full);
    size_t *lens = xmalloc((n ? n : 1) * sizeof *lens);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        memset(&out[i], 0, sizeof out[i]);
        rc = key_make(s, keys[i], klens[i], &fk[i]);
        full[i] = fk[i].buf;
        lens[i] = fk[i].len;
    }
    if (rc == 0 && s->ops->get_many) {
        rc = s->ops->get_many(s->impl, full, lens, n, out, rcs);
    } else {
        for (size_t i = 0; i < n && rc == 0; i++) {
            rcs[i] = s->ops->get(s->impl, full[i], lens[i], &out[i]);
            if (rcs[i] && rcs[i] != RAGD_ENOTFOUND) {
                rc = rcs[i];
                for (size_t k = 0; k < i; k++)
                    store_value_free(&out[k]);
            }
        }
    }
    free(lens);
    free(full);
    free(fk);
    return rc;
}

int store_exists(store_t *s, const char *key, size_t klen)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    return rc ? rc : store__note(&s->errs, s->ops->exists(s->impl, fk.buf, fk.len), false);
}

int store_set(store_t *s, const char *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms, unsigned flags)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    if (rc)
        return rc;
    if (ttl_ms < 0 || (!val && vlen) || (flags & ~(STORE_EVICTABLE | STORE_NX)))
        return RAGD_EINVAL;
    rc = s->ops->set(s->impl, fk.buf, fk.len, val ? val : "", vlen, ttl_ms, flags);
    return store__note(&s->errs, rc, true);
}

int store_del(store_t *s, const char *key, size_t klen)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    return rc ? rc : store__note(&s->errs, s->ops->del(s->impl, fk.buf, fk.len), true);
}

int store_ttl(store_t *s, const char *key, size_t klen, int64_t *ttl_ms)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    return rc ? rc : store__note(&s->errs, s->ops->ttl(s->impl, fk.buf, fk.len, ttl_ms), false);
}

int store_expire(store_t *s, const char *key, size_t klen, int64_t ttl_ms)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    if (rc)
        return rc;
    if (ttl_ms < 0)
        return RAGD_EINVAL;
    return store__note(&s->errs, s->ops->expire(s->impl, fk.buf, fk.len, ttl_ms), true);
}

int store_incr(store_t *s, const char *key, size_t klen, int64_t delta, int64_t ttl_ms,
               int64_t *out)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    if (rc)
        return rc;
    if (ttl_ms < 0 || !out)
        return RAGD_EINVAL;
    rc = s->ops->incr(s->impl, fk.buf, fk.len, delta, ttl_ms, out);
    return store__note(&s->errs, rc, true);
}

int store_cas(store_t *s, const char *key, size_t klen, const void *expect, size_t elen,
              const void *val, size_t vlen, int64_t ttl_ms, unsigned flags)
{
    fullkey fk;
    int rc = key_make(s, key, klen, &fk);
    if (rc)
        return rc;
    if (ttl_ms < 0 || (flags & ~STORE_EVICTABLE) || (!expect && elen) || (!val && vlen))
        return RAGD_EINVAL;
    if (expect && !elen)
        expect = "";
    if (val && !vlen)
        val = "";
    rc = s->ops->cas(s->impl, fk.buf, fk.len, expect, elen, val, vlen, ttl_ms, flags);
    return store__note(&s->errs, rc, true);
}

/* Wraps a scan callback to hide the global prefix from the caller. */
typedef struct scan_strip {
    store_scan_fn fn;
    void *ud;
    size_t cut;
} scan_strip;

static int scan_strip_cb(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    scan_strip *st = ud;
    if (klen <= st->cut)
        return 0;
    return st->fn(st->ud, key + st->cut, klen - st->cut, val, vlen);
}

int store_scan(store_t *s, const char *prefix, size_t plen, bool with_values,
               store_scan_fn fn, void *ud)
{
    if (!fn || (!prefix && plen))
        return RAGD_EINVAL;
    if (plen > STORE_KEY_MAX)
        return RAGD_ETOOBIG;
    fullkey fk;
    memcpy(fk.buf, s->prefix, s->prefix_len);
    if (plen)
        memcpy(fk.buf + s->prefix_len, prefix, plen);
    fk.len = s->prefix_len + plen;
    scan_strip st = { fn, ud, s->prefix_len };
    int rc = s->ops->scan(s->impl, fk.buf, fk.len, with_values, scan_strip_cb, &st);
    return store__note(&s->errs, rc, false);
}

int store_del_pattern(store_t *s, const char *pattern, uint64_t *deleted)
{
    size_t n = pattern ? strlen(pattern) : 0;
    if (n == 0)
        return RAGD_EINVAL;
    if (n > 4 * STORE_KEY_MAX)
        return RAGD_ETOOBIG;
    char *full = xmalloc(2 * s->prefix_len + n + 1);
    size_t len = store__glob_escape(s->prefix, s->prefix_len, full);
    memcpy(full + len, pattern, n);
    len += n;
    uint64_t cnt = 0;
    int rc = store__note(&s->errs, s->ops->del_pattern(s->impl, full, len, &cnt), true);
    free(full);
    if (deleted)
        *deleted = cnt;
    return rc;
}

int store_batch(store_t *s, const store_op *ops, size_t n)
{
    if (n == 0)
        return 0;
    return store_batch_log(s, ops, n, NULL, NULL, 0, NULL);
}

int store_batch_log(store_t *s, const store_op *ops, size_t n, const char *log,
                    const void *rec, size_t len, uint64_t *seq)
{
    return store_batch_log_if(s, NULL, 0, ops, n, log, rec, len, seq, NULL);
}

/* Full keys of checks into full/keys; RAGD_EINVAL for a malformed check. */
static int checks_make(const store_t *s, const store_check *checks, size_t nc, store_check *full,
                       fullkey *keys)
{
    for (size_t i = 0; i < nc; i++) {
        const store_check *c = &checks[i];
        int rc = key_make(s, c->key, c->klen, &keys[i]);
        if (rc)
            return rc;
        if (c->kind < STORE_CHECK_MISSING || c->kind > STORE_CHECK_EQUAL ||
            (c->kind == STORE_CHECK_EQUAL && !c->val && c->vlen))
            return RAGD_EINVAL;
        full[i] = *c;
        full[i].key = keys[i].buf;
        full[i].klen = keys[i].len;
    }
    return 0;
}

int store_batch_log_if(store_t *s, const store_check *checks, size_t nc, const store_op *ops,
                       size_t n, const char *log, const void *rec, size_t len, uint64_t *seq,
                       size_t *failed)
{
    if ((!ops && n) || (!rec && len) || (!checks && nc))
        return RAGD_EINVAL;
    if (n == 0 && !log)
        return 0;
    fullkey lk;
    if (log) {
        int lrc = log_make(s, log, &lk);
        if (lrc)
            return lrc;
    }
    uint64_t tmp = 0;
    size_t ftmp = 0;
    store_op *full = xcalloc(n ? n : 1, sizeof *full);
    fullkey *keys = xmalloc((n + nc ? n + nc : 1) * sizeof *keys);
    store_check *cfull = xcalloc(nc ? nc : 1, sizeof *cfull);
    int rc = checks_make(s, checks, nc, cfull, keys + n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = key_make(s, ops[i].key, ops[i].klen, &keys[i]);
        if (rc == 0 && (ops[i].ttl_ms < 0 || (ops[i].flags & ~STORE_EVICTABLE) ||
                        (!ops[i].val && ops[i].vlen)))
            rc = RAGD_EINVAL; /* STORE_NX has no all-or-nothing meaning in a batch */
        full[i] = ops[i];
        full[i].key = keys[i].buf;
        full[i].klen = keys[i].len;
    }
    if (rc == 0) {
        rc = s->ops->batch(s->impl, cfull, nc, failed ? failed : &ftmp, full, n,
                           log ? lk.buf : NULL, log ? lk.len : 0, rec ? rec : "", len,
                           seq ? seq : &tmp);
        /* a failed check is an answer, not a store error */
        if (rc != RAGD_ECONFLICT)
            rc = store__note(&s->errs, rc, true);
    }
    if (rc == 0 && log)
        store__log_notify(s);
    free(cfull);
    free(keys);
    free(full);
    return rc;
}

int store_log_append(store_t *s, const char *log, const void *rec, size_t len, uint64_t *seq)
{
    fullkey fk;
    int rc = log_make(s, log, &fk);
    if (rc)
        return rc;
    if (!rec && len)
        return RAGD_EINVAL;
    uint64_t tmp;
    rc = s->ops->log_append(s->impl, fk.buf, fk.len, rec ? rec : "", len, seq ? seq : &tmp);
    if (rc == 0)
        store__log_notify(s);
    return store__note(&s->errs, rc, true);
}

int store_log_read(store_t *s, const char *log, uint64_t after_seq, store_log_fn fn, void *ud)
{
    fullkey fk;
    int rc = log_make(s, log, &fk);
    if (rc)
        return rc;
    if (!fn)
        return RAGD_EINVAL;
    rc = s->ops->log_read(s->impl, fk.buf, fk.len, after_seq, fn, ud);
    return store__note(&s->errs, rc, false);
}

/* store_log_wait's state for one call: the caller's callback and how much of
 * the current log it has been given. */
typedef struct store__wait {
    store_log_multi_fn fn;
    void *ud;
    size_t idx, got, total;
    bool stop;
} store__wait;

static int store__wait_one(void *ud, uint64_t seq, const void *rec, size_t len)
{
    store__wait *w = ud;
    if (w->fn(w->ud, w->idx, seq, rec, len) != 0) {
        w->stop = true;
        return 1;
    }
    w->total++;
    return ++w->got >= STORE_LOG_WAIT_MAX;
}

/* The in-process wait: read every log; when nothing came, sleep until a
 * record is appended through s (log_gen moves) or the deadline passes. */
static int store__wait_local(store_t *s, const char *const *logs, const size_t *lens,
                             const uint64_t *after, size_t n, int timeout_ms,
                             store_log_multi_fn fn, void *ud)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t deadline_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec +
                          (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000LL;
    for (;;) {
        pthread_mutex_lock(&s->log_mu);
        uint64_t gen = s->log_gen;
        pthread_mutex_unlock(&s->log_mu);
        store__wait w = { fn, ud, 0, 0, 0, false };
        for (size_t i = 0; i < n && !w.stop; i++) {
            w.idx = i;
            w.got = 0;
            int rc = s->ops->log_read(s->impl, logs[i], lens[i], after[i], store__wait_one, &w);
            if (rc)
                return rc;
        }
        if (w.total || w.stop)
            return 0;
        struct timespec dl = { (time_t)(deadline_ns / 1000000000LL),
                               (long)(deadline_ns % 1000000000LL) };
        bool timed_out = false;
        pthread_mutex_lock(&s->log_mu);
        while (s->log_gen == gen && !timed_out)
            timed_out = pthread_cond_timedwait(&s->log_cv, &s->log_mu, &dl) == ETIMEDOUT;
        pthread_mutex_unlock(&s->log_mu);
        if (timed_out)
            return 0;
    }
}

int store_log_wait(store_t *s, const char *const *logs, const uint64_t *after, size_t n,
                   int timeout_ms, store_log_multi_fn fn, void *ud)
{
    if (!logs || !after || n == 0 || !fn)
        return RAGD_EINVAL;
    fullkey *fk = xmalloc(n * sizeof *fk);
    const char **names = xmalloc(n * sizeof *names);
    size_t *lens = xmalloc(n * sizeof *lens);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = log_make(s, logs[i], &fk[i]);
        names[i] = fk[i].buf;
        lens[i] = fk[i].len;
    }
    if (rc == 0)
        rc = s->ops->log_wait
                 ? s->ops->log_wait(s->impl, names, lens, after, n, timeout_ms, fn, ud)
                 : store__wait_local(s, names, lens, after, n, timeout_ms, fn, ud);
    free(lens);
    free(names);
    free(fk);
    return rc;
}

int store_log_delete(store_t *s, const char *log)
{
    fullkey fk;
    int rc = log_make(s, log, &fk);
    return rc ? rc : store__note(&s->errs, s->ops->log_delete(s->impl, fk.buf, fk.len), true);
}

int store_log_trim(store_t *s, const char *log, uint64_t keep)
{
    fullkey fk;
    int rc = log_make(s, log, &fk);
    if (rc)
        return rc;
    return keep == 0 ? RAGD_EINVAL : s->ops->log_trim(s->impl, fk.buf, fk.len, keep);
}

int store_log_bounds(store_t *s, const char *log, uint64_t *first, uint64_t *last)
{
    fullkey fk;
    int rc = log_make(s, log, &fk);
    if (rc)
        return rc;
    if (!first || !last)
        return RAGD_EINVAL;
    *first = *last = 0;
    rc = s->ops->log_bounds(s->impl, fk.buf, fk.len, first, last);
    return store__note(&s->errs, rc, false);
}

int store_get_stats(store_t *s, store_stats *out)
{
    if (!out)
        return RAGD_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = s->ops->stats(s->impl, out);
    store__errs_counts(&s->errs, out->errors_by_kind, &out->errors);
    return rc;
}

bool store_refusing_writes(store_t *s, char *reason, size_t cap)
{
    return store__errs_refusing(&s->errs, reason, cap);
}
