/*
 * vec_kernels.h - distance kernels for vector search: float32 dot, squared L2
 * and cosine, and int8 dot, each with a portable path and AVX2/FMA and AVX-512
 * (VNNI for int8) paths chosen at run time from util/cpu.h. Every path is
 * exposed through vec_kernels_for() so tests compare each with the reference.
 */
#ifndef RAGD_INDEX_VEC_KERNELS_H
#define RAGD_INDEX_VEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum vec_level {
    VEC_PORTABLE = 0,
    VEC_AVX2 = 1,   /* AVX2 + FMA */
    VEC_AVX512 = 2, /* AVX-512F/BW; int8 dot uses VNNI when present */
    VEC_AVX512_NOVNNI = 3, /* AVX-512 without VNNI (never picked over 2; tests) */
} vec_level;

typedef struct vec_kernels {
    float (*dot_f32)(const float *a, const float *b, size_t n);
    float (*l2sq_f32)(const float *a, const float *b, size_t n);
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t n);
    vec_level level;
    const char *name;
} vec_kernels;

/* Best kernels for this CPU (capped by RAGD_CPU). Borrowed, static; first
 * call picks, later calls are a load. Thread-safe. */
const vec_kernels *vec_kernels_get(void);

/* Kernels of one level, or NULL if the CPU (after the RAGD_CPU cap) lacks
 * it. Borrowed, static. Thread-safe. */
const vec_kernels *vec_kernels_for(vec_level level);

/* Re-pick after cpu_features_reset() (tests). Not thread-safe. */
void vec_kernels_reset(void);

/* Convenience wrappers over vec_kernels_get(). Thread-safe. */
float vec_dot_f32(const float *a, const float *b, size_t n);
float vec_l2sq_f32(const float *a, const float *b, size_t n);
int32_t vec_dot_i8(const int8_t *a, const int8_t *b, size_t n);

/* Cosine similarity (0 when either vector is zero). Thread-safe. */
float vec_cosine_f32(const float *a, const float *b, size_t n);

/* Scale v to unit length in place; returns the original norm. */
float vec_normalize_f32(float *v, size_t n);

/* Symmetric int8 quantisation: q[i] = round(v[i] / scale), scale =
 * max|v| / 127 (returned; 0 for a zero vector). */
float vec_quantize_i8(const float *v, int8_t *q, size_t n);

#endif
