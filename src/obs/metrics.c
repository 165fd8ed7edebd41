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
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_label(buf_t *b, const char *key, const char *value)
{
    if (b->len)
        buf_putc(b, ',');
    buf_printf(b, "%s=\"", key);
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

void metrics_sample(buf_t *b, const char *name, const char *labels, double value)
{
    buf_puts(b, name);
    if (labels && *labels) {
        buf_putc(b, '{');
        buf_puts(b, labels);
        buf_putc(b, '}');
    }
    buf_putc(b, ' ');
    metrics__value(b, value);
    buf_putc(b, '\n');
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
    const char *sep = (labels && *labels) ? "," : "";
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += metrics_load(&h->buckets[i]);
        if (isinf(bounds[i]))
            buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels ? labels : "",
                       sep, (unsigned long long)cum);
        else
            buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels ? labels : "", sep,
                       bounds[i], (unsigned long long)cum);
    }
    char n2[160];
    snprintf(n2, sizeof n2, "%s_sum", name);
    metrics_sample(b, n2, labels, (double)metrics_load(&h->sum_us) / 1e6);
    snprintf(n2, sizeof n2, "%s_count", name);
    metrics_sample(b, n2, labels, (double)metrics_load(&h->count));
}
