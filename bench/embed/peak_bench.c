/*
 * peak_bench.c - the machine's peak for each GEMM path of the embedding engine,
 * measured rather than looked up, for bench/embed/run.py's "GFLOP/s vs peak":
 * the clock from a chain of dependent integer adds (1 cycle each), then the
 * throughput of the instruction each path is built on, with enough independent
 * accumulators to hide its latency: vfmadd231ps zmm (FP32, 32 flops), vdpbf16ps
 * zmm (AVX512-BF16, 64), vpdpbusd zmm (AVX512-VNNI, 128 int8 ops), tdpbf16ps
 * (AMX-BF16, 16x16x32 MACs = 16384) and tdpbusd (AMX-INT8, 32768). Per-core
 * figures are thread CPU time (not disturbed by other tenants' load) and the
 * peak is cores x that; flops/cycle = per-core rate / clock, i.e. the vector
 * units the core has (2 FMA ports on Xeon: 64 FP32 flops/cycle). One JSON line
 * per path. Usage: peak_bench
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/cpu.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define AVXBF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define AVXVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AMX __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f")))

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Best of 5 runs of fn(iters) in thread CPU seconds per iteration. */
static double best_rate(void (*fn)(long), long iters)
{
    double best = 1e30;
    fn(iters / 10); /* warm-up: wakes the vector units to full clock */
    for (int r = 0; r < 5; r++) {
        double t0 = thread_seconds();
        fn(iters);
        double t = (thread_seconds() - t0) / (double)iters;
        best = t < best ? t : best;
    }
    return best;
}

static void clock_loop(long iters)
{
    uint64_t x = 0;
    for (long i = 0; i < iters; i++)
        __asm__ volatile(".rept 100\n\tadd %1, %0\n\t.endr" : "+r"(x) : "r"(i));
}

#define CHAINS 12
static volatile float g_sink;

AVX512 static void fma_loop(long iters)
{
    __m512 acc[CHAINS], m = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1.0f);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) {
            acc[c] = _mm512_fmadd_ps(acc[c], m, b);
        }
    for (int c = 1; c < CHAINS; c++)
        acc[0] = _mm512_add_ps(acc[0], acc[c]);
    g_sink = _mm512_reduce_add_ps(acc[0]);
}

AVXBF16 static void bf16_loop(long iters)
{
    __m512 acc[CHAINS];
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = a;
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm512_setzero_ps();
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) {
            acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
        }
    for (int c = 1; c < CHAINS; c++)
        acc[0] = _mm512_add_ps(acc[0], acc[c]);
    g_sink = _mm512_reduce_add_ps(acc[0]);
}

AVXVNNI static void vnni_loop(long iters)
{
    __m512i acc[CHAINS], a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm512_setzero_si512();
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) {
            acc[c] = _mm512_dpbusd_epi32(acc[c], a, b);
        }
    for (int c = 1; c < CHAINS; c++)
        acc[0] = _mm512_add_epi32(acc[0], acc[c]);
    g_sink = (float)_mm512_reduce_add_epi32(acc[0]);
}

typedef struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;

static uint8_t g_tile[2][1024] __attribute__((aligned(64)));

AMX static void amx_setup(void)
{
    amx_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.colsb[t] = 64;
        c.rows[t] = 16;
    }
    __asm__ volatile("" : : "r"(&c) : "memory"); /* GCC 12 drops the stores otherwise */
    _tile_loadconfig(&c);
    _tile_loadd(4, g_tile[0], 64);
    _tile_loadd(5, g_tile[1], 64);
}

/* 4 independent accumulators, as the engine's 2x2 blocks. */
AMX static void amx_bf16_loop(long iters)
{
    amx_setup();
    for (long i = 0; i < iters; i++) {
        _tile_dpbf16ps(0, 4, 5);
        _tile_dpbf16ps(1, 4, 5);
        _tile_dpbf16ps(2, 4, 5);
        _tile_dpbf16ps(3, 4, 5);
    }
    _tile_release();
}

AMX static void amx_int8_loop(long iters)
{
    amx_setup();
    for (long i = 0; i < iters; i++) {
        _tile_dpbusd(0, 4, 5);
        _tile_dpbusd(1, 4, 5);
        _tile_dpbusd(2, 4, 5);
        _tile_dpbusd(3, 4, 5);
    }
    _tile_release();
}

static void report(const char *path, const char *insn, double sec_per_iter, double ops_per_iter,
                   double ghz, long cores)
{
    double per_core = ops_per_iter / sec_per_iter / 1e9;
    printf("{\"path\":\"%s\",\"instruction\":\"%s\",\"ghz\":%.3f,\"cores\":%ld,"
           "\"ops_per_cycle_per_core\":%.1f,\"gflops_per_core\":%.1f,\"peak_gflops\":%.1f}\n",
           path, insn, ghz, cores, per_core / ghz, per_core, per_core * (double)cores);
}

int main(void)
{
    const cpu_features_t *f = cpu_features(); /* also asks Linux for AMX state */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double ghz = 100.0 / best_rate(clock_loop, 2000000) / 1e9;
    printf("{\"path\":\"clock\",\"ghz\":%.3f,\"cores\":%ld}\n", ghz, cores);
    if (f->avx512f && f->fma)
        report("fp32", "vfmadd231ps zmm", best_rate(fma_loop, 2000000), CHAINS * 32.0, ghz, cores);
    if (f->avx512_bf16)
        report("bf16-avx512", "vdpbf16ps zmm", best_rate(bf16_loop, 2000000), CHAINS * 64.0, ghz,
               cores);
    if (f->avx512_vnni)
        report("int8-vnni", "vpdpbusd zmm", best_rate(vnni_loop, 2000000), CHAINS * 128.0, ghz,
               cores);
    if (f->amx_bf16)
        report("bf16-amx", "tdpbf16ps", best_rate(amx_bf16_loop, 200000), 4 * 16384.0, ghz, cores);
    if (f->amx_int8)
        report("int8-amx", "tdpbusd", best_rate(amx_int8_loop, 200000), 4 * 32768.0, ghz, cores);
    return 0;
}
