/*
 * cpu_levels.h - what the CPU itself offers, for the kernel parity tests: they
 * run every path the CPU has, assert which kernel actually ran, and SKIP
 * (visibly) the paths it lacks. Lifts any RAGD_CPU cap (tests set their own).
 */
#ifndef RAGD_TEST_CPU_LEVELS_H
#define RAGD_TEST_CPU_LEVELS_H

#include <stdbool.h>
#include <stdlib.h>

#include "util/cpu.h"

static inline const cpu_features_t *cpu_native(void)
{
    unsetenv("RAGD_CPU");
    cpu_features_reset();
    return cpu_features();
}

/* What the embedding engine's AVX-512 kernels need (embed/bert_kernels.c). */
static inline bool cpu_native_avx512(void)
{
    const cpu_features_t *f = cpu_native();
    return f->avx512f && f->avx512bw && f->avx512vl;
}

/* What its AMX-BF16 kernels need. */
static inline bool cpu_native_amx_bf16(void)
{
    const cpu_features_t *f = cpu_native();
    return f->amx_bf16 && f->avx512_bf16 && f->avx512bw;
}

/* What its AVX512-BF16 kernels (no AMX) need. */
static inline bool cpu_native_avx512_bf16(void)
{
    const cpu_features_t *f = cpu_native();
    return f->avx512f && f->avx512bw && f->avx512vl && f->avx512_bf16;
}

#endif
