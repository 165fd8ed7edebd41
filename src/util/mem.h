/*
 * mem.h - allocation wrappers that abort on out-of-memory in one place,
 * as Redis' zmalloc does, so callers need not check every small allocation.
 * Use plain malloc where a failure must be reported (large user-sized buffers).
 */
#ifndef RAGD_MEM_H
#define RAGD_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);            /* never NULL; caller frees with free() */
void *xcalloc(size_t n, size_t sz); /* never NULL; zeroed */
void *xrealloc(void *p, size_t n);  /* never NULL */
char *xstrdup(const char *s);       /* never NULL */
char *xstrndup(const char *s, size_t n); /* never NULL; always NUL-terminated */

#endif
