/*
 * kb_reg.c - the registry of namespace names, kb:registry, so that a start
 * lists the namespaces with one read instead of a scan of every key name.
 * Its value is "1\n" (the layout version: written once the keys of the
 * layout before hash tags were moved, so later starts skip that check) and
 * one name per line, sorted. Every create and drop changes it in the same
 * atomic step as the meta record and the kb:nslog record (on Redis Cluster,
 * where they lie in other slots, in two steps that only ever leave a name too
 * many), as a compare-and-set on its value: an instance that lost the race to another
 * instance's create or drop re-reads it and tries again. A store without it
 * (data of an older ragd, or a store that lost its data) is scanned for its
 * kb:{<ns>}:meta keys instead, and the registry written from that scan.
 */
#include <stdlib.h>
#include <string.h>

#include "kb/kb_int.h"
#include "util/mem.h"

#define KB_REG_KEY "kb:registry"
#define KB_REG_VERSION "1\n"
#define KB_REG_TRIES 64

void kb__names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

typedef struct kb_names {
    kb_t *kb;
    char **v;
    size_t n, cap;
} kb_names;

/* kb:{<ns>}:meta -> <ns> */
static int kb__scan_meta(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    kb_names *names = ud;
    (void)val, (void)vlen;
    __atomic_add_fetch(&names->kb->keys_scanned, 1, __ATOMIC_RELAXED);
    if (klen < 11 || key[3] != '{' || memcmp(key + klen - 6, "}:meta", 6) != 0)
        return 0;
    size_t nl = klen - 4 - 6;
    if (nl == 0 || nl > KB_NS_NAME_MAX || memchr(key + 4, ':', nl) || memchr(key + 4, '}', nl))
        return 0;
    if (names->n == names->cap) {
        names->cap = names->cap ? names->cap * 2 : 16;
        names->v = xrealloc(names->v, names->cap * sizeof *names->v);
    }
    names->v[names->n++] = xstrndup(key + 4, nl);
    return 0;
}

int kb__scan_names(kb_t *kb, char ***names, size_t *n)
{
    kb_names nm = { kb, NULL, 0, 0 };
    int rc = store_scan(kb->o.store, "kb:{", 4, false, kb__scan_meta, &nm);
    if (rc) {
        kb__names_free(nm.v, nm.n);
        return rc;
    }
    *names = nm.v;
    *n = nm.n;
    return RAGD_OK;
}

int kb__reg_list(kb_t *kb, char ***names, size_t *n, bool *listed)
{
    buf_t v = BUF_INIT;
    bool found = false;
    int rc = kb__reg_read(kb, &v, &found);
    *listed = rc == 0 && found && kb__reg_names(v.data, v.len, names, n) == 0;
    buf_free(&v);
    return rc;
}

int kb__store_names(kb_t *kb, char ***names, size_t *n)
{
    bool listed = false;
    int rc = kb__reg_list(kb, names, n, &listed);
    return rc || listed ? rc : kb__scan_names(kb, names, n);
}

int kb__reg_read(kb_t *kb, buf_t *val, bool *found)
{
    store_value v;
    int rc = store_get(kb->o.store, KB_REG_KEY, strlen(KB_REG_KEY), &v);
    *found = rc == 0;
    buf_reset(val);
    if (rc == 0) {
        buf_append(val, v.data, v.len);
        store_value_free(&v);
    }
    return rc == RAGD_ENOTFOUND ? RAGD_OK : rc;
}

int kb__reg_names(const char *val, size_t len, char ***names, size_t *n)
{
    size_t vl = strlen(KB_REG_VERSION), cap = 0;
    *names = NULL;
    *n = 0;
    if (len < vl || memcmp(val, KB_REG_VERSION, vl) != 0)
        return RAGD_EFORMAT;
    for (const char *p = val + vl, *end = val + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l && l <= KB_NS_NAME_MAX) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *names = xrealloc(*names, cap * sizeof **names);
            }
            (*names)[(*n)++] = xstrndup(p, l);
        }
        p += l + 1;
    }
    return RAGD_OK;
}

static int kb__reg_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void kb__reg_encode(char **names, size_t n, buf_t *out)
{
    if (n)
        qsort(names, n, sizeof *names, kb__reg_cmp);
    buf_reset(out);
    buf_puts(out, KB_REG_VERSION);
    for (size_t i = 0; i < n; i++)
        if (!i || strcmp(names[i], names[i - 1]) != 0)
            buf_printf(out, "%s\n", names[i]);
}

/* cur (found: the registry's value; else the store's names, scanned) with
 * name added or removed -> out. */
static int kb__reg_edit(kb_t *kb, const buf_t *cur, bool found, const char *name, bool add,
                        buf_t *out)
{
    char **names = NULL;
    size_t n = 0, m = 0;
    if (!found || kb__reg_names(cur->data, cur->len, &names, &n) != 0) {
        int rc = kb__scan_names(kb, &names, &n); /* an unreadable one is rewritten */
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            free(names[i]);
        else
            names[m++] = names[i];
    }
    if (add) {
        names = xrealloc(names, (m + 1) * sizeof *names);
        names[m++] = xstrdup(name);
    }
    kb__reg_encode(names, m, out);
    kb__names_free(names, m);
    return RAGD_OK;
}

/* The compare-and-set loop: the registry with name added or removed, and
 * with it (when op is set) the caller's checked write and kb:nslog record. */
static int kb__reg_cas(kb_t *kb, const char *name, bool add, const store_check *check,
                       const store_op *op, const buf_t *rec)
{
    buf_t cur = BUF_INIT, next = BUF_INIT;
    int rc = RAGD_ECONFLICT;
    for (int t = 0; t < KB_REG_TRIES && rc == RAGD_ECONFLICT; t++) {
        bool found = false;
        if ((rc = kb__reg_read(kb, &cur, &found)) != 0 ||
            (rc = kb__reg_edit(kb, &cur, found, name, add, &next)) != 0)
            break;
        store_check c[2] = { { KB_REG_KEY, strlen(KB_REG_KEY),
                               found ? STORE_CHECK_EQUAL : STORE_CHECK_MISSING, cur.data,
                               cur.len },
                             { 0 } };
        store_op o[2] = { { KB_REG_KEY, strlen(KB_REG_KEY), next.data, next.len, 0, 0 } };
        if (op)
            o[1] = *op;
        if (check)
            c[1] = *check;
        size_t failed = 0;
        uint64_t seq;
        rc = store_batch_log_if(kb->o.store, c, check ? 2 : 1, o, op ? 2 : 1,
                                op ? KB_NSLOG : NULL, op ? rec->data : NULL,
                                op ? rec->len : 0, &seq, &failed);
        if (rc == RAGD_ECONFLICT && failed == 1)
            break; /* the caller's check, not the registry */
    }
    buf_free(&cur);
    buf_free(&next);
    return rc;
}

/* One step where the store can (the registry and the namespace's keys in one
 * atomic write). On Redis Cluster they lie in different slots and the store
 * refuses the batch before sending anything (RAGD_EINVAL): then two steps,
 * ordered so that the registry only ever holds too many names, never too few
 * (a start skips a name without a meta record): a create adds the name first,
 * a drop removes it after the namespace's own write. */
int kb__reg_write(kb_t *kb, const char *name, bool add, const store_check *check,
                  const store_op *op, const buf_t *rec)
{
    int rc = kb__reg_cas(kb, name, add, check, op, rec);
    if (rc != RAGD_EINVAL)
        return rc;
    uint64_t seq;
    if (add && (rc = kb__reg_cas(kb, name, true, NULL, NULL, NULL)) != 0)
        return rc;
    rc = check ? store_batch_log_if(kb->o.store, check, 1, op, 1, KB_NSLOG, rec->data,
                                    rec->len, &seq, NULL)
               : store_batch_log(kb->o.store, op, 1, KB_NSLOG, rec->data, rec->len, &seq);
    if (rc == 0 && !add)
        rc = kb__reg_cas(kb, name, false, NULL, NULL, NULL);
    return rc;
}

int kb__reg_init(kb_t *kb, char **names, size_t n)
{
    buf_t v = BUF_INIT;
    kb__reg_encode(names, n, &v);
    store_check c = { KB_REG_KEY, strlen(KB_REG_KEY), STORE_CHECK_MISSING, NULL, 0 };
    store_op o = { KB_REG_KEY, strlen(KB_REG_KEY), v.data, v.len, 0, 0 };
    int rc = store_batch_log_if(kb->o.store, &c, 1, &o, 1, NULL, NULL, 0, NULL, NULL);
    buf_free(&v);
    /* another instance wrote it first; or a WAIT short of replicas: the master has it */
    return rc == RAGD_ECONFLICT || rc == RAGD_ENOTDURABLE ? RAGD_OK : rc;
}
