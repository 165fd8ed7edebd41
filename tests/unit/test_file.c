/*
 * test_file.c - whole-file reads: contents and length (binary bytes, larger
 * than one read step, empty file), a missing file, and a read error (a
 * directory opens but cannot be read) reported instead of an empty result;
 * mkdir -p, and the check that a directory could be made, which makes nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

TEST(directories_are_made_with_parents_or_checked_without_making_them)
{
    char root[] = "/tmp/ragd-test-dirs-XXXXXX";
    ASSERT_TRUE(mkdtemp(root) != NULL);
    char deep[256], file[256], under_file[256], cmd[300];
    snprintf(deep, sizeof deep, "%s/a/b/c", root);
    ASSERT_OK(file_dir_creatable(deep));
    ASSERT_TRUE(!is_dir(deep) && access(deep, F_OK) != 0);
    snprintf(file, sizeof file, "%s/a", root);
    ASSERT_TRUE(access(file, F_OK) != 0);  /* the check made nothing */
    ASSERT_OK(file_mkdirs(deep));
    ASSERT_TRUE(is_dir(deep));
    ASSERT_OK(file_mkdirs(deep));  /* again: already there */
    ASSERT_OK(file_dir_creatable(deep));
    snprintf(file, sizeof file, "%s/f", root);
    write_file(file, "x", 1);
    snprintf(under_file, sizeof under_file, "%s/f/d", root);
    ASSERT_EQ_INT(file_dir_creatable(under_file), RAGD_EIO);
    ASSERT_EQ_INT(file_mkdirs(under_file), RAGD_EIO);
    ASSERT_EQ_INT(file_dir_creatable(file), RAGD_EIO);  /* a file, not a directory */
    ASSERT_EQ_INT(file_mkdirs(""), RAGD_EINVAL);
    if (geteuid() != 0) {  /* root may write anywhere */
        ASSERT_EQ_INT(file_dir_creatable("/proc/ragd-no/x"), RAGD_EIO);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ASSERT_EQ_INT(system(cmd), 0);
}

int main(void)
{
    RUN(reads_whole_files);
    RUN(missing_files_and_read_errors_are_reported);
    RUN(directories_are_made_with_parents_or_checked_without_making_them);
    return TEST_REPORT();
}
