/*
 * history.c - the sample ring: one allocation of capacity rows, a head index
 * and a count, guarded by one mutex (a push per second and the occasional
 * read; nothing on a request's path takes it).
 */
#include "obs/history.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

struct history {
    pthread_mutex_t lock;  /* guards next, count, t and vals */
    size_t capacity, width;
    size_t next, count;    /* slot of the next push; samples held */
    int64_t *t;
    float *vals;
};

history *history_create(size_t capacity, size_t width)
{
    if (capacity == 0 || width == 0)
        return NULL;
    history *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    h->capacity = capacity;
    h->width = width;
    h->t = xcalloc(capacity, sizeof *h->t);
    h->vals = xcalloc(capacity * width, sizeof *h->vals);
    return h;
}

void history_destroy(history *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h->t);
    free(h->vals);
    free(h);
}

void history_push(history *h, int64_t t_ms, const float *vals)
{
    pthread_mutex_lock(&h->lock);
    h->t[h->next] = t_ms;
    memcpy(h->vals + h->next * h->width, vals, h->width * sizeof *vals);
    h->next = (h->next + 1) % h->capacity;
    if (h->count < h->capacity)
        h->count++;
    pthread_mutex_unlock(&h->lock);
}

size_t history_read(history *h, int64_t *t_ms, float *vals)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->count;
    size_t first = (h->next + h->capacity - n) % h->capacity;
    for (size_t i = 0; i < n; i++) {
        size_t s = (first + i) % h->capacity;
        t_ms[i] = h->t[s];
        memcpy(vals + i * h->width, h->vals + s * h->width, h->width * sizeof *vals);
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

size_t history_capacity(const history *h)
{
    return h->capacity;
}

size_t history_width(const history *h)
{
    return h->width;
}
