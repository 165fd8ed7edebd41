/*
 * fmt.c - printf-free formatting of integers, hex, "%.<prec>g" and bounded
 * strings (why: see fmt.h). Digits are produced right to left into a small
 * stack buffer and copied once. "%.<prec>g" scales the double by a power of
 * ten so that its significant digits are the integer part, rounds, and lays
 * the digits out as C11 7.21.6.1 says; when double arithmetic cannot decide
 * the rounding (a near-tie) snprintf decides.
 */
#include "util/fmt.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Decimal digits of v, right-aligned to end (exclusive); returns the first. */
static char *fmt__digits(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

/* Copy the n bytes at p to out and terminate; returns n. */
static size_t fmt__emit(char *out, const char *p, size_t n)
{
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[FMT_U64_MAX];
    char *end = tmp + sizeof tmp;
    char *p = fmt__digits(end, v);
    return fmt__emit(out, p, (size_t)(end - p));
}

size_t fmt_i64(char *out, int64_t v)
{
    char tmp[FMT_I64_MAX];
    char *end = tmp + sizeof tmp;
    /* the magnitude in unsigned arithmetic: -INT64_MIN does not fit int64_t */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = fmt__digits(end, mag);
    if (v < 0)
        *--p = '-';
    return fmt__emit(out, p, (size_t)(end - p));
}

size_t fmt_hex(char *out, uint64_t v, int width)
{
    static const char digits[] = "0123456789abcdef";
    assert(width >= 0 && width <= 16);
    char tmp[FMT_HEX_MAX];
    char *end = tmp + 16;
    char *p = end;
    do {
        *--p = digits[v & 15];
        v >>= 4;
    } while (v);
    while (end - p < width)
        *--p = '0';
    return fmt__emit(out, p, (size_t)(end - p));
}

/* 10^i for i in [0, 40]: each literal is the correctly rounded double. */
static const double fmt__pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
    1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27,
    1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40,
};

/* a (> 0) times 10^e for e in [-40, 40], two roundings at most. */
static double fmt__scale(double a, int e)
{
    return e >= 0 ? a * fmt__pow10[e] : a / fmt__pow10[-e];
}

/* 10^i for i in [0, 9] as integers. */
static const uint32_t fmt__pow10u[] = { 1,      10,      100,      1000,      10000,
                                        100000, 1000000, 10000000, 100000000, 1000000000 };

/* The prec (1..9) significant digits of a (in [1e-30, 1e30]) as an integer
 * in [10^(prec-1), 10^prec) and its decimal exponent x (a ~ digits *
 * 10^(x-prec+1)). false when the scaled value is too close to a rounding tie
 * to decide with double arithmetic (its error is below 3e-7 here). */
static bool fmt__significant(double a, int prec, uint32_t *digits, int *x)
{
    double lo = fmt__pow10[prec - 1], hi = fmt__pow10[prec];
    int e = (int)floor(log10(a));
    double t = fmt__scale(a, prec - 1 - e);
    if (t >= hi) {  /* log10 rounded up across a power of ten */
        e++;
        t = fmt__scale(a, prec - 1 - e);
    } else if (t < lo) {
        e--;
        t = fmt__scale(a, prec - 1 - e);
    }
    double r = floor(t);
    if (fabs(t - r - 0.5) < 1e-6)
        return false;
    uint32_t d = (uint32_t)r + (t - r > 0.5);
    if (d == fmt__pow10u[prec]) {  /* 99..9.5 and above round up to 10^prec */
        d = fmt__pow10u[prec - 1];
        e++;
    }
    *digits = d;
    *x = e;
    return true;
}

/* "%.<prec>g" layout of the prec digits dig (most significant first) with
 * decimal exponent x: fixed notation when -4 <= x < prec, else d.ddde+XX;
 * trailing zeros of the fraction and a bare point are dropped (C11 7.21.6.1). */
static size_t fmt__g_layout(char *out, bool neg, const char *dig, int prec, int x)
{
    char *p = out;
    int nd = prec;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    if (neg)
        *p++ = '-';
    if (x < -4 || x >= prec) {
        *p++ = dig[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, dig + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax < 10)
            *p++ = '0';
        p += fmt_u64(p, (uint64_t)ax);
        return (size_t)(p - out);
    }
    if (x < 0) {  /* 0.000ddd */
        memcpy(p, "0.000", (size_t)(1 - x));
        p += 1 - x;
        memcpy(p, dig, (size_t)nd);
        p += nd;
    } else {      /* ddd.ddd: x + 1 integer digits */
        memcpy(p, dig, (size_t)x + 1);
        p += x + 1;
        if (nd > x + 1) {
            *p++ = '.';
            memcpy(p, dig + x + 1, (size_t)(nd - x - 1));
            p += nd - x - 1;
        }
    }
    *p = '\0';
    return (size_t)(p - out);
}

size_t fmt_g(char *out, double v, int prec)
{
    assert(prec >= 1 && prec <= 9);
    double a = fabs(v);
    uint32_t d;
    int x;
    if (a == 0)
        return fmt_copy(out, FMT_G_MAX, signbit(v) ? "-0" : "0");
    if (!(a >= 1e-30 && a <= 1e30) || !fmt__significant(a, prec, &d, &x)) {
        int n = snprintf(out, FMT_G_MAX, "%.*g", prec, v);
        return n > 0 ? (size_t)n : 0;
    }
    char dig[FMT_U64_MAX];
    fmt_u64(dig, d);
    return fmt__g_layout(out, v < 0, dig, prec, x);
}

size_t fmt_copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (n) {
        size_t k = len < n ? len : n - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return len;
}
