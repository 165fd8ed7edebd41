/*
 * trace.c - traceparent parsing (W3C Trace Context level 1, section 3.2) and
 * the random ids of new traces, spans and request ids, and the headers that
 * carry a request's trace to the upstreams ragd calls.
 */
#include "http/trace.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/clock.h"
#include "util/hash.h"

/* n lowercase hex digits at s, not all '0' when nonzero is set. */
static bool trace__hex(const char *s, int n, bool nonzero)
{
    bool any = false;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        any |= c != '0';
    }
    return any || !nonzero;
}

bool http_trace_parse(const char *v, char *trace_id, char *flags)
{
    /* version(2) - trace-id(32) - parent-id(16) - flags(2) = 55 characters */
    if (!v)
        return false;
    size_t n = strlen(v);
    if (n < 55 || !trace__hex(v, 2, false) || !strncmp(v, "ff", 2) || v[2] != '-' ||
        !trace__hex(v + 3, HTTP_TRACE_ID_HEX, true) || v[35] != '-' ||
        !trace__hex(v + 36, HTTP_SPAN_ID_HEX, true) || v[52] != '-' ||
        !trace__hex(v + 53, 2, false))
        return false;
    if (!strncmp(v, "00", 2) ? n != 55 : (n > 55 && v[55] != '-'))
        return false;
    memcpy(trace_id, v + 3, HTTP_TRACE_ID_HEX);
    trace_id[HTTP_TRACE_ID_HEX] = '\0';
    memcpy(flags, v + 53, 2);
    flags[2] = '\0';
    return true;
}

/* xorshift64, seeded once per thread from getrandom (ids, not secrets). */
static uint64_t trace__next(void)
{
    static __thread uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) != sizeof state || state == 0)
            state = (uint64_t)clock_mono_ns() | 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

void http_trace_random_hex(char *out, int n)
{
    for (int i = 0; i < n; i += 8) {
        uint64_t r = trace__next();  /* never 0: xorshift never yields it */
        uint8_t bytes[8];
        int k;
        for (k = 0; k < 8 && i + k < n; k++)
            bytes[k] = (uint8_t)(r >> (8 * k));
        hash_hex(bytes, (size_t)k, out + 2 * i);  /* terminates after each group */
    }
    out[2 * n] = '\0';
}

int http_trace_headers(const http_trace *t, char lines[2][HTTP_TRACE_LINE_MAX])
{
    if (!t || !t->trace_id[0])
        return 0;
    char span[HTTP_SPAN_ID_HEX + 1];
    http_trace_random_hex(span, HTTP_SPAN_ID_HEX / 2);
    snprintf(lines[0], HTTP_TRACE_LINE_MAX, "traceparent: 00-%s-%s-%s", t->trace_id, span,
             t->flags);
    if (!t->state[0])
        return 1;
    snprintf(lines[1], HTTP_TRACE_LINE_MAX, "tracestate: %s", t->state);
    return 2;
}

static __thread http_trace trace__cur;
static __thread bool trace__has_cur;

const http_trace *http_trace_current(void)
{
    return trace__has_cur ? &trace__cur : NULL;
}

void http_trace_set_current(const http_trace *t)
{
    trace__has_cur = t != NULL;
    if (t)
        trace__cur = *t;
}
