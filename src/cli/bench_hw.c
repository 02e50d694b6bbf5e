/* bench_hw.c — the machine's bounds for `agentmem bench` (bench.h):
 * generation is bounded by how fast the compute threads can read memory,
 * prefill by the int8 dot-product rate. The bandwidth kernel is here, not in
 * src/compute/, because it measures the machine, not the model: every
 * thread streams its own slice of one buffer with the widest loads the CPU
 * has, folding them into an XOR so that no load can be dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/bench.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef uint64_t (*read_fn)(const uint8_t *p, size_t n); /* n % 256 == 0, p 64-aligned */

/* Portable: four independent 64-bit chains (gcc may widen them further). */
static uint64_t read_u64(const uint8_t *p, size_t n) {
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < n / 8; i += 4) a ^= q[i], b ^= q[i + 1], c ^= q[i + 2], d ^= q[i + 3];
    return a ^ b ^ c ^ d;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 128) {
        a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
        c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}

__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 256) {
        a = _mm512_xor_si512(a, _mm512_load_si512((const void *)(p + i)));
        b = _mm512_xor_si512(b, _mm512_load_si512((const void *)(p + i + 64)));
        c = _mm512_xor_si512(c, _mm512_load_si512((const void *)(p + i + 128)));
        d = _mm512_xor_si512(d, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
    uint64_t lane[8], x = 0; /* folded by XOR: a signed add of the lanes can overflow */
    _mm512_storeu_si512((void *)lane, a);
    for (int i = 0; i < 8; i++) x ^= lane[i];
    return x;
}
#endif

static read_fn pick_read(const char **isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return *isa = "avx512", read_avx512;
    if (__builtin_cpu_supports("avx2")) return *isa = "avx2", read_avx2;
#endif
    *isa = "u64";
    return read_u64;
}

/* One thread's slot, a cache line of its own (no false sharing). */
typedef struct sink {
    uint64_t v;
    char pad[56];
} sink;

typedef struct stream_job {
    uint8_t *buf;
    size_t bytes; /* a multiple of 256 * nth */
    read_fn fn;
    bool touch;   /* first pass: write the slice (faults its pages in on this thread) */
    sink *out;
} stream_job;

static void stream_slice(void *ctx, int ith, int nth) {
    stream_job *j = ctx;
    size_t per = j->bytes / (size_t)nth;
    uint8_t *p = j->buf + per * (size_t)ith;
    if (j->touch) { /* distinct bytes everywhere, as weights are: pages of one repeated byte
                     * could be merged (KSM, in the guest or its host) and then read from one
                     * cached page */
        uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(ith + 1);
        for (size_t i = 0; i + 8 <= per; i += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(p + i, &x, 8);
        }
    } else {
        j->out[ith].v ^= j->fn(p, per);
    }
}

double bench_read_bandwidth(am_pool *pool, size_t bytes, int passes, const char **isa, am_err *err) {
    int nth = am_pool_n_threads(pool);
    size_t unit = 256 * (size_t)nth;
    bytes = bytes / unit * unit;
    if (bytes == 0 || passes < 1) return am_err_setc(err, AM_E_INVALID, "--memory: empty buffer");
    /* before allocating: the buffer is written in full, so an overcommitted
     * allocation would not fail here but get the process killed */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t half = pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 2 : SIZE_MAX;
    if (bytes > half)
        return am_err_setc(err, AM_E_NO_ROOM, "--memory: %zu MiB is over half of this machine's %zu MiB",
                           bytes >> 20, (half * 2) >> 20);
    /* on transparent huge pages where the kernel gives them, as the repacked weights are */
    uint8_t *buf = am_malloc_huge(bytes);
    sink *out = aligned_alloc(64, sizeof(sink) * (size_t)nth);
    if (!buf || !out) {
        am_aligned_free(buf);
        free(out);
        return am_err_setc(err, AM_E_NO_ROOM, "--memory: cannot allocate %zu MiB", bytes >> 20);
    }
    memset(out, 0, sizeof(sink) * (size_t)nth);
    stream_job j = {.buf = buf, .bytes = bytes, .fn = pick_read(isa), .touch = true, .out = out};
    am_pool_run(pool, stream_slice, &j);
    j.touch = false;
    double best = 0;
    for (int r = 0; r < passes; r++) {
        double t0 = am_time_now();
        am_pool_run(pool, stream_slice, &j);
        double t = am_time_now() - t0;
        if (t > 0 && (double)bytes / t > best) best = (double)bytes / t;
    }
    /* the XORs must be used, or the loads could be dropped */
    uint64_t all = 0;
    for (int i = 0; i < nth; i++) all ^= out[i].v;
    am_log_debug("bench --memory: %zu MiB x %d passes, %s loads, checksum %llx", bytes >> 20, passes, *isa,
                 (unsigned long long)all);
    free(out);
    am_aligned_free(buf);
    return best;
}

static double cpuinfo_mhz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[256];
    double mhz = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "cpu MHz", 7)) {
            const char *c = strchr(line, ':');
            if (c) mhz = strtod(c + 1, NULL);
            break;
        }
    fclose(f);
    return mhz > 0 && mhz < 1e5 ? mhz : 0;
}

double bench_clock_mhz(const char **source) {
#if defined(__x86_64__)
    /* 100 dependent adds per iteration: one per cycle on every x86-64 core
     * since the Pentium Pro; the loop branch runs beside them. Best of 40
     * rounds of ~1 ms: most rounds fit between a busy neighbour's time
     * slices, and a preempted round does not count. */
    double best = 0;
    for (int round = 0; round < 40; round++) {
        uint64_t x = 0, iters = 30000;
        double t0 = am_time_now();
        for (uint64_t i = 0; i < iters; i++)
            __asm__ volatile(".rept 100\n\taddq $1, %0\n\t.endr" : "+r"(x));
        double t = am_time_now() - t0;
        if (x != iters * 100) break; /* cannot happen: keeps x live */
        if (t > 0 && iters * 100.0 / t / 1e6 > best) best = iters * 100.0 / t / 1e6;
    }
    if (best > 0) return *source = "timing loop", best;
#endif
    double mhz = cpuinfo_mhz();
    *source = mhz > 0 ? "cpuinfo" : "unknown";
    return mhz;
}

/* ---- the int8 dot-product peak, measured ----------------------------------
 * What a vector width promises is not what a core issues: zmm vpdpbusd runs
 * at one per cycle on some Zen 5 parts and two on others (and two ymm per
 * cycle where zmm is one), so the rate is timed, not assumed. Each thread
 * runs 12 independent accumulator chains (enough to cover the latency) for
 * rounds of ~1 ms, best round counts; the widths the CPU has are tried and
 * the most int8 products per second wins. */

typedef double (*dot_fn)(void); /* int8 products per second of one round */

#define DOT_ROUND 40000 /* iterations of 12 instructions */

#if defined(__x86_64__)
#define DOT_LOOP(T, DPB, SET8, SET32, BYTES)                                          \
    T acc[12], w = SET8(3), x = SET8(5);                                             \
    for (int i = 0; i < 12; i++) acc[i] = SET32(i);                                   \
    double t0 = am_time_now();                                                        \
    for (long n = 0; n < DOT_ROUND; n++) {                                            \
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) acc[i] = DPB(acc[i], w, x); \
        __asm__ volatile("" : "+v"(w)); /* not hoisted: each round really runs */      \
    }                                                                                 \
    double t = am_time_now() - t0;                                                    \
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) __asm__ volatile("" : : "v"(acc[i])); /* all live */ \
    return t > 0 ? DOT_ROUND * 12.0 * BYTES / t : 0;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double dot_zmm(void) {
    DOT_LOOP(__m512i, _mm512_dpbusd_epi32, _mm512_set1_epi8, _mm512_set1_epi32, 64)
}
__attribute__((target("avx512f,avx512vl,avx512vnni"))) static double dot_ymm(void) {
    DOT_LOOP(__m256i, _mm256_dpbusd_epi32, _mm256_set1_epi8, _mm256_set1_epi32, 32)
}
#endif

typedef struct dot_job {
    dot_fn fn;
    sink *out; /* per thread: best products/s, as a double's bits */
} dot_job;

static void dot_thread(void *ctx, int ith, int nth) {
    (void)nth;
    dot_job *j = ctx;
    double best = 0;
    for (int r = 0; r < 20; r++) {
        double v = j->fn();
        if (v > best) best = v;
    }
    memcpy(&j->out[ith].v, &best, sizeof best);
}

static double dot_rate(am_pool *pool, dot_fn fn) {
    int nth = am_pool_n_threads(pool);
    sink *out = aligned_alloc(64, sizeof(sink) * (size_t)nth);
    if (!out) return 0;
    dot_job j = {fn, out};
    am_pool_run(pool, dot_thread, &j);
    double sum = 0;
    for (int i = 0; i < nth; i++) {
        double v;
        memcpy(&v, &out[i].v, sizeof v);
        sum += v;
    }
    free(out);
    return sum;
}

double bench_int8_peak(am_pool *pool, double mhz, char *how, size_t how_cap) {
    int nth = am_pool_n_threads(pool);
    double best = 0;
    const char *name = NULL;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
        best = dot_rate(pool, dot_zmm), name = "zmm vpdpbusd";
        if (__builtin_cpu_supports("avx512vl")) {
            double y = dot_rate(pool, dot_ymm);
            if (y > best) best = y, name = "ymm vpdpbusd";
        }
    }
#endif
    if (!name) { /* no VNNI: estimated from the clock — 32 bytes a cycle with AVX2, whose two
                  * instructions (vpmaddubsw + vpmaddwd) do one vpdpbusd's work; 8 bytes without */
        int bytes = 8;
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2")) bytes = 32;
#endif
        snprintf(how, how_cap, "estimated, no VNNI: %s %dx2x1", bytes == 32 ? "avx2" : "scalar", bytes);
        return (double)nth * mhz * 1e6 * bytes * 2;
    }
    /* products/s -> ops/s (multiply and add) */
    double per_cycle = mhz > 0 ? best / nth / (mhz * 1e6) / (name[0] == 'z' ? 64 : 32) : 0;
    snprintf(how, how_cap, "measured: %s, %.2f per cycle per thread", name, per_cycle);
    return best * 2;
}
