/*
 * repl.h - followers of the store's change logs (docs/ARCHITECTURE.md,
 * "Replication"). One thread per repl_t waits on every followed log at once
 * (store_log_wait: XREAD BLOCK on Redis) and hands the new records, in order
 * per log, to the callback its follower registered: one call per record, or
 * one per batch (every record one wait returned, up to a bound). It records the last
 * applied seq per log, notices records lost to trimming or a log that went
 * back (deleted, Redis flushed) and counts lag, for /health and /metrics.
 * The records' format is the caller's: repl only moves them.
 */
#ifndef RAGD_REPL_H
#define RAGD_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct repl repl_t;

typedef struct repl_opts {
    store_t *store;      /* borrowed; must outlive the repl */
    int wait_ms;         /* longest block of one wait (default 250): a log followed
                            meanwhile joins the wait after at most this long */
    int check_every_ms;  /* how often each log's bounds are re-read for lag and
                            lost records (default 1000) */
    int retry_ms;        /* pause after a failed wait or apply (default 100) */
} repl_opts;

void repl_opts_default(repl_opts *o);

/* Start the follower thread. Caller owns *out: repl_destroy() it (which joins
 * the thread; no callback runs after it returns). */
int repl_create(const repl_opts *o, repl_t **out);
void repl_destroy(repl_t *r);

/* Records were lost to the follower of log: the log was trimmed past its
 * position (first > applied + 1), or it holds less than was applied (last <
 * applied: deleted, re-created, or the store lost its data). The consumer
 * rebuilds what it keeps from the store and sets *resume to the seq to go on
 * after (usually last, read before the rebuild). Return 0 when done, non-zero
 * to be asked again after retry_ms. Runs on the follower thread. */
typedef int (*repl_gap_fn)(void *ud, const char *log, uint64_t applied, uint64_t first,
                           uint64_t last, uint64_t *resume);

/* Follow log from the record after from_seq (0 = from the start): apply(ud,
 * seq, rec, len) is called on the follower thread once per record in seq
 * order. apply returns 0 when applied; non-zero leaves the record unapplied
 * and it is offered again after retry_ms. Without a gap function, lost records
 * are skipped (logged once: trimmed -> go on from first-1, went back -> from 0).
 * RAGD_EEXISTS if log is already followed. Thread-safe; may be called from an
 * apply or gap callback. */
int repl_follow(repl_t *r, const char *log, store_log_fn apply, void *ud, uint64_t from_seq);
int repl_follow_gap(repl_t *r, const char *log, store_log_fn apply, repl_gap_fn gap, void *ud,
                    uint64_t from_seq);

/* One record of a batch: borrowed, valid during the batch callback. */
typedef struct repl_rec {
    uint64_t seq;
    const void *data;
    size_t len;
} repl_rec;

/* A batch holds the records one store_log_wait returned for its log (at most
 * STORE_LOG_WAIT_MAX), cut earlier once it holds REPL_BATCH_BYTES of records
 * or before records lost to trimming (the gap callback runs between). */
#define REPL_BATCH_BYTES (4u << 20)

/* Apply recs[0..n) (n >= 1, consecutive seqs after the follower's position,
 * in order). 0: all applied, the position moves to recs[n-1].seq; non-zero:
 * none counts as applied and the records are offered again (from the first)
 * after retry_ms, so applying a record twice must be harmless. Runs on the
 * follower thread. */
typedef int (*repl_batch_fn)(void *ud, const repl_rec *recs, size_t n);

/* repl_follow_gap with a batch callback: for a consumer whose cost per record
 * falls when records come together (one store read for all, one index pass).
 * Same rules otherwise. */
int repl_follow_batch(repl_t *r, const char *log, repl_batch_fn apply, repl_gap_fn gap, void *ud,
                      uint64_t from_seq);

/* Run fn(ud) on the follower thread every check_every_ms (at most
 * REPL_TICKS_MAX), e.g. to notice that the store was replaced. Register before
 * anything may call it; fn runs with the callback lock held, like an apply.
 * RAGD_EFULL when all slots are taken. */
#define REPL_TICKS_MAX 4
typedef void (*repl_tick_fn)(void *ud);
int repl_tick_add(repl_t *r, repl_tick_fn fn, void *ud);

/* Stop following log; once it returns, its callbacks are never called again
 * (from another thread it waits for a running one to finish). RAGD_ENOTFOUND
 * if not followed. Thread-safe; may be called from a callback. */
int repl_unfollow(repl_t *r, const char *log);

/* repl_unfollow that never waits: no callback of log starts after it returns,
 * but one running on the follower thread may still finish, so ud must stay
 * valid until repl_destroy. For callers that hold locks a callback may need. */
int repl_unfollow_nowait(repl_t *r, const char *log);

/* Remove a tick added by repl_tick_add (waits out a running one unless called
 * from a callback). RAGD_ENOTFOUND if not registered. */
int repl_tick_remove(repl_t *r, repl_tick_fn fn, void *ud);

/* The last applied seq of a followed log. RAGD_ENOTFOUND if not followed. */
int repl_applied(repl_t *r, const char *log, uint64_t *seq);

/* Make the follower of log treat seq as applied (records up to seq are then
 * skipped): for a writer that applied its own record already, or after a
 * rebuild done outside a gap callback. Never moves the position backwards. */
int repl_mark_applied(repl_t *r, const char *log, uint64_t seq);

/* One followed log as /health shows it. lag_entries: records in the log (as of
 * the last wait or bounds check) not applied yet; lag_ms: how long the
 * follower has known of records it has not applied (0 when caught up). */
typedef struct repl_log_info {
    char log[STORE_KEY_BUF];
    uint64_t applied_seq;
    uint64_t last_seq;
    uint64_t lag_entries;
    int64_t lag_ms;
    uint64_t applied;     /* records applied since repl_follow */
} repl_log_info;

/* The whole follower, summarised. */
typedef struct repl_info {
    size_t logs;              /* logs followed */
    uint64_t max_lag_entries;
    int64_t max_lag_ms;
    uint64_t applied_total;   /* records applied since start */
    uint64_t gaps_total;      /* lost-record events (trimmed or went back) */
    uint64_t errors_total;    /* failed waits and applies */
    bool connected;           /* the last wait reached the store */
} repl_info;

/* Thread-safe snapshots. repl_logs_get fills up to cap entries (log name
 * order unspecified) and returns how many logs are followed. */
void repl_info_get(repl_t *r, repl_info *out);
size_t repl_logs_get(repl_t *r, repl_log_info *out, size_t cap);

#endif
