/*
 * history.h - a fixed ring of timestamped samples, each a row of the same
 * number of floats, kept in memory so recent figures can be shown over time
 * without an external time-series database. The newest sample overwrites the
 * oldest once the ring is full. What the columns mean is the writer's
 * business (app/app_history.c lays out the dashboard's figures).
 */
#ifndef RAGD_HISTORY_H
#define RAGD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

typedef struct history history;

/* A ring of capacity samples of width floats each. Caller owns the result:
 * history_destroy(). Returns NULL only for a zero capacity or width. */
history *history_create(size_t capacity, size_t width);
void history_destroy(history *h);

/* Append one sample (width floats, copied) taken at t_ms. Thread-safe (a
 * mutex held for the copy; readers and the one writer never touch the hot
 * path). */
void history_push(history *h, int64_t t_ms, const float *vals);

/* Copy the samples oldest first into t_ms[] (capacity entries) and vals[]
 * (capacity * width floats), both caller-allocated; returns how many.
 * Thread-safe. */
size_t history_read(history *h, int64_t *t_ms, float *vals);

size_t history_capacity(const history *h);
size_t history_width(const history *h);

#endif
