/*
 * test_file.c - whole-file reads: contents and length (binary bytes, larger
 * than one read step, empty file), a missing file, and a read error (a
 * directory opens but cannot be read) reported instead of an empty result.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testing.h"
#include "util/err.h"
#include "util/file.h"

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n)
        abort();
    fclose(f);
}

TEST(reads_whole_files)
{
    char path[] = "/tmp/ragd-test-file-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    size_t n = 200000;  /* several read steps, with NUL bytes */
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 31);
    write_file(path, data, n);
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(file_read_all(path, &out, &len));
    ASSERT_EQ_INT(len, n);
    ASSERT_TRUE(memcmp(out, data, n) == 0);
    ASSERT_EQ_INT(out[n], '\0');
    free(out);
    write_file(path, "", 0);
    ASSERT_OK(file_read_all(path, &out, NULL));
    ASSERT_EQ_STR(out, "");
    free(out);
    free(data);
    unlink(path);
}

TEST(missing_files_and_read_errors_are_reported)
{
    char *out = (char *)"untouched";
    size_t len = 7;
    ASSERT_EQ_INT(file_read_all("/nonexistent/ragd/file", &out, &len), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(errno, ENOENT);
    /* a directory opens for reading on Linux, but every read fails: an
     * error, never an empty file */
    ASSERT_EQ_INT(file_read_all("/tmp", &out, &len), RAGD_EIO);
    ASSERT_EQ_INT(errno, EISDIR);
    ASSERT_EQ_STR(out, "untouched");
    ASSERT_EQ_INT(len, 7);
}

int main(void)
{
    RUN(reads_whole_files);
    RUN(missing_files_and_read_errors_are_reported);
    return TEST_REPORT();
}
