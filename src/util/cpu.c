/*
 * cpu.c - CPUID and XGETBV probing of AVX2/AVX-512/AMX, with the OS support
 * checks (XCR0 state bits) without which the instructions would fault. AMX
 * also needs the Linux arch_prctl permission request, done here once.
 */
#include "util/cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static cpu_features_t g_feat;
static int g_init;  /* g_feat is ready (atomic, release/acquire) */

#if defined(__x86_64__)
static uint64_t cpu__xgetbv(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static bool cpu__amx_permit(void)
{
    /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

static void cpu__probe(cpu_features_t *f)
{
    unsigned a, b, c, d;
    memset(f, 0, sizeof *f);
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    bool osxsave = c & (1u << 27);
    bool fma = c & (1u << 12);
    if (!osxsave)
        return;
    uint64_t xcr0 = cpu__xgetbv();
    bool ymm_ok = (xcr0 & 0x6) == 0x6;
    bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
    bool amx_ok = (xcr0 & 0x60000) == 0x60000;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = ymm_ok && (b & (1u << 5));
    f->fma = ymm_ok && fma;
    f->avx512f = zmm_ok && (b & (1u << 16));
    f->avx512bw = f->avx512f && (b & (1u << 30));
    f->avx512vl = f->avx512f && (b & (1u << 31));
    f->avx512_vnni = f->avx512f && (c & (1u << 11));
    f->avx512_fp16 = f->avx512f && (d & (1u << 23));
    bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24), amx_int8 = d & (1u << 25);
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f->avx512_bf16 = f->avx512f && (a1 & (1u << 5));
    if (amx_ok && amx_tile && cpu__amx_permit()) {
        f->amx_tile = true;
        f->amx_bf16 = amx_bf16;
        f->amx_int8 = amx_int8;
    }
}
#else
static void cpu__probe(cpu_features_t *f)
{
    memset(f, 0, sizeof *f);
}
#endif

static void cpu__apply_cap(cpu_features_t *f)
{
    const char *cap = getenv("RAGD_CPU");
    if (!cap || !*cap || strcmp(cap, "native") == 0)
        return;
    if (strcmp(cap, "avx512") == 0) {
        f->amx_tile = f->amx_bf16 = f->amx_int8 = false;
        return;
    }
    bool keep_avx2 = strcmp(cap, "avx2") == 0;
    cpu_features_t z;
    memset(&z, 0, sizeof z);
    if (keep_avx2) {
        z.avx2 = f->avx2;
        z.fma = f->fma;
    }
    *f = z;
}

void cpu_features_reset(void)
{
    cpu__probe(&g_feat);
    cpu__apply_cap(&g_feat);
    __atomic_store_n(&g_init, 1, __ATOMIC_RELEASE);
}

const cpu_features_t *cpu_features(void)
{
    if (!__atomic_load_n(&g_init, __ATOMIC_ACQUIRE))
        cpu_features_reset();
    return &g_feat;
}
