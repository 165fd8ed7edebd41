/*
 * file.h - reading a whole file into memory, the one place that does it for
 * configuration files, key files and documents, so a read error is always
 * reported (ferror) instead of passing for a short file; and directories made
 * with their parents, or checked to be makeable without making them.
 */
#ifndef RAGD_FILE_H
#define RAGD_FILE_H

#include <stddef.h>

/* Read the file at path. On success *out is malloc'd, NUL-terminated and owned
 * by the caller (free()), *len is its length (len may be NULL). Returns 0,
 * RAGD_ENOTFOUND (it cannot be opened) or RAGD_EIO (a read error, e.g. a
 * directory); errno says why. Outputs are untouched on failure. Thread-safe. */
int file_read_all(const char *path, char **out, size_t *len);

/* mkdir -p dir (new directories 0700). Returns 0 when dir is then a directory
 * this process can write, RAGD_EIO otherwise (errno says why), RAGD_EINVAL for
 * an empty or over-long path. Thread-safe. */
int file_mkdirs(const char *dir);

/* Could file_mkdirs(dir) succeed? 0 when dir is a writable directory, or when
 * its nearest existing ancestor is one; RAGD_EIO otherwise (errno says why:
 * EACCES, ENOTDIR...). Creates nothing. Thread-safe. */
int file_dir_creatable(const char *dir);

#endif
