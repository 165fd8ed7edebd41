/*
 * file.c - whole-file reads in 64 KiB steps into a buf, checked with ferror;
 * directories made with their parents (mkdir -p), and whether one could be.
 */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int file_mkdirs(const char *dir)
{
    char p[4096];
    if (!dir || !*dir || strlen(dir) >= sizeof p)
        return RAGD_EINVAL;
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return RAGD_EIO;
        *c = '/';
    }
    struct stat st;
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return RAGD_EIO;
    if (stat(p, &st) != 0)
        return RAGD_EIO;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return RAGD_EIO;
    }
    return access(p, W_OK | X_OK) == 0 ? 0 : RAGD_EIO;
}

int file_dir_creatable(const char *dir)
{
    char p[4096];
    if (!dir || !*dir || strlen(dir) >= sizeof p)
        return RAGD_EINVAL;
    snprintf(p, sizeof p, "%s", dir);
    struct stat st;
    for (;;) {
        if (stat(p, &st) == 0)
            break;
        if (errno != ENOENT)
            return RAGD_EIO;
        char *slash = strrchr(p, '/');
        while (slash && slash > p && slash[-1] == '/')
            slash--;
        if (!slash)
            snprintf(p, sizeof p, ".");
        else if (slash == p)
            p[1] = '\0';  /* the root */
        else
            *slash = '\0';
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return RAGD_EIO;
    }
    return access(p, W_OK | X_OK) == 0 ? 0 : RAGD_EIO;
}
