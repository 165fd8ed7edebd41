/*
 * arena.h - a bump allocator for memory that lives exactly as long as one
 * piece of work (a request): allocations are carved from chunks and never
 * freed one by one; arena_reset or arena_destroy frees them all in one call,
 * the per-operation memory that SQLite and ggml use. Not thread-safe: one
 * arena belongs to one thread of work at a time.
 */
#ifndef RAGD_ARENA_H
#define RAGD_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head;    /* current chunk (newest first); NULL before any allocation */
    size_t chunk_size;    /* usable bytes of a regular chunk */
    size_t total;         /* bytes handed out since the last reset */
} arena;

#define ARENA_DEFAULT_CHUNK 16384
#define ARENA_INIT { NULL, ARENA_DEFAULT_CHUNK, 0 }

/* Every allocation is aligned for any type (max_align_t). */
#define ARENA_ALIGN _Alignof(max_align_t)

/* An empty arena whose chunks hold chunk_size bytes (0 = ARENA_DEFAULT_CHUNK).
 * Nothing is allocated until the first arena_alloc. */
void arena_init(arena *a, size_t chunk_size);

/* n bytes (uninitialised, aligned), valid until the next arena_reset or
 * arena_destroy. Never NULL (aborts on out-of-memory like xmalloc); n == 0
 * gives a valid, distinct pointer. A request larger than a chunk gets a chunk
 * of its own. */
void *arena_alloc(arena *a, size_t n);

/* n * size zeroed bytes; aborts if the product overflows. */
void *arena_calloc(arena *a, size_t n, size_t size);

/* Copies into the arena, NUL-terminated. */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);

/* Forget every allocation; keeps one regular chunk for reuse. */
void arena_reset(arena *a);

/* Free every chunk; the arena is empty (and usable) again. */
void arena_destroy(arena *a);

/* Bytes handed out since the last reset (statistics and tests). */
size_t arena_used(const arena *a);

#endif
