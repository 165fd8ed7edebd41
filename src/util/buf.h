/*
 * buf.h - a growable byte buffer (like Redis' sds, but a plain struct): used to
 * build response bodies, canonical JSON and log lines without repeated strlen.
 * The bytes are always NUL-terminated so they can be used as a C string.
 */
#ifndef RAGD_BUF_H
#define RAGD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Append v in decimal (as "%" PRIu64 / "%" PRId64 would, without printf: see
 * util/fmt.h for why the request path avoids it). */
void buf_put_u64(buf_t *b, uint64_t v);
void buf_put_i64(buf_t *b, int64_t v);
/* Append v as "%.<prec>g" prints it, prec in 1..9 (fmt_g). */
void buf_put_g(buf_t *b, double v, int prec);
/* Append s as a JSON string literal (quotes and escapes; invalid UTF-8 bytes
 * become U+FFFD so the output is always valid JSON). */
void buf_put_json_str(buf_t *b, const char *s, size_t n);
void buf_reset(buf_t *b);          /* len = 0, keeps the memory */
/* Hand the bytes to the caller (free() them); b is left empty. Never NULL. */
char *buf_detach(buf_t *b, size_t *len);
void buf_free(buf_t *b);

#endif
