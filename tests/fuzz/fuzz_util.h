/*
 * fuzz_util.h - small helpers shared by the libFuzzer harnesses: an exact-size
 * heap copy of the input (so ASan sees a read one byte past it), a file that
 * holds the input for loaders that take a path, and the model directory.
 */
#ifndef RAGD_FUZZ_UTIL_H
#define RAGD_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A malloc'd copy of data[0..n) plus a NUL (n + 1 bytes); caller frees. */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Write data to an anonymous in-memory file and put its /proc path into path.
 * Returns the descriptor (close it after use) or -1. */
static inline int fuzz_memfile(const uint8_t *data, size_t n, char *path, size_t pn)
{
    int fd = memfd_create("ragd-fuzz", 0);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    snprintf(path, pn, "/proc/self/fd/%d", fd);
    return fd;
}

/* The all-MiniLM-L6-v2 directory as ragd finds it (RAGD_MODEL_CACHE or the
 * user's cache) into out. */
static inline void fuzz_model_dir(char *out, size_t n)
{
    const char *mc = getenv("RAGD_MODEL_CACHE"), *home = getenv("HOME");
    if (mc && *mc)
        snprintf(out, n, "%s/all-MiniLM-L6-v2", mc);
    else
        snprintf(out, n, "%s/.cache/ragd/models/all-MiniLM-L6-v2", home ? home : ".");
}

#endif
