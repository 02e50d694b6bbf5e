/*
 * kern_qk_avx512.c — Q4_K, Q5_K, Q6_K weights against am_q8k activations with
 * AVX-512. Compiled with the AVX-512 flags; reached only through dispatch.c
 * after a CPUID check.
 */
#include "compute/kern_avx512.h"

void am_avx512_init_qk(am_kernels *k) { (void)k; }
