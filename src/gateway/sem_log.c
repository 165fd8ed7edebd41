/*
 * sem_log.c - encoding and decoding of the semantic cache's log records
 * (format in sem_log.h). A stored record is input like any other: decoding
 * checks every length against what is left and never trusts a count.
 */
#include "gateway/sem_log.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define SEMREC_MAX_DIM 65536u

static void semrec__put_le(buf_t *b, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, t, (size_t)bytes);
}

int gw_semrec_encode(const gw_semrec *r, buf_t *out)
{
    size_t pl = strlen(r->partition), kl = r->skey ? strlen(r->skey) : 0;
    size_t prl = r->prompt ? strlen(r->prompt) : 0;
    uint32_t dim = r->op == GW_SEMREC_ADD ? r->dim : 0;
    if ((r->op != GW_SEMREC_ADD && r->op != GW_SEMREC_FORGET) || pl == 0 || kl == 0 ||
        kl > UINT16_MAX || prl > UINT32_MAX / 2 || dim > SEMREC_MAX_DIM ||
        (r->op == GW_SEMREC_ADD && (dim == 0 || !r->vec)))
        return RAGD_EINVAL;
    buf_append(out, "S1", 2);
    buf_putc(out, (char)r->op);
    semrec__put_le(out, (uint64_t)r->expire_at_ms, 8);
    semrec__put_le(out, pl, 1);
    buf_append(out, r->partition, pl);
    semrec__put_le(out, kl, 2);
    buf_append(out, r->skey, kl);
    semrec__put_le(out, prl, 4);
    buf_append(out, r->prompt ? r->prompt : "", prl);
    semrec__put_le(out, dim, 4);
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t bits;
        memcpy(&bits, &r->vec[i], 4);
        semrec__put_le(out, bits, 4);
    }
    return RAGD_OK;
}

/* A cursor over a record. */
typedef struct semrec_cur {
    const unsigned char *p;
    size_t left;
} semrec_cur;

static int semrec__get_le(semrec_cur *c, int bytes, uint64_t *v)
{
    if (c->left < (size_t)bytes)
        return RAGD_EFORMAT;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v |= (uint64_t)c->p[i] << (8 * i);
    c->p += bytes;
    c->left -= (size_t)bytes;
    return RAGD_OK;
}

/* A string of n bytes (no NUL inside) into an owned copy. */
static int semrec__get_str(semrec_cur *c, size_t n, char **out)
{
    if (c->left < n || memchr(c->p, '\0', n))
        return RAGD_EFORMAT;
    *out = xmalloc(n + 1);
    memcpy(*out, c->p, n);
    (*out)[n] = '\0';
    c->p += n;
    c->left -= n;
    return RAGD_OK;
}

static int semrec__decode(semrec_cur *c, gw_semrec *r)
{
    uint64_t v, pl, kl, prl, dim;
    if (semrec__get_le(c, 8, &v))
        return RAGD_EFORMAT;
    r->expire_at_ms = (int64_t)v;
    char *part = NULL;
    if (semrec__get_le(c, 1, &pl) || pl == 0 || pl > 64 || semrec__get_str(c, pl, &part))
        return RAGD_EFORMAT;
    memcpy(r->partition, part, pl + 1);
    free(part);
    if (semrec__get_le(c, 2, &kl) || kl == 0 || semrec__get_str(c, kl, &r->skey) ||
        semrec__get_le(c, 4, &prl) || semrec__get_str(c, prl, &r->prompt) ||
        semrec__get_le(c, 4, &dim) || dim > SEMREC_MAX_DIM || c->left != dim * 4)
        return RAGD_EFORMAT;
    if ((r->op == GW_SEMREC_ADD) != (dim > 0))
        return RAGD_EFORMAT;
    r->dim = (uint32_t)dim;
    if (dim)
        r->vec = xmalloc(dim * sizeof *r->vec);
    for (uint64_t i = 0; i < dim; i++) {
        uint64_t bits = 0;
        semrec__get_le(c, 4, &bits);  /* cannot fail: the length was checked */
        uint32_t b32 = (uint32_t)bits;
        memcpy(&r->vec[i], &b32, 4);
    }
    return RAGD_OK;
}

int gw_semrec_decode(const void *data, size_t len, gw_semrec *out)
{
    gw_semrec r;
    memset(&r, 0, sizeof r);
    semrec_cur c = { data, len };
    if (len < 3 || memcmp(data, "S1", 2) != 0)
        return RAGD_EFORMAT;
    r.op = c.p[2];
    c.p += 3;
    c.left -= 3;
    if (r.op != GW_SEMREC_ADD && r.op != GW_SEMREC_FORGET)
        return RAGD_EFORMAT;
    if (semrec__decode(&c, &r)) {
        gw_semrec_free(&r);
        return RAGD_EFORMAT;
    }
    *out = r;
    return RAGD_OK;
}

void gw_semrec_free(gw_semrec *r)
{
    free(r->skey);
    free(r->prompt);
    free(r->vec);
    memset(r, 0, sizeof *r);
}
