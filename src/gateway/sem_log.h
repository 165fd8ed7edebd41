/*
 * sem_log.h - the records of the semantic cache's change log (the store log
 * GW_SEMLOG, docs/ARCHITECTURE.md "Shared semantic cache"). The log is the
 * only persistent form of the semantic index: an "add" record carries all an
 * instance needs to index the entry without reading anything else
 * (partition, exact-cache key, prompt, expiry, vector), a "forget" record
 * names the entry to drop. Records are little-endian binary:
 *   "S1" op(1: 'A' | 'F') expire_at_ms(i64) plen(u8) partition klen(u16) skey
 *   prlen(u32) prompt dim(u32) dim x f32
 * (a forget has an empty prompt and dim 0). Pure functions, thread-safe.
 */
#ifndef RAGD_GW_SEM_LOG_H
#define RAGD_GW_SEM_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The log's name in the store (one key: no cross-slot operation). */
#define GW_SEMLOG "llmsem:{log}"

enum gw_semrec_op { GW_SEMREC_ADD = 'A', GW_SEMREC_FORGET = 'F' };

typedef struct gw_semrec {
    int op;                 /* enum gw_semrec_op */
    char partition[65];
    char *skey;             /* owned */
    char *prompt;           /* owned ("" for a forget) */
    float *vec;             /* owned, dim floats; NULL for a forget */
    uint32_t dim;
    int64_t expire_at_ms;   /* 0 = never */
} gw_semrec;

/* Append r's encoding to out. RAGD_EINVAL for a field out of range. */
int gw_semrec_encode(const gw_semrec *r, buf_t *out);

/* Decode a record; RAGD_EFORMAT when it is not one (never reads past len).
 * On success the caller frees *out with gw_semrec_free. */
int gw_semrec_decode(const void *data, size_t len, gw_semrec *out);

void gw_semrec_free(gw_semrec *r);

#endif
