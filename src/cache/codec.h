/*
 * codec.h - how cache values are laid out in the store: a small header (magic,
 * flags, content type, creation time) and the payload, zstd-compressed when it
 * is at least the configured threshold and compression actually saves bytes.
 * The same codec serves the generic cache, the embedding cache and the gateway.
 */
#ifndef RAGD_CODEC_H
#define RAGD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CODEC_CTYPE_MAX 127

/* Encode payload into out (appended). Returns 1 if it was compressed, 0 if not.
 * content_type may be NULL (stored empty); it is cut at CODEC_CTYPE_MAX. */
int codec_encode(const void *payload, size_t len, const char *content_type,
                 size_t compress_threshold, buf_t *out);

/* Bytes of an encoded value's payload as stored (compressed or not), without
 * the header: what compression figures compare with the raw payload. */
size_t codec_stored_payload_len(const void *stored, size_t len);

typedef struct codec_view {
    char content_type[CODEC_CTYPE_MAX + 1];
    int64_t created_ms;
    int compressed;
    size_t raw_len;        /* payload size after decoding */
} codec_view;

/* Decode a stored value. On success *payload is a malloc'd buffer (caller frees)
 * of view->raw_len bytes plus a NUL. RAGD_EFORMAT if the bytes are not a codec
 * value. When the value was not compressed and take_input is set, the input
 * buffer (which must be malloc'd) is reused to avoid a copy and the caller must
 * not free it separately (on error the caller still owns it). */
int codec_decode(void *stored, size_t len, int take_input, codec_view *view, char **payload);

#endif
