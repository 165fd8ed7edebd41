/*
 * log.c - the logger: a line is built in a buffer as fields (key and string
 * or number), each written in the chosen format (JSON or logfmt), then
 * written at once.
 */
#include "obs/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

static int g_level = LOG_INFO;         /* atomic (relaxed) */
static int g_format = LOG_FORMAT_JSON; /* atomic (relaxed) */
static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(int level) { __atomic_store_n(&g_level, level, __ATOMIC_RELAXED); }
int log_get_level(void) { return __atomic_load_n(&g_level, __ATOMIC_RELAXED); }

int log_format_parse(const char *s)
{
    return !strcmp(s, "json") ? LOG_FORMAT_JSON : !strcmp(s, "text") ? LOG_FORMAT_TEXT : -1;
}

void log_set_format(int format) { __atomic_store_n(&g_format, format, __ATOMIC_RELAXED); }

/* A line being built in one format. */
typedef struct log_line {
    buf_t b;
    bool text;
} log_line;

/* A logfmt value: bare when it is a plain token, else quoted with \" \\ \n
 * \t escaped and other control bytes as \xHH. */
static void log__text_value(buf_t *b, const char *v)
{
    bool bare = *v != '\0';
    for (const char *p = v; *p && bare; p++)
        bare = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' && *p != 0x7f;
    if (bare) {
        buf_puts(b, v);
        return;
    }
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)*p);
        } else if (*p == '\n') {
            buf_puts(b, "\\n");
        } else if (*p == '\t') {
            buf_puts(b, "\\t");
        } else if (*p < ' ' || *p == 0x7f) {
            buf_printf(b, "\\x%02x", *p);
        } else {
            buf_putc(b, (char)*p);
        }
    }
    buf_putc(b, '"');
}

/* Add key=value (skipped when value is NULL or ""). */
static void log__str(log_line *l, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    if (l->text) {
        buf_printf(&l->b, " %s=", key);
        log__text_value(&l->b, v);
    } else {
        buf_printf(&l->b, ",\"%s\":", key);
        buf_put_json_str(&l->b, v, strlen(v));
    }
}

/* Add key=number (skipped when negative). */
static void log__int(log_line *l, const char *key, int64_t v)
{
    if (v < 0)
        return;
    buf_printf(&l->b, l->text ? " %s=%lld" : ",\"%s\":%lld", key, (long long)v);
}

static void log__begin(log_line *l, int level)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40], full[64];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(full, sizeof full, "%s.%06ldZ", ts, (long)tv.tv_usec);
    l->b = (buf_t)BUF_INIT;
    l->text = __atomic_load_n(&g_format, __ATOMIC_RELAXED) == LOG_FORMAT_TEXT;
    if (l->text)
        buf_printf(&l->b, "ts=%s level=%s", full, level_names[level]);
    else
        buf_printf(&l->b, "{\"ts\":\"%s\",\"level\":\"%s\"", full, level_names[level]);
}

static void log__end(log_line *l)
{
    buf_puts(&l->b, l->text ? "\n" : "}\n");
    ssize_t w = write(STDERR_FILENO, l->b.data, l->b.len);
    (void)w;
    buf_free(&l->b);
}

void log_msg(int level, const char *fmt, ...)
{
    if (level < log_get_level())
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_line l;
    log__begin(&l, level);
    log__str(&l, "msg", msg[0] ? msg : "-");
    log__end(&l);
}

void log_request(const log_request_line *r)
{
    if (LOG_INFO < log_get_level())
        return;
    log_line l;
    log__begin(&l, LOG_INFO);
    log__str(&l, "msg", "request");
    log__str(&l, "method", r->method);
    log__str(&l, "route", r->route);
    log__int(&l, "status", r->status);
    log__int(&l, "latency_us", r->latency_us);
    log__str(&l, "request_id", r->request_id);
    log__str(&l, "cache", r->cache);
    log__str(&l, "client", r->client);
    log__str(&l, "trace_id", r->trace_id);
    log__str(&l, "key_id", r->key_id);
    log__str(&l, "user", r->user);
    log__str(&l, "model", r->model);
    log__int(&l, "tokens_in", r->tokens_in);
    log__int(&l, "tokens_out", r->tokens_out);
    log__int(&l, "upstream_ms", r->upstream_us < 0 ? -1 : r->upstream_us / 1000);
    log__end(&l);
}
