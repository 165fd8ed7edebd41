/*
 * process.h - the standard process_* metrics of Prometheus client libraries
 * (CPU time, resident and virtual memory, open and maximum file descriptors,
 * start time), read from /proc on each scrape so nothing runs between them.
 */
#ifndef RAGD_PROCESS_H
#define RAGD_PROCESS_H

#include <stdint.h>

#include "util/buf.h"

typedef struct process_stats {
    double cpu_seconds;        /* user + system CPU time */
    double start_time_s;       /* Unix time the process started */
    uint64_t resident_bytes;
    uint64_t virtual_bytes;
    int64_t open_fds;
    int64_t max_fds;           /* the soft RLIMIT_NOFILE; -1 if unlimited */
} process_stats;

/* Read this process's figures. RAGD_EIO if /proc cannot be read (out is then
 * untouched). Thread-safe. */
int process_read(process_stats *out);

/* Append the process_* families (HELP, TYPE and one sample each) to b;
 * nothing if /proc cannot be read. Thread-safe. */
void process_metrics_render(buf_t *b);

#endif
