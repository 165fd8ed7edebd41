/*
 * store_errs.c - store failures that show. Every store error that is not a
 * miss is classified (from the backend's own text when it has one, e.g. a
 * Redis error reply, else from the RAGD_E* code), counted per kind, and logged
 * at most once per kind every 10 s with the number of lines held back. A
 * write refused with READONLY, MASTERDOWN or OOM makes the store "refusing
 * writes" (for /health) until a write succeeds or 30 s pass without another.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "obs/log.h"
#include "store/store_int.h"
#include "util/clock.h"

#define STORE_ERRS_LOG_EVERY_US (10 * 1000000LL)
#define STORE_ERRS_REFUSE_US (30 * 1000000LL)

/* The detail of the last backend error on this thread, taken by store__note. */
static _Thread_local struct {
    int kind; /* -1 = none */
    char text[160];
} errs__detail = { -1, "" };

const char *store_err_kind_name(int kind)
{
    static const char *const names[STORE_ERRK_N] = {
        [STORE_ERRK_UNAVAILABLE] = "unavailable", [STORE_ERRK_TIMEOUT] = "timeout",
        [STORE_ERRK_READONLY] = "readonly",       [STORE_ERRK_MASTERDOWN] = "masterdown",
        [STORE_ERRK_MOVED] = "moved",             [STORE_ERRK_OOM] = "oom",
        [STORE_ERRK_FULL] = "full",               [STORE_ERRK_NOT_DURABLE] = "not_durable",
        [STORE_ERRK_IO] = "io",                   [STORE_ERRK_OTHER] = "other",
    };
    return kind >= 0 && kind < STORE_ERRK_N ? names[kind] : "?";
}

int store__err_classify(const char *text, size_t len)
{
    static const struct {
        const char *prefix;
        int kind;
    } map[] = {
        { "READONLY", STORE_ERRK_READONLY },  { "MASTERDOWN", STORE_ERRK_MASTERDOWN },
        { "OOM", STORE_ERRK_OOM },            { "MOVED", STORE_ERRK_MOVED },
        { "ASK", STORE_ERRK_MOVED },          { "TRYAGAIN", STORE_ERRK_MOVED },
        { "CLUSTERDOWN", STORE_ERRK_MOVED },  { "CROSSSLOT", STORE_ERRK_MOVED },
        { "LOADING", STORE_ERRK_UNAVAILABLE }, { "BUSY", STORE_ERRK_UNAVAILABLE },
        { "NOAUTH", STORE_ERRK_UNAVAILABLE },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i].prefix);
        if (len >= n && memcmp(text, map[i].prefix, n) == 0 && (len == n || text[n] == ' '))
            return map[i].kind;
    }
    return STORE_ERRK_OTHER;
}

void store__err_detail(int kind, const char *text, size_t len)
{
    errs__detail.kind = kind;
    snprintf(errs__detail.text, sizeof errs__detail.text, "%.*s",
             (int)(len < sizeof errs__detail.text ? len : sizeof errs__detail.text - 1), text);
}

/* The kind of a failure without a backend detail; -1 = not an error. */
static int errs__kind_of(int rc)
{
    switch (rc) {
    case RAGD_EUNAVAIL: return STORE_ERRK_UNAVAILABLE;
    case RAGD_ETIMEOUT: return STORE_ERRK_TIMEOUT;
    case RAGD_EFULL: return STORE_ERRK_FULL;
    case RAGD_EIO: return STORE_ERRK_IO;
    case RAGD_ENOTDURABLE: return STORE_ERRK_NOT_DURABLE;
    case RAGD_ENOMEM:
    case RAGD_EINTERNAL: return STORE_ERRK_OTHER;
    default: return -1;
    }
}

static bool errs__refusal(int kind)
{
    return kind == STORE_ERRK_READONLY || kind == STORE_ERRK_MASTERDOWN ||
           kind == STORE_ERRK_OOM;
}

/* One log line per kind per 10 s, with the count of lines held back. */
static void errs__log(store_errs *e, int kind, const char *text)
{
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&e->mu);
    bool due = now - e->logged_at_us[kind] >= STORE_ERRS_LOG_EVERY_US || !e->logged_at_us[kind];
    uint64_t held = e->held[kind];
    if (due) {
        e->logged_at_us[kind] = now;
        e->held[kind] = 0;
    } else {
        e->held[kind]++;
    }
    pthread_mutex_unlock(&e->mu);
    if (due)
        log_msg(LOG_WARN, "store error kind=%s: %s (%llu more since the last line)",
                store_err_kind_name(kind), text, (unsigned long long)held);
}

int store__note(store_errs *e, int rc, bool write)
{
    int kind = errs__detail.kind;
    char text[sizeof errs__detail.text];
    memcpy(text, errs__detail.text, sizeof text);
    errs__detail.kind = -1;
    if (kind < 0 || rc == 0) {
        kind = errs__kind_of(rc);
        snprintf(text, sizeof text, "%s", ragd_strerror(rc));
    }
    if (kind < 0) {
        if (rc == 0 && write && atomic_load_explicit(&e->refusing, memory_order_relaxed))
            atomic_store(&e->refusing, false);
        return rc;
    }
    atomic_fetch_add_explicit(&e->count[kind], 1, memory_order_relaxed);
    errs__log(e, kind, text);
    if (errs__refusal(kind)) {
        pthread_mutex_lock(&e->mu);
        snprintf(e->reason, sizeof e->reason, "%s", text);
        e->refused_at_us = clock_mono_us();
        pthread_mutex_unlock(&e->mu);
        atomic_store(&e->refusing, true);
    }
    return rc;
}

bool store__errs_refusing(store_errs *e, char *reason, size_t cap)
{
    if (!atomic_load(&e->refusing))
        return false;
    pthread_mutex_lock(&e->mu);
    bool on = clock_mono_us() - e->refused_at_us < STORE_ERRS_REFUSE_US;
    if (on && reason && cap)
        snprintf(reason, cap, "%s", e->reason);
    pthread_mutex_unlock(&e->mu);
    return on;
}

void store__errs_counts(store_errs *e, uint64_t *by_kind, uint64_t *total)
{
    *total = 0;
    for (int k = 0; k < STORE_ERRK_N; k++) {
        by_kind[k] = atomic_load_explicit(&e->count[k], memory_order_relaxed);
        *total += by_kind[k];
    }
}

void store__errs_init(store_errs *e)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
}

void store__errs_deinit(store_errs *e)
{
    pthread_mutex_destroy(&e->mu);
}
