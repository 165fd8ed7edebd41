/*
 * store_lmdb.c - the embedded LMDB backend: opening the environment, the read
 * path and stats. Reads run in read-only transactions taken from a pool of reset
 * transactions (MDB_NOTLS, mdb_txn_renew), so a hit costs one B-tree lookup and
 * no lock beyond a short mutex; reads record their access time in an in-memory
 * table (never a write transaction) that the eviction sampler consults.
 * Transactions, lookups and eviction live in store_lmdb_txn.c, writes in
 * store_lmdb_write.c (retried on a full map by store_lmdb_grow.c, which grows
 * it through store_lmdb_map.c), the maintenance thread in store_lmdb_sweep.c.
 */
#include "store/store_lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/clock.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/mem.h"

#define LM_MAX_READERS 1024

/* Directories open in this process: LMDB must not open one environment twice in
 * a process (its POSIX locks would be released by the second close). */
typedef struct lm_open_dir {
    dev_t dev;
    ino_t ino;
    struct lm_open_dir *next;
} lm_open_dir;
static pthread_mutex_t open_dirs_mu = PTHREAD_MUTEX_INITIALIZER;
static lm_open_dir *open_dirs;

static bool open_dirs_add(const struct stat *st)
{
    bool ok = true;
    pthread_mutex_lock(&open_dirs_mu);
    for (lm_open_dir *d = open_dirs; d && ok; d = d->next)
        ok = !(d->dev == st->st_dev && d->ino == st->st_ino);
    if (ok) {
        lm_open_dir *d = xmalloc(sizeof *d);
        d->dev = st->st_dev;
        d->ino = st->st_ino;
        d->next = open_dirs;
        open_dirs = d;
    }
    pthread_mutex_unlock(&open_dirs_mu);
    return ok;
}

static void open_dirs_remove(dev_t dev, ino_t ino)
{
    pthread_mutex_lock(&open_dirs_mu);
    for (lm_open_dir **pp = &open_dirs; *pp; pp = &(*pp)->next) {
        if ((*pp)->dev == dev && (*pp)->ino == ino) {
            lm_open_dir *d = *pp;
            *pp = d->next;
            free(d);
            break;
        }
    }
    pthread_mutex_unlock(&open_dirs_mu);
}

static int lm_ping(void *impl)
{
    lm_store *s = impl;
    return atomic_load(&s->full) ? RAGD_EFULL : 0;
}

/* Read a live entry; fn gets it while the read txn is open. */
static int lm_read(lm_store *s, const char *key, size_t klen,
                   int (*fn)(void *ud, const lm_hdr *h, const void *v, size_t n), void *ud)
{
    MDB_txn *txn;
    int rc = lm__rtxn_get(s, &txn);
    if (rc)
        return rc;
    lm_hdr h;
    const void *v;
    size_t n;
    int64_t now = clock_wall_ms();
    rc = lm__lookup(s, txn, key, klen, &h, &v, &n);
    if (rc == 0 && lm__expired(&h, now))
        rc = RAGD_ENOTFOUND; /* lazy expiry: the sweeper or next write removes it */
    if (rc == 0)
        rc = fn(ud, &h, v, n);
    lm__rtxn_put(s, txn);
    if (rc == 0 && (h.flags & STORE_EVICTABLE))
        lm__touch(s, key, klen, now);
    return rc;
}

static int get_copy(void *ud, const lm_hdr *h, const void *v, size_t n)
{
    store_value *out = ud;
    void *buf = malloc(n ? n : 1);
    if (!buf)
        return RAGD_ENOMEM;
    memcpy(buf, v, n);
    out->data = buf;
    out->len = n;
    out->expire_at_ms = h->expire_at_ms;
    return 0;
}

static int lm_get(void *impl, const char *key, size_t klen, store_value *out)
{
    store_value tmp;
    int rc = lm_read(impl, key, klen, get_copy, &tmp);
    if (rc == 0)
        *out = tmp;
    return rc;
}

static int read_none(void *ud, const lm_hdr *h, const void *v, size_t n)
{
    (void)ud, (void)h, (void)v, (void)n;
    return 0;
}

static int lm_exists(void *impl, const char *key, size_t klen)
{
    return lm_read(impl, key, klen, read_none, NULL);
}

static int read_ttl(void *ud, const lm_hdr *h, const void *v, size_t n)
{
    (void)v, (void)n;
    int64_t *ttl = ud;
    if (h->expire_at_ms == 0) {
        *ttl = -1;
    } else {
        int64_t left = h->expire_at_ms - clock_wall_ms();
        *ttl = left > 0 ? left : 1;
    }
    return 0;
}

static int lm_ttl(void *impl, const char *key, size_t klen, int64_t *ttl_ms)
{
    int64_t t;
    int rc = lm_read(impl, key, klen, read_ttl, &t);
    if (rc == 0)
        *ttl_ms = t;
    return rc;
}

static int lm_scan(void *impl, const char *prefix, size_t plen, bool with_values,
                   store_scan_fn fn, void *ud)
{
    lm_store *s = impl;
    MDB_txn *txn;
    int rc = lm__rtxn_get(s, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->kv, &cur);
    if (rc) {
        lm__rtxn_put(s, txn);
        return lm__err(s, rc);
    }
    int64_t now = clock_wall_ms();
    MDB_val k = { plen, (void *)prefix }, d;
    int mrc = plen ? mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE)
                   : mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    while (mrc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        lm_hdr h;
        if (d.mv_size >= LM_HDR_SIZE) {
            memcpy(&h, d.mv_data, LM_HDR_SIZE);
            if (!lm__expired(&h, now)) {
                const char *v = with_values ? (const char *)d.mv_data + LM_HDR_SIZE : NULL;
                size_t vn = with_values ? d.mv_size - LM_HDR_SIZE : 0;
                if (fn(ud, k.mv_data, k.mv_size, v, vn) != 0)
                    break;
            }
        }
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = lm__err(s, mrc);
    mdb_cursor_close(cur);
    lm__rtxn_put(s, txn);
    return rc;
}

static int lm_stats(void *impl, store_stats *out)
{
    lm_store *s = impl;
    MDB_txn *txn;
    int rc = lm__rtxn_get(s, &txn);
    if (rc)
        return rc;
    MDB_stat st;
    rc = mdb_stat(txn, s->kv, &st);
    lm__rtxn_put(s, txn);
    if (rc)
        return lm__err(s, rc);
    out->keys = st.ms_entries;
    out->bytes_used = atomic_load(&s->acct_bytes);
    out->max_bytes = s->max_bytes;
    out->evictions = atomic_load(&s->evictions);
    out->expired = atomic_load(&s->expired);
    out->errors = atomic_load(&s->errors);
    out->reconnects = 0;
    out->map_bytes = atomic_load(&s->map_size);
    out->available = true;
    out->full = atomic_load(&s->full);
    return 0;
}

static void lm_close(void *impl)
{
    lm_store *s = impl;
    lm__maint_stop(s);
    for (size_t i = 0; i < s->rpool_n; i++)
        mdb_txn_abort(s->rpool[i]);
    free(s->rpool);
    if (s->fsync_policy != STORE_FSYNC_NO)
        mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
    pthread_mutex_destroy(&s->rpool_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    lm__map_deinit(s);
    free(s->access);
    open_dirs_remove(s->dir_dev, s->dir_ino);
    close(s->lock_fd);
    free(s);
}

/* LMDB is one host's file: two ragd processes on one directory would each keep
 * their own in-memory indexes over it and drift. The first process holds an
 * exclusive flock on <dir>/ragd.lock (released by the kernel when it dies);
 * another one is refused. Returns the fd or -1 with err set. */
static int lm_lock_dir(const char *dir, int *code, ragd_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ragd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        *code = ragd_error_set(err, RAGD_EIO, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            *code = ragd_error_set(err, RAGD_EEXISTS,
                           "data directory %s is in use by another ragd process; the "
                           "embedded store serves one process (share data through Redis)",
                           dir);
        else
            *code = ragd_error_set(err, RAGD_EIO, "cannot lock %s: %s", path, strerror(e));
        return -1;
    }
    return fd;
}

static const store_ops lmdb_ops = {
    .name = "lmdb",
    .close = lm_close,
    .ping = lm_ping,
    .get = lm_get,
    .exists = lm_exists,
    .set = lm__g_set,
    .del = lm__g_del,
    .ttl = lm_ttl,
    .expire = lm__g_expire,
    .incr = lm__g_incr,
    .cas = lm__g_cas,
    .scan = lm_scan,
    .del_pattern = lm__g_del_pattern,
    .batch = lm__g_batch,
    .log_append = lm__g_log_append,
    .log_read = lm__log_read,
    .log_delete = lm__g_log_delete,
    .log_bounds = lm__log_bounds,
    .log_trim = lm__log_trim,
    .stats = lm_stats,
    .ratelimit = lm__g_ratelimit,
};

/* Open the named databases and load the accounting record. */
static int lm_open_dbs(lm_store *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &s->kv)) ||
        (rc = mdb_dbi_open(txn, "exp", MDB_CREATE, &s->exp)) ||
        (rc = mdb_dbi_open(txn, "evx", MDB_CREATE, &s->evx)) ||
        (rc = mdb_dbi_open(txn, "logs", MDB_CREATE, &s->logs)) ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta))) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k = { 4, "acct" }, d;
    lm_acct acct = { 0, 0 };
    if (mdb_get(txn, s->meta, &k, &d) == 0 && d.mv_size == sizeof acct)
        memcpy(&acct, d.mv_data, sizeof acct);
    atomic_store(&s->acct_bytes, acct.bytes);
    atomic_store(&s->acct_evict_bytes, acct.evict_bytes);
    return mdb_txn_commit(txn);
}

int store_lmdb_open(const store_config *cfg, const store_ops **ops, void **impl,
                    ragd_error *err)
{
    const char *dir = cfg->data_dir;
    if (!dir || !*dir)
        return ragd_error_set(err, RAGD_EINVAL, "LMDB store needs a data directory");
    if (cfg->fsync_policy < STORE_FSYNC_ALWAYS || cfg->fsync_policy > STORE_FSYNC_NO)
        return ragd_error_set(err, RAGD_EINVAL, "fsync policy must be always|everysec|no");
    if (file_mkdirs(dir) != 0)
        return ragd_error_set(err, RAGD_EIO, "cannot create data directory %s: %s", dir,
                              strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ragd_error_set(err, RAGD_EIO, "data directory %s is not a directory", dir);
    if (!open_dirs_add(&st))
        return ragd_error_set(err, RAGD_EEXISTS, "data directory %s is already open", dir);
    int code = 0, lock_fd = lm_lock_dir(dir, &code, err);
    if (lock_fd < 0) {
        open_dirs_remove(st.st_dev, st.st_ino);
        return code;
    }
    lm_store *s = xcalloc(1, sizeof *s);
    s->lock_fd = lock_fd;
    s->dir_dev = st.st_dev;
    s->dir_ino = st.st_ino;
    s->fsync_policy = cfg->fsync_policy;
    s->max_bytes = cfg->max_bytes;
    s->log_keep = cfg->log_keep ? cfg->log_keep : STORE_LOG_KEEP;
    s->sweep_interval_ms = cfg->sweep_interval_ms ? cfg->sweep_interval_ms : 1000;
    s->access = xcalloc(LM_ACCESS_SLOTS, sizeof *s->access);
    pthread_mutex_init(&s->rpool_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);

    unsigned flags = MDB_NOTLS | (s->fsync_policy == STORE_FSYNC_ALWAYS ? 0 : MDB_NOSYNC);
    size_t map = cfg->map_size ? cfg->map_size : (8ull << 30);
    int rc = lm__map_init(s, map, cfg->map_max);
    if (rc == 0)
        rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 8);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env, LM_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, map);
    if (rc == 0)
        rc = mdb_env_open(s->env, dir, flags, 0644);
    if (rc == 0) {
        int dead;
        mdb_reader_check(s->env, &dead); /* free slots of killed processes */
        rc = lm_open_dbs(s);
        MDB_envinfo info;
        if (rc == 0 && mdb_env_info(s->env, &info) == 0) /* LMDB keeps >= the used size */
            atomic_store(&s->map_size, (uint64_t)info.me_mapsize);
    }
    if (rc == 0 && lm__maint_start(s) != 0)
        rc = EAGAIN;
    if (rc != 0) {
        ragd_error_set(err, RAGD_EIO, "LMDB open %s: %s", dir, mdb_strerror(rc));
        if (s->env)
            mdb_env_close(s->env);
        pthread_mutex_destroy(&s->rpool_mu);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        lm__map_deinit(s);
        free(s->access);
        free(s);
        open_dirs_remove(st.st_dev, st.st_ino);
        close(lock_fd);
        return RAGD_EIO;
    }
    *ops = &lmdb_ops;
    *impl = s;
    return 0;
}
