/*
 * file.c - whole-file reads in 64 KiB steps into a buf, checked with ferror.
 */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/err.h"

int file_read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return RAGD_ENOTFOUND;
    buf_t b = BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    int bad = ferror(f), saved = errno;
    fclose(f);
    if (bad) {
        buf_free(&b);
        errno = saved;
        return RAGD_EIO;
    }
    *out = buf_detach(&b, len);
    return 0;
}
