/*
 * codec.c - header layout:
 *   [0] 0xCA magic  [1] version(1)  [2] flags (bit0 zstd)  [3] content-type length L
 *   [4..12) created_ms (little endian)  [12..12+L) content type
 *   if zstd: [..+8) raw length (LE), then the zstd frame; else the raw payload.
 */
#include "cache/codec.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

#define CODEC_MAGIC 0xCA
#define CODEC_VERSION 1
#define CODEC_ZSTD 0x1
#define CODEC_HDR 12
#define CODEC_LEVEL 3

static void codec__put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t codec__get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int codec_encode(const void *payload, size_t len, const char *content_type,
                 size_t compress_threshold, buf_t *out)
{
    size_t cl = content_type ? strlen(content_type) : 0;
    if (cl > CODEC_CTYPE_MAX)
        cl = CODEC_CTYPE_MAX;
    uint8_t hdr[CODEC_HDR];
    hdr[0] = CODEC_MAGIC;
    hdr[1] = CODEC_VERSION;
    hdr[2] = 0;
    hdr[3] = (uint8_t)cl;
    codec__put_u64(hdr + 4, (uint64_t)clock_wall_ms());
    size_t start = out->len;
    buf_append(out, hdr, sizeof hdr);
    buf_append(out, content_type, cl);
    if (compress_threshold > 0 && len >= compress_threshold) {
        size_t bound = ZSTD_compressBound(len);
        size_t at = out->len;
        buf_reserve(out, 8 + bound);
        size_t z = ZSTD_compress(out->data + at + 8, bound, payload, len, CODEC_LEVEL);
        if (!ZSTD_isError(z) && z + 8 < len) {
            codec__put_u64((uint8_t *)out->data + at, len);
            out->len = at + 8 + z;
            out->data[out->len] = '\0';
            out->data[start + 2] = CODEC_ZSTD;
            return 1;
        }
    }
    buf_append(out, payload, len);
    return 0;
}

size_t codec_stored_payload_len(const void *stored, size_t len)
{
    const uint8_t *p = stored;
    size_t hdr = len >= (size_t)CODEC_HDR ? (size_t)CODEC_HDR + p[3] : len;
    return len > hdr ? len - hdr : 0;
}

int codec_decode(void *stored, size_t len, int take_input, codec_view *view, char **payload)
{
    const uint8_t *p = stored;
    if (len < CODEC_HDR || p[0] != CODEC_MAGIC || p[1] != CODEC_VERSION)
        return RAGD_EFORMAT;
    size_t cl = p[3];
    if (CODEC_HDR + cl > len)
        return RAGD_EFORMAT;
    memcpy(view->content_type, p + CODEC_HDR, cl);
    view->content_type[cl] = '\0';
    view->created_ms = (int64_t)codec__get_u64(p + 4);
    view->compressed = (p[2] & CODEC_ZSTD) != 0;
    size_t off = CODEC_HDR + cl;
    if (!view->compressed) {
        size_t n = len - off;
        view->raw_len = n;
        char *out;
        if (take_input) {
            out = stored;
            memmove(out, out + off, n);
            out = xrealloc(out, n + 1);  /* room for the NUL */
        } else {
            out = xmalloc(n + 1);
            memcpy(out, p + off, n);
        }
        out[n] = '\0';
        *payload = out;
        return RAGD_OK;
    }
    if (off + 8 > len)
        return RAGD_EFORMAT;
    uint64_t raw = codec__get_u64(p + off);
    if (raw > (1ull << 34))
        return RAGD_EFORMAT;
    char *out = malloc(raw + 1);
    if (!out)
        return RAGD_ENOMEM;
    size_t got = ZSTD_decompress(out, raw, p + off + 8, len - off - 8);
    if (ZSTD_isError(got) || got != raw) {
        free(out);
        return RAGD_EFORMAT;
    }
    out[raw] = '\0';
    view->raw_len = raw;
    *payload = out;
    if (take_input)
        free(stored);
    return RAGD_OK;
}
