/*
 * strmap.h - a string-keyed hash map (open addressing, linear probing,
 * tombstones) from owned copies of byte-string keys to caller pointers. Used
 * for the knowledge base's namespace registry and per-namespace document ids;
 * generic enough for any name -> object table. The table doubles only when
 * live entries need it; under churn (insert and delete of ever new keys) it
 * is rebuilt at its size, so it never grows with tombstones. Not thread-safe:
 * the owner guards it with its own lock.
 */
#ifndef RAGD_STRMAP_H
#define RAGD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap_slot {
    char *key;      /* owned copy, NUL-terminated; NULL = empty */
    size_t klen;
    uint64_t hash;
    void *val;
    bool tomb;      /* deleted: probing continues past it */
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t cap;     /* power of two, 0 before the first insert */
    size_t count;   /* live entries */
    size_t used;    /* live + tombstones */
} strmap;

#define STRMAP_INIT { NULL, 0, 0, 0 }

/* Free the table and its key copies (values are the caller's). */
void strmap_free(strmap *m);

/* Value of key, or NULL. */
void *strmap_get(const strmap *m, const char *key, size_t klen);

/* Insert or replace; returns the previous value (NULL if none). The key is
 * copied. */
void *strmap_put(strmap *m, const char *key, size_t klen, void *val);

/* Remove key; returns its value (NULL if absent). */
void *strmap_del(strmap *m, const char *key, size_t klen);

/* Iterate: for (size_t i = 0; strmap_next(m, &i, &k, &v);) ... ; the map must
 * not change during the loop. */
bool strmap_next(const strmap *m, size_t *it, const char **key, void **val);

#endif
