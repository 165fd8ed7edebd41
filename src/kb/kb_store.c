/*
 * kb_store.c - how knowledge bases lie in the store: the keys (kb:{<ns>}:meta,
 * kb:{<ns>}:doc:<id>, kb:{<ns>}:chunk:<id>:<seq>, kb:{<ns>}:ver: the braces are
 * a Redis Cluster hash tag, so a namespace's keys and log share one slot and
 * one Lua script can write them) and the records
 * under them - documents as JSON, chunks as binary (byte span, piece count
 * and the embedding), namespace settings as JSON, the version token that
 * tells a snapshot whether it is still current - and the change logs:
 * kb:{<ns>}:log that every document write appends to in the same atomic step,
 * and kb:nslog for namespace creation, settings changes and drops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb/kb_int.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

/* ---- keys ---- */

void kb__key_meta(buf_t *b, const char *ns)
{
    buf_printf(b, "kb:{%s}:meta", ns);
}

void kb__key_doc(buf_t *b, const char *ns, const char *id)
{
    buf_printf(b, "kb:{%s}:doc:%s", ns, id);
}

void kb__key_chunk(buf_t *b, const char *ns, const char *id, uint32_t seq)
{
    buf_printf(b, "kb:{%s}:chunk:%s:%u", ns, id, seq);
}

void kb__key_version(buf_t *b, const char *ns)
{
    buf_printf(b, "kb:{%s}:ver", ns);
}

/* ---- documents ---- */

void kb__doc_encode(const kb_doc *d, buf_t *out)
{
    buf_puts(out, "{\"id\":");
    buf_put_json_str(out, d->id, strlen(d->id));
    buf_puts(out, ",\"text\":");
    buf_put_json_str(out, d->text, d->len);
    buf_puts(out, ",\"metadata\":");
    json_write(d->metadata, out);
    buf_puts(out, ",\"user_id\":");
    if (d->user_id)
        buf_put_json_str(out, d->user_id, strlen(d->user_id));
    else
        buf_puts(out, "null");
    buf_printf(out, ",\"chunks\":%u,\"updated_at\":%lld", d->n_chunks, (long long)d->updated_ms);
    if (d->expires_at)
        buf_printf(out, ",\"expires_at\":%lld", (long long)d->expires_at);
    buf_puts(out, "}");
}

int kb__doc_decode(const void *val, size_t len, kb_doc **out)
{
    cJSON *o = NULL;
    if (json_parse_stored(val, len, &o) || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return RAGD_EFORMAT;
    }
    const char *id = json_get_str(o, "id"), *text = json_get_str(o, "text");
    const char *user = json_get_str(o, "user_id");
    int64_t nch = 0, upd = 0, exp = 0;
    if (!id || !text || json_get_int(o, "chunks", 0, UINT32_MAX, &nch)) {
        cJSON_Delete(o);
        return RAGD_EFORMAT;
    }
    json_get_int(o, "updated_at", 0, INT64_MAX, &upd);
    json_get_int(o, "expires_at", 0, KB_EXPIRES_MAX, &exp);
    kb_doc *d = xcalloc(1, sizeof *d);
    d->id = xstrdup(id);
    d->text = xstrdup(text);
    d->len = (uint32_t)strlen(text);
    d->user_id = user ? xstrdup(user) : NULL;
    cJSON *md = cJSON_DetachItemFromObjectCaseSensitive(o, "metadata");
    if (!cJSON_IsObject(md)) {
        cJSON_Delete(md);
        md = cJSON_CreateObject();
    }
    d->metadata = md;
    d->n_chunks = (uint32_t)nch;
    d->chunks = xmalloc((nch ? (size_t)nch : 1) * sizeof *d->chunks);
    for (uint32_t i = 0; i < d->n_chunks; i++)
        d->chunks[i] = UINT32_MAX;
    d->updated_ms = upd;
    d->expires_at = exp;
    cJSON_Delete(o);
    *out = d;
    return RAGD_OK;
}

/* ---- chunks ---- */

static void kb__put_u32(buf_t *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    buf_append(b, x, 4);
}

static uint32_t kb__get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void kb__chunk_encode(uint32_t start, uint32_t end, uint32_t pieces, const float *v, uint32_t dim,
                      buf_t *out)
{
    buf_append(out, "KBC1", 4);
    kb__put_u32(out, start);
    kb__put_u32(out, end);
    kb__put_u32(out, pieces);
    kb__put_u32(out, v ? dim : 0);
    if (v)
        buf_append(out, v, (size_t)dim * sizeof(float)); /* x86-64 and arm64: little-endian */
}

int kb__chunk_decode(const void *val, size_t len, uint32_t *start, uint32_t *end,
                     uint32_t *pieces, uint32_t *dim, const float **v)
{
    const unsigned char *p = val;
    if (len < KB_CHUNK_HDR || memcmp(p, "KBC1", 4) != 0)
        return RAGD_EFORMAT;
    *start = kb__get_u32le(p + 4);
    *end = kb__get_u32le(p + 8);
    *pieces = kb__get_u32le(p + 12);
    *dim = kb__get_u32le(p + 16);
    if (len != KB_CHUNK_HDR + (size_t)*dim * sizeof(float) || *start > *end)
        return RAGD_EFORMAT;
    *v = *dim ? (const float *)(p + KB_CHUNK_HDR) : NULL;
    return RAGD_OK;
}

/* ---- namespace meta ---- */

void kb__meta_encode(const char *name, int64_t created_ms, const kb_ns_settings *st,
                     uint64_t version, buf_t *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "created_at", (double)created_ms);
    cJSON_AddNumberToObject(o, "version", (double)version);
    cJSON_AddItemToObject(o, "settings", kb_ns_settings_to_json(st));
    json_write(o, out);
    cJSON_Delete(o);
}

int kb__meta_decode(const kb_t *kb, const void *val, size_t len, kb_ns_settings *st,
                    int64_t *created_ms, uint64_t *version)
{
    cJSON *o = NULL;
    if (json_parse_stored(val, len, &o) || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return RAGD_EFORMAT;
    }
    kb_ns_settings_default(kb, st);
    *created_ms = 0;
    json_get_int(o, "created_at", 0, INT64_MAX, created_ms);
    int64_t ver = 0;
    json_get_int(o, "version", 0, INT64_MAX, &ver);
    *version = (uint64_t)ver;
    /* the stored model may differ from the loaded one: validate without kb */
    int rc = kb_ns_settings_apply_json(NULL, json_get_obj(o, "settings"), st, NULL);
    cJSON_Delete(o);
    if (rc)
        kb_ns_settings_clear(st);
    return rc ? RAGD_EFORMAT : RAGD_OK;
}

/* ---- change log ---- */

void kb__key_prefix(buf_t *b, const char *ns, const char *kind)
{
    buf_printf(b, "kb:{%s}:%s", ns, kind);
}

void kb__key_log(buf_t *b, const char *ns)
{
    buf_printf(b, "kb:{%s}:log", ns);
}

void kb__log_open(buf_t *rec, const char *op)
{
    buf_puts(rec, "{\"op\":");
    buf_put_json_str(rec, op, strlen(op));
    buf_puts(rec, ",\"ids\":[");
}

void kb__log_id(buf_t *rec, const char *id)
{
    if (rec->data[rec->len - 1] != '[')
        buf_puts(rec, ",");
    buf_put_json_str(rec, id, strlen(id));
}

void kb__log_close(buf_t *rec, const char *ver, const char *origin)
{
    buf_puts(rec, "],\"ver\":");
    buf_put_json_str(rec, ver, strlen(ver));
    buf_puts(rec, ",\"origin\":");
    buf_put_json_str(rec, origin, strlen(origin));
    buf_puts(rec, "}");
}

int kb__log_commit(kb_t *kb, kb_ns *ns, const store_check *checks, size_t nc,
                   const store_op *ops, size_t n, const buf_t *rec, size_t *failed)
{
    buf_t log = BUF_INIT;
    kb__key_log(&log, ns->name);
    uint64_t seq = 0;
    int rc = store_batch_log_if(kb->o.store, checks, nc, ops, n, log.data, rec->data, rec->len,
                                &seq, failed);
    buf_free(&log);
    if ((rc == 0 || rc == RAGD_ENOTDURABLE) && seq > ns->applied_seq)
        ns->applied_seq = seq;
    return rc;
}

void kb__nslog_record(buf_t *rec, const char *op, const char *ns, const char *origin)
{
    buf_puts(rec, "{\"op\":");
    buf_put_json_str(rec, op, strlen(op));
    buf_puts(rec, ",\"ns\":");
    buf_put_json_str(rec, ns, strlen(ns));
    buf_puts(rec, ",\"origin\":");
    buf_put_json_str(rec, origin, strlen(origin));
    buf_puts(rec, "}");
}

/* ---- version token ---- */

void kb__version_new(char out[33])
{
    static uint64_t counter;
    uint64_t seed[4] = { (uint64_t)clock_wall_ms(), (uint64_t)clock_mono_ns(),
                         __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED), (uint64_t)getpid() };
    char hex[HASH_SHA256_HEX_LEN + 1];
    hash_sha256_hex(seed, sizeof seed, hex);
    memcpy(out, hex, 32);
    out[32] = '\0';
}
