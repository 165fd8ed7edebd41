/*
 * sse.h - OpenAI-style server-sent events: split an upstream byte stream into
 * events (the `data:` payloads), turn a recorded chunk sequence into the one
 * completion it adds up to (content, tool calls, finish reasons, usage), and
 * the reverse, so a cached answer can be replayed in whichever form a client
 * asks for.
 */
#ifndef RAGD_GW_SSE_H
#define RAGD_GW_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "util/buf.h"

/* Incremental parser; zero-initialised is ready. Not thread-safe. */
typedef struct sse_parser {
    buf_t pending;     /* bytes of an unfinished event */
    buf_t data;        /* data lines of the current event */
    bool has_data;
} sse_parser;

/* Called once per complete event with its data payload (NUL-terminated). */
typedef void (*sse_event_fn)(void *ud, const char *data, size_t n);

/* Feed bytes; complete events go to fn in order. */
void sse_parser_feed(sse_parser *p, const char *bytes, size_t n, sse_event_fn fn, void *ud);
void sse_parser_free(sse_parser *p);

/* A recorded sequence of event payloads (without the final "[DONE]"). */
typedef struct sse_events {
    char **items;      /* owned strings */
    size_t n, cap;
} sse_events;

void sse_events_push(sse_events *e, const char *data, size_t n);
void sse_events_free(sse_events *e);

/* Append one event as SSE text ("data: ...\n\n") to b. */
void sse_put_event(buf_t *b, const char *data, size_t n);

/* true if the chunk JSON is a usage-only chunk (empty choices + usage), which a
 * client that did not ask for stream_options.include_usage must not get. */
bool sse_is_usage_only(const char *data);

/* Build the completion that chunks add up to (chat.completion or
 * text_completion when chat is false). Caller owns the result; NULL when no
 * chunk parses. */
cJSON *sse_assemble(const sse_events *e, bool chat);

/* Split a completion into the chunks a streaming call would have sent (one
 * content/tool-call chunk per choice, a finish chunk, and a usage chunk when
 * the completion has usage). Appends to out. */
void sse_explode(const cJSON *completion, bool chat, sse_events *out);

#endif
