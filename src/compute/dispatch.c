/*
 * dispatch.c — picks the kernel table once: the best level this CPU (and its
 * OS, via XCR0 as checked by libgcc) supports, lowered by AGENTMEM_ISA; and
 * reads AGENTMEM_BF16_ACT (bf16 activations for BF16 weights' prefill).
 * Code in *_avx2.c / *_avx512.c is reachable only through this table.
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "compute/kernels.h"
#include "compute/matmul.h"

enum { LVL_SCALAR, LVL_AVX2, LVL_AVX512 };
static const char *LEVEL_NAMES[] = {"scalar", "avx2", "avx512"};

static am_kernels g_tables[3];
static int g_best = -1; /* highest level the CPU supports */
static int g_level = -1;
static int g_bf16_act = 1; /* am_compute_bf16_act */

/* F16C (CPUID.1:ECX bit 29) and AVX512_BF16 (CPUID.(7,1):EAX bit 5) are
 * asked of CPUID directly because clang before 16 has no
 * __builtin_cpu_supports name for them (the fuzz build uses clang 14); the
 * OS's AVX/AVX-512 state is already vouched for by the avx2/avx512f checks. */
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1);
}

static bool cpu_has_avx512bf16(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1);
}

static int cpu_best_level(void) {
    __builtin_cpu_init();
    int lvl = LVL_SCALAR;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c())
        lvl = LVL_AVX2;
    if (lvl == LVL_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni") && cpu_has_avx512bf16())
        lvl = LVL_AVX512;
    return lvl;
}

static int level_by_name(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcasecmp(name, LEVEL_NAMES[i]) == 0) return i; /* AVX2 as well as avx2 */
    return -1;
}

static void init_once(void) {
    g_best = cpu_best_level();
    am_kernels_init_scalar(&g_tables[LVL_SCALAR]);
    g_tables[LVL_AVX2] = g_tables[LVL_SCALAR];
    if (g_best >= LVL_AVX2) am_kernels_init_avx2(&g_tables[LVL_AVX2]);
    g_tables[LVL_AVX512] = g_tables[LVL_AVX2];
    if (g_best >= LVL_AVX512) am_kernels_init_avx512(&g_tables[LVL_AVX512]);
    g_level = g_best;
    const char *env = getenv("AGENTMEM_ISA");
    if (env && *env) {
        int want = level_by_name(env);
        if (want < 0)
            am_log_warn("AGENTMEM_ISA=%s: unknown level (scalar|avx2|avx512), using %s", env, LEVEL_NAMES[g_best]);
        else if (want > g_best)
            am_log_warn("AGENTMEM_ISA=%s: not supported by this CPU, using %s", env, LEVEL_NAMES[g_best]);
        else
            g_level = want;
    }
    const char *b = getenv("AGENTMEM_BF16_ACT");
    if (b && *b) {
        if (strcmp(b, "0") == 0)
            g_bf16_act = 0;
        else if (strcmp(b, "1") != 0)
            am_log_warn("AGENTMEM_BF16_ACT=%s: expected 0 or 1, using 1", b);
    }
}

static void init_tables(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
}

const am_kernels *am_kernels_get(void) {
    init_tables();
    return &g_tables[g_level];
}

const char *am_compute_isa(void) {
    init_tables();
    return LEVEL_NAMES[g_level];
}

int am_compute_set_isa(const char *name) {
    init_tables();
    int want = level_by_name(name);
    if (want < 0 || want > g_best) return -1;
    g_level = want;
    return 0;
}

void am_compute_set_bf16_act(int on) {
    init_tables(); /* so a later first use does not reread the environment over this */
    g_bf16_act = on != 0;
}

int am_compute_bf16_act(void) {
    init_tables();
    return g_bf16_act;
}
