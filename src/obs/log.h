/*
 * log.h - structured logs on stderr, one line per event written with a single
 * write() so lines from many threads never interleave: JSON objects (the
 * default) or logfmt text (key=value, --log-format text). Bodies and secrets
 * are never logged; callers pass only what is safe.
 */
#ifndef RAGD_LOG_H
#define RAGD_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(int level);
int log_get_level(void);

/* Parse "json|text"; returns -1 if unknown. */
int log_format_parse(const char *s);
/* Set the format of every later line (process-wide; relaxed atomic). */
void log_set_format(int format);

/* A free-form event: ts, level, msg. Thread-safe. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What one request's line says. Strings are borrowed for the call; NULL or ""
 * leaves a field out, as does a negative number. */
typedef struct log_request_line {
    const char *method, *route, *request_id;
    int status;
    int64_t latency_us;
    const char *cache;       /* cache outcome (hit, miss, ...) */
    const char *client;      /* peer address */
    const char *trace_id;    /* W3C trace id (32 hex) */
    const char *key_id;      /* the credential's id, never its secret */
    const char *user;
    const char *model;
    int64_t tokens_in, tokens_out;
    int64_t upstream_us;     /* time spent on upstream calls */
} log_request_line;

/* One line per HTTP request (msg "request", level info). Thread-safe. */
void log_request(const log_request_line *l);

#endif
