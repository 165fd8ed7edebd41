/*
 * file.h - reading a whole file into memory, the one place that does it for
 * configuration files, key files and documents, so a read error is always
 * reported (ferror) instead of passing for a short file.
 */
#ifndef RAGD_FILE_H
#define RAGD_FILE_H

#include <stddef.h>

/* Read the file at path. On success *out is malloc'd, NUL-terminated and owned
 * by the caller (free()), *len is its length (len may be NULL). Returns 0,
 * RAGD_ENOTFOUND (it cannot be opened) or RAGD_EIO (a read error, e.g. a
 * directory); errno says why. Outputs are untouched on failure. Thread-safe. */
int file_read_all(const char *path, char **out, size_t *len);

#endif
