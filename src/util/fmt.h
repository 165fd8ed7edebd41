/*
 * fmt.h - integers, hex, "%.<prec>g" and bounded string copies without
 * printf. In ragd every printf-family call is slow: Debian's OpenBLAS pulls in
 * libquadmath, whose constructor registers printf hooks, and once a hook
 * exists glibc takes its positional (slow) path for every call in the
 * process. The request path (response heads, request ids, JSON numbers, log
 * fields, embeddings) formats with these instead; each writes exactly what
 * the snprintf format named beside it writes. No allocation, no locale,
 * thread-safe.
 */
#ifndef RAGD_FMT_H
#define RAGD_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_U64_MAX 21  /* "18446744073709551615" and NUL */
#define FMT_I64_MAX 21  /* "-9223372036854775808" and NUL */
#define FMT_HEX_MAX 17  /* 16 hex digits and NUL */
#define FMT_G_MAX 24    /* "-1.23456789e-308", "-nan" and NUL */

/* v in decimal into out[FMT_U64_MAX], NUL-terminated ("%" PRIu64). Returns
 * the number of digits written (without the NUL). */
size_t fmt_u64(char *out, uint64_t v);

/* v in decimal, with '-' when negative, into out[FMT_I64_MAX] ("%" PRId64).
 * Returns the length written (without the NUL). */
size_t fmt_i64(char *out, int64_t v);

/* v in lowercase hex, zero-padded to at least width digits (0..16), into
 * out[FMT_HEX_MAX] ("%0*" PRIx64; width 0 or 1 gives the shortest form, "0"
 * for 0). Returns the number of digits written (without the NUL). */
size_t fmt_hex(char *out, uint64_t v, int width);

/* v as "%.<prec>g" prints it, prec in 1..9 (9 is the form that round-trips
 * a float: embeddings and scores; 6 is plain "%g"), into out[FMT_G_MAX].
 * Byte for byte the same as snprintf: values whose correct rounding is in
 * doubt (within 1e-6 of a tie after scaling), NaN, infinities and
 * magnitudes outside [1e-30, 1e30] are handed to snprintf itself. Returns
 * the length written (without the NUL). */
size_t fmt_g(char *out, double v, int prec);

/* Copy the C string src into dst[n], truncated to n - 1 bytes and always
 * NUL-terminated when n > 0 (snprintf(dst, n, "%s", src)). Returns strlen(src),
 * so a result >= n means it was truncated. */
size_t fmt_copy(char *dst, size_t n, const char *src);

#endif
