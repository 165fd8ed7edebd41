/*
 * record.h - one cached answer: either the SSE chunk sequence of a streamed
 * completion or the body of a whole one, with the token usage. Stored as a
 * JSON entry that also holds the canonical request, which a lookup compares
 * so a hit is verified, not trusted. Rendering gives a client the form it
 * asked for (stream or not) from either kind of record.
 */
#ifndef RAGD_GW_RECORD_H
#define RAGD_GW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/sse.h"
#include "util/buf.h"

typedef struct gw_record {
    bool chat;               /* chat.completion vs text_completion */
    bool is_stream;
    sse_events events;       /* is_stream: chunk payloads, without [DONE] */
    char *body;              /* !is_stream: the completion JSON, owned */
    size_t len;
    int64_t in_tokens, out_tokens;   /* from usage; -1 unknown */
} gw_record;

void gw_record_free(gw_record *r);

/* Read usage (prompt/completion tokens) from the events or body into r. */
void gw_record_usage(gw_record *r);

/* The upstream tokens (prompt + completion) r says it used; 0 if unknown. */
int64_t gw_record_tokens(const gw_record *r);

/* Append the stored entry for r and its canonical request to out. */
void gw_record_encode(const gw_record *r, const char *canon, size_t canon_len, buf_t *out);

/* Decode an entry. RAGD_EFORMAT if it is not one; RAGD_ECONFLICT if its
 * canonical request differs from canon (a hash collision or a stale format;
 * canon NULL skips the check, for semantic hits).
 * On success the caller owns *r (gw_record_free). */
int gw_record_decode(const char *data, size_t len, const char *canon, size_t canon_len,
                     gw_record *r);

/* Render for a client: SSE (chunks then "data: [DONE]") when want_stream,
 * else the completion JSON. Usage-only chunks are left out unless
 * include_usage. *body is malloc'd (caller frees); *ctype is static. Returns
 * RAGD_EFORMAT if a streamed record holds no parseable chunk. */
int gw_record_render(const gw_record *r, bool want_stream, bool include_usage, char **body,
                     size_t *len, const char **ctype);

#endif
