/*
 * arena.c - chunks in a list, newest first; an allocation bumps the offset in
 * the newest chunk or starts a new one (its own, when larger than a chunk).
 */
#include "util/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

struct arena_chunk {
    arena_chunk *next;
    size_t size;                 /* usable bytes in data */
    size_t used;
    _Alignas(max_align_t) unsigned char data[];
};

static size_t arena__round(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void arena_init(arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? arena__round(chunk_size) : ARENA_DEFAULT_CHUNK;
    a->total = 0;
}

static void arena__overflow(void)
{
    fprintf(stderr, "ragd: arena allocation size overflows\n");
    abort();
}

/* A new chunk of at least n usable bytes, linked behind the current one when it
 * is a dedicated (oversized) chunk, so the current chunk stays the one bumped. */
static arena_chunk *arena__chunk_new(arena *a, size_t n)
{
    size_t size = n > a->chunk_size ? n : a->chunk_size;
    if (size > SIZE_MAX - sizeof(arena_chunk))
        arena__overflow();
    arena_chunk *c = xmalloc(sizeof *c + size);
    c->size = size;
    c->used = 0;
    if (a->head && size > a->chunk_size) {
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
    }
    return c;
}

void *arena_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX - ARENA_ALIGN)
        arena__overflow();
    size_t need = arena__round(n ? n : 1);
    arena_chunk *c = a->head;
    if (!c || c->size - c->used < need)
        c = arena__chunk_new(a, need);
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    return p;
}

void *arena_calloc(arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        arena__overflow();
    void *p = arena_alloc(a, n * size);
    memset(p, 0, n * size);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void arena_reset(arena *a)
{
    arena_chunk *keep = NULL;
    for (arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        if (!keep && c->size == a->chunk_size) {
            keep = c;
            continue;
        }
        free(c);
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->total = 0;
}

void arena_destroy(arena *a)
{
    for (arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->total = 0;
}

size_t arena_used(const arena *a)
{
    return a->total;
}
