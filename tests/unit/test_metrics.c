/*
 * test_metrics.c - Prometheus text rendering: label values escaped per the
 * exposition format (backslash, double quote, line feed; invalid UTF-8
 * replaced), so a client-chosen value can neither inject a sample nor break
 * the scrape, and histogram lines carry the escaped labels. Sample values
 * print exactly as "%.17g" (whole numbers take a printf-free path).
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

int main(void)
{
    RUN(label_values_are_escaped);
    RUN(samples_carry_escaped_labels_on_one_line);
    RUN(sample_values_print_as_g17);
    return TEST_REPORT();
}
