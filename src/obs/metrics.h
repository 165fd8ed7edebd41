/*
 * metrics.h - lock-free counters and latency histograms rendered in the
 * Prometheus text format. Each subsystem owns its metrics and renders them
 * into the /metrics body through these helpers.
 */
#ifndef RAGD_METRICS_H
#define RAGD_METRICS_H

#include <stdint.h>

#include "util/buf.h"

#define METRICS_NBUCKETS 16

/* A latency histogram in microseconds; zero-initialised is valid. Every
 * field is only touched atomically (metrics_hist_observe, metrics_load). */
typedef struct metrics_hist {
    uint64_t buckets[METRICS_NBUCKETS]; /* cumulative on render, per-bucket here */
    uint64_t count;
    uint64_t sum_us;
} metrics_hist;

/* Record one observation. Thread-safe (atomic adds). */
void metrics_hist_observe(metrics_hist *h, int64_t us);

/* Upper bounds in seconds of the buckets (the last is +Inf): 50 us to 5 s,
 * for work inside ragd. */
extern const double metrics_bucket_bounds[METRICS_NBUCKETS];
/* 10 ms to 5 min, for calls to LLM providers (upstream latency, time to
 * first token). A histogram is observed and rendered with one set only. */
extern const double metrics_bucket_bounds_slow[METRICS_NBUCKETS];

/* metrics_hist_observe and metrics_hist_render with other bucket bounds. */
void metrics_hist_observe_in(metrics_hist *h, int64_t us, const double *bounds);
void metrics_hist_render_in(buf_t *b, const char *name, const char *labels,
                            const metrics_hist *h, const double *bounds);

/* Write "# HELP"/"# TYPE" lines once per metric family. */
void metrics_family(buf_t *b, const char *name, const char *type, const char *help);

/* Render a histogram's _bucket/_sum/_count lines; labels like `route="/x"` or "". */
void metrics_hist_render(buf_t *b, const char *name, const char *labels,
                         const metrics_hist *h);

/* Append one label pair key="value" to b (a comma first unless b is empty),
 * the value escaped per the Prometheus text exposition format (backslash,
 * double quote and line feed; an invalid UTF-8 byte becomes U+FFFD), so no
 * value can end the label set or the line. Every label whose value is not a
 * literal goes through here. */
void metrics_label(buf_t *b, const char *key, const char *value);

/* Render one sample line: name{labels} value (labels built with metrics_label). */
void metrics_sample(buf_t *b, const char *name, const char *labels, double value);

/* Atomic helpers for plain counters. */
static inline void metrics_inc(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}
static inline uint64_t metrics_load(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
