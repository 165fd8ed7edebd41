/*
 * test_fmt.c - the printf-free formatters against snprintf as the reference:
 * decimal at every power-of-ten boundary, 0, UINT64_MAX, INT64_MIN/MAX and
 * negatives; hex at every width 0..16; bounded copies at every size around
 * the string's length; "%.<prec>g" of doubles and of floats across their
 * whole range (powers of ten and their neighbours, ties, subnormals, NaN,
 * inf) at every precision 1..9, sweeps at 9 (embeddings) and 6 ("%g");
 * and a pseudo-random sweep of each.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testing.h"
#include "util/fmt.h"

/* xorshift64: reproducible values of every magnitude for the sweeps. */
static uint64_t next_value(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s >> (*s % 64);  /* vary the number of digits too */
}

/* call writes into got (poisoned first, a buffer of size bytes): it must
 * return and write what snprintf writes for the format and arguments. */
#define CHECK_LIKE_SNPRINTF(size, call, ...)                    \
    do {                                                        \
        char got[size], want[64];                               \
        memset(got, 'x', sizeof got);                           \
        int wl = snprintf(want, sizeof want, __VA_ARGS__);      \
        ASSERT_EQ_INT(call, wl);                                \
        ASSERT_EQ_STR(got, want);                               \
    } while (0)

static void check_u64(uint64_t v)
{
    CHECK_LIKE_SNPRINTF(FMT_U64_MAX, fmt_u64(got, v), "%" PRIu64, v);
}

static void check_i64(int64_t v)
{
    CHECK_LIKE_SNPRINTF(FMT_I64_MAX, fmt_i64(got, v), "%" PRId64, v);
}

static void check_hex(uint64_t v, int width)
{
    CHECK_LIKE_SNPRINTF(FMT_HEX_MAX, fmt_hex(got, v, width), "%0*" PRIx64, width, v);
}

TEST(decimal_edges)
{
    uint64_t p = 1;
    for (int i = 0; i < 20; i++) {  /* 10^0 .. 10^19 and their neighbours */
        check_u64(p - 1);
        check_u64(p);
        check_u64(p + 1);
        check_i64((int64_t)(p - 1));
        check_i64(-(int64_t)(p - 1));
        if (i < 19) {
            check_i64((int64_t)p);
            check_i64(-(int64_t)p);
        }
        p *= 10;
    }
    check_u64(0);
    check_u64(UINT64_MAX);
    check_u64(UINT64_MAX - 1);
    check_u64((uint64_t)INT64_MAX + 1);
    check_i64(0);
    check_i64(-1);
    check_i64(INT64_MIN);
    check_i64(INT64_MIN + 1);
    check_i64(INT64_MAX);
}

TEST(decimal_sweep)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = next_value(&s);
        check_u64(v);
        check_i64((int64_t)v);
        check_i64(-(int64_t)(v >> 1));
    }
}

TEST(hex_every_width)
{
    const uint64_t edges[] = { 0, 1, 9, 10, 15, 16, 255, 256, 0xabcdef, 0xffffffffULL,
                               0x100000000ULL, 0x8000000000000000ULL, UINT64_MAX };
    for (int w = 0; w <= 16; w++) {
        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
            check_hex(edges[i], w);
        uint64_t s = 0x2545f4914f6cdd1dULL + (uint64_t)w;
        for (int i = 0; i < 5000; i++)
            check_hex(next_value(&s), w);
    }
}

static void check_g(double v, int prec)
{
    CHECK_LIKE_SNPRINTF(FMT_G_MAX, fmt_g(got, v, prec), "%.*g", prec, v);
}

/* every precision for the fixed values; 9 (embeddings) and 6 ("%g") for sweeps */
static void check_g_sweep(double v)
{
    check_g(v, 9);
    check_g(v, 6);
}

static void check_g_all(double v)
{
    for (int prec = 1; prec <= 9; prec++)
        check_g(v, prec);
}

TEST(g_edges)
{
    const double vs[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 1e-4, 1e-5, 9.99999999e-5,
                          9.999999995e-5, 123456789.0, 999999999.0, 999999999.4, 999999999.5,
                          1e9, 1234567891.0, 0.1234567895, 2.5e-7, 1e-30, 1e30, 1e-31,
                          1e31, 1e300, -1e-300, DBL_MIN, DBL_MAX, FLT_MIN, FLT_MAX,
                          FLT_TRUE_MIN, 0x1p-30, 1.0 / 3, -2.0 / 3, NAN, -NAN, INFINITY,
                          -INFINITY };
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        check_g_all(vs[i]);
    for (int e = -45; e <= 45; e++) {  /* powers of ten, their neighbours, ties */
        double p = pow(10, e);
        check_g_all(p);
        check_g_all(-p);
        check_g_all(nextafter(p, 0));
        check_g_all(nextafter(p, INFINITY));
        check_g_all((double)(float)p);
        check_g_all((double)nextafterf((float)p, 0));
        check_g_all(1.5 * p);
        check_g_all(0.25 * p);
        check_g_all(1.0000000005 * p);
        check_g_all(9.9999999995 * p);
        check_g_all(9.5 * p);
        check_g_all(9.9999995 * p);
    }
}

TEST(g_floats_across_the_range)
{
    /* every 4099th float bit pattern: all exponents, both signs */
    for (uint64_t bits = 0; bits <= UINT32_MAX; bits += 4099) {
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, sizeof f);
        check_g_sweep((double)f);
    }
}

TEST(g_sweep)
{
    uint64_t s = 0x51afd6ed2c9e3b47ULL;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next_value(&s);
        double unit = (double)(r >> 11) / 9007199254740992.0;  /* [0, 1) */
        check_g_sweep(unit);                               /* embedding-like values */
        check_g_sweep(-unit * pow(10, (int)(r % 61) - 30)); /* every fast-path magnitude */
        check_g_sweep((double)(float)(unit * 2 - 1));
    }
}

TEST(copy_truncates_like_snprintf)
{
    const char *srcs[] = { "", "a", "text/plain", "application/json; charset=utf-8" };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        size_t len = strlen(srcs[i]);
        for (size_t n = 0; n <= len + 2; n++) {
            char got[64], want[64];
            memset(got, 'x', sizeof got);
            memset(want, 'x', sizeof want);
            int wl = snprintf(want, n, "%s", srcs[i]);
            ASSERT_EQ_INT(fmt_copy(got, n, srcs[i]), wl);
            ASSERT_TRUE(memcmp(got, want, sizeof got) == 0);  /* nothing past n touched */
        }
    }
}

int main(void)
{
    RUN(decimal_edges);
    RUN(decimal_sweep);
    RUN(hex_every_width);
    RUN(g_edges);
    RUN(g_floats_across_the_range);
    RUN(g_sweep);
    RUN(copy_truncates_like_snprintf);
    return TEST_REPORT();
}
