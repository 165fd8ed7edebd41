/*
 * cpu.h - runtime CPU feature detection, read once. Hot kernels choose their
 * path from cpu_features(); RAGD_CPU=portable (or avx2, avx512) in the
 * environment caps the level, so tests can run every path on one machine.
 */
#ifndef RAGD_CPU_H
#define RAGD_CPU_H

#include <stdbool.h>

typedef struct cpu_features {
    bool avx2, fma;
    bool avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16, avx512_fp16;
    bool amx_tile, amx_bf16, amx_int8;
} cpu_features_t;

/* Detected features, capped by RAGD_CPU. Borrowed pointer valid for the
 * process lifetime; thread-safe after the first call. */
const cpu_features_t *cpu_features(void);

/* Re-read the cap from RAGD_CPU (for tests that switch paths). Not thread-safe. */
void cpu_features_reset(void);

#endif
