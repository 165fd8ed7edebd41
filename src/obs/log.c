/*
 * log.c - JSON-lines logger.
 */
#include "obs/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

static int g_level = LOG_INFO;  /* atomic (relaxed) */
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

static void log__begin(buf_t *b, int level)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(b, "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\"", ts, (long)tv.tv_usec,
               level_names[level]);
}

static void log__end(buf_t *b)
{
    buf_puts(b, "}\n");
    ssize_t w = write(STDERR_FILENO, b->data, b->len);
    (void)w;
    buf_free(b);
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
    buf_t b = BUF_INIT;
    log__begin(&b, level);
    buf_puts(&b, ",\"msg\":");
    buf_put_json_str(&b, msg, strlen(msg));
    log__end(&b);
}

void log_request(const char *method, const char *route, int status, int64_t latency_us,
                 const char *request_id, const char *cache)
{
    if (LOG_INFO < log_get_level())
        return;
    buf_t b = BUF_INIT;
    log__begin(&b, LOG_INFO);
    buf_puts(&b, ",\"msg\":\"request\",\"method\":");
    buf_put_json_str(&b, method, strlen(method));
    buf_puts(&b, ",\"route\":");
    buf_put_json_str(&b, route, strlen(route));
    buf_printf(&b, ",\"status\":%d,\"latency_us\":%lld,\"request_id\":", status,
               (long long)latency_us);
    buf_put_json_str(&b, request_id, strlen(request_id));
    if (cache) {
        buf_puts(&b, ",\"cache\":");
        buf_put_json_str(&b, cache, strlen(cache));
    }
    log__end(&b);
}
