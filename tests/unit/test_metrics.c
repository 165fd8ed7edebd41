/*
 * test_metrics.c - Prometheus text rendering: label values escaped per the
 * exposition format (backslash, double quote, line feed; invalid UTF-8
 * replaced), so a client-chosen value can neither inject a sample nor break
 * the scrape, and histogram lines carry the escaped labels. Sample values
 * print exactly as "%.17g" and histograms exactly as the printf-based
 * renderer did (both now mostly without printf).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "obs/metrics.h"
#include "testing.h"

TEST(label_values_are_escaped)
{
    buf_t b = BUF_INIT;
    metrics_label(&b, "model", "q\"} 1 # ");
    ASSERT_EQ_STR(b.data, "model=\"q\\\"} 1 # \"");
    buf_reset(&b);
    metrics_label(&b, "model", "m\\x");
    metrics_label(&b, "cache", "line\nbreak");
    ASSERT_EQ_STR(b.data, "model=\"m\\\\x\",cache=\"line\\nbreak\"");
    buf_reset(&b);
    metrics_label(&b, "p", "caf\xc3\xa9 \xff!");  /* valid UTF-8 kept, a bad byte replaced */
    ASSERT_EQ_STR(b.data, "p=\"caf\xc3\xa9 \xef\xbf\xbd!\"");
    buf_reset(&b);
    metrics_label(&b, "empty", "");
    ASSERT_EQ_STR(b.data, "empty=\"\"");
    buf_free(&b);
}

TEST(samples_carry_escaped_labels_on_one_line)
{
    buf_t labels = BUF_INIT, out = BUF_INIT;
    metrics_label(&labels, "route", "/a\n\"b\"");
    metrics_sample(&out, "x_total", labels.data, 3);
    ASSERT_EQ_STR(out.data, "x_total{route=\"/a\\n\\\"b\\\"\"} 3\n");
    buf_reset(&out);
    metrics_hist h;
    memset(&h, 0, sizeof h);
    metrics_hist_observe(&h, 2000);
    metrics_hist_render(&out, "lat_seconds", labels.data, &h);
    size_t lines = 0;
    for (const char *p = out.data; *p; p++)
        lines += *p == '\n';
    ASSERT_EQ_INT(lines, METRICS_NBUCKETS + 2);  /* buckets, _sum, _count: no stray line */
    ASSERT_TRUE(strstr(out.data, "lat_seconds_count{route=\"/a\\n\\\"b\\\"\"} 1\n") != NULL);
    buf_free(&labels);
    buf_free(&out);
}

TEST(sample_values_print_as_g17)
{
    const double vs[] = { 0.0, -0.0, 1.0, -5.0, 42.0, 1e15, 9007199254740991.0,
                          -9007199254740991.0, 9007199254740992.0, 1e17, 1e21, 0.1,
                          1.5, -2.25, 1e-7, 123456.789, NAN, INFINITY, -INFINITY, 1e300 };
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        buf_t b = BUF_INIT;
        metrics_sample(&b, "m", NULL, vs[i]);
        metrics_sample(&b, "m", "a=\"b\"", vs[i]);
        char want[128];
        snprintf(want, sizeof want, "m %.17g\nm{a=\"b\"} %.17g\n", vs[i], vs[i]);
        ASSERT_EQ_STR(b.data, want);
        buf_free(&b);
    }
}

/* The text the printf-based renderer wrote: the reference for the new one. */
static void hist_reference(buf_t *b, const char *name, const char *labels,
                           const metrics_hist *h, const double *bounds)
{
    unsigned long long cum = 0;
    const char *sep = (labels && *labels) ? "," : "";
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += h->buckets[i];
        if (isinf(bounds[i]))
            buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels ? labels : "", sep,
                       cum);
        else
            buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels ? labels : "", sep,
                       bounds[i], cum);
    }
    const char *lb = labels && *labels ? "{" : "", *le = labels && *labels ? "}" : "";
    buf_printf(b, "%s_sum%s%s%s %.17g\n", name, lb, labels ? labels : "", le,
               (double)h->sum_us / 1e6);
    buf_printf(b, "%s_count%s%s%s %.17g\n", name, lb, labels ? labels : "", le,
               (double)h->count);
}

TEST(histograms_render_as_with_printf)
{
    double odd[METRICS_NBUCKETS];
    for (int i = 0; i < METRICS_NBUCKETS; i++)  /* bounds "%g" shortens or puts in e-form */
        odd[i] = i == METRICS_NBUCKETS - 1 ? INFINITY : 1.234567891e-5 * pow(37.5, i);
    const double *bounds[] = { metrics_bucket_bounds, odd };
    const char *labels[] = { NULL, "", "route=\"/x\"" };
    metrics_hist h;
    memset(&h, 0, sizeof h);
    for (int us = 1; us < 4000000; us = us * 3 + 7)
        metrics_hist_observe(&h, us);
    for (size_t bi = 0; bi < 2; bi++) {
        for (size_t li = 0; li < 3; li++) {
            buf_t got = BUF_INIT, want = BUF_INIT;
            metrics_hist_render_in(&got, "h_seconds", labels[li], &h, bounds[bi]);
            hist_reference(&want, "h_seconds", labels[li], &h, bounds[bi]);
            ASSERT_EQ_STR(got.data, want.data);
            buf_free(&got);
            buf_free(&want);
        }
    }
}

int main(void)
{
    RUN(label_values_are_escaped);
    RUN(samples_carry_escaped_labels_on_one_line);
    RUN(sample_values_print_as_g17);
    RUN(histograms_render_as_with_printf);
    return TEST_REPORT();
}
