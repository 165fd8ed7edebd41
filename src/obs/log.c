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

/* Start a field: " key=" or ",\"key\":" (keys are plain identifiers). Every
 * request writes a line, hence no buf_printf here (see util/fmt.h). */
static void log__key(log_line *l, const char *key)
{
    buf_puts(&l->b, l->text ? " " : ",\"");
    buf_puts(&l->b, key);
    buf_puts(&l->b, l->text ? "=" : "\":");
}

/* Add key=value (skipped when value is NULL or ""). */
static void log__str(log_line *l, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    log__key(l, key);
    if (l->text)
        log__text_value(&l->b, v);
    else
        buf_put_json_str(&l->b, v, strlen(v));
}

/* Add key=number (skipped when negative). */
static void log__int(log_line *l, const char *key, int64_t v)
{
    if (v < 0)
        return;
    log__key(l, key);
    buf_put_i64(&l->b, v);
}

static void log__begin(log_line *l, int level)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    /* "%Y-%m-%dT%H:%M:%S.uuuuuuZ": the microseconds as six digits */
    char ts[48];
    size_t n = strftime(ts, sizeof ts - 9, "%Y-%m-%dT%H:%M:%S.", &tm);
    for (int i = 6; i > 0; i--, tv.tv_usec /= 10)
        ts[n + (size_t)i - 1] = (char)('0' + tv.tv_usec % 10);
    memcpy(ts + n + 6, "Z", 2);
    l->b = (buf_t)BUF_INIT;
    l->text = __atomic_load_n(&g_format, __ATOMIC_RELAXED) == LOG_FORMAT_TEXT;
    buf_puts(&l->b, l->text ? "ts=" : "{\"ts\":\"");
    buf_puts(&l->b, ts);
    buf_puts(&l->b, l->text ? " level=" : "\",\"level\":\"");
    buf_puts(&l->b, level_names[level]);
    if (!l->text)
        buf_putc(&l->b, '"');
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
