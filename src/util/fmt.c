/*
 * fmt.c - printf-free formatting of integers, hex and bounded strings (why:
 * see fmt.h). Digits are produced right to left into a small stack buffer
 * and copied once, which is all snprintf does for these formats.
 */
#include "util/fmt.h"

#include <assert.h>
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
