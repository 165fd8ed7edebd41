/*
 * metrics.c - histogram arithmetic and Prometheus text rendering.
 */
#include "obs/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

const double metrics_bucket_bounds[METRICS_NBUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, INFINITY,
};

const double metrics_bucket_bounds_slow[METRICS_NBUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, INFINITY,
};

void metrics_hist_observe(metrics_hist *h, int64_t us)
{
    metrics_hist_observe_in(h, us, metrics_bucket_bounds);
}

void metrics_hist_observe_in(metrics_hist *h, int64_t us, const double *bounds)
{
    double s = (double)us / 1e6;
    int i = 0;
    while (i < METRICS_NBUCKETS - 1 && s > bounds[i])
        i++;
    metrics_inc(&h->buckets[i], 1);
    metrics_inc(&h->count, 1);
    metrics_inc(&h->sum_us, us > 0 ? (uint64_t)us : 0);
}

void metrics_family(buf_t *b, const char *name, const char *type, const char *help)
{
    buf_puts(b, "# HELP ");
    buf_puts(b, name);
    buf_putc(b, ' ');
    buf_puts(b, help);
    buf_puts(b, "\n# TYPE ");
    buf_puts(b, name);
    buf_putc(b, ' ');
    buf_puts(b, type);
    buf_putc(b, '\n');
}

void metrics_label(buf_t *b, const char *key, const char *value)
{
    if (b->len)
        buf_putc(b, ',');
    buf_puts(b, key);
    buf_puts(b, "=\"");
    size_t n = strlen(value);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_valid_prefix(value + i, n - i);
        if (k == 0) {
            buf_puts(b, "\xEF\xBF\xBD");
            i++;
        } else if (value[i] == '\\' || value[i] == '"') {
            buf_putc(b, '\\');
            buf_putc(b, value[i++]);
        } else if (value[i] == '\n') {
            buf_puts(b, "\\n");
            i++;
        } else {
            buf_append(b, value + i, k);
            i += k;
        }
    }
    buf_putc(b, '"');
}

/* value exactly as "%.17g" prints it; whole numbers below 2^53 (counters, the
 * common case) without printf, which is slow in this process (util/fmt.h). */
static void metrics__value(buf_t *b, double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0 && !(v == 0 && signbit(v)))
        buf_put_i64(b, (int64_t)v);
    else
        buf_printf(b, "%.17g", v);
}

/* "name+suffix{labels} value\n" */
static void metrics__line(buf_t *b, const char *name, const char *suffix, const char *labels,
                          double value)
{
    buf_puts(b, name);
    buf_puts(b, suffix);
    if (labels && *labels) {
        buf_putc(b, '{');
        buf_puts(b, labels);
        buf_putc(b, '}');
    }
    buf_putc(b, ' ');
    metrics__value(b, value);
    buf_putc(b, '\n');
}

void metrics_sample(buf_t *b, const char *name, const char *labels, double value)
{
    metrics__line(b, name, "", labels, value);
}

void metrics_hist_render(buf_t *b, const char *name, const char *labels,
                         const metrics_hist *h)
{
    metrics_hist_render_in(b, name, labels, h, metrics_bucket_bounds);
}

void metrics_hist_render_in(buf_t *b, const char *name, const char *labels,
                            const metrics_hist *h, const double *bounds)
{
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += metrics_load(&h->buckets[i]);
        buf_puts(b, name);
        buf_puts(b, "_bucket{");
        if (labels && *labels) {
            buf_puts(b, labels);
            buf_putc(b, ',');
        }
        buf_puts(b, "le=\"");
        if (isinf(bounds[i]))
            buf_puts(b, "+Inf");
        else
            buf_put_g(b, bounds[i], 6);  /* "%g" */
        buf_puts(b, "\"} ");
        buf_put_u64(b, cum);
        buf_putc(b, '\n');
    }
    metrics__line(b, name, "_sum", labels, (double)metrics_load(&h->sum_us) / 1e6);
    metrics__line(b, name, "_count", labels, (double)metrics_load(&h->count));
}
