/*
 * process.c - process_* metrics from /proc/self/stat (CPU ticks, start time
 * in ticks since boot, vsize, RSS pages), /proc/stat (boot time), the entries
 * of /proc/self/fd and getrlimit, the names and meanings client_golang uses,
 * so dashboards built for other exporters work unchanged.
 */
#include "obs/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "util/err.h"

/* Fields of /proc/self/stat after the command name, counted from 3 (state):
 * proc(5) numbers them from 1 and the name, field 2, may hold spaces. */
#define STAT_UTIME 14
#define STAT_STIME 15
#define STAT_STARTTIME 22
#define STAT_VSIZE 23
#define STAT_RSS 24

static int process__read_file(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return RAGD_EIO;
    size_t k = fread(out, 1, n - 1, f);
    fclose(f);
    out[k] = '\0';
    return k ? RAGD_OK : RAGD_EIO;
}

/* Boot time (Unix seconds) from /proc/stat's "btime" line; 0 if absent. */
static double process__boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

static int64_t process__open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;  /* the directory stream's own descriptor */
}

static int process__parse_stat(const char *stat, process_stats *ps)
{
    const char *p = strrchr(stat, ')');
    if (!p)
        return RAGD_EIO;
    double tick = (double)sysconf(_SC_CLK_TCK);
    char *end;
    p++;
    for (int field = 3; field <= STAT_RSS; field++) {
        while (*p == ' ')
            p++;
        if (field == 3) {  /* the state letter */
            p++;
            continue;
        }
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            return RAGD_EIO;
        p = end;
        if (field == STAT_UTIME || field == STAT_STIME)
            ps->cpu_seconds += (double)v / tick;
        else if (field == STAT_STARTTIME)
            ps->start_time_s = (double)v / tick;
        else if (field == STAT_VSIZE)
            ps->virtual_bytes = v;
        else if (field == STAT_RSS)
            ps->resident_bytes = v * (uint64_t)sysconf(_SC_PAGESIZE);
    }
    return RAGD_OK;
}

int process_read(process_stats *out)
{
    char stat[1024];
    process_stats ps;
    memset(&ps, 0, sizeof ps);
    if (process__read_file("/proc/self/stat", stat, sizeof stat) ||
        process__parse_stat(stat, &ps))
        return RAGD_EIO;
    ps.start_time_s += process__boot_time();
    ps.open_fds = process__open_fds();
    struct rlimit rl;
    ps.max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                     ? (int64_t)rl.rlim_cur : -1;
    *out = ps;
    return RAGD_OK;
}

void process_metrics_render(buf_t *b)
{
    process_stats ps;
    if (process_read(&ps))
        return;
    const struct { const char *name, *type, *help; double v; } rows[] = {
        { "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
          ps.cpu_seconds },
        { "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
          (double)ps.resident_bytes },
        { "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
          (double)ps.virtual_bytes },
        { "process_open_fds", "gauge", "Number of open file descriptors.", (double)ps.open_fds },
        { "process_max_fds", "gauge", "Maximum number of open file descriptors.",
          (double)ps.max_fds },
        { "process_start_time_seconds", "gauge",
          "Start time of the process since unix epoch in seconds.", ps.start_time_s },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].v < 0)
            continue;  /* unknown (no /proc/self/fd) or unlimited */
        metrics_family(b, rows[i].name, rows[i].type, rows[i].help);
        metrics_sample(b, rows[i].name, NULL, rows[i].v);
    }
}
