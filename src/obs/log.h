/*
 * log.h - structured logs: one JSON object per line on stderr, written with a
 * single write() so lines from many threads never interleave. Bodies and
 * secrets are never logged; callers pass only what is safe.
 */
#ifndef RAGD_LOG_H
#define RAGD_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(int level);
int log_get_level(void);

/* A free-form event: {"ts","level","msg"}. Thread-safe. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per HTTP request. cache may be NULL. Thread-safe. */
void log_request(const char *method, const char *route, int status, int64_t latency_us,
                 const char *request_id, const char *cache);

#endif
