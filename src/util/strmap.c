/*
 * strmap.c - open-addressing string map: FNV-1a hashes, linear probing, a
 * table kept at most 70% used (tombstones included) and rebuilt when it gets
 * there: doubled if live entries need it, else at the same size.
 */
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static strmap_slot *strmap__find(const strmap *m, const char *key, size_t klen, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_slot *s = &m->slots[i];
        if (!s->key && !s->tomb)
            return NULL;
        if (s->key && s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

/* Rebuild the table without tombstones: twice as large when live entries
 * (with the one being inserted) would fill more than half of it, otherwise at
 * the same size, so a map under churn (inserts and deletes of ever new keys)
 * stays as large as its live entries need. */
static void strmap__rehash(strmap *m)
{
    size_t ncap = m->cap ? m->cap : 16;
    while ((m->count + 1) * 2 > ncap)
        ncap *= 2;
    strmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = xcalloc(ncap, sizeof *m->slots);
    m->cap = ncap;
    m->used = m->count;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key)
            continue;
        size_t j = old[i].hash & (ncap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

void *strmap_get(const strmap *m, const char *key, size_t klen)
{
    strmap_slot *s = strmap__find(m, key, klen, hash_fnv1a64(key, klen));
    return s ? s->val : NULL;
}

void *strmap_put(strmap *m, const char *key, size_t klen, void *val)
{
    uint64_t h = hash_fnv1a64(key, klen);
    strmap_slot *s = strmap__find(m, key, klen, h);
    if (s) {
        void *prev = s->val;
        s->val = val;
        return prev;
    }
    if ((m->used + 1) * 10 > m->cap * 7)
        strmap__rehash(m);
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key)
        i = (i + 1) & mask;
    s = &m->slots[i];
    if (!s->tomb)
        m->used++;
    s->key = xmalloc(klen + 1);
    memcpy(s->key, key, klen);
    s->key[klen] = '\0';
    s->klen = klen;
    s->hash = h;
    s->val = val;
    s->tomb = false;
    m->count++;
    return NULL;
}

void *strmap_del(strmap *m, const char *key, size_t klen)
{
    strmap_slot *s = strmap__find(m, key, klen, hash_fnv1a64(key, klen));
    if (!s)
        return NULL;
    void *v = s->val;
    free(s->key);
    s->key = NULL;
    s->val = NULL;
    s->tomb = true;
    m->count--;
    return v;
}

bool strmap_next(const strmap *m, size_t *it, const char **key, void **val)
{
    while (*it < m->cap) {
        strmap_slot *s = &m->slots[(*it)++];
        if (s->key) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            return true;
        }
    }
    return false;
}
