/*
 * test_process.c - the process_* figures follow what this process does:
 * an opened file adds a descriptor, touched memory adds to the resident size,
 * spent CPU adds to the CPU time, and the render has each family once with
 * its TYPE.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "obs/process.h"
#include "testing.h"

TEST(figures_follow_the_process)
{
    process_stats a, b;
    ASSERT_EQ_INT(process_read(&a), 0);
    ASSERT_TRUE(a.open_fds >= 3);  /* stdin, stdout, stderr */
    ASSERT_TRUE(a.max_fds == -1 || a.max_fds >= a.open_fds);
    ASSERT_TRUE(a.virtual_bytes >= a.resident_bytes && a.resident_bytes > 0);
    ASSERT_TRUE(a.start_time_s > 1e9 && a.start_time_s <= (double)time(NULL) + 1);
    int fd = open("/proc/self/stat", O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    size_t big = 64u << 20;
    char *p = malloc(big);
    ASSERT_TRUE(p != NULL);
    memset(p, 1, big);
    volatile double x = 0;
    do {  /* spend CPU until the kernel has counted a tick of it */
        for (int i = 0; i < 1000000; i++)
            x += i * 0.5;
        ASSERT_EQ_INT(process_read(&b), 0);
    } while (b.cpu_seconds <= a.cpu_seconds);
    ASSERT_EQ_INT(b.open_fds, a.open_fds + 1);
    ASSERT_TRUE(b.resident_bytes >= a.resident_bytes + big / 2);
    ASSERT_TRUE(b.start_time_s == a.start_time_s);
    free(p);
    close(fd);
}

TEST(render_has_each_family_once)
{
    buf_t b = BUF_INIT;
    process_metrics_render(&b);
    static const char *const names[] = {
        "process_cpu_seconds_total counter", "process_resident_memory_bytes gauge",
        "process_virtual_memory_bytes gauge", "process_open_fds gauge",
        "process_start_time_seconds gauge",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char t[96];
        snprintf(t, sizeof t, "# TYPE %s\n", names[i]);
        const char *at = strstr(b.data, t);
        ASSERT_TRUE(at != NULL);
        ASSERT_TRUE(strstr(at + 1, t) == NULL);
    }
    buf_free(&b);
}

int main(void)
{
    RUN(figures_follow_the_process);
    RUN(render_has_each_family_once);
    return TEST_REPORT();
}
