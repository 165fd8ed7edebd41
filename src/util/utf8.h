/*
 * utf8.h - strict UTF-8 validation (no overlongs, no surrogates, <= U+10FFFF),
 * used on every key and text that arrives over HTTP.
 */
#ifndef RAGD_UTF8_H
#define RAGD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s, or 0 if it is invalid. */
size_t utf8_valid_prefix(const char *s, size_t n);

/* true if all n bytes are valid UTF-8. If not and bad_off is non-NULL, it gets
 * the offset of the first invalid byte. */
bool utf8_valid(const char *s, size_t n, size_t *bad_off);

#endif
